/**
 * Issue 15's file operations on a real kernel with real data: fsync,
 * readv/writev, fallocate, truncate (io_uring op and ftruncate fallback),
 * and the request options: cancel by signal of a request really in flight
 * (a read on a pipe nobody writes to), timeouts, linked write + fsync,
 * and failure propagation through links (in one submit and across awaits).
 */
import assert from "node:assert/strict";
import { BuddyPool, HybridPool, IoError, openFile, Ring, RingClosedError } from "../mod.ts";
import { forceTruncateFallback } from "../src/file_ops.ts";
import { pipe, put, within } from "./helpers.ts";

const KiB = 1024;
const dir = Deno.makeTempDirSync({ dir: new URL(".", import.meta.url).pathname, prefix: ".tmp-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let fileNo = 0;
const scratch = () => `${dir}/ops${fileNo++}.bin`;

const isErrno = (name: string) => (e: unknown) => e instanceof IoError && e.errnoName === name;

function setup(entries = 32) {
  const ring = new Ring({ entries });
  const pool = BuddyPool.create({ arenaSize: 1 << 20, registrar: ring });
  return {
    ring,
    pool,
    [Symbol.dispose]() {
      ring.close();
      pool.close();
    },
  };
}

Deno.test("fsync and fsync({ dataOnly }) resolve on a written file; bad fds reject", async () => {
  using s = setup();
  using file = openFile(scratch(), { write: true, read: true, create: true });
  using buf = s.pool.alloc(4096);
  buf.bytes.fill(9);
  assert.equal(await s.ring.write(file, buf, 0), 4096);
  assert.equal(await s.ring.fsync(file), undefined);
  assert.equal(await s.ring.fsync(file, { dataOnly: true }), undefined);
  await assert.rejects(s.ring.fsync(1 << 20), isErrno("EBADF"));
  await assert.rejects(s.ring.fsync(file, { dataOnly: "yes" as unknown as boolean }), TypeError);
  file.close();
  await assert.rejects(s.ring.fsync(file), isErrno("EBADF"));
});

Deno.test("writev then readv move the real bytes, O_DIRECT and buffered, any pools", async () => {
  using s = setup();
  using other = HybridPool.create({ classes: [{ size: 8192, count: 4 }] }); // not registered
  for (const direct of [true, false]) {
    const path = scratch();
    using file = openFile(path, { write: true, read: true, create: true, direct });
    const a = s.pool.alloc(4096), b = s.pool.alloc(8192), c = other.alloc(8192);
    for (const [i, x] of [a, b, c].entries()) {
      for (let j = 0; j < x.bytes.length; j++) x.bytes[j] = (j * 13 + i * 101) & 0xff;
    }
    const expected = new Uint8Array([...a.bytes, ...b.bytes, ...c.bytes]);
    assert.equal(await s.ring.writev(file, [a, b, c], 4096), 20480);
    assert.deepEqual(Deno.readFileSync(path).subarray(4096), expected);
    // Same registered buffer for all: READV_FIXED where the kernel has it.
    const r1 = s.pool.alloc(8192), r2 = s.pool.alloc(4096), r3 = s.pool.alloc(8192);
    assert.equal(await s.ring.readv(file, [r1, r2, r3], 4096), 20480);
    assert.deepEqual(new Uint8Array([...r1.bytes, ...r2.bytes, ...r3.bytes]), expected);
    // At the end of the file: short.
    assert.equal(await s.ring.readv(file, [r1, r2], 16384), 8192);
    for (const x of [a, b, c, r1, r2, r3]) x.release();
  }
});

Deno.test("readv/writev refuse bad arguments with typed errors", async () => {
  using s = setup();
  using file = openFile(scratch(), { write: true, read: true, create: true, direct: true });
  using a = s.pool.alloc(4096);
  await assert.rejects(s.ring.writev(file, [], 0), RangeError);
  await assert.rejects(s.ring.writev(file, [a], 100), RangeError); // O_DIRECT alignment
  await assert.rejects(s.ring.writev(file, [a, {} as never], 0), TypeError);
  await assert.rejects(s.ring.readv(file, [a], -1), RangeError);
  const gone = s.pool.alloc(4096);
  gone.release();
  await assert.rejects(s.ring.writev(file, [a, gone], 0), /release/);
});

Deno.test("fallocate grows, keepSize allocates past the end, punchHole reads back zeros", async () => {
  using s = setup();
  const path = scratch();
  using file = openFile(path, { write: true, read: true, create: true });
  await s.ring.fallocate(file, 0, 64 * KiB);
  assert.equal(file.size(), 64 * KiB);
  await s.ring.fallocate(file, 64 * KiB, 64 * KiB, { keepSize: true });
  assert.equal(file.size(), 64 * KiB);
  assert.ok(Deno.statSync(path).blocks! * 512 >= 128 * KiB);
  using buf = s.pool.alloc(16 * KiB);
  buf.bytes.fill(0xab);
  await s.ring.write(file, buf, 0);
  await s.ring.fallocate(file, 4 * KiB, 8 * KiB, { punchHole: true });
  const back = Deno.readFileSync(path);
  assert.equal(back.length, 64 * KiB);
  assert.equal(back[4 * KiB - 1], 0xab);
  assert.ok(back.subarray(4 * KiB, 12 * KiB).every((x) => x === 0));
  assert.equal(back[12 * KiB], 0xab);
  await assert.rejects(s.ring.fallocate(file, 0, 0), RangeError);
  await assert.rejects(s.ring.fallocate(file, -1, 10), RangeError);
});

for (const fallback of [false, true]) {
  Deno.test(`truncate on the handle (${fallback ? "ftruncate(2) fallback" : "io_uring op"})`, async () => {
    using s = setup();
    forceTruncateFallback(fallback);
    try {
      assert.equal(s.ring.truncateIsRingOp, !fallback && s.ring.truncateIsRingOp);
      const path = scratch();
      using file = openFile(path, { write: true, read: true, create: true });
      using buf = s.pool.alloc(8192);
      buf.bytes.fill(3);
      await s.ring.write(file, buf, 0);
      await s.ring.truncate(file, 5000);
      assert.equal(file.size(), 5000);
      await s.ring.truncate(file, 100_000);
      assert.equal(file.size(), 100_000);
      // Linked: the truncate runs after the write, the fsync after both.
      const w = s.ring.write(file, buf, 100_000, { link: true });
      const t = s.ring.truncate(file, 104_000, { link: true });
      const f = s.ring.fsync(file);
      assert.deepEqual(await Promise.all([w, t, f]), [8192, undefined, undefined]);
      assert.equal(file.size(), 104_000);
      const data = Deno.readFileSync(path);
      assert.equal(data[103_999], 3);
      await assert.rejects(s.ring.truncate(file, -5), RangeError);
      using ro = openFile(path, { read: true });
      await assert.rejects(s.ring.truncate(ro, 0), (e) => e instanceof IoError);
    } finally {
      forceTruncateFallback(false);
    }
  });
}

Deno.test("signal: aborting a read that really waits (empty pipe) cancels it with the reason", async () => {
  using s = setup();
  using p = pipe();
  using buf = s.pool.alloc(4096);
  const ac = new AbortController();
  const read = s.ring.read(p.r, buf, 0, { signal: ac.signal });
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(s.ring.stats().inFlight, 1); // still waiting in the kernel
  const reason = new Error("user gave up");
  ac.abort(reason);
  await within(assert.rejects(read, (e) => e === reason), 2000, "aborted read");
  assert.equal(s.ring.stats().inFlight, 0);
  // Default reason: a DOMException named AbortError.
  const ac2 = new AbortController();
  const read2 = s.ring.read(p.r, buf, 0, { signal: ac2.signal, length: 10 });
  setTimeout(() => ac2.abort(), 10);
  await within(
    assert.rejects(read2, (e) => e instanceof DOMException && e.name === "AbortError"),
    2000,
    "aborted read 2",
  );
  // The pipe is intact: the next read gets the data.
  put(p.w, "hello");
  assert.equal(await within(s.ring.read(p.r, buf, 0, 64), 2000, "read after"), 5);
  assert.equal(new TextDecoder().decode(buf.bytes.subarray(0, 5)), "hello");
});

Deno.test("signal: an already aborted signal rejects without any I/O", async () => {
  using s = setup();
  using p = pipe();
  using buf = s.pool.alloc(4096);
  put(p.w, "data");
  const reason = new Error("too late");
  await assert.rejects(
    s.ring.read(p.r, buf, 0, { signal: AbortSignal.abort(reason) }),
    (e) => e === reason,
  );
  assert.equal(s.ring.stats().submitted, 0);
  assert.equal(await s.ring.read(p.r, buf, 0, 64), 4); // the data was not consumed
  // Aborting after completion changes nothing.
  const ac = new AbortController();
  put(p.w, "more");
  assert.equal(await s.ring.read(p.r, buf, 0, { signal: ac.signal, length: 64 }), 4);
  ac.abort();
});

Deno.test("timeout: a read that waits too long rejects with a TimeoutError DOMException", async () => {
  using s = setup();
  using p = pipe();
  using buf = s.pool.alloc(4096);
  const t0 = performance.now();
  await within(
    assert.rejects(
      s.ring.read(p.r, buf, 0, { timeout: 50 }),
      (e) => e instanceof DOMException && e.name === "TimeoutError",
    ),
    3000,
    "timed read",
  );
  const took = performance.now() - t0;
  assert.ok(took >= 45, `timed out after ${took} ms, before the 50 ms`);
  assert.equal(s.ring.stats().inFlight, 0);
  // In time: resolves, the timer is cancelled.
  put(p.w, "ok");
  assert.equal(await s.ring.read(p.r, buf, 0, { timeout: 5000, length: 16 }), 2);
  // fsync with a timeout resolves too.
  using file = openFile(scratch(), { write: true, create: true });
  await s.ring.fsync(file, { dataOnly: true, timeout: 5000 });
  // Bad timeouts are RangeErrors.
  await assert.rejects(s.ring.fsync(file, { timeout: -1 }), RangeError);
  await assert.rejects(s.ring.fsync(file, { timeout: NaN }), RangeError);
});

Deno.test("link: write then fsync go out as one chain in one submit; both resolve", async () => {
  using s = setup();
  const path = scratch();
  using file = openFile(path, { write: true, read: true, create: true, direct: true });
  using buf = s.pool.alloc(4096);
  buf.bytes.fill(0x5a);
  const before = s.ring.stats().submitCalls;
  const w = s.ring.write(file, buf, 0, { link: true });
  const f = s.ring.fsync(file, { dataOnly: true });
  assert.deepEqual(await Promise.all([w, f]), [4096, undefined]);
  assert.equal(s.ring.stats().submitCalls - before, 1);
  assert.ok(Deno.readFileSync(path).every((x) => x === 0x5a));
  // A number as the 4th argument still means length.
  assert.equal(await s.ring.write(file, buf, 4096, 4096), 4096);
});

Deno.test("link: a failed write cancels the linked fsync (ECANCELED), the rest of the chain too", async () => {
  using s = setup();
  const path = scratch();
  Deno.writeFileSync(path, new Uint8Array(4096));
  using ro = openFile(path, { read: true });
  using rw = openFile(path, { read: true, write: true });
  using buf = s.pool.alloc(4096);
  const w = s.ring.write(ro, buf, 0, { link: true }); // EBADF: not open for writing
  const w2 = s.ring.write(rw, buf, 0, { link: true });
  const f = s.ring.fsync(rw);
  const [a, b, c] = await Promise.allSettled([w, w2, f]);
  assert.ok(a.status === "rejected" && isErrno("EBADF")(a.reason));
  assert.ok(b.status === "rejected" && isErrno("ECANCELED")(b.reason), String(b));
  assert.ok(c.status === "rejected" && isErrno("ECANCELED")(c.reason), String(c));
  // The chain ended with the failure: the next request runs normally.
  assert.equal(await s.ring.fsync(rw), undefined);
});

Deno.test("link: a request refused before the kernel (bad arguments) fails its chain too", async () => {
  using s = setup();
  using file = openFile(scratch(), { write: true, read: true, create: true, direct: true });
  using buf = s.pool.alloc(4096);
  const w = s.ring.write(file, buf, 100, { link: true }); // misaligned for O_DIRECT
  const f = s.ring.fsync(file);
  await assert.rejects(w, RangeError);
  await assert.rejects(f, isErrno("ECANCELED"));
  // A refused request linked to a good one: the good one runs, the chain ends there.
  const [w2, bad, after] = await Promise.allSettled([
    s.ring.write(file, buf, 0, { link: true }),
    s.ring.fsync(file, { timeout: -1 }),
    s.ring.fsync(file),
  ]);
  assert.deepEqual(w2, { status: "fulfilled", value: 4096 });
  assert.ok(bad.status === "rejected" && bad.reason instanceof RangeError);
  assert.deepEqual(after, { status: "fulfilled", value: undefined });
});

Deno.test("link: a short read breaks the chain as in the kernel", async () => {
  using s = setup();
  const path = scratch();
  Deno.writeFileSync(path, new Uint8Array(100));
  using file = openFile(path, { read: true, write: true });
  using buf = s.pool.alloc(4096);
  const r = s.ring.read(file, buf, 0, { link: true }); // 100 of 4096 bytes
  const f = s.ring.fsync(file);
  assert.equal(await r, 100);
  await assert.rejects(f, isErrno("ECANCELED"));
});

Deno.test("link across an await: the next request waits for the linked one, fails with it", async () => {
  using s = setup();
  const path = scratch();
  Deno.writeFileSync(path, new Uint8Array(4096));
  using ro = openFile(path, { read: true });
  using rw = openFile(path, { read: true, write: true });
  using buf = s.pool.alloc(4096);
  // Succeeds, awaited, then the linked fsync is made: it runs.
  assert.equal(await s.ring.write(rw, buf, 0, { link: true }), 4096);
  assert.equal(await s.ring.fsync(rw), undefined);
  // Fails, awaited: the request made after it is cancelled.
  await assert.rejects(s.ring.write(ro, buf, 0, { link: true }), isErrno("EBADF"));
  await assert.rejects(s.ring.fsync(rw), isErrno("ECANCELED"));
  // Still in flight when the next is made (an empty pipe read, then data).
  using p = pipe();
  const r = s.ring.read(p.r, buf, 0, { link: true, length: 3 });
  await new Promise((res) => setTimeout(res, 20));
  const f = s.ring.fsync(rw); // waits in JS for the read
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(s.ring.stats().inFlight, 1);
  put(p.w, "abc");
  assert.equal(await within(r, 2000, "linked read"), 3);
  assert.equal(await within(f, 2000, "fsync after it"), undefined);
});

Deno.test("link + timeout: a timed-out head cancels what is linked to it", async () => {
  using s = setup();
  using p = pipe();
  using buf = s.pool.alloc(4096);
  using file = openFile(scratch(), { write: true, create: true });
  const r = s.ring.read(p.r, buf, 0, { timeout: 30, link: true });
  const f = s.ring.fsync(file);
  const [a, b] = await within(Promise.allSettled([r, f]), 3000, "timed chain");
  assert.ok(a.status === "rejected" && (a.reason as DOMException).name === "TimeoutError");
  assert.ok(b.status === "rejected" && isErrno("ECANCELED")(b.reason), String(b));
});

Deno.test("abort a request waiting (in JS) for its linked predecessor", async () => {
  using s = setup();
  using p = pipe();
  using buf = s.pool.alloc(4096);
  using file = openFile(scratch(), { write: true, create: true });
  const r = s.ring.read(p.r, buf, 0, { link: true, length: 1 });
  await new Promise((res) => setTimeout(res, 10));
  const ac = new AbortController();
  const f = s.ring.fsync(file, { signal: ac.signal });
  ac.abort(new Error("no"));
  await within(assert.rejects(f, /no/), 1000, "aborted waiter");
  put(p.w, "x");
  assert.equal(await within(r, 2000, "predecessor"), 1);
});

Deno.test("ring.close() rejects linked requests still waiting with RingClosedError", async () => {
  const s = setup();
  using p = pipe();
  const buf = s.pool.alloc(4096);
  using file = openFile(scratch(), { write: true, create: true });
  const r = s.ring.read(p.r, buf, 0, { link: true });
  await new Promise((res) => setTimeout(res, 10));
  const f = s.ring.fsync(file);
  s.ring.close();
  await assert.rejects(r, RingClosedError);
  await assert.rejects(f, RingClosedError);
  await assert.rejects(s.ring.fsync(file), RingClosedError);
  buf.release();
  s.pool.close();
});

Deno.test("request options are checked: typed errors naming the option", async () => {
  using s = setup();
  using file = openFile(scratch(), { write: true, create: true });
  using buf = s.pool.alloc(4096);
  await assert.rejects(s.ring.fsync(file, { signal: {} as AbortSignal }), /signal/);
  await assert.rejects(s.ring.fsync(file, { link: 1 as unknown as boolean }), /link/);
  await assert.rejects(s.ring.write(file, buf, 0, { lenght: 4 } as never), /lenght/);
  await assert.rejects(s.ring.write(file, buf, 0, { length: 5000 }), RangeError);
  await assert.rejects(s.ring.fallocate(file, 0, 10, { keepSize: 1 as never }), /keepSize/);
  assert.equal(s.ring.stats().submitted, 0);
});

Deno.test("O_DIRECT tail: pad the last block, write it whole, truncate to the real size", async () => {
  using s = setup();
  const path = scratch();
  using file = openFile(path, { write: true, read: true, create: true, direct: true });
  const size = 10_000;
  const data = new Uint8Array(size).map((_, i) => (i * 31) & 0xff);
  const a = file.alignment;
  const end = Math.ceil(size / a) * a;
  using buf = s.pool.alloc(end);
  buf.bytes.set(data);
  buf.bytes.fill(0, size, end); // pad
  const w = s.ring.write(file, buf, 0, { length: end, link: true });
  const t = s.ring.truncate(file, size, { link: true });
  const f = s.ring.fsync(file, { dataOnly: true });
  await Promise.all([w, t, f]);
  assert.equal(file.size(), size);
  assert.deepEqual(Deno.readFileSync(path), data);
  // Reading it back with O_DIRECT: whole blocks asked, the short tail returned.
  buf.bytes.fill(0);
  assert.equal(await s.ring.read(file, buf, 0, end), size);
  assert.deepEqual(buf.bytes.subarray(0, size), data);
});

Deno.test("readRaw/writeRaw take the request options too", async () => {
  using s = setup();
  using p = pipe();
  using buf = s.pool.alloc(4096);
  const raw = { pointer: buf.pointer, length: 16, bufIndex: -1 };
  await within(
    assert.rejects(
      s.ring.readRaw(p.r, raw, 0, { timeout: 20 }),
      (e) => e instanceof DOMException && e.name === "TimeoutError",
    ),
    2000,
    "raw timed read",
  );
  using file = openFile(scratch(), { write: true, read: true, create: true });
  buf.bytes.fill(0x33, 0, 16);
  const w = s.ring.writeRaw(file, raw, 0, { link: true });
  const f = s.ring.fsync(file);
  assert.deepEqual(await Promise.all([w, f]), [16, undefined]);
  await assert.rejects(s.ring.writeRaw(file, raw, 0, { bogus: 1 } as never), /bogus/);
});

Deno.test("readv/writev hold the buffers they were made with, not the caller's array", async () => {
  using s = setup();
  using file = openFile(scratch(), { write: true, read: true, create: true });
  // The batch array cleared at once, its buffers released while busy: they
  // go back when the write settles.
  const batch = [s.pool.alloc(4096), s.pool.alloc(4096)];
  const mine = [...batch];
  const w = s.ring.writev(file, batch, 0);
  batch.length = 0;
  for (const b of mine) b.release();
  assert.equal(await w, 8192);
  assert.equal(s.pool.stats().liveBuffers, 0);
  // An array element replaced after the call: the other buffer is not
  // touched when the readv settles, and stays busy for its own read later.
  const a = s.pool.alloc(4096), other = s.pool.alloc(4096);
  const arr = [a];
  const r = s.ring.readv(file, arr, 0);
  arr[0] = other;
  assert.equal(await r, 4096);
  a.release();
  using p = pipe();
  const inflight = s.ring.read(p.r, other, 0);
  await new Promise((res) => setTimeout(res, 20));
  other.release(); // deferred: the kernel still has the read
  assert.equal(s.pool.stats().liveBuffers, 1);
  using next = s.pool.alloc(4096);
  next.bytes.fill(0);
  put(p.w, "wxyz");
  assert.equal(await within(inflight, 2000, "pipe read"), 4);
  assert.ok(next.bytes.every((x) => x === 0), "the old read wrote into a new owner's buffer");
});

Deno.test("a request linked in JS holds its file and buffer while it waits (close/release deferred)", async () => {
  using s = setup();
  using p = pipe();
  using head = s.pool.alloc(4096);
  const path = scratch();
  const file = openFile(path, { write: true, read: true, create: true });
  const first = s.ring.read(p.r, head, 0, { link: true, length: 8 });
  await new Promise((res) => setTimeout(res, 10)); // the read is with the kernel
  let w, f;
  {
    using b = s.pool.alloc(4096);
    b.bytes.fill(0x61);
    w = s.ring.write(file, b, 0, { link: true }); // waits in JS for the read
    f = s.ring.fsync(file);
  } // b released here: deferred while the write waits
  file.close(); // deferred too
  assert.equal(s.pool.stats().liveBuffers, 2);
  put(p.w, "12345678");
  assert.deepEqual(await within(Promise.all([first, w, f]), 3000, "linked"), [8, 4096, undefined]);
  const data = Deno.readFileSync(path);
  assert.equal(data.length, 4096);
  assert.ok(data.every((x) => x === 0x61));
  assert.equal(s.pool.stats().liveBuffers, 1); // only head: b went back at its CQE
  // The descriptor really was closed after the last request.
  await assert.rejects(s.ring.fsync(file), isErrno("EBADF"));
});

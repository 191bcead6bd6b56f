/**
 * The completion path: one blocking wait per thread for any number of
 * rings (64 rings never starve Deno's 32-thread blocking pool, close never
 * spins), CQE flags reach request handlers (multishot stays pending while
 * IORING_CQE_F_MORE), internal SQEs settle nothing, the submit policy.
 */
import assert from "node:assert/strict";
import { BuddyPool, openFile, Ring, RingClosedError } from "../mod.ts";
import { CqeFlag } from "../ffi/constants.ts";
import { lib } from "../ffi/loader.ts";
import { kCork, kInternal, kRequest } from "../src/ring.ts";
import { threadWaiter } from "../src/thread_waiter.ts";

const fixture = new URL("./fixtures/many_rings.ts", import.meta.url).pathname;

/** Runs the many-rings fixture; kills it after `ms`. */
async function manyRings(rings: number, ms: number): Promise<Record<string, unknown>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", fixture, String(rings)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  const { stdout, stderr, code } = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(stdout).trim();
  assert.ok(
    text.length > 0,
    `the fixture printed nothing (exit ${code}, killed after ${ms} ms?): ${
      new TextDecoder().decode(stderr)
    }`,
  );
  return { ...JSON.parse(text.split("\n").at(-1)!), code };
}

Deno.test("64 rings in one thread: Deno's file ops keep working, all complete, close returns", async () => {
  const r = await manyRings(64, 30_000);
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.readTextFile, "still alive");
  assert.ok((r.readTextFileMs as number) < 2000, `readTextFile took ${r.readTextFileMs} ms`);
  assert.equal(r.allRead, true);
  assert.ok((r.closeMs as number) < 2000, `closing 64 rings took ${r.closeMs} ms`);
  assert.equal(r.secondRejected, 64);
  assert.equal(r.code, 0);
});

function fifo(): { path: string; dir: string } {
  const dir = Deno.makeTempDirSync({ prefix: "veloq-fifo-" });
  const path = `${dir}/p`;
  assert.ok(new Deno.Command("mkfifo", { args: [path] }).outputSync().success);
  return { path, dir };
}

const POLLIN = 1;

Deno.test("multishot: a request stays pending while CQE_F_MORE, holds until its last CQE", async () => {
  const { path, dir } = fifo();
  try {
    const ring = new Ring({ entries: 8, bufferSlots: 0 });
    const file = openFile(path, { read: true, write: true });
    const seen: [number, number, boolean][] = [];
    let wake: () => void = () => {};
    const sym = lib().symbols;
    const fd = file.fd;
    const ud = ring[kRequest](
      (ptr, userData) => sym.vb_ring_prep_poll(ptr, fd, POLLIN, 1, userData),
      { file },
      (res, flags, closing) => {
        seen.push([res, flags, closing]);
        wake();
      },
    );
    assert.ok(ud >= 0);
    assert.equal(file.pendingRequests, 1);
    const writer = await Deno.open(path, { write: true });
    const reader = await Deno.open(path, { read: true });
    for (let i = 0; i < 3; i++) {
      const got = new Promise<void>((r) => wake = r);
      await writer.write(new Uint8Array([i]));
      await got;
      await reader.read(new Uint8Array(16)); // empty the FIFO: the next write polls again
    }
    assert.equal(seen.length, 3);
    for (const [res, flags, closing] of seen) {
      assert.ok((res & POLLIN) !== 0);
      assert.ok((flags & CqeFlag.MORE) !== 0);
      assert.equal(closing, false);
    }
    assert.equal(ring.stats().inFlight, 1);
    // The file is held: close() defers the real close(2).
    file.close();
    assert.equal(file.closed, true);
    assert.equal(file.pendingRequests, 1);
    ring.close(); // cancels it: the last CQE (no F_MORE) with closing
    const last = seen.at(-1)!;
    assert.equal(last[2], true);
    assert.equal(last[1] & CqeFlag.MORE, 0);
    assert.equal(file.pendingRequests, 0);
    assert.equal(ring.stats().inFlight, 0);
    writer.close();
    reader.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("an internal SQE settles nothing and its CQE in an idle ring does not make the wait spin", async () => {
  const a = fifo(), b = fifo();
  try {
    using idle = new Ring({ entries: 8, bufferSlots: 0 });
    using busy = new Ring({ entries: 8, bufferSlots: 0 });
    using ready = openFile(a.path, { read: true, write: true });
    using waiting = openFile(b.path, { read: true, write: true });
    const w = await Deno.open(a.path, { write: true });
    await w.write(new Uint8Array([1])); // `ready` is readable: the poll completes at once
    w.close();
    const sym = lib().symbols;
    const rc = idle[kInternal]((ptr, ud) => sym.vb_ring_prep_poll(ptr, ready.fd, POLLIN, 0, ud));
    assert.equal(rc, 0);
    assert.equal(idle.stats().inFlight, 0);
    using pool = BuddyPool.create({ arenaSize: 1 << 16 });
    using buf = pool.alloc(4096);
    const read = busy.read(waiting, buf, 0, 4);
    const before = threadWaiter().wakeups;
    await new Promise((r) => setTimeout(r, 100));
    const spins = threadWaiter().wakeups - before;
    assert.ok(spins <= 3, `the wait woke ${spins} times in 100 ms with nothing to do`);
    const w2 = await Deno.open(b.path, { write: true });
    await w2.write(new Uint8Array([1, 2, 3, 4]));
    w2.close();
    assert.equal(await read, 4);
  } finally {
    Deno.removeSync(a.dir, { recursive: true });
    Deno.removeSync(b.dir, { recursive: true });
  }
});

Deno.test("cork: nothing is submitted while a chain is being built, then one submit", async () => {
  using ring = new Ring({ entries: 16, bufferSlots: 0 });
  using pool = BuddyPool.create({ arenaSize: 1 << 16 });
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeFileSync(path, new Uint8Array(16384).fill(3));
    using file = openFile(path);
    const bufs = [0, 1, 2].map(() => pool.alloc(4096));
    ring[kCork](1);
    const ps = bufs.map((b, i) => ring.read(file, b, i * 4096));
    assert.equal(ring.submit(), 0); // corked: refused
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(ring.stats().submitCalls, 0);
    assert.equal(ring.stats().submitted, 0);
    ring[kCork](-1);
    assert.deepEqual(await Promise.all(ps), [4096, 4096, 4096]);
    assert.equal(ring.stats().submitCalls, 1);
    bufs.forEach((b) => b.release());
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("submit policy: a lone request goes at once, an await loop batches, ring.submit()", async () => {
  using ring = new Ring({ entries: 64, bufferSlots: 0 });
  using pool = BuddyPool.create({ arenaSize: 1 << 20 });
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeFileSync(path, new Uint8Array(64 * 4096).fill(5));
    using file = openFile(path);
    using one = pool.alloc(4096);
    const p = ring.read(file, one, 0);
    assert.equal(ring.stats().submitCalls, 1, "an idle ring submits a lone request at once");
    assert.equal(await p, 4096);
    // 16 workers, each awaiting its read before the next (await style).
    const bufs = Array.from({ length: 16 }, () => pool.alloc(4096));
    const before = ring.stats();
    await Promise.all(bufs.map(async (b, w) => {
      for (let i = 0; i < 8; i++) await ring.read(file, b, ((w * 8 + i) % 64) * 4096);
    }));
    const after = ring.stats();
    const reqs = after.submitted - before.submitted;
    const calls = after.submitCalls - before.submitCalls;
    assert.equal(reqs, 128);
    assert.ok(calls <= 32, `${calls} submit calls for ${reqs} awaited requests`);
    // Requests made by continuations of completions just drained are
    // gathered by the flush (one submit, no lone early one): wait until the
    // ring is idle again (a macrotask later) to see the lone request go.
    await new Promise((r) => setTimeout(r, 0));
    // ring.submit() hands over what is queued now.
    const q = bufs.map((b, i) => ring.read(file, b, i * 4096));
    assert.ok(ring.stats().submitted - after.submitted >= 1);
    const n = ring.submit();
    assert.equal(ring.stats().submitted - after.submitted, 16);
    assert.ok(n >= 0);
    await Promise.all(q);
    bufs.forEach((b) => b.release());
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("closing a ring with only a parked wait lets the process go on (no wait left)", async () => {
  const { path, dir } = fifo();
  try {
    const ring = new Ring({ entries: 4, bufferSlots: 0 });
    using pool = BuddyPool.create({ arenaSize: 1 << 16 });
    using buf = pool.alloc(4096);
    using file = openFile(path, { read: true, write: true });
    const p = ring.read(file, buf, 0, 4);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(threadWaiter().parked, true);
    ring.close();
    await assert.rejects(p, RingClosedError);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(threadWaiter().parked, false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a ring kept busy at QD1 (polled completions) lets timers run", async () => {
  const dir = new URL(".", import.meta.url).pathname; // O_DIRECT works on the checkout's fs
  const path = Deno.makeTempFileSync({ dir, prefix: ".tmp-spin-" });
  try {
    Deno.writeFileSync(path, new Uint8Array(1 << 20).fill(7));
    using ring = new Ring({ entries: 8 });
    using pool = BuddyPool.create({ arenaSize: 1 << 16, registrar: ring });
    using buf = pool.alloc(4096);
    using file = openFile(path, { direct: true });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    let reads = 0;
    const until = performance.now() + 300;
    while (performance.now() < until) {
      assert.equal(await ring.read(file, buf, (reads++ % 256) * 4096), 4096);
    }
    clearInterval(timer);
    assert.ok(ticks >= 10, `a 5 ms interval ran ${ticks} times in 300 ms of back-to-back reads`);
    assert.ok(reads > 10);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("a terminated Worker's rings are destroyed by its thread-exit hook", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./fixtures/ring_exit.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const { stdout, stderr, code } = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(stdout).trim();
  assert.ok(text.length > 0, `no output (exit ${code}): ${new TextDecoder().decode(stderr)}`);
  const r = JSON.parse(text.split("\n").at(-1)!);
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.during, 8, "4 Workers x 2 rings while they ran");
  assert.equal(r.after, 0, "rings of terminated Workers still open");
  assert.equal(code, 0);
});

Deno.test("sqpoll (opt-in): requests complete, bad values are refused", async () => {
  assert.throws(() => new Ring({ sqpoll: "yes" as never }), TypeError);
  assert.throws(() => new Ring({ sqpoll: 0 }), RangeError);
  using ring = new Ring({ entries: 16, sqpoll: 5 });
  using pool = BuddyPool.create({ arenaSize: 1 << 16, registrar: ring });
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeFileSync(path, new Uint8Array(8 * 4096).map((_, i) => i & 0xff));
    using file = openFile(path);
    const bufs = Array.from({ length: 8 }, () => pool.alloc(4096));
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(
        await Promise.all(bufs.map((b, i) => ring.read(file, b, i * 4096))),
        Array(8).fill(4096),
      );
      bufs.forEach((b, i) => assert.equal(b.bytes[1], (i * 4096 + 1) & 0xff));
      await new Promise((r) => setTimeout(r, 12)); // past the idle time: the thread sleeps
    }
    assert.equal(ring.stats().inFlight, 0);
    bufs.forEach((b) => b.release());
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("a request handler that closes the ring (or makes a request) while completions are drained", async () => {
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeFileSync(path, new Uint8Array(64 * 4096).fill(4));
    const ring = new Ring({ entries: 64, bufferSlots: 0 });
    using pool = BuddyPool.create({ arenaSize: 1 << 20 });
    using file = openFile(path);
    const sym = lib().symbols;
    const bufs = Array.from({ length: 16 }, () => pool.alloc(4096));
    const seen: [number, boolean][] = [];
    const late: unknown[] = [];
    for (let i = 0; i < 16; i++) {
      const b = bufs[i];
      ring[kRequest](
        (ptr, ud) => sym.vb_ring_prep(ptr, 0, file.fd, b.bytes, 4096, i * 4096, -1, ud),
        { bufs: [b], file },
        (res, _flags, closing) => {
          seen.push([res, closing]);
          if (seen.length === 2) {
            ring.close(); // from inside the drain
            try {
              ring[kRequest](() => 0, null, () => {});
            } catch (e) {
              late.push(e);
            }
          }
        },
      );
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(ring.closed, true);
    assert.equal(seen.length, 16, "every request settled once");
    assert.equal(late.length, 1);
    assert.ok(late[0] instanceof RingClosedError);
    assert.equal(file.pendingRequests, 0);
    bufs.forEach((b) => b.release());
  } finally {
    Deno.removeSync(path);
  }
});

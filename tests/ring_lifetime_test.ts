/**
 * Issue 13 items 1, 10, 11: a request holds its FileHandle (a close while
 * it is queued defers the real close(2), so the fd cannot be reused under
 * it), bad arguments reject cleanly, and ring.close() resolves what the
 * kernel completed.
 */
import assert from "node:assert/strict";
import { BuddyPool, IoError, openFile, Ring, RingClosedError } from "../mod.ts";

const tmp = () => Deno.makeTempFileSync({ prefix: "veloq-lifetime-" });

/** Whether descriptor `fd` of this process is open on `path` (readlink(1):
 * Deno's own readLink of /proc/self/fd wants --allow-all for some targets). */
function fdOpenOn(fd: number, path: string): boolean {
  const out = new Deno.Command("readlink", { args: [`/proc/${Deno.pid}/fd/${fd}`] }).outputSync();
  return out.success && new TextDecoder().decode(out.stdout).trim() === Deno.realPathSync(path);
}

Deno.test("a write queued on a file closed in the same tick lands in that file, not the next one opened", async () => {
  const pa = tmp(), pb = tmp();
  // No `using` here: a failing assertion must not be buried in a
  // SuppressedError by the disposal of a ring with a request in flight.
  const ring = new Ring({ entries: 8, bufferSlots: 0 });
  const pool = BuddyPool.create({ arenaSize: 1 << 16 });
  const buf = pool.alloc(4096);
  let b = null;
  try {
    buf.bytes.fill(0x61);
    const a = openFile(pa, { write: true });
    const fdA = a.fd;
    const w = ring.write(a, buf, 0, 100);
    a.close();
    // Same tick: the descriptor is still open (held by the write), so the
    // next open cannot get its number.
    assert.equal(a.closed, true);
    assert.equal(a.pendingRequests, 1);
    assert.equal(fdOpenOn(fdA, pa), true, `fd ${fdA} not open on ${pa} before the write settled`);
    b = openFile(pb, { write: true });
    assert.notEqual(b.fd, fdA, "the fd of a file with a request queued was reused");
    assert.throws(() => a.fd, IoError); // new use refused at once
    const late = assert.rejects(ring.write(a, buf, 0, 1), IoError);
    assert.equal(await w, 100);
    await late;
    assert.equal(a.pendingRequests, 0);
    assert.equal(Deno.statSync(pa).size, 100);
    assert.equal(Deno.statSync(pb).size, 0);
    // The deferred close(2) happened.
    assert.equal(fdOpenOn(fdA, pa), false, `fd ${fdA} still open on ${pa} (b is ${b.fd})`);
  } finally {
    ring.close();
    buf.release();
    pool.close();
    b?.close();
    Deno.removeSync(pa);
    Deno.removeSync(pb);
  }
});

Deno.test("a file closed with requests queued on a ring that is closed before submitting is still closed", async () => {
  const pa = tmp();
  try {
    const ring = new Ring({ entries: 8, bufferSlots: 0 });
    using pool = BuddyPool.create({ arenaSize: 1 << 16 });
    using buf = pool.alloc(4096);
    using keep = openFile(pa); // a request in flight keeps the next ones queued
    const a = openFile(pa, { write: true });
    const fdA = a.fd;
    const ps = [ring.read(keep, buf, 0, 1), ring.write(a, buf, 0, 10), ring.write(a, buf, 10, 10)];
    a.close();
    ring.close();
    const s = await Promise.allSettled(ps);
    for (const r of s.slice(1)) {
      if (r.status === "rejected") assert.ok(r.reason instanceof RingClosedError);
    }
    assert.equal(a.pendingRequests, 0);
    assert.equal(fdOpenOn(fdA, pa), false, "the deferred close(2) never happened");
  } finally {
    Deno.removeSync(pa);
  }
});

Deno.test("bad arguments give rejected promises (TypeError/RangeError) and leave the ring clean", async () => {
  const pa = tmp();
  try {
    Deno.writeFileSync(pa, new Uint8Array(4096).fill(9));
    using ring = new Ring({ entries: 4, bufferSlots: 0 });
    using pool = BuddyPool.create({ arenaSize: 1 << 16 });
    using buf = pool.alloc(4096);
    using file = openFile(pa);
    const bad: [string, () => Promise<number>, ErrorConstructor][] = [
      ['read("3")', () => ring.read("3" as never, buf, 0), TypeError],
      ["read({})", () => ring.read({} as never, buf, 0), TypeError],
      ["read(null buf)", () => ring.read(file, null as never, 0), TypeError],
      ["read(plain buf)", () => ring.read(file, new Uint8Array(8) as never, 0), TypeError],
      ['read(offset "0")', () => ring.read(file, buf, "0" as never), RangeError],
      ['read(length "1")', () => ring.read(file, buf, 0, "1" as never), RangeError],
      [
        "readRaw(null pointer)",
        () => ring.readRaw(file, { pointer: null as never, length: 8, bufIndex: -1 }, 0),
        TypeError,
      ],
      ["readRaw(null)", () => ring.readRaw(file, null as never, 0), TypeError],
      [
        "writeRaw(pointer 5)",
        () => ring.writeRaw(file, { pointer: 5 as never, length: 8, bufIndex: -1 }, 0),
        TypeError,
      ],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [what, call, type] of bad) {
        let p: Promise<number> | undefined;
        assert.doesNotThrow(() => p = call(), `${what} threw synchronously`);
        await assert.rejects(p!, type, what);
      }
    }
    assert.equal(ring.stats().inFlight, 0);
    // The ring still works, with its four SQEs, and submitted nothing bad.
    const ok = await Promise.all([0, 1, 2, 3].map(() => ring.read(file, buf, 0)));
    assert.deepEqual(ok, [4096, 4096, 4096, 4096]);
    assert.equal(ring.stats().submitted, 4);
  } finally {
    Deno.removeSync(pa);
  }
});

Deno.test("ring.close() resolves the requests whose CQE says success", async () => {
  const pa = tmp();
  try {
    const ring = new Ring({ entries: 256, bufferSlots: 0 });
    using pool = BuddyPool.create({ arenaSize: 1 << 20 });
    using file = openFile(pa, { write: true });
    const N = 200;
    const bufs = Array.from({ length: N }, (_, i) => {
      const b = pool.alloc(4096);
      b.bytes.fill(i & 0xff);
      return b;
    });
    const ps = bufs.map((b, i) => ring.write(file, b, i * 4096));
    ring.submit();
    // Give the kernel time to finish them (page cache writes), then close
    // before any completion was reaped.
    const until = performance.now() + 50;
    while (performance.now() < until) { /* spin: no microtask may run */ }
    ring.close();
    const settled = await Promise.allSettled(ps);
    const done = settled.filter((s) => s.status === "fulfilled").length;
    assert.ok(done > 0, "every completed write was rejected");
    for (const s of settled) {
      if (s.status === "fulfilled") assert.equal(s.value, 4096);
      else assert.ok(s.reason instanceof RingClosedError);
    }
    // Every write that resolved is on disk.
    const data = Deno.readFileSync(pa);
    settled.forEach((s, i) => {
      if (s.status === "fulfilled") assert.equal(data[i * 4096 + 17], i & 0xff);
    });
    bufs.forEach((b) => b.release());
  } finally {
    Deno.removeSync(pa);
  }
});

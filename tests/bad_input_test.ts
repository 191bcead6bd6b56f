/**
 * Every bad input, for both pools and the ring: a typed error, and the pool
 * consistent afterwards (its stats unchanged, check() passing).
 */
import assert from "node:assert/strict";
import {
  BuddyPool,
  BufferReleasedError,
  type BufPool,
  HybridPool,
  openFile,
  PoolBusyError,
  PoolClosedError,
  Ring,
  RingClosedError,
} from "../mod.ts";

const MiB = 1024 * 1024;
const pools: [string, () => BufPool][] = [
  ["BuddyPool", () => BuddyPool.create({ arenaSize: MiB })],
  ["HybridPool", () => HybridPool.create({ classes: [{ size: 4096, count: 4 }] })],
];

for (const [kind, make] of pools) {
  Deno.test(`${kind}: bad sizes are RangeError/TypeError and change nothing`, async () => {
    using pool = make();
    const before = pool.stats();
    const ranges = [0, -1, -4096, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 32, 2 ** 53, -(2 ** 53)];
    // BuddyPool also refuses sizes above its arena (HybridPool falls back instead).
    if (kind === "BuddyPool") ranges.push(MiB + 1);
    for (const size of ranges) {
      assert.throws(() => pool.alloc(size), RangeError, `alloc(${size})`);
      assert.throws(() => pool.tryAlloc(size), RangeError, `tryAlloc(${size})`);
      await assert.rejects(pool.allocAsync(size), RangeError, `allocAsync(${size})`);
    }
    for (const size of ["4096", null, undefined, {}, 4096n, [4096]]) {
      assert.throws(() => pool.alloc(size as never), TypeError, `alloc(${String(size)})`);
    }
    assert.deepEqual(pool.stats(), before);
    pool.check();
  });

  Deno.test(`${kind}: a buffer goes back to the pool that made it, never another`, () => {
    using a = make();
    using b = make();
    const buf = a.alloc(4096);
    const bBefore = b.stats();
    buf.release();
    assert.equal(a.stats().liveBuffers, 0);
    assert.deepEqual(b.stats(), bBefore);
    a.check();
    b.check();
  });

  Deno.test(`${kind}: close with live buffers, close twice, use after close`, () => {
    const pool = make();
    const buf = pool.alloc(4096);
    assert.throws(() => pool.close(), (e) => e instanceof PoolBusyError && e.liveBuffers === 1);
    assert.equal(pool.closed, false);
    pool.check(); // the refused close changed nothing
    buf.release();
    pool.close();
    pool.close(); // a second close does nothing
    assert.equal(pool.closed, true);
    assert.throws(() => pool.alloc(4096), PoolClosedError);
    assert.throws(() => pool.tryAlloc(4096), PoolClosedError);
    assert.throws(() => pool.stats(), PoolClosedError);
    assert.throws(() => pool.regions(), PoolClosedError);
    assert.throws(() => pool.check(), PoolClosedError);
    buf.release(); // releasing again after close is still a no-op
    assert.throws(() => buf.bytes, BufferReleasedError);
  });
}

Deno.test("ring: I/O with a released buffer, on a closed ring, with bad arguments", async () => {
  const dir = Deno.makeTempDirSync({
    dir: new URL(".", import.meta.url).pathname,
    prefix: ".tmp-",
  });
  try {
    Deno.writeFileSync(`${dir}/x.bin`, new Uint8Array(8192));
    using file = openFile(`${dir}/x.bin`);
    using pool = BuddyPool.create({ arenaSize: MiB });
    const ring = new Ring({ entries: 4 });
    const released = pool.alloc(4096);
    released.release();
    await assert.rejects(ring.read(file, released, 0), BufferReleasedError);
    await assert.rejects(ring.write(file, released, 0), BufferReleasedError);
    using buf = pool.alloc(4096);
    await assert.rejects(ring.read(-1, buf, 0), TypeError);
    await assert.rejects(ring.read(1.5, buf, 0), TypeError);
    await assert.rejects(ring.read(file, buf, NaN), RangeError);
    await assert.rejects(ring.read(file, buf, 0, -1), RangeError);
    await assert.rejects(ring.read(file, buf, 0, 4097), RangeError);
    assert.equal(ring.stats().inFlight, 0);
    ring.close();
    await assert.rejects(ring.read(file, buf, 0), RingClosedError);
    await assert.rejects(ring.write(file, buf, 0), RingClosedError);
    // A closed file: EBADF from the handle, before the kernel.
    const closed = openFile(`${dir}/x.bin`);
    closed.close();
    using ring2 = new Ring({ entries: 4 });
    await assert.rejects(ring2.read(closed, buf, 0), /closed/);
    pool.check();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("openFile: bad options and missing files are typed errors", () => {
  assert.throws(() => openFile(""), TypeError);
  assert.throws(
    () => openFile("/nonexistent/dir/file"),
    (e) => (e as { errnoName?: string }).errnoName === "ENOENT",
  );
  assert.throws(() => openFile("/tmp/x", { read: false, write: false }), TypeError);
  assert.throws(() => openFile("/tmp/x", { create: true }), /need write/);
  assert.throws(() => openFile("/tmp/x", { mode: 0o10000 }), RangeError);
});

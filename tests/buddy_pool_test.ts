/** BuddyPool through the public API. */
import assert from "node:assert/strict";
import {
  BuddyPool,
  BufferReleasedError,
  type FixedBuf,
  PoolBusyError,
  PoolClosedError,
  PoolExhaustedError,
} from "../mod.ts";
import { livePools } from "./helpers.ts";

const MiB = 1024 * 1024;

Deno.test("alloc rounds up to a power-of-two number of pages, page-aligned", () => {
  using pool = BuddyPool.create({ arenaSize: 4 * MiB });
  for (
    const [size, cap] of [[1, 4096], [4096, 4096], [4097, 8192], [12288, 16384], [100_000, 131072]]
  ) {
    using buf = pool.alloc(size);
    assert.equal(buf.capacity, cap);
    assert.equal(buf.bytes.byteLength, cap);
    assert.equal(Number(Deno.UnsafePointer.value(buf.pointer)) % 4096, 0);
    assert.equal(buf.bufIndex, -1);
  }
});

Deno.test("bytes is a view of pool memory: no copy, stable, writable", () => {
  using pool = BuddyPool.create({ arenaSize: MiB });
  using buf = pool.alloc(4096);
  const a = buf.bytes;
  assert.equal(a, buf.bytes, "the view is cached");
  a.fill(0xab);
  const view = new Deno.UnsafePointerView(buf.pointer);
  assert.equal(view.getUint8(0), 0xab);
  assert.equal(view.getUint8(4095), 0xab);
});

Deno.test("data written through one buffer never shows in another", () => {
  using pool = BuddyPool.create({ arenaSize: MiB, cacheDepth: 4 });
  const bufs: FixedBuf[] = [];
  for (let i = 0; i < 64; i++) {
    const b = pool.alloc(4096 * (1 + (i % 4)));
    b.bytes.fill(i + 1);
    bufs.push(b);
  }
  bufs.forEach((b, i) => assert.ok(b.bytes.every((x) => x === i + 1), `buffer ${i} intact`));
  const starts = bufs.map((b) => Number(Deno.UnsafePointer.value(b.pointer)));
  const sorted = bufs.map((b, i) => [starts[i], b.capacity]).sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < sorted.length; i++) {
    assert.ok(sorted[i - 1][0] + sorted[i - 1][1] <= sorted[i][0], "no overlap");
  }
  for (const b of bufs) b.release();
  pool.check();
});

Deno.test("using returns the buffer to the pool", () => {
  using pool = BuddyPool.create({ arenaSize: MiB });
  {
    using _a = pool.alloc(8192);
    using _b = pool.alloc(4096);
    assert.equal(pool.stats().liveBuffers, 2);
    assert.equal(pool.stats().bytesInUse, 12288);
  }
  const s = pool.stats();
  assert.equal(s.liveBuffers, 0);
  assert.equal(s.bytesInUse, 0);
  assert.equal(s.allocs, 2);
  assert.equal(s.frees, 2);
  assert.equal(s.freeBytes, s.capacityBytes);
});

Deno.test("release is idempotent and every accessor throws after it", () => {
  using pool = BuddyPool.create({ arenaSize: MiB });
  const buf = pool.alloc(4096);
  buf.release();
  buf.release();
  buf[Symbol.dispose]();
  assert.equal(buf.released, true);
  assert.throws(() => buf.bytes, BufferReleasedError);
  assert.throws(() => buf.capacity, BufferReleasedError);
  assert.throws(() => buf.bufIndex, BufferReleasedError);
  assert.throws(() => buf.pointer, BufferReleasedError);
  assert.equal(pool.stats().liveBuffers, 0);
  pool.check();
});

Deno.test("every bad size is a RangeError and changes nothing", () => {
  using pool = BuddyPool.create({ arenaSize: MiB });
  const before = pool.stats();
  for (const size of [0, -1, -4096, 1.5, NaN, Infinity, -Infinity, 2 ** 32, 2 ** 53, MiB + 1]) {
    assert.throws(() => pool.alloc(size), RangeError, `alloc(${size})`);
    assert.throws(() => pool.tryAlloc(size), RangeError, `tryAlloc(${size})`);
  }
  for (const size of ["4096", null, undefined, {}, 4096n]) {
    assert.throws(() => pool.alloc(size as unknown as number), TypeError, `alloc(${String(size)})`);
  }
  assert.deepEqual(pool.stats(), before);
  pool.check();
});

Deno.test("exhaustion throws PoolExhaustedError; tryAlloc returns null", () => {
  using pool = BuddyPool.create({ arenaSize: 64 * 1024, cacheDepth: 2 });
  const bufs = Array.from({ length: 16 }, () => pool.alloc(4096));
  assert.throws(() => pool.alloc(4096), PoolExhaustedError);
  assert.equal(pool.tryAlloc(4096), null);
  assert.equal(pool.stats().failedAllocs, 2);
  const err = (() => {
    try {
      pool.alloc(4096);
    } catch (e) {
      return e as Error;
    }
  })();
  assert.match(err!.message, /exhausted/);
  assert.match(err!.message, /16 live buffers/);
  bufs.pop()!.release();
  pool.alloc(4096).release();
  for (const b of bufs) b.release();
  // Everything merged back: the whole arena is one block again.
  using whole = pool.alloc(64 * 1024);
  assert.equal(whole.capacity, 64 * 1024);
});

Deno.test("onExhausted: fallback serves unregistered buffers that round-trip", () => {
  using pool = BuddyPool.create({ arenaSize: 16 * 1024, onExhausted: "fallback" });
  const a = pool.alloc(16 * 1024);
  const b = pool.alloc(5000);
  assert.equal(b.bufIndex, -1);
  assert.equal(b.capacity, 8192);
  assert.equal(Number(Deno.UnsafePointer.value(b.pointer)) % 4096, 0);
  b.bytes.fill(9);
  assert.equal(b.bytes[8191], 9);
  let s = pool.stats();
  assert.equal(s.fallbackBuffers, 1);
  assert.equal(s.fallbackBytes, 8192);
  assert.equal(s.liveBuffers, 2);
  b.release();
  a.release();
  s = pool.stats();
  assert.equal(s.fallbackBuffers, 0);
  assert.equal(s.liveBuffers, 0);
  pool.check();
});

Deno.test("close refuses while buffers are live and names the count", () => {
  const pool = BuddyPool.create({ arenaSize: MiB, name: "named" });
  const a = pool.alloc(4096), b = pool.alloc(4096);
  const err = assert.throws(() => pool.close(), PoolBusyError) as unknown;
  void err;
  try {
    pool.close();
  } catch (e) {
    assert.ok(e instanceof PoolBusyError);
    assert.equal(e.liveBuffers, 2);
    assert.match(e.message, /"named" still has 2 live buffer/);
  }
  assert.equal(pool.closed, false);
  a.release();
  b.release();
  pool.close();
  assert.equal(pool.closed, true);
  pool.close(); // a second close does nothing
  assert.throws(() => pool.alloc(4096), PoolClosedError);
  assert.throws(() => pool.tryAlloc(4096), PoolClosedError);
  assert.throws(() => pool.stats(), PoolClosedError);
  assert.throws(() => pool.check(), PoolClosedError);
  assert.throws(() => pool.regions(), PoolClosedError);
});

Deno.test("pools free their native memory: live pool count returns to its start", () => {
  const start = livePools();
  for (let i = 0; i < 10; i++) {
    using pool = BuddyPool.create({ arenaSize: MiB });
    pool.alloc(4096).release();
  }
  assert.equal(livePools(), start);
});

Deno.test("options are validated with errors that name the option", () => {
  const cases: [object, ErrorConstructor, RegExp][] = [
    [{ arenaSize: 1000 }, RangeError, /arenaSize/],
    [{ arenaSize: 4097 }, RangeError, /arenaSize must be a multiple of 4096/],
    [{ arenaSize: 0 }, RangeError, /arenaSize/],
    [{ arenaSize: 2 ** 33 }, RangeError, /arenaSize/],
    [{ arenaSize: "1M" }, TypeError, /arenaSize/],
    [{ cacheDepth: -1 }, RangeError, /cacheDepth/],
    [{ cacheDepth: 1.5 }, RangeError, /cacheDepth/],
    [{ cachedOrders: 20 }, RangeError, /cachedOrders/],
    [{ onExhausted: "wait" }, TypeError, /onExhausted/],
    [{ prefault: 1 }, TypeError, /prefault/],
    [{ name: "" }, TypeError, /name/],
  ];
  for (const [options, type, message] of cases) {
    assert.throws(() => BuddyPool.create(options as never), (e: Error) => {
      assert.ok(e instanceof type, `${JSON.stringify(options)}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("regions: one arena, page-aligned, arenaSize long", () => {
  using pool = BuddyPool.create({ arenaSize: 3 * MiB, prefault: true });
  const r = pool.regions();
  assert.equal(r.length, 1);
  assert.equal(r[0].length, 3 * MiB);
  assert.equal(Number(Deno.UnsafePointer.value(r[0].pointer)) % 4096, 0);
  using big = pool.alloc(2 * MiB); // a 3 MiB arena holds a 2 MiB block and a 1 MiB one
  using rest = pool.alloc(MiB);
  assert.equal(big.capacity + rest.capacity, 3 * MiB);
});

Deno.test("cache: a released small buffer is handed out again (LIFO)", () => {
  using pool = BuddyPool.create({ arenaSize: MiB });
  const a = pool.alloc(4096);
  const addr = Deno.UnsafePointer.value(a.pointer);
  a.release();
  using b = pool.alloc(4096);
  assert.equal(Deno.UnsafePointer.value(b.pointer), addr);
  assert.ok(pool.stats().cachedBuffers >= 0);
});

/** HybridPool through the public API, and BufPool genericity. */
import assert from "node:assert/strict";
import {
  BuddyPool,
  type BufPool,
  FixedBuf,
  HYBRID_DEFAULT_CLASSES,
  HybridPool,
  PoolExhaustedError,
} from "../mod.ts";

Deno.test("default classes follow the seed: 4K..64K in one 14 MiB arena", () => {
  using pool = HybridPool.create();
  const s = pool.stats();
  assert.equal(s.capacityBytes, 14 * 1024 * 1024);
  assert.deepEqual(
    s.classes.map((c) => c.size),
    [4096, 8192, 16384, 32768, 65536],
  );
  assert.deepEqual(s.classes.map((c) => c.total), HYBRID_DEFAULT_CLASSES.map((c) => c.count));
  const r = pool.regions();
  assert.equal(r.length, 1);
  assert.equal(r[0].length, 14 * 1024 * 1024);
  assert.equal(Number(Deno.UnsafePointer.value(r[0].pointer)) % 4096, 0);
});

Deno.test("sizes map to the smallest class that fits, at every boundary", () => {
  using pool = HybridPool.create();
  const cases: [number, number][] = [
    [1, 4096],
    [4096, 4096],
    [4097, 8192],
    [8192, 8192],
    [8193, 16384],
    [32769, 65536],
    [65536, 65536],
  ];
  for (const [size, cap] of cases) {
    using buf = pool.alloc(size);
    assert.equal(buf.capacity, cap, `size ${size}`);
    assert.equal(Number(Deno.UnsafePointer.value(buf.pointer)) % 4096, 0);
  }
});

Deno.test("above the largest class: a fallback buffer that round-trips", () => {
  using pool = HybridPool.create();
  const buf = pool.alloc(65537);
  assert.equal(buf.bufIndex, -1);
  assert.equal(buf.capacity, 65536 + 4096);
  buf.bytes.fill(0x5a);
  assert.equal(new Deno.UnsafePointerView(buf.pointer).getUint8(65536), 0x5a);
  const big = pool.alloc(256 * 1024);
  assert.equal(big.capacity, 256 * 1024);
  let s = pool.stats();
  assert.equal(s.fallbackBuffers, 2);
  assert.equal(s.fallbackBytes, 69632 + 262144);
  buf.release();
  big.release();
  s = pool.stats();
  assert.equal(s.fallbackBuffers, 0);
  assert.equal(s.liveBuffers, 0);
  pool.check();
});

Deno.test("each class runs out on its own; onExhausted decides what follows", () => {
  const classes = [{ size: 4096, count: 3 }, { size: 8192, count: 2 }];
  using strict = HybridPool.create({ classes });
  const held = [strict.alloc(4096), strict.alloc(4096), strict.alloc(4096)];
  assert.throws(() => strict.alloc(100), PoolExhaustedError);
  assert.equal(strict.tryAlloc(100), null);
  using other = strict.alloc(8192); // the 8K class still serves
  assert.equal(other.capacity, 8192);
  assert.deepEqual(strict.stats().classes.map((c) => c.free), [0, 1]);
  for (const b of held) b.release();

  using lenient = HybridPool.create({ classes, onExhausted: "fallback" });
  const more = [lenient.alloc(1), lenient.alloc(1), lenient.alloc(1)];
  using extra = lenient.alloc(1);
  assert.equal(extra.bufIndex, -1);
  assert.equal(lenient.stats().fallbackBuffers, 1);
  for (const b of more) b.release();
  lenient.check();
});

Deno.test("non-power-of-two class sizes work", () => {
  using pool = HybridPool.create({
    classes: [{ size: 12288, count: 5 }, { size: 20480, count: 3 }],
  });
  const bufs = Array.from({ length: 5 }, () => pool.alloc(12288));
  bufs.forEach((b, i) => b.bytes.fill(i));
  bufs.forEach((b, i) => assert.ok(b.bytes.every((x) => x === i)));
  using c = pool.alloc(12289);
  assert.equal(c.capacity, 20480);
  for (const b of bufs) b.release();
  pool.check();
});

Deno.test("class options are validated with errors that name them", () => {
  const bad: [unknown, ErrorConstructor, RegExp][] = [
    [[], RangeError, /1 to 16/],
    [
      Array.from({ length: 17 }, (_, i) => ({ size: 4096 * (i + 1), count: 1 })),
      RangeError,
      /1 to 16/,
    ],
    [[{ size: 5000, count: 1 }], RangeError, /classes\[0\]\.size/],
    [[{ size: 8192, count: 1 }, { size: 4096, count: 1 }], RangeError, /ascending/],
    [[{ size: 4096, count: 0 }], RangeError, /classes\[0\]\.count/],
    [[{ size: 4096, count: 1.5 }], RangeError, /count/],
    [[{ size: 1 << 30, count: 2 }], RangeError, /1 GiB/],
    [[{ size: "4096", count: 1 }], TypeError, /classes\[0\]/],
    ["4096", TypeError, /array/],
  ];
  for (const [classes, type, message] of bad) {
    assert.throws(() => HybridPool.create({ classes } as never), (e: Error) => {
      assert.ok(e instanceof type, `${JSON.stringify(classes)?.slice(0, 60)}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

/** Written once against the interface. */
function roundTrip(pool: BufPool, sizes: number[]): FixedBuf[] {
  const bufs = sizes.map((n) => pool.alloc(n));
  bufs.forEach((b, i) => b.bytes.fill(i + 1));
  bufs.forEach((b, i) => assert.ok(b.bytes.every((x) => x === i + 1)));
  return bufs;
}

Deno.test("code written against BufPool works with both pools; FixedBuf has no pool type", () => {
  using buddy = BuddyPool.create({ arenaSize: 1 << 20 });
  using hybrid = HybridPool.create();
  const sizes = [1, 4096, 5000, 65536];
  const a = roundTrip(buddy, sizes);
  const b = roundTrip(hybrid, sizes);
  for (const buf of [...a, ...b]) {
    assert.ok(buf instanceof FixedBuf);
    assert.equal(Object.getPrototypeOf(buf), FixedBuf.prototype);
    assert.deepEqual(Object.keys(buf), [], "no public own fields (no pool reference)");
  }
  for (const buf of [...a, ...b]) buf.release();
  for (const pool of [buddy, hybrid] as BufPool[]) {
    assert.equal(pool.stats().liveBuffers, 0);
    pool.check();
  }
});

/**
 * Configuration and growth: pools that map more arenas when full, register
 * them without touching the old ones, and READ_FIXED into grown arenas.
 */
import assert from "node:assert/strict";
import {
  BuddyPool,
  type FixedBuf,
  HybridPool,
  openFile,
  PoolExhaustedError,
  RegistrationError,
  Ring,
} from "../mod.ts";

const KiB = 1024, MiB = 1024 * KiB;
const arenaOf = (buf: FixedBuf, pool: BuddyPool | HybridPool) => {
  const addr = Deno.UnsafePointer.value(buf.pointer);
  return pool.regions().findIndex((r) => {
    const base = Deno.UnsafePointer.value(r.pointer);
    return addr >= base && addr < base + BigInt(r.length);
  });
};

Deno.test("growth under load up to maxArenas, then PoolExhaustedError", () => {
  using pool = BuddyPool.create({ arenaSize: 64 * KiB, cacheDepth: 4, growth: { maxArenas: 3 } });
  const bufs: FixedBuf[] = [];
  for (let i = 0; i < 48; i++) {
    const b = pool.alloc(4096);
    b.bytes.fill(i);
    bufs.push(b);
  }
  const s = pool.stats();
  assert.equal(s.arenas, 3);
  assert.equal(s.grows, 2);
  assert.equal(s.maxArenas, 3);
  assert.equal(s.capacityBytes, 3 * 64 * KiB);
  assert.equal(pool.regions().length, 3);
  assert.throws(() => pool.alloc(4096), PoolExhaustedError);
  assert.equal(pool.tryAlloc(4096), null);
  // Every buffer, in every arena, kept its own bytes.
  bufs.forEach((b, i) => assert.ok(b.bytes.every((x) => x === i), `buffer ${i}`));
  pool.check();
  bufs.forEach((b) => b.release());
  assert.equal(pool.stats().liveBuffers, 0);
  pool.check();
});

Deno.test("READ_FIXED into a grown arena uses its new index; old indexes unchanged", async () => {
  using ring = new Ring({ entries: 16 });
  using pool = HybridPool.create({
    classes: [{ size: 4096, count: 2 }],
    registrar: ring,
    growth: { maxArenas: 2 },
  });
  const data = new Uint8Array(4 * 4096).map((_, i) => (i * 31) & 0xff);
  const dir = Deno.makeTempDirSync({
    dir: new URL(".", import.meta.url).pathname,
    prefix: ".tmp-",
  });
  try {
    Deno.writeFileSync(`${dir}/g.bin`, data);
    using file = openFile(`${dir}/g.bin`, { direct: true });
    const a = pool.alloc(4096), b = pool.alloc(4096);
    assert.deepEqual([a.bufIndex, b.bufIndex], [0, 0]);
    const c = pool.alloc(4096); // arena 1, registered in a new slot
    assert.equal(arenaOf(c, pool), 1);
    assert.equal(c.bufIndex, 1);
    assert.deepEqual(pool.regions().map((r) => r.bufIndex), [0, 1]);
    assert.equal(await ring.read(file, c, 8192), 4096); // READ_FIXED, index 1
    assert.deepEqual(c.bytes, data.subarray(8192, 12288));
    assert.equal(await ring.read(file, a, 4096), 4096); // index 0 still good
    assert.deepEqual(a.bytes, data.subarray(4096, 8192));
    assert.deepEqual([a.bufIndex, b.bufIndex], [0, 0]);
    // The kernel really checks index 1 against arena 1: arena 0's memory
    // named with index 1 is refused.
    await assert.rejects(
      ring.readRaw(file, { pointer: a.pointer, length: 4096, bufIndex: 1 }, 0),
      /EFAULT/,
    );
    [a, b, c].forEach((x) => x.release());
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a full ring table refuses growth with a RegistrationError; the pool stays usable", () => {
  using ring = new Ring({ entries: 8, bufferSlots: 1 });
  using pool = BuddyPool.create({
    arenaSize: 16 * KiB,
    cacheDepth: 0,
    registrar: ring,
    growth: { maxArenas: 2 },
  });
  const a = pool.alloc(16 * KiB);
  assert.throws(
    () => pool.alloc(4096),
    (e) => e instanceof RegistrationError && /cannot grow/.test(e.message),
  );
  assert.equal(pool.stats().arenas, 1);
  a.release();
  pool.check();
  pool.alloc(4096).release();
});

Deno.test("releaseEmpty returns extra arenas once empty, never the first", () => {
  using pool = BuddyPool.create({
    arenaSize: 64 * KiB,
    growth: { maxArenas: 2, releaseEmpty: true },
  });
  const first = pool.alloc(64 * KiB);
  const second = pool.alloc(4096);
  assert.equal(pool.stats().arenas, 2);
  second.bytes[0] = 1;
  second.release();
  assert.equal(pool.stats().arenas, 1);
  assert.equal(pool.regions().length, 1);
  const third = pool.alloc(8192); // grows again, maybe elsewhere in memory
  third.bytes.fill(7);
  assert.equal(third.bytes[8191], 7);
  first.release();
  third.release();
  assert.equal(pool.stats().arenas, 1);
  pool.check();
});

Deno.test("alignment 2 MiB: huge pages or a 2 MiB-aligned THP arena", () => {
  using pool = BuddyPool.create({ arenaSize: 4 * MiB, alignment: 2 * MiB });
  const s = pool.stats();
  assert.equal(s.hugePageArenas + s.thpArenas, 1);
  using buf = pool.alloc(2 * MiB);
  assert.equal(Deno.UnsafePointer.value(buf.pointer) % BigInt(2 * MiB), 0n);
  buf.bytes.fill(3);
  assert.equal(buf.bytes[2 * MiB - 1], 3);
  using small = HybridPool.create({ classes: [{ size: 4096, count: 3 }], alignment: 2 * MiB });
  assert.equal(Deno.UnsafePointer.value(small.regions()[0].pointer) % BigInt(2 * MiB), 0n);
});

Deno.test("prefault and growth options are validated with errors that name them", () => {
  const bad: [unknown, RegExp][] = [
    [{ growth: { maxArenas: 0 } }, /growth\.maxArenas must be an integer from 1 to 1024/],
    [{ growth: { maxArenas: 1025 } }, /growth\.maxArenas/],
    [{ growth: { maxArenas: 1.5 } }, /growth\.maxArenas/],
    [{ growth: { releaseEmpty: "yes" } }, /growth\.releaseEmpty must be a boolean/],
    [{ growth: 3 }, /option growth must be an object/],
    [{ alignment: 8192 }, /option alignment must be 4096 or 2097152/],
    [{ prefault: 1 }, /option prefault must be a boolean/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => BuddyPool.create(options as never), message, JSON.stringify(options));
    assert.throws(() => HybridPool.create(options as never), message, JSON.stringify(options));
  }
  using pre = BuddyPool.create({ arenaSize: 256 * KiB, prefault: true });
  assert.equal(pre.stats().capacityBytes, 256 * KiB);
});

/** allocMany and scopes: many buffers, one call, one `using`. */
import assert from "node:assert/strict";
import { attachBuf, BuddyPool, type BufPool, HybridPool, PoolExhaustedError } from "../mod.ts";

const pools: [string, () => BufPool][] = [
  ["BuddyPool", () => BuddyPool.create({ arenaSize: 64 * 4096, cacheDepth: 4 })],
  ["HybridPool", () => HybridPool.create({ classes: [{ size: 4096, count: 64 }] })],
];

for (const [kind, make] of pools) {
  Deno.test(`${kind}: allocMany hands out distinct buffers, all or none`, () => {
    using pool = make();
    const bufs = pool.allocMany(4096, 40);
    assert.equal(bufs.length, 40);
    const addrs = new Set(bufs.map((b) => Deno.UnsafePointer.value(b.pointer)));
    assert.equal(addrs.size, 40);
    bufs.forEach((b, i) => b.bytes.fill(i));
    bufs.forEach((b, i) => assert.ok(b.bytes.every((x) => x === i)));
    // 24 left: asking for 30 fails and takes none of them.
    assert.throws(() => pool.allocMany(4096, 30), PoolExhaustedError);
    assert.equal(pool.stats().liveBuffers, 40);
    assert.equal(pool.allocMany(4096, 0).length, 0);
    assert.throws(() => pool.allocMany(4096, -1), RangeError);
    assert.throws(() => pool.allocMany(0, 2), RangeError);
    bufs.forEach((b) => b.release());
    pool.check();
  });

  Deno.test(`${kind}: a scope releases everything it handed out, once`, () => {
    using pool = make();
    let kept;
    {
      using scope = pool.scope();
      const one = scope.alloc(4096);
      const many = scope.allocMany(4096, 5);
      assert.equal(scope.size, 6);
      many[0].release(); // released early: skipped at the end
      kept = many[1].transfer(); // given away: skipped too
      one.bytes[0] = 1;
      assert.equal(pool.stats().liveBuffers, 5);
    }
    // The transferred one is still live until someone attaches and releases it.
    assert.equal(pool.stats().liveBuffers, 1);
    assert.equal(kept.capacity, 4096);
    attachBuf(kept).release();
    pool.check();
  });
}

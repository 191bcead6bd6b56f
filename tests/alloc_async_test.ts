/** allocAsync: waiting for a buffer, in order, with abort and close. */
import assert from "node:assert/strict";
import { BuddyPool, type FixedBuf, HybridPool, PoolClosedError } from "../mod.ts";

Deno.test("allocAsync resolves at once when memory is free", async () => {
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 2 }] });
  using buf = await pool.allocAsync(4096);
  assert.equal(buf.capacity, 4096);
  assert.equal(pool.waiting, 0);
});

Deno.test("waiters are served in order as buffers are released", async () => {
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 2 }] });
  const held = [pool.alloc(4096), pool.alloc(4096)];
  const served: number[] = [];
  const got: FixedBuf[] = [];
  const waits = [0, 1, 2].map((i) =>
    pool.allocAsync(4096).then((b) => {
      served.push(i);
      got.push(b);
    })
  );
  await Promise.resolve();
  assert.equal(pool.waiting, 3);
  assert.deepEqual(served, []);
  held[0].release();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(served, [0]);
  held[1].release();
  got[0].release();
  await Promise.all(waits.slice(1));
  assert.deepEqual(served, [0, 1, 2]);
  got.forEach((b) => b.release());
  assert.equal(pool.stats().liveBuffers, 0);
});

Deno.test("a new allocAsync does not jump the queue of its size", async () => {
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 1 }, { size: 8192, count: 1 }] });
  const held = pool.alloc(4096);
  const first = pool.allocAsync(4096);
  held.release(); // frees a block, but `first` is served in a microtask...
  const second = pool.allocAsync(4096); // ...and this one must not take it
  const a = await first;
  assert.equal(pool.waiting, 1);
  // Another size is not blocked by the 4 KiB waiters.
  using other = await pool.allocAsync(8192);
  assert.equal(other.capacity, 8192);
  a.release();
  (await second).release();
});

Deno.test("abort rejects with the signal's reason and leaves the queue", async () => {
  using pool = BuddyPool.create({ arenaSize: 8192, cacheDepth: 0 });
  using held = pool.alloc(8192);
  const ac = new AbortController();
  const p = pool.allocAsync(4096, { signal: ac.signal });
  assert.equal(pool.waiting, 1);
  ac.abort(new Error("gave up"));
  await assert.rejects(p, /gave up/);
  assert.equal(pool.waiting, 0);
  await assert.rejects(
    pool.allocAsync(4096, { signal: AbortSignal.abort("late") }),
    (e) => e === "late",
  );
  assert.equal(held.capacity, 8192);
});

Deno.test("closing the pool rejects every waiter", async () => {
  const pool = BuddyPool.create({ arenaSize: 4096 });
  const held = pool.alloc(4096);
  const ps = [pool.allocAsync(4096), pool.allocAsync(4096)];
  assert.throws(() => pool.close(), /live buffer/); // refused: the waiters keep waiting
  assert.equal(pool.waiting, 2);
  held.release();
  pool.close(); // in the same tick, before a waiter is served
  for (const p of ps) await assert.rejects(p, PoolClosedError);
  await assert.rejects(pool.allocAsync(4096), PoolClosedError);
});

Deno.test("allocAsync rejects bad sizes like alloc throws them", async () => {
  using pool = BuddyPool.create({ arenaSize: 65536 });
  await assert.rejects(pool.allocAsync(0), RangeError);
  await assert.rejects(pool.allocAsync(1 << 20), RangeError);
  await assert.rejects(pool.allocAsync(NaN), RangeError);
});

/**
 * Shares across Workers, the edges the hostile review of issue 12 found on
 * the TS side (/work/notes/review-12.md): a share no Worker attached can be
 * cancelled (`pool.unshare(handle)`), a cancelled handle stays stale after a
 * later share() reuses its arena, and an attached pool's regions() follow
 * the owner's registration (bufIndex -1 once the owner's ring closed).
 */
import assert from "node:assert/strict";
import { BuddyPool, PoolClosedError, Ring } from "../mod.ts";

/** A module Worker that answers each message with `reply(data)`. */
// deno-lint-ignore no-explicit-any
function worker(body: string): { ask: (m: unknown) => Promise<any>; end: () => void } {
  const src = `import { attachPool } from "${new URL("../mod.ts", import.meta.url).href}";
${body}`;
  const w = new Worker(`data:application/javascript,${encodeURIComponent(src)}`, {
    type: "module",
  });
  return {
    ask: (m) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("worker did not answer in 20 s")), 20_000);
        w.onmessage = (e) => (clearTimeout(timer), resolve(e.data));
        w.onerror = (e) => (e.preventDefault(), clearTimeout(timer), reject(new Error(e.message)));
        w.postMessage(m);
      }),
    end: () => w.terminate(),
  };
}

Deno.test("unshare cancels shares no Worker attached: their arenas come back", () => {
  for (const releaseEmpty of [false, true]) {
    using pool = BuddyPool.create({ arenaSize: 1 << 20, growth: { releaseEmpty } });
    const handles = Array.from({ length: 100 }, () => pool.share());
    assert.equal(pool.stats().arenas, 101);
    for (const h of handles) assert.equal(pool.unshare(h), true);
    for (const h of handles) assert.equal(pool.unshare(h), false); // cancelled already
    // Never mapped (a share maps at its Worker's first alloc): dropped at
    // once, releaseEmpty or not.
    assert.equal(pool.stats().arenas, 1);
    const again = Array.from({ length: 100 }, () => pool.share());
    assert.equal(pool.stats().arenas, 101);
    for (const h of again) assert.equal(pool.unshare(h), true);
    pool.check();
    assert.throws(() => pool.unshare({} as never), TypeError);
    using other = BuddyPool.create({ arenaSize: 1 << 20 });
    assert.throws(() => other.unshare(other.share() && again[0]), TypeError);
  }
});

Deno.test("a cancelled share handle stays stale; an attached one is not cancelled", async () => {
  using pool = BuddyPool.create({ arenaSize: 1 << 20 });
  const w = worker(`
let pool = null;
self.onmessage = (e) => {
  try {
    if (e.data.close) { pool?.close(); pool = null; self.postMessage("closed"); return; }
    pool = attachPool(e.data.handle);
    const buf = pool.alloc(4096);
    buf.release();
    self.postMessage("attached");
  } catch (err) { self.postMessage(err.name); }
};`);
  try {
    const a = pool.share();
    assert.equal(pool.unshare(a), true);
    const b = pool.share(); // reuses a's arena
    assert.equal(await w.ask({ handle: a }), PoolClosedError.name, "the cancelled handle attached");
    assert.equal(await w.ask({ handle: b }), "attached", "the rightful handle was refused");
    assert.equal(pool.unshare(b), false); // a Worker holds it
    assert.equal(pool.unshare(a), false);
    assert.equal(pool.stats().attachedViews, 1);
    assert.equal(await w.ask({ close: true }), "closed");
    assert.equal(pool.stats().attachedViews, 0);
    pool.check();
  } finally {
    w.end();
  }
});

Deno.test("an attached pool's regions() follow the owner's registration", async () => {
  const ring = new Ring({ entries: 8 });
  using pool = BuddyPool.create({ arenaSize: 1 << 20, registrar: ring });
  const w = worker(`
let pool;
self.onmessage = (e) => {
  if (e.data.handle) pool = attachPool(e.data.handle);
  const buf = pool.alloc(4096);
  const r = { region: pool.regions()[0].bufIndex, buf: buf.bufIndex };
  buf.release();
  if (e.data.last) pool.close();
  self.postMessage(r);
};`);
  try {
    const before = await w.ask({ handle: pool.share() });
    assert.ok(before.region >= 0 && before.region === before.buf, JSON.stringify(before));
    ring.close(); // the owner's registration goes
    assert.deepEqual(await w.ask({ last: true }), { region: -1, buf: -1 });
  } finally {
    w.end();
  }
});

/**
 * Review 13 D5: in a Worker (an attached pool), releasing one block twice
 * (two FixedBufs over it, from a re-made hand-over) is a DoubleFreeError at
 * the second release, as in the thread that created the pool; the block is
 * freed once, and the pool's owner never hands it out twice.
 */
import assert from "node:assert/strict";
import { attachBuf, BuddyPool } from "../mod.ts";

Deno.test("D5: a Worker's second release of one block is a DoubleFreeError at the release", async () => {
  const pool = BuddyPool.create({ arenaSize: 64 * 1024, cacheDepth: 0 });
  const w = new Worker(new URL("./fixtures/double_release_worker.ts", import.meta.url), {
    type: "module",
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      timer = setTimeout(() => reject(new Error("the Worker did not reply within 20 s")), 20_000);
    });
    w.postMessage({
      pool: pool.share(),
      t: pool.alloc(4096).transfer(),
      t2: pool.alloc(4096).transfer(),
    });
    const m = await reply;
    if ("error" in m) throw new Error(`worker: ${m.error}`);
    assert.deepEqual(m.r, {
      foreign: "DoubleFreeError",
      own: "DoubleFreeError",
      away: "DoubleFreeError",
      check: "none",
      close: "none",
      afterClose: "DoubleFreeError",
    });
    // The block handed back from the Worker is live, once.
    attachBuf(m.away as never).release();
    // The releases reached the owner (end of the Worker's task); the
    // C core refused none of them (none reached it twice).
    await new Promise((r) => setTimeout(r, 50));
    const s = pool.stats();
    assert.equal(s.remoteErrors, 0);
    assert.equal(s.liveBuffers, 0);
    pool.check();
    // Every block once.
    const got = [];
    for (let b; (b = pool.tryAlloc(4096)) !== null;) got.push(b);
    const addrs = got.map((b) => Deno.UnsafePointer.value(b.pointer));
    assert.equal(new Set(addrs).size, addrs.length);
    assert.equal(addrs.length, 16);
    for (const b of got) b.release();
    pool.close(); // the Worker closed its attached pool
  } finally {
    clearTimeout(timer);
    w.terminate();
  }
});

/**
 * An attached pool's stats() reports real figures (issue 13, item 6): its
 * arena's buffers, bytes, classes, allocations and releases (including a
 * release made by another thread), and the pool's attached views.
 */
import assert from "node:assert/strict";
import {
  attachBuf,
  BuddyPool,
  HybridPool,
  type PoolStats,
  Ring,
  type TransferredBuf,
} from "../mod.ts";

Deno.test("an attached pool's stats() describe its arena, not zeros", async () => {
  const pool = HybridPool.create({
    classes: [{ size: 4096, count: 8 }, { size: 16384, count: 4 }],
  });
  const w = new Worker(new URL("./fixtures/wake_worker.ts", import.meta.url), { type: "module" });
  const ask = (m: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${m.cmd}`)), 10_000);
      w.onmessage = (e) => {
        clearTimeout(timer);
        if ("error" in e.data) reject(new Error(e.data.error));
        else resolve(e.data);
      };
      w.postMessage(m);
    });
  try {
    await ask({ cmd: "attach", pool: pool.share() });
    await ask({ cmd: "alloc", sizes: [4096, 4096, 4096, 16384, 4096] });
    await ask({ cmd: "releaseOne" });
    let s = (await ask({ cmd: "stats" })).stats as PoolStats;
    const arena = 8 * 4096 + 4 * 16384;
    assert.equal(s.capacityBytes, arena);
    assert.equal(s.liveBuffers, 4);
    assert.equal(s.bytesInUse, 3 * 4096 + 16384);
    assert.equal(s.freeBytes, arena - s.bytesInUse);
    assert.equal(s.allocs, 5);
    assert.equal(s.frees, 1);
    assert.equal(s.largestFree, 16384);
    assert.equal(s.attachedViews, 1);
    assert.deepEqual(s.classes, [
      { size: 4096, total: 8, free: 5 },
      { size: 16384, total: 4, free: 3 },
    ]);
    // A buffer of the Worker's arena released here counts there too.
    const { buf } = await ask({ cmd: "give" });
    attachBuf(buf as TransferredBuf).release();
    await new Promise((r) => setTimeout(r, 10)); // (flushed by the end of this task)
    s = (await ask({ cmd: "stats" })).stats as PoolStats;
    assert.equal(s.liveBuffers, 3);
    assert.equal(s.frees, 2);
    assert.equal(s.remoteErrors, 0);
    await ask({ cmd: "close" });
  } finally {
    w.terminate();
  }
  pool.close();
});

Deno.test("a Worker's buffers read bufIndex -1 once the owner's ring closed", async () => {
  const ring = new Ring({ entries: 8 });
  const pool = BuddyPool.create({ arenaSize: 64 * 1024, registrar: ring });
  const w = new Worker(new URL("./fixtures/wake_worker.ts", import.meta.url), { type: "module" });
  const ask = (m: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${m.cmd}`)), 10_000);
      w.onmessage = (e) => {
        clearTimeout(timer);
        if ("error" in e.data) reject(new Error(e.data.error));
        else resolve(e.data);
      };
      w.postMessage(m);
    });
  try {
    await ask({ cmd: "attach", pool: pool.share() });
    await ask({ cmd: "alloc", sizes: [4096] });
    let r = await ask({ cmd: "indexes" });
    assert.ok((r.held as number[])[0] >= 0 && (r.regions as number[])[0] >= 0);
    ring.close();
    r = await ask({ cmd: "indexes" });
    assert.deepEqual(r.held, [-1], "a Worker's buffer kept a stale registered index");
    assert.deepEqual(r.regions, [-1]);
    await ask({ cmd: "close" });
  } finally {
    w.terminate();
  }
  pool.close();
});

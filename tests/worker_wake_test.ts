/**
 * Releases across threads (issue 13, item 6): a release in a Worker reaches
 * the pool's owner by the end of the releasing task, and allocAsync waiters
 * are woken by a release in any thread, both ways, without parking a
 * blocking call per pool. Every wait is bounded.
 */
import assert from "node:assert/strict";
import { attachBuf, BuddyPool, type FixedBuf, type TransferredBuf } from "../mod.ts";
import { within, WorkerPeer } from "./helpers.ts";

const BLOCK = 4096;

/** A wake_worker.ts Worker and a way to talk to it. */
class Peer extends WorkerPeer {
  constructor() {
    super(new URL("./fixtures/wake_worker.ts", import.meta.url));
  }
}

/** A pool of `blocks` 4 KiB blocks in its first arena, all allocated. */
function fullPool(blocks: number) {
  const pool = BuddyPool.create({ arenaSize: blocks * BLOCK, cacheDepth: 0 });
  const bufs: FixedBuf[] = [];
  for (let b = pool.tryAlloc(BLOCK); b !== null; b = pool.tryAlloc(BLOCK)) bufs.push(b);
  assert.equal(bufs.length, blocks);
  return { pool, bufs };
}

Deno.test("a release in a Worker reaches the owner by the end of the releasing task", async () => {
  const { pool, bufs } = fullPool(16);
  const peer = new Peer();
  try {
    await peer.ask({ cmd: "attach", pool: pool.share() }, "attach");
    // One release: far fewer than the 59 the Worker's queue holds.
    await peer.ask({ cmd: "release", bufs: [bufs.pop()!.transfer()] }, "release");
    const again = pool.tryAlloc(BLOCK);
    assert.notEqual(again, null, "the Worker's release did not reach the owner");
    again!.release();
    await peer.ask({ cmd: "close" }, "close");
  } finally {
    peer.terminate();
  }
  for (const b of bufs) b.release();
  pool.close();
});

Deno.test("an allocAsync in the owner is woken by a release in a Worker", async () => {
  const { pool, bufs } = fullPool(16);
  const peer = new Peer();
  try {
    await peer.ask({ cmd: "attach", pool: pool.share() }, "attach");
    await peer.ask({ cmd: "hold", bufs: bufs.splice(0, 2).map((b) => b.transfer()) }, "hold");
    const waiting = pool.allocAsync(BLOCK);
    peer.send({ cmd: "releaseHeld" }); // the Worker sends nothing back
    const got = await within(waiting, 5000, "allocAsync woken by the Worker's release");
    got.release();
    await peer.ask({ cmd: "close" }, "close");
  } finally {
    peer.terminate();
  }
  for (const b of bufs) b.release();
  pool.close();
});

Deno.test("an allocAsync in a Worker is woken by a release in the owner", async () => {
  using pool = BuddyPool.create({ arenaSize: 16 * BLOCK, cacheDepth: 0 });
  const peer = new Peer();
  try {
    await peer.ask({ cmd: "attach", pool: pool.share() }, "attach");
    // The Worker fills its own arena, hands one buffer here, and waits.
    const { buf } = await peer.ask({ cmd: "fillAndWait", size: BLOCK }, "fill");
    const mine = attachBuf(buf as TransferredBuf);
    await new Promise((r) => setTimeout(r, 50)); // let it wait
    mine.release(); // memory of the Worker's arena, released here
    await peer.next("the Worker's allocAsync woken by the owner's release", 5000);
    await peer.ask({ cmd: "close" }, "close");
  } finally {
    peer.terminate();
  }
});

Deno.test("40 shared pools waiting at once park no thread per pool", async () => {
  // (Deno refuses reads of /proc/self without --allow-all: ask ps.)
  const threads = async () => {
    const ps = new Deno.Command("ps", { args: ["-o", "nlwp=", "-p", `${Deno.pid}`] });
    return Number(new TextDecoder().decode((await ps.output()).stdout).trim());
  };
  const POOLS = 40;
  const pools = Array.from({ length: POOLS }, () => fullPool(2));
  const peer = new Peer();
  try {
    const before = await threads();
    const waits: Promise<FixedBuf>[] = [];
    for (const { pool, bufs } of pools) {
      await peer.ask({ cmd: "attach", pool: pool.share() }, "attach");
      await peer.ask({ cmd: "hold", bufs: [bufs.pop()!.transfer()] }, "hold");
      waits.push(pool.allocAsync(BLOCK));
    }
    await new Promise((r) => setTimeout(r, 100));
    const during = await threads();
    // Deno's blocking pool has 32 threads for the whole runtime: one parked
    // call per pool would take them all.
    assert.ok(during - before < 8, `${during - before} threads more while ${POOLS} pools wait`);
    peer.send({ cmd: "releaseHeld" });
    const got = await within(Promise.all(waits), 10_000, "every pool's waiter woken");
    for (const b of got) b.release();
  } finally {
    peer.terminate();
  }
  // Terminated with its views attached: only close what can be closed.
  for (const { bufs } of pools) for (const b of bufs) b.release();
});

Deno.test("an allocAsync waiting for a terminated Worker's buffers settles on its own", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-env",
      "--allow-read",
      new URL("./fixtures/wait_dead_worker.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr); // before: "Top-level await promise never resolved"
  assert.match(new TextDecoder().decode(out.stdout), /resolved/);
});

Deno.test("a hand-over a terminated Worker never attached is taken back by the sender", async () => {
  const { pool, bufs } = fullPool(4);
  const peer = new Peer();
  await peer.ask({ cmd: "attach", pool: pool.share() }, "attach");
  const t = bufs.pop()!.transfer();
  peer.terminate(); // before it could attachBuf(t)
  // The claim was never taken: the sender attaches its own hand-over back.
  attachBuf(t).release();
  for (const b of bufs) b.release();
  for (let i = 0; i < 500 && pool.stats().attachedViews > 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(pool.stats().liveBuffers, 0);
  pool.close();
});

/**
 * What a release costs in a Worker now that releases of other threads'
 * memory reach them by the end of the releasing task (issue 13 item 6):
 * per release, batched many per task and one per task, for buffers of the
 * Worker's own arena (stay local: no flush) and of the owner's arena
 * (flushed to the C core at the end of the task, waiters told), with and
 * without a waiter in the owner. Interleaved rounds; medians.
 *
 *   flock /tmp/veloq-bench.lock deno run --allow-ffi --allow-env --allow-read \
 *     bench/worker_release_bench.ts [--rounds 7] [--n 20000] [--json PATH]
 */
import { attachBuf, attachPool, BuddyPool, type FixedBuf, type TransferredBuf } from "../mod.ts";

const arg = (name: string, d: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : d;
};
const ROUNDS = arg("--rounds", 7);
const N = arg("--n", 20000);
const jsonAt = Deno.args.indexOf("--json");

if ("WorkerGlobalScope" in globalThis) {
  // --- the Worker ---------------------------------------------------------------
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent) => void) | null;
    postMessage(m: unknown): void;
  };
  let pool: ReturnType<typeof attachPool> | null = null;
  const tick = () => new Promise<void>((r) => setTimeout(r, 0));
  scope.onmessage = async (e) => {
    const m = e.data;
    if (m.cmd === "attach") {
      pool = attachPool(m.pool);
      scope.postMessage(0);
      return;
    }
    const bufs: FixedBuf[] = m.cmd === "own"
      ? Array.from({ length: m.n }, () => pool!.alloc(4096))
      : (m.bufs as TransferredBuf[]).map(attachBuf);
    await tick();
    const t0 = performance.now();
    if (m.perTask === 0) {
      for (const b of bufs) b.release();
      await tick(); // the end-of-task flush runs inside the timed region
    } else if (m.perTask === 2) {
      // One release per turn of the microtask queue: the flush queued by a
      // release runs before the loop goes on, as at the end of a task, but
      // without a macrotask's own cost in the figure.
      for (const b of bufs) {
        b.release();
        await null;
      }
    } else {
      // One release per task (a MessageChannel round: a macrotask each).
      const ch = new MessageChannel();
      let i = 0;
      await new Promise<void>((done) => {
        ch.port2.onmessage = () => {
          bufs[i++].release();
          if (i === bufs.length) done();
          else ch.port1.postMessage(0);
        };
        ch.port1.postMessage(0);
      });
      ch.port1.close();
      ch.port2.close();
    }
    const ns = (performance.now() - t0) * 1e6 / bufs.length;
    scope.postMessage(ns);
  };
} else {
  // --- the owner ------------------------------------------------------------------
  const pool = BuddyPool.create({ arenaSize: 512 << 20, cacheDepth: 0 });
  const w = new Worker(import.meta.url, { type: "module" });
  const ask = (m: unknown, transfer: Transferable[] = []) =>
    new Promise<number>((r) => {
      w.onmessage = (e) => r(e.data);
      w.postMessage(m, transfer);
    });
  await ask({ cmd: "attach", pool: pool.share() });
  const cases = [
    { name: "own arena, all in one task", cmd: "own", perTask: 0, waiter: false },
    { name: "owner's arena, all in one task", cmd: "foreign", perTask: 0, waiter: false },
    {
      name: "owner's arena, all in one task, owner waiting",
      cmd: "foreign",
      perTask: 0,
      waiter: true,
    },
    { name: "own arena, one per microtask turn", cmd: "own", perTask: 2, waiter: false },
    { name: "owner's arena, one per microtask turn", cmd: "foreign", perTask: 2, waiter: false },
    { name: "own arena, one per task", cmd: "own", perTask: 1, waiter: false },
    { name: "owner's arena, one per task", cmd: "foreign", perTask: 1, waiter: false },
    {
      name: "owner's arena, one per task, owner waiting",
      cmd: "foreign",
      perTask: 1,
      waiter: true,
    },
  ];
  const samples = cases.map(() => [] as number[]);
  for (let r = -1; r < ROUNDS; r++) { // round -1 warms the JIT up, unrecorded
    for (let c = 0; c < cases.length; c++) {
      const k = cases[c];
      const n = k.perTask === 1 ? Math.min(N, 5000) : N;
      let bufs: TransferredBuf[] = [];
      let waiting: Promise<FixedBuf> | null = null;
      if (k.cmd === "foreign") {
        bufs = Array.from({ length: n }, () => pool.alloc(4096).transfer());
      }
      // A waiter the pool cannot serve while the Worker holds anything: the
      // whole arena. Every release task of the Worker wakes it.
      if (k.waiter) waiting = pool.allocAsync(512 << 20);
      const ns = await ask({ cmd: k.cmd, perTask: k.perTask, n, bufs });
      if (r >= 0) samples[c].push(ns);
      if (waiting) (await waiting).release();
    }
  }
  w.terminate();
  // The Worker's view is detached by its thread's exit hook, soon after.
  for (let i = 0; i < 500 && pool.stats().attachedViews > 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const rows = cases.map((k, c) => ({
    case: k.name,
    medianNs: Math.round(median(samples[c]) * 10) / 10,
    minNs: Math.round(Math.min(...samples[c]) * 10) / 10,
    maxNs: Math.round(Math.max(...samples[c]) * 10) / 10,
  }));
  console.table(rows);
  if (jsonAt >= 0) {
    await Deno.writeTextFile(
      Deno.args[jsonAt + 1],
      JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, n: N, rows }, null, 2),
    );
  }
  pool.close();
}

/**
 * Pools shared by Deno Workers: each Worker allocates from its own arena,
 * fills buffers and hands them to the next Worker, which checks and releases
 * them (a release from a thread that does not own the arena: the C core's
 * remote-free path).  1,000,000 buffers in all; afterwards nothing is live,
 * the pool is consistent, and every arena is allocatable whole.
 */
import assert from "node:assert/strict";
import {
  attachBuf,
  attachPool,
  BuddyPool,
  BufferReleasedError,
  HybridPool,
  PoolBusyError,
  PoolClosedError,
} from "../mod.ts";

const WORKERS = 4;
const TOTAL = Number(Deno.env.get("VB_WORKER_BUFFERS") ?? 1_000_000);
const DEADLINE_S = 300;

interface Report {
  id: number;
  sent: number;
  received: number;
  verified: number;
  bad: number;
  held: number;
}

Deno.test(`${WORKERS} Workers hand ${TOTAL} buffers around; nothing is lost`, async () => {
  const ARENA = 1 << 20;
  // Room to grow by the Workers' arenas: the owner adopts them at the end.
  using pool = BuddyPool.create({
    name: "shared",
    arenaSize: ARENA,
    cacheDepth: 16,
    growth: { maxArenas: WORKERS + 1 },
  });
  const workers = Array.from(
    { length: WORKERS },
    () => new Worker(new URL("./fixtures/relay_worker.ts", import.meta.url), { type: "module" }),
  );
  const channels = Array.from({ length: WORKERS }, () => new MessageChannel());
  const reports = workers.map((w) =>
    new Promise<Report>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
    })
  );
  const per = Math.ceil(TOTAL / WORKERS);
  workers.forEach((w, id) => {
    // Worker id sends on channel id, receives on channel id - 1.
    const next = channels[id].port1, prev = channels[(id + WORKERS - 1) % WORKERS].port2;
    w.postMessage({ pool: pool.share(), id, count: per, size: 4096, next, prev }, [next, prev]);
  });
  // While Workers hold it attached, the pool cannot close.
  await new Promise((r) => setTimeout(r, 50));
  if (pool.stats().attachedViews > 0) assert.throws(() => pool.close(), PoolBusyError);
  // Bound for a hang (a release that never reaches its owner leaves a Worker
  // polling a full arena, a lost "released" leaves it waiting): 8-20 s on a
  // shared 2-core machine, also with two CPU hogs beside it; 300 s means
  // something is stuck, not slow.
  const reported = new Set<number>();
  reports.forEach((r, id) => r.then(() => reported.add(id), () => {}));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const missing = workers.map((_, id) => id).filter((id) => !reported.has(id));
      const msg = `Workers ${missing.join(", ")} did not report within ${DEADLINE_S} s`;
      // Printed too: the pool's disposal (still attached) wraps the error.
      console.error(msg);
      reject(new Error(msg));
    }, DEADLINE_S * 1000);
  });
  let done: Report[];
  try {
    done = await Promise.race([Promise.all(reports), deadline]);
  } finally {
    clearTimeout(timer);
    workers.forEach((w) => w.terminate());
  }
  let sent = 0, received = 0, verified = 0;
  for (const r of done) {
    assert.equal(r.bad, 0, `worker ${r.id}: ${r.bad} buffers arrived damaged`);
    // Read after the next Worker said it released every buffer we sent it.
    assert.equal(r.held, 0, `worker ${r.id}: ${r.held} buffers of its arena still live at the end`);
    sent += r.sent, received += r.received, verified += r.verified;
  }
  assert.equal(sent, per * WORKERS);
  assert.ok(sent >= TOTAL);
  assert.equal(received, sent);
  assert.equal(verified, sent);
  const s = pool.stats();
  assert.equal(s.liveBuffers, 0);
  assert.equal(s.attachedViews, 0);
  assert.equal(s.remoteErrors, 0);
  pool.check();
  // Every byte of every arena (the first and one per Worker) is allocatable again.
  const whole = Array.from({ length: WORKERS + 1 }, () => pool.alloc(ARENA));
  assert.equal(new Set(whole.map((b) => Deno.UnsafePointer.value(b.pointer))).size, WORKERS + 1);
  whole.forEach((b) => b.release());
  pool.check();
});

Deno.test("a buffer handed to a Worker and back; the old side cannot release it", async () => {
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 8 }] });
  const worker = new Worker(
    `data:application/typescript,${
      encodeURIComponent(`
      import { attachBuf, attachPool } from "${new URL("../mod.ts", import.meta.url)}";
      self.onmessage = (e) => {
        const pool = attachPool(e.data.pool);
        const buf = attachBuf(e.data.buf);
        buf.bytes[1] = buf.bytes[0] + 1;
        const mine = pool.alloc(4096);
        mine.bytes[0] = 42;
        const reply = { back: buf.transfer(), mine: mine.transfer() };
        pool.close(); // nothing held here any more: detach before replying
        self.postMessage(reply);
      };`)
    }`,
    { type: "module" },
  );
  const buf = pool.alloc(4096);
  buf.bytes[0] = 7;
  const handoff = buf.transfer();
  assert.throws(() => buf.release(), BufferReleasedError);
  assert.throws(() => buf.bytes, /after transfer/);
  const reply = new Promise<{ back: never; mine: never }>((r) =>
    worker.onmessage = (e) => r(e.data)
  );
  worker.postMessage({ pool: pool.share(), buf: handoff });
  const { back, mine } = await reply;
  worker.terminate();
  const again = attachBuf(back);
  assert.deepEqual([again.bytes[0], again.bytes[1]], [7, 8]);
  again.release();
  const fromWorker = attachBuf(mine); // allocated in the Worker's arena
  assert.equal(fromWorker.bytes[0], 42);
  fromWorker.release(); // back to an arena the Worker gave back
  assert.equal(pool.stats().liveBuffers, 0);
  pool.check();
});

Deno.test("stale and misused handles are refused", () => {
  const pool = BuddyPool.create({ arenaSize: 65536 });
  const handle = pool.share();
  const buf = pool.alloc(4096);
  const t = buf.transfer();
  assert.throws(() => attachPool(handle), /already usable in this thread/);
  assert.throws(() => attachPool({} as never), TypeError);
  assert.throws(() => attachBuf({} as never), TypeError);
  attachBuf(t).release();
  pool.close();
  assert.throws(() => attachBuf(t), /not usable in this thread/);
  // The handle of a closed pool is stale, not a use after free (another
  // thread's attachPool would see PoolClosedError; here the registry of this
  // thread is empty again, so the C side is asked and refuses).
  assert.throws(() => attachPool(handle), PoolClosedError);
});

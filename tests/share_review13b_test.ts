/**
 * Review 13b of lazy share(): a Worker's first allocation whose mapping
 * the kernel refuses is a typed error (never "arena full", never a wait
 * without end); an owner buffer passing through a Worker that has not
 * allocated keeps its registered index; pool.regions() never lists memory
 * that is not mapped. Every wait is bounded; the probe that lowers a
 * resource limit runs in a subprocess.
 */
import assert from "node:assert/strict";
import { attachBuf, BuddyPool, Ring, type TransferredBuf } from "../mod.ts";
import { closeDetached, runProbe, WorkerPeer } from "./helpers.ts";

Deno.test("13b: a first alloc whose mapping the kernel refuses is an ArenaMapError; allocAsync rejects, then maps once it can", async () => {
  const r = await runProbe<
    Record<"alloc" | "tryAlloc" | "allocAsync" | "again" | "message", string> & {
      lowered: boolean;
      closed: boolean;
    }
  >(new URL("./fixtures/lazy_mapfail_probe.ts", import.meta.url).pathname);
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.lowered, true);
  assert.equal(r.alloc, "ArenaMapError", r.message);
  assert.match(r.message, /refused/);
  assert.equal(r.tryAlloc, "ArenaMapError");
  assert.equal(r.allocAsync, "ArenaMapError");
  assert.equal(r.again, "ok"); // nothing half-done: the next try maps it
  assert.equal(r.closed, true);
});

Deno.test("13b: an owner buffer passing through a Worker that has not allocated keeps its registered index; -1 once the ring closed", async () => {
  const peer = new WorkerPeer(new URL("./fixtures/lazy_roundtrip_worker.ts", import.meta.url));
  const ring = new Ring({ entries: 8 });
  const pool = BuddyPool.create({ arenaSize: 1 << 20, registrar: ring });
  try {
    await peer.ask({ cmd: "attach", pool: pool.share() }, "attach");
    const bounce = async () => {
      const b = pool.alloc(4096);
      const before = b.bufIndex;
      const r = await peer.ask({ cmd: "bounce", t: b.transfer() }, "bounce");
      using back = attachBuf(r.t as TransferredBuf);
      return { before, seen: r.seen, back: back.bufIndex };
    };
    assert.deepEqual(await bounce(), { before: 0, seen: 0, back: 0 }, "Worker not allocated yet");
    const own = (await peer.ask({ cmd: "alloc" }, "alloc")).own as number;
    assert.ok(own > 0, `the Worker's own arena index ${own}`);
    assert.deepEqual(await bounce(), { before: 0, seen: 0, back: 0 }, "Worker allocated");
    ring.close(); // the indexes mean nothing now, in either thread
    assert.deepEqual(await bounce(), { before: -1, seen: -1, back: -1 }, "ring closed");
    await peer.ask({ cmd: "close" }, "close");
    await closeDetached(pool);
  } finally {
    peer.terminate();
    ring.close();
  }
});

Deno.test("13b: regions() lists memory only: a share's arena appears once its Worker mapped it (subprocess)", async () => {
  const r = await runProbe<Record<"owner" | "worker" | "ownerAfter" | "workerAfter", number[]>>(
    new URL("./fixtures/lazy_regions_probe.ts", import.meta.url).pathname,
  );
  assert.equal(r.error, undefined, r.error);
  assert.deepEqual(r.owner, [0]); // arena 0 only: the share is address space
  assert.deepEqual(r.worker, []);
  assert.equal(r.ownerAfter.length, 2);
  assert.equal(r.workerAfter.length, 1);
  assert.ok(r.workerAfter[0] > 0, `the Worker's arena index ${r.workerAfter[0]}`);
  assert.deepEqual(r.ownerAfter, [0, r.workerAfter[0]]);
});

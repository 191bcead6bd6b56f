/**
 * Lazy share() (issue 13 item 6, review 13 D8): a share maps and pins
 * nothing; a Worker's first allocation maps its arena and, for a registered
 * pool, registers it with the owner's ring so that O_DIRECT READ_FIXED I/O
 * into its buffers works; the owner closing its ring or its pool while a
 * Worker does its first allocation, and a Worker terminated before its
 * first allocation, leave nothing behind. Every wait is bounded.
 */
import assert from "node:assert/strict";
import { attachBuf, BuddyPool, openFile, PoolBusyError, Ring } from "../mod.ts";
import { hasIpcLock, procStatus, within, WorkerPeer } from "./helpers.ts";

const MiB = 1 << 20;

/** VmRSS and VmPin of this process, in bytes. */
function vm(): { rss: number; pin: number } {
  const s = procStatus();
  return { rss: s.VmRSS, pin: s.VmPin };
}

/** A lazy_share_worker.ts Worker and a way to talk to it. */
class Peer extends WorkerPeer {
  constructor() {
    super(new URL("./fixtures/lazy_share_worker.ts", import.meta.url));
  }
}

/** Waits (bounded) until no Worker has the pool attached. */
async function detached(pool: BuddyPool, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (pool.stats().attachedViews !== 0) {
    if (Date.now() > until) {
      throw new Error(`still ${pool.stats().attachedViews} view(s) after ${ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("D8: 8 x share() with no Worker maps and pins nothing", () => {
  using ring = new Ring({ entries: 8 });
  // Pre-faulted and registered: an eager share faults in and pins 8 MiB each.
  using pool = BuddyPool.create({ arenaSize: 8 * MiB, registrar: ring, prefault: true });
  const before = vm();
  const handles = Array.from({ length: 8 }, () => pool.share());
  const after = vm();
  assert.ok(
    after.rss - before.rss < 4 * MiB,
    `VmRSS grew by ${((after.rss - before.rss) / MiB).toFixed(1)} MiB for 8 shares of 8 MiB`,
  );
  assert.equal(after.pin, before.pin, "VmPin grew for shares no Worker used");
  // Their arenas are address space only: regions() lists memory, arena 0.
  assert.equal(pool.regions().length, 1);
  for (const h of handles) assert.equal(pool.unshare(h), true);
  assert.equal(pool.stats().arenas, 1);
});

Deno.test("D8: a Worker's first alloc maps and registers its arena: O_DIRECT READ_FIXED into it works", async () => {
  const dir = new URL(".", import.meta.url).pathname; // O_DIRECT works on the checkout's fs
  const path = Deno.makeTempFileSync({ dir, prefix: ".tmp-lazy-" });
  const peer = new Peer();
  try {
    const data = new Uint8Array(64 * 1024).map((_, i) => (i * 7 + 3) & 0xff);
    Deno.writeFileSync(path, data);
    using ring = new Ring({ entries: 8 });
    const empty = vm();
    const pool = BuddyPool.create({ arenaSize: 4 * MiB, registrar: ring });
    const before = vm();
    const a = await peer.ask({ cmd: "attach", pool: pool.share() }, "attach");
    assert.deepEqual(a.regions, []); // not mapped yet: no region to give native code
    assert.equal(vm().pin, before.pin, "attach pinned memory");
    const r = await peer.ask({ cmd: "alloc", size: 64 * 1024, fill: 0xee }, "first alloc");
    assert.ok((r.bufIndex as number) >= 0, `bufIndex ${r.bufIndex}`);
    assert.ok(vm().pin >= before.pin + 4 * MiB, "the first alloc did not pin the arena");
    using buf = attachBuf(r.t as never);
    assert.equal(buf.bufIndex, r.bufIndex);
    assert.ok(buf.bytes.every((b) => b === 0xee));
    {
      using file = openFile(path, { direct: true });
      assert.equal(await within(ring.read(file, buf, 0), 10_000, "O_DIRECT read"), 64 * 1024);
    }
    assert.deepEqual(buf.bytes, data);
    buf.release();
    await peer.ask({ cmd: "close" }, "close");
    await detached(pool);
    pool.close();
    assert.equal(vm().pin, empty.pin, "pins left after close");
  } finally {
    peer.terminate();
    Deno.removeSync(path);
  }
});

Deno.test("D8: the owner closes its ring while a Worker does its first alloc", async () => {
  for (let round = 0; round < 6; round++) {
    const peer = new Peer();
    try {
      const ring = new Ring({ entries: 8 });
      const pool = BuddyPool.create({ arenaSize: 1 * MiB, registrar: ring });
      const before = vm();
      peer.send({ cmd: "attachAlloc", pool: pool.share(), size: 4096 });
      // A spread of moments: at once, or a little into the Worker's work.
      if (round % 3 === 1) await new Promise((r) => setTimeout(r, round));
      if (round % 3 === 2) await new Promise((r) => setTimeout(r, 20 + round * 5));
      ring.close();
      const r = await peer.reply("attachAlloc");
      assert.equal(r.error, undefined, `worker: ${r.name}: ${r.error}`);
      assert.ok(r.bufIndex === -1 || (r.bufIndex as number) >= 0);
      await detached(pool);
      pool.close();
      assert.ok(vm().pin <= before.pin, "pins left after the ring and pool closed");
    } finally {
      peer.terminate();
    }
  }
});

Deno.test("D8: the owner closes its pool while a Worker does its first alloc", async () => {
  for (let round = 0; round < 6; round++) {
    const peer = new Peer();
    try {
      using ring = new Ring({ entries: 8 });
      const pool = BuddyPool.create({ arenaSize: 1 * MiB, registrar: ring });
      peer.send({ cmd: "attachAlloc", pool: pool.share(), size: 4096 });
      if (round % 2 === 1) await new Promise((r) => setTimeout(r, 5 + round * 5));
      let closed = false;
      try {
        pool.close(); // before the Worker attached: its handle goes stale
        closed = true;
      } catch (e) {
        assert.ok(e instanceof PoolBusyError, String(e)); // attached: refused
      }
      const r = await peer.reply("attachAlloc");
      // Closed: before the Worker attached (its handle is stale), or after
      // it had allocated, released and closed its side already.
      if (closed) {
        assert.ok(r.name === "PoolClosedError" || r.ok === "attachAlloc", JSON.stringify(r));
      } else assert.equal(r.error, undefined, `worker: ${r.name}: ${r.error}`);
      if (!closed) {
        await detached(pool);
        pool.close();
      }
    } finally {
      peer.terminate();
    }
  }
});

Deno.test("D8: a Worker terminated before its first alloc leaves no arena, pin or index", async () => {
  using ring = new Ring({ entries: 8, bufferSlots: 4 });
  const pool = BuddyPool.create({ arenaSize: 4 * MiB, registrar: ring });
  const before = vm();
  // More shares than the ring's table has slots, one Worker at a time: the
  // indexes of a dead Worker's share must come back, or the 4th share fails.
  for (let k = 0; k < 6; k++) {
    const peer = new Peer();
    try {
      await peer.ask({ cmd: "attach", pool: pool.share() }, "attach");
    } finally {
      peer.terminate();
    }
    await detached(pool);
    pool.stats(); // takes the returned arena back: never mapped, it goes
    assert.equal(pool.stats().arenas, 1);
  }
  const after = vm();
  assert.equal(after.pin, before.pin);
  assert.ok(after.rss - before.rss < 16 * MiB, `VmRSS +${(after.rss - before.rss) / MiB} MiB`);
  pool.close();
});

Deno.test("D8: a Worker's first alloc refused by RLIMIT_MEMLOCK is a MemlockError; share() itself pins nothing", async () => {
  const probe = new URL("./fixtures/lazy_memlock_probe.ts", import.meta.url).pathname;
  const limit = 1536 * 1024; // the first 1 MiB arena fits, a share's second does not
  const args = [
    "prlimit",
    `--memlock=${limit}:${limit}`,
    ...(hasIpcLock() ? ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock"] : []),
    Deno.execPath(),
    "run",
    "--allow-ffi",
    "--allow-env",
    "--allow-read",
    probe,
  ];
  const out = await new Deno.Command(args[0], {
    args: args.slice(1),
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.shared, true);
  assert.equal(r.first, "MemlockError", r.message);
  assert.match(r.message, /first allocation maps its arena/);
  assert.equal(r.second, "MemlockError"); // still refused, nothing half-done
  assert.equal(r.closed, true);
});

/**
 * The randomized lifecycle test (issue 13): random sequences of alloc,
 * release, `using` blocks, scopes, ring reads and writes, file close, ring
 * close, pool close, transfer/attach and allocAsync, run at the public API
 * and checked against a model after every step:
 *
 *   - each pool's live count is what the model holds (held buffers, ones
 *     released while their I/O is in flight, hand-overs not yet attached)
 *     and `check()` is clean;
 *   - every request settles exactly once, the way the model allows (a write
 *     resolves with its length, or rejects with RingClosedError when its
 *     ring closed under it); nothing is left pending at the end;
 *   - every byte of every file is one the model allows (so no write landed
 *     in the wrong file), and every read brought what the file holds;
 *   - released buffers refuse use; a hand-over attaches once; live buffers
 *     of a pool whose rings all closed read bufIndex -1;
 *   - at the end, everything released, every pool closes (no buffer lost).
 *
 * Seeded (mulberry32) and replayable: a failure names the seed and the
 * step, and the last steps taken. Families that depend on fixes not on
 * main yet are gated by `Families` (see lifecycle_test.ts).
 *
 * @module
 */
import {
  attachBuf,
  BuddyPool,
  BufferReleasedError,
  type BufScope,
  type FileHandle,
  type FixedBuf,
  HybridPool,
  type NativePool,
  openFile,
  PoolBusyError,
  PoolClosedError,
  PoolExhaustedError,
  Ring,
  RingClosedError,
  type TransferredBuf,
} from "../../mod.ts";

/** Operation families that can be turned off (gated on fixes elsewhere). */
export interface Families {
  /** Close a file while requests on it are queued or in flight (issue 13 item 1). */
  closeFileInFlight: boolean;
  /** Close a ring while requests are in flight. */
  closeRingInFlight: boolean;
  /** A request whose CQE reported success resolves even when the ring closes (item 11). */
  closedRingResolvesCompleted: boolean;
  /** Terminate a Worker that still has a pool attached (item 5: its views
   * are reclaimed at thread exit, so the pool can close afterwards). */
  terminateAttached: boolean;
}

/** What one run does. */
export interface RunOptions {
  seed: number;
  steps: number;
  /** Scratch directory (on a file system with O_DIRECT). */
  dir: string;
  families: Families;
  /** Prints each step (for replaying a failure). */
  verbose?: boolean;
  /** The Worker family (start, hand buffers both ways, Worker-side ring I/O,
   * close, terminate): run it in a subprocess, a crash must not take the
   * test runner down. */
  workers?: boolean;
}

const PAGE = 4096;
const FILE_SLOTS = 16;
const FILE_SIZE = FILE_SLOTS * PAGE;
const SIZES = [1, 3000, 4096, 5000, 8192, 12288, 16384];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface MRing {
  id: number;
  ring: Ring;
  closed: boolean;
}

interface MPool {
  id: number;
  pool: NativePool;
  rings: MRing[];
  closed: boolean;
  /** Model of live buffers: held + released-busy + in transit + pending waiters served. */
  bufs: Set<MBuf>;
  transit: TransferredBuf[];
  waiters: number;
  workers: MWorker[];
}

interface MBuf {
  id: number;
  buf: FixedBuf;
  pool: MPool;
  /** Released by the test (maybe still busy). */
  released: boolean;
  busy: number;
  scope: MScope | null;
  /** Its address (which arena it lies in). */
  addr: bigint;
}

interface MScope {
  scope: BufScope;
  pool: MPool;
  bufs: MBuf[];
}

interface MFile {
  id: number;
  path: string;
  handle: FileHandle;
  closed: boolean;
  /** Per 4 KiB slot, the contents the model allows (one, or several after a
   * ring closed under a write). */
  slots: Uint8Array[][];
  /** Slots with a request on them. */
  locked: Set<number>;
  inFlight: number;
}

interface MWorker {
  id: number;
  worker: Worker;
  pool: MPool;
  attached: boolean;
  /** Addresses of the buffers of `pool` the Worker holds. */
  held: bigint[];
  /** The arena share() reserved for it: [base, end). While it is attached,
   * the owner's stats() leave that arena out (its state is the Worker's). */
  arena: [bigint, bigint];
  replies: ((m: Record<string, unknown>) => void)[];
  terminated: boolean;
}

interface Req {
  id: number;
  what: string;
  promise: Promise<unknown>;
  settled: boolean;
}

/** Runs one seeded sequence; throws (with the seed and step) on a violation. */
export async function runLifecycle(
  opts: RunOptions,
): Promise<{ steps: number; ops: Record<string, number> }> {
  const rnd = mulberry32(opts.seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const log: string[] = [];
  let step = 0;
  const fail = (msg: string): never => {
    throw new Error(
      `lifecycle seed ${opts.seed} step ${step}: ${msg}\nlast steps:\n  ${
        log.slice(-25).join("\n  ")
      }\n(replay: VB_LIFECYCLE_SEED=${opts.seed} VB_LIFECYCLE_STEPS=${opts.steps})`,
    );
  };
  const note = (s: string) => {
    log.push(`${step}: ${s}`);
    if (log.length > 200) log.splice(0, 100);
    if (opts.verbose) console.log(`${step}: ${s}`);
  };
  const ops: Record<string, number> = {};
  /** A violation seen in a promise handler, rethrown by the main loop. */
  let failure: unknown = null;
  const guard = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A) => {
    try {
      fn(...a);
    } catch (e) {
      failure ??= e;
    }
  };
  let nextId = 0;

  const rings: MRing[] = [];
  const pools: MPool[] = [];
  const files: MFile[] = [];
  const reqs: Req[] = [];
  const scopes: MScope[] = [];

  const newRing = (): MRing => {
    const r = { id: nextId++, ring: new Ring({ entries: 16, bufferSlots: 64 }), closed: false };
    rings.push(r);
    return r;
  };
  const openRings = () => rings.filter((r) => !r.closed);
  const newPool = (): MPool => {
    const open = openRings();
    const reg = open.length > 0 && rnd() < 0.7 ? [pick(open)] : [];
    const checked = rnd() < 0.25;
    const registrar = reg.length ? reg[0].ring : undefined;
    // Some pools grow (registering each new arena) and give empty arenas back.
    const growth = rnd() < 0.3 ? { maxArenas: 2 + int(2), releaseEmpty: rnd() < 0.5 } : undefined;
    const pool = rnd() < 0.5
      ? BuddyPool.create({
        arenaSize: 128 * 1024,
        cacheDepth: int(3) * 4,
        checked,
        registrar,
        growth,
      })
      : HybridPool.create({
        classes: [{ size: 4096, count: 12 }, { size: 16384, count: 4 }],
        checked,
        registrar,
        growth,
        onOversize: "error",
      });
    const p = {
      id: nextId++,
      pool: pool as NativePool,
      rings: reg,
      closed: false,
      bufs: new Set<MBuf>(),
      transit: [],
      waiters: 0,
      workers: [],
    };
    pools.push(p);
    note(
      `pool ${p.id} ${pool.constructor.name}${checked ? " checked" : ""}${
        growth ? ` growth ${growth.maxArenas}${growth.releaseEmpty ? " releaseEmpty" : ""}` : ""
      } ring ${reg[0]?.id ?? "-"}`,
    );
    return p;
  };
  const openPools = () => pools.filter((p) => !p.closed);
  const newFile = (): MFile => {
    const id = nextId++;
    const path = `${opts.dir}/lc-${opts.seed}-${id}.bin`;
    const init = new Uint8Array(FILE_SIZE);
    for (let i = 0; i < FILE_SIZE; i++) init[i] = (id * 13 + i) & 0xff;
    Deno.writeFileSync(path, init);
    const handle = openFile(path, { read: true, write: true, direct: rnd() < 0.5 });
    const slots = Array.from(
      { length: FILE_SLOTS },
      (_, s) => [init.slice(s * PAGE, (s + 1) * PAGE)],
    );
    const f = { id, path, handle, closed: false, slots, locked: new Set<number>(), inFlight: 0 };
    files.push(f);
    note(`file ${id} fd ${handle.fd}${handle.direct ? " direct" : ""}`);
    return f;
  };
  const openFiles = () => files.filter((f) => !f.closed);

  const track = (what: string, promise: Promise<unknown>): Req => {
    const r: Req = { id: nextId++, what, promise, settled: false };
    reqs.push(r);
    return r;
  };
  const settleOnce = (r: Req) => {
    if (r.settled) fail(`request ${r.id} (${r.what}) settled twice`);
    r.settled = true;
  };

  const addBuf = (p: MPool, buf: FixedBuf, scope: MScope | null = null): MBuf => {
    const addr = BigInt(Deno.UnsafePointer.value(buf.pointer));
    const b: MBuf = { id: nextId++, buf, pool: p, released: false, busy: 0, scope, addr };
    p.bufs.add(b);
    return b;
  };
  const held = () => pools.flatMap((p) => [...p.bufs].filter((b) => !b.released));
  const idle = () => held().filter((b) => b.busy === 0);
  const done = (b: MBuf) => {
    if (b.released && b.busy === 0) b.pool.bufs.delete(b);
  };
  const release = (b: MBuf, how: string) => {
    b.buf.release();
    b.released = true;
    done(b);
    note(`release buf ${b.id} (${how}${b.busy ? `, ${b.busy} in flight` : ""})`);
  };

  const allocOne = (p: MPool, size: number, how: "alloc" | "tryAlloc"): FixedBuf | null => {
    try {
      const buf = how === "alloc" ? p.pool.alloc(size) : p.pool.tryAlloc(size);
      if (buf && buf.capacity < size) fail(`capacity ${buf.capacity} < ${size}`);
      return buf;
    } catch (e) {
      if (e instanceof PoolExhaustedError && how === "alloc") return null;
      if (e instanceof RangeError && size > 16384 && p.pool instanceof HybridPool) return null;
      throw e;
    }
  };

  /** Starts a read or write of `b` on a free run of slots of `f`. */
  const startIo = (b: MBuf, f: MFile, r: MRing, write: boolean): boolean => {
    const cap = b.buf.capacity;
    const maxPages = Math.min(Math.floor(cap / PAGE), 2);
    if (maxPages < 1) return false;
    const pages = 1 + int(maxPages);
    const first = int(FILE_SLOTS - pages + 1);
    const run = Array.from({ length: pages }, (_, k) => first + k);
    if (run.some((s) => f.locked.has(s))) return false;
    const len = pages * PAGE;
    const bytes = b.buf.bytes;
    let data: Uint8Array | null = null;
    if (write) {
      data = new Uint8Array(len);
      for (let i = 0; i < len; i++) data[i] = int(256);
      bytes.set(data);
    }
    const p = write
      ? r.ring.write(f.handle, b.buf, first * PAGE, len)
      : r.ring.read(f.handle, b.buf, first * PAGE, len);
    for (const s of run) f.locked.add(s);
    f.inFlight++;
    b.busy++;
    const what = `${
      write ? "write" : "read"
    } buf ${b.id} file ${f.id} slots ${first}+${pages} ring ${r.id}`;
    note(what);
    const req = track(what, p);
    const finish = () => {
      settleOnce(req);
      for (const s of run) f.locked.delete(s);
      f.inFlight--;
      b.busy--;
      done(b);
    };
    p.then(
      guard((n: number) => {
        finish();
        if (n !== len) fail(`${what}: resolved ${n}, expected ${len}`);
        run.forEach((s, k) => {
          if (write) f.slots[s] = [data!.slice(k * PAGE, (k + 1) * PAGE)];
          else if (!b.released) {
            const got = b.buf.bytes.subarray(k * PAGE, (k + 1) * PAGE);
            const match = f.slots[s].find((c) => equal(c, got));
            if (match === undefined) {
              return fail(`${what}: slot ${s} read bytes no write put there`);
            }
            f.slots[s] = [match];
          }
        });
      }),
      guard((e) => {
        finish();
        if (e instanceof RingClosedError) {
          if (
            opts.families.closedRingResolvesCompleted && typeof e.result === "number" &&
            e.result >= 0
          ) {
            fail(`${what}: completed (${e.result}) but rejected at ring close`);
          }
          if (write) {
            run.forEach((s, k) => f.slots[s].push(data!.slice(k * PAGE, (k + 1) * PAGE)));
          }
          return;
        }
        fail(`${what}: rejected with ${e?.name}: ${e?.message}`);
      }),
    );
    return true;
  };

  let synced = true;
  const checkPools = () => {
    for (const p of openPools()) {
      const s = p.pool.stats();
      // Exact after a macrotask (every settled promise's handler ran). In
      // the same tick, an allocAsync whose handler has not run may hold a
      // buffer already, and a ring close may have freed released buffers
      // whose requests' handlers have not run yet.
      // Buffers in an arena a Worker has attached now are the Worker's to
      // count: the owner's stats() leave them out.
      const hidden = (a: bigint) =>
        p.workers.some((w) => w.attached && !w.terminated && a >= w.arena[0] && a < w.arena[1]);
      const addrs = [
        ...[...p.bufs].map((b) => b.addr),
        ...p.transit.map((t) => t.address),
        ...p.workers.flatMap((w) => w.terminated ? [] : w.held),
      ];
      const model = addrs.filter((a) => !hidden(a)).length;
      const releasedBusy = [...p.bufs].filter((b) => b.released && !hidden(b.addr)).length;
      const [lo, hi] = synced ? [model, model] : [model - releasedBusy, model + p.waiters];
      if (s.liveBuffers < lo || s.liveBuffers > hi) {
        fail(
          `pool ${p.id}: liveBuffers ${s.liveBuffers}, model ${model} (${p.bufs.size} bufs, ${p.transit.length} in transit, ${p.waiters} allocAsync unsettled)`,
        );
      }
      p.pool.check();
      if (p.rings.every((r) => r.closed)) {
        for (const b of p.bufs) {
          if (!b.released && b.buf.bufIndex !== -1) {
            fail(`buf ${b.id}: bufIndex ${b.buf.bufIndex} after its rings closed`);
          }
        }
      }
    }
    for (const b of pools.flatMap((p) => [...p.bufs])) {
      if (b.released) {
        let refused = false;
        try {
          b.buf.bytes;
        } catch (e) {
          refused = e instanceof BufferReleasedError;
        }
        if (!refused) fail(`buf ${b.id}: released but bytes still accessible`);
      }
    }
  };

  newRing();
  newPool();
  newPool();
  newFile();
  newFile();

  const workers: MWorker[] = [];
  const liveWorkers = () => workers.filter((w) => !w.terminated);
  const ask = async (w: MWorker, m: Record<string, unknown>) => {
    const reply = new Promise<Record<string, unknown>>((r) => w.replies.push(r));
    w.worker.postMessage(m);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `worker ${w.id}: no reply to ${m.cmd} in 30 s (a cold module cache makes Worker start slow)`,
            ),
          ),
        30000,
      );
    });
    try {
      const r = await Promise.race([reply, limit]);
      if ("error" in r) fail(`worker ${w.id} ${m.cmd}: ${r.error}`);
      return r;
    } finally {
      clearTimeout(timer);
    }
  };

  type Op = [string, number, () => boolean | void | Promise<boolean | void>];
  const table: Op[] = [
    ["alloc", 10, () => {
      const p = pick(openPools());
      const size = pick(SIZES);
      const buf = allocOne(p, size, rnd() < 0.5 ? "alloc" : "tryAlloc");
      if (!buf) return note(`alloc ${size} pool ${p.id}: none`);
      const b = addBuf(p, buf);
      note(`alloc ${size} pool ${p.id} -> buf ${b.id}`);
    }],
    ["allocMany", 3, () => {
      const p = pick(openPools());
      const n = 1 + int(3);
      try {
        const bufs = p.pool.allocMany(4096, n);
        note(`allocMany 4096x${n} pool ${p.id} -> ${bufs.map((x) => addBuf(p, x).id).join(",")}`);
      } catch (e) {
        if (!(e instanceof PoolExhaustedError)) throw e;
        note(`allocMany pool ${p.id}: exhausted`);
      }
    }],
    ["release", 8, () => {
      const hs = held().filter((b) => b.scope === null);
      if (!hs.length) return false;
      release(pick(hs), "release()");
    }],
    ["using", 4, () => {
      const r = openRings(), f = openFiles();
      const p = pick(openPools());
      if (!r.length || !f.length) return false;
      let m: MBuf | null = null;
      try {
        using buf = p.pool.alloc(pick([4096, 8192]));
        m = addBuf(p, buf);
        startIo(m, pick(f), pick(r), rnd() < 0.5);
        if (rnd() < 0.3) throw new Error("user error inside using");
      } catch (e) {
        if (e instanceof PoolExhaustedError) return note("using: exhausted");
        if (!(e instanceof Error) || e.message !== "user error inside using") throw e;
      }
      if (m) {
        m.released = true;
        done(m);
        note(`using exit buf ${m.id}${m.busy ? " (in flight)" : ""}`);
      }
    }],
    ["scope", 3, () => {
      if (scopes.length && rnd() < 0.5) {
        const s = scopes.splice(int(scopes.length), 1)[0];
        s.scope[Symbol.dispose]();
        for (const b of s.bufs) {
          if (!b.released) {
            b.released = true;
            done(b);
          }
        }
        note(`scope dispose (${s.bufs.length} bufs)`);
        let refused = false;
        try {
          s.scope.alloc(4096);
        } catch (e) {
          refused = e instanceof BufferReleasedError;
        }
        if (!refused) fail("scope allocated after dispose");
        return;
      }
      const p = pick(openPools());
      const s: MScope = { scope: p.pool.scope(), pool: p, bufs: [] };
      scopes.push(s);
      for (let i = int(4); i > 0; i--) {
        try {
          s.bufs.push(addBuf(p, s.scope.alloc(pick([4096, 8192])), s));
        } catch (e) {
          if (!(e instanceof PoolExhaustedError)) throw e;
        }
      }
      note(`scope on pool ${p.id}: ${s.bufs.map((b) => b.id).join(",")}`);
    }],
    ["write", 10, () => {
      const bs = idle(), r = openRings(), f = openFiles();
      if (!bs.length || !r.length || !f.length) return false;
      return startIo(pick(bs), pick(f), pick(r), true);
    }],
    ["read", 8, () => {
      const bs = idle(), r = openRings(), f = openFiles();
      if (!bs.length || !r.length || !f.length) return false;
      return startIo(pick(bs), pick(f), pick(r), false);
    }],
    ["closeFile", 2, () => {
      const candidates = openFiles().filter((f) =>
        opts.families.closeFileInFlight || f.inFlight === 0
      );
      if (!candidates.length) return false;
      const f = pick(candidates);
      f.handle.close();
      f.closed = true;
      note(`close file ${f.id}${f.inFlight ? ` (${f.inFlight} in flight)` : ""}`);
      // A new request on the closed handle is refused, holding nothing.
      const bs = idle(), rs = openRings();
      if (bs.length && rs.length) {
        const b = pick(bs);
        const what = `read buf ${b.id} on closed file ${f.id}`;
        const req = track(what, pick(rs).ring.read(f.handle, b.buf, 0, PAGE));
        req.promise.then(
          guard(() => {
            settleOnce(req);
            fail(`${what}: resolved`);
          }),
          guard(() => settleOnce(req)),
        );
      }
      newFile(); // likely the same fd number
    }],
    ["closeRing", 1, () => {
      const candidates = openRings().filter((r) =>
        opts.families.closeRingInFlight || r.ring.stats().inFlight === 0
      );
      if (!candidates.length) return false;
      const r = pick(candidates);
      note(`close ring ${r.id} (${r.ring.stats().inFlight} in flight)`);
      r.ring.close();
      r.closed = true;
      if (rnd() < 0.8) note(`new ring ${newRing().id}`);
    }],
    ["newRing", 1, () => {
      if (openRings().length >= 2) return false;
      note(`new ring ${newRing().id}`);
    }],
    ["closePool", 2, () => {
      const p = pick(openPools());
      // Waiters do not keep a pool open: they are rejected with PoolClosedError.
      const attached = p.workers.some((w) => w.attached);
      const canClose = p.bufs.size === 0 && p.transit.length === 0 && p.waiters === 0 &&
        !attached;
      const mayClose = p.bufs.size === 0 && p.transit.length === 0 && !attached;
      try {
        p.pool.close();
      } catch (e) {
        if (e instanceof PoolBusyError && !canClose) return note(`close pool ${p.id}: busy`);
        throw e;
      }
      if (!mayClose) fail(`pool ${p.id} closed with ${p.bufs.size} live in the model`);
      p.closed = true;
      note(`close pool ${p.id}`);
      newPool();
    }],
    ["transfer", 3, () => {
      const bs = idle().filter((b) => b.scope === null);
      if (!bs.length) return false;
      const b = pick(bs);
      const t = b.buf.transfer();
      b.released = true;
      b.pool.bufs.delete(b);
      b.pool.transit.push(t);
      note(`transfer buf ${b.id}`);
    }],
    ["attach", 3, () => {
      const ps = openPools().filter((p) => p.transit.length > 0);
      if (!ps.length) return false;
      const p = pick(ps);
      const t = p.transit.splice(int(p.transit.length), 1)[0];
      const b = addBuf(p, attachBuf(rnd() < 0.5 ? t : structuredClone(t)));
      let refused = false;
      try {
        attachBuf(t);
      } catch (e) {
        refused = e instanceof BufferReleasedError;
      }
      if (!refused) fail("a hand-over attached twice");
      note(`attach -> buf ${b.id}`);
    }],
    ["allocAsync", 2, () => {
      const p = pick(openPools());
      const size = pick([4096, 8192, 16384]);
      const signal = AbortSignal.timeout(5 + int(30));
      p.waiters++;
      const what = `allocAsync ${size} pool ${p.id}`;
      const req = track(what, p.pool.allocAsync(size, { signal }));
      note(what);
      req.promise.then(
        guard((buf) => {
          settleOnce(req);
          p.waiters--;
          if (p.closed) fail(`${what}: served after its pool closed`);
          const b = addBuf(p, buf as FixedBuf);
          note(`${what} -> buf ${b.id}`);
        }),
        guard((e) => {
          settleOnce(req);
          p.waiters--;
          if (e?.name === "TimeoutError" || e instanceof PoolClosedError) return;
          fail(`${what}: rejected with ${e?.name}: ${e?.message}`);
        }),
      );
    }],
  ];
  if (opts.workers) {
    table.push(
      ["workerStart", 2, async () => {
        if (liveWorkers().length >= 2) return false;
        const p = pick(openPools());
        const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
        const w: MWorker = {
          id: nextId++,
          worker,
          pool: p,
          attached: false,
          held: [],
          arena: [0n, 0n],
          replies: [],
          terminated: false,
        };
        worker.onmessage = (e) => w.replies.shift()?.(e.data);
        workers.push(w);
        p.workers.push(w);
        // Its arena holds no buffer until its first alloc maps it (w.arena then).
        await ask(w, { cmd: "attach", pool: p.pool.share() });
        w.attached = true;
        note(`worker ${w.id} attached pool ${p.id}`);
      }],
      ["workerAlloc", 3, async () => {
        const ws = liveWorkers().filter((w) => w.attached);
        if (!ws.length) return false;
        const w = pick(ws);
        const r = await ask(w, { cmd: "alloc", size: pick([4096, 8192]), n: 1 + int(3) });
        const bufs = r.bufs as TransferredBuf[];
        if (r.base !== undefined) {
          w.arena = [r.base as bigint, (r.base as bigint) + BigInt(r.length as number)];
        }
        w.pool.transit.push(...bufs);
        note(`worker ${w.id} allocated ${bufs.length}, handed back`);
      }],
      ["workerTake", 3, async () => {
        const ws = liveWorkers().filter((w) => w.attached);
        if (!ws.length) return false;
        const w = pick(ws);
        const bs = [...w.pool.bufs].filter((b) => !b.released && b.busy === 0 && !b.scope);
        if (!bs.length) return false;
        const b = pick(bs);
        const t = b.buf.transfer();
        b.released = true;
        w.pool.bufs.delete(b);
        w.held.push(t.address);
        await ask(w, { cmd: "take", bufs: [t] });
        note(`worker ${w.id} took buf ${b.id}`);
      }],
      ["workerRelease", 2, async () => {
        const ws = liveWorkers().filter((w) => w.attached && w.held.length > 0);
        if (!ws.length) return false;
        const w = pick(ws);
        const r = await ask(w, { cmd: "release" });
        if (r.n !== w.held.length) fail(`worker ${w.id} released ${r.n}, model ${w.held.length}`);
        w.held = [];
        note(`worker ${w.id} released ${r.n}`);
      }],
      ["workerIo", 1, async () => {
        const ws = liveWorkers();
        const fs = files.filter((f) => !f.closed);
        if (!ws.length || !fs.length) return false;
        const w = pick(ws);
        await ask(w, { cmd: "io", path: pick(fs).path });
        note(`worker ${w.id}: own ring read in flight`);
      }],
      ["workerClose", 2, async () => {
        const ws = liveWorkers().filter((w) => w.attached);
        if (!ws.length) return false;
        const w = pick(ws);
        await ask(w, { cmd: "close" });
        w.attached = false;
        w.held = [];
        note(`worker ${w.id} closed its attached pool`);
      }],
      ["workerTerminate", 2, async () => {
        const ws = liveWorkers().filter((w) => opts.families.terminateAttached || !w.attached);
        if (!ws.length) return false;
        const w = pick(ws);
        const p = w.pool;
        const views = p.closed ? 0 : p.pool.stats().attachedViews;
        w.worker.terminate();
        w.terminated = true;
        note(
          `worker ${w.id} terminated${
            w.attached ? ` (pool ${p.id} attached, ${w.held.length} held)` : ""
          }`,
        );
        if (!w.attached) return;
        // At thread exit its view is detached and what it held is freed
        // (hand-overs it gave away stay valid); wait for that, bounded.
        const deadline = Date.now() + 10000;
        while (p.pool.stats().attachedViews >= views) {
          if (Date.now() > deadline) fail(`worker ${w.id}: its view was not reclaimed within 10 s`);
          await new Promise((r) => setTimeout(r, 5));
        }
        w.attached = false;
        w.held = [];
      }],
    );
  }
  const weights = table.reduce((n, [, w]) => n + w, 0);

  for (step = 0; step < opts.steps; step++) {
    // Often the next op runs in the same tick (requests still queued, not
    // submitted); else completions and their handlers run first.
    synced = rnd() < 0.6;
    if (synced) await new Promise((r) => setTimeout(r, 0));
    if (failure) throw failure;
    checkPools();
    for (let tries = 0; tries < 10; tries++) {
      let x = rnd() * weights;
      const op = table.find(([, w]) => (x -= w) < 0) ?? table[0];
      if ((await op[2]()) !== false) {
        ops[op[0]] = (ops[op[0]] ?? 0) + 1;
        break;
      }
    }
  }

  // Drain: every request settles, within a deadline.
  step = opts.steps;
  synced = true;
  note("drain");
  const deadline = Date.now() + 15000;
  while (reqs.some((r) => !r.settled)) {
    if (Date.now() > deadline) {
      fail(`unsettled after 15 s: ${reqs.filter((r) => !r.settled).map((r) => r.what).join("; ")}`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  if (failure) throw failure;
  checkPools();
  for (const w of liveWorkers()) {
    if (w.attached) await ask(w, { cmd: "close" });
    w.attached = false;
    w.held = [];
    w.worker.terminate();
    w.terminated = true;
  }
  // Release everything, attach what is in transit, close every pool.
  for (const s of scopes.splice(0)) {
    s.scope[Symbol.dispose]();
    for (const b of s.bufs) {
      b.released = true;
      done(b);
    }
  }
  for (const b of held()) release(b, "final");
  for (const p of openPools()) {
    for (const t of p.transit.splice(0)) attachBuf(t).release();
  }
  await new Promise((r) => setTimeout(r, 0));
  if (failure) throw failure;
  checkPools();
  for (const p of openPools()) {
    if (p.bufs.size !== 0) fail(`pool ${p.id}: ${p.bufs.size} buffers never came back`);
    p.pool.close();
    p.closed = true;
  }
  for (const r of openRings()) r.ring.close();
  // Every byte of every file is one the model allows.
  for (const f of files) {
    if (!f.closed) f.handle.close();
    const disk = Deno.readFileSync(f.path);
    if (disk.length !== FILE_SIZE) fail(`file ${f.id}: size ${disk.length}`);
    for (let s = 0; s < FILE_SLOTS; s++) {
      const got = disk.subarray(s * PAGE, (s + 1) * PAGE);
      if (!f.slots[s].some((c) => equal(c, got))) {
        fail(
          `file ${f.id} slot ${s}: bytes no request of this file wrote (a write landed in the wrong file?)`,
        );
      }
    }
    Deno.removeSync(f.path);
  }
  return { steps: opts.steps, ops };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A Worker for the lifecycle model (model.ts, Worker family). Replies to
 * each message with { ok, ... } or { error }.
 *
 *   { cmd: "attach", pool }            attachPool(pool)
 *   { cmd: "alloc", size, n }          allocates up to n buffers from its
 *                                      arena, hands them back ({ bufs,
 *                                      base, length: the arena, once mapped })
 *   { cmd: "take", bufs }              attaches them and holds them
 *   { cmd: "release" }                 releases what it holds ({ n })
 *   { cmd: "io", path }                its own Ring and pool: starts a read
 *                                      of `path`, does not wait for it
 *   { cmd: "close" }                   releases everything, closes the
 *                                      attached pool (its own ring and
 *                                      pool stay, with I/O maybe in flight)
 */
import {
  attachBuf,
  type AttachedPool,
  attachPool,
  BuddyPool,
  type FixedBuf,
  openFile,
  Ring,
} from "../../mod.ts";

let pool: AttachedPool | null = null;
const held: FixedBuf[] = [];
const inFlight: Promise<number>[] = [];

self.onmessage = (e) => {
  const m = e.data;
  try {
    switch (m.cmd) {
      case "attach":
        pool = attachPool(m.pool);
        self.postMessage({ ok: "attached" });
        break;
      case "alloc": {
        const bufs = [];
        for (let i = 0; i < m.n; i++) {
          const b = pool!.tryAlloc(m.size);
          if (b === null) break;
          b.bytes[0] = 0x77;
          bufs.push(b.transfer());
        }
        // The arena is memory (a region) once the first alloc mapped it.
        const [region] = pool!.regions();
        self.postMessage({
          ok: "alloc",
          bufs,
          base: region && BigInt(Deno.UnsafePointer.value(region.pointer)),
          length: region?.length,
        });
        break;
      }
      case "take":
        for (const t of m.bufs) held.push(attachBuf(t));
        self.postMessage({ ok: "took" });
        break;
      case "release": {
        const n = held.length;
        for (const b of held.splice(0)) b.release();
        // Replies in a later task: the releases reach the owner by the end
        // of this one.
        setTimeout(() => self.postMessage({ ok: "released", n }), 0);
        break;
      }
      case "io": {
        // Never closed on purpose: the Worker may be terminated with this
        // read in flight (the library must stay loaded under its helper).
        const ring = new Ring({ entries: 4 });
        const own = BuddyPool.create({ arenaSize: 64 * 1024, registrar: ring });
        const file = openFile(m.path);
        const buf = own.alloc(16384);
        inFlight.push(ring.read(file, buf, 0).catch(() => -1));
        self.postMessage({ ok: "io" });
        break;
      }
      case "close":
        for (const b of held.splice(0)) b.release();
        pool?.close();
        pool = null;
        setTimeout(() => self.postMessage({ ok: "closed" }), 0);
        break;
    }
  } catch (err) {
    self.postMessage({ error: `${(err as Error)?.name}: ${(err as Error)?.message}` });
  }
};

/**
 * The cost of a grow event: an alloc that finds every arena full and maps
 * (and, for a registered pool, registers) one more, beside an alloc that
 * does not grow, in one run.
 *
 *   deno bench --allow-ffi --allow-env --allow-read bench/growth_bench.ts
 *
 * Each iteration makes a full pool outside the timed section (b.start /
 * b.end), then times one alloc.
 */
import { BuddyPool, type FixedBuf, Ring } from "../mod.ts";

const ARENA = 1 << 20; // 1 MiB arenas
const ring = new Ring({ entries: 8, bufferSlots: 16384 });

/** A pool whose first arena is taken whole by one live buffer. */
function fullPool(registered: boolean): { pool: BuddyPool; held: FixedBuf } {
  const pool = BuddyPool.create({
    arenaSize: ARENA,
    growth: { maxArenas: 2 },
    registrar: registered ? ring : undefined,
  });
  return { pool, held: pool.alloc(ARENA) };
}

for (const registered of [false, true]) {
  const label = registered ? "registered" : "unregistered";
  Deno.bench(`alloc 4 KiB, no growth (${label})`, { group: label, baseline: true }, (b) => {
    const pool = BuddyPool.create({ arenaSize: ARENA, registrar: registered ? ring : undefined });
    b.start();
    const buf = pool.alloc(4096);
    b.end();
    buf.release();
    pool.close();
  });
  Deno.bench(`alloc 4 KiB that grows by a 1 MiB arena (${label})`, { group: label }, (b) => {
    const { pool, held } = fullPool(registered);
    b.start();
    const buf = pool.alloc(4096);
    b.end();
    buf.release();
    held.release();
    pool.close();
  });
}

/**
 * Allocation costs through the Deno binding, beside their floors and peers,
 * in ONE `deno bench` run, so that ratios within a group are comparable
 * (absolute times move between runs on a shared VM; ratios much less):
 *
 *   deno task bench                      (the table)
 *   deno task bench:report               (3 runs + the C and I/O benches -> README)
 *
 * Every group has a baseline (deno prints the others as multiples of it):
 *
 *   4k            floor: an empty FFI fast call (vb_noop); both pools' 4 KiB
 *                 alloc+release, `new Uint8Array(4096)`, and the hand-rolled
 *                 peer
 *   using         floor: `using` an empty disposable; both pools' 4 KiB with `using`
 *   16k, 64k      baseline: `new Uint8Array(n)`; both pools manual and with
 *                 `using`, and the hand-rolled peer
 *   mixed 4K-64K  baseline: `new Uint8Array(size)` over the same sizes; both
 *                 pools manual, and the hand-rolled peer
 *   mixed 4K-128K the same, sizes up to 128 KiB; BuddyPool and a HybridPool
 *                 with a 128 KiB class, manual and with `using`
 *   fallback 256K baseline: `new Uint8Array(262144)`; HybridPool (default
 *                 classes) serving 256 KiB from the global allocator
 *   view          baseline: BuddyPool 4 KiB alloc+release; the same reading
 *                 `bytes[0]` (the first `bytes` access makes the view)
 *   batch         16 buffers per iteration: one by one (manual, `using`),
 *                 allocMany (one native call), and a scope (one `using`)
 *
 * "Manual" is `const b = pool.alloc(n); b.release();`.
 *
 * The hand-rolled peer ("preallocated") is what code that reuses one buffer
 * by hand does per request: hand out a view of the requested length over a
 * Uint8Array allocated once, `pre.subarray(0, n)` (one view object, no
 * memory, nothing zeroed).
 *
 * Mixed groups: a fixed pseudo-random sequence of sizes (xorshift32, fixed
 * seed, 4096 entries; 4K-64K: 4, 8, 12, 16, 20, 32, 48, 64 KiB; 4K-128K:
 * 4, 8, 12, 16, 20, 32, 64, 96, 128 KiB); each iteration takes the next
 * size (one position shared by all rows, each row runs many cycles of the
 * sequence), allocates it and releases it at once. No ring of live
 * buffers: `using` rows can only do that, and manual rows do the same so
 * the rows of a group compare. Consecutive sizes differ most of the time,
 * so the block just released is rarely the one handed out next. The C
 * bench (`zig build bench`) covers mixed sizes with hundreds of live buffers.
 */
import { BuddyPool, type FixedBuf, HybridPool } from "../mod.ts";
import { lib } from "../ffi/loader.ts";

const KiB = 1024;
const noop = lib().symbols.vb_noop;
const buddy = BuddyPool.create({ name: "bench-buddy" }); // 32 MiB, any size to 32 MiB
const hybrid = HybridPool.create({ name: "bench-hybrid" }); // default classes 4K..64K
/** The default classes plus a 128 KiB one, so 4K-128K never falls back. */
const hybrid128 = HybridPool.create({
  name: "bench-hybrid-128k",
  classes: [
    { size: 4 * KiB, count: 256 },
    { size: 8 * KiB, count: 128 },
    { size: 16 * KiB, count: 64 },
    { size: 32 * KiB, count: 32 },
    { size: 64 * KiB, count: 32 },
    { size: 128 * KiB, count: 32 },
  ],
});
const empty = { [Symbol.dispose]() {} };

/** What the rows need of a pool (BuddyPool and HybridPool alike). */
interface FixedBufSource {
  alloc(size: number): FixedBuf;
  stats(): { fallbackBuffers: number };
}

/** A fixed pseudo-random sequence over `sizes` (xorshift32, fixed seed). */
function sizeSequence(sizes: readonly number[], seed: number): Uint32Array {
  const out = new Uint32Array(4096);
  let x = seed;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
    out[i] = sizes[(x >>> 0) % sizes.length];
  }
  return out;
}
const SEQ_MASK = 4095;
const MIXED_64K = sizeSequence(
  [4, 8, 12, 16, 20, 32, 48, 64].map((k) => k * KiB),
  0x9e3779b9,
);
const MIXED_128K = sizeSequence(
  [4, 8, 12, 16, 20, 32, 64, 96, 128].map((k) => k * KiB),
  0x85ebca6b,
);
const FALLBACK = 256 * KiB;

// Fair JIT warm-up: every pool goes through the same binding code
// (NativePool.alloc, FixedBuf.release and [Symbol.dispose]), so every pool
// is exercised at every size it is measured with, manually and with
// `using`, before anything is measured. Otherwise the first row measured
// runs with monomorphic feedback and a later one pays for the
// deoptimization. It also fills BuddyPool's L0 caches (the first alloc of
// a size splits a larger block).
const warm: [FixedBufSource, readonly number[]][] = [
  [buddy, [4 * KiB, 16 * KiB, 64 * KiB, ...new Set([...MIXED_64K, ...MIXED_128K])]],
  [hybrid, [4 * KiB, 16 * KiB, 64 * KiB, ...new Set(MIXED_64K)]],
  [hybrid128, [...new Set(MIXED_128K)]],
];
for (let round = 0; round < 20; round++) {
  for (const [pool, sizes] of warm) {
    for (const size of sizes) {
      for (let i = 0; i < 2_000; i++) {
        pool.alloc(size).release();
        using _b = pool.alloc(size);
      }
    }
  }
  // 256 KiB from HybridPool's fallback (the global allocator).
  for (let i = 0; i < 200; i++) hybrid.alloc(FALLBACK).release();
}

// The groups measure what they say: HybridPool serves 256 KiB from the
// global allocator (bufIndex -1), and no size of a mixed group falls back.
{
  using big = hybrid.alloc(FALLBACK);
  if (big.bufIndex !== -1 || hybrid.stats().fallbackBuffers !== 1) {
    throw new Error("fallback 256K: HybridPool did not fall back");
  }
}
for (const [pool, sizes] of warm) {
  const held = sizes.map((size) => pool.alloc(size));
  const fallbacks = pool.stats().fallbackBuffers;
  held.forEach((b) => b.release());
  if (fallbacks !== 0) throw new Error(`warm-up sizes fell back: ${sizes.join(", ")}`);
}

let sink = 0;
/** The hand-rolled peer's memory: one Uint8Array per size, allocated once. */
const pre4k = new Uint8Array(4 * KiB);
const pre16k = new Uint8Array(16 * KiB);
const pre64k = new Uint8Array(64 * KiB);
const pre128k = new Uint8Array(128 * KiB);
/** Position in the mixed sequences (shared: every row runs many cycles). */
let k = 0;

// Every row below is its own function literal, on purpose: closures made by
// one literal (a loop or a helper making rows for both pools) share V8's
// type feedback and optimized code, so each row would measure a polymorphic
// call site (~14 ns instead of ~11 ns for a 4 KiB alloc+release).

// --- 4k ----------------------------------------------------------------------
Deno.bench("empty FFI call (floor)", { group: "4k", baseline: true }, () => {
  noop();
});
Deno.bench("buddy 4 KiB alloc+release (manual)", { group: "4k" }, () => {
  const b = buddy.alloc(4 * KiB);
  b.release();
});
Deno.bench("hybrid 4 KiB alloc+release (manual)", { group: "4k" }, () => {
  const b = hybrid.alloc(4 * KiB);
  b.release();
});
Deno.bench("new Uint8Array(4096)", { group: "4k" }, () => {
  sink += new Uint8Array(4 * KiB).length;
});
Deno.bench("preallocated Uint8Array(4096).subarray(0, 4096)", { group: "4k" }, () => {
  sink += pre4k.subarray(0, 4 * KiB).length;
});

// --- using -------------------------------------------------------------------
Deno.bench("using an empty disposable (floor)", { group: "using", baseline: true }, () => {
  using _e = empty;
});
Deno.bench("buddy 4 KiB alloc with using", { group: "using" }, () => {
  using _b = buddy.alloc(4 * KiB);
});
Deno.bench("hybrid 4 KiB alloc with using", { group: "using" }, () => {
  using _b = hybrid.alloc(4 * KiB);
});

// --- 16k ---------------------------------------------------------------------
Deno.bench("new Uint8Array(16384)", { group: "16k", baseline: true }, () => {
  sink += new Uint8Array(16 * KiB).length;
});
Deno.bench("preallocated Uint8Array(16384).subarray(0, 16384)", { group: "16k" }, () => {
  sink += pre16k.subarray(0, 16 * KiB).length;
});
Deno.bench("buddy 16 KiB alloc+release (manual)", { group: "16k" }, () => {
  const b = buddy.alloc(16 * KiB);
  b.release();
});
Deno.bench("buddy 16 KiB alloc with using", { group: "16k" }, () => {
  using _b = buddy.alloc(16 * KiB);
});
Deno.bench("hybrid 16 KiB alloc+release (manual)", { group: "16k" }, () => {
  const b = hybrid.alloc(16 * KiB);
  b.release();
});
Deno.bench("hybrid 16 KiB alloc with using", { group: "16k" }, () => {
  using _b = hybrid.alloc(16 * KiB);
});

// --- 64k ---------------------------------------------------------------------
Deno.bench("new Uint8Array(65536)", { group: "64k", baseline: true }, () => {
  sink += new Uint8Array(64 * KiB).length;
});
Deno.bench("preallocated Uint8Array(65536).subarray(0, 65536)", { group: "64k" }, () => {
  sink += pre64k.subarray(0, 64 * KiB).length;
});
Deno.bench("buddy 64 KiB alloc+release (manual)", { group: "64k" }, () => {
  const b = buddy.alloc(64 * KiB);
  b.release();
});
Deno.bench("buddy 64 KiB alloc with using", { group: "64k" }, () => {
  using _b = buddy.alloc(64 * KiB);
});
Deno.bench("hybrid 64 KiB alloc+release (manual)", { group: "64k" }, () => {
  const b = hybrid.alloc(64 * KiB);
  b.release();
});
Deno.bench("hybrid 64 KiB alloc with using", { group: "64k" }, () => {
  using _b = hybrid.alloc(64 * KiB);
});

// --- mixed 4K-64K ------------------------------------------------------------
Deno.bench("new Uint8Array(size)", { group: "mixed 4K-64K", baseline: true }, () => {
  sink += new Uint8Array(MIXED_64K[k++ & SEQ_MASK]).length;
});
Deno.bench("preallocated Uint8Array(65536).subarray(0, size)", { group: "mixed 4K-64K" }, () => {
  sink += pre64k.subarray(0, MIXED_64K[k++ & SEQ_MASK]).length;
});
Deno.bench("buddy alloc+release (manual)", { group: "mixed 4K-64K" }, () => {
  const b = buddy.alloc(MIXED_64K[k++ & SEQ_MASK]);
  b.release();
});
Deno.bench("hybrid alloc+release (manual)", { group: "mixed 4K-64K" }, () => {
  const b = hybrid.alloc(MIXED_64K[k++ & SEQ_MASK]);
  b.release();
});

// --- mixed 4K-128K -----------------------------------------------------------
Deno.bench("new Uint8Array(size)", { group: "mixed 4K-128K", baseline: true }, () => {
  sink += new Uint8Array(MIXED_128K[k++ & SEQ_MASK]).length;
});
Deno.bench("preallocated Uint8Array(131072).subarray(0, size)", {
  group: "mixed 4K-128K",
}, () => {
  sink += pre128k.subarray(0, MIXED_128K[k++ & SEQ_MASK]).length;
});
Deno.bench("buddy alloc+release (manual)", { group: "mixed 4K-128K" }, () => {
  const b = buddy.alloc(MIXED_128K[k++ & SEQ_MASK]);
  b.release();
});
Deno.bench("buddy alloc with using", { group: "mixed 4K-128K" }, () => {
  using _b = buddy.alloc(MIXED_128K[k++ & SEQ_MASK]);
});
Deno.bench("hybrid (128 KiB class) alloc+release (manual)", { group: "mixed 4K-128K" }, () => {
  const b = hybrid128.alloc(MIXED_128K[k++ & SEQ_MASK]);
  b.release();
});
Deno.bench("hybrid (128 KiB class) alloc with using", { group: "mixed 4K-128K" }, () => {
  using _b = hybrid128.alloc(MIXED_128K[k++ & SEQ_MASK]);
});

// --- fallback 256K -----------------------------------------------------------
Deno.bench("new Uint8Array(262144)", { group: "fallback 256K", baseline: true }, () => {
  sink += new Uint8Array(FALLBACK).length;
});
Deno.bench("hybrid 256 KiB alloc+release (fallback, bufIndex -1)", {
  group: "fallback 256K",
}, () => {
  const b = hybrid.alloc(FALLBACK);
  b.release();
});

// --- view --------------------------------------------------------------------
Deno.bench("buddy 4 KiB alloc+release (no view)", { group: "view", baseline: true }, () => {
  const b = buddy.alloc(4 * KiB);
  b.release();
});
Deno.bench("buddy 4 KiB alloc + bytes[0] + release", { group: "view" }, () => {
  const b = buddy.alloc(4 * KiB);
  sink += b.bytes[0];
  b.release();
});
Deno.bench("hybrid 4 KiB alloc + bytes[0] + release", { group: "view" }, () => {
  const b = hybrid.alloc(4 * KiB);
  sink += b.bytes[0];
  b.release();
});

// --- batch: 16 buffers per iteration ---------------------------------------
// allocMany takes them in one native call; a scope releases them with one
// `using`. Times are per iteration (16 buffers); divide by 16 per buffer.
const held: FixedBuf[] = new Array(16);
Deno.bench("16 x buddy 4 KiB alloc, then 16 releases (manual)", {
  group: "batch",
  baseline: true,
}, () => {
  for (let i = 0; i < 16; i++) held[i] = buddy.alloc(4 * KiB);
  for (let i = 0; i < 16; i++) held[i].release();
});
Deno.bench("16 x buddy 4 KiB alloc with using, all held", { group: "batch" }, () => {
  using _a = buddy.alloc(4 * KiB), _b = buddy.alloc(4 * KiB), _c = buddy.alloc(4 * KiB);
  using _d = buddy.alloc(4 * KiB), _e = buddy.alloc(4 * KiB), _f = buddy.alloc(4 * KiB);
  using _g = buddy.alloc(4 * KiB), _h = buddy.alloc(4 * KiB), _i = buddy.alloc(4 * KiB);
  using _j = buddy.alloc(4 * KiB), _k = buddy.alloc(4 * KiB), _l = buddy.alloc(4 * KiB);
  using _m = buddy.alloc(4 * KiB), _n = buddy.alloc(4 * KiB), _o = buddy.alloc(4 * KiB);
  using _p = buddy.alloc(4 * KiB);
});
Deno.bench("buddy allocMany(4 KiB, 16) + release each", { group: "batch" }, () => {
  const bufs = buddy.allocMany(4 * KiB, 16);
  for (let i = 0; i < 16; i++) bufs[i].release();
});
Deno.bench("buddy scope: 16 x 4 KiB, one using", { group: "batch" }, () => {
  using scope = buddy.scope();
  for (let i = 0; i < 16; i++) scope.alloc(4 * KiB);
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});

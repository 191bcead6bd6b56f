/**
 * Allocation costs through the Deno binding, beside their floors and peers,
 * in one `deno bench` run (compare ratios within a group, not across runs):
 *
 *   deno task bench
 *
 * Floors: an empty FFI fast call (vb_noop) and `using` an empty disposable.
 * Peers: new Uint8Array(n) (what code without a pool pays).
 */
import { BuddyPool, HybridPool } from "../mod.ts";
import { lib } from "../ffi/loader.ts";

const noop = lib().symbols.vb_noop;
const buddy = BuddyPool.create({ name: "bench-buddy" });
const hybrid = HybridPool.create({ name: "bench-hybrid" });
const empty = { [Symbol.dispose]() {} };

// Warm the caches (the first alloc of each size splits an L1 block) and the
// JIT: both pools go through the same binding code, so both are run before
// any is measured; otherwise the first one measured runs with monomorphic
// feedback and the second pays for the deoptimization.
for (let i = 0; i < 100_000; i++) {
  for (const size of [4096, 16384, 65536]) {
    buddy.alloc(size).release();
    hybrid.alloc(size).release();
  }
}

let sink = 0;

Deno.bench("empty FFI call (floor)", { group: "4k", baseline: true }, () => {
  noop();
});
Deno.bench("buddy 4 KiB alloc+release (manual)", { group: "4k" }, () => {
  const b = buddy.alloc(4096);
  b.release();
});
Deno.bench("hybrid 4 KiB alloc+release (manual)", { group: "4k" }, () => {
  const b = hybrid.alloc(4096);
  b.release();
});
Deno.bench("new Uint8Array(4096)", { group: "4k" }, () => {
  sink += new Uint8Array(4096).length;
});

Deno.bench("using an empty disposable (floor)", { group: "using", baseline: true }, () => {
  using _e = empty;
});
Deno.bench("buddy 4 KiB alloc with using", { group: "using" }, () => {
  using _b = buddy.alloc(4096);
});
Deno.bench("hybrid 4 KiB alloc with using", { group: "using" }, () => {
  using _b = hybrid.alloc(4096);
});

Deno.bench("new Uint8Array(65536)", { group: "64k", baseline: true }, () => {
  sink += new Uint8Array(65536).length;
});
Deno.bench("buddy 64 KiB alloc+release (manual)", { group: "64k" }, () => {
  const b = buddy.alloc(65536);
  b.release();
});
Deno.bench("buddy 64 KiB alloc with using", { group: "64k" }, () => {
  using _b = buddy.alloc(65536);
});
Deno.bench("hybrid 64 KiB alloc+release (manual)", { group: "64k" }, () => {
  const b = hybrid.alloc(65536);
  b.release();
});

Deno.bench("buddy 4 KiB alloc + bytes[0] + release", { group: "touch" }, () => {
  const b = buddy.alloc(4096);
  sink += b.bytes[0];
  b.release();
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});

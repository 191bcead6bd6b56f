/**
 * What checked mode costs per buffer, beside the default mode, in its own
 * `deno bench` process: checked pools run other code paths (own view per
 * buffer, detach on release, poison, leak registry), and V8's feedback from
 * them would slow the default-mode rows of pool_bench.ts if both ran in one
 * process.
 *
 *   deno bench --allow-ffi --allow-env --allow-read bench/checked_bench.ts
 */
import { BuddyPool } from "../mod.ts";

const KiB = 1024;
const plain = BuddyPool.create({ name: "bench-default" });
const checked = BuddyPool.create({ name: "bench-checked", checked: true });
let sink = 0;
for (let i = 0; i < 20_000; i++) {
  for (const pool of [plain, checked]) {
    pool.alloc(4 * KiB).release();
    const b = pool.alloc(4 * KiB);
    sink += b.bytes[0];
    b.release();
  }
}

Deno.bench("default: 4 KiB alloc+release", { group: "no view", baseline: true }, () => {
  const b = plain.alloc(4 * KiB);
  b.release();
});
Deno.bench("checked: 4 KiB alloc+release", { group: "no view" }, () => {
  const b = checked.alloc(4 * KiB);
  b.release();
});
Deno.bench("default: 4 KiB alloc + bytes[0] + release", { group: "view", baseline: true }, () => {
  const b = plain.alloc(4 * KiB);
  sink += b.bytes[0];
  b.release();
});
Deno.bench("checked: 4 KiB alloc + bytes[0] + release", { group: "view" }, () => {
  const b = checked.alloc(4 * KiB);
  sink += b.bytes[0];
  b.release();
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});

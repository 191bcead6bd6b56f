/**
 * One lifecycle run in its own process (the Worker family: a crash or a
 * hang must not take the test runner down). Used by lifecycle_test.ts:
 *
 *   deno run --allow-ffi --allow-env --allow-read --allow-write \
 *     tests/lifecycle/run.ts <seed> <steps> <dir> [families JSON]
 *
 * Exits 0 and prints "ok" when the run held every invariant.
 */
import { type Families, runLifecycle } from "./model.ts";

const [seed, steps, dir, fam] = Deno.args;
const families: Families = JSON.parse(fam ?? "{}");
const { ops } = await runLifecycle({
  seed: Number(seed),
  steps: Number(steps),
  dir,
  families,
  workers: true,
  verbose: Deno.env.get("VB_LIFECYCLE_VERBOSE") === "1",
});
console.log(`ops: ${Object.entries(ops).map(([k, v]) => `${k} ${v}`).join(", ")}`);
console.log("ok");
// Workers' own rings may still have a read in flight: leave without waiting.
Deno.exit(0);

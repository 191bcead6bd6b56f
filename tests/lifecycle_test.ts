/**
 * The randomized lifecycle test (issue 13; the model is in
 * lifecycle/model.ts). A short run here (fixed seeds, part of `./dev test`);
 * a long one on demand:
 *
 *   deno task test:lifecycle            (40 random seeds x 2000 steps, seeds printed)
 *   VB_LIFECYCLE_SEED=123 deno task test:lifecycle            (replays one seed)
 *
 * Environment: VB_LIFECYCLE_SEED (one seed, replays a failure),
 * VB_LIFECYCLE_RUNS (runs, default 4), VB_LIFECYCLE_STEPS (steps per run,
 * default 300), VB_LIFECYCLE_RANDOM=1 (random seeds instead of 1..RUNS),
 * VB_LIFECYCLE_LONG=1 (the task's defaults), VB_LIFECYCLE_VERBOSE=1 (print
 * every step).
 */
import { type Families, runLifecycle } from "./lifecycle/model.ts";

/** Families gated on fixes: true once main has them. */
const families: Families = {
  // Issue 13 item 1 (w14, on main): a FileHandle closed with requests in
  // flight defers close(2) until they settle; new requests are refused.
  closeFileInFlight: true,
  closeRingInFlight: true,
  // Issue 13 item 11 (w14, on main): ring.close() resolves requests the
  // kernel completed.
  closedRingResolvesCompleted: true,
  // Issue 13 item 5 (w13b, on main): a terminated Worker's attached view is
  // reclaimed at thread exit (what it held freed), so the pool can close.
  terminateAttached: true,
};

const env = (name: string) => Deno.env.get(name);
const long = env("VB_LIFECYCLE_LONG") === "1"; // deno task test:lifecycle
const steps = Number(env("VB_LIFECYCLE_STEPS") ?? (long ? 2000 : 300));
const runs = Number(env("VB_LIFECYCLE_RUNS") ?? (long ? 40 : 4));
const seeds = env("VB_LIFECYCLE_SEED") !== undefined
  ? [Number(env("VB_LIFECYCLE_SEED"))]
  : Array.from(
    { length: runs },
    (_, i) => long || env("VB_LIFECYCLE_RANDOM") ? (Math.random() * 2 ** 32) >>> 0 : i + 1,
  );

const dir = Deno.makeTempDirSync({ dir: new URL(".", import.meta.url).pathname, prefix: ".tmp-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

Deno.test(`lifecycle model: ${seeds.length} run(s) of ${steps} steps`, async () => {
  for (const seed of seeds) {
    console.log(`lifecycle seed ${seed} (${steps} steps)`);
    const run = runLifecycle({
      seed,
      steps,
      dir,
      families,
      verbose: env("VB_LIFECYCLE_VERBOSE") === "1",
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`lifecycle seed ${seed}: still running after ${steps * 50} ms`)),
        steps * 50 + 20000,
      );
    });
    try {
      const { ops } = await Promise.race([run, limit]);
      console.log(`  ops: ${Object.entries(ops).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    } finally {
      clearTimeout(timer);
    }
  }
});

const workerRuns = Number(env("VB_LIFECYCLE_WORKER_RUNS") ?? (long ? 10 : 2));
const workerSteps = Math.min(steps, long ? 1000 : 200);

Deno.test(`lifecycle model with Workers (subprocess): ${workerRuns} run(s) of ${workerSteps} steps`, async () => {
  const runner = new URL("./lifecycle/run.ts", import.meta.url).pathname;
  const list = env("VB_LIFECYCLE_SEED") !== undefined ? seeds : Array.from(
    { length: workerRuns },
    (_, i) => long ? (Math.random() * 2 ** 32) >>> 0 : 100 + i,
  );
  for (const seed of list) {
    console.log(`lifecycle seed ${seed} with Workers (${workerSteps} steps)`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-ffi",
        "--allow-env",
        "--allow-read",
        "--allow-write",
        runner,
        String(seed),
        String(workerSteps),
        dir,
        JSON.stringify(families),
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(workerSteps * 200 + 30000),
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    if (!out.success || !text.includes("\nok\n")) {
      throw new Error(
        `lifecycle seed ${seed} with Workers: exit ${out.code}${
          out.signal ? ` (${out.signal})` : ""
        }\n${text}`,
      );
    }
    console.log(`  ${text.split("\n").find((l) => l.startsWith("ops:"))}`);
  }
});

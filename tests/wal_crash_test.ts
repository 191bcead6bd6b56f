/**
 * The WAL crash test (issue 15): a child process appends to the log of
 * examples/wal.ts and prints each record id once its batch's fdatasync
 * resolved; the test kills it with SIGKILL at a random moment, then
 * recovers the log and checks that every acknowledged record is there,
 * byte for byte (payloads follow from the ids), that recovery accepted
 * nothing torn (every record it returns is exactly its payload, the ids
 * run 0..n-1 without a gap), and that the next life recovers and appends
 * after the cut. Two lives per run.
 *
 *   deno task test:crash    (50 runs; VB_WAL_CRASH_RUNS=N for N; plain deno test: 10)
 *   VB_WAL_CRASH_SEED=<n> replays one sequence of kill times and writer counts.
 *
 * SIGKILL kills the process, not the machine: what it proves is that a
 * crash of the program at any point loses nothing acknowledged and never
 * corrupts the log. Power loss (the page cache and the device cache gone)
 * is not simulated here; O_DIRECT + fdatasync is what covers it.
 */
import assert from "node:assert/strict";
import { seededRandom } from "./helpers.ts";
import { payloadFor, scanLog } from "../examples/wal.ts";

// Runs: VB_WAL_CRASH_RUNS, else `-- --runs N` (deno task test:crash passes 50), else 10.
const argRuns = Deno.args.indexOf("--runs");
const RUNS = Number(
  Deno.env.get("VB_WAL_CRASH_RUNS") ?? (argRuns >= 0 ? Deno.args[argRuns + 1] : "10"),
);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new RangeError(`crash test runs: ${RUNS}`);
const SEED = Number(Deno.env.get("VB_WAL_CRASH_SEED") ?? (Date.now() % 2 ** 31));
const LIVES = 2;
const walScript = new URL("../examples/wal.ts", import.meta.url).pathname;
const dir = Deno.makeTempDirSync({ dir: new URL(".", import.meta.url).pathname, prefix: ".tmp-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/** Runs one life of the appender; kills it `killAfterMs` after its first
 * ack. Returns the ids it acknowledged and the first id it used. */
async function life(
  path: string,
  writers: number,
  killAfterMs: number,
): Promise<{ acked: number[]; recoveredAtStart: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      walScript,
      "append",
      path,
      "--writers",
      String(writers),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let errText = "";
  const errDone = (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) return;
      errText += value;
    }
  })();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const acked: number[] = [];
  let recoveredAtStart = -1;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  // A hard deadline: a child that never acks is killed and fails the test.
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      buffered += value;
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const m = /^ack (\d+)$/.exec(line);
        if (m) {
          acked.push(Number(m[1]));
          killTimer ??= setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        } else if (/^recovered (\d+) next (\d+)$/.test(line)) {
          recoveredAtStart = Number(line.split(" ")[1]);
        }
      }
    }
    // Only whole lines count: a line cut by the kill was never printed whole.
  } finally {
    clearTimeout(deadline);
    clearTimeout(killTimer);
  }
  const status = await child.status;
  await errDone;
  assert.equal(
    status.signal,
    "SIGKILL",
    `the appender ended by itself (${status.code}): ${errText}`,
  );
  assert.ok(acked.length > 0, `no ack before the kill: ${errText}`);
  return { acked, recoveredAtStart };
}

Deno.test({
  name: `WAL crash test: SIGKILL at a random moment, ${RUNS} runs x ${LIVES} lives (seed ${SEED})`,
  sanitizeResources: false,
  async fn() {
    const rand = seededRandom(SEED);
    for (let run = 0; run < RUNS; run++) {
      const path = `${dir}/crash${run}.log`;
      const everAcked = new Set<number>();
      let previous = 0;
      for (let lifeNo = 0; lifeNo < LIVES; lifeNo++) {
        const writers = [1, 4, 16, 64][Math.floor(rand() * 4)];
        const killAfter = Math.floor(rand() * 250);
        const where =
          `run ${run} life ${lifeNo} (seed ${SEED}, ${writers} writers, kill ${killAfter} ms after the first ack)`;
        const { acked, recoveredAtStart } = await life(path, writers, killAfter);
        // What this life recovered on open is what the last one left.
        assert.equal(recoveredAtStart, previous, `${where}: recovered at start`);
        for (const id of acked) everAcked.add(id);
        const scan = scanLog(Deno.readFileSync(path));
        const ids = scan.records.map((r) => r.id);
        // Nothing torn or foreign: ids 0..n-1 in order, each its exact payload.
        ids.forEach((id, i) => assert.equal(id, i, `${where}: record ${i} has id ${id}`));
        for (const r of scan.records) {
          assert.deepEqual(r.payload, payloadFor(r.id), `${where}: payload of ${r.id}`);
        }
        // Every acknowledged record is there.
        const missing = [...everAcked].filter((id) => id >= ids.length);
        assert.deepEqual(missing, [], `${where}: acknowledged but lost (log has ${ids.length})`);
        previous = ids.length;
      }
    }
  },
});

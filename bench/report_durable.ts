/**
 * The durable-append part of the bench report (issue 15): runs
 * bench/durable_bench.ts (or reads its stored JSON), keeps the result in
 * bench/results/durable_bench.json and returns the Markdown section that
 * bench/report.ts appends to results.md and the README.
 *
 * @module
 */

interface Spread {
  med: number;
  min: number;
  max: number;
}

/** What durable_bench.ts --json writes (the fields used here). */
interface DurableOutput {
  date: string;
  kernel: string;
  deno: string;
  blockSize: number;
  rounds: number;
  secondsPerCell: number;
  groups: number[];
  rows: {
    group: number;
    name: string;
    appendsPerSec: Spread;
    commitMeanMs: number;
    commitP50Ms?: number;
    commitP99Ms: number | null;
  }[];
  ratios: { group: number; label: string; ratio: Spread; rounds: number }[];
}

interface StoredDurable {
  command: string;
  commit: string;
  result: DurableOutput;
}

/** How report.ts runs this part. */
export interface DurableReportOptions {
  /** The checkout. */
  root: string;
  /** Where the JSON goes (bench/results). */
  outDir: string;
  /** Read `<from>/durable_bench.json` instead of running. */
  from: string | null;
  /** Fewer rounds, shorter cells (a smoke test). */
  quick: boolean;
  /** Do not run (the section says so). */
  skip: boolean;
}

const fmt = (x: number, d = 0) => x.toFixed(d);
const range = (s: Spread, d: number) => `${fmt(s.med, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})`;

/** Runs (or reads) the durable bench; its Markdown section. */
export async function durableSection(o: DurableReportOptions): Promise<string> {
  let stored: StoredDurable | null = null;
  if (o.from !== null) {
    try {
      stored = JSON.parse(await Deno.readTextFile(`${o.from}/durable_bench.json`));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  } else if (!o.skip) {
    const benchArgs = [
      "run",
      "-A",
      "bench/durable_bench.ts",
      ...(o.quick ? ["--rounds", "1"] : []),
    ];
    const tmp = `${o.outDir}/durable_bench.tmp`;
    console.error("report: durable_bench");
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...benchArgs, "--json", tmp],
      cwd: o.root,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`durable_bench failed (exit ${out.code})`);
    const git = await new Deno.Command("git", {
      args: ["rev-parse", "--short=12", "HEAD"],
      cwd: o.root,
    })
      .output();
    stored = {
      command: `deno ${benchArgs.join(" ")} --json durable_bench.json`,
      commit: new TextDecoder().decode(git.stdout).trim(),
      result: JSON.parse(await Deno.readTextFile(tmp)),
    };
    await Deno.remove(tmp);
    await Deno.writeTextFile(
      `${o.outDir}/durable_bench.json`,
      JSON.stringify(stored, null, 2) + "\n",
    );
  }
  return markdown(stored, o.skip);
}

type Ratio = DurableOutput["ratios"][number];

/** The verdict on a single-writer goal row (ratio ≥ 0.95 of fio, > 1 of FsFile). */
function goal(x: Ratio, byLabel: Map<string, Ratio>): string {
  if (x.group !== 1 || x.label.includes("median")) return "";
  const target = x.label.includes("÷ fio") ? 0.95 : 1;
  const op = target === 1 ? ">" : "≥";
  const other = byLabel.get(`${x.group}|${x.label} (by median commit time)`);
  const meds = [x.ratio.med, ...(other ? [other.ratio.med] : [])];
  const ok = (v: number) => (target === 1 ? v > 1 : v >= target);
  if (meds.every(ok) && x.ratio.min >= target * 0.9) return `${op} ${target}: met`;
  if (!meds.some(ok)) {
    return `${op} ${target}: missed (by ${fmt((target - Math.max(...meds)) * 100, 0)} points)`;
  }
  return `${op} ${target}: not shown (medians ${meds.map((v) => fmt(v, 2)).join(" / ")}, spread ${
    fmt(x.ratio.min, 2)
  }–${fmt(x.ratio.max, 2)})`;
}

function markdown(s: StoredDurable | null, skipped: boolean): string {
  const out = ["", "### Durable 4 KiB appends beside fio and Deno's FsFile", ""];
  if (s === null) {
    out.push(skipped ? "Not run (--no-io)." : "Not run: no durable_bench.json.", "");
    return out.join("\n");
  }
  const r = s.result;
  out.push(
    `\`durable_bench.ts\`, one writer, ${r.blockSize} B appends to a growing file, each group ` +
      `of G appends followed by one fdatasync (G = ${r.groups.join(", ")}); ${r.rounds} ` +
      `interleaved rounds of ${r.secondsPerCell} s per cell, order rotated each round; ` +
      `medians with min–max over rounds. Ring: the group in one request (\`write\` for G = 1, ` +
      "`writev` of G registered buffers beyond) linked to `fsync({ dataOnly: true })` (one " +
      "chain, one submit per group); fio writes each append with its own pwrite. fio: `--rw=write --bs=4k " +
      "--fdatasync=G --ioengine=psync` (pwrite + fdatasync). Measured on a machine shared " +
      `with other engineers' work (noisy). Kernel ${r.kernel}, Deno ${r.deno}, ${
        r.date.slice(0, 16)
      }, ` +
      `commit ${s.commit}.`,
    "",
    "| G | appender | appends/s | commit mean ms | commit p50 ms | commit p99 ms |",
    "|---:|---|---:|---:|---:|---:|",
  );
  for (const x of r.rows) {
    out.push(
      `| ${x.group} | ${x.name} | ${range(x.appendsPerSec, 0)} | ${fmt(x.commitMeanMs, 3)} | ${
        x.commitP50Ms === undefined ? "—" : fmt(x.commitP50Ms, 3)
      } | ${x.commitP99Ms === null ? "—" : fmt(x.commitP99Ms, 3)} |`,
    );
  }
  out.push("", "| G | ratio (within a round) | median (min–max) | goal |");
  out.push("|---:|---|---:|---|");
  const byLabel = new Map(r.ratios.map((x) => [`${x.group}|${x.label}`, x]));
  for (const x of r.ratios) {
    out.push(`| ${x.group} | ${x.label} | ${range(x.ratio, 2)} | ${goal(x, byLabel)} |`);
  }
  out.push(
    "",
    "Goals are judged on BOTH measures (throughput and median commit time); where they " +
      "disagree, or the spread straddles the goal, the verdict is inconclusive. At G > 1 the " +
      "ring writes the group as one request while fio issues G pwrites: not like for like.",
  );
  out.push("", "```sh", s.command, "```", "");
  return out.join("\n");
}

if (import.meta.main) {
  // Just this part: run the bench, store bench/results/durable_bench.json,
  // print the section (then `deno task bench:report --from bench/results`
  // puts it into results.md and the README).
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  console.log(
    await durableSection({
      root,
      outDir: `${root}/bench/results`,
      from: null,
      quick: Deno.args.includes("--quick"),
      skip: false,
    }),
  );
}

/**
 * Runs the three benchmarks, keeps their JSON under bench/results/, and
 * makes from it a table of RATIOS (bench/results/results.md, also put into
 * README.md between `<!-- results:start -->` and `<!-- results:end -->`)
 * and a chart (bench/results/chart.svg):
 *
 *   deno task bench:report [--runs 3] [--no-io] [--io-size 1GiB] [--quick]
 *   deno task bench:report --from bench/results      (no run: regenerate)
 *
 *   --runs N      runs of the Deno bench (each one process, every group; default 3):
 *                 the table shows the median ratio and its min-max over the runs
 *   --no-io       skip the I/O bench (a note says so)
 *   --io-size S   size of the I/O bench's file (default: its own, 1 GiB)
 *   --quick       fewer runs everywhere (a smoke test; its numbers are noisy)
 *   --from DIR    read DIR/{pool_bench,c_bench,io_bench}.json instead of running
 *   --out DIR     where JSON, results.md and chart.svg go (default bench/results)
 *   --no-readme   leave README.md alone
 *
 * The benches: `deno bench --json bench/pool_bench.ts` (allocation through
 * the binding), `python3 -m ziglang build bench -- --json PATH` (the C
 * allocators beside glibc, mimalloc, jemalloc) and
 * `deno run bench/io_bench.ts --json PATH` (O_DIRECT reads beside fio).
 * Each stored file holds the machine, the date and the exact command.
 */
import { durableSection } from "./report_durable.ts";
import { netSection } from "./report_net.ts";
import { ioQdSection } from "./report_io_qd.ts";

// --- the stored files -----------------------------------------------------------

/** Where and when a run was made. */
interface Machine {
  cpu: string;
  cpus: number;
  memoryGiB: number;
  kernel: string;
  deno: string;
  v8: string;
  zig: string;
  /** git HEAD of the checkout the benches ran in, and whether it had changes. */
  commit: string;
  dirty: boolean;
}

/** One `deno bench --json` output (the fields used here). */
interface DenoBenchOutput {
  runtime: string;
  cpu: string;
  benches: {
    group: string | null;
    name: string;
    baseline: boolean;
    results: { ok?: { n: number; avg: number; min: number; p75: number; p99: number } }[];
  }[];
}

/** What vb_bench --json writes (the fields used here). */
interface CBenchOutput {
  runs: number;
  quick: boolean;
  cpu: string;
  peers: Record<string, string>;
  workloads: {
    name: string;
    what: string;
    rows: {
      allocator: string;
      calls: string;
      median_ns: number | null;
      min_ns: number | null;
      max_ns: number | null;
      ratio_glibc: number | null;
      ratio_mimalloc: number | null;
    }[];
  }[];
}

/** What io_bench.ts --json writes. */
interface IoBenchOutput {
  size: number;
  rounds: number;
  kernel: string;
  results: {
    name: string;
    workload: string;
    bytesPerSec: number;
    iops: number;
    cpuSecPerGiB: number;
    ratio: number | null;
  }[];
}

/** A stored bench output: the raw JSON plus where, when and how. */
interface Stored<T> {
  date: string;
  machine: Machine;
  command: string;
  result: T | null;
  /** Why there is no result (e.g. --no-io). */
  skipped?: string;
}

/** The Deno bench: one raw output per run. */
interface StoredPool {
  date: string;
  machine: Machine;
  command: string;
  runs: DenoBenchOutput[];
}

// --- arguments ------------------------------------------------------------------

const args = [...Deno.args];
const flag = (name: string) => {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
};
const option = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  if (v === undefined) throw new Error(`${name} needs a value`);
  args.splice(i, 2);
  return v;
};
const QUICK = flag("--quick");
const NO_IO = flag("--no-io");
const NO_README = flag("--no-readme");
const FROM = option("--from", "");
const OUT = option("--out", "bench/results");
const RUNS = Number(option("--runs", QUICK ? "1" : "3"));
const IO_SIZE = option("--io-size", QUICK ? "256MiB" : "");
if (args.length) throw new Error(`unknown arguments: ${args.join(" ")} (see bench/report.ts)`);
if (!(RUNS >= 1 && RUNS <= 20)) throw new Error("--runs must be 1 to 20");

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const dec = new TextDecoder();

// --- running --------------------------------------------------------------------

/** Runs a command in the checkout; stdout as text, stderr passed through. */
async function run(cmd: string, cmdArgs: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args: cmdArgs,
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`failed (exit ${out.code}): ${cmd} ${cmdArgs.join(" ")}`);
  return dec.decode(out.stdout);
}

/** Markdown as deno fmt lays it out (with this checkout's settings). */
async function formatMarkdown(text: string): Promise<string> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await p.output();
  if (!out.success) throw new Error("deno fmt failed on the README section");
  return dec.decode(out.stdout);
}

async function machine(): Promise<Machine> {
  const git = async (...a: string[]) => {
    try {
      return (await run("git", a)).trim();
    } catch {
      return "";
    }
  };
  return {
    cpu: "?", // filled from deno bench's own figure (reading /proc needs --allow-all)
    cpus: navigator.hardwareConcurrency,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30 * 10) / 10,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    zig: (await run("python3", ["-m", "ziglang", "version"])).trim(),
    commit: (await git("rev-parse", "--short=12", "HEAD")) || "?",
    dirty: (await git("status", "--porcelain", "--untracked-files=no")) !== "",
  };
}

const POOL_CMD = ["bench", "--json", "--allow-ffi", "--allow-env", "--allow-read"];

async function runPool(m: Machine): Promise<StoredPool> {
  const runs: DenoBenchOutput[] = [];
  for (let i = 0; i < RUNS; i++) {
    console.error(`report: deno bench, run ${i + 1} of ${RUNS}`);
    runs.push(JSON.parse(await run(Deno.execPath(), [...POOL_CMD, "bench/pool_bench.ts"])));
  }
  m.cpu = runs[0].cpu;
  return {
    date: new Date().toISOString(),
    machine: m,
    command: `deno ${POOL_CMD.join(" ")} bench/pool_bench.ts   # ${RUNS} times`,
    runs,
  };
}

/** Runs a bench that writes its JSON to a path; returns what it wrote. */
async function runToFile<T>(
  m: Machine,
  name: string,
  cmd: string,
  cmdArgs: (path: string) => string[],
): Promise<Stored<T>> {
  const tmp = `${ROOT}/${OUT}/${name}.tmp`;
  console.error(`report: ${name}`);
  await run(cmd, cmdArgs(tmp));
  const result = JSON.parse(await Deno.readTextFile(tmp)) as T;
  await Deno.remove(tmp);
  const shown = cmdArgs(`${name}.json`).join(" ");
  return {
    date: new Date().toISOString(),
    machine: m,
    command: `${cmd === Deno.execPath() ? "deno" : cmd} ${shown}`,
    result,
  };
}

function runC(m: Machine): Promise<Stored<CBenchOutput>> {
  return runToFile(m, "c_bench", "python3", (p) => [
    "-m",
    "ziglang",
    "build",
    "bench",
    "--",
    ...(QUICK ? ["--quick", "--runs", "3"] : []),
    "--json",
    p,
  ]);
}

async function runIo(m: Machine): Promise<Stored<IoBenchOutput>> {
  const ioArgs = ["run", "-A", "bench/io_bench.ts", ...(IO_SIZE ? ["--size", IO_SIZE] : [])];
  if (NO_IO) {
    return {
      date: new Date().toISOString(),
      machine: m,
      command: `deno ${ioArgs.join(" ")} --json io_bench.json`,
      result: null,
      skipped: "skipped (--no-io)",
    };
  }
  return await runToFile(
    m,
    "io_bench",
    Deno.execPath(),
    (p) => [...ioArgs, ...(QUICK ? ["--rounds", "1"] : []), "--json", p],
  );
}

// --- ratios ---------------------------------------------------------------------

/** Median, min and max. */
interface Spread {
  med: number;
  min: number;
  max: number;
}

function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const med = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { med, min: s[0], max: s[n - 1] };
}

/** One row of the Deno bench over every run. */
interface PoolRow {
  group: string;
  name: string;
  baseline: boolean;
  /** ns per iteration (deno's avg), over the runs. */
  ns: Spread;
  /** Time divided by the group's baseline's, over the runs. */
  ratio: Spread;
  /** The group's `new Uint8Array` row's time divided by this one's, over the runs. */
  vsPeer: Spread | null;
}

interface PoolGroup {
  name: string;
  baseline: string;
  peer: string | null;
  rows: PoolRow[];
}

const isPeer = (name: string) => name.startsWith("new Uint8Array(");

function poolGroups(stored: StoredPool): PoolGroup[] {
  const avg = (run: DenoBenchOutput, group: string, name: string) => {
    const b = run.benches.find((x) => (x.group ?? "") === group && x.name === name);
    const ok = b?.results[0]?.ok;
    if (!ok) throw new Error(`${group} / ${name}: no result in one of the runs`);
    return ok.avg;
  };
  const first = stored.runs[0];
  const groups: PoolGroup[] = [];
  for (const b of first.benches) {
    const group = b.group ?? "";
    if (groups.some((g) => g.name === group)) continue;
    const members = first.benches.filter((x) => (x.group ?? "") === group);
    const baseline = (members.find((x) => x.baseline) ?? members[0]).name;
    const peer = members.find((x) => isPeer(x.name))?.name ?? null;
    groups.push({
      name: group,
      baseline,
      peer,
      rows: members.map((x) => ({
        group,
        name: x.name,
        baseline: x.name === baseline,
        ns: spread(stored.runs.map((r) => avg(r, group, x.name))),
        ratio: spread(stored.runs.map((r) => avg(r, group, x.name) / avg(r, group, baseline))),
        vsPeer: peer === null
          ? null
          : spread(stored.runs.map((r) => avg(r, group, peer) / avg(r, group, x.name))),
      })),
    });
  }
  return groups;
}

/** A target of the issues, checked against the median over the runs. */
interface Target {
  what: string;
  goal: string;
  got: Spread;
  unit: string;
  /** The goal: at most (or at least) this. */
  limit: number;
  atMost: boolean;
  stretch?: { goal: string; met: boolean };
}

/** Met on the median; by how much it misses; whether the runs straddle the goal. */
function verdict(t: Target): string {
  const ok = (v: number) => (t.atMost ? v <= t.limit : v >= t.limit);
  const miss = t.unit === " ns"
    ? `${Math.abs(t.got.med - t.limit).toFixed(1)} ns`
    : `${(Math.abs(t.got.med / t.limit - 1) * 100).toFixed(0)}%`;
  return (ok(t.got.med) ? "met" : `**missed** by ${miss}`) +
    (ok(t.got.min) !== ok(t.got.max) ? " (the runs straddle the goal)" : "") +
    (t.stretch ? `; stretch ${t.stretch.goal}: ${t.stretch.met ? "met" : "missed"}` : "");
}

function targets(stored: StoredPool): Target[] {
  const avg = (run: DenoBenchOutput, group: string, name: string) =>
    run.benches.find((x) => (x.group ?? "") === group && x.name === name)?.results[0]?.ok?.avg ??
      NaN;
  const per = (f: (r: DenoBenchOutput) => number) => spread(stored.runs.map(f));
  const out: Target[] = [];
  const atMost = (limit: number) => ({ limit, atMost: true });
  for (const pool of ["buddy", "hybrid"]) {
    const got = per((r) =>
      avg(r, "4k", `${pool} 4 KiB alloc+release (manual)`) / avg(r, "4k", "empty FFI call (floor)")
    );
    out.push({
      what: `${pool} 4 KiB alloc+release (manual) ÷ empty FFI call`,
      goal: "≤ 3×",
      got,
      unit: "×",
      ...atMost(3),
      stretch: { goal: "≤ 2×", met: got.med <= 2 },
    });
  }
  for (const pool of ["buddy", "hybrid"]) {
    const got = per((r) =>
      avg(r, "using", `${pool} 4 KiB alloc with using`) -
      avg(r, "using", "using an empty disposable (floor)")
    );
    out.push({
      what: `${pool} 4 KiB with \`using\` − \`using\` an empty disposable`,
      goal: "≤ 25 ns",
      got,
      unit: " ns",
      ...atMost(25),
    });
  }
  for (const pool of ["buddy", "hybrid"]) {
    const got = per((r) =>
      avg(r, "64k", "new Uint8Array(65536)") /
      avg(r, "64k", `${pool} 64 KiB alloc+release (manual)`)
    );
    out.push({
      what: `new Uint8Array(65536) ÷ ${pool} 64 KiB alloc+release (manual)`,
      goal: "≥ 30×",
      got,
      unit: "×",
      limit: 30,
      atMost: false,
    });
  }
  const got = per((r) =>
    avg(r, "4k", "hybrid 4 KiB alloc+release (manual)") /
    avg(r, "4k", "buddy 4 KiB alloc+release (manual)")
  );
  out.push({
    what: "hybrid 4 KiB manual ÷ buddy 4 KiB manual",
    goal: "≤ 1× (no slower)",
    got,
    unit: "×",
    ...atMost(1),
  });
  return out;
}

// --- formatting -----------------------------------------------------------------

function fmtNs(ns: number): string {
  if (ns >= 1000) return `${(ns / 1000).toFixed(2)} µs`;
  return `${ns.toFixed(ns >= 100 ? 0 : 1)} ns`;
}

function fmtX(x: number): string {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 0.1) return x.toFixed(2);
  return x.toPrecision(2);
}

function fmtSpread(s: Spread, f: (x: number) => string, unit = ""): string {
  return s.min === s.max ? `${f(s.med)}${unit}` : `${f(s.med)}${unit} (${f(s.min)}–${f(s.max)})`;
}

/** A markdown table (deno fmt aligns it afterwards). */
function table(head: string[], align: ("l" | "r")[], rows: string[][]): string {
  const sep = align.map((a) => (a === "r" ? "---:" : "---"));
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(head), `|${sep.join("|")}|`, ...rows.map(line)].join("\n");
}

const md = (s: string) => s.replaceAll("*", "\\*").replaceAll("_", "\\_");

function machineLine(m: Machine, date: string): string {
  return `${m.cpu} × ${m.cpus} CPUs, ${m.memoryGiB} GiB, Linux ${m.kernel}; Deno ${m.deno} (V8 ${m.v8}), ` +
    `zig ${m.zig}; commit \`${m.commit}\`${m.dirty ? " (with local changes)" : ""}; ${
      date.replace(/\.\d+Z$/, "Z")
    }`;
}

function markdown(
  pool: StoredPool,
  c: Stored<CBenchOutput> | null,
  io: Stored<IoBenchOutput> | null,
  chartPath: string,
): string {
  const out: string[] = [];
  out.push(
    `Generated by \`deno task bench:report\` from \`bench/results/*.json\`; do not edit by hand.`,
    "",
    `Machine: ${machineLine(pool.machine, pool.date)}.`,
    "",
    `![Allocation cost relative to each group's baseline](${chartPath})`,
    "",
    "### Deno: allocation through the binding",
    "",
    `\`deno bench\`, ${pool.runs.length} runs (each one process, every group); figures are ` +
      `medians over the runs with min–max in parentheses. "× baseline" is the time divided by the ` +
      `group's baseline's in the same run (below 1 is faster); "new Uint8Array ÷ this" is how many ` +
      `times faster than allocating a new Uint8Array of the same size. "Manual" is ` +
      "`pool.alloc(n)` then `release()`; the preallocated row is a hand-rolled reuse of one " +
      "buffer, `pre.subarray(0, n)` per request.",
    "",
  );
  const rows: string[][] = [];
  for (const g of poolGroups(pool)) {
    for (const r of g.rows) {
      rows.push([
        md(g.name),
        md(r.name) + (r.baseline ? " **(baseline)**" : ""),
        nsCell(r.ns),
        r.baseline ? "1" : fmtSpread(r.ratio, fmtX),
        r.vsPeer === null ? "—" : fmtSpread(r.vsPeer, fmtX),
      ]);
    }
  }
  out.push(
    table(
      ["group", "benchmark", "time/iter", "× baseline", "new Uint8Array ÷ this"],
      ["l", "l", "r", "r", "r"],
      rows,
    ),
    "",
    "Targets (from the issues), on the medians over the runs:",
    "",
  );
  const t = targets(pool);
  out.push(
    table(
      ["target", "goal", "got (min–max)", "verdict"],
      ["l", "l", "r", "l"],
      t.map((x) => [
        x.what,
        x.goal,
        fmtSpread(x.got, (v) => v.toFixed(2), x.unit),
        verdict(x),
      ]),
    ),
    "",
  );
  out.push("### C: the allocators without the binding", "");
  if (c?.result) {
    const r = c.result;
    out.push(
      `\`vb_bench\`, ${r.runs} runs${r.quick ? " (quick)" : ""}; ns per alloc+free pair ` +
        `(median, min–max); "÷ glibc" and "÷ mimalloc" are the pair's time divided by theirs in the ` +
        `same run (below 1 is faster). Peers: ${
          Object.values(r.peers).join(", ")
        }. Every row, with the by-address and no-bitset variants: \`bench/results/c_bench.json\`.`,
      "",
    );
    const cRows: string[][] = [];
    for (const w of r.workloads) {
      for (const row of w.rows) {
        if (row.median_ns === null || !KEEP_C.has(`${row.allocator}|${row.calls}`)) continue;
        cRows.push([
          `\`${w.name}\``,
          row.allocator,
          row.calls,
          fmtSpread(
            { med: row.median_ns, min: row.min_ns!, max: row.max_ns! },
            (x) => x.toFixed(1),
            " ns",
          ),
          fmtX(row.ratio_glibc!),
          fmtX(row.ratio_mimalloc!),
        ]);
      }
    }
    out.push(
      ...r.workloads.map((w) => `- \`${w.name}\`: ${w.what}`),
      "",
      table(
        ["workload", "allocator", "calls", "ns/pair", "÷ glibc", "÷ mimalloc"],
        ["l", "l", "l", "r", "r", "r"],
        cRows,
      ),
      "",
    );
  } else out.push("Not run.", "");
  out.push("### I/O: O_DIRECT reads beside fio", "");
  if (io?.result) {
    const r = io.result;
    out.push(
      `\`io_bench.ts\`, ${r.size / 2 ** 30} GiB file, median of ${r.rounds} interleaved rounds; ` +
        `"÷ fio --fixedbufs" is the throughput divided by fio's with registered buffers in the ` +
        "same run (above 1 is faster). The Deno row is buffered (Deno has no O_DIRECT).",
      "",
      table(
        ["workload", "reader", "MiB/s", "IOPS", "CPU s/GiB", "÷ fio --fixedbufs"],
        ["l", "l", "r", "r", "r", "r"],
        r.results.map((x) => [
          x.workload === "seq" ? "sequential 128 KiB QD16" : "random 4 KiB QD32",
          x.name,
          (x.bytesPerSec / 2 ** 20).toFixed(0),
          x.iops.toFixed(0),
          x.cpuSecPerGiB.toFixed(3),
          x.ratio === null ? "—" : x.ratio.toFixed(2),
        ]),
      ),
      "",
    );
  } else out.push(`Not run: ${io?.skipped ?? "no io_bench.json"}.`, "");
  out.push(ioQdSection(ROOT)); // completion path (w14): bench/report_io_qd.ts
  out.push("Reproduce (from the repository root, after `deno task build`):", "", "```sh");
  out.push(
    "deno task bench:report   # all of the below, then this section and the chart",
    `${pool.command}`,
  );
  if (c) out.push(c.command);
  if (io) out.push(io.command);
  out.push("```");
  return out.join("\n") + "\n";
}

/** The C rows shown in the table: pools by handle, and the peers. */
const KEEP_C = new Set([
  "BuddyPool|vb_pool_alloc / vb_pool_free",
  "HybridPool|vb_pool_alloc / vb_pool_free",
  "glibc|posix_memalign / free",
  "mimalloc|mi_malloc_aligned / mi_free",
  "jemalloc (LD_PRELOAD)|posix_memalign / free",
]);

/** A time with its spread, in the unit of its median. */
function nsCell(s: Spread): string {
  const micro = s.med >= 1000;
  const f = (x: number) => micro ? (x / 1000).toFixed(2) : x.toFixed(x >= 100 ? 0 : 1);
  return fmtSpread(s, f, micro ? " µs" : " ns");
}

// --- the chart ------------------------------------------------------------------

const esc = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** Horizontal bars on a log axis: each row's time relative to its group's
 * baseline, from 1× (the baseline) to the median, with the min-max over
 * the runs as a whisker. */
function chart(pool: StoredPool): string {
  const groups = poolGroups(pool);
  const W = 1000, labelRight = 370, plotL = 385, plotR = 795, valueL = 808;
  const rowH = 19, groupH = 30, top = 96;
  const all = groups.flatMap((g) => g.rows.map((r) => r.ratio));
  const lo = Math.floor(Math.log10(Math.min(1, ...all.map((s) => s.min))));
  const hi = Math.ceil(Math.log10(Math.max(1, ...all.map((s) => s.max))));
  const x = (v: number) => plotL + (Math.log10(v) - lo) / (hi - lo) * (plotR - plotL);
  const color = (name: string) =>
    name.startsWith("buddy")
      ? "#2b6cb0"
      : name.startsWith("hybrid")
      ? "#dd6b20"
      : isPeer(name)
      ? "#718096"
      : "#a0aec0";
  const rowsHeight = groups.reduce((n, g) => n + groupH + g.rows.length * rowH, 0);
  const H = top + rowsHeight + 72;
  const s: string[] = [];
  s.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="20" y="26" font-size="16" font-weight="bold">veloq buffer: allocation cost ` +
      `relative to each group's baseline (log scale)</text>`,
    `<text x="20" y="46" fill="#4a5568">deno bench, median of ${pool.runs.length} runs ` +
      `(whisker: min–max); left of 1× is faster than the baseline, right is slower</text>`,
  );
  // legend
  const legend: [string, string][] = [
    ["BuddyPool", "#2b6cb0"],
    ["HybridPool", "#dd6b20"],
    ["new Uint8Array(n)", "#718096"],
    ["floors, preallocated subarray", "#a0aec0"],
  ];
  legend.forEach(([label, c], i) => {
    const lx = 20 + i * 170;
    s.push(
      `<rect x="${lx}" y="56" width="12" height="12" fill="${c}"/>`,
      `<text x="${lx + 18}" y="66">${label}</text>`,
    );
  });
  // grid and axis labels
  const axisY = [top - 4, top + rowsHeight + 4];
  for (let e = lo; e <= hi; e++) {
    const gx = x(10 ** e);
    s.push(
      `<line x1="${gx}" y1="${axisY[0]}" x2="${gx}" y2="${axisY[1]}" stroke="${
        e === 0 ? "#1a202c" : "#e2e8f0"
      }" stroke-width="${e === 0 ? 1.5 : 1}"/>`,
    );
    const tick = e >= 0 ? `${10 ** e}×` : `1/${10 ** -e}×`;
    for (const ty of [axisY[0] - 6, axisY[1] + 16]) {
      s.push(`<text x="${gx}" y="${ty}" text-anchor="middle" fill="#4a5568">${tick}</text>`);
    }
  }
  s.push(
    `<text x="${(plotL + plotR) / 2}" y="${axisY[1] + 34}" text-anchor="middle" fill="#4a5568">` +
      `time ÷ the group's baseline</text>`,
  );
  let y = top;
  for (const g of groups) {
    const base = g.rows.find((r) => r.baseline)!;
    s.push(
      `<text x="20" y="${y + 20}"><tspan font-weight="bold">${esc(g.name)}</tspan>` +
        `<tspan fill="#4a5568" font-style="italic" dx="12">baseline: ${esc(base.name)}, ` +
        `${esc(fmtNs(base.ns.med))}</tspan></text>`,
    );
    y += groupH;
    for (const r of g.rows) {
      const cy = y + rowH / 2;
      s.push(
        `<text x="${labelRight}" y="${cy + 4}" text-anchor="end">${esc(r.name)}</text>`,
      );
      if (r.baseline) {
        s.push(
          `<circle cx="${x(1)}" cy="${cy}" r="4" fill="${color(r.name)}"/>`,
          `<text x="${valueL}" y="${cy + 4}" fill="#4a5568">${
            esc(fmtNs(r.ns.med))
          } (baseline)</text>`,
        );
      } else {
        const a = x(Math.min(1, r.ratio.med)), b = x(Math.max(1, r.ratio.med));
        const words = r.ratio.med < 1
          ? `${fmtX(1 / r.ratio.med)}× faster`
          : `${fmtX(r.ratio.med)}× slower`;
        s.push(
          `<rect x="${a}" y="${cy - 6}" width="${Math.max(1, b - a)}" height="12" fill="${
            color(r.name)
          }"/>`,
          `<line x1="${x(r.ratio.min)}" y1="${cy}" x2="${x(r.ratio.max)}" y2="${cy}" ` +
            `stroke="#1a202c" stroke-width="1"/>`,
          `<line x1="${x(r.ratio.min)}" y1="${cy - 4}" x2="${x(r.ratio.min)}" y2="${cy + 4}" ` +
            `stroke="#1a202c"/>`,
          `<line x1="${x(r.ratio.max)}" y1="${cy - 4}" x2="${x(r.ratio.max)}" y2="${cy + 4}" ` +
            `stroke="#1a202c"/>`,
          `<text x="${valueL}" y="${cy + 4}">${esc(fmtNs(r.ns.med))}, ${esc(words)}</text>`,
        );
      }
      y += rowH;
    }
  }
  s.push(
    `<text x="20" y="${H - 10}" fill="#4a5568" font-size="11">${
      esc(machineLine(pool.machine, pool.date).replaceAll("`", ""))
    }</text>`,
    "</svg>",
  );
  return s.join("\n") + "\n";
}

// --- README ---------------------------------------------------------------------

const START = "<!-- results:start -->";
const END = "<!-- results:end -->";

async function updateReadme(section: string): Promise<void> {
  const path = `${ROOT}/README.md`;
  const text = await Deno.readTextFile(path);
  const a = text.indexOf(START), b = text.indexOf(END);
  if (a < 0 || b < a) {
    throw new Error(
      `README.md has no ${START} ... ${END} markers: add a "## Results" section with them`,
    );
  }
  const next = `${text.slice(0, a + START.length)}\n\n${section.trim()}\n\n${text.slice(b)}`;
  if (next !== text) await Deno.writeTextFile(path, next);
}

// --- main -----------------------------------------------------------------------

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function main(): Promise<void> {
  const outDir = `${ROOT}/${OUT}`;
  await Deno.mkdir(outDir, { recursive: true });
  let pool: StoredPool;
  let c: Stored<CBenchOutput> | null;
  let io: Stored<IoBenchOutput> | null;
  if (FROM) {
    const dir = FROM.startsWith("/") ? FROM : `${ROOT}/${FROM}`;
    const p = await readJson<StoredPool>(`${dir}/pool_bench.json`);
    if (!p) throw new Error(`${dir}/pool_bench.json not found`);
    pool = p;
    c = await readJson(`${dir}/c_bench.json`);
    io = await readJson(`${dir}/io_bench.json`);
  } else {
    const m = await machine();
    pool = await runPool(m);
    c = await runC(m);
    io = await runIo(m);
  }
  const durable = await durableSection({
    root: ROOT,
    outDir,
    from: FROM ? (FROM.startsWith("/") ? FROM : `${ROOT}/${FROM}`) : null,
    quick: QUICK,
    skip: NO_IO,
  }) + netSection(`${outDir}/net_bench.json`); // bench/report_durable.ts, bench/report_net.ts
  const written: string[] = [];
  const write = async (name: string, text: string) => {
    await Deno.writeTextFile(`${outDir}/${name}`, text);
    written.push(`${outDir}/${name}`);
  };
  const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
  await write("pool_bench.json", json(pool));
  if (c) await write("c_bench.json", json(c));
  if (io) await write("io_bench.json", json(io));
  await write("chart.svg", chart(pool));
  await write(
    "results.md",
    "# Benchmark results\n\n" + markdown(pool, c, io, "chart.svg") + durable,
  );
  // deno fmt lays the tables out, so `deno fmt --check` passes on them.
  await run(Deno.execPath(), ["fmt", "--quiet", ...written]);
  if (!NO_README) {
    await updateReadme(await formatMarkdown(markdown(pool, c, io, `${OUT}/chart.svg`) + durable));
  }
  const mdPath = `${outDir}/results.md`;
  console.log(await Deno.readTextFile(mdPath));
  console.error(
    `report: ${OUT}/results.md, ${OUT}/chart.svg${NO_README ? "" : ", README.md"} written`,
  );
}

if (import.meta.main) await main();

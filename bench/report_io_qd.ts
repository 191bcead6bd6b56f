/**
 * The completion-path tables of the README Results (issue 14), from
 * bench/results/io_qd.json written by `deno task bench:io-qd`
 * (bench/io_qd_bench.ts). bench/report.ts calls ioQdSection().
 *
 * @module
 */

interface Ratio {
  median: number;
  min: number;
  max: number;
}
interface IoQd {
  date: string;
  kernel: string;
  deno: string;
  size: number;
  rounds: number;
  shared: string;
  command: string;
  reads: {
    workload: string;
    ringIops: number;
    fioIops: number;
    ringMiBs: number;
    fioMiBs: number;
    ringCpuSecPerGiB: number;
    fioCpuSecPerGiB: number;
    ratio: Ratio;
    perWake?: number;
    polled?: number;
    deliveryUs?: number;
    floorIops?: number | null;
    floorRatio?: Ratio | null;
    cFloorIops?: number | null;
    cFloorRatio?: Ratio | null;
    ringToFloor?: Ratio | null;
  }[];
  copy: Copy;
  /** The same copies with `submit: "gather"` (absent in older results). */
  copyGather?: Copy | null;
}
interface Copy {
  blockSize: number;
  qd: number;
  awaitMiBs: number;
  callbackMiBs: number;
  awaitSubmitsPerRequest: number;
  callbackSubmitsPerRequest: number;
  awaitWakeupsPerRequest: number;
  callbackWakeupsPerRequest: number;
  ratio: Ratio;
}

/** The await and callback rows of one copy policy. */
function copyRows(policy: string, c: Copy): string[] {
  return [
    `| ${policy} | await loop | ${c.awaitMiBs.toFixed(0)} | ${
      c.awaitSubmitsPerRequest.toFixed(3)
    } | ${c.awaitWakeupsPerRequest.toFixed(3)} |`,
    `| ${policy} | callbacks | ${c.callbackMiBs.toFixed(0)} | ${
      c.callbackSubmitsPerRequest.toFixed(3)
    } | ${c.callbackWakeupsPerRequest.toFixed(3)} |`,
    `| ${policy} | **await ÷ callback** | **${pct(c.ratio)}** | | |`,
  ];
}

const pct = (r: Ratio) =>
  `${(r.median * 100).toFixed(0)}% (${(r.min * 100).toFixed(0)}-${(r.max * 100).toFixed(0)})`;

/** The synchronous FFI floor beside fio and the Ring (rows that have it). */
function floorTable(d: IoQd): string[] {
  const rows = d.reads.filter((r) => r.floorIops && r.floorRatio && r.ringToFloor);
  if (rows.length === 0) return [];
  return [
    "Where the rest goes: the same reads on the same kind of Ring, driven by a synchronous loop " +
    "of FFI calls (a blocking reap, then prep and submit each next request at once, as fio " +
    "does; no promise, no await, no waiter), as a C program would drive it. _floor ÷ fio_ is what JavaScript on Deno can reach at best; " +
    "_Ring ÷ floor_ is the cost of the promise API (settle, await continuation, next request) " +
    "per request. _C floor_ is the same loop in C on the library's own ring (same setup: " +
    "COOP_TASKRUN, the eventfd, the registered pool; bench/qd_c_floor.c): beside fio it is what " +
    "the ring setup costs, beside the JS floor what Deno's FFI and runtime cost. Same rounds as " +
    "above.",
    "",
    "| workload | C floor ÷ fio | JS floor IOPS | JS floor ÷ fio | Ring ÷ JS floor |",
    "|---|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.workload} | ${r.cFloorRatio ? pct(r.cFloorRatio) : "—"} | ${
        r.floorIops!.toFixed(0)
      } | ${pct(r.floorRatio!)} | ${pct(r.ringToFloor!)} |`
    ),
    "",
  ];
}

/** Markdown for the completion path, or a line saying how to make it. */
export function ioQdSection(root: string): string {
  let d: IoQd;
  try {
    d = JSON.parse(Deno.readTextFileSync(`${root}/bench/results/io_qd.json`));
  } catch {
    return "### I/O: completion path (QD table, await vs callback)\n\n" +
      "Not run: `flock /tmp/veloq-bench.lock deno task bench:io-qd --json bench/results/io_qd.json`.\n";
  }
  const c = d.copy;
  const out = [
    "### I/O: completion path (QD table, await vs callback)",
    "",
    `\`io_qd_bench.ts\`, ${d.size / 2 ** 20} MiB O_DIRECT file, ${d.rounds} rounds, each row ` +
    `interleaved with \`fio --ioengine=io_uring --fixedbufs\` (order alternating per round); ` +
    `"÷ fio" is the median of the per-round ratios, (min-max) their spread. ${d.date}, ` +
    `Linux ${d.kernel}, Deno ${d.deno}. Measured while ${d.shared}: expect noise.`,
    "",
    "| workload | Ring IOPS | fio IOPS | ÷ fio | Ring CPU s/GiB | fio CPU s/GiB | per wake-up | inline | delivery µs |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...d.reads.map((r) =>
      `| ${r.workload} | ${r.ringIops.toFixed(0)} | ${r.fioIops.toFixed(0)} | ${pct(r.ratio)} | ${
        r.ringCpuSecPerGiB.toFixed(2)
      } | ${r.fioCpuSecPerGiB.toFixed(2)} | ${r.perWake?.toFixed(1) ?? "—"} | ${
        r.polled === undefined ? "—" : `${(r.polled * 100).toFixed(0)}%`
      } | ${r.deliveryUs?.toFixed(0) ?? "—"} |`
    ),
    "",
    "*per wake-up*: completions per drain after a wait; *inline*: share of waits served on the " +
    "JS thread itself (a short poll, or a block in the kernel of up to 1 ms: no helper thread, no " +
    "hand-over); *delivery*: mean time from the helper thread's " +
    "return from the kernel to the JS handler (Deno's blocking pool -> event loop -> promise), " +
    "a cost fio, which waits in its own thread, does not pay.",
    "",
    ...floorTable(d),
    `O_DIRECT copy of the file, ${c.blockSize / 1024} KiB blocks, ${c.qd} workers, registered ` +
    "buffers: each worker awaits its read then its write (await), or chains them with `.then` " +
    '(callback). Under the default `submit: "auto"` each O_DIRECT request is submitted ' +
    'when it is made; under `submit: "gather"` the requests of a batch, across await ' +
    "chains, go in one submit.",
    "",
    "| submit policy | style | MiB/s | submit calls / request | wake-ups / request |",
    "|---|---|---:|---:|---:|",
    ...copyRows("auto (default)", c),
    ...(d.copyGather ? copyRows("gather", d.copyGather) : []),
    "",
    `Reproduce: \`${d.command}\``,
    "",
  ];
  return out.join("\n");
}

/**
 * Durable-append bench (issue 15): 4 KiB appends made durable, one writer,
 * committed one by one (group 1) and in groups of 8 and 64 appends per
 * fdatasync, by
 *
 *   - Ring: the group's appends in one request (`ring.write` for one,
 *     `ring.writev` of G registered 4 KiB buffers for more) with
 *     `{ link: true }`, then `ring.fsync(f, { dataOnly: true })`: one chain,
 *     one submit per group; O_DIRECT and buffered;
 *   - Deno: `FsFile.write` per append + `FsFile.syncData()` per group
 *     (buffered: Deno has no O_DIRECT);
 *   - fio: `--rw=write --bs=4k --fdatasync=G --ioengine=psync`, buffered and
 *     `--direct=1` (pwrite + fdatasync, the classic durable append).
 *
 * Every cell appends to a fresh file (the file grows, as a log does) for
 * the same time. Rounds interleave the cells (order rotated each round),
 * and each round's ratios are taken within the round; the table shows the
 * median ratio over rounds with its min-max. The machine is shared: noise
 * is expected, hence the interleaving and the spread.
 *
 *   deno run -A bench/durable_bench.ts [--rounds 20] [--seconds 0.3] [--groups 1,8,64]
 *                                      [--dir DIR] [--json out.json]
 *
 * fio is optional (apt-get install fio); without it those cells are skipped.
 */
import { runFio } from "./fio.ts";
import { BuddyPool, openFile, Ring } from "../mod.ts";

const args = Deno.args;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt("--rounds", "20"));
const SECONDS = Number(opt("--seconds", "0.3"));
const GROUPS = opt("--groups", "1,8,64").split(",").map(Number);
const JSON_OUT = opt("--json", "");
const DIR = opt("--dir", new URL("..", import.meta.url).pathname);
const BS = 4096;

/** One cell's measurement. */
interface Cell {
  name: string;
  group: number;
  round: number;
  appendsPerSec: number;
  /** Mean time of one commit (a group of appends + its sync), ms. */
  commitMeanMs: number;
  /** Median commit time, ms (fio: G x median pwrite + median fdatasync). */
  commitP50Ms: number;
  /** 99th percentile of the commit time, ms (null where not measured). */
  commitP99Ms: number | null;
}

const PEERS = [
  "ring O_DIRECT",
  "ring buffered",
  "Deno FsFile",
  "fio O_DIRECT",
  "fio buffered",
] as const;
type Peer = typeof PEERS[number];

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

/** A cell from the commit times measured since `start`. */
function measured(
  name: string,
  group: number,
  round: number,
  start: number,
  times: number[],
): Cell {
  const secs = (performance.now() - start) / 1000;
  return {
    name,
    group,
    round,
    appendsPerSec: (times.length * group) / secs,
    commitMeanMs: times.reduce((a, b) => a + b, 0) / times.length,
    commitP50Ms: percentile(times, 0.5),
    commitP99Ms: percentile(times, 0.99),
  };
}

async function freshPath(): Promise<string> {
  const p = await Deno.makeTempFile({ dir: DIR, prefix: ".durable-" });
  await Deno.remove(p);
  return p;
}

async function ringCell(direct: boolean, group: number, round: number): Promise<Cell> {
  const path = await freshPath();
  using ring = new Ring({ entries: 256 });
  using pool = BuddyPool.create({ arenaSize: 1 << 20, registrar: ring });
  const bufs = Array.from({ length: group }, (_, i) => {
    const b = pool.alloc(BS);
    b.bytes.fill(i & 0xff);
    return b;
  });
  try {
    using file = openFile(path, { write: true, create: true, truncate: true, direct });
    const times: number[] = [];
    const link = { link: true };
    let off = 0;
    const start = performance.now();
    const end = start + SECONDS * 1000;
    const sync = { dataOnly: true };
    while (performance.now() < end) {
      const t0 = performance.now();
      // One request for the group (WRITE_FIXED for one, WRITEV for more),
      // linked to the fdatasync: one chain, one submit.
      const written = group === 1
        ? ring.write(file, bufs[0], off, link)
        : ring.writev(file, bufs, off, link);
      await Promise.all([written, ring.fsync(file, sync)]);
      off += group * BS;
      times.push(performance.now() - t0);
    }
    return measured(direct ? "ring O_DIRECT" : "ring buffered", group, round, start, times);
  } finally {
    for (const b of bufs) b.release();
    await Deno.remove(path);
  }
}

async function denoCell(group: number, round: number): Promise<Cell> {
  const path = await freshPath();
  const data = new Uint8Array(BS).fill(7);
  try {
    using file = await Deno.open(path, { write: true, create: true, truncate: true });
    const times: number[] = [];
    const start = performance.now();
    const end = start + SECONDS * 1000;
    while (performance.now() < end) {
      const t0 = performance.now();
      for (let i = 0; i < group; i++) {
        for (let n = 0; n < BS;) n += await file.write(data.subarray(n));
      }
      await file.syncData();
      times.push(performance.now() - t0);
    }
    return measured("Deno FsFile", group, round, start, times);
  } finally {
    await Deno.remove(path);
  }
}

async function fioCell(direct: boolean, group: number, round: number): Promise<Cell | null> {
  const path = await freshPath();
  const fioArgs = [
    "--name=durable",
    `--filename=${path}`,
    "--rw=write",
    `--bs=${BS}`,
    "--size=4g",
    `--runtime=${Math.round(SECONDS * 1000)}ms`,
    `--fdatasync=${group}`,
    "--ioengine=psync",
    `--direct=${direct ? 1 : 0}`,
    "--fallocate=none",
    "--output-format=json",
  ];
  let job;
  try {
    job = await runFio(fioArgs);
  } finally {
    await Deno.remove(path).catch(() => {});
  }
  if (job === null) return null;
  const iops: number = job.write.iops;
  const p50 = (lat: { percentile?: Record<string, number> }) =>
    (lat.percentile?.["50.000000"] ?? 0) / 1e6;
  return {
    name: direct ? "fio O_DIRECT" : "fio buffered",
    group,
    round,
    appendsPerSec: iops,
    commitMeanMs: (group / iops) * 1000, // one writer: a commit every `group` appends
    commitP50Ms: group * p50(job.write.clat_ns) + p50(job.sync.lat_ns),
    commitP99Ms: null,
  };
}

function runCell(peer: Peer, group: number, round: number): Promise<Cell | null> {
  switch (peer) {
    case "ring O_DIRECT":
      return ringCell(true, group, round);
    case "ring buffered":
      return ringCell(false, group, round);
    case "Deno FsFile":
      return denoCell(group, round);
    case "fio O_DIRECT":
      return fioCell(true, group, round);
    case "fio buffered":
      return fioCell(false, group, round);
  }
}

/** Median and range. */
interface Spread {
  med: number;
  min: number;
  max: number;
}

function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  return { med: s[Math.floor((s.length - 1) / 2)], min: s[0], max: s[s.length - 1] };
}

/** The ratios reported, each within a round: [label, numerator, denominator]. */
const RATIOS: [string, Peer, Peer][] = [
  ["ring O_DIRECT ÷ fio O_DIRECT", "ring O_DIRECT", "fio O_DIRECT"],
  ["ring buffered ÷ fio buffered", "ring buffered", "fio buffered"],
  ["ring buffered ÷ Deno FsFile", "ring buffered", "Deno FsFile"],
  ["ring O_DIRECT ÷ Deno FsFile", "ring O_DIRECT", "Deno FsFile"],
];

async function main(): Promise<void> {
  console.error(
    `durable appends: ${BS} B, groups ${
      GROUPS.join("/")
    }, ${ROUNDS} rounds x ${SECONDS} s per cell, in ${DIR}`,
  );
  const cells: Cell[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const group of GROUPS) {
      // Rotate the order each round: drift hits every peer alike.
      const order = PEERS.map((_, i) => PEERS[(i + round) % PEERS.length]);
      for (const peer of order) {
        const c = await runCell(peer, group, round);
        if (c) {
          cells.push(c);
          console.error(
            `round ${round} group ${group} ${peer}: ${c.appendsPerSec.toFixed(0)} appends/s`,
          );
        }
      }
    }
  }
  const rows = [];
  const ratios = [];
  for (const group of GROUPS) {
    for (const peer of PEERS) {
      const xs = cells.filter((c) => c.group === group && c.name === peer);
      if (xs.length === 0) continue;
      const p99 = xs.map((c) => c.commitP99Ms).filter((x): x is number => x !== null);
      rows.push({
        group,
        name: peer,
        appendsPerSec: spread(xs.map((c) => c.appendsPerSec)),
        commitMeanMs: spread(xs.map((c) => c.commitMeanMs)).med,
        commitP50Ms: spread(xs.map((c) => c.commitP50Ms)).med,
        commitP99Ms: p99.length ? spread(p99).med : null,
      });
    }
    for (const [label, num, den] of RATIOS) {
      const per: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const a = cells.find((c) => c.group === group && c.round === round && c.name === num);
        const b = cells.find((c) => c.group === group && c.round === round && c.name === den);
        if (a && b) per.push(a.appendsPerSec / b.appendsPerSec);
      }
      if (per.length) ratios.push({ group, label, ratio: spread(per), rounds: per.length });
      // The same by median commit time (robust to bursts of noise from the
      // shared disk): rate-equivalent G / p50, num over den.
      const byP50: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const a = cells.find((c) => c.group === group && c.round === round && c.name === num);
        const b = cells.find((c) => c.group === group && c.round === round && c.name === den);
        if (a && b && a.commitP50Ms > 0) byP50.push(b.commitP50Ms / a.commitP50Ms);
      }
      if (byP50.length) {
        ratios.push({
          group,
          label: `${label} (by median commit time)`,
          ratio: spread(byP50),
          rounds: byP50.length,
        });
      }
    }
  }
  for (const r of rows) {
    console.log(
      `group ${r.group}\t${r.name}\t${r.appendsPerSec.med.toFixed(0)} appends/s (${
        r.appendsPerSec.min.toFixed(0)
      }-${r.appendsPerSec.max.toFixed(0)})\tcommit ${r.commitMeanMs.toFixed(3)} ms mean${
        r.commitP99Ms === null ? "" : `, ${r.commitP99Ms.toFixed(3)} ms p99`
      }`,
    );
  }
  for (const r of ratios) {
    console.log(
      `group ${r.group}\t${r.label}\t${r.ratio.med.toFixed(3)} (${r.ratio.min.toFixed(3)}-${
        r.ratio.max.toFixed(3)
      }, ${r.rounds} rounds)`,
    );
  }
  if (JSON_OUT) {
    await Deno.writeTextFile(
      JSON_OUT,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          kernel: Deno.osRelease(),
          deno: Deno.version.deno,
          blockSize: BS,
          rounds: ROUNDS,
          secondsPerCell: SECONDS,
          groups: GROUPS,
          dir: DIR,
          rows,
          ratios,
          cells,
        },
        null,
        2,
      ) + "\n",
    );
  }
}

await main();

/**
 * I/O bench: O_DIRECT reads through Ring with registered buffers, the same
 * without registration, Deno's own FsFile.read (buffered: Deno has no
 * O_DIRECT), and fio's io_uring engine with and without --fixedbufs, on the
 * same file with the same block size and queue depth, interleaved in ONE run
 * and reported as ratios to fio --fixedbufs.
 *
 *   deno task bench:io [--size 1GiB] [--rounds 3] [--file PATH] [--json out.json]
 *
 * fio is optional (apt-get install fio); without it those rows are skipped
 * with a message. CPU time per GiB is process CPU (user + system, all
 * threads) divided by the bytes moved.
 */
import { runFio } from "./fio.ts";
import process from "node:process";
import { BuddyPool, type FixedBuf, HybridPool, openFile, Ring } from "../mod.ts";

interface Result {
  name: string;
  workload: string;
  bytesPerSec: number;
  iops: number;
  cpuSecPerGiB: number;
}

const args = Deno.args;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const GiB = 1024 ** 3;
const parseSize = (s: string) => {
  const m = /^(\d+)([KMG]?)(i?B)?$/i.exec(s)!;
  return Number(m[1]) * ({ "": 1, K: 1024, M: 1024 ** 2, G: GiB }[m[2].toUpperCase()] ?? 1);
};
const SIZE = parseSize(opt("--size", "1GiB"));
const ROUNDS = Number(opt("--rounds", "3"));
const JSON_OUT = opt("--json", "");
const RANDOM_OPS = Number(opt("--random-ops", "200000"));

const WORKLOADS = {
  seq: { bs: 128 * 1024, qd: 16, label: "sequential 128 KiB QD16" },
  rand: { bs: 4096, qd: 32, label: "random 4 KiB QD32" },
} as const;
type Workload = keyof typeof WORKLOADS;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Writes the test file once through the ring (O_DIRECT, registered). */
async function prepare(path: string): Promise<void> {
  try {
    if ((await Deno.stat(path)).size === SIZE) return;
  } catch { /* missing: write it */ }
  using ring = new Ring({ entries: 64 });
  using pool = BuddyPool.create({ arenaSize: 16 << 20, registrar: ring });
  using file = openFile(path, { write: true, create: true, truncate: true, direct: true });
  const bs = 1 << 20;
  for (let off = 0; off < SIZE; off += bs * 8) {
    const bufs = Array.from({ length: Math.min(8, (SIZE - off) / bs) }, () => pool.alloc(bs));
    bufs.forEach((b, i) => b.bytes.fill((off / bs + i) & 0xff));
    await Promise.all(bufs.map((b, i) => ring.write(file, b, off + i * bs)));
    bufs.forEach((b) => b.release());
  }
}

/** Deterministic block offsets for the random workload (same in every run). */
function randomOffsets(n: number, bs: number): Float64Array {
  const blocks = SIZE / bs;
  const out = new Float64Array(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
    out[i] = ((x >>> 0) % blocks) * bs;
  }
  return out;
}

/** Our Ring: QD workers, each keeps one read in flight with its own buffer. */
async function ringRun(w: Workload, registered: boolean, path: string): Promise<Result> {
  const { bs, qd } = WORKLOADS[w];
  using ring = new Ring({ entries: 128 });
  using pool = HybridPool.create({
    classes: [{ size: bs, count: qd }],
    registrar: registered ? ring : undefined,
  });
  using file = openFile(path, { read: true, direct: true });
  const bufs: FixedBuf[] = Array.from({ length: qd }, () => pool.alloc(bs));
  const ops = w === "seq" ? SIZE / bs : RANDOM_OPS;
  const offsets = w === "seq" ? null : randomOffsets(ops, bs);
  let next = 0;
  const c0 = cpuSeconds(), t0 = performance.now();
  await Promise.all(bufs.map(async (buf) => {
    while (next < ops) {
      const i = next++;
      await ring.read(file, buf, offsets ? offsets[i] : i * bs);
    }
  }));
  const secs = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
  bufs.forEach((b) => b.release());
  const bytes = ops * bs;
  return {
    name: registered ? "Ring, registered (READ_FIXED)" : "Ring, unregistered (READ)",
    workload: w,
    bytesPerSec: bytes / secs,
    iops: ops / secs,
    cpuSecPerGiB: cpu / (bytes / GiB),
  };
}

/** Deno's FsFile.read: buffered, one request at a time per file handle, so
 * QD handles each read their share. */
async function denoRun(w: Workload, path: string): Promise<Result> {
  const { bs, qd } = WORKLOADS[w];
  const ops = w === "seq" ? SIZE / bs : RANDOM_OPS;
  const offsets = w === "seq" ? null : randomOffsets(ops, bs);
  const files = await Promise.all(Array.from({ length: qd }, () => Deno.open(path)));
  // The page cache would make a re-read free; drop this file's pages first.
  await dropCache(path);
  let next = 0;
  const c0 = cpuSeconds(), t0 = performance.now();
  await Promise.all(files.map(async (f) => {
    const buf = new Uint8Array(bs);
    while (next < ops) {
      const i = next++;
      await f.seek(offsets ? offsets[i] : i * bs, Deno.SeekMode.Start);
      let got = 0;
      while (got < bs) {
        const n = await f.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
    }
  }));
  const secs = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
  files.forEach((f) => f.close());
  const bytes = ops * bs;
  return {
    name: "Deno FsFile.read (buffered, cold cache)",
    workload: w,
    bytesPerSec: bytes / secs,
    iops: ops / secs,
    cpuSecPerGiB: cpu / (bytes / GiB),
  };
}

/** posix_fadvise(DONTNEED) through dd, so no extra FFI is needed. */
async function dropCache(path: string): Promise<void> {
  await new Deno.Command("dd", {
    args: [`if=${path}`, "iflag=nocache", "count=0", "status=none"],
  }).output();
}

async function fioRun(w: Workload, fixed: boolean, path: string): Promise<Result | null> {
  const { bs, qd } = WORKLOADS[w];
  const fioArgs = [
    "--name=veloq",
    `--filename=${path}`,
    `--size=${SIZE}`,
    `--rw=${w === "seq" ? "read" : "randread"}`,
    `--bs=${bs}`,
    `--iodepth=${qd}`,
    "--direct=1",
    "--ioengine=io_uring",
    "--output-format=json",
  ];
  if (w === "rand") fioArgs.push(`--number_ios=${RANDOM_OPS}`, "--randrepeat=1");
  if (fixed) fioArgs.push("--fixedbufs");
  const job = await runFio(fioArgs);
  if (job === null) return null;
  const secs = job.read.runtime / 1000;
  const cpu = (job.usr_cpu + job.sys_cpu) / 100 * secs;
  const bytes = job.read.io_bytes;
  return {
    name: fixed ? "fio io_uring --fixedbufs" : "fio io_uring",
    workload: w,
    bytesPerSec: job.read.bw_bytes,
    iops: job.read.iops,
    cpuSecPerGiB: cpu / (bytes / GiB),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  const path = opt("--file", "") || await Deno.makeTempFile({ prefix: "veloq-io-" });
  console.log(
    `file ${path}, ${SIZE / GiB} GiB, ${ROUNDS} rounds (median), kernel ${Deno.osRelease()}`,
  );
  await prepare(path);
  const all: Result[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const w of Object.keys(WORKLOADS) as Workload[]) {
      // Interleaved so that drift in the machine hits every row alike.
      const row = [
        await fioRun(w, true, path),
        await ringRun(w, true, path),
        await fioRun(w, false, path),
        await ringRun(w, false, path),
        await denoRun(w, path),
      ];
      for (const x of row) if (x) all.push(x);
    }
  }
  const summary: (Result & { ratio: number | null })[] = [];
  for (const w of Object.keys(WORKLOADS) as Workload[]) {
    const names = [...new Set(all.filter((x) => x.workload === w).map((x) => x.name))];
    const rows = names.map((name) => {
      const xs = all.filter((x) => x.workload === w && x.name === name);
      return {
        name,
        workload: w,
        bytesPerSec: median(xs.map((x) => x.bytesPerSec)),
        iops: median(xs.map((x) => x.iops)),
        cpuSecPerGiB: median(xs.map((x) => x.cpuSecPerGiB)),
      };
    });
    const ref = rows.find((x) => x.name === "fio io_uring --fixedbufs");
    console.log(`\n${WORKLOADS[w].label}, O_DIRECT (Deno row: buffered)`);
    console.log(
      "| reader | MiB/s | IOPS | CPU s/GiB | vs fio --fixedbufs |\n|---|---:|---:|---:|---:|",
    );
    for (const x of rows) {
      const ratio = ref ? x.bytesPerSec / ref.bytesPerSec : null;
      summary.push({ ...x, ratio });
      console.log(
        `| ${x.name} | ${(x.bytesPerSec / 2 ** 20).toFixed(0)} | ${x.iops.toFixed(0)} | ${
          x.cpuSecPerGiB.toFixed(3)
        } | ${ratio === null ? "n/a" : `${(ratio * 100).toFixed(1)}%`} |`,
      );
    }
  }
  if (JSON_OUT) {
    await Deno.writeTextFile(
      JSON_OUT,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          kernel: Deno.osRelease(),
          deno: Deno.version.deno,
          size: SIZE,
          rounds: ROUNDS,
          results: summary,
        },
        null,
        2,
      ),
    );
  }
  if (!opt("--file", "")) await Deno.remove(path);
}

await main();

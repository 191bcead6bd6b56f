/**
 * Completion-path bench (issue 14): random 4 KiB O_DIRECT reads at QD 1, 8,
 * 32 and 128 and sequential 128 KiB QD16 through Ring (registered buffers)
 * beside `fio --ioengine=io_uring --fixedbufs` on the same file, and an
 * O_DIRECT copy written two ways (an await loop per worker, and promise
 * callbacks) with the ring's submit calls per request. Every round runs
 * every row, interleaved with fio; the report gives the median of the
 * per-round ratios and their spread (min-max).
 *
 *   flock /tmp/veloq-bench.lock deno task bench:io-qd [--size 512MiB] [--rounds 5]
 *     [--ops 100000] [--file PATH] [--json bench/results/io_qd.json]
 *     [--only "QD32"] (rows whose label contains it; no copy rows then; "copy": only those)
 */
import { runFio } from "./fio.ts";
import process from "node:process";
import { HybridPool, openFile, Ring, type SubmitPolicy } from "../mod.ts";
import { threadWaiter } from "../src/thread_waiter.ts";
import { kRingPtr } from "../src/ring.ts";
import { lib } from "../ffi/loader.ts";

const args = Deno.args;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const MiB = 2 ** 20, GiB = 2 ** 30;
const parseSize = (s: string) => {
  const m = /^(\d+)([KMG]?)(i?B)?$/i.exec(s)!;
  return Number(m[1]) * ({ "": 1, K: 1024, M: MiB, G: GiB }[m[2].toUpperCase()] ?? 1);
};
const SIZE = parseSize(opt("--size", "512MiB"));
const ROUNDS = Number(opt("--rounds", "5"));
const OPS = Number(opt("--ops", "100000"));
const JSON_OUT = opt("--json", "");
const ONLY = opt("--only", "");
const QDS = [1, 8, 32, 128];
const COPY_BS = 64 * 1024, COPY_QD = 32;

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Run {
  iops: number;
  bytesPerSec: number;
  cpuSecPerGiB: number;
  /** Ring only: completions per parked wake-up, share of waits served by
   * polling, mean delivery of a parked wait's result to JS (us). */
  perWake?: number;
  polled?: number;
  deliveryUs?: number;
}

function offsets(n: number, bs: number): Float64Array {
  const blocks = SIZE / bs, out = new Float64Array(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
    out[i] = ((x >>> 0) % blocks) * bs;
  }
  return out;
}

async function prepare(path: string): Promise<void> {
  try {
    if ((await Deno.stat(path)).size === SIZE) return;
  } catch { /* write it */ }
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(8 * MiB);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
  for (let off = 0; off < SIZE; off += chunk.length) {
    let n = 0;
    while (n < chunk.length) n += await f.write(chunk.subarray(n));
  }
  f.close();
  await new Deno.Command("sync").output();
}

async function ringRead(path: string, bs: number, qd: number, seq: boolean): Promise<Run> {
  using ring = new Ring({ entries: Math.max(64, qd * 2) });
  using pool = HybridPool.create({ classes: [{ size: bs, count: qd }], registrar: ring });
  using file = openFile(path, { read: true, direct: true });
  const bufs = Array.from({ length: qd }, () => pool.alloc(bs));
  const ops = seq ? SIZE / bs : (qd === 1 ? Math.ceil(OPS / 5) : OPS);
  const offs = seq ? null : offsets(ops, bs);
  let next = 0;
  const w0 = threadWaiter().spinStats();
  const c0 = cpu(), t0 = performance.now();
  await Promise.all(bufs.map(async (buf) => {
    while (next < ops) {
      const i = next++;
      await ring.read(file, buf, offs ? offs[i] : i * bs);
    }
  }));
  const secs = (performance.now() - t0) / 1000, c = cpu() - c0;
  const w1 = threadWaiter().spinStats();
  const wakes = w1.wakeups - w0.wakeups;
  const hits = w1.hits + w1.blockHits - w0.hits - w0.blockHits;
  bufs.forEach((b) => b.release());
  return {
    iops: ops / secs,
    bytesPerSec: ops * bs / secs,
    cpuSecPerGiB: c / (ops * bs / GiB),
    perWake: ring.stats().completed / Math.max(1, ring.stats().wakeups),
    polled: hits / Math.max(1, hits + wakes),
    deliveryUs: wakes ? (w1.deliveryUs * w1.wakeups - w0.deliveryUs * w0.wakeups) / wakes : 0,
  };
}

/**
 * The same reads on the same kind of Ring, driven by a synchronous loop of
 * FFI calls (a blocking reap, then prep and submit each next request at
 * once, as fio and the Ring's default policy for O_DIRECT files do: no
 * promise, no await, no waiter), as a C program would: what JavaScript on
 * Deno can reach at best. Ring ÷ floor is then the cost of the promise API per request.
 */
function syncFloor(path: string, bs: number, qd: number): Run {
  const sym = lib().symbols;
  using ring = new Ring({ entries: Math.max(64, qd * 2) });
  using pool = HybridPool.create({ classes: [{ size: bs, count: qd }], registrar: ring });
  using file = openFile(path, { read: true, direct: true });
  const bufs = Array.from({ length: qd }, () => pool.alloc(bs));
  const rp = ring[kRingPtr]();
  const cqes = new Int32Array(
    Deno.UnsafePointerView.getArrayBuffer(
      sym.vb_ring_completions(rp)!,
      sym.vb_ring_completions_cap(rp) * 12,
    ),
  );
  const ops = qd === 1 ? Math.ceil(OPS / 5) : OPS;
  const offs = offsets(ops, bs);
  const fd = file.fd;
  let issued = 0, done = 0;
  const issue = (b: number) => {
    const buf = bufs[b];
    if (sym.vb_ring_prep(rp, 0, fd, buf.bytes, bs, offs[issued++], buf.bufIndex, b) !== 0) {
      throw new Error("prep failed");
    }
    sym.vb_ring_submit(rp);
  };
  const c0 = cpu(), t0 = performance.now();
  for (let b = 0; b < qd && issued < ops; b++) issue(b);
  while (done < ops) {
    const n = sym.vb_ring_reap(rp, 1000);
    if (n < 0) throw new Error(`reap ${n}`);
    for (let k = 0; k < n; k++) {
      if (cqes[3 * k + 1] !== bs) throw new Error(`read returned ${cqes[3 * k + 1]}`);
      done++;
      if (issued < ops) issue(cqes[3 * k]);
    }
  }
  const secs = (performance.now() - t0) / 1000, c = cpu() - c0;
  bufs.forEach((b) => b.release());
  return { iops: ops / secs, bytesPerSec: ops * bs / secs, cpuSecPerGiB: c / (ops * bs / GiB) };
}

/** bench/qd_c_floor.c built against this checkout's library, once. */
async function buildCFloor(dir: string): Promise<string> {
  const root = new URL("../", import.meta.url).pathname;
  const bin = `${dir}/qd_c_floor`;
  const o = await new Deno.Command("python3", {
    args: [
      "-m",
      "ziglang",
      "cc",
      "-O2",
      "-pthread",
      `-I${root}csrc/include`,
      "-o",
      bin,
      `${root}bench/qd_c_floor.c`,
      `-L${root}zig-out/lib`,
      "-lveloq_buffer",
      `-Wl,-rpath,${root}zig-out/lib`,
    ],
  }).output();
  if (!o.success) throw new Error(`building qd_c_floor: ${new TextDecoder().decode(o.stderr)}`);
  return bin;
}

/** The same loop as syncFloor, in C, on the library's ring (no JS). */
async function cFloor(bin: string, path: string, bs: number, qd: number): Promise<Run> {
  const ops = qd === 1 ? Math.ceil(OPS / 5) : OPS;
  const o = await new Deno.Command(bin, {
    args: [path, String(SIZE), String(bs), String(qd), String(ops)],
  }).output();
  if (!o.success) throw new Error(`qd_c_floor: ${new TextDecoder().decode(o.stderr)}`);
  const { iops } = JSON.parse(new TextDecoder().decode(o.stdout));
  return { iops, bytesPerSec: iops * bs, cpuSecPerGiB: NaN };
}

async function fio(path: string, bs: number, qd: number, seq: boolean): Promise<Run> {
  const ops = seq ? SIZE / bs : (qd === 1 ? Math.ceil(OPS / 5) : OPS);
  const a = [
    "--name=veloq",
    `--filename=${path}`,
    `--size=${SIZE}`,
    `--rw=${seq ? "read" : "randread"}`,
    `--bs=${bs}`,
    `--iodepth=${qd}`,
    "--direct=1",
    "--ioengine=io_uring",
    "--fixedbufs",
    "--output-format=json",
  ];
  if (!seq) a.push(`--number_ios=${ops}`, "--randrepeat=1");
  const job = await runFio(a);
  if (job === null) throw new Error("io_qd_bench compares with fio: apt-get install fio");
  const secs = job.read.runtime / 1000;
  const c = (job.usr_cpu + job.sys_cpu) / 100 * secs;
  return {
    iops: job.read.iops,
    bytesPerSec: job.read.bw_bytes,
    cpuSecPerGiB: c / (job.read.io_bytes / GiB),
  };
}

interface CopyRun {
  bytesPerSec: number;
  submitsPerRequest: number;
  wakeupsPerRequest: number;
  /** Share of the thread's waits served inline (no helper hand-over). */
  polled: number;
}

/** O_DIRECT copy of the file, COPY_QD workers of COPY_BS blocks. */
async function copy(
  src: string,
  dst: string,
  style: "await" | "callback",
  submit: SubmitPolicy,
): Promise<CopyRun> {
  using ring = new Ring({ entries: 128, submit });
  using pool = HybridPool.create({
    classes: [{ size: COPY_BS, count: COPY_QD }],
    registrar: ring,
  });
  using from = openFile(src, { read: true, direct: true });
  using to = openFile(dst, { write: true, create: true, direct: true });
  const bufs = Array.from({ length: COPY_QD }, () => pool.alloc(COPY_BS));
  const blocks = SIZE / COPY_BS;
  let next = 0;
  const w0 = threadWaiter().spinStats();
  const t0 = performance.now();
  if (style === "await") {
    await Promise.all(bufs.map(async (b) => {
      while (next < blocks) {
        const off = next++ * COPY_BS;
        await ring.read(from, b, off);
        await ring.write(to, b, off);
      }
    }));
  } else {
    await new Promise<void>((resolve, reject) => {
      let active = bufs.length;
      const step = (b: typeof bufs[number]): void => {
        if (next >= blocks) {
          if (--active === 0) resolve();
          return;
        }
        const off = next++ * COPY_BS;
        ring.read(from, b, off).then(() => ring.write(to, b, off)).then(() => step(b), reject);
      };
      bufs.forEach(step);
    });
  }
  const secs = (performance.now() - t0) / 1000;
  const s = ring.stats();
  const w1 = threadWaiter().spinStats();
  const hits = w1.hits + w1.blockHits - w0.hits - w0.blockHits;
  bufs.forEach((b) => b.release());
  return {
    bytesPerSec: SIZE / secs,
    submitsPerRequest: s.submitCalls / s.completed,
    wakeupsPerRequest: s.wakeups / s.completed,
    polled: hits / Math.max(1, hits + w1.wakeups - w0.wakeups),
  };
}

/** One measured copy in a fresh process (same file, same size). */
async function copyInChild(
  src: string,
  dst: string,
  style: "await" | "callback",
  submit: SubmitPolicy,
): Promise<CopyRun> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-sys",
      new URL(import.meta.url).pathname,
      "--size",
      String(SIZE),
      "--copy-child",
      style,
      submit,
      src,
      dst,
    ],
    stderr: "inherit",
  }).output();
  if (!o.success) throw new Error(`copy child (${style}, ${submit}) failed`);
  return JSON.parse(new TextDecoder().decode(o.stdout).trim().split("\n").at(-1)!);
}

interface Ratio {
  median: number;
  min: number;
  max: number;
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = (xs: number[]): Ratio => ({
  median: med(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
});

function copySummary(c: { await: CopyRun[]; callback: CopyRun[] }) {
  return {
    blockSize: COPY_BS,
    qd: COPY_QD,
    awaitMiBs: med(c.await.map((x) => x.bytesPerSec)) / MiB,
    callbackMiBs: med(c.callback.map((x) => x.bytesPerSec)) / MiB,
    awaitSubmitsPerRequest: med(c.await.map((x) => x.submitsPerRequest)),
    callbackSubmitsPerRequest: med(c.callback.map((x) => x.submitsPerRequest)),
    awaitWakeupsPerRequest: med(c.await.map((x) => x.wakeupsPerRequest)),
    callbackWakeupsPerRequest: med(c.callback.map((x) => x.wakeupsPerRequest)),
    ratio: ratio(c.await.map((x, i) => x.bytesPerSec / c.callback[i].bytesPerSec)),
  };
}

const loadAvg = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

async function main() {
  const loadBefore = loadAvg();
  const dir = new URL("../", import.meta.url).pathname; // the checkout: O_DIRECT works here
  const path = opt("--file", "") || await Deno.makeTempFile({ dir, prefix: ".veloq-qd-" });
  const dst = await Deno.makeTempFile({ dir, prefix: ".veloq-copy-" });
  const binDir = await Deno.makeTempDir({ prefix: "veloq-qd-" });
  try {
    await prepare(path);
    // Unmeasured first copy: gives the destination its blocks (a first
    // O_DIRECT write into a new file allocates, later ones overwrite).
    await copy(path, dst, "callback", "auto");
    console.log(`file ${path}, ${SIZE / MiB} MiB, ${ROUNDS} rounds, kernel ${Deno.osRelease()}`);
    const rows = [
      ...QDS.map((qd) => ({ label: `random 4 KiB QD${qd}`, bs: 4096, qd, seq: false })),
      { label: "sequential 128 KiB QD16", bs: 128 * 1024, qd: 16, seq: true },
    ].filter((row) => row.label.includes(ONLY));
    const cBin = await buildCFloor(binDir);
    const per: Record<string, { ring: Run[]; fio: Run[]; floor: Run[]; cfloor: Run[] }> = {};
    // The copy under the default policy (O_DIRECT requests submitted as they
    // are made) and under "gather" (batched across await chains).
    const copies = {
      auto: { await: [] as CopyRun[], callback: [] as CopyRun[] },
      gather: { await: [] as CopyRun[], callback: [] as CopyRun[] },
    };
    for (let r = 0; r < ROUNDS; r++) {
      for (const row of rows) {
        const p = per[row.label] ??= { ring: [], fio: [], floor: [], cfloor: [] };
        // Alternate which goes first, so drift hits both alike.
        if (r % 2 === 0) {
          p.fio.push(await fio(path, row.bs, row.qd, row.seq));
          p.ring.push(await ringRead(path, row.bs, row.qd, row.seq));
        } else {
          p.ring.push(await ringRead(path, row.bs, row.qd, row.seq));
          p.fio.push(await fio(path, row.bs, row.qd, row.seq));
        }
        if (!row.seq) {
          p.floor.push(syncFloor(path, row.bs, row.qd));
          p.cfloor.push(await cFloor(cBin, path, row.bs, row.qd));
        }
        const x = p.ring.at(-1)!, y = p.fio.at(-1)!;
        console.log(
          `round ${r} ${row.label}: ring ${x.iops.toFixed(0)} IOPS, fio ${y.iops.toFixed(0)} (${
            (x.iops / y.iops * 100).toFixed(1)
          }%), ${x.perWake!.toFixed(1)}/wake, ${(x.polled! * 100).toFixed(0)}% polled, delivery ${
            x.deliveryUs!.toFixed(0)
          } us${
            row.seq
              ? ""
              : `, sync floor ${p.floor.at(-1)!.iops.toFixed(0)} (ring ÷ floor ${
                (x.iops / p.floor.at(-1)!.iops * 100).toFixed(1)
              }%)`
          }`,
        );
      }
      if (ONLY && ONLY !== "copy") continue;
      const order: ("await" | "callback")[] = r % 2 ? ["callback", "await"] : ["await", "callback"];
      for (const policy of ["auto", "gather"] as const) {
        for (const s of order) copies[policy][s].push(await copyInChild(path, dst, s, policy));
        const a = copies[policy].await.at(-1)!, c = copies[policy].callback.at(-1)!;
        console.log(
          `round ${r} copy (submit: ${policy}): await ${(a.bytesPerSec / MiB).toFixed(0)} MiB/s (${
            a.submitsPerRequest.toFixed(3)
          } submits/req, ${a.wakeupsPerRequest.toFixed(3)} wake-ups/req, ${
            (a.polled * 100).toFixed(0)
          }% inline), callback ${(c.bytesPerSec / MiB).toFixed(0)} MiB/s (${
            c.submitsPerRequest.toFixed(3)
          }, ${c.wakeupsPerRequest.toFixed(3)}, ${(c.polled * 100).toFixed(0)}%)`,
        );
      }
    }
    const result = {
      date: new Date().toISOString(),
      kernel: Deno.osRelease(),
      deno: Deno.version.deno,
      size: SIZE,
      rounds: ROUNDS,
      ops: OPS,
      shared:
        `the 2-core machine had load average ${loadBefore} before, ${loadAvg()} after (other work on it shows there)`,
      command: `flock /tmp/veloq-bench.lock deno task bench:io-qd ${args.join(" ")}`.trim(),
      reads: rows.map((row) => {
        const p = per[row.label];
        return {
          workload: row.label,
          ringIops: med(p.ring.map((x) => x.iops)),
          fioIops: med(p.fio.map((x) => x.iops)),
          ringMiBs: med(p.ring.map((x) => x.bytesPerSec)) / MiB,
          fioMiBs: med(p.fio.map((x) => x.bytesPerSec)) / MiB,
          ringCpuSecPerGiB: med(p.ring.map((x) => x.cpuSecPerGiB)),
          fioCpuSecPerGiB: med(p.fio.map((x) => x.cpuSecPerGiB)),
          ratio: ratio(p.ring.map((x, i) => x.iops / p.fio[i].iops)),
          floorIops: p.floor.length ? med(p.floor.map((x) => x.iops)) : null,
          floorRatio: p.floor.length ? ratio(p.floor.map((x, i) => x.iops / p.fio[i].iops)) : null,
          cFloorIops: p.cfloor.length ? med(p.cfloor.map((x) => x.iops)) : null,
          cFloorRatio: p.cfloor.length
            ? ratio(p.cfloor.map((x, i) => x.iops / p.fio[i].iops))
            : null,
          ringToFloor: p.floor.length
            ? ratio(p.ring.map((x, i) => x.iops / p.floor[i].iops))
            : null,
          perWake: med(p.ring.map((x) => x.perWake!)),
          polled: med(p.ring.map((x) => x.polled!)),
          deliveryUs: med(p.ring.map((x) => x.deliveryUs!)),
        };
      }),
      copy: ONLY && ONLY !== "copy" ? null : copySummary(copies.auto),
      copyGather: ONLY && ONLY !== "copy" ? null : copySummary(copies.gather),
    };
    console.log(JSON.stringify(result, null, 2));
    if (JSON_OUT) await Deno.writeTextFile(JSON_OUT, JSON.stringify(result, null, 2) + "\n");
  } finally {
    if (!opt("--file", "")) await Deno.remove(path);
    await Deno.remove(binDir, { recursive: true }).catch(() => {});
    await Deno.remove(dst);
  }
}

/** Each measured copy runs in a process of its own (`--copy-child`), as
 * fio does: one process's history (which rows ran before, how its waits
 * settled) made the two styles differ by 5-25% in one process and not in
 * another (see copyInChild). */
async function copyChild(): Promise<void> {
  const [style, submit, src, dst] = args.slice(args.indexOf("--copy-child") + 1);
  const run = await copy(src, dst, style as "await" | "callback", submit as SubmitPolicy);
  console.log(JSON.stringify(run));
}

if (args.includes("--copy-child")) await copyChild();
else await main();

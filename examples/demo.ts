/**
 * The main job: write a file with O_DIRECT through registered buffers, read
 * it back, verify every byte, and print throughput and the pool's stats.
 *
 *   deno task demo [size] [--qd N] [--block BYTES] [--file PATH] [--keep]
 *
 * size defaults to 256MiB (suffixes K, M, G, KiB, MiB, GiB); the queue depth
 * (requests in flight) to 16; the block to 128 KiB.
 */
import { BuddyPool, type FixedBuf, openFile, Ring } from "../mod.ts";

interface Args {
  size: number;
  qd: number;
  block: number;
  file: string | null;
  keep: boolean;
}

function parseSize(text: string): number {
  const m = /^(\d+)\s*([KMG]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw new TypeError(`not a size: ${text} (try 256MiB)`);
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase()]!;
  return Number(m[1]) * unit;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { size: 256 * 1024 ** 2, qd: 16, block: 128 * 1024, file: null, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === "--qd") a.qd = Number(argv[++i]);
    else if (v === "--block") a.block = parseSize(argv[++i]);
    else if (v === "--file") a.file = argv[++i];
    else if (v === "--keep") a.keep = true;
    else a.size = parseSize(v);
  }
  if (!Number.isInteger(a.qd) || a.qd < 1 || a.qd > 1024) throw new RangeError("--qd: 1 to 1024");
  if (a.block % 4096 !== 0 || a.block < 4096) throw new RangeError("--block: a multiple of 4096");
  if (a.size % a.block !== 0) {
    const rounded = Math.ceil(a.size / a.block) * a.block;
    console.log(`size ${a.size} bytes is not a multiple of the block: rounded up to ${rounded}`);
    a.size = rounded;
  }
  return a;
}

const USAGE = "usage: deno task demo [size] [--qd N] [--block BYTES] [--file PATH] [--keep]";

/** The expected content of one block: every 32-bit word names its place. */
function fill(buf: FixedBuf, block: number): void {
  const w = new Uint32Array(buf.bytes.buffer, buf.bytes.byteOffset, buf.capacity / 4);
  const base = Math.imul(block, w.length);
  for (let i = 0; i < w.length; i++) w[i] = (base + i) ^ 0x9e3779b9;
}

function verify(buf: FixedBuf, block: number): void {
  const w = new Uint32Array(buf.bytes.buffer, buf.bytes.byteOffset, buf.capacity / 4);
  const base = Math.imul(block, w.length);
  for (let i = 0; i < w.length; i++) {
    if (w[i] !== ((base + i) ^ 0x9e3779b9) >>> 0) {
      throw new Error(`data mismatch in block ${block} at byte ${i * 4}`);
    }
  }
}

/** Runs `qd` workers that each take the next block until none is left. */
async function pump(qd: number, blocks: number, work: (b: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < blocks) await work(next++);
  };
  await Promise.all(Array.from({ length: qd }, worker));
}

const fmtBytes = (n: number) =>
  n >= 1024 ** 3
    ? `${(n / 1024 ** 3).toFixed(2)} GiB`
    : n >= 1024 ** 2
    ? `${(n / 1024 ** 2).toFixed(1)} MiB`
    : `${(n / 1024).toFixed(0)} KiB`;

async function main() {
  let args: Args;
  try {
    args = parseArgs(Deno.args);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
  const path = args.file ?? await Deno.makeTempFile({ prefix: "veloq-demo-", suffix: ".bin" });
  const blocks = args.size / args.block;
  console.log(
    `veloq buffer demo: ${fmtBytes(args.size)} in ${blocks} blocks of ${args.block / 1024} KiB, ` +
      `queue depth ${args.qd}, O_DIRECT, registered buffers\nfile: ${path}`,
  );

  using ring = new Ring({ entries: Math.max(64, args.qd * 2) });
  using pool = BuddyPool.create({
    name: "demo",
    arenaSize: args.qd * args.block,
    registrar: ring,
  });
  using file = openFile(path, {
    read: true,
    write: true,
    create: true,
    truncate: true,
    direct: true,
  });

  let fixed = 0;
  const t0 = performance.now();
  await pump(args.qd, blocks, async (b) => {
    using buf = pool.alloc(args.block);
    if (buf.bufIndex >= 0) fixed++;
    fill(buf, b);
    const n = await ring.write(file, buf, b * args.block);
    if (n !== args.block) throw new Error(`short write at block ${b}: ${n}`);
  });
  const t1 = performance.now();
  await pump(args.qd, blocks, async (b) => {
    using buf = pool.alloc(args.block);
    const n = await ring.read(file, buf, b * args.block);
    if (n !== args.block) throw new Error(`short read at block ${b}: ${n}`);
    verify(buf, b);
  });
  const t2 = performance.now();

  const rate = (ms: number) => `${fmtBytes(args.size / (ms / 1000))}/s`;
  console.log(`write: ${(t1 - t0).toFixed(0)} ms  ${rate(t1 - t0)}  (WRITE_FIXED, fill included)`);
  console.log(`read:  ${(t2 - t1).toFixed(0)} ms  ${rate(t2 - t1)}  (READ_FIXED, verify included)`);
  console.log(
    `verified: all ${args.size} bytes match; ${fixed}/${blocks} writes used a registered buffer`,
  );
  const rs = ring.stats();
  console.log(
    `ring: ${rs.completed} completions, ${rs.submitCalls} submit calls, ${rs.wakeups} wake-ups ` +
      `(${(rs.completed / Math.max(1, rs.wakeups)).toFixed(1)} completions per wake-up)`,
  );
  const s = pool.stats();
  console.log(
    `pool "${pool.name}": arena ${
      fmtBytes(s.capacityBytes)
    }, ${s.allocs} allocs, ${s.frees} frees, ` +
      `${s.liveBuffers} live, ${s.cachedBuffers} cached, ${s.fallbackBuffers} fallback, ` +
      `${s.failedAllocs} failed, largest free ${fmtBytes(s.largestFree)}`,
  );
  if (!args.keep) await Deno.remove(path);
}

await main();

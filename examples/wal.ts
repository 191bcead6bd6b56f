/**
 * A write-ahead log with group commit on the Ring (issue 15's example).
 *
 *   deno run --allow-ffi --allow-env --allow-read --allow-write examples/wal.ts [demo]
 *   ... examples/wal.ts append PATH [--writers N] [--count N]   (prints "ack ID" per durable record)
 *   ... examples/wal.ts recover PATH                             (prints what recovery finds)
 *
 * Format: the log is a run of BATCHES, each a whole number of 4 KiB blocks
 * (so O_DIRECT can write it from a registered buffer), written at the log's
 * end by ONE write linked to an fdatasync (`ring.write(..., { link: true })`
 * then `ring.fsync(f, { dataOnly: true })`: one submit, the sync runs only
 * if the write fully succeeded). A record is acknowledged only after the
 * sync of its batch resolved. While a batch is being made durable, new
 * appends gather in the next one: group commit without a timer.
 *
 *   batch  = header (32 bytes) + records + zero padding to a 4 KiB multiple
 *   header = magic "VWAL" u32 | seq u32 | count u32 | bytes u32 |
 *            crc32c(records) u32 | 0 u32 | 0 u32 | crc32c(header[0..28]) u32
 *   record = length u32 | crc32c(id, payload) u32 | id u64 | payload
 *
 * Recovery scans from the start: a batch counts only if its header is
 * intact, its seq is the next one, and the records' checksum matches; the
 * first batch that fails ends the log (a batch torn by a crash is dropped
 * whole, never half-accepted). The file is then truncated there (and
 * synced), so a later batch can never sit behind stale bytes.
 *
 * O_DIRECT tail: the log only ever writes whole blocks, so there is no
 * partial last block. A file whose logical size is not a block multiple
 * is written the same way: pad the last block with zeros, write it whole,
 * then `ring.truncate(file, size)` to the real size (see README).
 *
 * @module
 */
import { BuddyPool, type FileHandle, openFile, Ring } from "../mod.ts";

const BLOCK = 4096;
const HEADER = 32;
const RECORD_HEADER = 16;
const MAGIC = 0x4c415756; // "VWAL" little-endian
/** Largest batch written at once (records beyond wait for the next). */
const MAX_BATCH = 1 << 20;

// --- crc32c (Castagnoli), table-driven --------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** crc32c of bytes [start, end), continuing from `crc` (0 to start). */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** The checksum of one record: crc32c over its id (8 bytes LE) and payload. */
function recordCrc(id: number, payload: Uint8Array, start: number, end: number): number {
  const idBytes = new Uint8Array(8);
  new DataView(idBytes.buffer).setBigUint64(0, BigInt(id), true);
  return crc32c(payload, start, end, crc32c(idBytes));
}

// --- recovery ----------------------------------------------------------------

/** One record found by recovery. */
export interface RecoveredRecord {
  id: number;
  payload: Uint8Array;
}

/** What a scan of a log finds. */
export interface ScanResult {
  records: RecoveredRecord[];
  /** Batches accepted. */
  batches: number;
  /** Bytes of the valid log (where the next batch goes). */
  end: number;
  /** Why the scan stopped at `end` ("end of file", "bad header crc", ...). */
  stop: string;
}

/**
 * Scans a log image: every batch from the start that is whole and intact,
 * in order. Pure (works on bytes), so a test can check it on logs damaged
 * on purpose.
 */
export function scanLog(log: Uint8Array): ScanResult {
  const view = new DataView(log.buffer, log.byteOffset, log.byteLength);
  const records: RecoveredRecord[] = [];
  let off = 0;
  let seq = 0;
  let stop = "end of file";
  while (off + HEADER <= log.length) {
    if (view.getUint32(off, true) !== MAGIC) {
      stop = view.getUint32(off, true) === 0 ? "zeros (end of log)" : "bad magic";
      break;
    }
    if (view.getUint32(off + 28, true) !== crc32c(log, off, off + 28)) {
      stop = "bad header crc";
      break;
    }
    if (view.getUint32(off + 4, true) !== seq) {
      stop = `batch seq ${view.getUint32(off + 4, true)} where ${seq} was due`;
      break;
    }
    const count = view.getUint32(off + 8, true);
    const bytes = view.getUint32(off + 12, true);
    const size = roundUp(HEADER + bytes);
    if (off + size > log.length) {
      stop = "batch runs past the end of the file (torn)";
      break;
    }
    const body = off + HEADER;
    if (view.getUint32(off + 16, true) !== crc32c(log, body, body + bytes)) {
      stop = "bad records crc (torn batch)";
      break;
    }
    const batch: RecoveredRecord[] = [];
    let p = body;
    let ok = true;
    for (let i = 0; i < count; i++) {
      if (p + RECORD_HEADER > body + bytes) {
        ok = false;
        break;
      }
      const len = view.getUint32(p, true);
      const crc = view.getUint32(p + 4, true);
      const id = Number(view.getBigUint64(p + 8, true));
      const start = p + RECORD_HEADER;
      if (start + len > body + bytes || recordCrc(id, log, start, start + len) !== crc) {
        ok = false;
        break;
      }
      batch.push({ id, payload: log.slice(start, start + len) });
      p = start + len;
    }
    if (!ok || p !== body + bytes) {
      stop = "bad record inside a batch";
      break;
    }
    records.push(...batch);
    off += size;
    seq++;
  }
  return { records, batches: seq, end: off, stop };
}

function roundUp(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

// --- the log -------------------------------------------------------------------

interface PendingAppend {
  id: number;
  payload: Uint8Array;
  resolve: (id: number) => void;
  reject: (e: unknown) => void;
}

/** Options of {@linkcode Wal.open}. */
export interface WalOptions {
  /** Open with O_DIRECT when the file system allows (default true). */
  direct?: boolean;
  /** An existing ring to use (else the log makes its own). */
  ring?: Ring;
}

/** A write-ahead log: `append` resolves once the record is durable. */
export class Wal implements AsyncDisposable {
  #ring: Ring;
  #ownRing: boolean;
  #pool: BuddyPool;
  #file: FileHandle;
  #end: number;
  #seq: number;
  #nextId: number;
  #pending: PendingAppend[] = [];
  #committing: Promise<void> | null = null;
  #broken: unknown = null;
  /** Records recovered when the log was opened. */
  readonly recovered: ScanResult;
  /** Batches written (each one write + one fdatasync) since open. */
  batchesWritten = 0;

  private constructor(
    ring: Ring,
    ownRing: boolean,
    pool: BuddyPool,
    file: FileHandle,
    scan: ScanResult,
  ) {
    this.#ring = ring;
    this.#ownRing = ownRing;
    this.#pool = pool;
    this.#file = file;
    this.#end = scan.end;
    this.#seq = scan.batches;
    this.#nextId = scan.records.length > 0 ? scan.records[scan.records.length - 1].id + 1 : 0;
    this.recovered = scan;
  }

  /** Opens (creating if needed) and recovers the log at `path`. */
  static async open(path: string, options: WalOptions = {}): Promise<Wal> {
    const ring = options.ring ?? new Ring({ entries: 64 });
    const pool = BuddyPool.create({ arenaSize: 4 * MAX_BATCH, registrar: ring });
    let file: FileHandle;
    let created = false;
    try {
      try {
        file = openFile(path, { read: true, write: true, direct: options.direct ?? true });
      } catch (e) {
        if ((e as { errnoName?: string }).errnoName !== "ENOENT") throw e;
        file = openFile(path, {
          read: true,
          write: true,
          create: true,
          exclusive: true,
          direct: options.direct ?? true,
        });
        created = true;
      }
    } catch (e) {
      pool.close();
      if (!options.ring) ring.close();
      throw e;
    }
    if (created) await syncParentDir(ring, path);
    const scan = scanLog(await readAll(ring, pool, file));
    // Cut whatever follows the valid log (a torn batch), durably, so no
    // later batch can sit in front of stale bytes.
    if (file.size() !== scan.end) {
      await Promise.all([ring.truncate(file, scan.end, { link: true }), ring.fsync(file)]);
    }
    return new Wal(ring, !options.ring, pool, file, scan);
  }

  /** The id the next append gets. */
  get nextId(): number {
    return this.#nextId;
  }

  /** Appends one record; resolves to its id once it is durable. */
  append(payload: Uint8Array): Promise<number> {
    if (this.#broken !== null) return Promise.reject(this.#broken);
    if (RECORD_HEADER + payload.length + HEADER > MAX_BATCH) {
      return Promise.reject(new RangeError(`record of ${payload.length} bytes: too large`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    this.#pending.push({ id: this.#nextId++, payload, resolve, reject });
    this.#committing ??= this.#commitLoop();
    return promise;
  }

  /** Writes batches while appends are waiting; one in flight at a time. */
  async #commitLoop(): Promise<void> {
    try {
      while (this.#pending.length > 0 && this.#broken === null) await this.#commitBatch();
    } finally {
      this.#committing = null;
    }
  }

  async #commitBatch(): Promise<void> {
    let bytes = 0;
    let n = 0;
    while (n < this.#pending.length) {
      const more = RECORD_HEADER + this.#pending[n].payload.length;
      if (HEADER + bytes + more > MAX_BATCH) break;
      bytes += more;
      n++;
    }
    const batch = this.#pending.splice(0, n);
    const size = roundUp(HEADER + bytes);
    using buf = this.#pool.alloc(size);
    const out = buf.bytes;
    const view = new DataView(out.buffer, out.byteOffset, size);
    let p = HEADER;
    for (const r of batch) {
      view.setUint32(p, r.payload.length, true);
      view.setUint32(p + 4, recordCrc(r.id, r.payload, 0, r.payload.length), true);
      view.setBigUint64(p + 8, BigInt(r.id), true);
      out.set(r.payload, p + RECORD_HEADER);
      p += RECORD_HEADER + r.payload.length;
    }
    out.fill(0, p, size);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, this.#seq, true);
    view.setUint32(8, batch.length, true);
    view.setUint32(12, bytes, true);
    view.setUint32(16, crc32c(out, HEADER, HEADER + bytes), true);
    view.setUint32(20, 0, true);
    view.setUint32(24, 0, true);
    view.setUint32(28, crc32c(out, 0, 28), true);
    try {
      // The durable append: the sync runs only after the whole write
      // succeeded (a failed or short write cancels it: ECANCELED).
      const written = this.#ring.write(this.#file, buf, this.#end, { length: size, link: true });
      const synced = this.#ring.fsync(this.#file, { dataOnly: true });
      await Promise.all([written, synced]);
    } catch (e) {
      // Where the log ends on disk is unknown now: refuse further appends
      // (reopening recovers).
      this.#broken = e;
      for (const r of batch) r.reject(e);
      for (const r of this.#pending.splice(0)) r.reject(e);
      return;
    }
    this.#end += size;
    this.#seq++;
    this.batchesWritten++;
    for (const r of batch) r.resolve(r.id);
  }

  /** Waits for pending appends, then closes the file (and its own ring). */
  async close(): Promise<void> {
    while (this.#committing !== null) await this.#committing;
    this.#file.close();
    this.#pool.close();
    if (this.#ownRing) this.#ring.close();
  }

  /** Same as close(). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Reads the whole file through the ring (aligned chunks, O_DIRECT-safe). */
async function readAll(ring: Ring, pool: BuddyPool, file: FileHandle): Promise<Uint8Array> {
  const size = file.size();
  const out = new Uint8Array(size);
  using buf = pool.alloc(MAX_BATCH);
  for (let off = 0; off < size;) {
    const n = await ring.read(file, buf, off, MAX_BATCH);
    if (n === 0) break;
    out.set(buf.bytes.subarray(0, Math.min(n, size - off)), off);
    off += n;
  }
  return out;
}

/** A new file's directory entry is durable only once its directory is synced. */
async function syncParentDir(ring: Ring, path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
  using d = openFile(dir, { read: true });
  await ring.fsync(d);
}

// --- the payloads the crash test checks ----------------------------------------

/** The payload record `id` carries in the crash test: its length and every
 * byte follow from the id, so a check needs nothing but the id. */
export function payloadFor(id: number): Uint8Array {
  const len = 8 + ((id * 2654435761) >>> 0) % 3000;
  const p = new Uint8Array(len);
  for (let i = 0; i < len; i++) p[i] = (id * 131 + i * 7) & 0xff;
  return p;
}

// --- command line ----------------------------------------------------------------

async function appendForever(path: string, writers: number, count: number): Promise<void> {
  const wal = await Wal.open(path);
  const enc = new TextEncoder();
  const out = (s: string) => Deno.stdout.writeSync(enc.encode(s));
  out(`recovered ${wal.recovered.records.length} next ${wal.nextId}\n`);
  let left = count;
  const writer = async () => {
    while (left-- > 0) {
      const id = wal.nextId;
      const got = await wal.append(payloadFor(id));
      if (got !== id) throw new Error(`append returned id ${got}, expected ${id}`);
      // Printed only now: the record is durable.
      out(`ack ${id}\n`);
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  await wal.close();
}

async function demo(): Promise<void> {
  const dir = await Deno.makeTempDir({ dir: ".", prefix: ".wal-demo-" });
  const path = `${dir}/log`;
  try {
    const wal = await Wal.open(path);
    const t0 = performance.now();
    const ids = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => wal.append(payloadFor(i))),
    );
    const ms = performance.now() - t0;
    console.log(
      `appended ${ids.length} records in ${wal.batchesWritten} batches (group commit) in ${
        ms.toFixed(1)
      } ms`,
    );
    await wal.close();
    const again = await Wal.open(path);
    console.log(
      `recovered ${again.recovered.records.length} records, log ends at ${again.recovered.end} (${again.recovered.stop})`,
    );
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const [cmd = "demo", path, ...rest] = Deno.args;
  const opt = (name: string, dflt: number) => {
    const i = rest.indexOf(name);
    return i >= 0 ? Number(rest[i + 1]) : dflt;
  };
  if (cmd === "demo") await demo();
  else if (cmd === "append" && path) {
    await appendForever(path, opt("--writers", 1), opt("--count", Infinity));
  } else if (cmd === "recover" && path) {
    const scan = scanLog(await Deno.readFile(path));
    console.log(JSON.stringify({
      records: scan.records.length,
      batches: scan.batches,
      end: scan.end,
      stop: scan.stop,
      lastId: scan.records.at(-1)?.id ?? null,
    }));
  } else {
    console.error("usage: wal.ts [demo] | append PATH [--writers N] [--count N] | recover PATH");
    Deno.exit(2);
  }
}

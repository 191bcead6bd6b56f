/**
 * examples/wal.ts: group commit, recovery, and logs damaged on purpose the
 * way a crash can leave them (a batch cut short, a flipped byte, a zeroed
 * header, stale bytes after the end): recovery keeps every whole batch
 * before the damage and accepts nothing torn.
 */
import assert from "node:assert/strict";
import { payloadFor, scanLog, Wal } from "../examples/wal.ts";

const dir = Deno.makeTempDirSync({ dir: new URL(".", import.meta.url).pathname, prefix: ".tmp-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let fileNo = 0;
const scratch = () => `${dir}/wal${fileNo++}.log`;

/** A log of `n` records, appended by `writers` concurrent writers. */
async function makeLog(n: number, writers: number): Promise<{ path: string; batches: number }> {
  const path = scratch();
  const wal = await Wal.open(path);
  let next = 0;
  await Promise.all(Array.from({ length: writers }, async () => {
    while (next < n) {
      const id = wal.nextId;
      next++;
      assert.equal(await wal.append(payloadFor(id)), id);
    }
  }));
  const batches = wal.batchesWritten;
  await wal.close();
  return { path, batches };
}

function checkRecords(records: { id: number; payload: Uint8Array }[], n: number): void {
  assert.equal(records.length, n);
  records.forEach((r, i) => {
    assert.equal(r.id, i);
    assert.deepEqual(r.payload, payloadFor(i));
  });
}

Deno.test("WAL: concurrent appends share batches (group commit) and all come back", async () => {
  const { path, batches } = await makeLog(300, 16);
  assert.ok(batches < 300, `${batches} batches for 300 records: no group commit`);
  const scan = scanLog(Deno.readFileSync(path));
  checkRecords(scan.records, 300);
  assert.equal(scan.batches, batches);
  assert.equal(scan.end, Deno.statSync(path).size);
  // Reopening continues the ids and the log.
  const wal = await Wal.open(path);
  assert.equal(wal.recovered.records.length, 300);
  assert.equal(wal.nextId, 300);
  assert.equal(await wal.append(payloadFor(300)), 300);
  await wal.close();
  checkRecords(scanLog(Deno.readFileSync(path)).records, 301);
});

Deno.test("WAL: one writer, one record per batch (write linked to fdatasync each time)", async () => {
  const { path, batches } = await makeLog(20, 1);
  assert.equal(batches, 20);
  checkRecords(scanLog(Deno.readFileSync(path)).records, 20);
});

/** Batch boundaries of a log: [start, end) of each. */
function batchBounds(log: Uint8Array): [number, number][] {
  const v = new DataView(log.buffer, log.byteOffset, log.byteLength);
  const out: [number, number][] = [];
  for (let off = 0; off + 32 <= log.length && v.getUint32(off, true) === 0x4c415756;) {
    const size = Math.ceil((32 + v.getUint32(off + 12, true)) / 4096) * 4096;
    out.push([off, off + size]);
    off += size;
  }
  return out;
}

Deno.test("WAL recovery: a damaged last batch is dropped whole, nothing torn is accepted", async () => {
  const { path } = await makeLog(200, 8);
  const good = Deno.readFileSync(path);
  const bounds = batchBounds(good);
  assert.ok(bounds.length >= 3);
  const [lastStart, lastEnd] = bounds[bounds.length - 1];
  const before = scanLog(good.subarray(0, lastStart)).records.length;
  const damage: [string, (log: Uint8Array) => Uint8Array][] = [
    ["cut in the middle", (l) => l.slice(0, lastStart + (lastEnd - lastStart) / 2)],
    ["cut after the header", (l) => l.slice(0, lastStart + 64)],
    ["a flipped byte in a record", (l) => {
      const c = l.slice();
      c[lastStart + 40] ^= 0x10;
      return c;
    }],
    ["a zeroed header", (l) => {
      const c = l.slice();
      c.fill(0, lastStart, lastStart + 32);
      return c;
    }],
    ["the second half never written (zeros)", (l) => {
      const c = l.slice();
      c.fill(0, lastStart + 4096 > lastEnd ? lastStart + 33 : lastStart + 4096, lastEnd);
      return c;
    }],
  ];
  for (const [what, hurt] of damage) {
    const scan = scanLog(hurt(good));
    assert.equal(scan.end, lastStart, what);
    checkRecords(scan.records, before);
  }
  // A torn batch in the middle hides everything after it (order matters).
  const mid = bounds[1][0];
  const c = good.slice();
  c[mid + 50] ^= 1;
  const scan = scanLog(c);
  assert.equal(scan.end, mid);
  // Recovery cuts the file there, and appends go on after it.
  Deno.writeFileSync(path, hurtLast(good, lastStart));
  const wal = await Wal.open(path);
  assert.equal(wal.recovered.end, lastStart);
  assert.equal(Deno.statSync(path).size, lastStart);
  assert.equal(wal.nextId, before);
  assert.equal(await wal.append(payloadFor(before)), before);
  await wal.close();
  checkRecords(scanLog(Deno.readFileSync(path)).records, before + 1);
});

function hurtLast(log: Uint8Array, lastStart: number): Uint8Array {
  const c = log.slice();
  c[lastStart + 100] ^= 0xff;
  return c;
}

Deno.test("WAL recovery: stale bytes from an older life after the end are never taken", () => {
  // A valid batch 0 copied where batch 2 should be: wrong seq, refused.
  return makeLog(50, 1).then(({ path }) => {
    const log = Deno.readFileSync(path);
    const bounds = batchBounds(log);
    const [s0, e0] = bounds[0];
    const [s2] = bounds[2];
    const c = log.slice(0, s2 + (e0 - s0));
    c.set(log.subarray(s0, e0), s2);
    const scan = scanLog(c);
    assert.equal(scan.end, s2);
    assert.match(scan.stop, /seq/);
  });
});

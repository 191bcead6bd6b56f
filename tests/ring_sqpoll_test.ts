/**
 * Review 14 D2: a sqpoll ring takes more requests in one tick than its SQ
 * holds (the SQ is still full right after io_uring_submit, until the kernel
 * thread takes the entries: C waits for room instead of refusing).
 */
import assert from "node:assert/strict";
import { BuddyPool, openFile, Ring } from "../mod.ts";

Deno.test("sqpoll ring: 200 reads in one tick on an 8-entry ring all succeed with the right data", async () => {
  const path = Deno.makeTempFileSync({ prefix: "veloq-sqpoll-" });
  const data = new Uint8Array(16 * 4096);
  for (let i = 0; i < 16; i++) data.fill(i + 1, i * 4096, (i + 1) * 4096);
  Deno.writeFileSync(path, data);
  using pool = BuddyPool.create({ arenaSize: 1 << 20 });
  using ring = new Ring({ entries: 8, sqpoll: true, bufferSlots: 0 });
  using file = openFile(path);
  const bufs = Array.from({ length: 200 }, () => pool.alloc(4096));
  const results = await Promise.all(
    bufs.map((b, i) =>
      ring.read(file, b, (i % 16) * 4096).then(
        (n) => (n === 4096 && b.bytes.every((x) => x === (i % 16) + 1) ? "ok" : `bad ${n}`),
        (e) => `${e.name}: ${e.message}`,
      )
    ),
  );
  for (const b of bufs) b.release();
  Deno.removeSync(path);
  const counts: Record<string, number> = {};
  for (const r of results) counts[r] = (counts[r] ?? 0) + 1;
  assert.deepEqual(counts, { ok: 200 });
  assert.equal(ring.stats().inFlight, 0);
});

Deno.test("submitCalls counts the submits C makes when the SQ fills (review 14 D3)", async () => {
  const path = Deno.makeTempFileSync({ prefix: "veloq-submits-" });
  Deno.writeFileSync(path, new Uint8Array(8192));
  using pool = BuddyPool.create({ arenaSize: 1 << 20 });
  const ring = new Ring({ entries: 2, bufferSlots: 0 });
  using file = openFile(path);
  const bufs = Array.from({ length: 200 }, () => pool.alloc(4096));
  const before = ring.stats().submitCalls;
  await Promise.all(bufs.map((b) => ring.read(file, b, 0)));
  for (const b of bufs) b.release();
  // 200 requests through a 2-entry SQ: at least 100 io_uring_submit calls.
  const calls = ring.stats().submitCalls - before;
  assert.ok(calls >= 100, `submitCalls ${calls} for 200 requests on a 2-entry SQ`);
  ring.close();
  assert.equal(ring.stats().submitCalls - before, calls, "kept after close()");
  Deno.removeSync(path);
});

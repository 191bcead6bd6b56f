/**
 * Writes, sends (also zero-copy) and closeWrite of one connection go out in
 * call order when they are not awaited one by one: each starts once the
 * bytes before it are all in the socket (a second send in flight would
 * otherwise slip its bytes in at the first one's short write).
 */
import assert from "node:assert/strict";
import { HybridPool, Ring } from "../mod.ts";
import { readingPeer } from "./helpers.ts";

const MiB = 1 << 20;

/** A Deno.listen peer that starts reading after `delayMs` and returns
 * everything it read until end of stream. */
function peer(delayMs: number) {
  const p = readingPeer();
  setTimeout(p.start, delayMs);
  return p;
}

Deno.test({
  name: "writes, zero-copy sends and closeWrite not awaited one by one keep call order",
  sanitizeResources: false,
  async fn() {
    const ring = new Ring({ entries: 256 });
    const pool = HybridPool.create({ classes: [{ size: 4 * MiB, count: 4 }], registrar: ring });
    try {
      await inOrder(ring, pool);
    } finally {
      ring.close(); // settles what is left (before the fix: sends behind the early closeWrite)
      try {
        pool.close();
      } catch { /* buffers kept busy by a failed run */ }
    }
  },
});

async function inOrder(ring: Ring, pool: HybridPool): Promise<void> {
  {
    const p = peer(300); // the socket fills up: short writes happen
    const conn = await ring.connect({ hostname: "127.0.0.1", port: p.port });
    const letters = [65, 66, 67, 68]; // A B C D, 4 MiB each
    const bufs = letters.map((ch) => {
      const b = pool.alloc(4 * MiB);
      b.bytes.fill(ch);
      return b;
    });
    const ops = [
      conn.write(bufs[0]),
      conn.send(bufs[1], { zeroCopy: true }),
      conn.write(bufs[2]),
      conn.send(bufs[3], { zeroCopy: true }),
      conn.closeWrite(),
    ].map((op) => op.then((n) => n, (e: Error) => `${e.name}: ${e.message}`));
    const timeout = setTimeout(() => conn.close(), 20000);
    const results = await Promise.all(ops);
    clearTimeout(timeout);
    // Before: closeWrite went out first and every send failed with EPIPE
    // (or the bytes of one send landed inside another's).
    const got = await p.got;
    assert.deepEqual(results, [4 * MiB, 4 * MiB, 4 * MiB, 4 * MiB, undefined]);
    assert.equal(got.length, 16 * MiB);
    for (let i = 0; i < 4; i++) {
      const part = got.subarray(i * 4 * MiB, (i + 1) * 4 * MiB);
      const wrong = part.findIndex((x) => x !== letters[i]);
      assert.equal(wrong, -1, `block ${i}: byte ${wrong} is ${part[wrong]}, not ${letters[i]}`);
    }
    conn.close();
    for (const b of bufs) b.release();
  }
}

Deno.test({
  name: "a send waiting for its turn rejects on abort / timeout; the later ones still go in order",
  sanitizeResources: false,
  async fn() {
    using ring = new Ring({ entries: 256 });
    using pool = HybridPool.create({ classes: [{ size: 4 * MiB, count: 4 }], registrar: ring });
    const p = peer(400);
    const conn = await ring.connect({ hostname: "127.0.0.1", port: p.port });
    const [a, b, c] = [65, 66, 67].map((ch) => {
      const x = pool.alloc(4 * MiB);
      x.bytes.fill(ch);
      return x;
    });
    const big = pool.alloc(4 * MiB); // keeps the socket full while the peer sleeps
    big.bytes.fill(88);
    const first = conn.write(big);
    const ac = new AbortController();
    const aborted = conn.write(a, { signal: ac.signal }).then(() => "sent", (e) => e);
    const timedOut = conn.write(b, { timeout: 50 }).then(() => "sent", (e) => e);
    const last = conn.write(c);
    ac.abort(new Error("stop"));
    assert.equal(((await aborted) as Error).message, "stop");
    assert.equal(((await timedOut) as Error).name, "TimeoutError");
    assert.equal(await first, 4 * MiB);
    assert.equal(await last, 4 * MiB);
    await conn.closeWrite();
    const got = await p.got;
    assert.equal(got.length, 8 * MiB);
    assert.equal(got.subarray(0, 4 * MiB).findIndex((x) => x !== 88), -1);
    assert.equal(got.subarray(4 * MiB).findIndex((x) => x !== 67), -1);
    conn.close();
    for (const x of [a, b, c, big]) x.release();
  },
});

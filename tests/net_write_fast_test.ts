/**
 * conn.write()'s quick path (no send in flight, no signal/timeout: no
 * async function, handlers made once per connection) at its edges: short
 * writes resumed with the turn held, close and ring close while it is in
 * the kernel, the buffer busy meanwhile, bad input rejected (never thrown),
 * and a randomized mix of quick, queued and watched writes that must reach
 * the peer in call order, byte-exact.
 */
import assert from "node:assert/strict";
import {
  BufferBusyError,
  BufferReleasedError,
  ConnectionClosedError,
  HybridPool,
  Ring,
  RingClosedError,
} from "../mod.ts";
import { readingPeer as peer, within } from "./helpers.ts";

const MiB = 1 << 20;

const pattern = (seed: number, n: number) => {
  const a = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = x & 0xff;
  }
  return a;
};

Deno.test({
  name: "quick write: 16 MiB to a peer that starts reading late is resumed across short writes",
  sanitizeResources: false,
  async fn() {
    for (const releaseEarly of [false, true]) {
      using ring = new Ring({ entries: 64 });
      using pool = HybridPool.create({ classes: [{ size: 16 * MiB, count: 1 }], registrar: ring });
      const p = peer();
      using conn = await ring.connect({ hostname: "127.0.0.1", port: p.port });
      const buf = pool.alloc(16 * MiB);
      const want = pattern(7, 16 * MiB);
      buf.bytes.set(want);
      const w = conn.write(buf);
      w.catch(() => {}); // a failed assertion below must not leave it unhandled
      // In the kernel (the socket buffer is full long before 16 MiB): busy.
      await new Promise((r) => setTimeout(r, 50));
      assert.throws(() => buf.transfer(), BufferBusyError);
      // A release meanwhile waits for the write: the block stays live.
      if (releaseEarly) buf.release();
      assert.equal(pool.stats().liveBuffers, 1);
      p.start();
      assert.equal(await within(w, 20000, "16 MiB write"), 16 * MiB);
      if (releaseEarly) assert.equal(pool.stats().liveBuffers, 0);
      else buf.release();
      await conn.closeWrite();
      const got = await within(p.got, 20000, "peer");
      assert.equal(got.length, want.length);
      const diff = got.findIndex((v, i) => v !== want[i]);
      assert.equal(diff, -1, `first difference at byte ${diff}`);
    }
  },
});

Deno.test({
  name: "quick write: close() and ring.close() while it waits in the kernel reject it, typed",
  sanitizeResources: false,
  async fn() {
    for (const which of ["conn", "ring"] as const) {
      const ring = new Ring({ entries: 64 });
      const pool = HybridPool.create({ classes: [{ size: 16 * MiB, count: 1 }], registrar: ring });
      const p = peer(); // never reads until the end
      const conn = await ring.connect({ hostname: "127.0.0.1", port: p.port });
      const buf = pool.alloc(16 * MiB);
      const w = conn.write(buf);
      await new Promise((r) => setTimeout(r, 50));
      if (which === "conn") conn.close();
      else ring.close();
      const err = await within(w.then(() => null, (e) => e), 5000, `${which} close`);
      assert.ok(
        which === "conn" ? err instanceof ConnectionClosedError : err instanceof RingClosedError,
        `${which}: ${err}`,
      );
      // The kernel is done with it once the write settled: free to release.
      buf.release();
      // And the connection refuses new writes with the same typed error.
      const again = pool.alloc(4096);
      await assert.rejects(
        conn.write(again),
        which === "conn" ? ConnectionClosedError : RingClosedError,
      );
      again.release();
      conn.close(); // after ring.close() too: the fd is closed directly
      p.start();
      await within(p.got, 5000, `peer (${which})`);
      pool.close();
      ring.close();
    }
  },
});

Deno.test({
  name: "quick write: bad input rejects (never throws) and leaves the turn free",
  sanitizeResources: false,
  async fn() {
    using ring = new Ring({ entries: 64 });
    using pool = HybridPool.create({ classes: [{ size: 4096, count: 8 }], registrar: ring });
    const p = peer();
    p.start();
    using conn = await ring.connect({ hostname: "127.0.0.1", port: p.port });
    const dead = pool.alloc(4096);
    dead.release();
    let r: Promise<number> | undefined;
    assert.doesNotThrow(() => r = conn.write(dead));
    await assert.rejects(r!, BufferReleasedError);
    using buf = pool.alloc(4096);
    await assert.rejects(conn.write(buf, { length: 4097 }), RangeError);
    await assert.rejects(conn.write(buf, { length: 1.5 }), RangeError);
    assert.equal(await conn.write(buf, { length: 0 }), 0);
    // A plain object is no FixedBuf.
    await assert.rejects(conn.write({} as never), TypeError);
    // The turn was never kept: a real write still goes, and arrives.
    buf.bytes.fill(9);
    assert.equal(await within(conn.write(buf, { length: 10 }), 5000, "write"), 10);
    await conn.closeWrite();
    assert.deepEqual(await within(p.got, 5000, "peer"), new Uint8Array(10).fill(9));
  },
});

Deno.test({
  name: "model: seeded mix of quick, queued and signalled writes keeps call order, byte-exact",
  sanitizeResources: false,
  async fn() {
    const seed = Number(Deno.env.get("VELOQ_FAST_WRITE_SEED") ?? 20261202);
    const steps = Number(Deno.env.get("VELOQ_FAST_WRITE_STEPS") ?? 300);
    let x = seed;
    const rand = (n: number) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x >>> 8) % n;
    };
    using ring = new Ring({ entries: 256 });
    using pool = HybridPool.create({
      classes: [{ size: 4096, count: 64 }, { size: 256 * 1024, count: 16 }],
      registrar: ring,
    });
    const p = peer();
    using conn = await ring.connect({ hostname: "127.0.0.1", port: p.port });
    const want: Uint8Array[] = [];
    const pending: Promise<void>[] = [];
    let started = false;
    for (let i = 0; i < steps; i++) {
      const size = rand(4) === 0 ? 1 + rand(256 * 1024) : 1 + rand(4096);
      const buf = pool.alloc(size <= 4096 ? 4096 : 256 * 1024);
      const len = size;
      const bytes = pattern(seed + i, len);
      buf.bytes.set(bytes);
      want.push(bytes);
      const kind = rand(3); // 0: quick when the turn is free, 1: with a signal, 2: with a timeout
      const options = kind === 1
        ? { length: len, signal: new AbortController().signal }
        : kind === 2
        ? { length: len, timeout: 60000 }
        : { length: len };
      const w = conn.write(buf, options).then((n) => {
        assert.equal(n, len, `write ${i}`);
        buf.release();
      });
      pending.push(w);
      // Sometimes await (the next write finds the turn free), sometimes not.
      if (rand(3) === 0) await within(w, 10000, `write ${i}`);
      if (!started && i > steps / 3) {
        started = true;
        p.start();
      }
    }
    p.start();
    await within(Promise.all(pending), 30000, "all writes");
    await conn.closeWrite();
    const got = await within(p.got, 30000, "peer");
    const total = want.reduce((a, b) => a + b.length, 0);
    assert.equal(got.length, total, `seed ${seed}`);
    let off = 0;
    for (let i = 0; i < want.length; i++) {
      assert.deepEqual(
        got.subarray(off, off + want[i].length),
        want[i],
        `write ${i}, seed ${seed}`,
      );
      off += want[i].length;
    }
  },
});

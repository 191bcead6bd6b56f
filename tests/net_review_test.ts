/**
 * Regression tests for review 16 (network): a zero-copy send's buffer is
 * never reused under the kernel when the ring closes before the
 * notification (D0), close() with zero-copy sends queued to a non-reading
 * peer rejects them and closes the socket (D2), and back-pressure holds on
 * the multishot recv path (D1). 127.0.0.1 with port 0 only; every wait is
 * bounded.
 */
import assert from "node:assert/strict";
import { ConnectionClosedError, type FixedBuf, HybridPool, Ring, RingClosedError } from "../mod.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Rejects when `p` takes longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const addrOf = (b: FixedBuf) => Deno.UnsafePointer.value(Deno.UnsafePointer.of(b.bytes));

/** Reads until `want` bytes, end of stream, or 2 s without data. */
async function readAll(peer: Deno.Conn, want: number): Promise<Uint8Array> {
  const out = new Uint8Array(want);
  let got = 0;
  const buf = new Uint8Array(64 * KiB);
  while (got < want) {
    let n: number | null;
    try {
      n = await within(peer.read(buf), 2000, "peer read");
    } catch {
      break;
    }
    if (n === null) break;
    out.set(buf.subarray(0, Math.min(n, want - got)), got);
    got += n;
  }
  return out.subarray(0, got);
}

const count = (b: Uint8Array, v: number) => b.reduce((a, x) => a + (x === v ? 1 : 0), 0);

Deno.test({
  name:
    "review16 D0: ring.close() during a zero-copy send keeps the buffer busy (peer gets the sent bytes)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ring = new Ring({ entries: 64 });
    const pool = HybridPool.create({
      classes: [{ size: 64 * KiB, count: 1 }, { size: MiB, count: 1 }],
      registrar: ring,
    });
    const l = ring.listen({ hostname: "127.0.0.1", port: 0 });
    const a = l.accept();
    const peer = await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
    try {
      const c = await within(a, 5000, "accept");
      const filler = pool.alloc(MiB);
      filler.bytes.fill(0x2e);
      const fw = c.write(filler).catch((e) => e);
      await sleep(100); // the socket's send queue is full, the peer reads nothing yet
      const zb = pool.alloc(64 * KiB);
      zb.bytes.fill(0x41);
      const zbAddr = addrOf(zb);
      const s = c.send(zb, { zeroCopy: true }).then((n) => n, (e) => e);
      await sleep(100);
      l.close();
      c.close();
      ring.close(); // gives up waiting for the notification (the peer does not read)
      const sent = await within(s, 5000, "zero-copy send settles");
      assert.ok(
        sent instanceof RingClosedError || sent instanceof ConnectionClosedError,
        `send settled with ${sent}`,
      );
      await within(fw, 5000, "filler settles");
      filler.release();
      zb.release(); // allowed; the memory must not come back while the kernel may send it
      const again = pool.tryAlloc(64 * KiB);
      if (again !== null) {
        assert.notEqual(addrOf(again), zbAddr, "the zero-copy block was re-allocated");
        again.bytes.fill(0x5a);
      }
      const got = await readAll(peer, MiB + 64 * KiB);
      const tail = got.subarray(MiB);
      assert.equal(count(tail, 0x5a), 0, "the peer received the new owner's bytes");
      assert.equal(count(tail, 0x41), tail.length);
    } finally {
      peer.close();
    }
  },
});

Deno.test({
  name:
    "review16 D0: ring.close() during a zero-copy echo of a received buffer keeps its block busy",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ring = new Ring({ entries: 64 });
    const pool = HybridPool.create({
      classes: [{ size: 64 * KiB, count: 2 }, { size: MiB, count: 1 }],
      registrar: ring,
    });
    const group = ring.provideBuffers(pool, { size: 64 * KiB, count: 1, perConnection: 1 });
    const l = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
    const a = l.accept();
    const peer = await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
    try {
      const c = await within(a, 5000, "accept");
      const filler = pool.alloc(MiB);
      filler.bytes.fill(0x2e);
      const fw = c.write(filler).catch((e) => e);
      await peer.write(new Uint8Array(4096).fill(0x41));
      const rb = (await within(c.recv(), 5000, "recv"))!;
      assert.equal(rb.length, 4096);
      const rbAddr = addrOf(rb);
      const s = c.send(rb, { zeroCopy: true }).then((n) => n, (e) => e);
      await sleep(100);
      c.close();
      l.close();
      ring.close();
      group.close();
      rb.release();
      await sleep(50);
      const sent = await within(s, 5000, "zero-copy send settles");
      assert.ok(sent instanceof Error, `send settled with ${sent}`);
      const again = pool.tryAlloc(64 * KiB);
      if (again !== null) {
        assert.notEqual(addrOf(again), rbAddr, "the received block was re-allocated");
        again.bytes.fill(0x5a);
      }
      await within(fw, 5000, "filler settles");
      const got = await readAll(peer, MiB + 4096);
      const tail = got.subarray(MiB);
      assert.equal(tail.length, 4096);
      assert.equal(count(tail, 0x41), 4096, "the echo is not what was received");
    } finally {
      peer.close();
    }
  },
});

Deno.test({
  name:
    "review16 D2: close() with zero-copy sends queued to a non-reading peer rejects them and closes the socket",
  fn: async () => {
    using ring = new Ring({ entries: 256 });
    const pool = HybridPool.create({ classes: [{ size: 64 * KiB, count: 8 }], registrar: ring });
    using l = ring.listen({ hostname: "127.0.0.1", port: 0 });
    const a = l.accept();
    const peer = await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
    try {
      const c = await within(a, 5000, "accept");
      const big = pool.alloc(64 * KiB);
      big.bytes.fill(0x42);
      const ps = [0, 1, 2, 3].map(() =>
        c.send(big, { zeroCopy: true }).then((n) => n, (e) => e as Error)
      );
      await sleep(200); // results came; the data sits in the queues, the peer reads nothing
      c.close();
      const res = await within(Promise.all(ps), 2000, "sends settle after close()");
      for (const r of res) {
        assert.ok(
          r === 64 * KiB || r instanceof ConnectionClosedError,
          `a send settled with ${r}`,
        );
      }
      assert.ok(res.some((r) => r instanceof ConnectionClosedError), "no send was rejected");
      // The socket is closed: the peer reads what was queued, then EOF.
      const buf = new Uint8Array(64 * KiB);
      let total = 0;
      for (;;) {
        const n = await within(peer.read(buf), 3000, "peer reads up to EOF");
        if (n === null) break;
        total += n;
      }
      assert.ok(total > 0 && total <= 4 * 64 * KiB, `peer got ${total}`);
      // The buffer is given back after the notifications.
      await sleep(50);
      big.release();
      const again = pool.alloc(64 * KiB);
      again.release();
    } finally {
      peer.close();
    }
  },
});

Deno.test({
  name:
    "review16 D1: a connection holding its received blocks stops at its share (multishot-sized share); the others keep flowing",
  fn: async () => {
    using ring = new Ring({ entries: 256 });
    const pool = HybridPool.create({ classes: [{ size: 4 * KiB, count: 512 }], registrar: ring });
    const group = ring.provideBuffers(pool, { size: 4 * KiB, count: 256 }); // default share 64
    const per = group.perConnection;
    assert.ok(per >= 32 && per < 256, `share ${per}`);
    using l = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
    const pair = async () => {
      const a = l.accept();
      const p = await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
      return { p, c: await within(a, 5000, "accept") };
    };
    const hog = await pair();
    const others = [await pair(), await pair(), await pair()];
    const held: FixedBuf[] = [];
    try {
      const hogW = (async () => {
        for (let i = 0; i < 64; i++) await hog.p.write(new Uint8Array(16 * KiB));
      })().catch(() => {});
      const hogR = (async () => {
        try {
          for (;;) {
            const b = await hog.c.recv();
            if (!b) break;
            held.push(b);
          }
        } catch { /* closed */ }
      })();
      await sleep(300);
      assert.ok(held.length <= per, `the hog holds ${held.length} blocks, share ${per}`);
      const got = [0, 0, 0];
      await Promise.all(others.map(async ({ p, c }, k) => {
        const wr = (async () => {
          for (let i = 0; i < 16; i++) await p.write(new Uint8Array(8 * KiB));
        })();
        while (got[k] < 128 * KiB) {
          const b = await within(c.recv(), 3000, `recv on connection ${k}`);
          if (!b) break;
          got[k] += b.length;
          b.release();
        }
        await wr;
      }));
      assert.deepEqual(got, [128 * KiB, 128 * KiB, 128 * KiB]);
      assert.ok(held.length <= per, `the hog holds ${held.length} blocks, share ${per}`);
      // Releasing lets the hog have the rest, in order.
      let hogBytes = 0;
      for (const b of held.splice(0)) {
        hogBytes += b.length;
        b.release();
      }
      hog.c.close();
      await within(hogR, 3000, "hog reader ends");
      for (const b of held.splice(0)) b.release();
      hog.p.close();
      await hogW;
      assert.ok(hogBytes > 0);
    } finally {
      for (const b of held) b.release();
      for (const { p, c } of others) {
        c.close();
        p.close();
      }
      hog.c.close();
      try {
        hog.p.close();
      } catch { /* closed */ }
    }
  },
});

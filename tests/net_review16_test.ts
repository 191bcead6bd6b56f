/**
 * Defects found by the session's hostile review and independent test run
 * (issue 16), each a regression test: recv() after a partial read(),
 * accept() options while the multishot accept is armed, request options
 * checked before anything reaches the kernel, zero-copy send after the
 * ring closed, a terminated Worker's sockets, and `using` disposal with a
 * connection left to the ring (default and fallback receive modes).
 */
import assert from "node:assert/strict";
import { BuddyPool, HybridPool, Ring, RingClosedError } from "../mod.ts";
import { readingPeer, seededRandom, within } from "./helpers.ts";

const KiB = 1024;

/** A Ring listener on a group of `size`-byte blocks, its one connection
 * from a Deno client, and the client. */
async function pair(ring: Ring, pool: HybridPool, size: number) {
  const group = ring.provideBuffers(pool, { size, count: 16, perConnection: 16 });
  const listener = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
  const accepted = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await accepted;
  listener.close();
  return { group, conn, client };
}

/** Writes `want` from the Deno client in seeded random chunks (up to 20000
 * bytes), then shuts its sending side. Its own generator: the receiving
 * side's calls replay the same whatever the timing. */
async function sendChunks(client: Deno.Conn, want: Uint8Array, seed: number): Promise<void> {
  const rand = seededRandom(seed + 1);
  for (let off = 0; off < want.length;) {
    const n = Math.min(want.length - off, 1 + Math.floor(rand() * 20000));
    await client.write(want.subarray(off, off + n));
    off += n;
  }
  await client.closeWrite();
}

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

Deno.test({
  name: "recv() after a partial read() returns the rest of that block first",
  sanitizeResources: false,
  async fn() {
    using ring = new Ring({ entries: 64 });
    using pool = HybridPool.create({ classes: [{ size: 64 * KiB, count: 16 }], registrar: ring });
    using small = BuddyPool.create({ arenaSize: 64 * KiB });
    const { group, conn, client } = await pair(ring, pool, 64 * KiB);
    const want = pattern(100_000);
    await client.write(want);
    await client.closeWrite();
    const got: number[] = [];
    const first = await within(conn.recv(), 5000, "recv");
    assert.ok(first !== null);
    got.push(...first.bytes);
    first.release();
    using dst = small.alloc(4096);
    const n = await within(conn.read(dst), 5000, "read");
    got.push(...dst.bytes.subarray(0, n));
    for (;;) {
      const b = await within(conn.recv({ timeout: 5000 }), 6000, "recv");
      if (b === null) break;
      got.push(...b.bytes);
      b.release();
    }
    assert.equal(got.length, want.length);
    assert.deepEqual(Uint8Array.from(got), want);
    conn.close();
    client.close();
    group.close();
  },
});

Deno.test({
  name: "model: a seeded mix of recv() and small read() calls loses nothing, in order",
  sanitizeResources: false,
  async fn() {
    const seed = Number(Deno.env.get("VELOQ_RECV_READ_SEED") ?? 16);
    const rand = seededRandom(seed);
    using ring = new Ring({ entries: 64 });
    using pool = HybridPool.create({ classes: [{ size: 16 * KiB, count: 16 }], registrar: ring });
    using small = BuddyPool.create({ arenaSize: 256 * KiB });
    const { group, conn, client } = await pair(ring, pool, 16 * KiB);
    const want = pattern(400_000);
    const sent = sendChunks(client, want, seed);
    const got = new Uint8Array(want.length + 1);
    let have = 0;
    for (let step = 0;; step++) {
      if (rand() < 0.5) {
        const b = await within(conn.recv(), 5000, `recv at step ${step}`);
        if (b === null) break;
        got.set(b.bytes, have);
        have += b.length;
        b.release();
      } else {
        using dst = small.alloc(1 + Math.floor(rand() * 8192));
        const n = await within(conn.read(dst), 5000, `read at step ${step}`);
        if (n === 0) break;
        got.set(dst.bytes.subarray(0, n), have);
        have += n;
      }
      assert.deepEqual(got.subarray(0, have), want.subarray(0, have), `seed ${seed} step ${step}`);
    }
    await sent;
    assert.equal(have, want.length, `seed ${seed}`);
    conn.close();
    client.close();
    group.close();
  },
});

Deno.test({
  name: "model: recv() and read() calls issued together (not awaited) deliver in call order",
  sanitizeResources: false,
  async fn() {
    const seed = Number(Deno.env.get("VELOQ_RECV_READ_SEED") ?? 17);
    const rand = seededRandom(seed);
    using ring = new Ring({ entries: 64 });
    using pool = HybridPool.create({ classes: [{ size: 16 * KiB, count: 16 }], registrar: ring });
    using small = BuddyPool.create({ arenaSize: 1024 * KiB });
    const { group, conn, client } = await pair(ring, pool, 16 * KiB);
    const want = pattern(400_000);
    const sent = sendChunks(client, want, seed);
    const got = new Uint8Array(want.length + 1);
    let have = 0, ended = false;
    for (let step = 0; !ended; step++) {
      // 1-4 calls at once, each its own promise, results taken in call order.
      const calls = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => {
        if (rand() < 0.5) return { buf: null, p: conn.recv() };
        const buf = small.alloc(1 + Math.floor(rand() * 8192));
        return { buf, p: conn.read(buf) };
      });
      for (const c of calls) {
        const r = await within(c.p as Promise<unknown>, 5000, `step ${step}`);
        if (c.buf === null) {
          const b = r as { bytes: Uint8Array; length: number; release(): void } | null;
          if (b === null) ended = true;
          else {
            assert.ok(!ended, "data after end of stream");
            got.set(b.bytes, have);
            have += b.length;
            b.release();
          }
        } else {
          const n = r as number;
          if (n === 0) ended = true;
          else {
            assert.ok(!ended, "data after end of stream");
            got.set(c.buf.bytes.subarray(0, n), have);
            have += n;
          }
          c.buf.release();
        }
      }
      assert.deepEqual(got.subarray(0, have), want.subarray(0, have), `seed ${seed} step ${step}`);
    }
    await sent;
    assert.equal(have, want.length, `seed ${seed}`);
    conn.close();
    client.close();
    group.close();
    assert.equal(group.stats().heldByJs, 0);
  },
});

Deno.test({
  name: "listener.accept({ timeout, signal }) ends while the multishot accept is armed",
  sanitizeResources: false,
  async fn() {
    using ring = new Ring({ entries: 64 });
    using l = ring.listen({ hostname: "127.0.0.1", port: 0 });
    // After a for-await that took one connection and broke off ...
    const c1 = await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
    for await (const c of l) {
      c.close();
      break;
    }
    await assert.rejects(within(l.accept({ timeout: 50 }), 3000, "accept"), {
      name: "TimeoutError",
    });
    // ... and beside a loop that keeps the multishot accept armed.
    const loop = (async () => {
      for await (const c of l) c.close();
    })();
    await new Promise((r) => setTimeout(r, 20));
    const ac = new AbortController();
    const why = new Error("stop");
    setTimeout(() => ac.abort(why), 50);
    await assert.rejects(within(l.accept({ signal: ac.signal }), 3000, "accept"), (e) => e === why);
    // An accept whose wait ended takes no connection from the others.
    const c2 = await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
    l.close();
    await within(loop, 3000, "loop");
    c1.close();
    c2.close();
  },
});

Deno.test({
  name:
    "a signal that is no AbortSignal, or a bad timeout, rejects before the kernel sees anything",
  sanitizeResources: false,
  async fn() {
    using ring = new Ring({ entries: 64 });
    using pool = HybridPool.create({ classes: [{ size: 4 * KiB, count: 8 }], registrar: ring });
    const p = readingPeer();
    p.start();
    using conn = await ring.connect({ hostname: "127.0.0.1", port: p.port });
    using buf = pool.alloc(4 * KiB);
    buf.bytes.fill(1);
    const bad = [{ signal: {} as AbortSignal }, { timeout: "5" as unknown as number }, {
      timeout: -1,
    }, { timeout: 2 ** 40 }];
    for (const options of bad) {
      let r: Promise<unknown> | undefined;
      assert.doesNotThrow(() => r = conn.write(buf, options));
      await assert.rejects(r!, (e) => e instanceof TypeError || e instanceof RangeError);
      assert.doesNotThrow(() => r = conn.recv(options));
      await assert.rejects(r!, (e) => e instanceof TypeError || e instanceof RangeError);
      await assert.rejects(
        conn.read(buf, options),
        (e) => e instanceof TypeError || e instanceof RangeError,
      );
      await assert.rejects(
        ring.connect({ hostname: "127.0.0.1", port: p.port, ...options }),
        (e) => e instanceof TypeError || e instanceof RangeError,
      );
    }
    // Nothing was sent by the refused writes: the peer reads only this.
    assert.equal(await conn.write(buf, { length: 3 }), 3);
    await conn.closeWrite();
    assert.deepEqual(await within(p.got, 5000, "peer"), new Uint8Array(3).fill(1));
  },
});

Deno.test({
  name: "send({ zeroCopy: true }) on a connection whose ring closed rejects (no throw)",
  sanitizeResources: false,
  async fn() {
    const ring = new Ring({ entries: 64 });
    const pool = BuddyPool.create({ arenaSize: 64 * KiB });
    const p = readingPeer();
    p.start();
    const conn = await ring.connect({ hostname: "127.0.0.1", port: p.port });
    ring.close();
    const buf = pool.alloc(4096);
    let r: Promise<number> | undefined;
    assert.doesNotThrow(() => r = conn.send(buf, { zeroCopy: true }));
    await assert.rejects(r!, RingClosedError);
    buf.release();
    pool.close();
    await within(p.got, 5000, "peer");
  },
});

Deno.test({
  name: "a terminated Worker's sockets are closed: its peer sees EOF, its port is free",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const w = new Worker(new URL("./fixtures/net_sockets_worker.ts", import.meta.url), {
      type: "module",
    });
    const msgs: unknown[] = [];
    const next = () =>
      new Promise<unknown>((resolve) => {
        if (msgs.length > 0) return resolve(msgs.shift());
        w.onmessage = (e) => resolve(e.data);
      });
    const { port } = await within(next(), 10000, "worker port") as { port: number };
    const peer = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await within(next(), 10000, "accepted"), "accepted");
    w.terminate();
    assert.equal(await within(peer.read(new Uint8Array(8)), 5000, "peer read"), null);
    peer.close();
    // The listener went with it (the exit hook runs once the thread ends).
    await waitPortFree(port);
  },
});

/** Binds `port` until it is free (the exit hook runs once the thread
 * ends), or throws AddrInUse after 5 s. */
async function waitPortFree(port: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return;
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

Deno.test({
  name: "a Worker that closes its listeners and ends in the same tick leaves no port bound",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const w = new Worker(new URL("./fixtures/net_close_queued_worker.ts", import.meta.url), {
      type: "module",
    });
    const next = () => new Promise<unknown>((resolve) => w.onmessage = (e) => resolve(e.data));
    assert.equal(await within(next(), 10000, "ready"), "ready");
    const reply = next();
    w.postMessage("close");
    const { ports } = await within(reply, 10000, "ports") as { ports: number[] };
    for (const port of ports) await waitPortFree(port);
  },
});

Deno.test({
  name: "a connection accepted while a Worker ends (its completion unseen) is closed: EOF",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const w = new Worker(new URL("./fixtures/net_accept_at_exit_worker.ts", import.meta.url), {
      type: "module",
    });
    const { port } = await within(
      new Promise<{ port: number }>((resolve) => w.onmessage = (e) => resolve(e.data)),
      10000,
      "worker port",
    );
    w.postMessage("spin");
    await new Promise((r) => setTimeout(r, 100)); // the Worker's thread is busy now
    const peer = await Deno.connect({ hostname: "127.0.0.1", port });
    const end = await within(
      peer.read(new Uint8Array(8)).then((n) => n, (e) => (e as Error).name),
      5000,
      "peer read",
    );
    assert.ok(end === null || end === "ConnectionReset", `peer read ${end}`);
    peer.close();
    await waitPortFree(port);
  },
});

Deno.test({
  name: "a connection accepted in the drain that ends a Worker (never wrapped) is closed: EOF",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const w = new Worker(new URL("./fixtures/net_accept_reaped_exit_worker.ts", import.meta.url), {
      type: "module",
    });
    const msgs: unknown[] = [];
    let wake: (() => void) | null = null;
    w.onmessage = (e) => {
      msgs.push(e.data);
      wake?.();
    };
    const next = async () => {
      while (msgs.length === 0) await new Promise<void>((r) => wake = r);
      return msgs.shift();
    };
    const ports = await within(next(), 10000, "ports") as { a: number; l: number };
    w.postMessage("accept-a");
    const peerA = await Deno.connect({ hostname: "127.0.0.1", port: ports.a });
    assert.equal(await within(next(), 10000, "armed"), "armed");
    w.postMessage("spin");
    await new Promise((r) => setTimeout(r, 100));
    await peerA.write(new Uint8Array([1, 2, 3])); // the recv completes first
    await new Promise((r) => setTimeout(r, 20));
    const peerL = await Deno.connect({ hostname: "127.0.0.1", port: ports.l }); // then the accept
    const end = await within(
      peerL.read(new Uint8Array(8)).then((n) => n, (e) => (e as Error).name),
      5000,
      "peer of the accepted connection",
    );
    assert.ok(end === null || end === "ConnectionReset", `peer read ${end}`);
    peerA.close();
    peerL.close();
  },
});

/** The README's `using` order with one connection left open for the ring
 * to close, its received blocks never taken; prints "clean" or the error. */
const USING_ORDER = `
import { HybridPool, Ring } from "${new URL("../mod.ts", import.meta.url).href}";
try {
  using ring = new Ring({ entries: 64, ...JSON.parse(Deno.env.get("RING_OPTIONS") ?? "{}") });
  using pool = HybridPool.create({ classes: [{ size: 16384, count: 32 }], registrar: ring });
  using group = ring.provideBuffers(pool, { size: 16384, count: 32 });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
  const accepted = listener.accept();
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await accepted;
  await peer.write(new Uint8Array(40000));
  const first = await conn.recv(); // a receive stays armed; more blocks queue up
  first?.release();
  await new Promise((r) => setTimeout(r, 50));
  console.log("clean");
  peer.close();
} catch (e) {
  console.log(String(e));
}
`;

const FALLBACK = "multishotRecv,pbufRing,sendZc,multishotAccept";

/** Fallback mode on a 4-entry SQPOLL ring: more receives armed than the SQ
 * holds, the group closed inside a for-await body, the pool right after
 * (review 16c #2: cancels that found the SQ full waited for a timer). */
const MANY_ARMED = `
import { HybridPool, Ring } from "${new URL("../mod.ts", import.meta.url).href}";
const ring = new Ring({ entries: 4, sqpoll: true });
const pool = HybridPool.create({ classes: [{ size: 16384, count: 64 }], registrar: ring });
const group = ring.provideBuffers(pool, { size: 16384, count: 64 });
const listener = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
const peers = [], conns = [];
for (let i = 0; i < 12; i++) {
  const acc = listener.accept();
  peers.push(await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }));
  conns.push(await acc);
}
for (let i = 1; i < conns.length; i++) conns[i].recv().then((b) => b?.release(), () => {});
await peers[0].write(new Uint8Array(100));
let out = "no iteration";
for await (const b of conns[0]) {
  b.release();
  try {
    group.close();
    pool.close();
    out = "clean";
  } catch (e) {
    out = String(e);
  }
  break;
}
console.log(out);
for (const p of peers) p.close();
ring.close();
`;

Deno.test({
  name:
    "fallback mode, sqpoll, more receives armed than SQ entries: group.close() then pool.close()",
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", MANY_ARMED],
      env: { VELOQ_NET_DISABLE: FALLBACK },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assert.equal(text, "clean", new TextDecoder().decode(out.stderr));
  },
});
for (
  const [disable, ringOptions] of [["", "{}"], [FALLBACK, "{}"], [FALLBACK, '{"sqpoll":true}']]
) {
  Deno.test({
    name: `using order (ring, pool, group, listener) with a connection left open disposes clean${
      disable ? " (fallback receive mode)" : ""
    }${ringOptions !== "{}" ? ` ${ringOptions}` : ""}`,
    async fn() {
      const env: Record<string, string> = { RING_OPTIONS: ringOptions };
      if (disable) env.VELOQ_NET_DISABLE = disable;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", USING_ORDER],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assert.equal(text, "clean", new TextDecoder().decode(out.stderr));
      assert.ok(out.success);
    },
  });
}

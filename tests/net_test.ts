/**
 * Network I/O on the Ring, on 127.0.0.1 / ::1 with port 0 only: echo,
 * IPv6, interop with Deno.connect / Deno.listen, 64 MiB over 32
 * connections in random chunks, a peer that resets mid-stream, a listener
 * closed with accepts pending, ENOBUFS recovery with a tiny group,
 * back-pressure with a stalled reader, typed errors, request options, and
 * the single-shot fallbacks (VELOQ_NET_DISABLE) in a subprocess.
 */
import assert from "node:assert/strict";
import {
  BuddyPool,
  type BufferGroup,
  ConnectionClosedError,
  type FixedBuf,
  HybridPool,
  IoError,
  Ring,
  RingClosedError,
  type RingConn,
} from "../mod.ts";

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

/** A seeded PRNG (mulberry32): replayable runs. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Echo server on a ring: every received buffer is written back. */
function echoServer(ring: Ring, hostname = "127.0.0.1", recvBuffers?: BufferGroup) {
  const listener = ring.listen({ hostname, port: 0, recvBuffers });
  const conns: RingConn[] = [];
  const done = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        using c = conn;
        try {
          for await (const buf of c) {
            try {
              await c.write(buf);
            } finally {
              buf.release();
            }
          }
          await c.closeWrite();
        } catch (e) {
          if (!(e instanceof ConnectionClosedError)) throw e;
        }
      })();
    }
  })();
  return { listener, conns, done };
}

Deno.test("ring echo over IPv4 and IPv6: recv buffers carry length, port 0 picks a port", async () => {
  using ring = new Ring({ entries: 64 });
  using pool = BuddyPool.create({ arenaSize: 1 * MiB });
  for (const host of ["127.0.0.1", "::1"]) {
    const srv = echoServer(ring, host);
    assert.ok(srv.listener.addr.port > 0);
    assert.equal(srv.listener.addr.hostname, host);
    assert.equal(srv.listener.addr.family, host === "::1" ? 6 : 4);
    using conn = await within(
      ring.connect({ hostname: host, port: srv.listener.addr.port }),
      5000,
      "connect",
    );
    assert.equal(conn.remoteAddr.port, srv.listener.addr.port);
    using buf = pool.alloc(4096);
    assert.equal(buf.length, buf.capacity);
    const msg = new TextEncoder().encode(`hello ${host}`);
    buf.bytes.set(msg);
    assert.equal(await conn.write(buf, { length: msg.length }), msg.length);
    const got = await within(conn.recv(), 5000, "recv");
    assert.ok(got !== null);
    assert.equal(got.length, msg.length);
    assert.equal(got.bytes.length, msg.length);
    assert.equal(got.capacity, 16384);
    assert.deepEqual(got.bytes, msg);
    got.release();
    await conn.closeWrite();
    assert.equal(await within(conn.recv(), 5000, "eof"), null);
    assert.equal(await conn.recv(), null); // stays at end of stream
    srv.listener.close();
    await within(srv.done, 5000, "listener iteration ends at close");
  }
});

Deno.test("interop: Deno.connect against ring.listen, ring.connect against Deno.listen", async () => {
  using ring = new Ring({ entries: 64 });
  using pool = BuddyPool.create({ arenaSize: 1 * MiB });
  // Deno client -> ring server (echo)
  const srv = echoServer(ring);
  const client = await Deno.connect({ hostname: "127.0.0.1", port: srv.listener.addr.port });
  const data = pattern(300 * KiB, 1);
  const writing = (async () => {
    for (let off = 0; off < data.length;) off += await client.write(data.subarray(off));
    await client.closeWrite();
  })();
  const back = new Uint8Array(data.length + 64 * KiB);
  let got = 0;
  for (;;) {
    const n = await within(client.read(back.subarray(got, got + 64 * KiB)), 5000, "deno read");
    if (n === null) break;
    got += n;
  }
  await writing;
  client.close();
  assert.equal(got, data.length);
  assert.deepEqual(back.subarray(0, got), data);
  srv.listener.close();
  await srv.done;

  // ring client -> Deno server (echo)
  const dl = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const c = await dl.accept();
    const b = new Uint8Array(64 * KiB);
    for (;;) {
      const n = await c.read(b);
      if (n === null) break;
      for (let off = 0; off < n;) off += await c.write(b.subarray(off, n));
    }
    c.close();
  })();
  using conn = await ring.connect({ port: (dl.addr as Deno.NetAddr).port });
  using out = pool.alloc(200 * KiB);
  out.bytes.set(data.subarray(0, out.length));
  const w = conn.write(out);
  using into = pool.alloc(64 * KiB);
  const seen: Uint8Array[] = [];
  let total = 0;
  while (total < out.length) {
    const n = await within(conn.read(into), 5000, "ring read");
    assert.ok(n > 0);
    seen.push(into.bytes.slice(0, n));
    total += n;
  }
  assert.equal(await w, out.length);
  await conn.closeWrite();
  assert.equal(await within(conn.read(into), 5000, "eof"), 0);
  const joined = new Uint8Array(total);
  let o = 0;
  for (const s of seen) joined.set(s, (o += s.length) - s.length);
  assert.deepEqual(joined, data.subarray(0, out.length));
  await served;
  dl.close();
});

Deno.test("64 MiB echo in random chunk sizes over 32 connections is byte-exact", async () => {
  const seed = Date.now() % 100000;
  const rand = rng(seed);
  using ring = new Ring({ entries: 256 });
  using pool = HybridPool.create({
    classes: [{ size: 64 * KiB, count: 64 }, { size: 256 * KiB, count: 64 }],
  });
  using recvPool = HybridPool.create({ classes: [{ size: 16 * KiB, count: 512 }] });
  using group = ring.provideBuffers(recvPool, { size: 16 * KiB, count: 512 });
  const srv = echoServer(ring, "127.0.0.1", group);
  const CONNS = 32;
  const PER = 2 * MiB; // 32 x 2 MiB = 64 MiB
  const client = async (id: number) => {
    const data = pattern(PER, seed + id);
    using conn = await ring.connect({ port: srv.listener.addr.port, recvBuffers: group });
    const sender = (async () => {
      let off = 0;
      while (off < PER) {
        const len = Math.min(PER - off, 1 + Math.floor(rand() * 200 * KiB));
        using b = pool.alloc(len);
        b.bytes.set(data.subarray(off, off + len));
        await conn.write(b, { length: len });
        off += len;
      }
      await conn.closeWrite();
    })();
    let got = 0;
    for await (const buf of conn) {
      const expect = data.subarray(got, got + buf.length);
      const ok = buf.length <= PER - got && buf.bytes.every((v, i) => v === expect[i]);
      got += buf.length;
      buf.release();
      if (!ok) throw new Error(`conn ${id}: mismatch before byte ${got} (seed ${seed})`);
    }
    await sender;
    assert.equal(got, PER, `conn ${id} (seed ${seed})`);
  };
  await within(
    Promise.all(Array.from({ length: CONNS }, (_, i) => client(i))),
    120_000,
    `64 MiB echo (seed ${seed})`,
  );
  srv.listener.close();
  await srv.done;
  const s = group.stats();
  assert.equal(s.heldByJs, 0);
  assert.equal(s.inKernel, s.blocks);
});

Deno.test("a peer that resets mid-stream: recv and write reject with ECONNRESET / EPIPE", async () => {
  using ring = new Ring({ entries: 64 });
  using pool = BuddyPool.create({ arenaSize: 4 * MiB });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
  // The peer (Deno) reads nothing and closes with unread data: the kernel
  // answers with RST.
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using conn = await within(listener.accept(), 5000, "accept");
  using buf = pool.alloc(256 * KiB);
  await conn.write(buf);
  await peer.write(new Uint8Array(100)); // the server side gets some data first
  const first = await within(conn.recv(), 5000, "first data");
  assert.equal(first?.length, 100);
  first!.release();
  await new Promise((r) => setTimeout(r, 20));
  peer.close(); // unread data in its receive queue: RST
  const err = await within(
    (async () => {
      try {
        for (let i = 0; i < 50; i++) {
          const b = await conn.recv();
          b?.release();
          await conn.write(buf);
        }
      } catch (e) {
        return e;
      }
      return null;
    })(),
    5000,
    "reset noticed",
  );
  assert.ok(err instanceof IoError, `got ${err}`);
  assert.ok(["ECONNRESET", "EPIPE"].includes(err.errnoName), err.errnoName);
});

Deno.test("listener closed with accepts pending: they reject, iteration ends, the port is free", async () => {
  using ring = new Ring({ entries: 32 });
  const listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const a1 = listener.accept();
  const a2 = listener.accept();
  const iter = (async () => {
    let n = 0;
    for await (const c of listener) {
      c.close();
      n++;
    }
    return n;
  })();
  await new Promise((r) => setTimeout(r, 10));
  listener.close();
  await assert.rejects(within(a1, 5000, "a1"), ConnectionClosedError);
  await assert.rejects(within(a2, 5000, "a2"), ConnectionClosedError);
  assert.equal(await within(iter, 5000, "iteration"), 0);
  await assert.rejects(listener.accept(), ConnectionClosedError);
  // Once the kernel is done the fd is closed: the port can be bound again.
  await new Promise((r) => setTimeout(r, 20));
  using again = ring.listen({ hostname: "127.0.0.1", port });
  assert.equal(again.addr.port, port);
  assert.throws(() => ring.listen({ hostname: "127.0.0.1", port }), Deno.errors.AddrInUse);
});

Deno.test("ENOBUFS recovery with a tiny group: the recv is re-armed when blocks come back", async () => {
  using ring = new Ring({ entries: 32 });
  using recvPool = BuddyPool.create({ arenaSize: 64 * KiB });
  using group = ring.provideBuffers(recvPool, { size: 4096, count: 2 });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using conn = await listener.accept();
  const data = pattern(512 * KiB, 9);
  const w = (async () => {
    for (let off = 0; off < data.length;) off += await peer.write(data.subarray(off));
    await peer.closeWrite();
  })();
  let got = 0;
  let held: FixedBuf[] = [];
  for (;;) {
    const b = await within(conn.recv(), 5000, `recv at ${got}`);
    if (b === null) break;
    assert.deepEqual(b.bytes, data.subarray(got, got + b.length));
    got += b.length;
    held.push(b);
    if (held.length === 2) {
      // Both blocks held: the kernel's ring is dry. Give them back later.
      await new Promise((r) => setTimeout(r, 1));
      for (const h of held) h.release();
      held = [];
    }
  }
  for (const h of held) h.release();
  await w;
  peer.close();
  assert.equal(got, data.length);
  const s = group.stats();
  assert.ok(s.enobufs > 0, `no ENOBUFS seen: ${JSON.stringify(s)}`);
  assert.ok(s.rearms > 0);
  assert.equal(s.heldByJs, 0);
});

Deno.test("back-pressure: a stalled connection stops receiving, the others go on, nothing is lost", async () => {
  using ring = new Ring({ entries: 64 });
  using recvPool = BuddyPool.create({ arenaSize: 1 * MiB });
  using group = ring.provideBuffers(recvPool, { size: 4096, count: 16, perConnection: 4 });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
  const slowPeer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using slow = await listener.accept();
  const fastPeer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using fast = await listener.accept();
  const data = pattern(4 * MiB, 3);
  const slowWrite = (async () => {
    for (let off = 0; off < data.length;) off += await slowPeer.write(data.subarray(off));
    await slowPeer.closeWrite();
  })();
  // The slow side takes one buffer and then holds it (and what arrives).
  const firstSlow = await within(slow.recv(), 5000, "slow first");
  await new Promise((r) => setTimeout(r, 100));
  const s1 = group.stats();
  assert.ok(s1.heldByJs <= 4, `slow conn holds ${s1.heldByJs} blocks (limit 4)`);
  // The fast connection still gets all of its data meanwhile.
  const small = pattern(256 * KiB, 4);
  const fastWrite = (async () => {
    for (let off = 0; off < small.length;) off += await fastPeer.write(small.subarray(off));
    await fastPeer.closeWrite();
  })();
  let fastGot = 0;
  for await (const b of fast) {
    assert.deepEqual(b.bytes, small.subarray(fastGot, fastGot + b.length));
    fastGot += b.length;
    b.release();
  }
  await fastWrite;
  assert.equal(fastGot, small.length);
  // Now the slow reader resumes: every byte arrives, in order.
  let got = firstSlow!.length;
  assert.deepEqual(firstSlow!.bytes, data.subarray(0, got));
  firstSlow!.release();
  for await (const b of slow) {
    assert.deepEqual(b.bytes, data.subarray(got, got + b.length));
    got += b.length;
    b.release();
  }
  await within(slowWrite, 10000, "slow writer");
  assert.equal(got, data.length);
  slowPeer.close();
  fastPeer.close();
});

Deno.test("errors: ECONNREFUSED, AddrInUse, closed connection, timeout and abort", async () => {
  using ring = new Ring({ entries: 32 });
  using pool = BuddyPool.create({ arenaSize: 1 * MiB });
  const l = ring.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  assert.throws(() => ring.listen({ hostname: "127.0.0.1", port }), Deno.errors.AddrInUse);
  l.close();
  await new Promise((r) => setTimeout(r, 20));
  const e = await ring.connect({ hostname: "127.0.0.1", port }).catch((x) => x);
  assert.ok(e instanceof IoError);
  assert.equal(e.errnoName, "ECONNREFUSED");
  assert.throws(() => ring.listen({ port: 70000 }), RangeError);

  using listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  using buf = pool.alloc(4096);
  await assert.rejects(conn.read(buf, { timeout: 30 }), { name: "TimeoutError" });
  const ac = new AbortController();
  const r = conn.read(buf, { signal: ac.signal });
  ac.abort(new Error("stop"));
  await assert.rejects(r, /stop/);
  await assert.rejects(conn.recv({ timeout: 20 }), { name: "TimeoutError" });
  // Pending at close: reject with ConnectionClosedError; the buffer is free after.
  const pendingRead = conn.recv();
  conn.close();
  await assert.rejects(within(pendingRead, 5000, "recv at close"), ConnectionClosedError);
  await assert.rejects(conn.write(buf), ConnectionClosedError);
  // The peer sees end of stream once the fd is closed.
  const n = await within(peer.read(new Uint8Array(10)), 5000, "peer eof");
  assert.equal(n, null);
  peer.close();
});

Deno.test("ring.close() with network requests in flight rejects them with RingClosedError", async () => {
  const ring = new Ring({ entries: 32 });
  using pool = BuddyPool.create({ arenaSize: 1 * MiB });
  const listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  const pendingAccept = listener.accept();
  using buf = pool.alloc(4096);
  const pendingRead = conn.read(buf);
  const peer2 = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn2 = await pendingAccept;
  const pendingRecv = conn2.recv(); // a multishot recv armed on the default group
  const iterating = (async () => {
    for await (const c of listener) c.close(); // a multishot accept armed
  })();
  iterating.catch(() => {}); // inspected below
  await new Promise((r) => setTimeout(r, 10));
  ring.close();
  const settled = Promise.allSettled([pendingRead, pendingRecv, iterating]);
  const [r1, r2, r3] = await within(settled, 5000, "requests at ring close");
  // A for-await loop just ends when its ring closes; explicit calls reject.
  assert.equal(r3.status, "fulfilled");
  for (const r of [r1, r2]) {
    assert.equal(r.status, "rejected");
    assert.ok(
      (r as PromiseRejectedResult).reason instanceof RingClosedError,
      String((r as PromiseRejectedResult).reason),
    );
  }
  conn2.close();
  peer2.close();
  buf.release();
  conn.close();
  listener.close();
  // The sockets are closed directly once the ring is gone.
  assert.equal(await within(peer.read(new Uint8Array(8)), 5000, "peer eof"), null);
  peer.close();
});

Deno.test("zero-copy send from a registered buffer; a received buffer goes straight back out", async () => {
  using ring = new Ring({ entries: 64 });
  using pool = HybridPool.create({ classes: [{ size: 64 * KiB, count: 16 }], registrar: ring });
  using group = ring.provideBuffers(pool, { size: 64 * KiB, count: 8 });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
  using client = await ring.connect({ port: listener.addr.port, recvBuffers: group });
  using server = await listener.accept();
  using buf = pool.alloc(64 * KiB);
  assert.ok(buf.bufIndex >= 0);
  const data = pattern(64 * KiB, 5);
  buf.bytes.set(data);
  assert.equal(await client.send(buf, { zeroCopy: true }), 64 * KiB);
  buf.release(); // not busy any more: the notification came
  let got = 0;
  while (got < data.length) {
    const b = await within(server.recv(), 5000, "recv");
    assert.ok(b !== null);
    assert.ok(b.bufIndex >= 0); // the block is registered: it can go out without a copy
    assert.deepEqual(b.bytes, data.subarray(got, got + b.length));
    got += b.length;
    await server.send(b, { zeroCopy: true });
    b.release();
  }
  let back = 0;
  while (back < data.length) {
    const b = await within(client.recv(), 5000, "echo");
    back += b!.length;
    b!.release();
  }
  assert.equal(back, data.length);
});

Deno.test("fallbacks: single-shot recv and accept, pool-mode groups, copying send (subprocess)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-all",
      "--filter",
      "/ring echo|64 MiB|ENOBUFS|back-pressure|review D1[56]/",
      import.meta.filename!,
    ],
    env: { VELOQ_NET_DISABLE: "multishotRecv,pbufRing,sendZc,multishotAccept", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text);
  assert.match(text, /ok \| 6 passed/);
});

Deno.test("features say what is in use", () => {
  using ring = new Ring({ entries: 8 });
  const f = ring.features;
  for (const k of ["pbufRing", "multishotAccept", "multishotRecv", "sendZc"] as const) {
    assert.equal(typeof f[k], "boolean");
  }
  if ((Deno.env.get("VELOQ_NET_DISABLE") ?? "").includes("pbufRing")) {
    assert.equal(f.pbufRing, false);
    assert.equal(f.multishotRecv, false);
  }
});

Deno.test("closing a buffer group with receives armed or starved: recv rejects, the pool closes", async () => {
  using ring = new Ring({ entries: 32 });
  const recvPool = BuddyPool.create({ arenaSize: 64 * KiB });
  const group = ring.provideBuffers(recvPool, { size: 4096, count: 2 });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using conn = await listener.accept();
  await peer.write(pattern(64 * KiB, 1));
  // Hold both blocks: the next recv finds the group dry and waits.
  const a = await within(conn.recv(), 5000, "a");
  const b = await within(conn.recv(), 5000, "b");
  const starved = conn.recv();
  await new Promise((r) => setTimeout(r, 20));
  // Data is on its way while the group closes in the same tick.
  await peer.write(pattern(4096, 2));
  group.close();
  await assert.rejects(within(starved, 5000, "starved recv"), ConnectionClosedError);
  a!.release();
  b!.release();
  assert.equal(group.stats().heldByJs, 0);
  recvPool.close(); // every block went back
  peer.close();
});

Deno.test("connect by name tries each address; a group of another ring is refused", async () => {
  using ring = new Ring({ entries: 16 });
  using other = new Ring({ entries: 8 });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using conn = await within(
    ring.connect({ hostname: "localhost", port: listener.addr.port }),
    5000,
    "connect localhost",
  );
  using peer = await accepted;
  assert.equal(peer.remoteAddr.port, conn.localAddr.port);
  using pool = BuddyPool.create({ arenaSize: 64 * KiB });
  using group = other.provideBuffers(pool, { size: 4096, count: 2 });
  assert.throws(
    () => ring.listen({ port: 0, hostname: "127.0.0.1", recvBuffers: group }),
    TypeError,
  );
  await assert.rejects(
    ring.connect({ port: listener.addr.port, recvBuffers: group }),
    TypeError,
  );
  await assert.rejects(
    ring.connect({ hostname: "no-such-host.invalid", port: 1 }),
    Deno.errors.NotFound,
  );
});

Deno.test("review D16: conn/listener close then ring.close() in one tick still closes the sockets", async () => {
  for (let round = 0; round < 3; round++) {
    const ring = new Ring({ entries: 16 });
    const listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    const iterating = (async () => {
      for await (const c of listener) c.close();
    })();
    const peerListener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const connP = ring.connect({ port: (peerListener.addr as Deno.NetAddr).port });
    const peer = await peerListener.accept();
    const conn = await connP;
    const pending = conn.recv().catch((e) => e);
    await new Promise((r) => setTimeout(r, 5));
    conn.close();
    listener.close();
    ring.close(); // same tick: the fds' close requests never reach the kernel
    await iterating.catch(() => {});
    await pending;
    // The peer sees end of stream and the port can be bound again.
    assert.equal(await within(peer.read(new Uint8Array(8)), 5000, "peer eof"), null);
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    peer.close();
    peerListener.close();
  }
});

Deno.test("review D11: sends the kernel completed before ring.close() resolve", async () => {
  const ring = new Ring({ entries: 32 });
  using pool = BuddyPool.create({ arenaSize: 1 * MiB });
  const dl = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connP = ring.connect({ port: (dl.addr as Deno.NetAddr).port });
  const peer = await dl.accept();
  const conn = await connP;
  const bufs = Array.from({ length: 8 }, () => pool.alloc(4096));
  const writes = bufs.map((b) => conn.write(b));
  ring.submit();
  const until = Date.now() + 50;
  while (Date.now() < until) { /* the kernel sends meanwhile */ }
  ring.close();
  const results = await Promise.allSettled(writes);
  // The writes of one connection go out in call order, each once the one
  // before it completed: those the kernel completed resolve (never reported
  // lost), the ones still waiting for their turn reject with RingClosedError
  // (they never reached the kernel).
  const sent = results.findIndex((r) => r.status !== "fulfilled");
  const done = sent < 0 ? 8 : sent;
  assert.ok(done >= 1, "the submitted write resolves");
  assert.deepEqual(
    results.map((r) => r.status === "fulfilled" ? r.value : (r.reason as Error).name),
    [...Array(done).fill(4096), ...Array(8 - done).fill("RingClosedError")],
  );
  for (const b of bufs) b.release();
  conn.close();
  let got = 0;
  const chunk = new Uint8Array(65536);
  for (;;) {
    const n = await within(peer.read(chunk), 5000, "peer read");
    if (n === null) break;
    got += n;
  }
  assert.equal(got, done * 4096);
  peer.close();
  dl.close();
});

Deno.test("review D15: group.close() ends an idle connection's armed recv at once; the pool closes", async () => {
  using ring = new Ring({ entries: 16 });
  const pool = HybridPool.create({ classes: [{ size: 4096, count: 64 }] });
  const group = ring.provideBuffers(pool, { size: 4096, count: 64 });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using conn = await listener.accept();
  const pending = conn.recv(); // armed; the peer stays silent
  await new Promise((r) => setTimeout(r, 10));
  group.close();
  await assert.rejects(within(pending, 2000, "recv after group.close"), ConnectionClosedError);
  await new Promise((r) => setTimeout(r, 10)); // the cancel's completion (pool mode)
  pool.close();
  peer.close();
});

Deno.test("review D12: a received buffer of a checked pool detaches its view on release", async () => {
  using ring = new Ring({ entries: 16 });
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 4 }], checked: true });
  using group = ring.provideBuffers(pool, { size: 4096, count: 1 });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0, recvBuffers: group });
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using conn = await listener.accept();
  await peer.write(new TextEncoder().encode("first"));
  const a = (await within(conn.recv(), 5000, "first"))!;
  const stale = a.bytes;
  assert.equal(new TextDecoder().decode(stale), "first");
  a.release();
  assert.equal(stale.length, 0); // detached
  await peer.write(new TextEncoder().encode("second"));
  const b = (await within(conn.recv(), 5000, "second"))!;
  assert.equal(new TextDecoder().decode(b.bytes), "second");
  assert.equal(stale.length, 0);
  b.release();
  peer.close();
});

Deno.test("closing 300 connections at once on a 256-entry ring: no cancel or close is dropped", async () => {
  using ring = new Ring({ entries: 256 });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
  const N = 300;
  const peers: Deno.Conn[] = [];
  const conns: RingConn[] = [];
  for (let i = 0; i < N; i++) {
    const accepted = listener.accept();
    peers.push(await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }));
    conns.push(await accepted);
  }
  const pending = conns.map((c) => c.recv().catch((e) => e)); // a recv armed on each
  await new Promise((r) => setTimeout(r, 20));
  for (const c of conns) c.close(); // 300 cancels (+ 300 closes) in one run
  for (const p of await within(Promise.all(pending), 10000, "recvs at close")) {
    assert.ok(p instanceof ConnectionClosedError, String(p));
  }
  const eofs = await within(
    Promise.all(peers.map((p) => p.read(new Uint8Array(8)))),
    10000,
    "every peer sees end of stream",
  );
  assert.equal(eofs.filter((n) => n === null).length, N);
  for (const p of peers) p.close();
});

Deno.test("for-await over a connection or listener ends when the ring closes", async () => {
  const ring = new Ring({ entries: 16 });
  const listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  const connLoop = (async () => {
    for await (const b of conn) b.release();
    return "ended";
  })();
  const listenLoop = (async () => {
    for await (const c of listener) c.close();
    return "ended";
  })();
  await new Promise((r) => setTimeout(r, 10));
  ring.close();
  assert.deepEqual(await within(Promise.all([connLoop, listenLoop]), 5000, "loops"), [
    "ended",
    "ended",
  ]);
  // Explicit calls still reject with a typed error.
  await assert.rejects(
    conn.recv(),
    (e) => e instanceof RingClosedError || e instanceof ConnectionClosedError,
  );
  conn.close();
  listener.close();
  peer.close();
});

Deno.test("512 blocked sends on a 64-entry ring, then close(): every one settles", async () => {
  using ring = new Ring({ entries: 64 });
  using pool = BuddyPool.create({ arenaSize: 1 * MiB });
  const dl = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connP = ring.connect({ port: (dl.addr as Deno.NetAddr).port });
  const peer = await dl.accept(); // never reads: the sends block
  const conn = await connP;
  using buf = pool.alloc(64 * KiB);
  const sends = Array.from({ length: 512 }, () => conn.write(buf).catch((e) => e));
  await new Promise((r) => setTimeout(r, 50));
  conn.close();
  const results = await within(Promise.all(sends), 10000, "sends after close");
  assert.equal(results.length, 512);
  peer.close();
  dl.close();
});

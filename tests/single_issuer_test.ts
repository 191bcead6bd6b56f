/**
 * RingOptions.singleIssuer: IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN.
 * Completion work then runs only when this thread enters the ring, so each
 * way the thread waits (a poll, an inline block in the ring, ppoll over
 * several rings, the helper thread parked on the eventfd) must still see
 * it: files, pipes, sockets, close and cancel work as on any ring; a pool
 * registered with such a ring cannot be shared (the kernel refuses a
 * Worker's registration from another thread).
 */
import assert from "node:assert/strict";
import { BuddyPool, HybridPool, openFile, Ring, RingClosedError } from "../mod.ts";
import { pipe, put, Scratch, within } from "./helpers.ts";

const scratch = new Scratch();
// uname, not Deno.osRelease(): the test runs without --allow-sys.
const release = new TextDecoder().decode(
  new Deno.Command("uname", { args: ["-r"] }).outputSync().stdout,
);
const [major, minor] = release.split(".").map(Number);
const kernelHasIt = major > 6 || (major === 6 && minor >= 1);

Deno.test("singleIssuer: in use on Linux 6.1+, off by default", () => {
  using a = new Ring({ entries: 8, singleIssuer: true });
  using b = new Ring({ entries: 8 });
  assert.equal(a.singleIssuer, kernelHasIt);
  assert.equal(b.singleIssuer, false);
});

Deno.test("singleIssuer: bad values and sqpoll are TypeErrors", () => {
  assert.throws(() => new Ring({ singleIssuer: "yes" as unknown as boolean }), TypeError);
  assert.throws(() => new Ring({ singleIssuer: true, sqpoll: true }), /sqpoll/);
});

Deno.test("singleIssuer: O_DIRECT and buffered reads and writes are byte-exact", async () => {
  using ring = new Ring({ entries: 64, singleIssuer: true });
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 32 }], registrar: ring });
  const { path, data } = scratch.patterned(32 * 4096, 11);
  for (const direct of [true, false]) {
    using f = openFile(path, { direct });
    const bufs = Array.from({ length: 32 }, () => pool.alloc(4096));
    const order = bufs.map((_, i) => (i * 7) % 32);
    await within(Promise.all(bufs.map((b, i) => ring.read(f, b, order[i] * 4096))), 5000, "reads");
    bufs.forEach((b, i) => {
      assert.deepEqual(b.bytes, data.subarray(order[i] * 4096, order[i] * 4096 + 4096));
      b.release();
    });
  }
  const out = scratch.path();
  using w = openFile(out, { write: true, create: true, direct: true });
  using b = pool.alloc(4096);
  b.bytes.fill(0x3c);
  assert.equal(await within(ring.write(w, b, 0), 5000, "write"), 4096);
  await ring.fsync(w);
  assert.deepEqual(Deno.readFileSync(out), new Uint8Array(4096).fill(0x3c));
  assert.equal(ring.stats().inFlight, 0);
});

Deno.test("singleIssuer: a read that completes later (helper thread parked) arrives", async () => {
  using ring = new Ring({ entries: 8, singleIssuer: true });
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 1 }], registrar: ring });
  using p = pipe();
  using b = pool.alloc(4096);
  const r = ring.read(p.r, b, 0);
  setTimeout(() => put(p.w, "hello"), 60);
  assert.equal(await within(r, 5000, "pipe read"), 5);
  assert.equal(new TextDecoder().decode(b.bytes.subarray(0, 5)), "hello");
});

Deno.test("singleIssuer: several rings in one thread each complete (one waiter for all)", async () => {
  const rings = Array.from({ length: 4 }, () => new Ring({ entries: 8, singleIssuer: true }));
  const pools = rings.map((ring) => BuddyPool.create({ arenaSize: 64 * 1024, registrar: ring }));
  const pipes = rings.map(() => pipe());
  try {
    const bufs = pools.map((p) => p.alloc(4096));
    const reads = rings.map((ring, i) => ring.read(pipes[i].r, bufs[i], 0));
    for (let i = 0; i < 4; i++) setTimeout(() => put(pipes[i].w, `ring ${i}`), 20 + 15 * i);
    assert.deepEqual(await within(Promise.all(reads), 5000, "reads"), [6, 6, 6, 6]);
    bufs.forEach((b, i) => {
      assert.equal(new TextDecoder().decode(b.bytes.subarray(0, 6)), `ring ${i}`);
      b.release();
    });
  } finally {
    pipes.forEach((p) => p[Symbol.dispose]());
    pools.forEach((p) => p.close());
    rings.forEach((r) => r.close());
  }
});

Deno.test("singleIssuer: close() with reads pending rejects them, a timeout fires", async () => {
  using ring = new Ring({ entries: 8, singleIssuer: true });
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 2 }], registrar: ring });
  using p = pipe();
  using a = pool.alloc(4096);
  using b = pool.alloc(4096);
  await assert.rejects(within(ring.read(p.r, a, 0, { timeout: 30 }), 5000, "timed read"), {
    name: "TimeoutError",
  });
  const pending = ring.read(p.r, b, 0);
  ring.close();
  await assert.rejects(within(pending, 5000, "pending read"), RingClosedError);
});

Deno.test("singleIssuer: a Ring server echoes to Deno.connect byte-exact", async () => {
  using ring = new Ring({ entries: 256, singleIssuer: true });
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    using conn = await listener.accept();
    for await (const buf of conn) {
      try {
        await conn.write(buf);
      } finally {
        buf.release();
      }
    }
    await conn.closeWrite();
  })();
  const c = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const data = new Uint8Array(1 << 20).map((_, i) => (i * 13) & 0xff);
  const reading = (async () => {
    const got = new Uint8Array(data.length + 1); // room for one byte too many
    let n = 0;
    for (;;) {
      const k = await c.read(got.subarray(n));
      if (k === null) break;
      n += k;
    }
    return got.subarray(0, n);
  })();
  for (let off = 0; off < data.length; off += 8192) await c.write(data.subarray(off, off + 8192));
  await c.closeWrite();
  const echoed = await within(reading, 10_000, "echo");
  c.close();
  await within(served, 5000, "server");
  assert.equal(echoed.length, data.length);
  assert.deepEqual(echoed, data);
});

Deno.test("singleIssuer: a pool registered with such a ring cannot be shared", () => {
  using ring = new Ring({ entries: 8, singleIssuer: true });
  using pool = BuddyPool.create({ arenaSize: 64 * 1024, registrar: ring });
  if (ring.singleIssuer) assert.throws(() => pool.share(), /singleIssuer/);
  // Once that ring is closed the pool is registered nowhere: it can be shared (review 14e #3).
  ring.close();
  assert.equal(pool.unshare(pool.share()), true);
  using plain = BuddyPool.create({ arenaSize: 64 * 1024 });
  const h = plain.share(); // unregistered: fine
  assert.equal(plain.unshare(h), true);
});

/**
 * Review findings on ring.close() and the completion drain (lead's review
 * of issue 13, D1 and D17): more requests in one tick than the SQ holds
 * (C submits early), and a hold whose release throws inside a drain.
 */
import assert from "node:assert/strict";
import { attachBuf, BuddyPool, openFile, Ring, RingClosedError } from "../mod.ts";
import { lib } from "../ffi/loader.ts";
import { kInternal, kRequest } from "../src/ring.ts";

const dir = new URL(".", import.meta.url).pathname; // O_DIRECT works on the checkout's fs

Deno.test("close() after more O_DIRECT reads than the SQ holds: no memory goes back while the kernel reads into it", async () => {
  const path = Deno.makeTempFileSync({ dir, prefix: ".tmp-d1a-" });
  const SZ = 1 << 20, N = 48;
  try {
    {
      const f = Deno.openSync(path, { write: true });
      const chunk = new Uint8Array(SZ).fill(0xab);
      for (let i = 0; i < N; i++) f.writeSync(chunk);
      f.close();
    }
    let corrupt = 0;
    for (let round = 0; round < 5 && corrupt === 0; round++) {
      const ring = new Ring({ entries: 4, bufferSlots: 0 });
      using pool = BuddyPool.create({ arenaSize: 64 << 20 });
      using file = openFile(path, { read: true, direct: true });
      const bufs = Array.from({ length: N }, () => pool.alloc(SZ));
      const ps = bufs.map((b, i) => ring.read(file, b, i * SZ));
      ring.close();
      const settled = await Promise.allSettled(ps);
      for (const s of settled) {
        if (s.status === "rejected") assert.ok(s.reason instanceof RingClosedError);
        else assert.equal(s.value, SZ);
      }
      bufs.forEach((b) => b.release());
      const again = Array.from({ length: N }, () => pool.alloc(SZ));
      for (const b of again) b.bytes.fill(0x55);
      await new Promise((r) => setTimeout(r, 200));
      for (const b of again) if (b.bytes.some((x) => x === 0xab)) corrupt++;
      again.forEach((b) => b.release());
    }
    assert.equal(corrupt, 0, "the kernel wrote into memory the pool had handed to a new owner");
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("close() after more writes than the SQ holds: every write that landed resolves", async () => {
  const path = Deno.makeTempFileSync();
  try {
    const ring = new Ring({ entries: 16, bufferSlots: 0 });
    using pool = BuddyPool.create({ arenaSize: 1 << 20 });
    using file = openFile(path, { write: true });
    const N = 100;
    const bufs = Array.from({ length: N }, (_, i) => {
      const b = pool.alloc(4096);
      b.bytes.fill(i & 0xff);
      return b;
    });
    const ps = bufs.map((b, i) => ring.write(file, b, i * 4096));
    const until = performance.now() + 50;
    while (performance.now() < until) { /* the kernel completes what C submitted */ }
    ring.close();
    const settled = await Promise.allSettled(ps);
    const data = Deno.readFileSync(path);
    let landedRejected = 0;
    settled.forEach((s, i) => {
      const landed = data.length >= (i + 1) * 4096 && data[i * 4096 + 17] === (i & 0xff);
      if (s.status === "rejected") {
        assert.ok(s.reason instanceof RingClosedError);
        if (landed) landedRejected++;
      }
    });
    assert.equal(landedRejected, 0, "writes that landed were rejected with RingClosedError");
    bufs.forEach((b) => b.release());
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("a hold whose release throws in a drain (deferred double free) is reported; the batch still settles", async () => {
  const libc = Deno.dlopen("libc.so.6", {
    pipe: { parameters: ["buffer"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  });
  const fds: number[] = [];
  const pipe = () => {
    const f = new Int32Array(2);
    libc.symbols.pipe(new Uint8Array(f.buffer));
    fds.push(f[0], f[1]);
    return f;
  };
  const reported: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    reported.push(e.error);
    e.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  try {
    using ring = new Ring({ entries: 16 });
    using pool = BuddyPool.create({ arenaSize: 1 << 20 });
    const t = pool.alloc(4096).transfer();
    const a = attachBuf(t);
    const b = attachBuf({ ...t, claim: new Int32Array(new SharedArrayBuffer(4)) });
    const pa = pipe();
    const pxs = Array.from({ length: 6 }, () => pipe());
    const others = Array.from({ length: 6 }, () => pool.alloc(4096));
    const ra = ring.read(pa[0], a, 0).then((n) => `ok ${n}`, (e) => e.constructor.name);
    const rx = others.map((o, i) =>
      ring.read(pxs[i][0], o, 0).then((n) => `ok ${n}`, (e) => e.constructor.name)
    );
    await new Promise((r) => setTimeout(r, 30));
    b.release(); // frees the block
    a.release(); // busy: deferred; its free is the double one
    libc.symbols.write(pa[1], new Uint8Array(4), 4n);
    for (const px of pxs) libc.symbols.write(px[1], new Uint8Array(4), 4n);
    const res = await Promise.all(
      [ra, ...rx].map((p) =>
        Promise.race([p, new Promise((r) => setTimeout(() => r("NEVER SETTLED"), 2000))])
      ),
    );
    assert.deepEqual(res, Array(7).fill("ok 4"));
    assert.equal(ring.stats().inFlight, 0);
    assert.ok(reported.length >= 1, "the double free was not reported");
    others.forEach((o) => o.release());
  } finally {
    globalThis.removeEventListener("error", onError);
    fds.forEach((fd) => libc.symbols.close(fd));
    libc.close();
  }
});

Deno.test("more internal SQEs (cancels) in one synchronous run than the SQ holds: none is dropped", async () => {
  const libc = Deno.dlopen("libc.so.6", {
    pipe: { parameters: ["buffer"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  });
  const fds: number[] = [];
  try {
    using ring = new Ring({ entries: 8, bufferSlots: 0 });
    using pool = BuddyPool.create({ arenaSize: 1 << 20 });
    const sym = lib().symbols;
    const N = 20;
    const bufs = Array.from({ length: N }, () => pool.alloc(4096));
    const results: number[] = [];
    const uds: number[] = [];
    for (let i = 0; i < N; i++) {
      const f = new Int32Array(2);
      libc.symbols.pipe(new Uint8Array(f.buffer));
      fds.push(f[0], f[1]);
      const b = bufs[i];
      uds.push(ring[kRequest](
        (ptr, ud) => sym.vb_ring_prep(ptr, 0, f[0], b.bytes, 8, 0, -1, ud),
        { bufs: [b] },
        (res) => results.push(res),
      ));
    }
    await new Promise((r) => setTimeout(r, 20)); // all with the kernel, waiting for data
    const rcs = uds.map((target) =>
      ring[kInternal]((ptr, ud) => sym.vb_op_cancel(ptr, target, ud))
    );
    assert.deepEqual(rcs, Array(N).fill(0), "a cancel was refused (SQ full) instead of submitted");
    const until = Date.now() + 2000;
    while (results.length < N && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.equal(results.length, N, `${N - results.length} reads were never cancelled`);
    assert.ok(results.every((r) => r === -125));
    bufs.forEach((b) => b.release());
  } finally {
    fds.forEach((fd) => libc.symbols.close(fd));
    libc.close();
  }
});

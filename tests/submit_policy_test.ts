/**
 * RingOptions.submit: "auto" (default) submits a request to an O_DIRECT
 * file when it is made and gathers the others; "eager" submits every
 * request at once; "gather" batches every request. Whatever the policy, a
 * linked chain (a request and its timeout, `link: true`) reaches the kernel
 * in one submit, and the data is right.
 */
import assert from "node:assert/strict";
import { HybridPool, openFile, Ring, type SubmitPolicy } from "../mod.ts";
import { Scratch } from "./helpers.ts";

const scratch = new Scratch();
const patterned = (size: number, seed: number) => scratch.patterned(size, seed);

/** `n` reads of 4 KiB made in one synchronous run; the ring's submit calls. */
async function burst(submit: SubmitPolicy | undefined, direct: boolean, n = 16) {
  using ring = new Ring({ entries: 64, submit });
  using pool = HybridPool.create({ classes: [{ size: 4096, count: n }], registrar: ring });
  const { path, data } = patterned(n * 4096, n + (direct ? 1 : 0));
  using file = openFile(path, { direct });
  const bufs = Array.from({ length: n }, () => pool.alloc(4096));
  const order = bufs.map((_, i) => (i * 5) % n);
  const got = await Promise.all(bufs.map((b, i) => ring.read(file, b, order[i] * 4096)));
  got.forEach((len) => assert.equal(len, 4096));
  bufs.forEach((b, i) => {
    assert.deepEqual(b.bytes, data.subarray(order[i] * 4096, order[i] * 4096 + 4096));
    b.release();
  });
  const s = ring.stats();
  assert.equal(s.completed, n);
  assert.equal(s.inFlight, 0);
  return s.submitCalls;
}

Deno.test("submit auto (default): each O_DIRECT request is submitted when made", async () => {
  assert.equal(await burst(undefined, true), 16);
  assert.equal(await burst("auto", true), 16);
});

Deno.test("submit auto: buffered requests made together go in one batch", async () => {
  // The first goes at once (the ring was idle), the other 15 together.
  assert.ok((await burst("auto", false)) <= 2);
});

Deno.test("submit gather: O_DIRECT requests made together go in one batch", async () => {
  assert.ok((await burst("gather", true)) <= 2);
});

Deno.test("submit eager: every request is submitted when made, buffered too", async () => {
  assert.equal(await burst("eager", false), 16);
  assert.equal(await burst("eager", true), 16);
});

Deno.test("submit gather batches an await chain on O_DIRECT; auto does not", async () => {
  for (const submit of ["gather", "auto"] as const) {
    using ring = new Ring({ entries: 64, submit });
    using pool = HybridPool.create({ classes: [{ size: 4096, count: 8 }], registrar: ring });
    const { path, data } = patterned(64 * 4096, 3);
    using file = openFile(path, { direct: true });
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      using b = pool.alloc(4096);
      while (next < 64) {
        const off = next++ * 4096;
        assert.equal(await ring.read(file, b, off), 4096);
        assert.deepEqual(b.bytes, data.subarray(off, off + 4096));
      }
    }));
    const s = ring.stats();
    assert.equal(s.completed, 64);
    if (submit === "auto") assert.equal(s.submitCalls, 64);
    else assert.ok(s.submitCalls < 64 / 2, `gather: ${s.submitCalls} submits for 64`);
  }
});

Deno.test("submit: unknown policies are a TypeError", () => {
  for (const bad of ["fast", "", 1, true, {}, null]) {
    assert.throws(
      () => new Ring({ submit: bad as unknown as SubmitPolicy }),
      (e: unknown) =>
        e instanceof TypeError &&
        /option submit must be one of "auto", "eager", "gather"/.test(String(e)),
    );
  }
});

for (const submit of ["auto", "eager", "gather"] as const) {
  Deno.test(`submit ${submit}: a timed O_DIRECT read and its timeout go in one submit`, async () => {
    using ring = new Ring({ entries: 8, submit });
    using pool = HybridPool.create({ classes: [{ size: 4096, count: 1 }], registrar: ring });
    const { path, data } = patterned(8192, 7);
    using file = openFile(path, { direct: true });
    using b = pool.alloc(4096);
    assert.equal(await ring.read(file, b, 4096, { timeout: 10_000 }), 4096);
    assert.deepEqual(b.bytes, data.subarray(4096));
    assert.equal(ring.stats().submitCalls, 1);
  });

  Deno.test(`submit ${submit}: a linked O_DIRECT write -> fsync chain is one submit`, async () => {
    using ring = new Ring({ entries: 8, submit });
    using pool = HybridPool.create({ classes: [{ size: 4096, count: 1 }], registrar: ring });
    const path = scratch.path();
    using file = openFile(path, { write: true, read: true, create: true, direct: true });
    using b = pool.alloc(4096);
    b.bytes.fill(0x5a);
    const w = ring.write(file, b, 0, { link: true });
    const f = ring.fsync(file);
    assert.deepEqual(await Promise.all([w, f]), [4096, undefined]);
    assert.equal(ring.stats().submitCalls, 1);
    assert.deepEqual(Deno.readFileSync(path), new Uint8Array(4096).fill(0x5a));
  });
}

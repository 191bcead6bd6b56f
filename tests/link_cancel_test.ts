/**
 * Review 14d: cancelling and closing around kernel link chains, and where
 * a chain ends. A request linked behind one still running has not started,
 * so a cancel does not reach it; it starts once its predecessor completes.
 * Aborting it, or closing the ring, must still end it (no hang, no buffer
 * left busy), and a request refused or aborted inside a chain must not leave
 * the next, unrelated request linked to the chain.
 */
import assert from "node:assert/strict";
import { HybridPool, openFile, Ring, RingClosedError } from "../mod.ts";
import { pipe, put, Scratch, within } from "./helpers.ts";

const scratch = new Scratch();
const patterned = (size: number, seed: number) => scratch.patterned(size, seed);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const submit of ["auto", "eager", "gather"] as const) {
  Deno.test(`submit ${submit}: aborting a request linked behind a running one rejects it`, async () => {
    using ring = new Ring({ entries: 8, submit });
    using pool = HybridPool.create({ classes: [{ size: 4096, count: 2 }], registrar: ring });
    using pa = pipe(), pb = pipe();
    {
      const [a0, a1, b0] = [pa.r, pa.w, pb.r];
      using x = pool.alloc(4096);
      using y = pool.alloc(4096);
      const ac = new AbortController();
      const first = ring.read(a0, x, 0, { link: true }); // waits for pipe a
      const second = ring.read(b0, y, 0, { signal: ac.signal }); // kernel-linked to it
      await sleep(10);
      ac.abort(new Error("user abort"));
      await sleep(10);
      put(a1, "x".repeat(4096)); // the predecessor completes
      assert.equal(await within(first, 5000, "first"), 4096);
      await assert.rejects(within(second, 5000, "aborted second"), /user abort/);
      assert.equal(ring.stats().inFlight, 0);
    }
  });
}

Deno.test("ring.close() right after an O_DIRECT read -> pipe read chain returns, buffers free", async () => {
  for (const submit of ["auto", "gather"] as const) {
    for (let round = 0; round < 6; round++) {
      const ring = new Ring({ entries: 8, submit });
      const pool = HybridPool.create({ classes: [{ size: 1 << 20, count: 2 }], registrar: ring });
      const { path } = patterned(1 << 20, round);
      const f = openFile(path, { direct: true });
      using p = pipe();
      const r0 = p.r;
      const b0 = pool.alloc(1 << 20), b1 = pool.alloc(1 << 20);
      const ps = [ring.read(f, b0, 0, { link: true }), ring.read(r0, b1, 0, { length: 4096 })];
      const t0 = performance.now();
      ring.close();
      const ms = performance.now() - t0;
      const settled = await Promise.allSettled(ps);
      b0.release();
      b1.release();
      pool.close(); // throws PoolBusyError if a buffer stayed busy
      f.close();
      assert.ok(ms < 2000, `${submit} round ${round}: close() took ${ms.toFixed(0)} ms`);
      const pipeRead = settled[1];
      assert.equal(pipeRead.status, "rejected");
      assert.ok((pipeRead as PromiseRejectedResult).reason instanceof RingClosedError);
    }
  }
});

for (const how of ["aborted", "refused"] as const) {
  Deno.test(`a request ${how} inside a chain leaves the next request unlinked`, async () => {
    for (const submit of ["auto", "eager", "gather"] as const) {
      using ring = new Ring({ entries: 8, submit });
      using pool = HybridPool.create({ classes: [{ size: 4096, count: 2 }], registrar: ring });
      const a = patterned(4096, 1), other = patterned(4096, 2);
      using ro = openFile(a.path, { direct: true }); // read-only: a write fails (EBADF)
      using f = openFile(other.path, { direct: true });
      using b1 = pool.alloc(4096);
      using b2 = pool.alloc(4096);
      const w = ring.write(ro, b1, 0, { link: true });
      const s = how === "aborted"
        ? ring.fsync(ro, { signal: AbortSignal.abort() })
        : ring.fsync(ro, { dataOnly: "yes" as unknown as boolean });
      const r = ring.read(f, b2, 0); // linked to nothing
      const [wr, sr, rr] = await within(Promise.allSettled([w, s, r]), 5000, "requests");
      assert.equal(wr.status, "rejected");
      assert.equal(sr.status, "rejected");
      assert.equal(rr.status, "fulfilled", `${submit}: ${(rr as PromiseRejectedResult).reason}`);
      assert.equal((rr as PromiseFulfilledResult<number>).value, 4096);
      assert.deepEqual(b2.bytes, other.data);
    }
  });
}

Deno.test("a request linked in JS to an O_DIRECT file is submitted when sent (auto)", async () => {
  for (const timed of [false, true]) {
    using ring = new Ring({ entries: 16 });
    using pool = HybridPool.create({ classes: [{ size: 4096, count: 4 }], registrar: ring });
    using pa = pipe(), pb = pipe();
    const [a0, a1, b0] = [pa.r, pa.w, pb.r];
    const { path, data } = patterned(8192, 3);
    using f = openFile(path, { direct: true });
    using bp = pool.alloc(4096);
    using x = pool.alloc(4096);
    using y = pool.alloc(4096);
    {
      const never = ring.read(b0, bp, 0).catch((e) => e); // keeps the ring busy
      const w = ring.read(a0, x, 0, { link: true });
      await sleep(5); // the chain was cut: the next request links in JS
      const r2 = ring.read(f, y, 4096, timed ? { timeout: 5000 } : undefined);
      let seen = -1;
      const w2 = w.then(() => {
        seen = ring.stats().submitted;
      });
      setTimeout(() => put(a1, "x".repeat(4096)), 20);
      await within(Promise.all([w2, r2]), 5000, "linked reads");
      assert.equal(seen, 2 + (timed ? 2 : 1), "sent in the drain that settled its predecessor");
      assert.deepEqual(y.bytes, data.subarray(4096));
      ring.close();
      await never;
    }
  }
});

Deno.test("a lone timed request on an idle ring is submitted at once, whatever the policy", () => {
  for (const submit of ["auto", "eager", "gather"] as const) {
    for (const direct of [false, true]) {
      using ring = new Ring({ entries: 8, submit });
      using pool = HybridPool.create({ classes: [{ size: 4096, count: 1 }], registrar: ring });
      const { path } = patterned(4096, 4);
      using f = openFile(path, { direct });
      using b = pool.alloc(4096);
      const p = ring.read(f, b, 0, { timeout: 5000 });
      assert.equal(ring.stats().submitted, 2, `${submit} direct=${direct}: op + timeout`);
      ring.close();
      p.catch(() => {});
    }
  }
});

Deno.test("a timeout on a 1-entry ring is a RangeError (request and timeout need 2)", async () => {
  using ring = new Ring({ entries: 1 });
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 1 }], registrar: ring });
  const { path } = patterned(4096, 5);
  using f = openFile(path);
  using b = pool.alloc(4096);
  await assert.rejects(ring.read(f, b, 0, { timeout: 100 }), RangeError);
  assert.equal(await ring.read(f, b, 0), 4096); // without one it works
});

/**
 * A request linked to R may join a kernel chain (IOSQE_IO_LINK) only when
 * R's SQE is that chain's last one. The case that broke (link_model_test,
 * seed 865434761, timing-dependent there): a request linked in JS earlier
 * is sent when its predecessor completes and opens a kernel chain of its
 * own; a request made right then, linked to a DIFFERENT request that is
 * still in flight, was appended to that chain, so the kernel ran it after
 * the wrong request and cancelled it (ECANCELED) when that one failed.
 * Made deterministic here with reads on pipes that wait until written.
 */
import assert from "node:assert/strict";
import { BuddyPool, type FileHandle, type FixedBuf, IoError, openFile, Ring } from "../mod.ts";
import { pipe, put, within } from "./helpers.ts";

const dir = Deno.makeTempDirSync({ dir: new URL(".", import.meta.url).pathname, prefix: ".tmp-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

const isErrno = (name: string) => (e: unknown) => e instanceof IoError && e.errnoName === name;
const macrotask = () => new Promise((res) => setTimeout(res, 10));

Deno.test("link: a request joins the kernel chain only behind its own predecessor", async () => {
  using ring = new Ring({ entries: 16 });
  using pool = BuddyPool.create({ arenaSize: 1 << 20, registrar: ring });
  const path = `${dir}/f`;
  Deno.writeFileSync(path, new Uint8Array(4096));
  using ro = openFile(path, { read: true });
  using rw = openFile(path, { read: true, write: true });
  using pa = pipe();
  using pd = pipe();
  using bufA = pool.alloc(4096);
  using bufB = pool.alloc(4096);
  using bufD = pool.alloc(4096);
  try {
    await scenario(ring, ro, rw, pa, pd, bufA, bufB, bufD);
  } finally {
    ring.close(); // first: a failed check leaves reads in flight on the pipes
  }
});

async function scenario(
  ring: Ring,
  ro: FileHandle,
  rw: FileHandle,
  pa: { r: number; w: number },
  pd: { r: number; w: number },
  bufA: FixedBuf,
  bufB: FixedBuf,
  bufD: FixedBuf,
): Promise<void> {
  // A: in the kernel, waiting for data on pipe a.
  const a = ring.read(pa.r, bufA, 0, { length: 4, link: true });
  await macrotask();
  // B (fails: EBADF) linked in JS to A; C linked in JS to B.
  const b = ring.write(ro, bufB, 0, { link: true });
  const c = ring.fsync(rw);
  // D: in the kernel, waiting for data on pipe d; the next request links to it.
  const d = ring.read(pd.r, bufD, 0, { length: 4, link: true });
  d.catch(() => {}); // checked below; a failed check closes the ring under it
  await macrotask();
  assert.equal(ring.stats().inFlight, 2); // A and D in the kernel

  // When A completes, B is sent (and, linked, opens a kernel chain). The
  // request made in A's continuation, before that chain is submitted, is
  // linked to D: it must wait for D, not follow B in the kernel.
  let e: Promise<void> | undefined;
  let eOutcome = "pending";
  const aThen = a.then((n) => {
    e = ring.fsync(rw);
    e.then(() => eOutcome = "resolved", (x) => eOutcome = String(x));
    return n;
  });
  put(pa.w, "aaaa");
  assert.equal(await within(aThen, 2000, "read A"), 4);
  await within(assert.rejects(b, isErrno("EBADF")), 2000, "write B");
  await within(assert.rejects(c, isErrno("ECANCELED")), 2000, "fsync C");
  await macrotask();
  assert.ok(e !== undefined);
  // Before the fix: "IoError: fsync of fd N failed: ECANCELED" (run after B).
  assert.equal(eOutcome, "pending", "E settled before D completed");
  put(pd.w, "dddd");
  assert.equal(await within(d, 2000, "read D"), 4);
  assert.equal(await within(e, 2000, "fsync E, linked to D"), undefined);
  assert.equal(ring.stats().inFlight, 0);
}

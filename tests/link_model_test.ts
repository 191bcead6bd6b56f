/**
 * Links against a model, seeded and replayable (VB_LINK_SEED): random
 * sequences of file requests that succeed, fail in the kernel (EBADF),
 * complete short (a read at the end of a file), or are refused by argument
 * checks, each with or without `link: true`, with awaits placed at random
 * between them (so some links are kernel chains in one submit, others are
 * linked in JS while the predecessor is in flight or after it settled). The model: a request
 * linked to one that did not fully succeed rejects with ECANCELED (a
 * refused one keeps its own RangeError); every other request gets its own
 * outcome. Checked after every sequence.
 */
import assert from "node:assert/strict";
import { seededRandom } from "./helpers.ts";
import { BuddyPool, IoError, openFile, Ring } from "../mod.ts";

const SEED = Number(Deno.env.get("VB_LINK_SEED") ?? (Date.now() % 2 ** 31));
const SEQUENCES = 150;
const dir = Deno.makeTempDirSync({ dir: new URL(".", import.meta.url).pathname, prefix: ".tmp-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

type Kind = "write" | "fsync" | "badWrite" | "shortRead" | "refused";
const KINDS: Kind[] = ["write", "fsync", "badWrite", "shortRead", "refused"];
/** Whether a request of this kind, when it runs, counts as success for a link. */
const succeeds = (k: Kind) => k === "write" || k === "fsync";

Deno.test(`links follow the model: ${SEQUENCES} random sequences (seed ${SEED})`, async () => {
  const rand = seededRandom(SEED);
  using ring = new Ring({ entries: 16 });
  using pool = BuddyPool.create({ arenaSize: 1 << 20, registrar: ring });
  const rwPath = `${dir}/rw`, shortPath = `${dir}/short`;
  Deno.writeFileSync(shortPath, new Uint8Array(100));
  using rw = openFile(rwPath, { read: true, write: true, create: true, direct: true });
  using ro = openFile(shortPath, { read: true });
  using buf = pool.alloc(4096);
  for (let seq = 0; seq < SEQUENCES; seq++) {
    const n = 2 + Math.floor(rand() * 10);
    const kinds: Kind[] = [];
    const links: boolean[] = [];
    const promises: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const kind = KINDS[Math.floor(rand() * KINDS.length)];
      const link = rand() < 0.6;
      kinds.push(kind);
      links.push(link);
      const o = { link };
      let p: Promise<unknown>;
      if (kind === "write") p = ring.write(rw, buf, 4096 * (i % 8), o);
      else if (kind === "fsync") p = ring.fsync(rw, { dataOnly: rand() < 0.5, ...o });
      else if (kind === "badWrite") p = ring.write(ro, buf, 0, o);
      else if (kind === "shortRead") p = ring.read(ro, buf, 0, o);
      else p = ring.write(rw, buf, 100, o); // misaligned for O_DIRECT: refused
      p.catch(() => {});
      promises.push(p);
      // Sometimes let everything so far settle, sometimes one macrotask,
      // sometimes one microtask turn (the chain is submitted, the request
      // is still in flight: the next one links in JS).
      const r = rand();
      if (r < 0.15) await Promise.allSettled(promises);
      else if (r < 0.25) await new Promise((res) => setTimeout(res, 0));
      else if (r < 0.5) await null;
    }
    const got = await Promise.allSettled(promises);
    // The model, in order.
    let prevOk: boolean = true;
    for (let i = 0; i < n; i++) {
      const where = `seed ${SEED} sequence ${seq} request ${i} (${kinds.join(",")} / ${
        links.map(Number).join("")
      })`;
      const cancelled: boolean = i > 0 && links[i - 1] && !prevOk;
      const g = got[i];
      if (kinds[i] === "refused") {
        assert.ok(
          g.status === "rejected" && g.reason instanceof RangeError,
          `${where}: ${g.status}`,
        );
      } else if (cancelled) {
        assert.ok(
          g.status === "rejected" && g.reason instanceof IoError &&
            g.reason.errnoName === "ECANCELED",
          `${where}: expected ECANCELED, got ${g.status === "rejected" ? g.reason : "ok"}`,
        );
      } else if (kinds[i] === "badWrite") {
        assert.ok(
          g.status === "rejected" && (g.reason as IoError).errnoName === "EBADF",
          `${where}: expected EBADF, got ${g.status === "rejected" ? g.reason : "ok"}`,
        );
      } else if (kinds[i] === "shortRead") {
        assert.deepEqual(g, { status: "fulfilled", value: 100 }, where);
      } else {
        assert.equal(g.status, "fulfilled", `${where}: ${g.status === "rejected" ? g.reason : ""}`);
      }
      prevOk = !cancelled && succeeds(kinds[i]);
    }
    // A link left open by the last request is consumed by a plain fsync.
    if (links[n - 1]) await ring.fsync(rw).catch(() => {});
  }
  assert.equal(ring.stats().inFlight, 0);
});

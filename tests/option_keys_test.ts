/**
 * Unknown option names are a TypeError that names the call and the known
 * options (new-user trial 3: `{ lenght: 3 }` sent a whole 4 KiB buffer,
 * `{ dirct: true }` gave a buffered file), and a wrong value type is a
 * TypeError, not a RangeError.
 */
import assert from "node:assert/strict";
import { BuddyPool, HybridPool, openFile, Ring } from "../mod.ts";
import { Scratch, within } from "./helpers.ts";

const scratch = new Scratch();
const unknown = (name: string) => (e: unknown) =>
  e instanceof TypeError && new RegExp(`unknown option "${name}"`).test(e.message) &&
  /known: /.test(e.message);
// deno-lint-ignore no-explicit-any
const bad = (o: Record<string, unknown>): any => o;

Deno.test("constructors and openFile refuse unknown option names", () => {
  assert.throws(() => new Ring(bad({ entrys: 4 })), unknown("entrys"));
  assert.throws(() => BuddyPool.create(bad({ arenaSise: 65536 })), unknown("arenaSise"));
  assert.throws(() => HybridPool.create(bad({ onExhaust: "fallback" })), unknown("onExhaust"));
  assert.throws(
    () => HybridPool.create(bad({ classes: [{ size: 4096, count: 2, cout: 3 }] })),
    unknown("cout"),
  );
  assert.throws(() => BuddyPool.create(bad({ growth: { maxArena: 2 } })), unknown("maxArena"));
  const { path } = scratch.patterned(4096, 1);
  assert.throws(() => openFile(path, bad({ dirct: true })), unknown("dirct"));
  // null is "the defaults", as it was before names were checked (review 14e #2).
  new Ring(null as unknown as undefined).close();
  BuddyPool.create(null as unknown as undefined).close();
  HybridPool.create(null as unknown as undefined).close();
  // The known ones still work.
  using ring = new Ring({ entries: 8, submit: "gather", inlineWait: true, singleIssuer: false });
  using pool = BuddyPool.create({ arenaSize: 65536, growth: { maxArenas: 2 }, name: "k" });
  using f = openFile(path, { read: true, direct: false });
  assert.equal(pool.name, "k");
  assert.equal(f.direct, false);
  assert.equal(ring.entries, 8);
});

Deno.test("socket calls refuse unknown option names, with a rejected promise", async () => {
  using ring = new Ring({ entries: 64 });
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 8 }], registrar: ring });
  assert.throws(() => ring.listen(bad({ port: 0, host: "127.0.0.1" })), unknown("host"));
  assert.throws(
    () => ring.provideBuffers(pool, bad({ size: 4096, count: 4, perConn: 2 })),
    unknown("perConn"),
  );
  using listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
  await assert.rejects(listener.accept(bad({ timeot: 5 })), unknown("timeot"));
  await assert.rejects(
    ring.connect(bad({ hostname: "127.0.0.1", port: listener.addr.port, link: true })),
    unknown("link"),
  );
  const accepted = listener.accept();
  using conn = await ring.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using peer = await within(accepted, 5000, "accept");
  using b = pool.alloc(4096);
  await assert.rejects(conn.write(b, bad({ lenght: 3 })), unknown("lenght"));
  await assert.rejects(conn.write(b, bad({ zeroCopy: true })), unknown("zeroCopy"));
  await assert.rejects(conn.send(b, bad({ zeroCopy: "yes" })), TypeError);
  await assert.rejects(conn.recv(bad({ link: true })), unknown("link"));
  await assert.rejects(conn.read(b, bad({ length: 3 })), unknown("length"));
  await assert.rejects(pool.allocAsync(4096, bad({ signl: 1 })), unknown("signl"));
  // Nothing was sent by the refused writes: the peer gets exactly these 3 bytes.
  b.bytes.set([1, 2, 3]);
  assert.equal(await conn.write(b, { length: 3 }), 3);
  await assert.rejects(conn.closeWrite(bad({ timeot: 5 })), unknown("timeot"));
  await conn.closeWrite(null as unknown as undefined);
  using r = pool.alloc(4096);
  let got = 0;
  for (;;) {
    const n = await within(peer.read(r), 5000, "peer read");
    if (n === 0) break;
    got += n;
  }
  assert.equal(got, 3);
});

Deno.test("a timeout or port of the wrong type is a TypeError", async () => {
  using ring = new Ring({ entries: 8 });
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 1 }], registrar: ring });
  const { path } = scratch.patterned(4096, 2);
  using f = openFile(path);
  using b = pool.alloc(4096);
  await assert.rejects(ring.read(f, b, 0, bad({ timeout: "5" })), TypeError);
  await assert.rejects(ring.read(f, b, 0, { timeout: -1 }), RangeError);
  assert.throws(() => ring.listen(bad({ port: "80" })), TypeError);
  assert.throws(() => ring.listen({ port: 70000 }), RangeError);
});

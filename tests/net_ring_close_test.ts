/**
 * A Ring owns its sockets: ring.close() closes every connection and
 * listener still open on it (their peers see end of stream, the port is
 * free again, no fd is left), and every later call on them rejects with
 * RingClosedError. Before, they stayed open until each was closed by hand:
 * a peer waited forever and the port stayed bound.
 */
import assert from "node:assert/strict";
import { HybridPool, Ring, RingClosedError } from "../mod.ts";
import { within } from "./helpers.ts";

/** This process's open fds (ls in a child: reading /proc/self/fd itself
 * needs --allow-all). */
async function openFds(): Promise<number> {
  const o = await new Deno.Command("sh", {
    args: ["-c", `ls /proc/${Deno.pid}/fd | wc -l`],
    stdout: "piped",
  }).output();
  return Number(new TextDecoder().decode(o.stdout).trim());
}

Deno.test({
  name: "ring.close() closes its listener and connections: peers see EOF, the port is free",
  sanitizeResources: false,
  async fn() {
    const ring = new Ring({ entries: 64 });
    const pool = HybridPool.create({ classes: [{ size: 4096, count: 8 }], registrar: ring });
    const listener = ring.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    // One accepted connection (peer: Deno.connect) ...
    const accepted = listener.accept();
    const inbound = await Deno.connect({ hostname: "127.0.0.1", port });
    const conn1 = await accepted;
    // ... and one made with ring.connect (peer: Deno.listen).
    const denoL = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const outboundP = denoL.accept();
    const conn2 = await ring.connect({
      hostname: "127.0.0.1",
      port: (denoL.addr as Deno.NetAddr).port,
    });
    const outbound = await outboundP;
    denoL.close();
    // Pending at close: a recv, a read, an accept, and a loop over each.
    const recv = conn1.recv().then(() => null, (e) => e);
    const buf = pool.alloc(4096);
    const read = conn2.read(buf).then(() => null, (e) => e);
    const accept = listener.accept().then(() => null, (e) => e);
    const loops = (async () => {
      for await (const _ of listener) { /* nothing comes */ }
    })();

    ring.close();

    assert.ok((await within(recv, 2000, "recv")) instanceof RingClosedError);
    assert.ok((await within(read, 2000, "read")) instanceof RingClosedError);
    assert.ok((await within(accept, 2000, "accept")) instanceof RingClosedError);
    await within(loops, 2000, "for await over the listener");
    assert.equal(conn1.closed, true);
    assert.equal(conn2.closed, true);
    assert.equal(listener.closed, true);
    // The peers see end of stream (not a hang).
    assert.equal(await within(inbound.read(new Uint8Array(8)), 2000, "inbound peer"), null);
    assert.equal(await within(outbound.read(new Uint8Array(8)), 2000, "outbound peer"), null);
    inbound.close();
    outbound.close();
    // The port is free again.
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    // Later calls reject with RingClosedError; close() again does nothing.
    await assert.rejects(conn1.recv(), RingClosedError);
    await assert.rejects(conn2.write(buf), RingClosedError);
    await assert.rejects(conn2.closeWrite(), RingClosedError);
    await assert.rejects(listener.accept(), RingClosedError);
    conn1.close();
    listener.close();
    buf.release();
    pool.close();
  },
});

Deno.test({
  name: "ring.close() with sockets open leaves no fd behind (100 rounds)",
  sanitizeResources: false,
  async fn() {
    const round = async () => {
      const ring = new Ring({ entries: 32 });
      const l = ring.listen({ hostname: "127.0.0.1", port: 0 });
      const a = l.accept();
      const c = await ring.connect({ hostname: "127.0.0.1", port: l.addr.port });
      await a;
      // A connect still in flight to a port nothing listens on, too.
      const late = ring.connect({ hostname: "127.0.0.1", port: l.addr.port }).catch((e) => e);
      ring.close();
      await late;
      assert.equal(c.closed, true);
    };
    await round(); // warm up (lazily made state)
    const before = await openFds();
    for (let i = 0; i < 100; i++) await round();
    // A leak is one fd or more per round (each has three sockets); a few
    // more or less are the process's own (another test's Worker ending,
    // Deno's child-process pipes), not ours.
    const grown = (await openFds()) - before;
    assert.ok(grown < 10, `${grown} more fds after 100 rounds`);
  },
});

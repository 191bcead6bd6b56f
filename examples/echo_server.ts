/**
 * TCP echo server on a Ring: every buffer the kernel receives (from a
 * provided buffer ring over a registered HybridPool) is written straight
 * back (a received block is registered memory: no copy into JS).
 *
 *   deno run --allow-ffi --allow-env --allow-read examples/echo_server.ts [host:port]
 *       [--seconds N] [--block BYTES] [--zero-copy] [--single-issuer]
 *
 * Default 127.0.0.1:4544, 16 KiB blocks (4 MiB of them, registered). Try it
 * with `nc 127.0.0.1 4544`. With --seconds N it stops by itself after N
 * seconds (used by the tests). --zero-copy sends each block back with
 * SEND_ZC from its registered memory (on loopback the kernel copies
 * anyway: it cannot win there).
 *
 * `--single-issuer` makes the ring with `singleIssuer: true` (DEFER_TASKRUN),
 * for comparison.
 *
 * NOTE: the sockets are made through FFI: Deno's --allow-net does not see
 * them (only --allow-ffi is checked).
 */
import { HybridPool, Ring, type RingConn } from "../mod.ts";

const flag = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const args = Deno.args.filter((a, i) => !a.startsWith("--") && !Deno.args[i - 1]?.startsWith("--"));
const seconds = flag("--seconds", 0);
const block = flag("--block", 16384);
const zeroCopy = Deno.args.includes("--zero-copy");
const count = Math.max(2, 2 ** Math.floor(Math.log2((4 << 20) / block)));
const [hostname, portText] = (args[0] ?? "127.0.0.1:4544").split(/:(?=[^:]*$)/);

using ring = new Ring({ entries: 512, singleIssuer: Deno.args.includes("--single-issuer") });
using pool = HybridPool.create({ classes: [{ size: block, count }], registrar: ring });
// Each connection may hold at most half the group (32 of the 64 blocks of
// 64 KiB): a share smaller than the group is received with single-shot
// recvs, one block per request, so the limit is exact (a connection whose
// peer stops reading its echoes stops receiving; the others still get
// blocks). With the echo not awaited per block (below) this measured as
// fast as a multishot recv over the whole group (perConnection: count),
// whose only limit is the group running dry (one connection can take it).
using group = ring.provideBuffers(pool, {
  size: block,
  count,
  perConnection: Math.max(1, count / 2),
});
using listener = ring.listen({
  hostname: hostname.replace(/^\[|\]$/g, ""),
  port: Number(portText),
  recvBuffers: group,
});
console.log(`echo server on ${listener.addr.hostname}:${listener.addr.port}`, ring.features);

async function serve(conn: RingConn): Promise<void> {
  using c = conn;
  const fail = (e: Error) => {
    if (!c.closed) console.error("connection:", e.message);
    c.close(); // ends the loop below
  };
  try {
    for await (const buf of c) {
      // buf.length: exactly the bytes received. The echo is not awaited
      // before the next receive: writes of one connection go out in call
      // order, and a zero-copy send settles only at the kernel's
      // notification, i.e. when the peer ACKs, which a peer whose own sends
      // wait for our receive window may delay by its delayed-ACK timer
      // (~40 ms): awaiting it here stalled the stream (20 MiB/s).
      // The connection's share of blocks bounds how many echoes are in
      // flight (back-pressure: no receive is armed beyond it).
      const sent = zeroCopy ? c.send(buf, { zeroCopy }) : c.write(buf);
      sent.catch(fail).finally(() => buf.release()); // the block goes back to the kernel's ring
    }
    if (!c.closed) await c.closeWrite(); // after every echo (call order)
  } catch (e) {
    fail(e as Error);
  }
}

if (seconds > 0) setTimeout(() => listener.close(), seconds * 1000);
for await (const conn of listener) serve(conn);

/**
 * TCP echo server on a Ring: every buffer the kernel receives (from a
 * provided buffer ring over a registered HybridPool) is written straight
 * back (a received block is registered memory: no copy into JS).
 *
 *   deno run --allow-ffi --allow-env --allow-read examples/echo_server.ts [host:port]
 *       [--seconds N] [--block BYTES] [--zero-copy]
 *
 * Default 127.0.0.1:4544, 16 KiB blocks (4 MiB of them, registered). Try it
 * with `nc 127.0.0.1 4544`. With --seconds N it stops by itself after N
 * seconds (used by the tests). --zero-copy sends each block back with
 * SEND_ZC from its registered memory (on loopback the kernel copies
 * anyway: it cannot win there).
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

using ring = new Ring({ entries: 512 });
using pool = HybridPool.create({ classes: [{ size: block, count }], registrar: ring });
// A share of 32 blocks (or the whole group) per connection keeps the
// multishot recv (smaller shares receive one block per request).
using group = ring.provideBuffers(pool, { size: block, count, perConnection: Math.min(count, 32) });
using listener = ring.listen({
  hostname: hostname.replace(/^\[|\]$/g, ""),
  port: Number(portText),
  recvBuffers: group,
});
console.log(`echo server on ${listener.addr.hostname}:${listener.addr.port}`, ring.features);

async function serve(conn: RingConn): Promise<void> {
  using c = conn;
  try {
    for await (const buf of c) {
      try {
        // buf.length: exactly the bytes received
        if (zeroCopy) await c.send(buf, { zeroCopy });
        else await c.write(buf);
      } finally {
        buf.release(); // the block goes back to the kernel's ring
      }
    }
    await c.closeWrite();
  } catch (e) {
    if (!c.closed) console.error("connection:", (e as Error).message);
  }
}

if (seconds > 0) setTimeout(() => listener.close(), seconds * 1000);
for await (const conn of listener) serve(conn);

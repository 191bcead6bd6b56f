/**
 * The keep-alive fixed-response HTTP server of Deno's own benchmark
 * (cli/bench/http/deno_tcp.ts), on a Ring: read a request, write a fixed
 * 200 response, repeat until the client closes. The response lives in one
 * registered buffer shared by every connection.
 *
 *   deno run --allow-ffi --allow-env --allow-read examples/http_server.ts [host:port] [--seconds N]
 *       [--single-issuer]
 *
 * Default 127.0.0.1:4500; `wrk -d 10s --latency http://127.0.0.1:4500/`.
 * Requests are assumed to fit one receive (as in deno_tcp.ts, which reads
 * 1 KiB and answers; wrk sends ~40 bytes). FFI sockets bypass --allow-net.
 * `--single-issuer` (after host:port) makes the ring with `singleIssuer: true`
 * (DEFER_TASKRUN: the kernel runs completion work in one batch when this
 * thread enters the ring), for comparison: no gain measured on the 2-vCPU
 * development VM (see the README).
 */
import { BuddyPool, Ring, type RingConn } from "../mod.ts";

const args = Deno.args.filter((a, i) => !a.startsWith("--") && !Deno.args[i - 1]?.startsWith("--"));
const secIdx = Deno.args.indexOf("--seconds");
const seconds = secIdx >= 0 ? Number(Deno.args[secIdx + 1]) : 0;
const [hostname, portText] = (args[0] ?? "127.0.0.1:4500").split(/:(?=[^:]*$)/);

using ring = new Ring({ entries: 1024, singleIssuer: Deno.args.includes("--single-issuer") });
using pool = BuddyPool.create({ arenaSize: 1 << 20, registrar: ring });
const body = new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello World\n");
using response = pool.alloc(4096);
response.bytes.set(body);
const writeOptions = { length: body.length };

// Requests land in 4 KiB blocks of their own group. Each connection's
// share is the whole group, so its receive is ONE multishot recv armed for
// the connection's life (no SQE, no failed first attempt and poll arming
// per request, as a share below the group's size costs: single-shot
// recvs, one per request). A share of the whole group gives up the exact
// per-connection bound: what bounds a connection is the group running dry
// (ENOBUFS, re-armed when blocks come back). That is right here since
// every request block is released at once, before its answer is written:
// no connection ever holds more than the one block it is reading.
using requestPool = BuddyPool.create({ arenaSize: 4 << 20, registrar: ring });
using requests = ring.provideBuffers(requestPool, { size: 4096, count: 1024, perConnection: 1024 });
using listener = ring.listen({
  hostname: hostname.replace(/^\[|\]$/g, ""),
  port: Number(portText),
  recvBuffers: requests,
});
console.log(`http server on ${listener.addr.hostname}:${listener.addr.port}`);

async function handle(conn: RingConn): Promise<void> {
  using c = conn;
  try {
    // A plain loop over recv() (for-await over the connection works too,
    // at the cost of an async generator's extra promise hops per request).
    for (let req = await c.recv(); req !== null; req = await c.recv()) {
      req.release(); // the request's bytes are not needed: answer it
      await c.write(response, writeOptions);
    }
  } catch (e) {
    const name = (e as { errnoName?: string }).errnoName;
    if (!c.closed && name !== "ECONNRESET" && name !== "EPIPE") throw e;
  }
}

if (seconds > 0) setTimeout(() => listener.close(), seconds * 1000);
for await (const conn of listener) handle(conn);

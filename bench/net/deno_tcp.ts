/**
 * The same keep-alive fixed-response server as examples/http_server.ts, on
 * Deno.listen + conn.read/conn.write (as Deno's cli/bench/http/deno_tcp.ts).
 *
 *   deno run --allow-net bench/net/deno_tcp.ts [port]
 */
const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0] ?? 0) });
const response = new TextEncoder().encode(
  "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello World\n",
);
console.log(`http server on 127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);

async function handle(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(1024);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      await conn.write(response);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe) && !(e instanceof Deno.errors.ConnectionReset)) {
      throw e;
    }
  }
  conn.close();
}

for await (const conn of listener) handle(conn);

/**
 * Bulk echo on Deno.listen (64 KiB reads, each written back), the peer of
 * examples/echo_server.ts in bench:net.
 *
 *   deno run --allow-net bench/net/echo_deno.ts [port]
 */
const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0] ?? 0) });
console.log(`echo server on 127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);

async function handle(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      for (let off = 0; off < n;) off += await conn.write(buf.subarray(off, n));
    }
    await conn.closeWrite();
  } catch { /* peer gone */ }
  conn.close();
}

for await (const conn of listener) handle(conn);

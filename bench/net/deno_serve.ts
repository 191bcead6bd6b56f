/**
 * Deno.serve hello world, the HTTP peer of bench:net.
 *
 *   deno run --allow-net bench/net/deno_serve.ts [port]
 */
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  onListen: ({ port }) => console.log(`http server on 127.0.0.1:${port}`),
}, () => new Response("Hello World\n"));

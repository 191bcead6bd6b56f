/**
 * The network examples run for real (subprocesses that stop by themselves
 * after a few seconds): the echo server echoes byte-exact, the HTTP server
 * answers keep-alive requests with its fixed 200.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

/** Starts an example; resolves to its port once it printed "on HOST:PORT". */
async function start(file: string, extra: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-env",
      "--allow-read",
      file,
      "127.0.0.1:0",
      "--seconds",
      "4",
      ...extra,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
    const m = /on 127\.0\.0\.1:(\d+)/.exec(seen);
    if (m) {
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })();
      return { child, port: Number(m[1]) };
    }
  }
  child.kill("SIGKILL");
  throw new Error(`${file} did not start: ${seen}`);
}

Deno.test("examples/echo_server.ts echoes 1 MiB byte-exact (plain and zero-copy send)", async () => {
  for (const extra of [[], ["--zero-copy", "--block", "65536"]]) {
    const { child, port } = await start("examples/echo_server.ts", extra);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 31 + 7) & 0xff);
    const w = (async () => {
      for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
      await conn.closeWrite();
    })();
    const back = new Uint8Array(data.length + 65536);
    let got = 0;
    for (;;) {
      const n = await conn.read(back.subarray(got, got + 65536));
      if (n === null) break;
      got += n;
    }
    await w;
    conn.close();
    assert.equal(got, data.length);
    assert.deepEqual(back.subarray(0, got), data);
    const st = await child.status;
    assert.ok(st.success, `exit ${st.code}`);
  }
});

Deno.test("examples/http_server.ts answers keep-alive requests with its fixed 200", async () => {
  const { child, port } = await start("examples/http_server.ts");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const req = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const want = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello World\n";
  const buf = new Uint8Array(4096);
  for (let i = 0; i < 3; i++) { // three requests on one connection
    await conn.write(req);
    let text = "";
    while (text.length < want.length) {
      const n = await conn.read(buf);
      assert.ok(n !== null, "server closed early");
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    assert.equal(text, want);
  }
  conn.close();
  const st = await child.status;
  assert.ok(st.success, `exit ${st.code}`);
});

/** Echoes `mib` MiB through the server at `port` (writer and reader run
 * concurrently); returns the seconds it took, checks the byte count. */
async function bulkEcho(port: number, mib: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const block = new Uint8Array(65536).fill(120);
  const total = mib << 20;
  const t0 = performance.now();
  const w = (async () => {
    for (let sent = 0; sent < total;) {
      sent += await conn.write(block.subarray(0, Math.min(block.length, total - sent)));
    }
    await conn.closeWrite();
  })();
  const back = new Uint8Array(1 << 20);
  let got = 0;
  for (;;) {
    const n = await conn.read(back);
    if (n === null) break;
    got += n;
  }
  await w;
  const seconds = (performance.now() - t0) / 1000;
  conn.close();
  assert.equal(got, total);
  return seconds;
}

Deno.test("examples/echo_server.ts --zero-copy does not stall on the peer's delayed ACKs", async () => {
  // Before: the loop awaited each zero-copy send (settled at its
  // notification, i.e. the peer's ACK) before receiving again; the peer,
  // whose own writes waited for our receive window, ACKed only from its
  // delayed-ACK timer (~40 ms): ~20 MiB/s against ~700 for plain writes.
  // A stall detector, not a speed goal: the margin is 5x, measured against
  // the plain echo in the same run.
  const times: Record<string, number> = {};
  for (const [name, extra] of [["copy", []], ["zero-copy", ["--zero-copy"]]] as const) {
    const { child, port } = await start("examples/echo_server.ts", ["--block", "65536", ...extra]);
    await bulkEcho(port, 4); // warm up
    times[name] = await bulkEcho(port, 48);
    const st = await child.status;
    assert.ok(st.success, `exit ${st.code}`);
  }
  assert.ok(
    times["zero-copy"] < 5 * times.copy + 0.25,
    `zero-copy echo ${times["zero-copy"].toFixed(2)} s vs plain ${times.copy.toFixed(2)} s`,
  );
});

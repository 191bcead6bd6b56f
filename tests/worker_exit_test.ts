/**
 * Workers that end while the library is busy in them (issue 13, item 5):
 * the library stays loaded while any thread may still run its code, and a
 * Worker's per-thread state (rings, attached views) is reclaimed when its
 * thread ends. Everything that could crash runs in a subprocess; every wait
 * is bounded.
 */
import assert from "node:assert/strict";

const here = new URL(".", import.meta.url);
const fixture = (name: string) => new URL(`fixtures/${name}`, here).pathname;
const LIB = Deno.env.get("VELOQ_BUFFER_LIB") ??
  new URL("../zig-out/lib/libveloq_buffer.so", import.meta.url).pathname;

/** Output of a subprocess run with a deadline (killed past it). */
async function run(
  args: string[],
  options: { stdin?: boolean; env?: Record<string, string>; deadlineMs?: number } = {},
  during?: (child: Deno.ChildProcess, lines: AsyncIterator<string>) => Promise<void>,
): Promise<{ code: number; signal: string | null; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.deadlineMs ?? 30_000);
  const [out, err] = [child.stdout.tee(), child.stderr];
  const lines = out[0].pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())
    [Symbol.asyncIterator]();
  const stdoutText = new Response(out[1]).text();
  const stderrText = new Response(err).text();
  try {
    if (during) await during(child, lines);
  } finally {
    const status = await child.status;
    clearTimeout(timer);
    const stdout = await stdoutText, stderr = await stderrText;
    // deno-lint-ignore no-unsafe-finally
    return { code: status.code, signal: status.signal, stdout, stderr };
  }
}

function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, c) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) c.enqueue(p);
    },
    flush(c) {
      if (rest) c.enqueue(rest);
    },
  });
}

async function waitLine(lines: AsyncIterator<string>, want: string): Promise<void> {
  for (;;) {
    const r = await lines.next();
    if (r.done) throw new Error(`subprocess ended before printing "${want}"`);
    if (r.value === want) return;
  }
}

Deno.test("the library stays mapped after its last handle is closed", async () => {
  const script = `
    const l = Deno.dlopen(${
    JSON.stringify(LIB)
  }, { vb_abi_version: { parameters: [], result: "u32" } });
    l.symbols.vb_abi_version();
    l.close();
    console.log(Deno.readTextFileSync("/proc/self/maps").includes(${
    JSON.stringify(LIB.split("/").pop())
  }));`;
  const r = await run(["eval", script]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "true", "dlclose unmapped the library");
});

for (const how of ["terminate", "end"]) {
  Deno.test(`a Worker with a ring read in flight can ${how}: no crash`, async () => {
    const flag = await Deno.makeTempFile({ prefix: "vb-exit-" });
    try {
      const r = await run(
        [
          "run",
          "--allow-ffi",
          "--allow-env",
          "--allow-read",
          fixture("exit_parent.ts"),
          "./exit_ring_worker.ts",
          how,
        ],
        { stdin: true, env: { VB_EXIT_FLAG: flag } },
        async (child, lines) => {
          await waitLine(lines, "gone");
          // The Worker is gone; complete its read now (its helper thread, if
          // still waiting, returns into the library), then let the parent end.
          const w = child.stdin.getWriter();
          await w.write(new Uint8Array(16)).catch(() => {});
          await new Promise((r) => setTimeout(r, 300));
          await Deno.remove(flag);
          await w.close().catch(() => {});
        },
      );
      assert.equal(r.signal, null, `the process died of ${r.signal}\n${r.stderr}`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /alive/);
    } finally {
      await Deno.remove(flag).catch(() => {});
    }
  });
}

Deno.test("the library reports itself resident", async () => {
  const { lib } = await import("../ffi/loader.ts");
  assert.equal(lib().symbols.vb_library_resident(), 1);
});

for (const how of ["terminate", "end"]) {
  Deno.test(`a Worker that ends (${how}) holding buffers is detached; the owner can close`, async () => {
    const r = await run([
      "run",
      "--allow-ffi",
      "--allow-env",
      "--allow-read",
      fixture("exit_views.ts"),
      how,
    ]);
    assert.equal(r.signal, null, `the process died of ${r.signal}\n${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim().split("\n").pop()!);
    assert.equal(res.hookRan, true, "the Worker's thread never ended (no exit hook ran)");
    assert.equal(res.attachedBefore, 1);
    assert.equal(res.attachedAfter, 0, "the ended Worker's view is still attached");
    // What the Worker held went back; what it had handed over did not.
    assert.equal(res.liveAfter, 2);
    assert.equal(res.givenIntact, true);
    assert.equal(res.closed, true, res.error);
  });
}

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

/** The io_uring and eventfd descriptors a process has open. */
async function anonFds(pid: number): Promise<string[]> {
  const out = await new Deno.Command("ls", { args: ["-l", `/proc/${pid}/fd`] }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .map((l) => l.match(/anon_inode:\[(io_uring|eventfd)\]/)?.[1])
    .filter((x): x is string => x !== undefined);
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
  Deno.test(`a Worker with a ring read in flight can ${how}: no crash, its ring is closed`, async () => {
    let fds: string[] = ["not looked at"];
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
      { stdin: true },
      async (child, lines) => {
        await waitLine(lines, "start");
        const before = await anonFds(child.pid);
        await waitLine(lines, "gone");
        // The Worker's thread ended: its exit hook destroyed its ring and
        // its thread's waiter, so neither the io_uring nor the eventfd is
        // still open (before: both stayed open for good).
        const after = await anonFds(child.pid);
        fds = after.filter((k) => k === "io_uring");
        // Deno's runtimes use eventfds too: a Worker that never loads the
        // library leaves one more behind (Deno 2.9.6, measured); the
        // thread's waiter would be a second.
        const count = (l: string[]) => l.filter((k) => k === "eventfd").length;
        if (count(after) - count(before) > 1) {
          fds.push(`${count(after) - count(before)} eventfds more (Deno's own: 1)`);
        }
        // Bytes for the pipe the dead Worker's ring was reading: they are
        // the parent's (the read is gone), and nothing crashes.
        const w = child.stdin.getWriter();
        await w.write(new Uint8Array(16)).catch(() => {});
        await w.close().catch(() => {});
      },
    );
    assert.equal(r.signal, null, `the process died of ${r.signal}\n${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /alive/);
    assert.match(r.stdout, /stdin 16/, "the ended Worker's ring read took the bytes");
    assert.deepEqual(fds, [], "descriptors the ended Worker left open");
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

Deno.test("a terminated Worker's own pools are destroyed, unless another thread has one attached", async () => {
  const r = await run([
    "run",
    "--allow-ffi",
    "--allow-env",
    "--allow-read",
    fixture("exit_pools.ts"),
  ]);
  assert.equal(r.signal, null, `the process died of ${r.signal}\n${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.equal(res.during, res.before + 2);
  // Before: both stayed (+2) for good, with their arenas mapped.
  assert.equal(res.after, res.before + 1, "the Worker's unattached pool was not destroyed");
});

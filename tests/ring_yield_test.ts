/**
 * Review 14 D1: an `await` loop of requests that complete inside
 * io_uring_submit (page-cache hits) must give the event loop a turn:
 * timers fire, other rings' completions arrive, a Worker running such a
 * loop can be terminated. Every loop here is bounded by time, so a
 * regression fails instead of hanging.
 */
import assert from "node:assert/strict";
import { BuddyPool, openFile, Ring } from "../mod.ts";

function cachedFile(): string {
  const path = Deno.makeTempFileSync({ prefix: "veloq-yield-" });
  Deno.writeFileSync(path, new Uint8Array(8192));
  Deno.readFileSync(path); // in the page cache
  return path;
}

Deno.test("an await loop of inline-completing reads lets a 10 ms timer fire", async () => {
  const path = cachedFile();
  using pool = BuddyPool.create({ arenaSize: 1 << 16 });
  using ring = new Ring({ entries: 8, bufferSlots: 0 });
  using file = openFile(path);
  using buf = pool.alloc(4096);
  let fired = -1;
  const t0 = performance.now();
  let ticks = 0;
  const iv = setInterval(() => ticks++, 5);
  setTimeout(() => fired = performance.now() - t0, 10);
  let n = 0;
  // Until the timer fired and the interval ticked a few times (at most 3 s:
  // a loop that never yields runs the full 3 s and fails).
  while (performance.now() - t0 < 3000 && (fired < 0 || ticks < 5)) {
    await ring.read(file, buf, 0);
    n++;
  }
  const ran = performance.now() - t0;
  clearInterval(iv);
  Deno.removeSync(path);
  assert(fired >= 0, `10 ms timer never fired during ${n} reads in ${ran.toFixed(0)} ms`);
  assert(ticks >= 5, `a 5 ms interval ticked ${ticks} times in ${ran.toFixed(0)} ms`);
  // Shared 2-core machine: generous, but far below the 3 s of a loop that never yields.
  assert(ran < 1500, `the timers needed ${ran.toFixed(0)} ms (${n} reads)`);
  assert(n > 10, `only ${n} reads`);
});

Deno.test("an await loop on one ring does not hold back another ring's completion", async () => {
  const path = cachedFile();
  const fifo = Deno.makeTempFileSync({ prefix: "veloq-yield-fifo-" });
  Deno.removeSync(fifo);
  assert(new Deno.Command("mkfifo", { args: [fifo] }).outputSync().success);
  using pool = BuddyPool.create({ arenaSize: 1 << 16 });
  using a = new Ring({ entries: 8, bufferSlots: 0 });
  using b = new Ring({ entries: 8, bufferSlots: 0 });
  using file = openFile(path);
  using pipeEnd = openFile(fifo, { read: true, write: true });
  using buf = pool.alloc(4096);
  using bBuf = pool.alloc(4096);
  const t0 = performance.now();
  let bAt = -1;
  const bRead = b.read(pipeEnd, bBuf, 0, 1).then(() => bAt = performance.now() - t0);
  // Data reaches the FIFO ~100 ms in, from another process.
  const writer = new Deno.Command("sh", {
    args: ["-c", `sleep 0.1; printf x > '${fifo}'`],
  }).spawn();
  await new Promise((r) => setTimeout(r, 10)); // b's wait is parked
  while (performance.now() - t0 < 1500 && bAt < 0) await a.read(file, buf, 0);
  const loopEnded = performance.now() - t0;
  await writer.status;
  await bRead;
  Deno.removeSync(path);
  Deno.removeSync(fifo);
  assert(bAt >= 0 && bAt < 600, `ring b's read settled at ${bAt} ms (loop ran ${loopEnded} ms)`);
});

Deno.test("a Worker running such a loop can be terminated (the process exits)", async () => {
  const fixture = new URL("./fixtures/yield_parent.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", fixture],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, 20_000);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const out = new TextDecoder().decode(stdout);
  assert(!killed, `still running after 20 s (printed: ${out.trim()})`);
  assert(out.includes("terminated"), out + new TextDecoder().decode(stderr));
  assert(code === 0, `exit ${code}: ${new TextDecoder().decode(stderr)}`);
});

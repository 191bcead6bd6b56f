/**
 * Review 13b of lazy share(): a Worker's first allocation whose mapping
 * the kernel refuses is a typed error (never "arena full", never a wait
 * without end); an owner buffer passing through a Worker that has not
 * allocated keeps its registered index; pool.regions() never lists memory
 * that is not mapped. Every wait is bounded; the probe that lowers a
 * resource limit runs in a subprocess.
 */
import assert from "node:assert/strict";

Deno.test("13b: a first alloc whose mapping the kernel refuses is an ArenaMapError; allocAsync rejects, then maps once it can", async () => {
  const probe = new URL("./fixtures/lazy_mapfail_probe.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-env", "--allow-read", probe],
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.lowered, true);
  assert.equal(r.alloc, "ArenaMapError", r.message);
  assert.match(r.message, /refused/);
  assert.equal(r.tryAlloc, "ArenaMapError");
  assert.equal(r.allocAsync, "ArenaMapError");
  assert.equal(r.again, "ok"); // nothing half-done: the next try maps it
  assert.equal(r.closed, true);
});

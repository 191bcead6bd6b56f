/** Checked mode: stale views go dead, freed memory is poisoned, leaks are reported. */
import assert from "node:assert/strict";
import { BuddyPool, HybridPool, openFile, Ring } from "../mod.ts";

Deno.test("checked: a stale Uint8Array reads as length 0 and writes go nowhere", () => {
  for (const pool of [BuddyPool.create({ checked: true }), HybridPool.create({ checked: true })]) {
    const buf = pool.alloc(4096);
    const stale = buf.bytes;
    stale.fill(0x5a);
    const ptr = buf.pointer;
    buf.release();
    assert.equal(stale.length, 0);
    assert.equal(stale.byteLength, 0);
    stale[0] = 1; // a write to a detached view does nothing
    assert.equal(stale[0], undefined);
    // The memory itself was poisoned (read through a fresh native view).
    const raw = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, 4096));
    assert.ok(raw.every((b) => b === 0xde), "freed memory is poisoned with 0xDE");
    pool.check();
    pool.close();
  }
});

Deno.test("checked: buffers still work normally, including fallback and ring I/O", async () => {
  using ring = new Ring({ entries: 8 });
  using pool = HybridPool.create({
    checked: true,
    classes: [{ size: 4096, count: 2 }],
    registrar: ring,
  });
  const dir = Deno.makeTempDirSync({
    dir: new URL(".", import.meta.url).pathname,
    prefix: ".tmp-",
  });
  try {
    Deno.writeFileSync(`${dir}/c.bin`, new Uint8Array(4096).fill(3));
    using file = openFile(`${dir}/c.bin`, { direct: true });
    using buf = pool.alloc(4096);
    assert.equal(await ring.read(file, buf, 0), 4096);
    assert.equal(buf.bytes[4095], 3);
    using big = pool.alloc(10000); // fallback
    big.bytes.fill(9);
    assert.equal(big.bytes.length, 12288);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("checked: a FixedBuf collected without release is reported and its memory returned", async () => {
  const probe = new URL("./fixtures/leak_probe.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-env", "--v8-flags=--expose-gc", probe],
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const result = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  assert.deepEqual(result, {
    reports: [
      { pool: "leaky", capacity: 8192, bufIndex: -1 },
      { pool: "leaky", capacity: 16384, bufIndex: -1 },
    ],
    live: 0,
  });
});

Deno.test("checked and onLeak options are validated", () => {
  assert.throws(
    () => BuddyPool.create({ checked: "yes" as never }),
    /option checked must be a boolean/,
  );
  assert.throws(() => BuddyPool.create({ onLeak: 3 as never }), /option onLeak must be a function/);
});

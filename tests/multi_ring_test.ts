/** One pool registered with several rings: same index in each, pinned once. */
import assert from "node:assert/strict";
import { BuddyPool, HybridPool, openFile, RegistrationError, Ring } from "../mod.ts";

const dir = Deno.makeTempDirSync({ dir: new URL(".", import.meta.url).pathname, prefix: ".tmp-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

Deno.test("a pool on two rings: same bufIndex, READ_FIXED on both, memory pinned once", async () => {
  using a = new Ring({ entries: 8 });
  using b = new Ring({ entries: 8 });
  using pool = HybridPool.create({ classes: [{ size: 4096, count: 4 }], registrar: [a, b] });
  assert.deepEqual(pool.registrars, [a, b]);
  assert.equal(pool.registrationIn(a), "pinned");
  assert.equal(pool.registrationIn(b), "cloned");
  const data = new Uint8Array(8192).map((_, i) => (i * 5 + 1) & 0xff);
  Deno.writeFileSync(`${dir}/two.bin`, data);
  using file = openFile(`${dir}/two.bin`, { direct: true });
  using buf = pool.alloc(4096);
  assert.equal(buf.bufIndex, 0);
  assert.equal(await a.read(file, buf, 0), 4096);
  assert.deepEqual(buf.bytes, data.subarray(0, 4096));
  assert.equal(await b.read(file, buf, 4096), 4096);
  assert.deepEqual(buf.bytes, data.subarray(4096));
  // The kernel checks the index in b as well: past the region is EFAULT.
  const [region] = pool.regions();
  const tail = Deno.UnsafePointer.offset(region.pointer, region.length - 4096)!;
  await assert.rejects(b.readRaw(file, { pointer: tail, length: 8192, bufIndex: 0 }, 0), /EFAULT/);
});

Deno.test("indexes are chosen free in every ring; closing one ring leaves the other", async () => {
  using a = new Ring({ entries: 8, bufferSlots: 4 });
  const b = new Ring({ entries: 8, bufferSlots: 4 });
  using first = BuddyPool.create({ arenaSize: 64 * 1024, registrar: b }); // slot 0 of b
  using pool = BuddyPool.create({ arenaSize: 64 * 1024, registrar: [a, b] });
  using buf = pool.alloc(4096);
  {
    using other = first.alloc(4096);
    assert.equal(other.bufIndex, 0, "the first pool holds slot 0 of b");
  }
  assert.equal(buf.bufIndex, 1, "slot 0 is free in a but not in b");
  Deno.writeFileSync(`${dir}/one.bin`, new Uint8Array(4096).fill(9));
  using file = openFile(`${dir}/one.bin`);
  b.close();
  assert.equal(pool.registrationIn(a), "pinned");
  assert.equal(pool.registrationIn(b), null);
  assert.equal(await a.read(file, buf, 0), 4096);
  assert.equal(buf.bytes[100], 9);
});

Deno.test("registrar option: a Ring or up to 8 distinct Rings", () => {
  using a = new Ring({ entries: 4 });
  assert.throws(() => BuddyPool.create({ registrar: [a, a] }), /same Ring twice/);
  assert.throws(() => BuddyPool.create({ registrar: [] }), /1 to 8 rings/);
  assert.throws(() => BuddyPool.create({ registrar: [a, {} as Ring] }), /entry 1 is not/);
  const nine = Array.from({ length: 9 }, () => a);
  assert.throws(() => BuddyPool.create({ registrar: nine }), RangeError);
  using full = new Ring({ entries: 4, bufferSlots: 0 });
  assert.throws(
    () => BuddyPool.create({ arenaSize: 4096, registrar: [a, full] }),
    (e) => e instanceof RegistrationError && /every one/.test(e.message),
  );
});

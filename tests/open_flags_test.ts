/**
 * openFile flags of issue 15: exclusive (O_EXCL), append (O_APPEND), dsync
 * (O_DSYNC) and sync (O_SYNC), checked against what the kernel really set
 * (the flags line of /proc/self/fdinfo) and what the file really holds;
 * bad combinations are TypeErrors naming the options.
 */
import assert from "node:assert/strict";
import { IoError, openFile, Ring } from "../mod.ts";
import { BuddyPool } from "../mod.ts";

const dir = Deno.makeTempDirSync({ dir: new URL(".", import.meta.url).pathname, prefix: ".tmp-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let fileNo = 0;
const scratch = () => `${dir}/o${fileNo++}.bin`;

// Linux x86-64/arm64 values of <fcntl.h> (octal), as fdinfo prints them.
const O_APPEND = 0o2000;
const O_DSYNC = 0o10000;
const O_SYNC = 0o4010000; // __O_SYNC | O_DSYNC
const O_DIRECT_X86 = 0o40000;

/** The open-file flags the kernel holds for `fd` (read by `cat`: Deno
 * wants --allow-all for /proc/self). */
function kernelFlags(fd: number): number {
  const out = new Deno.Command("cat", { args: [`/proc/${Deno.pid}/fdinfo/${fd}`] }).outputSync();
  const info = new TextDecoder().decode(out.stdout);
  const m = info.match(/^flags:\s+([0-7]+)$/m);
  assert.ok(m, info);
  return parseInt(m[1], 8);
}

Deno.test("openFile: append, dsync and sync reach the kernel's file flags", () => {
  const path = scratch();
  {
    using plain = openFile(path, { write: true, create: true });
    const f = kernelFlags(plain.fd);
    assert.equal(f & (O_APPEND | O_SYNC), 0);
  }
  {
    using a = openFile(path, { write: true, append: true });
    assert.equal(kernelFlags(a.fd) & O_APPEND, O_APPEND);
  }
  {
    using d = openFile(path, { write: true, dsync: true });
    const f = kernelFlags(d.fd);
    assert.equal(f & O_SYNC, O_DSYNC); // O_DSYNC without __O_SYNC
  }
  {
    using s = openFile(path, { write: true, read: true, sync: true });
    assert.equal(kernelFlags(s.fd) & O_SYNC, O_SYNC);
  }
  {
    using both = openFile(path, { write: true, dsync: true, sync: true, direct: true });
    const f = kernelFlags(both.fd);
    assert.equal(f & O_SYNC, O_SYNC);
    if (Deno.build.arch === "x86_64") assert.equal(f & O_DIRECT_X86, O_DIRECT_X86);
  }
});

Deno.test("openFile exclusive: creates a new file, refuses an existing one with EEXIST", () => {
  const path = scratch();
  {
    using f = openFile(path, { write: true, create: true, exclusive: true });
    assert.equal(f.size(), 0);
  }
  assert.throws(
    () => openFile(path, { write: true, create: true, exclusive: true }),
    (e: unknown) => e instanceof IoError && e.errnoName === "EEXIST",
  );
  // Nothing was truncated or replaced by the refused open.
  Deno.writeTextFileSync(path, "kept");
  assert.throws(() =>
    openFile(path, { write: true, create: true, truncate: true, exclusive: true })
  );
  assert.equal(Deno.readTextFileSync(path), "kept");
});

Deno.test("openFile append: ring writes land at the end whatever offset they name", async () => {
  const path = scratch();
  Deno.writeTextFileSync(path, "0123");
  using ring = new Ring({ entries: 8 });
  using pool = BuddyPool.create({ arenaSize: 64 * 1024, registrar: ring });
  using file = openFile(path, { write: true, append: true });
  using buf = pool.alloc(4096);
  buf.bytes.set(new TextEncoder().encode("abcd"));
  assert.equal(await ring.write(file, buf, 0, 4), 4);
  buf.bytes.set(new TextEncoder().encode("efgh"));
  assert.equal(await ring.write(file, buf, 0, 4), 4);
  assert.equal(Deno.readTextFileSync(path), "0123abcdefgh");
});

Deno.test("openFile: bad flag combinations are TypeErrors naming the options", () => {
  const path = scratch();
  Deno.writeFileSync(path, new Uint8Array(0));
  const named = (...names: string[]) => (e: unknown) =>
    e instanceof TypeError && names.every((n) => e.message.includes(n));
  assert.throws(
    () => openFile(path, { write: true, exclusive: true }),
    named("exclusive", "create"),
  );
  assert.throws(() => openFile(path, { append: true }), named("append", "write"));
  assert.throws(() => openFile(path, { read: true, dsync: true }), named("dsync", "write"));
  assert.throws(() => openFile(path, { sync: true }), named("sync", "write"));
  assert.throws(() => openFile(path, { append: true, dsync: true }), named("append", "dsync"));
  // Not a boolean: named too.
  assert.throws(
    () => openFile(path, { write: true, dsync: 1 as unknown as boolean }),
    named("dsync"),
  );
});

/** Error messages a new user met (README trial): each says what to do. */
import assert from "node:assert/strict";
import { BuddyPool, BufferReleasedError, openFile, PoolExhaustedError, Ring } from "../mod.ts";

Deno.test("a pool grown to growth.maxArenas says so when exhausted", () => {
  using pool = BuddyPool.create({ arenaSize: 64 * 1024, growth: { maxArenas: 2 } });
  const held = [pool.alloc(64 * 1024), pool.alloc(64 * 1024)];
  assert.throws(() => pool.alloc(64 * 1024), (e: unknown) => {
    assert.ok(e instanceof PoolExhaustedError);
    assert.match(e.message, /limit of 2 arenas \(growth\.maxArenas\)/);
    assert.match(e.message, /raise growth\.maxArenas/);
    return true;
  });
  for (const b of held) b.release();
});

Deno.test("a pool without growth does not talk about maxArenas", () => {
  using pool = BuddyPool.create({ arenaSize: 64 * 1024 });
  using _held = pool.alloc(64 * 1024);
  assert.throws(() => pool.alloc(4096), (e: unknown) => {
    assert.ok(e instanceof PoolExhaustedError);
    assert.doesNotMatch(e.message, /maxArenas/);
    return true;
  });
});

Deno.test("I/O on a released buffer names the request, not a property", async () => {
  using ring = new Ring({ entries: 8 });
  using pool = BuddyPool.create({ arenaSize: 64 * 1024 });
  const path = await Deno.makeTempFile();
  try {
    using file = openFile(path, { write: true });
    const buf = pool.alloc(4096);
    buf.release();
    await assert.rejects(() => ring.write(file, buf, 0), (e: unknown) => {
      assert.ok(e instanceof BufferReleasedError);
      assert.match(e.message, /^a FixedBuf given to an I\/O request was used after release/);
      return true;
    });
  } finally {
    await Deno.remove(path);
  }
});

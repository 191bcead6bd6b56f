/** JSR needs every export documented: `deno doc --lint mod.ts` must stay clean
 * (it broke twice this session without any test noticing). */
import assert from "node:assert/strict";

Deno.test("deno doc --lint mod.ts reports nothing", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", "mod.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `deno doc --lint failed:\n${text}`);
});

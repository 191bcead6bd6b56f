/**
 * The JSR path for real, on loopback: the package directory (with the
 * prebuilt library of this platform) is served over HTTP on 127.0.0.1, and
 * a subprocess with an empty DENO_DIR and no local build imports mod.ts from
 * that URL and uses a pool.  A second run works with the server stopped
 * (cache); a tampered library is refused.  A last test checks that the
 * digests committed in ffi/digests.ts are those of the sources.
 */
import assert from "node:assert/strict";
import { LIB_DIGESTS } from "../ffi/digests.ts";
import { currentPlatform, libFileName } from "../ffi/platform.ts";

const root = new URL("..", import.meta.url).pathname;
const platform = currentPlatform()!;

/** Copies the files a published package holds into a fresh directory and
 * builds this platform's library into its lib/, with matching digests. */
async function stagePackage(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "veloq-pkg-" });
  // Recursive: src/ has subdirectories (src/net/).
  const copyTree = async (from: string, to: string) => {
    await Deno.mkdir(to);
    for (const e of Deno.readDirSync(from)) {
      if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
      else if (e.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    }
  };
  for (const sub of ["ffi", "src"]) await copyTree(`${root}${sub}`, `${dir}/${sub}`);
  await Deno.copyFile(`${root}mod.ts`, `${dir}/mod.ts`);
  await Deno.copyFile(`${root}deno.json`, `${dir}/deno.json`);
  await release(`${dir}/lib`, `${dir}/ffi/digests.ts`);
  return dir;
}

/** Builds this platform's library into `out` and its digest into `digests`. */
async function release(out: string, digests: string): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}scripts/release.ts`,
      "--only",
      platform,
      "--out",
      out,
      "--digests",
      digests,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
}

/** Serves `dir` on 127.0.0.1 (an ephemeral port). */
function serve(dir: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    try {
      const body = await Deno.readFile(`${dir}${path}`);
      const type = path.endsWith(".ts") ? "application/typescript" : "application/octet-stream";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

/** Runs a user program importing the package from `url` in a clean
 * environment: its own DENO_DIR, no VELOQ_BUFFER_LIB, no local build. */
async function runUser(
  url: string,
  denoDir: string,
  extra: string[] = [],
): Promise<{ ok: boolean; out: string; err: string }> {
  const host = new URL(url).host;
  const program = `
    import { BuddyPool } from "${url}";
    try {
      using pool = BuddyPool.create({ arenaSize: 1 << 20 });
      using buf = pool.alloc(8192);
      buf.bytes.fill(7);
      console.log(JSON.stringify({ ok: true, capacity: buf.capacity, byte: buf.bytes[8191] }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, name: e.name, message: e.message }));
    }`;
  const file = `${denoDir}/user.ts`;
  await Deno.writeTextFile(file, program);
  const env: Record<string, string> = {
    DENO_DIR: denoDir,
    HOME: denoDir,
    PATH: Deno.env.get("PATH") ?? "",
    NO_COLOR: "1",
  };
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-lock",
      `--allow-import=${host}`,
      `--allow-net=${host}`,
      "--allow-ffi",
      "--allow-env",
      `--allow-read=${denoDir}`,
      `--allow-write=${denoDir}`,
      ...extra,
      file,
    ],
    env,
    clearEnv: true,
    cwd: denoDir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return { ok: out.success, out: text, err: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name: "remote import: downloaded, verified, cached; works offline; tampered refused",
  ignore: platform === null,
  async fn() {
    const pkg = await stagePackage();
    const denoDir = await Deno.makeTempDir({ prefix: "veloq-user-" });
    try {
      // 1. First run: empty cache, the server up.
      let server = serve(pkg);
      const url = `http://127.0.0.1:${server.addr.port}/mod.ts`;
      const first = await runUser(url, denoDir);
      await server.shutdown();
      assert.ok(first.ok, first.err);
      assert.deepEqual(JSON.parse(first.out), { ok: true, capacity: 8192, byte: 7 });
      const cached = [...Deno.readDirSync(`${denoDir}/veloq-buffer/0.1.0`)].map((e) => e.name);
      assert.equal(cached.length, 1);
      assert.ok(cached[0].endsWith(libFileName(platform)), cached[0]);

      // 2. Server stopped: modules and library come from the caches.
      const offline = await runUser(url, denoDir, ["--cached-only"]);
      assert.ok(offline.ok, offline.err);
      assert.equal(JSON.parse(offline.out).ok, true);

      // 3. A tampered library on the server, a fresh cache: refused.
      const lib = `${pkg}/lib/${libFileName(platform)}`;
      const bytes = await Deno.readFile(lib);
      bytes[bytes.length - 1] ^= 0xff;
      await Deno.writeFile(lib, bytes);
      const freshDir = await Deno.makeTempDir({ prefix: "veloq-user-" });
      server = serve(pkg);
      const tampered = await runUser(`http://127.0.0.1:${server.addr.port}/mod.ts`, freshDir);
      await server.shutdown();
      await Deno.remove(freshDir, { recursive: true });
      const result = JSON.parse(tampered.out);
      assert.equal(result.ok, false, tampered.out);
      assert.equal(result.name, "NativeLibraryError");
      assert.match(result.message, /refusing .*SHA-256/);
    } finally {
      await Deno.remove(pkg, { recursive: true });
      await Deno.remove(denoDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ffi/digests.ts records the digest of a release build of these sources",
  ignore: platform === null,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "veloq-rel-" });
    try {
      await release(out, `${out}/digests.ts`);
      const built = (await Deno.readTextFile(`${out}/digests.ts`)).match(/[0-9a-f]{64}/)![0];
      assert.equal(
        LIB_DIGESTS[platform],
        built,
        "the C sources changed since the last `deno task release`: run it and commit ffi/digests.ts",
      );
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

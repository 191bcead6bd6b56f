/**
 * Builds the prebuilt libraries the package ships and records their
 * SHA-256 digests in ffi/digests.ts (the loader refuses any other bytes).
 *
 *   deno task release [--out DIR] [--only x86_64-linux]
 *
 * Each platform is cross-compiled with zig (stripped, ReleaseFast, glibc
 * 2.28) against Debian's liburing for that architecture
 * (`dpkg --add-architecture arm64 && apt-get install liburing-dev:arm64`).
 * The build is reproducible: the same sources and toolchain give the same
 * bytes in any directory, so the digests can live in the source.
 */
import { libFileName, type Platform, RELEASE_TARGETS } from "../ffi/platform.ts";

const root = new URL("..", import.meta.url).pathname;
const args = Deno.args;
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const outDir = opt("--out") ?? `${root}lib`;
const only = opt("--only");
const digestsFile = opt("--digests") ?? `${root}ffi/digests.ts`;

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function build(platform: Platform): Promise<string> {
  const prefix = await Deno.makeTempDir({ prefix: "veloq-release-" });
  const cmd = new Deno.Command("python3", {
    args: [
      "-m",
      "ziglang",
      "build",
      `-Dtarget=${RELEASE_TARGETS[platform]}`,
      "-Doptimize=ReleaseFast",
      "-Dstrip=true",
      "-p",
      prefix,
    ],
    cwd: root,
  });
  const { success, stderr } = await cmd.output();
  if (!success) {
    throw new Error(`zig build for ${platform} failed:\n${new TextDecoder().decode(stderr)}`);
  }
  const bytes = await Deno.readFile(`${prefix}/lib/libveloq_buffer.so`);
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeFile(`${outDir}/${libFileName(platform)}`, bytes);
  await Deno.remove(prefix, { recursive: true });
  return await sha256(bytes);
}

const digests: Partial<Record<Platform, string>> = {};
for (const platform of Object.keys(RELEASE_TARGETS) as Platform[]) {
  if (only && only !== platform) continue;
  digests[platform] = await build(platform);
  console.log(`${libFileName(platform)}  ${digests[platform]}`);
}
const version = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).version;
await Deno.writeTextFile(
  digestsFile,
  `/**
 * SHA-256 of the prebuilt libraries of this version, written by
 * \`deno task release\` (scripts/release.ts). The loader refuses a download
 * whose digest differs.
 *
 * @module
 */
import type { Platform } from "./platform.ts";

/** The package version these libraries belong to. */
export const LIB_VERSION = ${JSON.stringify(version)};

/** SHA-256 (hex) of lib/libveloq_buffer-<platform>.so. */
export const LIB_DIGESTS: Partial<Record<Platform, string>> = {
${Object.entries(digests).map(([k, v]) => `  "${k}": "${v}",\n`).join("")}};
`,
);
console.log(`digests written to ${digestsFile}`);

/**
 * The prebuilt library for users who import the package remotely (JSR)
 * and never build it: downloaded once from a base URL (by default the
 * package's own `lib/` folder, next to this module), checked against the
 * SHA-256 digest kept in ffi/digests.ts, cached, and reused offline.
 *
 * Cache: `$DENO_DIR/veloq-buffer/<version>/` when DENO_DIR is set, else
 * `$XDG_CACHE_HOME/veloq-buffer/<version>/`, else
 * `~/.cache/veloq-buffer/<version>/`.
 *
 * @module
 */
import { LIB_DIGESTS, LIB_VERSION } from "./digests.ts";
import { currentPlatform, libFileName } from "./platform.ts";

/** Environment variable overriding the download base URL. */
export const BASE_URL_ENV = "VELOQ_BUFFER_BASE_URL";

/** Permissions the remote path needs, for error messages. */
export const REMOTE_PERMISSIONS =
  "--allow-ffi, --allow-net=<host of the base URL> (first run only), " +
  "--allow-read and --allow-write for the cache directory, " +
  "--allow-env (DENO_DIR, XDG_CACHE_HOME, HOME, VELOQ_BUFFER_LIB, VELOQ_BUFFER_BASE_URL)";

/** Options of the remote path. */
export interface RemoteOptions {
  /** Where `libveloq_buffer-<platform>.so` is downloaded from. */
  baseUrl?: string | URL;
  /** Cache directory (default: see the module docs). */
  cacheDir?: string;
}

/** Reads an environment variable if allowed, else undefined. */
export function envVar(name: string): string | undefined {
  const state = Deno.permissions.querySync({ name: "env", variable: name }).state;
  return state === "granted" ? Deno.env.get(name) || undefined : undefined;
}

/** The default cache directory for this version. */
export function defaultCacheDir(): string {
  const denoDir = envVar("DENO_DIR");
  const base = denoDir ??
    envVar("XDG_CACHE_HOME") ??
    (envVar("HOME") ? `${envVar("HOME")}/.cache` : undefined);
  if (!base) {
    throw new Error(
      "no cache directory: set DENO_DIR, XDG_CACHE_HOME or HOME (and allow reading it with --allow-env)",
    );
  }
  return `${base}/veloq-buffer/${LIB_VERSION}`;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The path of a verified library for this machine: from the cache when a
 * file with the right digest is there (no network), else downloaded from
 * the base URL, verified, and stored atomically. Throws with what was
 * tried and why.
 */
export async function fetchLibrary(
  moduleUrl: string,
  options: RemoteOptions = {},
): Promise<string> {
  const platform = currentPlatform();
  if (!platform) {
    throw new Error(
      `no prebuilt libveloq_buffer for ${Deno.build.arch}-${Deno.build.os} (there are: ${
        Object.keys(LIB_DIGESTS).join(", ")
      }); build it from source and set VELOQ_BUFFER_LIB`,
    );
  }
  const want = LIB_DIGESTS[platform];
  if (!want) throw new Error(`this release records no digest for ${platform}`);
  const name = libFileName(platform);
  const dir = options.cacheDir ?? defaultCacheDir();
  const path = `${dir}/${want.slice(0, 16)}-${name}`;
  try {
    if (await sha256(await Deno.readFile(path)) === want) return path;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const base = options.baseUrl ?? envVar(BASE_URL_ENV) ?? new URL("../lib/", moduleUrl);
  const url = new URL(
    name,
    base instanceof URL ? base : new URL(base.endsWith("/") ? base : `${base}/`),
  );
  const res = await fetch(url);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`downloading ${url} failed: HTTP ${res.status}`);
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const got = await sha256(bytes);
  if (got !== want) {
    throw new Error(
      `refusing ${url}: its SHA-256 is ${got}, but this release of @veloq/buffer expects ${want} (tampered or from another version)`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(tmp, bytes, { mode: 0o755 });
  await Deno.rename(tmp, path);
  return path;
}

/**
 * Finds, opens and checks libveloq_buffer.
 *
 * Order:
 *  1. an explicit path: `loadLibrary({ path })`, or the environment variable
 *     VELOQ_BUFFER_LIB;
 *  2. a local build next to this module, for `file:` imports: a checkout's
 *     `zig-out/lib/libveloq_buffer.so`, or a copy of the package's
 *     `lib/libveloq_buffer-<platform>.so`;
 *  3. for remote imports (JSR, https): the prebuilt library for this
 *     platform, downloaded from the package's `lib/` folder (or
 *     VELOQ_BUFFER_BASE_URL), verified against the SHA-256 digest in
 *     ffi/digests.ts, cached, reused offline (see remote.ts).
 *
 * Every failure lists the sources tried and the command or permission that
 * fixes it.  A `file:` import opens the library lazily, on first use, and
 * needs no permission to import; a remote import fetches it while the
 * module loads (top-level await), as opening is synchronous afterwards.
 *
 * @module
 */
import { currentPlatform, libFileName } from "./platform.ts";
import { envVar, fetchLibrary, REMOTE_PERMISSIONS, type RemoteOptions } from "./remote.ts";
import { ABI_VERSION, symbols, type VeloqLib } from "./symbols.ts";

/** Raised when the native library cannot be found, opened or trusted. */
export class NativeLibraryError extends Error {
  /** The error class name. */
  override name = "NativeLibraryError";
}

/** Where libveloq_buffer can be loaded from. */
export interface LoadOptions {
  /** Absolute path of libveloq_buffer.so; overrides every other source. */
  path?: string;
}

const ENV_VAR = "VELOQ_BUFFER_LIB";
const BUILD_COMMAND = "deno task build   (or: python3 -m ziglang build)";
const isLocal = new URL(import.meta.url).protocol === "file:";

let loaded: VeloqLib | null = null;
/** The library fetched for a remote import, or why that failed. */
let fetched: { path: string } | { error: unknown } | null = null;

/** The bound library, loading it with default resolution on first use. */
export function lib(): VeloqLib {
  return loaded ?? openLibrary();
}

/**
 * Opens the native library now (optionally from an explicit path) and
 * checks its ABI version, instead of on first use. Later calls do nothing.
 * Throws {@linkcode NativeLibraryError} listing every source tried.
 *
 * ```ts
 * import { loadLibrary } from "@veloq/buffer";
 * loadLibrary({ path: "/opt/veloq/libveloq_buffer.so" });
 * ```
 */
export function loadLibrary(options: LoadOptions = {}): void {
  openLibrary(options);
}

/**
 * Downloads (or finds in the cache) the verified prebuilt library for this
 * platform, as a remote import does while loading; for a `file:` import,
 * or to choose another base URL or cache. The next use opens it.
 */
export async function fetchPrebuiltLibrary(options: RemoteOptions = {}): Promise<string> {
  try {
    const path = await fetchLibrary(import.meta.url, options);
    fetched = { path };
    return path;
  } catch (e) {
    fetched = { error: e };
    throw remoteError(e);
  }
}

function remoteError(e: unknown): NativeLibraryError {
  if (e instanceof Deno.errors.NotCapable) {
    return new NativeLibraryError(
      `fetching libveloq_buffer needs permissions: ${REMOTE_PERMISSIONS} (${(e as Error).message})`,
      { cause: e },
    );
  }
  return new NativeLibraryError(`prebuilt libveloq_buffer: ${(e as Error).message}`, { cause: e });
}

function openLibrary(options: LoadOptions = {}): VeloqLib {
  if (loaded) return loaded;
  const tried: string[] = [];
  for (const candidate of candidates(options, tried)) {
    let opened: VeloqLib;
    try {
      opened = Deno.dlopen(candidate, symbols);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) {
        throw new NativeLibraryError(
          `loading ${candidate} needs FFI permission: run deno with --allow-ffi`,
          { cause: e },
        );
      }
      // Deno's message repeats its own prefix ("Could not open library: Could
      // not open library: ..."): keep the reason once.
      const why = (e as Error).message.replace(/^(Could not open library: )+/, "");
      tried.push(`${candidate}: ${why}`);
      continue;
    }
    const abi = opened.symbols.vb_abi_version();
    if (abi !== ABI_VERSION) {
      opened.close();
      throw new NativeLibraryError(
        `${candidate} has ABI version ${abi}, this module needs ${ABI_VERSION}: rebuild it with ${BUILD_COMMAND}`,
      );
    }
    loaded = opened;
    return opened;
  }
  throw new NativeLibraryError(
    `libveloq_buffer not found. Tried:\n  ${tried.join("\n  ")}\n${
      isLocal
        ? `Build it with ${BUILD_COMMAND}, or set ${ENV_VAR} to its path.`
        : `Set ${ENV_VAR} to a built library, or grant ${REMOTE_PERMISSIONS}.`
    }`,
  );
}

function* candidates(options: LoadOptions, tried: string[]): Generator<string> {
  if (options.path) {
    yield options.path;
    return; // an explicit path is final
  }
  const env = envVar(ENV_VAR);
  if (env) {
    yield env;
    return;
  }
  if (Deno.permissions.querySync({ name: "env", variable: ENV_VAR }).state !== "granted") {
    tried.push(`$${ENV_VAR}: not read (grant --allow-env=${ENV_VAR} to use it)`);
  }
  if (isLocal) {
    yield fromHere("../zig-out/lib/libveloq_buffer.so");
    const platform = currentPlatform();
    if (platform) yield fromHere(`../lib/${libFileName(platform)}`);
    if (fetched && "path" in fetched) yield fetched.path;
    return;
  }
  if (fetched && "path" in fetched) yield fetched.path;
  else if (fetched) tried.push(`prebuilt download: ${remoteError(fetched.error).message}`);
}

function fromHere(relative: string): string {
  return decodeURIComponent(new URL(relative, import.meta.url).pathname);
}

/** Reads a NUL-terminated C string returned by the library. */
export function cString(ptr: Deno.PointerValue): string {
  return ptr === null ? "" : Deno.UnsafePointerView.getCString(ptr);
}

// A remote import has no build next to it: fetch the prebuilt library while
// the module loads, so that the synchronous API works right after import.
// Failures are kept and reported by the first use, after the explicit
// sources (loadLibrary({ path }), VELOQ_BUFFER_LIB) had their chance.
if (!isLocal && !envVar(ENV_VAR)) {
  await fetchPrebuiltLibrary().catch(() => {});
}

/**
 * Finds, opens and checks libveloq_buffer.
 *
 * Order: an explicit path (loadLibrary({ path })), then the environment
 * variable VELOQ_BUFFER_LIB, then the build output of a checkout next to this
 * module (zig-out/lib/libveloq_buffer.so).  Every failure lists the paths
 * tried and the command or permission that fixes it.
 *
 * The library is opened lazily, on first use, so importing the package needs
 * no permission at all.
 *
 * @module
 */
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

let loaded: VeloqLib | null = null;

/** The bound library, loading it with default resolution on first use. */
export function lib(): VeloqLib {
  return loaded ?? openLibrary();
}

/**
 * Opens the native library now (optionally from an explicit path) and
 * checks its ABI version, instead of on first use. Later calls do nothing.
 * Throws {@linkcode NativeLibraryError} listing every path tried.
 *
 * ```ts
 * import { loadLibrary } from "@veloq/buffer";
 * loadLibrary({ path: "/opt/veloq/libveloq_buffer.so" });
 * ```
 */
export function loadLibrary(options: LoadOptions = {}): void {
  openLibrary(options);
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
      tried.push(`${candidate}: ${(e as Error).message}`);
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
    `libveloq_buffer not found. Tried:\n  ${
      tried.join("\n  ")
    }\nBuild it with ${BUILD_COMMAND}, or set ${ENV_VAR} to its path.`,
  );
}

function* candidates(options: LoadOptions, tried: string[]): Generator<string> {
  if (options.path) {
    yield options.path;
    return; // an explicit path is final
  }
  const env = readEnv(tried);
  if (env) {
    yield env;
    return;
  }
  const local = new URL("../zig-out/lib/libveloq_buffer.so", import.meta.url);
  if (local.protocol === "file:") yield decodeURIComponent(local.pathname);
  else tried.push(`${local.href}: not a local file (remote import)`);
}

function readEnv(tried: string[]): string | undefined {
  const state = Deno.permissions.querySync({ name: "env", variable: ENV_VAR });
  if (state.state !== "granted") {
    tried.push(`$${ENV_VAR}: not read (grant --allow-env=${ENV_VAR} to use it)`);
    return undefined;
  }
  return Deno.env.get(ENV_VAR) || undefined;
}

/** Reads a NUL-terminated C string returned by the library. */
export function cString(ptr: Deno.PointerValue): string {
  return ptr === null ? "" : Deno.UnsafePointerView.getCString(ptr);
}

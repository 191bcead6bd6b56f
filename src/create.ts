/**
 * What BuddyPool.create and HybridPool.create share: flags from common
 * options, default names, and turning a failed create into an error.
 *
 * @module
 */
import { Flag } from "../ffi/constants.ts";
import { VeloqError } from "./errors.ts";
import { boolOption, enumOption, nameOption } from "./options.ts";
import { describe, errnoName } from "./native_errors.ts";
import { Ring } from "./ring.ts";

/** Options every pool accepts. */
export interface CommonPoolOptions {
  /** Name used in messages and leak reports. */
  name?: string;
  /**
   * What alloc does when no block fits: "error" throws PoolExhaustedError
   * (default); "fallback" serves the request from the global allocator (an
   * unregistered buffer, bufIndex -1, counted in stats().fallbackBuffers).
   */
  onExhausted?: "error" | "fallback";
  /** Pre-fault the arena at creation (MAP_POPULATE). Default false. */
  prefault?: boolean;
  /**
   * Register the pool's arena with this ring's buffer table, so its buffers
   * carry a `bufIndex` and ring I/O on them is READ_FIXED/WRITE_FIXED.
   * Throws MemlockError / RegistrationError when that is refused. The pool
   * must be closed before the ring to stay registered for its whole life.
   */
  registrar?: Ring;
}

let poolCount = 0;

/** Validated common options as C flags and a name. */
export function commonOptions(
  kind: string,
  options: CommonPoolOptions,
): { flags: number; name: string; registrar: Ring | undefined } {
  const onExhausted = enumOption(
    "onExhausted",
    options.onExhausted,
    ["error", "fallback"],
    "error",
  );
  const prefault = boolOption("prefault", options.prefault, false);
  const name = nameOption(options.name, `${kind}-${++poolCount}`);
  const registrar = options.registrar;
  if (registrar !== undefined && !(registrar instanceof Ring)) {
    throw new TypeError("option registrar must be a Ring");
  }
  let flags = 0;
  if (onExhausted === "fallback") flags |= Flag.FALLBACK_ON_EXHAUSTED;
  if (prefault) flags |= Flag.POPULATE;
  return { flags, name, registrar };
}

/** The error for a create call that returned `code`. */
export function createError(kind: string, code: number, bytes: number): Error {
  if (code === -22) return new RangeError(`${kind}: invalid options (${describe(code)})`);
  return new VeloqError(
    `${kind}: cannot map an arena of ${bytes} bytes: ${errnoName(code)} (${describe(code)})`,
    { code },
  );
}

/**
 * What BuddyPool.create and HybridPool.create share: flags from common
 * options, default names, and turning a failed create into an error.
 *
 * @module
 */
import { Flag, MAX_ARENAS, MAX_POOL_RINGS } from "../ffi/constants.ts";
import { VeloqError } from "./errors.ts";
import { boolOption, enumOption, intOption, knownKeys, nameOption } from "./options.ts";
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
  /** Pre-fault the arena at creation (MAP_POPULATE): no page faults on
   * first use, at the cost of touching every page up front. Default false. */
  prefault?: boolean;
  /**
   * Arena alignment: 4096 (default) or 2097152 (2 MiB huge pages: reserved
   * hugetlbfs pages when the system has them, else a 2 MiB-aligned arena
   * advised for transparent huge pages; `stats()` says which). Huge pages
   * cut TLB misses and pin faster; the arena is rounded up to whole 2 MiB.
   */
  alignment?: number;
  /** Growth when the pool is full (default: none). */
  growth?: GrowthOptions;
  /**
   * Checked mode, for development and tests: each buffer's `bytes` gets an
   * ArrayBuffer of its own that release() detaches (stale `Uint8Array`s read
   * as length 0 and writes go nowhere), released memory is poisoned (0xDE),
   * and a FixedBuf garbage-collected without release() is reported (see
   * `onLeak`) and its memory returned. Costs ~1 µs per buffer whose bytes
   * are used and a FinalizationRegistry entry per alloc. Default false.
   */
  checked?: boolean;
  /** Checked mode: called for each leaked buffer (default: console.warn). */
  onLeak?: (leak: LeakReport) => void;
  /**
   * Register the pool's arenas with this ring's buffer table (or with each
   * of several rings, at the same indexes), so its buffers carry a
   * `bufIndex` and ring I/O on them is READ_FIXED/WRITE_FIXED. With several
   * rings the memory is pinned once: the other rings share the first one's
   * entries (Linux 6.13+; older kernels register it again, charging
   * RLIMIT_MEMLOCK again). Throws MemlockError / RegistrationError when
   * refused. A pool outliving a ring goes on unregistered in it.
   */
  registrar?: Ring | readonly Ring[];
}

/** A FixedBuf that was garbage-collected without release() (checked mode). */
export interface LeakReport {
  /** The pool's name. */
  pool: string;
  /** The buffer's capacity in bytes. */
  capacity: number;
  /** Its registered index, or -1. */
  bufIndex: number;
}

/** How a full pool grows: by whole arenas of the same shape. */
export interface GrowthOptions {
  /** Most arenas (1 = no growth). A registered pool registers each new
   * arena in free slots of the ring's table, without touching the others.
   * 1 to 1024, default 1. */
  maxArenas?: number;
  /** Unmap an extra arena as soon as its last buffer is released (never
   * the first arena). Default false: grown arenas stay for reuse. Stale
   * `Uint8Array`s of released buffers in a returned arena become invalid
   * memory, so keep no view past release() with this on. */
  releaseEmpty?: boolean;
}

let poolCount = 0;

/** Validated common options as C flags and a name. */
/** The option names every pool's create() takes (CommonPoolOptions). */
export const COMMON_POOL_OPTIONS = [
  "name",
  "onExhausted",
  "prefault",
  "alignment",
  "growth",
  "checked",
  "onLeak",
  "registrar",
] as const;

export function commonOptions(
  kind: string,
  options: CommonPoolOptions,
): {
  flags: number;
  name: string;
  registrars: Ring[];
  maxArenas: number;
  checked: boolean;
  onLeak: ((leak: LeakReport) => void) | undefined;
} {
  const onExhausted = enumOption(
    "onExhausted",
    options.onExhausted,
    ["error", "fallback"],
    "error",
  );
  const prefault = boolOption("prefault", options.prefault, false);
  const alignment = options.alignment ?? 4096;
  if (alignment !== 4096 && alignment !== 2097152) {
    throw new RangeError(
      `option alignment must be 4096 or 2097152 (2 MiB huge pages), got ${String(alignment)}`,
    );
  }
  const growth = options.growth ?? {};
  if (typeof growth !== "object" || growth === null) {
    throw new TypeError("option growth must be an object { maxArenas?, releaseEmpty? }");
  }
  knownKeys(`${kind} pool growth`, growth, ["maxArenas", "releaseEmpty"]);
  const maxArenas = intOption("growth.maxArenas", growth.maxArenas, 1, MAX_ARENAS, 1);
  const releaseEmpty = boolOption("growth.releaseEmpty", growth.releaseEmpty, false);
  const checked = boolOption("checked", options.checked, false);
  if (options.onLeak !== undefined && typeof options.onLeak !== "function") {
    throw new TypeError("option onLeak must be a function");
  }
  const name = nameOption(options.name, `${kind}-${++poolCount}`);
  const registrars = registrarOption(options.registrar);
  let flags = 0;
  if (onExhausted === "fallback") flags |= Flag.FALLBACK_ON_EXHAUSTED;
  if (prefault) flags |= Flag.POPULATE;
  if (alignment === 2097152) flags |= Flag.HUGE_PAGES;
  if (releaseEmpty) flags |= Flag.RELEASE_EMPTY_ARENAS;
  if (checked) flags |= Flag.POISON;
  return { flags, name, registrars, maxArenas, checked, onLeak: options.onLeak };
}

/** Checks the registrar option: a Ring, or 1 to 8 distinct Rings. */
function registrarOption(value: unknown): Ring[] {
  if (value === undefined) return [];
  const rings = Array.isArray(value) ? value : [value];
  if (rings.length === 0 || rings.length > MAX_POOL_RINGS) {
    throw new RangeError(
      `option registrar must name 1 to ${MAX_POOL_RINGS} rings, got ${rings.length}`,
    );
  }
  rings.forEach((r, i) => {
    if (!(r instanceof Ring)) {
      throw new TypeError(
        `option registrar must be a Ring or an array of Rings (entry ${i} is not)`,
      );
    }
    if (rings.indexOf(r) !== i) throw new TypeError("option registrar names the same Ring twice");
  });
  return rings;
}

/** The error for a create call that returned `code`. */
export function createError(kind: string, code: number, bytes: number): Error {
  if (code === -22) return new RangeError(`${kind}: invalid options (${describe(code)})`);
  return new VeloqError(
    `${kind}: cannot map an arena of ${bytes} bytes: ${errnoName(code)} (${describe(code)})`,
    { code },
  );
}

/**
 * HybridPool: fixed size classes in one unified arena.
 *
 * @module
 */
import { lib } from "../ffi/loader.ts";
import {
  COMMON_POOL_OPTIONS,
  commonOptions,
  type CommonPoolOptions,
  createError,
} from "./create.ts";
import { enumOption, knownKeys } from "./options.ts";
import { NativePool, poolPointer } from "./pool.ts";

/** One size class of a HybridPool. */
export interface SizeClass {
  /** Block size in bytes: a multiple of 4096. */
  size: number;
  /** Number of blocks. */
  count: number;
}

/** Options of {@linkcode HybridPool.create}. */
export interface HybridPoolOptions extends CommonPoolOptions {
  /** Size classes, ascending sizes, 1 to 16 of them, at most 1 GiB in all.
   * Default: {@linkcode HYBRID_DEFAULT_CLASSES} (14 MiB). */
  classes?: readonly SizeClass[];
  /**
   * What alloc does with a request above the largest class: "fallback"
   * (default, as in the seed design) serves it from the global allocator,
   * unregistered (bufIndex -1, counted in stats().fallbackBuffers), whatever
   * `onExhausted` says; "error" refuses it with a RangeError.
   */
  onOversize?: "error" | "fallback";
}

/** The seed's classes: 4K x1024, 8K x256, 16K x128, 32K x64, 64K x64 = 14 MiB. */
export const HYBRID_DEFAULT_CLASSES: readonly SizeClass[] = Object.freeze([
  { size: 4096, count: 1024 },
  { size: 8192, count: 256 },
  { size: 16384, count: 128 },
  { size: 32768, count: 64 },
  { size: 65536, count: 64 },
]);

const MAX_CLASSES = 16;
const MAX_ARENA = 2 ** 30;

/**
 * One arena cut into a slab per size class, so the whole pool is a single
 * region (one io_uring registration).  Alloc and release are O(1) stack
 * operations; an allocation bitset catches double frees.  Requests above the
 * largest class are served by the global allocator (bufIndex -1), or refused
 * with `onOversize: "error"`.  Choose it
 * for network-style traffic with a few known sizes.
 *
 * ```ts
 * import { HybridPool } from "@veloq/buffer";
 * using pool = HybridPool.create({ classes: [{ size: 4096, count: 256 }] });
 * using buf = pool.alloc(1500); // capacity 4096
 * ```
 */
export class HybridPool extends NativePool {
  /** Creates a pool; throws RangeError/TypeError for bad options. */
  static create(options?: HybridPoolOptions): HybridPool {
    knownKeys("HybridPool.create", options, [...COMMON_POOL_OPTIONS, "classes", "onOversize"]);
    options ??= {};
    const classes = validateClasses(options.classes ?? HYBRID_DEFAULT_CLASSES);
    const common = commonOptions("hybrid", options);
    const oversize = enumOption(
      "onOversize",
      options.onOversize,
      ["error", "fallback"],
      "fallback",
    );
    const sizes = new Uint32Array(classes.map((c) => c.size));
    const counts = new Uint32Array(classes.map((c) => c.count));
    const cell = new BigUint64Array(1);
    const rc = lib().symbols.vb_hybrid_create(sizes, counts, classes.length, common.flags, cell);
    const bytes = classes.reduce((n, c) => n + c.size * c.count, 0);
    if (rc !== 0) throw createError("HybridPool", rc, bytes);
    const maxSize = oversize === "error" ? classes[classes.length - 1].size : undefined;
    return new HybridPool({ ptr: poolPointer(cell), ...common, maxSize });
  }
}

function validateClasses(classes: unknown): SizeClass[] {
  if (!Array.isArray(classes)) {
    throw new TypeError("option classes must be an array of { size, count }");
  }
  if (classes.length < 1 || classes.length > MAX_CLASSES) {
    throw new RangeError(
      `option classes must have 1 to ${MAX_CLASSES} entries, got ${classes.length}`,
    );
  }
  let total = 0, prev = 0;
  return classes.map((c: unknown, i: number) => {
    if (typeof c === "object" && c !== null) knownKeys(`classes[${i}]`, c, ["size", "count"]);
    const { size, count } = (c ?? {}) as Partial<SizeClass>;
    if (typeof size !== "number" || typeof count !== "number") {
      throw new TypeError(`option classes[${i}] must be { size: number, count: number }`);
    }
    if (!Number.isInteger(size) || size < 4096 || size % 4096 !== 0 || size > MAX_ARENA) {
      throw new RangeError(
        `option classes[${i}].size must be a multiple of 4096 from 4096 to 1 GiB, got ${size}`,
      );
    }
    if (size <= prev) {
      throw new RangeError(
        `option classes must be in ascending size order: classes[${i}].size ${size} <= ${prev}`,
      );
    }
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`option classes[${i}].count must be an integer >= 1, got ${count}`);
    }
    prev = size;
    total += size * count;
    if (total > MAX_ARENA) {
      throw new RangeError(
        `option classes add up to more than 1 GiB (the largest registrable region)`,
      );
    }
    return { size, count };
  });
}

/**
 * BuddyPool: general-purpose variable-size buffers.
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
import { intOption, knownKeys } from "./options.ts";

const BUDDY_OPTIONS = ["arenaSize", "cacheDepth", "cachedOrders"] as const;
import { NativePool, poolPointer } from "./pool.ts";

/** Options of {@linkcode BuddyPool.create}. */
export interface BuddyPoolOptions extends CommonPoolOptions {
  /** Arena bytes: a multiple of 4096 up to 4 GiB. Default 32 MiB. */
  arenaSize?: number;
  /** Freed blocks kept per cached size (the L0 stacks). 0 turns the cache
   * off. Default 64, at most 65536. */
  cacheDepth?: number;
  /** Sizes 4 KiB << 0 .. 4 KiB << (cachedOrders - 1) are cached. Default 6
   * (4 KiB to 128 KiB), at most 19. */
  cachedOrders?: number;
}

/** Default arena: 32 MiB, as in the seed design. */
export const BUDDY_DEFAULT_ARENA = 32 * 1024 * 1024;

/**
 * A binary buddy allocator over one page-aligned arena, with per-size
 * stacks of recently freed blocks in front of it.  Any size up to the arena
 * is served; requests are rounded up to a power-of-two number of 4 KiB pages.
 * Choose it for mixed and large sizes (file I/O, storage pages of many sizes).
 *
 * ```ts
 * import { BuddyPool } from "@veloq/buffer";
 * using pool = BuddyPool.create({ arenaSize: 64 * 1024 * 1024 });
 * using buf = pool.alloc(100_000); // capacity 131072
 * buf.bytes[0] = 1;
 * ```
 */
export class BuddyPool extends NativePool {
  /** Creates a pool; throws RangeError/TypeError for bad options. */
  static create(options?: BuddyPoolOptions): BuddyPool {
    knownKeys("BuddyPool.create", options, [...COMMON_POOL_OPTIONS, ...BUDDY_OPTIONS]);
    options ??= {};
    const arenaSize = intOption("arenaSize", options.arenaSize, 4096, 2 ** 32, BUDDY_DEFAULT_ARENA);
    if (arenaSize % 4096 !== 0) {
      throw new RangeError(`option arenaSize must be a multiple of 4096, got ${arenaSize}`);
    }
    const cacheDepth = intOption("cacheDepth", options.cacheDepth, 0, 65536, 64);
    const cachedOrders = intOption("cachedOrders", options.cachedOrders, 0, 19, 6);
    const common = commonOptions("buddy", options);
    const cell = new BigUint64Array(1);
    const rc = lib().symbols.vb_buddy_create(
      BigInt(arenaSize),
      cacheDepth,
      cachedOrders,
      common.flags,
      cell,
    );
    if (rc !== 0) throw createError("BuddyPool", rc, arenaSize);
    return new BuddyPool({ ptr: poolPointer(cell), ...common });
  }
}

/**
 * BufScope: many buffers, one `using`.  The `using` statement costs ~90 ns
 * in V8 whatever it disposes, which is several times a buffer's whole
 * alloc+release; code that takes many buffers at once can pay it once.
 *
 * @module
 */
import type { FixedBuf } from "./fixed_buf.ts";

/** What a scope needs from its pool. */
interface ScopePool {
  alloc(size: number): FixedBuf;
  allocMany(size: number, count: number): FixedBuf[];
}

/**
 * Buffers released together when the scope ends.
 *
 * ```ts
 * import { BuddyPool } from "@veloq/buffer";
 * using pool = BuddyPool.create();
 * {
 *   using scope = pool.scope();
 *   const header = scope.alloc(4096);
 *   const pages = scope.allocMany(16384, 8);
 *   header.bytes[0] = pages.length;
 * } // all nine buffers go back here
 * ```
 */
export class BufScope implements Disposable {
  #pool: ScopePool;
  #bufs: FixedBuf[] = [];

  /** @ignore Made by `pool.scope()`. */
  constructor(pool: ScopePool) {
    this.#pool = pool;
  }

  /** A buffer released when the scope ends (see `BufPool.alloc`). */
  alloc(size: number): FixedBuf {
    const buf = this.#pool.alloc(size);
    this.#bufs.push(buf);
    return buf;
  }

  /** `count` buffers released when the scope ends (see `allocMany`). */
  allocMany(size: number, count: number): FixedBuf[] {
    const bufs = this.#pool.allocMany(size, count);
    for (const b of bufs) this.#bufs.push(b);
    return bufs;
  }

  /** Buffers in the scope now. */
  get size(): number {
    return this.#bufs.length;
  }

  /** Releases every buffer of the scope that is still held here (ones
   * already released or transferred are skipped). */
  [Symbol.dispose](): void {
    const bufs = this.#bufs;
    this.#bufs = [];
    for (const b of bufs) if (!b.released) b.release();
  }
}

/**
 * BufScope: many buffers, one `using`.  The `using` statement costs ~90 ns
 * in V8 whatever it disposes, which is several times a buffer's whole
 * alloc+release; code that takes many buffers at once can pay it once.
 *
 * @module
 */
import { BufferReleasedError } from "./errors.ts";
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
  #bufs: FixedBuf[] | null = [];

  /** @ignore Made by `pool.scope()`. */
  constructor(pool: ScopePool) {
    this.#pool = pool;
  }

  /** A buffer released when the scope ends (see `BufPool.alloc`). */
  alloc(size: number): FixedBuf {
    const bufs = this.#open();
    const buf = this.#pool.alloc(size);
    bufs.push(buf);
    return buf;
  }

  /** `count` buffers released when the scope ends (see `allocMany`). */
  allocMany(size: number, count: number): FixedBuf[] {
    const held = this.#open();
    const bufs = this.#pool.allocMany(size, count);
    for (const b of bufs) held.push(b);
    return bufs;
  }

  /** Buffers in the scope now (0 once disposed). */
  get size(): number {
    return this.#bufs?.length ?? 0;
  }

  /** True once the scope was disposed: it allocates no more. */
  get disposed(): boolean {
    return this.#bufs === null;
  }

  /** Releases every buffer of the scope that is still held here (ones
   * already released or transferred are skipped; ones still in use by ring
   * I/O go back when it settles). Every buffer is released even if one
   * release throws; the first error is rethrown afterwards. A second call
   * does nothing. */
  [Symbol.dispose](): void {
    const bufs = this.#bufs;
    if (bufs === null) return;
    this.#bufs = null;
    let failed = false, error: unknown;
    for (const b of bufs) {
      if (b.released) continue;
      try {
        b.release();
      } catch (e) {
        if (!failed) [failed, error] = [true, e];
      }
    }
    if (failed) throw error;
  }

  #open(): FixedBuf[] {
    const bufs = this.#bufs;
    if (bufs === null) {
      throw new BufferReleasedError(
        "BufScope used after it was disposed: its buffers went back to the pool; make a new pool.scope()",
      );
    }
    return bufs;
  }
}

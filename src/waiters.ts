/**
 * Callers of allocAsync waiting for memory: first come, first served among
 * waiters of one block size (4000 and 4096 bytes both wait for a 4 KiB
 * block, in the order they came); a block size that cannot be served blocks
 * only the later waiters of that same block size.  Used by every pool class; the pool says when
 * memory may have come back (`wake`, called on release: one flag test while
 * nobody waits).
 *
 * @module
 */
import type { FixedBuf } from "./fixed_buf.ts";
import { unknownKeyError } from "./options.ts";

/** The block a request of `size` bytes gets from a pool whose size classes
 * are `classes` (ascending; empty: power-of-two page counts, BuddyPool):
 * waiters of one block size are served first come, first served. */
export function blockOf(classes: readonly number[], size: number): number {
  if ((size >>> 0) !== size || size === 0) return size;
  if (classes.length !== 0) {
    for (const c of classes) if (size <= c) return c;
    return size; // above the largest class (fallback or refused)
  }
  return 4096 * 2 ** Math.ceil(Math.log2(Math.ceil(size / 4096)));
}

/** Options of {@linkcode BufPool.allocAsync}. */
export interface AllocAsyncOptions {
  /** Stops waiting: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A caller of allocAsync waiting for memory. */
interface Waiter {
  size: number;
  /** The block size it waits for. */
  block: number;
  resolve: (buf: FixedBuf) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** The waiting line of one pool. */
export class Waiters {
  #list: Waiter[] = [];
  /** True while waiters exist and no serving pass is queued: the one flag
   * a release reads. */
  #armed = false;
  #tryAlloc: (size: number) => FixedBuf | null;
  #blockOf: (size: number) => number;
  #waits = 0;

  /** `tryAlloc` is the pool's: null when it cannot serve now, throws on
   * bad input. `blockOf` maps a request to the block size it gets (default:
   * the size itself). */
  constructor(
    tryAlloc: (size: number) => FixedBuf | null,
    blockOf: (size: number) => number = (size) => size,
  ) {
    this.#tryAlloc = tryAlloc;
    this.#blockOf = blockOf;
  }

  /** allocAsync calls that could not be served at once, since creation. */
  get waits(): number {
    return this.#waits;
  }

  /** Waiters now. */
  get length(): number {
    return this.#list.length;
  }

  /** A buffer at once when possible, else when released memory allows. */
  alloc(size: number, options?: AllocAsyncOptions | null): Promise<FixedBuf> {
    if (options != null && typeof options !== "object") {
      return Promise.reject(new TypeError("allocAsync options must be an object { signal? }"));
    }
    const bad = unknownKeyError("allocAsync", options, ["signal"]);
    if (bad !== null) return Promise.reject(bad);
    const signal = options?.signal ?? undefined;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return Promise.reject(new TypeError("allocAsync option signal must be an AbortSignal"));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    let buf: FixedBuf | null, block: number;
    try {
      block = this.#blockOf(size);
      // Waiters of this block size that came first keep their turn.
      buf = this.#list.some((w) => w.block === block) ? null : this.#tryAlloc(size);
    } catch (e) {
      return Promise.reject(e);
    }
    if (buf) return Promise.resolve(buf);
    this.#waits++;
    const { promise, resolve, reject } = Promise.withResolvers<FixedBuf>();
    const waiter: Waiter = { size, block, resolve, reject, signal, onAbort: undefined };
    if (signal) {
      waiter.onAbort = () => {
        this.#drop(waiter);
        reject(signal.reason);
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
    }
    this.#list.push(waiter);
    this.#armed = true;
    return promise;
  }

  /** Memory came back: serve waiters in a microtask (batched). */
  wake(): void {
    if (!this.#armed) return;
    this.#armed = false;
    queueMicrotask(this.#serve);
  }

  /** Rejects every waiter (the pool is closing). */
  rejectAll(error: (size: number) => Error): void {
    for (const w of [...this.#list]) {
      this.#drop(w);
      w.reject(error(w.size));
    }
  }

  #serve = (): void => {
    this.#armed = this.#list.length !== 0;
    const blocked = new Set<number>();
    for (const w of [...this.#list]) {
      if (blocked.has(w.block)) continue;
      let buf;
      try {
        buf = this.#tryAlloc(w.size);
      } catch (e) {
        this.#drop(w);
        w.reject(e);
        continue;
      }
      if (buf === null) {
        blocked.add(w.block);
        continue;
      }
      this.#drop(w);
      w.resolve(buf);
    }
  };

  #drop(w: Waiter): void {
    const i = this.#list.indexOf(w);
    if (i >= 0) this.#list.splice(i, 1);
    if (this.#list.length === 0) this.#armed = false;
    if (w.signal && w.onAbort) w.signal.removeEventListener("abort", w.onAbort);
  }
}

/**
 * Callers of allocAsync waiting for memory: first come, first served among
 * waiters of a size; a size that cannot be served blocks only the later
 * waiters of that same size.  Used by every pool class; the pool says when
 * memory may have come back (`wake`, called on release: one flag test while
 * nobody waits).
 *
 * @module
 */
import type { FixedBuf } from "./fixed_buf.ts";

/** Options of {@linkcode BufPool.allocAsync}. */
export interface AllocAsyncOptions {
  /** Stops waiting: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A caller of allocAsync waiting for memory. */
interface Waiter {
  size: number;
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

  /** `tryAlloc` is the pool's: null when exhausted, throws on bad input. */
  constructor(tryAlloc: (size: number) => FixedBuf | null) {
    this.#tryAlloc = tryAlloc;
  }

  /** Waiters now. */
  get length(): number {
    return this.#list.length;
  }

  /** A buffer at once when possible, else when released memory allows. */
  alloc(size: number, options: AllocAsyncOptions = {}): Promise<FixedBuf> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let buf;
    try {
      // Waiters of this size that came first keep their turn.
      buf = this.#list.some((w) => w.size === size) ? null : this.#tryAlloc(size);
    } catch (e) {
      return Promise.reject(e);
    }
    if (buf) return Promise.resolve(buf);
    const { promise, resolve, reject } = Promise.withResolvers<FixedBuf>();
    const waiter: Waiter = { size, resolve, reject, signal, onAbort: undefined };
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
      if (blocked.has(w.size)) continue;
      let buf;
      try {
        buf = this.#tryAlloc(w.size);
      } catch (e) {
        this.#drop(w);
        w.reject(e);
        continue;
      }
      if (buf === null) {
        blocked.add(w.size);
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

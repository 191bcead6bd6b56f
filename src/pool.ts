/**
 * BufPool, the interface every pool implements, and NativePool, the one
 * binding of the C core's type-erased pool that BuddyPool and HybridPool
 * share.  No allocator logic lives here: sizes are checked, the C core
 * decides, and its answers become FixedBufs or typed errors.
 *
 * @module
 */
import {
  Err,
  HANDLE_FALLBACK_ARENA,
  HANDLE_PAGE_BITS,
  HANDLE_PAGE_MASK,
  Out,
  PAGE_SIZE,
  Stat,
} from "../ffi/constants.ts";
import { cString, lib } from "../ffi/loader.ts";
import type { VeloqLib } from "../ffi/symbols.ts";
import { poolError } from "./native_errors.ts";
import { DoubleFreeError, PoolBusyError, PoolClosedError } from "./errors.ts";
import {
  type BufOwner,
  FixedBuf,
  kCreate,
  kForget,
  kFree,
  kGone,
  kIdentity,
  kIndexLive,
  kPointer,
  kView,
  type TransferredBuf,
} from "./fixed_buf.ts";
import { addOwner, removeOwner } from "./owners.ts";
import { registerPool, registrationError } from "./registration.ts";
import { sizeError } from "./options.ts";
import { type AllocAsyncOptions, blockOf, Waiters } from "./waiters.ts";
import { BufScope } from "./scope.ts";
import { CrossWake, newWakeCells } from "./cross_wake.ts";
import { kRingPtr, type Ring } from "./ring.ts";
import type { LeakReport } from "./create.ts";

/** Figures of one size class (HybridPool). */
export interface ClassStats {
  /** Block size in bytes. */
  size: number;
  /** Blocks in the class. */
  total: number;
  /** Blocks free now. */
  free: number;
}

/** A snapshot of a pool's counters. */
export interface PoolStats {
  /** Buffers handed out and not released (fallback ones included). */
  liveBuffers: number;
  /** Capacity bytes of those buffers. */
  bytesInUse: number;
  /** Bytes of all arenas. */
  capacityBytes: number;
  /** Arena bytes not in use (cached blocks included). */
  freeBytes: number;
  /** Blocks parked in per-size caches (BuddyPool's L0). */
  cachedBuffers: number;
  /** The largest buffer an alloc could get right now. */
  largestFree: number;
  /** Live buffers served by the global allocator (never registered). */
  fallbackBuffers: number;
  /** Their bytes. */
  fallbackBytes: number;
  /** Successful allocations since creation. */
  allocs: number;
  /** Releases since creation. */
  frees: number;
  /** alloc/tryAlloc/allocMany calls refused because the pool was
   * exhausted (allocAsync calls that waited are counted in `waits`). */
  failedAllocs: number;
  /** allocAsync calls that could not be served at once and waited. */
  waits: number;
  /** Times the pool was full and growing it failed (the new arena could not
   * be registered: RLIMIT_MEMLOCK or the ring's table); allocAsync then
   * waits for releases instead of failing. */
  failedGrowths: number;
  /** Threads (Workers) that have this pool attached now. */
  attachedViews: number;
  /** Releases from other threads that named no live buffer (should stay 0). */
  remoteErrors: number;
  /** Arenas the pool has now (more than 1 after growth or share(); a
   * share's counts from share() on, though it is mapped only at its
   * Worker's first allocation). */
  arenas: number;
  /** The growth limit (`growth.maxArenas`; 1 = no growth). */
  maxArenas: number;
  /** Arenas mapped after the first, ever. */
  grows: number;
  /** Arenas backed by reserved 2 MiB huge pages (hugetlbfs). */
  hugePageArenas: number;
  /** Arenas 2 MiB-aligned and advised for transparent huge pages (the
   * fallback when no hugetlbfs pages are reserved). */
  thpArenas: number;
  /** Per size class figures (empty for BuddyPool). */
  classes: ClassStats[];
}

/** A pool handed to a Worker: plain data from `pool.share()`, turned into a
 * usable pool there by `attachPool`. */
export interface SharedPool {
  /** Marks the object as a veloq pool hand-over. */
  readonly kind: "veloq.pool";
  /** Address of the C pool. */
  readonly pool: bigint;
  /** The reservation made for the Worker: its arena and a generation (a
   * handle of a cancelled or earlier share never matches a later one). */
  readonly arena: number;
  /** The pool's token (tells a live pool from a stale handle). */
  readonly token: number;
  /** The pool's name. */
  readonly name: string;
  /** Cells shared by every thread using the pool (a SharedArrayBuffer):
   * allocAsync waiters in one thread are woken by releases in another. */
  readonly wake: Int32Array;
  /** The pool's block sizes (HybridPool's classes; empty for BuddyPool),
   * so that allocAsync waiters there queue by block too. */
  readonly blocks?: readonly number[];
}

/** One contiguous piece of pool memory, as a registrar sees it. */
export interface Region {
  /** Start address (page-aligned). */
  pointer: Deno.PointerObject;
  /** Length in bytes. */
  length: number;
  /** Registered index of its first GiB, or -1 when not registered. */
  bufIndex: number;
}

export type { AllocAsyncOptions };

/**
 * What every pool offers.  Code written against BufPool works unchanged
 * with BuddyPool and HybridPool (and a pool attached in a Worker).
 */
export interface BufPool extends Disposable {
  /** The pool's name, used in messages and leak reports. */
  readonly name: string;
  /** True after close(). */
  readonly closed: boolean;
  /**
   * A buffer of at least `size` bytes.  Throws PoolExhaustedError when no
   * block fits (unless the pool falls back), RangeError for a size that is
   * not an integer from 1 to what the pool can serve.
   */
  alloc(size: number): FixedBuf;
  /** Like alloc, but returns null instead of throwing when exhausted. */
  tryAlloc(size: number): FixedBuf | null;
  /** `count` buffers of at least `size` bytes, all or none (one native call
   * for all of them where the pool can). Throws like alloc. */
  allocMany(size: number, count: number): FixedBuf[];
  /** A scope whose buffers are all released when it is disposed: one
   * `using` for many buffers. */
  scope(): BufScope;
  /**
   * A buffer of at least `size` bytes, as soon as one can be served: at
   * once when possible, else when buffers are released (first come, first
   * served among waiters of a size). Rejects with the signal's reason on
   * abort, and with PoolClosedError when the pool closes.
   */
  allocAsync(size: number, options?: AllocAsyncOptions): Promise<FixedBuf>;
  /** Current counters. */
  stats(): PoolStats;
  /** The arenas, for registration or other native code: memory only (a
   * share's arena its Worker has not mapped yet is left out). */
  regions(): Region[];
  /** Verifies every invariant of the pool; throws PoolCorruptedError. */
  check(): void;
  /** Frees the arenas; throws PoolBusyError while buffers are live. */
  close(): void;
}

/** Internal construction data for NativePool. */
export interface NativePoolInit {
  ptr: Deno.PointerObject;
  name: string;
  registrars: Ring[];
  maxArenas: number;
  checked: boolean;
  onLeak: ((leak: LeakReport) => void) | undefined;
  /** Requests above this many bytes are refused with a RangeError instead
   * of being served by the global allocator (HybridPool's onOversize:
   * "error"); default: no limit here. */
  maxSize?: number;
}

/** Internal: takes a buffer handed over from another thread (attachBuf). */
export const kAdopt: unique symbol = Symbol("veloq.adopt");

/** What the leak registry keeps for each live buffer (never the buffer). */
interface LeakHeld {
  handle: number;
  capacity: number;
  bufIndex: number;
  /** Checked mode: the buffer's own ArrayBuffer once `bytes` was used, so a
   * view the user kept can be cut off when the leak is reclaimed. */
  memory: ArrayBuffer | null;
}

/**
 * The binding of one C pool (internal base of BuddyPool and HybridPool).
 * It is also the FixedBufs' owner, so a FixedBuf carries no pool type.
 */
export abstract class NativePool implements BufPool {
  /** The pool's name, used in messages. */
  readonly name: string;
  /** The (first) ring this pool's arenas are registered with, or null. */
  readonly registrar: Ring | null;
  /** Every ring this pool's arenas are registered with, same index in each. */
  readonly registrars: readonly Ring[];
  /** Checked mode (see {@linkcode CommonPoolOptions.checked}). */
  readonly checked: boolean;
  #leaks: FinalizationRegistry<LeakHeld> | null = null;
  /** Checked mode: the leak record of each live tracked buffer, by handle. */
  #held: Map<number, LeakHeld> | null = null;
  #onLeak: ((leak: LeakReport) => void) | undefined;
  #sym: VeloqLib["symbols"];
  #ptr: Deno.PointerObject | null;
  #out: Uint32Array;
  #outIndex: Int32Array;
  /** One ArrayBuffer and base address per arena, by arena number; rebuilt
   * when the C side's arena epoch moves (growth, returned arenas). */
  #arenas: (ArrayBuffer | null)[] = [];
  #arenaBases: (Deno.PointerObject | null)[] = [];
  #epoch = -1;
  #many = new Int32Array(96);
  #address: bigint;
  #token: number;
  #stats = new Float64Array(Stat.LEN);
  #waiters: Waiters = new Waiters(
    (size) => this.#waitAlloc(size),
    (size) => this.#blockOf(size),
  );
  /** Failed C allocs made for waiters (not counted as failedAllocs). */
  #waitFails = 0;
  #failedGrowths = 0;
  /** tryAlloc calls refused because growth was refused (C counts them not). */
  #refusedTries = 0;
  /** Requests above this are refused (onOversize: "error"). */
  #maxSize: number;
  /** Block sizes of the size classes (HybridPool), ascending; empty: powers
   * of two pages (BuddyPool). */
  #classSizes: number[] = [];
  /** The owner of buffers adopted with attachBuf (released synchronously,
   * so a second release of one block is a DoubleFreeError at once). */
  #adoptedOwner: BufOwner | null = null;
  /** Cross-thread wake-ups, from the first share() on (null before: no
   * other thread can hold or wait for this pool's memory). */
  #wake: CrossWake | null = null;
  /** A flush is queued for the end of this task (releases of memory other
   * threads own: they must reach them promptly). */
  #taskFlush = false;
  /** The hot FFI functions, held directly (no lookup on the symbols object). */
  #allocFn: VeloqLib["symbols"]["vb_pool_alloc"];

  /** @ignore */
  protected constructor(init: NativePoolInit) {
    this.#sym = lib().symbols;
    this.#allocFn = this.#sym.vb_pool_alloc;
    this.#ptr = init.ptr;
    this.name = init.name;
    const outBuf = Deno.UnsafePointerView.getArrayBuffer(
      this.#sym.vb_pool_out(init.ptr)!,
      Out.LEN * 4,
    );
    this.#out = new Uint32Array(outBuf);
    this.#outIndex = new Int32Array(outBuf);
    this.#address = BigInt(Deno.UnsafePointer.value(init.ptr));
    this.#token = this.#sym.vb_pool_token(init.ptr);
    addOwner(this.#address, this);
    this.#refreshArenas();
    this.checked = init.checked;
    this.#onLeak = init.onLeak;
    this.#maxSize = init.maxSize ?? 0xffffffff;
    if (init.checked) {
      this.#leaks = new FinalizationRegistry((held) => this.#leaked(held));
      this.#held = new Map();
    }
    this.#sym.vb_pool_stats(init.ptr, this.#stats);
    const c = new Float64Array(3);
    for (let i = 0; i < this.#stats[Stat.CLASSES]; i++) {
      this.#sym.vb_pool_class_stats(init.ptr, i, c);
      this.#classSizes.push(c[0]);
    }
    this.registrars = Object.freeze([...init.registrars]);
    this.registrar = init.registrars[0] ?? null;
    const size = Number(this.#sym.vb_pool_region_size(init.ptr, 0));
    if (init.maxArenas > 1) {
      const rc = this.#sym.vb_pool_set_max_arenas(init.ptr, init.maxArenas);
      if (rc !== 0) {
        this.#sym.vb_pool_destroy(init.ptr);
        this.#ptr = null;
        removeOwner(this.#address, this);
        throw poolError(rc, this);
      }
    }
    if (init.registrars.length !== 0) {
      try {
        registerPool(init.ptr, init.registrars, this.name, size);
      } catch (e) {
        this.#sym.vb_pool_destroy(init.ptr);
        this.#ptr = null;
        removeOwner(this.#address, this);
        throw e;
      }
    }
    // Destroyed when this thread ends with the pool open (a Worker
    // terminated: csrc/thread_exit.c). Out of memory for that: it leaks then.
    this.#sym.vb_thread_track_pool(init.ptr);
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#ptr === null;
  }

  /** A buffer of at least `size` bytes (see {@linkcode BufPool.alloc}). */
  alloc(size: number): FixedBuf {
    const ptr = this.#ptr;
    if (ptr === null) throw this.#closedError();
    if ((size >>> 0) !== size || size === 0 || size > this.#maxSize) throw this.#sizeError(size);
    const h = this.#allocFn(ptr, size);
    if (h < 0) throw this.#allocError(h, size);
    return this.#wrap(h);
  }

  /** Like alloc, but null when the pool is exhausted. */
  tryAlloc(size: number): FixedBuf | null {
    const ptr = this.#ptr;
    if (ptr === null) throw this.#closedError();
    if ((size >>> 0) !== size || size === 0 || size > this.#maxSize) throw this.#sizeError(size);
    const h = this.#allocFn(ptr, size);
    if (h < 0) {
      if (h === Err.ENOMEM) return null;
      // Full, and growth refused (memlock, table slots): exhausted for now.
      if (this.#growthRefused(h, size)) {
        this.#refusedTries++;
        return null;
      }
      throw this.#allocError(h, size);
    }
    return this.#wrap(h);
  }

  /** The FixedBuf for a handle the C pool just handed out (its capacity
   * and index are in the out array). */
  #wrap(h: number): FixedBuf {
    const buf = new FixedBuf(
      kCreate,
      this,
      h,
      this.#out[Out.CAPACITY],
      this.#outIndex[Out.BUF_INDEX],
    );
    if (this.#leaks !== null) this.#track(buf, h);
    return buf;
  }

  /** Checked mode: watches a new buffer for release without a release(). */
  #track(buf: FixedBuf, handle: number): void {
    const held = { handle, capacity: buf.capacity, bufIndex: buf.bufIndex, memory: null };
    this.#leaks!.register(buf, held, buf);
    this.#held!.set(handle, held);
  }

  /** Checked mode: a FixedBuf was collected without release(): say so, and
   * give its memory back. A `bytes` view may outlive the FixedBuf: it is
   * detached first, so it cannot alias the block's next owner. */
  #leaked(held: LeakHeld): void {
    const report = { pool: this.name, capacity: held.capacity, bufIndex: held.bufIndex };
    if (this.#held!.get(held.handle) === held) this.#held!.delete(held.handle);
    held.memory?.transfer(0);
    held.memory = null;
    try {
      if (this.#ptr !== null) this[kFree](held.handle);
    } catch (e) {
      reportError(e); // a finalizer must not throw; the error still surfaces
    }
    if (this.#onLeak) this.#onLeak(report);
    else {
      console.warn(
        `veloq buffer: a FixedBuf of ${held.capacity} bytes from pool "${this.name}" was garbage-collected without release(); its memory went back to the pool. Release buffers with \`using\` or release().`,
      );
    }
  }

  /** @ignore Internal (BufOwner, checked mode): the buffer was released
   * (or transferred): no leak to report, no view to cut off here. */
  [kForget](buf: FixedBuf, handle: number): void {
    this.#leaks?.unregister(buf);
    this.#held?.delete(handle);
  }

  /** `count` buffers in one native call, all or none (see {@linkcode BufPool.allocMany}). */
  allocMany(size: number, count: number): FixedBuf[] {
    const ptr = this.#live();
    if ((size >>> 0) !== size || size === 0 || size > this.#maxSize) throw this.#sizeError(size);
    if (!Number.isInteger(count) || count < 0 || count > 0xffff) {
      throw new RangeError(`count must be an integer from 0 to 65535, got ${count}`);
    }
    let out = this.#many;
    if (out.length < 3 * count) out = this.#many = new Int32Array(3 * count);
    const rc = this.#sym.vb_pool_alloc_many(ptr, size, count, out);
    if (rc < 0) throw this.#allocError(rc, size);
    const bufs = new Array<FixedBuf>(count);
    for (let i = 0; i < count; i++) {
      // (handle, bufIndex, capacity) per buffer: capacities may differ.
      const buf = new FixedBuf(kCreate, this, out[3 * i], out[3 * i + 2], out[3 * i + 1]);
      if (this.#leaks !== null) this.#track(buf, out[3 * i]);
      bufs[i] = buf;
    }
    return bufs;
  }

  /** A scope releasing all its buffers at once (see {@linkcode BufScope}). */
  scope(): BufScope {
    this.#live();
    return new BufScope(this);
  }

  /** A buffer as soon as one can be served (see {@linkcode BufPool.allocAsync}). */
  allocAsync(size: number, options?: AllocAsyncOptions): Promise<FixedBuf> {
    if (this.#ptr === null) return Promise.reject(this.#closedError());
    const p = this.#waiters.alloc(size, options);
    if (this.#wake !== null && this.#waiters.length !== 0) this.#wake.watch();
    return p;
  }

  /**
   * How this pool's memory is held in `ring`: "pinned" (registered there),
   * "cloned" (shares another ring's registration: pinned and charged to
   * RLIMIT_MEMLOCK once), or null when not registered there (any more).
   */
  registrationIn(ring: Ring): "pinned" | "cloned" | null {
    const ptr = this.#live();
    if (ring.closed || !this.registrars.includes(ring)) return null;
    const mode = this.#sym.vb_pool_reg_mode(ptr, ring[kRingPtr]());
    return mode & 1 ? "pinned" : mode & 2 ? "cloned" : null;
  }

  /** Number of allocAsync calls waiting for memory. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * @ignore Internal (BufOwner): returns a buffer to the C pool.  The handle
   * goes on the pool's deferred-free queue (no FFI call); the C side frees
   * it at the next alloc, or here when the queue is full.
   */
  [kFree](handle: number): void {
    // Checked mode frees (and poisons) at once, synchronously, so that a
    // refused release is a DoubleFreeError here (see #freeNow).
    if (this.checked) return this.#freeNow(handle);
    const out = this.#out;
    const n = out[Out.QUEUED];
    out[Out.QUEUE + n] = handle;
    out[Out.QUEUED] = n + 1;
    if (n + 1 === Out.QUEUE_CAP) this.#sym.vb_pool_flush(this.#ptr!);
    // Shared pool: a buffer of an arena other than the first may be a
    // Worker's (only arena 0 is never shared): hand it over this task.
    if (this.#wake !== null && handle >>> HANDLE_PAGE_BITS !== 0) this.#releasedAway();
    this.#waiters.wake();
  }

  /** A release other threads may wait for: flush and tell them at the end
   * of this task (one flush per task, however many releases). */
  #releasedAway(): void {
    if (this.#taskFlush) return;
    this.#taskFlush = true;
    queueMicrotask(this.#endOfTask);
  }

  #endOfTask = (): void => {
    this.#taskFlush = false;
    if (this.#ptr === null) return;
    this.#sym.vb_pool_flush(this.#ptr);
    this.#wake?.notify();
  };

  /** The error for a size alloc refuses before asking the C pool. */
  #sizeError(size: number): Error {
    if ((size >>> 0) !== size || size === 0) return sizeError(size);
    return new RangeError(
      `pool "${this.name}" serves at most ${this.#maxSize} bytes (its largest size class) and was created with onOversize: "error"; got ${size}`,
    );
  }

  /** allocAsync's attempt: null while the pool cannot serve `size` (full,
   * or full and growth refused: waiting for releases is the answer then). */
  #waitAlloc(size: number): FixedBuf | null {
    const ptr = this.#live();
    if ((size >>> 0) !== size || size === 0 || size > this.#maxSize) throw this.#sizeError(size);
    const h = this.#allocFn(ptr, size);
    if (h >= 0) return this.#wrap(h);
    if (h === Err.ENOMEM) {
      this.#waitFails++;
      return null;
    }
    if (this.#growthRefused(h, size)) return null;
    throw this.#allocError(h, size);
  }

  /** True (and counted, warned once) when `code` is a growth the kernel or
   * the ring's table refused: the pool is full for now. */
  #growthRefused(code: number, size: number): boolean {
    if (code !== Err.EMEMLOCK && code !== Err.EKMEMLOCK && code !== Err.ENOSLOTS) return false;
    if (this.#failedGrowths++ === 0) {
      console.warn(
        `veloq buffer: ${
          this.#allocError(code, size).message
        } tryAlloc returns null and allocAsync waits for releases instead (counted in stats().failedGrowths; this warning is shown once per pool).`,
      );
    }
    return true;
  }

  /** The block a request of `size` bytes gets (see waiters.ts blockOf). */
  #blockOf(size: number): number {
    return blockOf(this.#classSizes, size);
  }

  /** @ignore Internal (BufOwner): whether the registered indexes buffers
   * were handed out with still hold (some ring of the pool is open). */
  [kIndexLive](): boolean {
    const rings = this.registrars;
    for (let i = 0; i < rings.length; i++) if (!rings[i].closed) return true;
    return false;
  }

  /** @ignore Internal (attachBuf in the creating thread): a FixedBuf for a
   * buffer handed back from another thread. Its release is synchronous, so
   * a block released twice is a DoubleFreeError at the second release. */
  [kAdopt](t: TransferredBuf): FixedBuf {
    this.#live();
    const owner = this.#adoptedOwner ??= adoptedOwner(this, (h) => this.#freeNow(h));
    const buf = new FixedBuf(kCreate, owner, t.handle, t.capacity, t.bufIndex);
    // Checked mode watches it for a release that never comes, like its own.
    if (this.#leaks !== null) this.#track(buf, t.handle);
    return buf;
  }

  /** Frees one handle now (not through the deferred queue), throwing what
   * the C pool reports: DoubleFreeError for a block that is free already. */
  #freeNow(handle: number): void {
    const ptr = this.#live();
    // Earlier queued releases first, so the C pool's state is current
    // (checked mode never queues: nothing to flush there).
    if (this.#out[Out.QUEUED] !== 0) this.#sym.vb_pool_flush(ptr);
    const rc = this.#sym.vb_pool_free(ptr, handle);
    if (rc === Err.EDOUBLEFREE) {
      throw new DoubleFreeError(
        `pool "${this.name}": this buffer was released already (two FixedBufs over one block): each block is released once`,
        { code: rc },
      );
    }
    if (rc < 0) throw poolError(rc, this);
    if (this.#wake !== null) this.#releasedAway();
    this.#waiters.wake();
  }

  /** The error for a failed alloc: growth can fail to register. */
  #allocError(code: number, size: number): Error {
    if (code === Err.EMEMLOCK || code === Err.EKMEMLOCK || code === Err.ENOSLOTS) {
      const bytes = Number(this.#sym.vb_pool_region_size(this.#ptr!, 0));
      return registrationError(code, this.#ptr!, this.registrars, this.name, bytes, "grow");
    }
    return poolError(code, this, size);
  }

  /** Re-reads every arena's address after the C side mapped or returned
   * one.  Called only when the epoch moved: never on the hot path. */
  #refreshArenas(): void {
    const ptr = this.#ptr!;
    this.#epoch = this.#out[Out.ARENA_EPOCH];
    const n = this.#sym.vb_pool_region_count(ptr);
    for (let i = 0; i < n; i++) {
      const base = this.#sym.vb_pool_region_base(ptr, i);
      if (
        base !== null && this.#arenaBases[i] !== null &&
        Deno.UnsafePointer.equals(base, this.#arenaBases[i] ?? null)
      ) continue;
      const size = Number(this.#sym.vb_pool_region_size(ptr, i));
      this.#arenaBases[i] = base;
      this.#arenas[i] = base === null ? null : Deno.UnsafePointerView.getArrayBuffer(base, size);
    }
  }

  /** The ArrayBuffer over arena `i`, current. */
  #arenaBuffer(i: number): ArrayBuffer {
    if (this.#out[Out.ARENA_EPOCH] !== this.#epoch) this.#refreshArenas();
    return this.#arenas[i]!;
  }

  /** @ignore Internal (BufOwner): a view over one buffer. */
  [kView](handle: number, capacity: number): Uint8Array {
    const arena = handle >>> HANDLE_PAGE_BITS;
    if (this.checked) {
      // An ArrayBuffer of its own, so that release() (or the leak detector)
      // can detach it.
      const memory = Deno.UnsafePointerView.getArrayBuffer(this[kPointer](handle), capacity);
      const held = this.#held!.get(handle);
      if (held) held.memory = memory;
      return new Uint8Array(memory);
    }
    if (arena !== HANDLE_FALLBACK_ARENA) {
      return new Uint8Array(
        this.#arenaBuffer(arena),
        (handle & HANDLE_PAGE_MASK) * PAGE_SIZE,
        capacity,
      );
    }
    const p = this.#sym.vb_pool_ptr(this.#ptr!, handle)!;
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, capacity));
  }

  /** @ignore Internal (BufOwner): a buffer's address. */
  [kPointer](handle: number): Deno.PointerObject {
    const arena = handle >>> HANDLE_PAGE_BITS;
    if (arena !== HANDLE_FALLBACK_ARENA) {
      this.#arenaBuffer(arena);
      return Deno.UnsafePointer.offset(
        this.#arenaBases[arena]!,
        (handle & HANDLE_PAGE_MASK) * PAGE_SIZE,
      )!;
    }
    return this.#sym.vb_pool_ptr(this.#ptr!, handle)!;
  }

  /** Current counters. */
  stats(): PoolStats {
    const ptr = this.#live();
    const s = this.#stats;
    this.#sym.vb_pool_stats(ptr, s);
    const classes: ClassStats[] = [];
    const c = new Float64Array(3);
    for (let i = 0; i < s[Stat.CLASSES]; i++) {
      this.#sym.vb_pool_class_stats(ptr, i, c);
      classes.push({ size: c[0], total: c[1], free: c[2] });
    }
    return {
      liveBuffers: s[Stat.LIVE_BUFFERS],
      bytesInUse: s[Stat.BYTES_IN_USE],
      capacityBytes: s[Stat.CAPACITY_BYTES],
      freeBytes: s[Stat.FREE_BYTES],
      cachedBuffers: s[Stat.CACHED_BUFFERS],
      largestFree: s[Stat.LARGEST_FREE],
      fallbackBuffers: s[Stat.FALLBACK_BUFFERS],
      fallbackBytes: s[Stat.FALLBACK_BYTES],
      allocs: s[Stat.ALLOCS],
      frees: s[Stat.FREES],
      failedAllocs: s[Stat.FAILED_ALLOCS] - this.#waitFails + this.#refusedTries,
      waits: this.#waiters.waits,
      failedGrowths: this.#failedGrowths,
      arenas: s[Stat.ARENAS],
      maxArenas: s[Stat.MAX_ARENAS],
      grows: s[Stat.GROWS],
      hugePageArenas: s[Stat.HUGE_ARENAS],
      thpArenas: s[Stat.THP_ARENAS],
      attachedViews: s[Stat.ATTACHED],
      remoteErrors: s[Stat.REMOTE_ERRORS],
      classes,
    };
  }

  /** The arenas of this pool. */
  regions(): Region[] {
    const ptr = this.#live();
    const n = this.#sym.vb_pool_region_count(ptr);
    const out: Region[] = [];
    for (let i = 0; i < n; i++) {
      // Left out: an extra arena that was returned, and a share's arena
      // its Worker has not mapped yet (address space: touching it faults).
      if (this.#sym.vb_pool_region_mapped(ptr, i) === 0) continue;
      const pointer = this.#sym.vb_pool_region_base(ptr, i);
      if (pointer === null) continue;
      out.push({
        pointer,
        length: Number(this.#sym.vb_pool_region_size(ptr, i)),
        bufIndex: this.#sym.vb_pool_region_reg_index(ptr, i),
      });
    }
    return out;
  }

  /** Runs the C invariant checker over the whole pool. */
  check(): void {
    const ptr = this.#live();
    const rc = this.#sym.vb_pool_check(ptr);
    if (rc !== 0) throw poolError(rc, this, undefined, cString(this.#sym.vb_pool_last_error(ptr)));
  }

  /** Frees the pool's memory.  Throws PoolBusyError while buffers are live;
   * a second call does nothing. */
  close(): void {
    const ptr = this.#ptr;
    if (ptr === null) return;
    const { liveBuffers: live, attachedViews } = this.stats();
    if (attachedViews > 0) {
      throw new PoolBusyError(
        `pool "${this.name}" is attached in ${attachedViews} other thread(s): close the attached pools there (or end those Workers' use of it) before close()`,
        live,
      );
    }
    if (live > 0) {
      throw new PoolBusyError(
        `pool "${this.name}" still has ${live} live buffer(s): release them before close() (a buffer released while ring I/O uses it stays live until that I/O settles: await it, or close the ring)`,
        live,
      );
    }
    const rc = this.#sym.vb_pool_destroy(ptr);
    if (rc === Err.EATTACHED) {
      throw new PoolBusyError(`pool "${this.name}" was attached in another thread meanwhile`, 0);
    }
    if (rc !== 0) throw poolError(rc, this);
    this.#sym.vb_thread_untrack_pool(ptr); // (compares the address only)
    this.#ptr = null;
    removeOwner(this.#address, this);
    // The pool is gone: nobody waits for it any more (a refused close
    // above leaves the waiters waiting).
    this.#wake?.close();
    this.#waiters.rejectAll((size) =>
      new PoolClosedError(`pool "${this.name}" was closed while waiting for ${size} bytes`)
    );
  }

  /**
   * A handle for one Worker to use this pool (`attachPool(handle)` there):
   * plain data, structured-cloneable. Each call reserves one more arena
   * for that Worker, which allocates from it without locks; any thread may
   * release any buffer. The reservation maps and pins nothing (address
   * space, and registered-table indexes for a registered pool): the
   * Worker's first allocation maps the arena and registers it. Call it once
   * per Worker. The pool cannot close while a Worker has it attached.
   *
   * ```ts
   * import { BuddyPool } from "@veloq/buffer";
   * using pool = BuddyPool.create();
   * const handle = pool.share(); // new Worker(...).postMessage(handle)
   * ```
   */
  share(): SharedPool {
    const ptr = this.#live();
    // (A closed ring registers nothing any more: the pool works unregistered.)
    const single = this.registrars.find((r) => r.singleIssuer && !r.closed);
    if (single !== undefined) {
      // The Worker registers its arena with these rings from its own
      // thread, which a SINGLE_ISSUER ring's kernel refuses (EEXIST).
      throw new TypeError(
        `pool "${this.name}" is registered with a ring made with singleIssuer: true, whose kernel refuses registrations from other threads, so it cannot be shared with a Worker`,
      );
    }
    const out = new Uint32Array(2);
    const rc = this.#sym.vb_pool_share(ptr, out);
    if (rc !== 0) throw this.#allocError(rc, 0);
    if (this.#wake === null) {
      this.#wake = new CrossWake(newWakeCells(), this.#waiters);
      if (this.#waiters.length !== 0) this.#wake.watch();
    }
    return {
      kind: "veloq.pool",
      pool: this.#address,
      arena: out[0],
      token: out[1],
      name: this.name,
      wake: this.#wake.cells,
      blocks: this.#classSizes,
    };
  }

  /**
   * Cancels a {@linkcode share} that no Worker attached (a Worker that never
   * started, or was given up on): its arena is this thread's again (dropped
   * when it was never mapped; else unmapped with `growth.releaseEmpty`, or
   * kept for the next `share()`), and the
   * handle is stale from now on, also after a later `share()` reuses the
   * arena. Returns true when it cancelled the reservation, false when there
   * was none to cancel: a Worker attached it (the arena comes back when that
   * Worker closes its pool or ends), or it was cancelled already. Throws a
   * TypeError for a handle that is not one of this pool's shares.
   */
  unshare(handle: SharedPool): boolean {
    const ptr = this.#live();
    if (
      handle?.kind !== "veloq.pool" || handle.pool !== this.#address ||
      handle.token !== this.#token || !Number.isInteger(handle.arena) ||
      handle.arena < 0 || handle.arena > 0xffffffff
    ) {
      throw new TypeError(`unshare needs a handle returned by share() of pool "${this.name}"`);
    }
    const rc = this.#sym.vb_pool_unshare(ptr, handle.arena);
    if (rc === 0) return true;
    if (rc === Err.EBUSY || rc === Err.EINVAL) return false;
    throw this.#allocError(rc, 0);
  }

  /** @ignore Internal (BufOwner): a buffer left this thread (nothing to
   * count: the C pool knows its live buffers). */
  [kGone](_handle: number): void {}

  /** @ignore Internal (BufOwner): the C pool's address and token. */
  [kIdentity](): { pool: bigint; token: number } {
    return { pool: this.#address, token: this.#token };
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }

  #live(): Deno.PointerObject {
    if (this.#ptr === null) throw this.#closedError();
    return this.#ptr;
  }

  #closedError(): PoolClosedError {
    return new PoolClosedError(`pool "${this.name}" is closed`);
  }
}

/** The owner of adopted buffers: the pool's, with a synchronous release. */
function adoptedOwner(pool: NativePool, free: (handle: number) => void): BufOwner {
  return {
    name: pool.name,
    registrars: pool.registrars,
    checked: pool.checked,
    [kFree]: free,
    [kView]: (h, c) => pool[kView](h, c),
    [kPointer]: (h) => pool[kPointer](h),
    [kIndexLive]: () => pool[kIndexLive](),
    [kForget]: (b, h) => pool[kForget](b, h),
    [kIdentity]: () => pool[kIdentity](),
    [kGone]: (h) => pool[kGone](h),
  };
}

/** Reads the pool pointer a create function stored in an out cell. */
export function poolPointer(cell: BigUint64Array): Deno.PointerObject {
  return Deno.UnsafePointer.create(cell[0])!;
}

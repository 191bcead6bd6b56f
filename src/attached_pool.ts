/**
 * AttachedPool: a pool created in another thread, used from this one (a
 * Deno Worker).  It allocates from the arena `share()` reserved for it,
 * with no lock; it may release any buffer of the pool (buffers of other
 * threads' arenas go back to them through the C core's remote-free lists).
 * No allocator logic here either: the C view decides.
 *
 * @module
 */
import {
  ClassStat,
  Err,
  HANDLE_PAGE_BITS,
  HANDLE_PAGE_MASK,
  Out,
  PAGE_SIZE,
  Stat,
} from "../ffi/constants.ts";
import { sizeError } from "./options.ts";
import { lib } from "../ffi/loader.ts";
import type { VeloqLib } from "../ffi/symbols.ts";
import {
  ArenaMapError,
  DoubleFreeError,
  ForeignBufferError,
  PoolBusyError,
  PoolClosedError,
  PoolExhaustedError,
  VeloqError,
} from "./errors.ts";
import {
  claimTransfer,
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
import { addOwner, ownerOf, removeOwner } from "./owners.ts";
import { registrationError } from "./registration.ts";
import {
  type BufPool,
  kAdopt,
  type NativePool,
  type PoolStats,
  type Region,
  type SharedPool,
} from "./pool.ts";
import type { Ring } from "./ring.ts";
import { type AllocAsyncOptions, blockOf, Waiters } from "./waiters.ts";
import { BufScope } from "./scope.ts";
import { CrossWake, isWakeCells, newWakeCells } from "./cross_wake.ts";

/**
 * A pool shared by another thread, attached in this one with
 * {@linkcode attachPool}. It implements {@linkcode BufPool}: code written
 * against BufPool works with it too. `stats()` describes this thread's
 * part (its arena and the buffers this thread holds); the pool's owner
 * thread sees the whole pool.
 */
export class AttachedPool implements BufPool {
  /** The pool's name. */
  readonly name: string;
  /** Rings are per thread: buffers keep their bufIndex, but an attached
   * pool is registered with no ring of this thread. */
  readonly registrars: readonly Ring[] = [];
  /** Attached pools are never in checked mode. */
  readonly checked = false;
  #sym: VeloqLib["symbols"];
  #view: Deno.PointerObject | null;
  #out: Uint32Array;
  #outIndex: Int32Array;
  #arena: number;
  #base: Deno.PointerObject;
  #memory: ArrayBuffer;
  #size: number;
  #address: bigint;
  #token: number;
  /** Buffers of other arenas handed to this thread: their addresses. */
  #foreign = new Map<number, bigint>();
  /** FixedBufs this thread holds from this pool. */
  #held = 0;
  /** The C record that ties the view to this thread's end (csrc/thread_exit.c):
   * if the thread ends with the view attached, what it held is freed. */
  #rec: Deno.PointerObject;
  /** Its held map: 1 at the first page of each block of this arena held
   * here (buffers of other arenas are marked in C, vb_thread_view_hold). */
  #heldMap: Uint8Array;
  #waiters: Waiters;
  /** alloc/tryAlloc calls refused for lack of space (not allocAsync's). */
  #failedAllocs = 0;
  #stats = new Float64Array(Stat.LEN);
  /** Wake-ups across the threads using the pool. */
  #wake: CrossWake;
  /** A flush is queued for the end of this task: releases of other
   * threads' memory reach them by then. */
  #taskFlush = false;

  /** @ignore Made by {@linkcode attachPool}. */
  constructor(shared: SharedPool, view: Deno.PointerObject) {
    // Waiters queue by the block they get, as in the owner thread.
    const blocks = Array.isArray(shared.blocks) ? [...shared.blocks] : [];
    this.#waiters = new Waiters((size) => this.#attempt(size), (size) => blockOf(blocks, size));
    this.#sym = lib().symbols;
    this.#view = view;
    this.name = shared.name;
    this.#address = shared.pool;
    this.#token = shared.token;
    const out = Deno.UnsafePointerView.getArrayBuffer(this.#sym.vb_view_out(view)!, Out.LEN * 4);
    this.#out = new Uint32Array(out);
    this.#outIndex = new Int32Array(out);
    this.#arena = this.#sym.vb_view_arena(view);
    this.#base = this.#sym.vb_view_base(view)!;
    this.#size = Number(this.#sym.vb_view_size(view));
    this.#memory = Deno.UnsafePointerView.getArrayBuffer(this.#base, this.#size);
    const rec = this.#sym.vb_thread_track_view(view);
    if (rec === null) {
      this.#sym.vb_view_detach(view);
      throw new VeloqError(`attachPool: out of memory`, { code: Err.ENOMEM });
    }
    this.#rec = rec;
    this.#heldMap = new Uint8Array(
      Deno.UnsafePointerView.getArrayBuffer(
        this.#sym.vb_thread_view_held(rec)!,
        Math.floor(this.#size / PAGE_SIZE),
      ),
    );
    // A handle from a share() without cells still works, waking nobody.
    this.#wake = new CrossWake(
      isWakeCells(shared.wake) ? shared.wake : newWakeCells(),
      this.#waiters,
    );
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#view === null;
  }

  /** A buffer of at least `size` bytes from this thread's arena. Throws
   * PoolExhaustedError when it is full (an attached pool does not grow or
   * fall back), RangeError for a bad size. The first allocation maps this
   * thread's arena: ArenaMapError when the kernel refuses the memory,
   * MemlockError when it refuses to pin it for the owner's rings. */
  alloc(size: number): FixedBuf {
    const buf = this.tryAlloc(size);
    if (buf === null) {
      throw new PoolExhaustedError(
        `pool "${this.name}" (attached): this thread's arena of ${this.#size} bytes has no block for ${size} bytes. Release buffers, use tryAlloc() or allocAsync().`,
        { code: Err.ENOMEM },
      );
    }
    return buf;
  }

  /** Like alloc, but null when this thread's arena is full (the errors of
   * a refused first mapping are thrown, as by alloc). */
  tryAlloc(size: number): FixedBuf | null {
    const buf = this.#attempt(size);
    if (buf === null) this.#failedAllocs++;
    return buf;
  }

  /** One allocation from this thread's arena (null when full). */
  #attempt(size: number): FixedBuf | null {
    const view = this.#live();
    if ((size >>> 0) !== size || size === 0) throw sizeError(size);
    const h = this.#sym.vb_view_alloc(view, size);
    if (h < 0) {
      if (h === Err.ENOMEM) return null;
      if (h === Err.ERANGE) {
        throw new RangeError(`pool "${this.name}" (attached) can never serve ${size} bytes`);
      }
      // The first allocation maps this thread's arena and registers it
      // with the owner's rings: the kernel or RLIMIT_MEMLOCK may refuse.
      if (h === Err.EMEMLOCK || h === Err.EKMEMLOCK) {
        throw registrationError(h, null, [], this.name, this.#size, "map");
      }
      // Not "full": nothing of the arena was handed out, so allocAsync
      // must reject rather than wait for releases that cannot come.
      if (h === Err.EMAP) throw this.#mapError();
      throw new VeloqError(`pool "${this.name}" (attached): error ${h}`, { code: h });
    }
    this.#held++;
    this.#heldMap[h & HANDLE_PAGE_MASK] = 1;
    return new FixedBuf(kCreate, this, h, this.#out[Out.CAPACITY], this.#outIndex[Out.BUF_INDEX]);
  }

  /** `count` buffers, all or none. */
  allocMany(size: number, count: number): FixedBuf[] {
    if (!Number.isInteger(count) || count < 0 || count > 0xffff) {
      throw new RangeError(`count must be an integer from 0 to 65535, got ${count}`);
    }
    const bufs: FixedBuf[] = [];
    try {
      for (let i = 0; i < count; i++) bufs.push(this.alloc(size));
    } catch (e) {
      for (const b of bufs) b.release();
      throw e;
    }
    return bufs;
  }

  /** A scope releasing all its buffers at once. */
  scope(): BufScope {
    this.#live();
    return new BufScope(this);
  }

  /** A buffer as soon as this thread's arena can serve one. */
  allocAsync(size: number, options: AllocAsyncOptions = {}): Promise<FixedBuf> {
    if (this.#view === null) return Promise.reject(this.#closedError());
    const p = this.#waiters.alloc(size, options);
    if (this.#waiters.length !== 0) this.#wake.watch();
    return p;
  }

  /**
   * This thread's part of the pool: its arena (blocks of it handed out and
   * not released, wherever they are now; bytes; cached and largest free
   * blocks; allocations and releases), this thread's allocAsync waits and
   * refused allocs; `attachedViews` and `remoteErrors` are the whole pool's.
   * The pool's owner thread sees the whole pool.
   */
  stats(): PoolStats {
    const view = this.#live();
    const s = this.#stats;
    this.#sym.vb_view_stats(view, s);
    const classes = [];
    const c = new Float64Array(ClassStat.LEN);
    for (let i = 0; i < s[Stat.CLASSES]; i++) {
      this.#sym.vb_view_class_stats(view, i, c);
      classes.push({ size: c[ClassStat.SIZE], total: c[ClassStat.TOTAL], free: c[ClassStat.FREE] });
    }
    return {
      liveBuffers: s[Stat.LIVE_BUFFERS],
      bytesInUse: s[Stat.BYTES_IN_USE],
      capacityBytes: s[Stat.CAPACITY_BYTES],
      freeBytes: s[Stat.FREE_BYTES],
      cachedBuffers: s[Stat.CACHED_BUFFERS],
      largestFree: s[Stat.LARGEST_FREE],
      fallbackBuffers: 0,
      fallbackBytes: 0,
      allocs: s[Stat.ALLOCS],
      frees: s[Stat.FREES],
      failedAllocs: this.#failedAllocs,
      waits: this.#waiters.waits,
      failedGrowths: 0,
      arenas: 1,
      maxArenas: 1,
      grows: 0,
      hugePageArenas: s[Stat.HUGE_ARENAS],
      thpArenas: s[Stat.THP_ARENAS],
      attachedViews: s[Stat.ATTACHED],
      remoteErrors: s[Stat.REMOTE_ERRORS],
      classes,
    };
  }

  /** This thread's arena; none before its first allocation maps it. */
  regions(): Region[] {
    const view = this.#live();
    // None before this thread's first allocation maps its arena: until
    // then it is address space, and native code given it would fault.
    if (this.#sym.vb_view_mapped(view) === 0) return [];
    // Read now, not at attach: the owner registers and unregisters the
    // pool (its ring may close) while this view lives.
    return [{ pointer: this.#base, length: this.#size, bufIndex: this.#sym.vb_view_reg(view) }];
  }

  /** Frees what is queued and checks that no release was refused. The
   * whole pool is checked by its owner thread. */
  check(): void {
    const view = this.#live();
    this.#sym.vb_view_flush(view);
    const errors = this.#out[Out.QUEUE_ERRORS];
    if (errors !== 0) {
      throw new VeloqError(
        `pool "${this.name}" (attached): ${errors} releases named no live buffer`,
      );
    }
  }

  /**
   * Detaches this thread: its arena goes back to the pool's owner (buffers
   * this thread handed to others stay valid). Throws PoolBusyError while
   * this thread still holds buffers of the pool. A second call does nothing.
   */
  close(): void {
    const view = this.#view;
    if (view === null) return;
    if (this.#held > 0) {
      throw new PoolBusyError(
        `pool "${this.name}" (attached) still has ${this.#held} buffer(s) held by this thread: release or transfer them before close()`,
        this.#held,
      );
    }
    this.#sym.vb_thread_view_detach(this.#rec);
    this.#view = null;
    this.#wake.close();
    removeOwner(this.#address, this);
    this.#waiters.rejectAll((size) =>
      new PoolClosedError(
        `pool "${this.name}" was closed in this thread while waiting for ${size} bytes`,
      )
    );
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @ignore Internal: takes a buffer handed over from another thread. */
  adopt(t: TransferredBuf): FixedBuf {
    this.#live();
    // A block held here already (a second FixedBuf over it, from a re-made
    // hand-over) is marked and counted once: the first release of the two
    // frees it, the second is a DoubleFreeError (see kFree).
    if (!this.#holds(t.handle)) {
      if (t.handle >>> HANDLE_PAGE_BITS !== this.#arena) {
        this.#foreign.set(t.handle, t.address);
        // (Out of memory for the mark: only a thread end would leak it.)
        this.#sym.vb_thread_view_hold(this.#rec, t.handle, 1);
      } else {
        this.#heldMap[t.handle & HANDLE_PAGE_MASK] = 1;
      }
      this.#held++;
    }
    return new FixedBuf(kCreate, this, t.handle, t.capacity, t.bufIndex);
  }

  /** Whether this thread holds the block `handle` names: allocated or
   * attached here, and neither released nor handed away since. Plain JS
   * state of this thread (the held map is read by C only at this thread's
   * end, in this thread), so asking costs no native call. */
  #holds(handle: number): boolean {
    return handle >>> HANDLE_PAGE_BITS === this.#arena
      ? this.#heldMap[handle & HANDLE_PAGE_MASK] === 1
      : this.#foreign.has(handle);
  }

  /** @ignore Internal (BufOwner): queues a release for the C view. A block
   * this thread does not hold (released already through another FixedBuf
   * over it, or handed away) is a DoubleFreeError here, at the release, as
   * in the pool's owner thread, and never reaches the C core. */
  [kFree](handle: number): void {
    // After close() (which needs nothing held) only such a second FixedBuf
    // can still be released; the held map is gone with the view.
    if (this.#view === null || !this.#holds(handle)) throw this.#doubleFree();
    // The thread-end mark goes first: a thread terminated between the two
    // steps then leaks one buffer instead of freeing it twice.
    const own = handle >>> HANDLE_PAGE_BITS === this.#arena;
    if (own) this.#heldMap[handle & HANDLE_PAGE_MASK] = 0;
    else this.#sym.vb_thread_view_hold(this.#rec, handle, 0);
    const out = this.#out;
    const n = out[Out.QUEUED];
    out[Out.QUEUE + n] = handle;
    out[Out.QUEUED] = n + 1;
    if (n + 1 === Out.QUEUE_CAP) this.#sym.vb_view_flush(this.#view!);
    this.#held--;
    // Another thread's memory: it goes back to that thread (and its
    // waiters) by the end of this task, whatever this thread does next.
    if (!own) {
      this.#foreign.delete(handle);
      if (!this.#taskFlush) {
        this.#taskFlush = true;
        queueMicrotask(this.#endOfTask);
      }
    }
    this.#waiters.wake();
  }

  #endOfTask = (): void => {
    this.#taskFlush = false;
    if (this.#view === null) return; // close() flushed
    this.#sym.vb_view_flush(this.#view);
    this.#wake.notify();
  };

  /** @ignore Internal (BufOwner): a view over one buffer. */
  [kView](handle: number, capacity: number): Uint8Array {
    if (handle >>> HANDLE_PAGE_BITS === this.#arena) {
      return new Uint8Array(this.#memory, (handle & HANDLE_PAGE_MASK) * PAGE_SIZE, capacity);
    }
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this[kPointer](handle), capacity));
  }

  /** @ignore Internal (BufOwner): a buffer's address. */
  [kPointer](handle: number): Deno.PointerObject {
    if (handle >>> HANDLE_PAGE_BITS === this.#arena) {
      return Deno.UnsafePointer.offset(this.#base, (handle & HANDLE_PAGE_MASK) * PAGE_SIZE)!;
    }
    const address = this.#foreign.get(handle);
    if (address === undefined) throw new ForeignBufferError(`handle ${handle} is not held here`);
    return Deno.UnsafePointer.create(address)!;
  }

  /** @ignore Internal (BufOwner): a buffer left this thread. */
  [kGone](handle: number): void {
    if (this.#view === null || !this.#holds(handle)) return; // a second FixedBuf's
    this.#held--;
    if (handle >>> HANDLE_PAGE_BITS === this.#arena) this.#heldMap[handle & HANDLE_PAGE_MASK] = 0;
    else if (this.#foreign.delete(handle)) this.#sym.vb_thread_view_hold(this.#rec, handle, 0);
  }

  /** @ignore Internal (BufOwner): whether the registered index of the
   * buffer `handle` names still holds: its arena is registered now (the
   * owner's ring may have closed, or the pool been unregistered,
   * meanwhile). Asked of the buffer's own arena, not this thread's: a
   * buffer handed over from the owner is registered whether or not this
   * thread's lazy arena is mapped yet. */
  [kIndexLive](handle: number): boolean {
    const view = this.#view;
    return view !== null && this.#sym.vb_view_arena_reg(view, handle >>> HANDLE_PAGE_BITS) >= 0;
  }

  /** @ignore Internal (BufOwner): never in checked mode. */
  [kForget](_buf: FixedBuf): void {}

  /** @ignore Internal (BufOwner): the C pool's address and token. */
  [kIdentity](): { pool: bigint; token: number } {
    return { pool: this.#address, token: this.#token };
  }

  #live(): Deno.PointerObject {
    if (this.#view === null) throw this.#closedError();
    return this.#view;
  }

  #mapError(): ArenaMapError {
    return new ArenaMapError(
      `pool "${this.name}" (attached): the kernel refused the ${this.#size} bytes of this thread's arena when its first allocation mapped them (ENOMEM: RLIMIT_DATA, RLIMIT_AS, vm.overcommit_memory or vm.max_map_count). Raise the limit or share a smaller arena; a later allocation tries again.`,
      this.#size,
      Err.EMAP,
    );
  }

  #closedError(): PoolClosedError {
    return new PoolClosedError(`pool "${this.name}" is closed in this thread`);
  }

  /** Kept out of kFree so that the release stays small. */
  #doubleFree(): DoubleFreeError {
    return new DoubleFreeError(
      `pool "${this.name}" (attached): this buffer's block is not held by this thread: it was released already (two FixedBufs over one block) or handed to another thread; each block is released once`,
      { code: Err.EDOUBLEFREE },
    );
  }
}

/**
 * Turns `pool.share()`, posted to this Worker, into a pool this thread can
 * allocate from and release to.
 *
 * ```ts ignore
 * import { attachBuf, attachPool } from "@veloq/buffer";
 * self.onmessage = (e) => {
 *   using pool = attachPool(e.data.pool);
 *   const buf = pool.alloc(4096);
 *   self.postMessage(buf.transfer());
 * };
 * ```
 *
 * Throws PoolClosedError when the pool was closed meanwhile (the handle is
 * stale), VeloqError when the handle was attached already.
 */
export function attachPool(shared: SharedPool): AttachedPool {
  if (shared?.kind !== "veloq.pool" || typeof shared.pool !== "bigint") {
    throw new TypeError("attachPool needs the object returned by pool.share()");
  }
  if (ownerOf(shared.pool)) {
    throw new VeloqError(`pool "${shared.name}" is already usable in this thread`);
  }
  const sym = lib().symbols;
  const cell = new BigUint64Array(1);
  const rc = sym.vb_view_attach(
    Deno.UnsafePointer.create(shared.pool)!,
    shared.arena,
    shared.token,
    cell,
  );
  if (rc === Err.ESTALE) {
    throw new PoolClosedError(`pool "${shared.name}" is closed: this share handle is stale`);
  }
  if (rc === Err.EBUSY) {
    throw new VeloqError(
      `this share handle of pool "${shared.name}" is attached already: call share() once per Worker`,
      { code: rc },
    );
  }
  if (rc !== 0) throw new VeloqError(`attachPool: error ${rc}`, { code: rc });
  const pool = new AttachedPool(shared, Deno.UnsafePointer.create(cell[0])!);
  addOwner(shared.pool, pool);
  return pool;
}

/**
 * Turns `buf.transfer()`, posted from another thread, into a FixedBuf this
 * thread owns (and releases). The pool must be usable in this thread: the
 * thread that created it, or one that attached it with attachPool.
 */
export function attachBuf(t: TransferredBuf): FixedBuf {
  if (t?.kind !== "veloq.buf" || typeof t.pool !== "bigint") {
    throw new TypeError("attachBuf needs the object returned by buf.transfer()");
  }
  const owner = ownerOf(t.pool);
  if (!owner) {
    throw new ForeignBufferError(
      "this buffer's pool is not usable in this thread: attachPool(pool.share()) here first",
    );
  }
  if (owner[kIdentity]().token !== t.token) {
    throw new ForeignBufferError("this buffer belongs to a pool that is closed");
  }
  claimTransfer(t); // once per hand-over, in any thread
  // The creating thread takes a buffer back: it knows every arena.
  return owner instanceof AttachedPool ? owner.adopt(t) : (owner as NativePool)[kAdopt](t);
}

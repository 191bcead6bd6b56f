/**
 * FixedBuf: one buffer of pool memory, handed out by a pool and returned to
 * it by release() or `using`.
 *
 * A FixedBuf never knows which kind of pool made it: it holds an opaque
 * owner (the C side dispatches through the pool's vtable).  Its `bytes` view
 * is made on first access from the one ArrayBuffer the pool keeps over its
 * arena, so an allocation costs no ArrayBuffer and no copy.
 *
 * @module
 */
import { BufferBusyError, BufferReleasedError, ForeignBufferError } from "./errors.ts";

/** What a FixedBuf needs from the pool that made it (internal). */
export interface BufOwner {
  /** Pool name, for messages. */
  readonly name: string;
  /** Returns the buffer to the pool. */
  [kFree](handle: number): void;
  /** A Uint8Array over exactly the buffer's capacity. */
  [kView](handle: number, capacity: number): Uint8Array;
  /** The buffer's address. */
  [kPointer](handle: number): Deno.PointerObject;
  /** The Rings the owner's memory is registered with (same index in each). */
  readonly registrars: readonly object[];
  /** False once every ring the memory was registered with closed: the
   * indexes buffers were handed out with mean nothing any more. `handle`:
   * the buffer's (an attached pool answers for the arena it names, which
   * may be another thread's). */
  [kIndexLive](handle: number): boolean;
  /** Checked mode: views are detached and the leak registry told on release. */
  readonly checked: boolean;
  /** Checked mode: the buffer was released or transferred (not leaked). */
  [kForget](buf: FixedBuf, handle: number): void;
  /** The C pool's address and token, for handing buffers to other threads. */
  [kIdentity](): { pool: bigint; token: number };
  /** The buffer left this thread (transfer()): it is no longer held here. */
  [kGone](handle: number): void;
}

/** A FixedBuf on its way to another thread: plain data, structured-cloneable
 * (postMessage it), turned back into a FixedBuf there by `attachBuf`. */
export interface TransferredBuf {
  /** Marks the object as a veloq buffer hand-over. */
  readonly kind: "veloq.buf";
  /** Address of the C pool. */
  readonly pool: bigint;
  /** The pool's token (tells a live pool from a stale handle). */
  readonly token: number;
  /** The buffer's handle in its pool. */
  readonly handle: number;
  /** Usable bytes. */
  readonly capacity: number;
  /** Registered index, or -1. */
  readonly bufIndex: number;
  /** The buffer's address. */
  readonly address: bigint;
  /** One cell shared by every copy of this hand-over (a SharedArrayBuffer
   * survives postMessage and structuredClone): attachBuf claims it, so the
   * hand-over is attached once, in one thread. */
  readonly claim: Int32Array;
}

/** Takes the hand-over's one claim; throws if it was attached already
 * (in this thread or another). */
export function claimTransfer(t: TransferredBuf): void {
  const claim = t.claim;
  if (
    !(claim instanceof Int32Array) || !(claim.buffer instanceof SharedArrayBuffer) ||
    claim.length !== 1
  ) {
    throw new TypeError("attachBuf needs the object returned by buf.transfer()");
  }
  if (Atomics.compareExchange(claim, 0, 0, 1) !== 0) {
    throw new BufferReleasedError(
      "this buf.transfer() hand-over was attached already (attachBuf takes each one once, in one thread): the buffer belongs to the FixedBuf that attach returned",
    );
  }
}

/** The owner's internal methods, behind symbols so that user code cannot
 * call them on a pool by accident (a pool's public surface is BufPool). */
export const kFree: unique symbol = Symbol("veloq.free");
/** Internal: a Uint8Array over one buffer. */
export const kView: unique symbol = Symbol("veloq.view");
/** Internal: a buffer's address. */
export const kPointer: unique symbol = Symbol("veloq.pointer");
/** Internal: checked mode, the buffer was released (not leaked). */
export const kForget: unique symbol = Symbol("veloq.forget");
/** Internal: the C pool's address and token. */
export const kIdentity: unique symbol = Symbol("veloq.identity");
/** Internal: a buffer left this thread. */
export const kGone: unique symbol = Symbol("veloq.gone");
/** Internal: whether the registered indexes of the owner's buffers still hold. */
export const kIndexLive: unique symbol = Symbol("veloq.indexLive");

/** What a released-buffer error names: an accessor, or the buffer given to I/O. */
function place(what: string): string {
  return what === "I/O" ? "a FixedBuf given to an I/O request was" : `FixedBuf.${what}`;
}

/** Kept out of release() so that release stays small enough to inline. */
function busyError(pool: string, requests: number, what: string): BufferBusyError {
  return new BufferBusyError(
    `buffer of pool "${pool}" is in use by ${requests} I/O request(s): await them before ${what}`,
  );
}

/** Buffers released while I/O used them, and the owner to return each to
 * when its last request settles (kept off the FixedBuf, so that the common
 * buffer carries no extra field). */
const pendingFree = new WeakMap<FixedBuf, BufOwner>();

/** Guards the constructor: only pools make FixedBufs. */
export const kCreate: unique symbol = Symbol("veloq.createFixedBuf");
/** Internal: marks the buffer in use by the kernel (I/O in flight). */
export const kBusy: unique symbol = Symbol("veloq.busy");
/** Internal: the rings the buffer's memory is registered with, for the Ring. */
export const kRegistrar: unique symbol = Symbol("veloq.registrar");
/** Internal: a received buffer's first n bytes were read (conn.read()
 * copied them out): the rest moves to the front and `length` shrinks, so
 * recv() can hand the buffer out with exactly the bytes not yet read. */
export const kConsumed: unique symbol = Symbol("veloq.consumed");
/** Internal: brand check (FixedBuf of this copy of the package). */
const kIsOurs: unique symbol = Symbol("veloq.isOurs");

/**
 * The rings `buf`'s memory is registered with, for a Ring about to do I/O
 * on it. Throws BufferReleasedError once it is released, and a clear error
 * for anything that is not a FixedBuf of this copy of the package (a
 * FixedBuf of another copy, loaded from another URL or version, carries
 * that copy's internal symbols: it cannot be used with this copy's rings).
 */
export function registrarsOf(buf: FixedBuf): readonly object[] {
  if (typeof buf !== "object" || buf === null || !FixedBuf[kIsOurs](buf)) throw notOurs(buf);
  return buf[kRegistrar]();
}

/** The error for a value used where a FixedBuf of this copy is needed. */
function notOurs(x: unknown): Error {
  const name = (x as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  if (name === "FixedBuf") {
    return new ForeignBufferError(
      "this FixedBuf comes from another copy of @veloq/buffer in this program (imported from another URL or version): buffers work only with the rings and pools of the copy that made them. Import the package from one place.",
    );
  }
  return new TypeError(`a FixedBuf from pool.alloc() is needed, got ${describeValue(x)}`);
}

function describeValue(x: unknown): string {
  if (x === null) return "null";
  if (typeof x !== "object") return typeof x;
  return (x as object).constructor?.name ?? "an object";
}

/**
 * A page-aligned buffer from a pool.  Release it exactly once, preferably
 * with `using`:
 *
 * ```ts
 * import { BuddyPool } from "@veloq/buffer";
 * using pool = BuddyPool.create();
 * {
 *   using buf = pool.alloc(16 * 1024);
 *   buf.bytes.fill(7);
 * } // buf goes back to the pool here
 * ```
 *
 * After release, every accessor throws {@linkcode BufferReleasedError}.
 */
export class FixedBuf {
  #owner: BufOwner | null;
  #handle: number;
  #capacity: number;
  #length: number;
  #bufIndex: number;
  #bytes: Uint8Array | null = null;
  #busy = 0;
  #transferred = false;

  /** Made by pools only; user code cannot construct a FixedBuf. */
  constructor(
    token: typeof kCreate,
    owner: BufOwner,
    handle: number,
    capacity: number,
    bufIndex: number,
    length: number = capacity,
  ) {
    if (token !== kCreate) throw new TypeError("FixedBuf is made by pools: use pool.alloc()");
    this.#owner = owner;
    this.#handle = handle;
    this.#capacity = capacity;
    this.#length = length;
    this.#bufIndex = bufIndex;
  }

  /** The buffer's memory: a Uint8Array over exactly `length` bytes (all
   * `capacity` bytes for an allocated buffer, the bytes received for one
   * from `RingConn.recv()`).
   * Keep it no longer than the buffer: in the default mode it is a window
   * on the pool's arena, so a view kept after release() reads and writes
   * the block's next owner's memory, and faults once the arena is unmapped
   * (growth.releaseEmpty, pool closed). Checked mode detaches it instead. */
  get bytes(): Uint8Array {
    const owner = this.#owner;
    if (owner === null) throw this.#released("bytes");
    return this.#bytes ??= owner[kView](this.#handle, this.#length);
  }

  /** @ignore Internal: see kConsumed (never on a buffer user code holds). */
  [kConsumed](n: number): void {
    if (n <= 0) return;
    const bytes = this.bytes;
    bytes.copyWithin(0, n, this.#length);
    this.#length -= n;
    this.#bytes = null; // the next view covers the new length
  }

  /** Bytes of data: `capacity` for an allocated buffer, the bytes received
   * for a buffer from `RingConn.recv()` (whose `bytes` views exactly those). */
  get length(): number {
    if (this.#owner === null) throw this.#released("length");
    return this.#length;
  }

  /** Usable bytes: the request rounded up to the pool's block size. */
  get capacity(): number {
    if (this.#owner === null) throw this.#released("capacity");
    return this.#capacity;
  }

  /** Index of the io_uring registered buffer holding this memory, or -1
   * (not registered, or every ring it was registered with closed). */
  get bufIndex(): number {
    const owner = this.#owner;
    if (owner === null) throw this.#released("bufIndex");
    const i = this.#bufIndex;
    return i >= 0 && !owner[kIndexLive](this.#handle) ? -1 : i;
  }

  /** The buffer's address (4096-aligned), for other native code. */
  get pointer(): Deno.PointerObject {
    const owner = this.#owner;
    if (owner === null) throw this.#released("pointer");
    return owner[kPointer](this.#handle);
  }

  /** True once the buffer went back to its pool. */
  get released(): boolean {
    return this.#owner === null;
  }

  /** Returns the buffer to its pool.  Calling it again does nothing.
   * While ring requests still use the buffer it is released at once (every
   * accessor refuses it from now on) and its memory goes back to the pool
   * when the last of them settles.
   * Throws BufferReleasedError when the buffer was given to another thread
   * with transfer() (that thread releases it). */
  release(): void {
    const owner = this.#owner;
    if (owner === null) {
      if (this.#transferred) throw this.#released("release");
      return;
    }
    this.#owner = null;
    if (owner.checked) {
      // The view has an ArrayBuffer of its own in checked mode: detaching it
      // turns every Uint8Array made from it into a length-0 view.
      (this.#bytes?.buffer as ArrayBuffer | undefined)?.transfer(0);
      owner[kForget](this, this.#handle);
    }
    this.#bytes = null;
    if (this.#busy !== 0) pendingFree.set(this, owner); // freed by the last settle
    else owner[kFree](this.#handle);
  }

  /** Same as release(): makes `using buf = pool.alloc(n)` return the buffer.
   * A buffer given away with transfer() is left alone. */
  [Symbol.dispose](): void {
    if (!this.#transferred) this.release();
  }

  /**
   * Gives the buffer to another thread: returns plain data to postMessage to
   * a Worker that has the pool attached (`attachPool(pool.share())`), where
   * `attachBuf` turns it back into a FixedBuf that thread owns and releases.
   * From now on this object refuses every use, release() included. Throws
   * BufferBusyError while I/O uses the buffer.
   *
   * ```ts
   * import { BuddyPool } from "@veloq/buffer";
   * using pool = BuddyPool.create();
   * const buf = pool.alloc(4096);
   * const handoff = buf.transfer(); // postMessage(handoff) to a worker
   * ```
   */
  transfer(): TransferredBuf {
    const owner = this.#owner;
    if (owner === null) throw this.#released("transfer");
    if (this.#busy !== 0) throw busyError(owner.name, this.#busy, "transfer()");
    const { pool, token } = owner[kIdentity]();
    const address = BigInt(Deno.UnsafePointer.value(owner[kPointer](this.#handle)));
    this.#owner = null;
    this.#transferred = true;
    owner[kGone](this.#handle);
    if (owner.checked) {
      (this.#bytes?.buffer as ArrayBuffer | undefined)?.transfer(0);
      owner[kForget](this, this.#handle);
    }
    this.#bytes = null;
    const index = this.#bufIndex;
    return {
      kind: "veloq.buf",
      pool,
      token,
      handle: this.#handle,
      capacity: this.#capacity,
      bufIndex: index >= 0 && !owner[kIndexLive](this.#handle) ? -1 : index,
      address,
      claim: new Int32Array(new SharedArrayBuffer(4)),
    };
  }

  /** @ignore Internal: counts I/O requests using the buffer (+1 when one
   * is made, refused once released; -1 when it settles, which gives the
   * memory back if the buffer was released meanwhile). */
  [kBusy](delta: number): void {
    if (delta > 0) {
      if (this.#owner === null) throw this.#released("I/O");
      this.#busy += delta;
      return;
    }
    if ((this.#busy += delta) !== 0 || this.#owner !== null) return;
    const owner = pendingFree.get(this);
    if (owner === undefined) return;
    pendingFree.delete(this);
    try {
      owner[kFree](this.#handle);
    } catch (e) {
      // A release refused late (DoubleFreeError, checked mode or a buffer
      // handed back) must not break the ring's completion path, nor pass
      // silently: it is reported as an uncaught error.
      reportError(e);
    }
  }

  /** @ignore Internal: the rings this buffer's pool is registered with;
   * throws once released. */
  [kRegistrar](): readonly object[] {
    const owner = this.#owner;
    if (owner === null) throw this.#released("I/O");
    return owner.registrars;
  }

  /** @ignore Internal: true for FixedBufs of this copy of the package. */
  static [kIsOurs](x: unknown): x is FixedBuf {
    return #owner in (x as object);
  }

  #released(what: string): BufferReleasedError {
    return new BufferReleasedError(
      this.#transferred
        ? `${place(what)} used after transfer(): the buffer belongs to the thread it was given to`
        : `${place(what)} used after release: the memory belongs to the pool again`,
    );
  }
}

/**
 * BufferGroup: `count` blocks of `size` bytes from a pool, handed to the
 * kernel as a provided buffer ring (IORING_REGISTER_PBUF_RING): a recv
 * with buffer selection takes a free block when data arrives, and the CQE
 * says which. The block goes to JavaScript as a FixedBuf whose `length` is
 * the bytes received; releasing it returns the block to the ring (batched:
 * one native call per microtask, not per buffer).
 *
 * Running dry: a multishot recv that finds the ring empty ends with
 * ENOBUFS. Such connections wait here and are re-armed when blocks come
 * back (half the group, as liburing's examples/proxy.c does), never on a
 * timer. Back-pressure: a connection holding `perConnection` blocks stops
 * receiving until it releases some, so one slow reader cannot starve the
 * others (TCP flow control holds its peer).
 *
 * Without provided buffer rings (kernels before 5.19) the group is a free
 * list in JavaScript and connections recv into a block single-shot.
 *
 * @module
 */
import { BufferBusyError, VeloqError } from "../errors.ts";
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
  kRegistrar,
  kView,
} from "../fixed_buf.ts";
import type { BufPool } from "../pool.ts";
import { kSettleNow, type Ring } from "../ring.ts";
import { features, knownKeys, netError, retryCancels, ringPtr, sym } from "./host.ts";

/** Options of `ring.provideBuffers(pool, options)`. */
export interface ProvideBuffersOptions {
  /** Bytes per block (the pool must serve this size). */
  size: number;
  /** Number of blocks: a power of two from 1 to 32768. */
  count: number;
  /** Blocks one connection may hold (received and not released) before it
   * stops receiving. Default max(2, count / 4), at most count. Exact: a
   * share smaller than the group uses single-shot receives (a multishot
   * recv cannot be bounded: one burst can take the whole group); a share
   * of the whole group uses a multishot recv, ended by ENOBUFS. */
  perConnection?: number;
}

/** Counters of a buffer group. */
export interface BufferGroupStats {
  /** Blocks in the group. */
  blocks: number;
  /** Bytes per block. */
  size: number;
  /** Blocks the kernel can fill now. */
  inKernel: number;
  /** Blocks holding received data, in JavaScript (queued or handed out). */
  heldByJs: number;
  /** Times a recv found the group empty (ENOBUFS). */
  enobufs: number;
  /** Receives re-armed after blocks came back. */
  rearms: number;
  /** "ring": a provided buffer ring in the kernel; "pool": single-shot
   * recv into the blocks (no provided buffer rings on this kernel). */
  mode: "ring" | "pool";
}

/** What a group needs from a connection receiving into it (internal). */
export interface GroupUser {
  /** Blocks came back: try receiving again. */
  rearm(): void;
  /** One of its blocks was released. */
  credit(): void;
  /** The group closed: cancel what is armed, fail what waits. */
  groupClosed(): void;
}

const bgids = new WeakMap<Ring, number>();

/** Internal symbol: the group's machinery, for RingConn. */
export const kGroup: unique symbol = Symbol("veloq.bufferGroup");

/** A provided buffer ring over pool blocks. Made by `ring.provideBuffers`. */
export class BufferGroup implements Disposable {
  /** Bytes per block. */
  readonly size: number;
  /** Number of blocks. */
  readonly count: number;
  /** The kernel's buffer group id (bgid). */
  readonly groupId: number;
  /** Blocks one connection may hold before it stops receiving. */
  readonly perConnection: number;
  /** "ring" (provided buffer ring) or "pool" (single-shot fallback). */
  readonly mode: "ring" | "pool";
  readonly #ring: Ring;
  readonly #pool: BufPool;
  readonly #ownsPool: boolean;
  readonly #blocks: FixedBuf[];
  readonly #views: Uint8Array[];
  readonly #user: (GroupUser | null)[];
  readonly #owner: BufOwner;
  #native: Deno.PointerObject | null = null;
  #free: number[] = []; // pool mode: blocks not in use
  #batch: Uint32Array;
  #batched = 0;
  #flushQueued = false;
  #inKernel: number;
  #held = 0;
  #enobufs = 0;
  #rearms = 0;
  #starved = new Set<GroupUser>();
  #users = new Set<GroupUser>();
  readonly #checked: boolean;
  #armed = 0;
  #closed = false;
  #destroyed = false;

  /** @ignore Made by `ring.provideBuffers`. */
  constructor(ring: Ring, pool: BufPool, options: ProvideBuffersOptions, ownsPool = false) {
    knownKeys("ring.provideBuffers", options, ["size", "count", "perConnection"]);
    const { size, count } = options ?? ({} as ProvideBuffersOptions);
    if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) {
      throw new RangeError(`size must be a positive integer, got ${size}`);
    }
    if (!Number.isInteger(count) || count < 1 || count > 32768 || (count & (count - 1)) !== 0) {
      throw new RangeError(`count must be a power of two from 1 to 32768, got ${count}`);
    }
    const per = options.perConnection ?? Math.min(count, Math.max(2, count >> 2));
    if (!Number.isInteger(per) || per < 1) {
      throw new RangeError(`perConnection must be a positive integer, got ${per}`);
    }
    const f = features(ring); // throws RingClosedError on a closed ring
    this.#ring = ring;
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.#checked = (pool as { checked?: boolean }).checked === true;
    this.size = size;
    this.count = count;
    this.perConnection = Math.min(per, count);
    const blocks = pool.allocMany(size, count); // all or none; throws when short
    this.#blocks = blocks;
    this.#views = blocks.map((b) => b.bytes.subarray(0, size));
    this.#user = new Array(count).fill(null);
    this.#batch = new Uint32Array(count);
    const id = bgids.get(ring) ?? 0;
    bgids.set(ring, id + 1);
    this.groupId = id & 0xffff;
    let mode: "ring" | "pool" = "pool";
    if (f.pbufRing) {
      const addrs = new BigUint64Array(count);
      blocks.forEach((b, i) => addrs[i] = BigInt(Deno.UnsafePointer.value(b.pointer)));
      const cell = new BigUint64Array(1);
      const rc = sym().vb_buf_group_create(ringPtr(ring), this.groupId, count, size, addrs, cell);
      if (rc === 0) {
        this.#native = Deno.UnsafePointer.create(cell[0]);
        mode = "ring";
      } else if (rc !== -22) { // EINVAL: no pbuf rings here after all: pool mode
        for (const b of blocks) b.release();
        throw netError(rc, `registering a provided buffer ring of ${count} x ${size} bytes`);
      }
    }
    this.mode = mode;
    if (mode === "pool") { for (let i = count - 1; i >= 0; i--) this.#free.push(i); }
    this.#inKernel = mode === "ring" ? count : 0;
    const name = `${(pool as { name?: string }).name ?? "pool"}/group ${this.groupId}`;
    const registrars = () => this.#registrars();
    const checked = this.#checked;
    this.#owner = {
      name,
      // Checked pools: each received buffer gets a view of its own, which
      // release() detaches (a stale view reads as length 0).
      checked,
      get registrars(): readonly object[] {
        return registrars();
      },
      [kFree]: (bid: number) => this.#returned(bid),
      [kView]: (bid: number, len: number) =>
        checked
          ? new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.#blocks[bid].pointer, len))
          : this.#views[bid].subarray(0, len),
      [kPointer]: (bid: number) => this.#blocks[bid].pointer,
      [kForget]: () => {},
      [kIndexLive]: () => {
        try {
          return this.#blocks[0].bufIndex >= 0;
        } catch {
          return false; // the blocks went back to the pool (group closed)
        }
      },
      [kIdentity]: () => {
        throw new TypeError(
          "a received buffer cannot be transferred to another thread: copy its bytes, or release it",
        );
      },
      [kGone]: () => {},
    };
  }

  /** Counters: blocks in the kernel, held by JS, ENOBUFS events, re-arms. */
  stats(): BufferGroupStats {
    return {
      blocks: this.count,
      size: this.size,
      // Pool mode: the free list and the blocks under armed receives.
      inKernel: this.mode === "ring" ? this.#inKernel : this.#free.length + this.#armed,
      heldByJs: this.#held,
      enobufs: this.#enobufs,
      rearms: this.#rearms,
      mode: this.mode,
    };
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Closes the group: receives armed on it end (their connections' recv()
   * then reject), the ring is unregistered once the kernel is done, and
   * the blocks go back to the pool (received buffers still held go back
   * when released).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#starved.clear();
    // Receives armed on the group are cancelled and waiting recv() calls
    // reject (starved ones too: no block will come).
    const users = [...this.#users];
    this.#users.clear();
    for (const u of users) u.groupClosed();
    // Pool mode: an armed recv names its block until its completion. The
    // cancels complete inside the submit (the recv waits in a poll; an
    // SQPOLL ring's kernel thread runs them a little later), so settle
    // them now, waiting a bounded 50 ms, and the blocks go back before
    // close() returns (`using` disposes the pool right after the group).
    // After that they go back when their receives end.
    const deadline = performance.now() + 50;
    while (this.mode === "pool" && this.#armed > 0 && performance.now() < deadline) {
      retryCancels(this.#ring); // the ones that found the SQ full
      if (!this.#ring[kSettleNow](5)) break;
    }
    this.#maybeDestroy();
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @ignore Internal machinery for RingConn. */
  get [kGroup](): GroupInternals {
    return this.#internals;
  }

  #internals: GroupInternals = {
    ring: () => this.#ring,
    closed: () => this.#closed,
    // Ring mode: a block the kernel filled for `user`.
    deliver: (bid, n, user) => {
      // A completion reaped after close() unregistered the ring: its block
      // may be back in the pool already, so it is never handed out.
      if (this.#destroyed) return null;
      this.#inKernel--;
      this.#held++;
      this.#user[bid] = user;
      return new FixedBuf(kCreate, this.#owner, bid, this.size, this.#blocks[bid].bufIndex, n);
    },
    // A block the kernel picked but filled with nothing: straight back.
    unused: (bid) => {
      if (this.#destroyed) return;
      this.#inKernel--;
      this.#queue(bid);
    },
    // Pool mode: a free block to recv into, or -1.
    take: () => {
      const bid = this.#free.pop();
      return bid === undefined ? -1 : bid;
    },
    view: (bid) => this.#views[bid],
    // Pool mode: `n` bytes arrived in block `bid` (n > 0).
    filled: (bid, n, user) => {
      if (this.#closed) { // data received into a closed group is not handed out
        this.#free.push(bid);
        return null;
      }
      this.#held++;
      this.#user[bid] = user;
      return new FixedBuf(kCreate, this.#owner, bid, this.size, this.#blocks[bid].bufIndex, n);
    },
    // Pool mode: a block taken but not filled.
    untake: (bid) => {
      this.#free.push(bid);
      queueMicrotask(this.#wake);
    },
    starve: (user) => {
      // Closed: the user's arm() then reports the closed group.
      if (this.#closed) return queueMicrotask(() => user.rearm());
      this.#enobufs++;
      this.#starved.add(user);
      queueMicrotask(this.#wake);
    },
    join: (user) => {
      if (!this.#closed) this.#users.add(user);
    },
    forget: (user) => {
      this.#starved.delete(user);
      this.#users.delete(user);
    },
    armStart: () => {
      this.#armed++;
    },
    armEnd: () => {
      this.#armed--;
      this.#maybeDestroy();
    },
  };

  #registrars(): readonly object[] {
    try {
      return this.#blocks[0][kRegistrar]();
    } catch {
      return [];
    }
  }

  /** A received buffer was released. */
  #returned(bid: number): void {
    const user = this.#user[bid];
    this.#user[bid] = null;
    this.#held--;
    if (this.#destroyed) {
      this.#blocks[bid].release();
      this.#maybeClosePool();
    } else {
      this.#queue(bid);
    }
    user?.credit();
  }

  #queue(bid: number): void {
    if (this.mode === "pool") {
      this.#free.push(bid);
      queueMicrotask(this.#wake);
      return;
    }
    this.#batch[this.#batched++] = bid;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  /** Gives the batch of released blocks back to the kernel in one call. */
  #flush = (): void => {
    this.#flushQueued = false;
    if (this.#batched === 0 || this.#native === null) return;
    if (this.#destroyed) return;
    const n = this.#batched;
    this.#batched = 0;
    sym().vb_buf_group_recycle(this.#native, this.#batch, n);
    this.#inKernel += n;
    this.#wake();
  };

  /** Re-arms starved connections once blocks are back: called after each
   * batch of releases reaches the kernel (at most once per microtask), so a
   * trickle of releases costs one re-arm per batch, never a timer. (Waiting
   * for half the group, as proxy.c does, could wait forever when the rest
   * is held by readers that wait on the starved ones.) */
  #wake = (): void => {
    if (this.#starved.size === 0 || this.#closed) return;
    const avail = this.mode === "ring" ? this.#inKernel : this.#free.length;
    if (avail === 0) return;
    const users = [...this.#starved];
    this.#starved.clear();
    for (const u of users) {
      this.#rearms++;
      u.rearm();
    }
  };

  #maybeDestroy(): void {
    // A provided buffer ring can go at once, with receives still armed:
    // the kernel picks a block and fills it while it runs the request, on
    // this thread with the ring's lock held (task work; never io-wq for
    // TCP), and io_uring_register takes the same lock on the same thread,
    // so once unregistering returns no block is picked or written any
    // more (the armed receives end with ENOBUFS). In pool mode an armed
    // recv names its block's memory: wait for its completion.
    if (!this.#closed || this.#destroyed) return;
    if (this.mode === "pool" && this.#armed > 0) return;
    this.#destroyed = true;
    if (this.#native !== null) {
      const ring = this.#ring;
      sym().vb_buf_group_destroy(this.#native, ring.closed ? null : ringPtr(ring));
      this.#native = null;
    }
    // Blocks not held by JavaScript go back to the pool now.
    for (let bid = 0; bid < this.count; bid++) {
      if (this.#user[bid] === null) this.#blocks[bid].release();
    }
    this.#batched = 0;
    this.#free = [];
    this.#maybeClosePool();
  }

  #maybeClosePool(): void {
    if (!this.#ownsPool || this.#held > 0) return;
    try {
      this.#pool.close();
    } catch (e) {
      if (!(e instanceof BufferBusyError || e instanceof VeloqError)) throw e;
    }
  }
}

/** What RingConn uses of a group (internal). */
export interface GroupInternals {
  ring(): Ring;
  closed(): boolean;
  deliver(bid: number, n: number, user: GroupUser): FixedBuf | null;
  unused(bid: number): void;
  take(): number;
  view(bid: number): Uint8Array;
  filled(bid: number, n: number, user: GroupUser): FixedBuf | null;
  untake(bid: number): void;
  starve(user: GroupUser): void;
  join(user: GroupUser): void;
  forget(user: GroupUser): void;
  armStart(): void;
  armEnd(): void;
}

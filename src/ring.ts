/**
 * Ring: one io_uring instance doing reads and writes with pool buffers.
 *
 * The completion path follows what Deno can afford (DESIGN.md section 8):
 * waking JavaScript from another thread costs tens of microseconds, so a JS
 * thread has at most ONE outstanding wait for ALL its rings (a nonblocking
 * FFI call parked on the thread's eventfd, src/thread_waiter.ts). When it
 * returns, one fast call per ring drains every ready completion into a
 * shared Int32Array of (user_data, res, flags) triples and their requests
 * settle together.
 *
 * Submit policy (`RingOptions.submit`, default "auto"):
 * - A request to an O_DIRECT file is submitted when it is made ("eager").
 *   It goes to a device queue, and a device works in parallel with us: on
 *   this project's virtio disk one submit of 32 reads takes 73-80 us of CPU
 *   before the first reaches the device, one submit of one read 3.4-3.8 us,
 *   so submitting each as JS makes it keeps the device busy while JS settles
 *   the rest. That is also what fio does (one io_uring_enter per request).
 * - Any other request (sockets, buffered files: the kernel does its work
 *   inside the submit, there is nothing to overlap) is gathered ("gather"):
 *   one made while the ring has nothing in the kernel is submitted at once
 *   (no added latency for a lone request); the others are gathered by a
 *   flush microtask that re-queues itself while requests keep arriving
 *   (await chains issue their next request a few microtasks after the
 *   previous one settled) and submits them in one io_uring_submit once a few
 *   rounds pass with none (bounded: a full SQ is submitted by C at once).
 * - A linked chain is never split: while corked nothing is submitted; an
 *   eager request in it is submitted when the chain is uncorked.
 * `ring.submit()` submits at once.
 *
 * ## Internal request API (for src/file_ops.ts, src/net/)
 *
 * ```ts
 * const ud = ring[kRequest](
 *   (ringPtr, userData) => sym.vb_ring_prep_fsync(ringPtr, fd, flags, userData), // 0 | -errno
 *   { file, bufs: [buf], conn },       // held until the last CQE (or null)
 *   (res, flags, closing) => { ... },  // each CQE of the request
 * ); // user_data >= 0, or the prep's -errno (nothing held, nothing queued)
 * ```
 * - `prep` gets the native ring pointer and the request's user_data (its
 *   slot, a u32 below VB_RING_INTERNAL_DATA) and prepares one or more SQEs
 *   (C side: `vb_ring_sqe()` from csrc/ring_internal.h). Extra SQEs that are
 *   not requests (a linked timeout after it) use `UD_IGNORE` as user_data:
 *   their CQEs are consumed in C and settle nothing.
 * - `hold`: FixedBufs are marked busy, a FileHandle / connection gets
 *   `[kHold](+1)` (a closed one throws: the request is refused), all undone
 *   when the request's LAST CQE is reaped (or when prep fails).
 * - `onComplete(res, flags, closing)`: called for every CQE. A CQE with
 *   `CqeFlag.MORE` keeps the request pending (multishot recv/accept, the
 *   SEND_ZC result before its notification); the one without it is the
 *   last (holds are released before the call). `closing` is true when the
 *   ring is closing (cancelled or completed during close(), or never
 *   submitted: res is then -ECANCELED). A throwing handler is reported as
 *   an uncaught error and does not disturb the others.
 * - Throws RingClosedError when the ring is closed, and the hold's error
 *   (BufferReleasedError, IoError EBADF) when one is released/closed.
 * - `ring[kInternal](prep)`: an SQE that is no request (a cancel by
 *   user_data, `io_uring_prep_cancel64(sqe, ud, 0)`): prep gets
 *   `UD_IGNORE`. Cancels by user_data are safe: a slot is reused only after
 *   its CQE was drained, and every drain submits what is queued first.
 * - Linked chains (`IOSQE_IO_LINK`) must reach the kernel in one submit:
 *   `ring[kReserve](n)` first (submits now if fewer than n SQEs are free, so
 *   C will not submit mid-chain), then `ring[kCork](1)` while preparing the
 *   chain and `ring[kCork](-1)` after (no submit happens while corked).
 *
 * @module
 */
import { CqeFlag, Op, RingFlag, UD_IGNORE } from "../ffi/constants.ts";
import { lib } from "../ffi/loader.ts";
import type { VeloqLib } from "../ffi/symbols.ts";
import { IoError, IoUringUnavailableError, RingClosedError, VeloqError } from "./errors.ts";
import { FileHandle } from "./file.ts";
import { type Holdable, kHold } from "./hold.ts";
import { type ThreadWaiter, threadWaiter, type WaitClient } from "./thread_waiter.ts";
import { type FixedBuf, kBusy, registrarsOf } from "./fixed_buf.ts";
import { describe, errnoName } from "./native_errors.ts";
import { boolOption, enumOption, intOption, knownKeys } from "./options.ts";
import * as fileOps from "./file_ops.ts";
import { inlineSettled, onNextTurn, overBudget } from "./turn_budget.ts";
import type {
  FallocateOptions,
  FsyncOptions,
  ReadWriteOptions,
  RequestOptions,
} from "./file_ops.ts";
import type { BufPool } from "./pool.ts";
import type { BufferGroup, ProvideBuffersOptions } from "./net/buffer_group.ts";
import type { RingConn } from "./net/conn.ts";
import { features as netFeatures, type NetFeatures } from "./net/host.ts";
import type { RingListener } from "./net/listener.ts";
import * as net from "./net/net.ts";

/** Options of {@linkcode Ring}. */
export interface RingOptions {
  /** Submission queue entries (the CQ gets twice as many). 1-32768, default 256. */
  entries?: number;
  /**
   * Slots of the registered-buffer table, reserved empty at creation
   * (io_uring_register_buffers_sparse) and filled as pools register, without
   * re-registering anything. 0-16384 (the kernel's limit), default 1024.
   */
  bufferSlots?: number;
  /**
   * Compare each registration with RLIMIT_MEMLOCK before asking the kernel,
   * to fail with the bytes needed (MemlockError). Default true; false lets
   * the kernel refuse on its own (also a MemlockError).
   */
  memlockPrecheck?: boolean;
  /**
   * Opt-in IORING_SETUP_SQPOLL: a kernel thread takes requests from the
   * submission queue, so their issue work runs beside JavaScript instead of
   * inside each submit call. `true` (10 ms idle before the thread sleeps) or
   * the idle time in ms (1-60000). Costs a kernel thread spinning while
   * busy; helps most with many small requests on a spare core. Default off.
   */
  sqpoll?: boolean | number;
  /**
   * Let this thread wait for completions inline, blocking in the kernel for
   * up to 1 ms at a time while recent waits were shorter than that (the
   * kernel wakes the thread directly: ~20-100 us less per wake-up than the
   * helper thread's hand-over), at most 1 ms of inline work between two
   * turns of the event loop. Default true. `false` for a thread whose other
   * work (Deno.serve, timers) must never wait behind a ring: every wait then
   * goes to the helper thread. Any ring of the thread with `false` turns
   * inline waits off for all its rings.
   */
  inlineWait?: boolean;
  /**
   * When requests go to the kernel. `"auto"` (default): a request to an
   * O_DIRECT file at once (the device starts on it while JavaScript prepares
   * the next; fio does the same), every other request gathered into one
   * submit per batch, across `await` chains (sockets and buffered files do
   * their work inside the submit, so gathering saves system calls).
   * `"eager"`: every request at once (one system call each). `"gather"`:
   * every request gathered (fewest system calls; a device waits for the
   * whole batch). A lone request to an idle ring always goes at once, and
   * `ring.submit()` submits what is queued now.
   */
  submit?: SubmitPolicy;
  /**
   * IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1+): the kernel
   * runs this ring's completion work only when this thread enters the ring
   * (its drains and waits), in one batch, instead of as task work queued
   * per completion. Measured on the HTTP example at 64 connections: see the
   * README. Default false. Only this thread may use the ring, which every
   * Ring is anyway, except that a pool registered with it cannot be
   * `share()`d (a Worker registers its arena from its own thread, which the
   * kernel refuses): `share()` throws then. Cannot be combined with
   * `sqpoll`. On an older kernel the ring is made without it:
   * `ring.singleIssuer` says whether it is in use.
   */
  singleIssuer?: boolean;
}

/** {@linkcode RingOptions.submit}. */
export type SubmitPolicy = "auto" | "eager" | "gather";
const SUBMIT_POLICIES: readonly SubmitPolicy[] = ["auto", "eager", "gather"];
const RING_OPTIONS = [
  "entries",
  "bufferSlots",
  "memlockPrecheck",
  "sqpoll",
  "inlineWait",
  "submit",
  "singleIssuer",
] as const;

/** Counters of a ring's completion path. */
export interface RingStats {
  /** Requests handed to the kernel. */
  submitted: number;
  /** Requests completed (settled). */
  completed: number;
  /** io_uring_submit calls: one per eager request, one per gathered batch,
   * plus those made because the SQ filled up (more requests in a tick than
   * `entries`). */
  submitCalls: number;
  /** Drains that found completions after a wait: a parked wait's return
   * (the helper thread woke JavaScript up) or an inline one (a poll or a
   * block in the kernel on this thread). */
  wakeups: number;
  /** Requests in flight now. */
  inFlight: number;
}

/** A file for ring I/O: a descriptor or a {@linkcode FileHandle}. */
export type RingFile = number | FileHandle;

/** A piece of memory the ring can do I/O on without a FixedBuf. */
export interface RawBuffer {
  /** Start address. */
  pointer: Deno.PointerObject;
  /** Length in bytes (at most 2^31-1 per request). */
  length: number;
  /** Registered index of the buffer holding this memory in THIS ring, or -1. */
  bufIndex: number;
}

/** Prepares a request's SQE(s): gets the native ring and the user_data;
 * returns 0 or -errno. */
export type PrepFn = (ring: Deno.PointerObject, userData: number) => number;

/** Sees each CQE of a request (see the module comment). */
/** `lost` (only during close(), when reaping failed): the request's last
 * CQE never came, so the kernel may still use its memory (keep it busy). */
export type CompleteFn = (res: number, flags: number, closing: boolean, lost?: boolean) => void;

/** What a request holds until its last CQE. */
export interface RequestHold {
  /** Buffers the kernel reads or writes (busy until the last CQE). */
  bufs?: readonly FixedBuf[] | null;
  /** The file whose descriptor the SQE names. */
  file?: FileHandle | null;
  /** A connection (src/net/), or anything else with `[kHold]`. */
  conn?: Holdable | null;
}

/** Internal: `ring[kRequest](prep, hold, onComplete)` (module comment). */
export const kRequest: unique symbol = Symbol("veloq.request");
/** Internal: `ring[kInternal](prep)`: an SQE that settles nothing. */
export const kInternal: unique symbol = Symbol("veloq.internal");
/** Internal: `ring[kCork](+1 | -1)`: no submit while > 0 (linked chains). */
export const kCork: unique symbol = Symbol("veloq.cork");
/** Internal: `ring[kReserve](n)`: at least n free SQEs; false if impossible. */
export const kReserve: unique symbol = Symbol("veloq.reserve");
/** Internal: the native ring pointer, for pool registration. */
export const kRingPtr: unique symbol = Symbol("veloq.ringPtr");
/** Internal: submit and settle what is complete, now (not inside a drain). */
export const kSettleNow: unique symbol = Symbol("veloq.settleNow");

/** One request in flight (one hidden class for every kind). */
class Req {
  resolve: ((n: number) => void) | null = null;
  reject: ((e: Error) => void) | null = null;
  onComplete: CompleteFn | null = null;
  buf: FixedBuf | null = null;
  bufs: readonly FixedBuf[] | null = null;
  file: FileHandle | null = null;
  conn: Holdable | null = null;
  op = 0;
  fd = 0;
  offset = 0;
  length = 0;
  direct = false;
}

const MAX_LEN = 0x7fffffff;
/** IORING_SETUP_DEFER_TASKRUN, in vb_ring_setup_flags. */
const SETUP_DEFER_TASKRUN = 1 << 13;
const ECANCELED = -125;
const EBUSY = -16;
/** Flush rounds with no new request before submitting: covers await chains
 * a few promise hops deep (`p.then(() => ring.write(...)).then(next)` issues
 * its next request 3 hops after the write settled: adopting a returned
 * promise costs 2). */
const IDLE_ROUNDS = 3;
/** Most flush rounds before submitting anyway. */
const MAX_ROUNDS = 256;
/** close(): longest wait for the kernel to give back cancelled requests. */
const CLOSE_WAIT_MS = 10_000;
/** close(): the cancel is made again after this long with no completion. */
const CLOSE_RECANCEL_MS = 20;
const ETIME = -62;

/**
 * One io_uring instance. Reads and writes return promises of the byte
 * count; with a buffer from a pool registered on this ring they are
 * READ_FIXED / WRITE_FIXED (no page pinning per request).
 *
 * ```ts
 * import { BuddyPool, openFile, Ring } from "@veloq/buffer";
 *
 * using ring = new Ring({ entries: 64 });
 * using pool = BuddyPool.create({ arenaSize: 4 << 20, registrar: ring });
 * using file = openFile("/tmp/ring-example.bin", {
 *   write: true, read: true, create: true, truncate: true, direct: true,
 * });
 * using buf = pool.alloc(128 * 1024);
 * buf.bytes.fill(42);
 * await ring.write(file, buf, 0);            // WRITE_FIXED
 * const n = await ring.read(file, buf, 0);   // READ_FIXED
 * ```
 */
export class Ring implements Disposable {
  #sym: VeloqLib["symbols"];
  #ptr: Deno.PointerObject | null;
  #waiter: ThreadWaiter;
  #client: WaitClient;
  #cqes: Int32Array;
  #cqeCap: number;
  #pending: (Req | undefined)[] = [];
  #freeSlots: number[] = [];
  /** Requests (slots) not settled yet. */
  #inFlight = 0;
  /** Requests prepared and not submitted yet. */
  #unsubmitted = 0;
  /** SQEs of any kind prepared since the last submit. */
  #sqes = 0;
  #cork = 0;
  /** Submit policy: every request at once / O_DIRECT file requests at once. */
  #eagerAll = false;
  #eagerDirect = true;
  /** An eager request was queued while corked: submit at uncork. */
  #eagerCorked = false;
  #closing = false;
  /** The batch #drain is settling: cqes[#batchPos .. #batchEnd). */
  #batchPos = 0;
  #batchEnd = 0;
  #flushQueued = false;
  /** Requests made (ever), and the count the flush saw last. */
  #made = 0;
  #seen = 0;
  #idleRounds = 0;
  #rounds = 0;
  #retryQueued = false;
  #drainDeferred = false;
  #submitted = 0;
  #completed = 0;
  #submitCalls = 0;
  /** C's own submits (SQ full), as of close(). */
  #autoSubmitsAtClose = 0;
  #wakeups = 0;
  /** Slots of the registered-buffer table. */
  readonly bufferSlots: number;
  /** SQ entries. */
  readonly entries: number;
  /** True when the ring runs with IORING_SETUP_SINGLE_ISSUER |
   * DEFER_TASKRUN ({@linkcode RingOptions.singleIssuer} on Linux 6.1+). */
  readonly singleIssuer: boolean;

  /** Creates the io_uring instance; throws IoUringUnavailableError when the
   * kernel refuses (see the message for the cause and the fix). */
  constructor(options?: RingOptions) {
    knownKeys("new Ring", options, RING_OPTIONS);
    options ??= {};
    const entries = intOption("entries", options.entries, 1, 32768, 256);
    const slots = intOption("bufferSlots", options.bufferSlots, 0, 16384, 1024);
    const precheck = boolOption("memlockPrecheck", options.memlockPrecheck, true);
    const inlineWait = boolOption("inlineWait", options.inlineWait, true);
    const single = boolOption("singleIssuer", options.singleIssuer, false);
    const submit = enumOption("submit", options.submit, SUBMIT_POLICIES, "auto");
    this.#eagerAll = submit === "eager";
    this.#eagerDirect = submit !== "gather";
    const sq = options.sqpoll ?? false;
    const idle = typeof sq === "number" ? intOption("sqpoll", sq, 1, 60000, 10) : 0;
    if (typeof sq !== "number") boolOption("sqpoll", sq, false);
    this.#sym = lib().symbols;
    const cell = new BigUint64Array(1);
    let flags = precheck ? 0 : RingFlag.NO_MEMLOCK_PRECHECK;
    if (sq !== false) flags |= RingFlag.SQPOLL | (idle << 16);
    if (single && sq !== false) {
      throw new TypeError("singleIssuer cannot be combined with sqpoll (the kernel refuses it)");
    }
    if (single) flags |= RingFlag.SINGLE_ISSUER;
    const rc = this.#sym.vb_ring_create(entries, slots, flags, cell);
    if (rc !== 0) throw ringCreateError(rc, this.#sym, entries, slots);
    const ptr = Deno.UnsafePointer.create(cell[0])!;
    this.#ptr = ptr;
    this.entries = entries;
    this.bufferSlots = this.#sym.vb_ring_buf_slots(ptr);
    this.singleIssuer = (this.#sym.vb_ring_setup_flags(ptr) & SETUP_DEFER_TASKRUN) !== 0;
    this.#cqeCap = this.#sym.vb_ring_completions_cap(ptr);
    this.#cqes = new Int32Array(
      Deno.UnsafePointerView.getArrayBuffer(
        this.#sym.vb_ring_completions(ptr)!,
        this.#cqeCap * 12,
      ),
    );
    this.#client = {
      onWake: () => this.#onWake(),
      needsWait: () => this.#needsWait(),
      gathering: () => this.#flushQueued || this.#drainDeferred,
      inlineWait,
    };
    this.#waiter = threadWaiter();
    const wrc = this.#waiter.attach(this.#client, ptr);
    if (wrc !== 0) {
      this.#ptr = null;
      this.#sym.vb_ring_destroy(ptr);
      throw new VeloqError(
        `cannot attach the ring to the thread's eventfd (io_uring_register_eventfd): ${
          errnoName(wrc)
        }`,
        { code: wrc },
      );
    }
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#ptr === null;
  }

  /**
   * Reads from `file` at `fileOffset` into `buf` (its first `length` bytes,
   * default its capacity). Resolves to the bytes read (0 at end of file).
   * READ_FIXED when `buf` comes from a pool registered with this ring.
   * The buffer cannot be released until the promise settles, and the file
   * is held open until then (a close() is deferred). Bad arguments give a
   * rejected promise (TypeError / RangeError), never a synchronous throw.
   *
   * The 4th argument is `length` or {@linkcode ReadWriteOptions}
   * `{ length, signal, timeout, link }` (see {@linkcode RequestOptions}).
   */
  read(
    file: RingFile,
    buf: FixedBuf,
    fileOffset: number,
    options?: number | ReadWriteOptions,
  ): Promise<number> {
    return this.#readWrite(Op.READ, file, buf, fileOffset, options);
  }

  /** Writes the first `length` bytes of `buf` (default its capacity) to
   * `file` at `fileOffset`. Resolves to the bytes written. WRITE_FIXED when
   * `buf` comes from a pool registered with this ring. The 4th argument is
   * `length` or `{ length, signal, timeout, link }`: `ring.write(f, buf,
   * off, { link: true })` then `ring.fsync(f, { dataOnly: true })` is a
   * durable append (the sync runs only after the whole write succeeded). */
  write(
    file: RingFile,
    buf: FixedBuf,
    fileOffset: number,
    options?: number | ReadWriteOptions,
  ): Promise<number> {
    return this.#readWrite(Op.WRITE, file, buf, fileOffset, options);
  }

  /** read/write: request options or a pending link go through the file ops;
   * a plain request takes the fast path. */
  #readWrite(
    op: typeof Op.READ | typeof Op.WRITE,
    file: RingFile,
    buf: FixedBuf,
    fileOffset: number,
    options: number | ReadWriteOptions | undefined,
  ): Promise<number> {
    if ((typeof options === "object" && options !== null) || fileOps.linkPending(this)) {
      return fileOps.readWrite(this, op, file, buf, fileOffset, rwOptions(options));
    }
    return this.#bufRequest(op, file, buf, fileOffset, options);
  }

  /**
   * Reads into raw memory: `(pointer, length, bufIndex)`, for memory from
   * other native code. With `bufIndex >= 0` the kernel checks that the
   * range lies inside that registered buffer (else the promise rejects
   * with EFAULT). The caller keeps the memory alive until it settles.
   * Takes the request options as a 4th argument.
   */
  readRaw(
    file: RingFile,
    raw: RawBuffer,
    fileOffset: number,
    options?: RequestOptions,
  ): Promise<number> {
    if (options !== undefined || fileOps.linkPending(this)) {
      return fileOps.rawReadWrite(this, Op.READ, file, raw, fileOffset, options);
    }
    return this.#rawRequest(Op.READ, file, raw, fileOffset);
  }

  /** Writes from raw memory (see {@linkcode Ring.readRaw}). */
  writeRaw(
    file: RingFile,
    raw: RawBuffer,
    fileOffset: number,
    options?: RequestOptions,
  ): Promise<number> {
    if (options !== undefined || fileOps.linkPending(this)) {
      return fileOps.rawReadWrite(this, Op.WRITE, file, raw, fileOffset, options);
    }
    return this.#rawRequest(Op.WRITE, file, raw, fileOffset);
  }

  /**
   * Makes `file`'s data durable: IORING_OP_FSYNC, with
   * IORING_FSYNC_DATASYNC (fdatasync) for `{ dataOnly: true }`. Resolves
   * once the kernel reports it durable; rejects with IoError. Takes the
   * request options too (`signal`, `timeout`, `link`).
   */
  fsync(file: RingFile, options?: FsyncOptions): Promise<void> {
    return fileOps.fsync(this, file, options);
  }

  /**
   * Reads into several buffers (each whole) from `fileOffset` on, in one
   * IORING_OP_READV (READV_FIXED on Linux 6.15+ when all the buffers lie in
   * one buffer registered with this ring). Resolves to the bytes read.
   */
  readv(
    file: RingFile,
    bufs: readonly FixedBuf[],
    fileOffset: number,
    options?: RequestOptions,
  ): Promise<number> {
    return fileOps.vectored(this, Op.READ, file, bufs, fileOffset, options);
  }

  /** Writes several buffers (each whole) at `fileOffset` in one
   * IORING_OP_WRITEV (WRITEV_FIXED on 6.15+ when they share one registered
   * buffer). Resolves to the bytes written. */
  writev(
    file: RingFile,
    bufs: readonly FixedBuf[],
    fileOffset: number,
    options?: RequestOptions,
  ): Promise<number> {
    return fileOps.vectored(this, Op.WRITE, file, bufs, fileOffset, options);
  }

  /**
   * IORING_OP_FALLOCATE over `[offset, offset + length)`: allocates blocks
   * (the file grows unless `keepSize`), or with `punchHole` frees them
   * (reads give zeros, the size stays).
   */
  fallocate(
    file: RingFile,
    offset: number,
    length: number,
    options?: FallocateOptions,
  ): Promise<void> {
    return fileOps.fallocate(this, file, offset, length, options);
  }

  /**
   * Sets the file's size to `length` on the handle (no path, no race with
   * a rename): IORING_OP_FTRUNCATE on Linux 6.9+, else ftruncate(2) on
   * Deno's blocking pool (`ring.truncateIsRingOp` says which; the fallback
   * cannot be cancelled once started, and takes part in links from JS).
   */
  truncate(file: RingFile, length: number, options?: RequestOptions): Promise<void> {
    return fileOps.truncate(this, file, length, options);
  }

  /** True when {@linkcode Ring.truncate} is an io_uring request on this
   * kernel (IORING_OP_FTRUNCATE, Linux 6.9+), false when it falls back to
   * ftruncate(2) on a helper thread. */
  get truncateIsRingOp(): boolean {
    return fileOps.truncateIsRingOp(this);
  }

  // --- network (src/net/; owner w16) -------------------------------------

  /**
   * A listening TCP socket (IPv4 or IPv6; `port: 0` picks a free port, see
   * `listener.addr.port`). Accepts go through this ring. The socket is made
   * with FFI syscalls: it bypasses Deno's `--allow-net`.
   */
  listen(options: net.ListenOptions): RingListener {
    return net.listen(this, options);
  }

  /** Connects to `hostname:port` through this ring (TCP_NODELAY on).
   * Rejects with IoError `ECONNREFUSED` when nothing listens there. */
  connect(options: net.ConnectOptions): Promise<RingConn> {
    return net.connect(this, options);
  }

  /**
   * A provided buffer ring over `count` blocks of `size` bytes from `pool`
   * (`count` a power of two up to 32768): connections whose `recvBuffers`
   * is this group receive into blocks the kernel picks.
   */
  provideBuffers(pool: BufPool, options: ProvideBuffersOptions): BufferGroup {
    return net.provideBuffers(this, pool, options);
  }

  /** What the kernel offers for network I/O and this ring uses. */
  get features(): NetFeatures {
    return netFeatures(this);
  }

  /**
   * Submits every request made so far now, in one io_uring_submit, instead
   * of at the end of the current run of microtasks. Returns the number of
   * requests handed to the kernel (0 when none was waiting, or the ring is
   * closed). Useful before a long synchronous computation.
   */
  submit(): number {
    const ptr = this.#ptr;
    if (ptr === null || this.#cork > 0) return 0;
    const before = this.#submitted;
    this.#submit(ptr);
    this.#waiter.need();
    return this.#submitted - before;
  }

  /** Submits C made by itself when the SQ filled (counted in submitCalls). */
  #autoSubmits(): number {
    const ptr = this.#ptr;
    return ptr === null ? this.#autoSubmitsAtClose : this.#sym.vb_ring_auto_submits(ptr);
  }

  /** Counters of the completion path (wake-ups per completion, batching). */
  stats(): RingStats {
    return {
      submitted: this.#submitted,
      completed: this.#completed,
      submitCalls: this.#submitCalls + this.#autoSubmits(),
      wakeups: this.#wakeups,
      inFlight: this.#inFlight,
    };
  }

  /**
   * Closes the ring. Requests still in flight are cancelled and waited for:
   * a request the kernel completed anyway resolves with its result; the
   * others reject with RingClosedError (whose `result` says what the kernel
   * reported; -125 ECANCELED for cancelled and never-submitted ones). Their
   * buffers are free to release afterwards. Pools registered here keep
   * working, unregistered (bufIndex -1). Its listeners and connections
   * still open are closed (their fds too: peers see end of stream); later
   * calls on them reject with RingClosedError. A second call does nothing.
   */
  close(): void {
    const ptr = this.#ptr;
    if (ptr === null || this.#closing) return; // (a handler run by close() may call it)
    this.#closing = true;
    // Called by a request handler during a drain: the rest of that batch
    // is already out of the kernel's CQ, in the array.
    const cqes = this.#cqes;
    for (let i = this.#batchPos; i < this.#batchEnd; i += 3) {
      this.#settleClosed(cqes[i], cqes[i + 1], cqes[i + 2], false);
    }
    this.#batchEnd = 0;
    let failed = false;
    // Ask the kernel, not our counters: C submits by itself when the SQ
    // fills (vb_ring_sqe), so requests made in this tick may be in the
    // kernel already. Every SQE the kernel took ends with one last CQE;
    // wait for all of them. What the cancel drops (queued, never submitted)
    // posts nothing of its own and is settled as never run below.
    if (this.#sym.vb_ring_outstanding(ptr) > 0) {
      this.#sym.vb_ring_cancel_all(ptr);
      this.#sqes = 0;
      const deadline = performance.now() + CLOSE_WAIT_MS;
      while (this.#sym.vb_ring_outstanding(ptr) > 0) {
        const left = Math.ceil(deadline - performance.now());
        const n = left > 0 ? this.#sym.vb_ring_reap(ptr, Math.min(CLOSE_RECANCEL_MS, left)) : ETIME;
        if (n === ETIME && left > CLOSE_RECANCEL_MS) {
          // A request linked behind one that was running had not started,
          // so the cancel did not reach it; it starts once its predecessor
          // completes (review 14d #2): cancel again.
          this.#sym.vb_ring_cancel_all(ptr);
          continue;
        }
        if (n < 0) {
          failed = true;
          break;
        }
        for (let i = 0; i < 3 * n; i += 3) {
          this.#settleClosed(cqes[i], cqes[i + 1], cqes[i + 2], false);
        }
      }
    }
    this.#ptr = null;
    this.#waiter.detach(this.#client);
    this.#autoSubmitsAtClose = this.#sym.vb_ring_auto_submits(ptr);
    this.#sym.vb_ring_destroy(ptr);
    // What is left never ran (unsent) or, if reaping failed, may still be
    // running in the kernel: its buffers stay busy (never released under
    // the kernel's feet; a leak is better than corruption).
    this.#pending.forEach((p, slot) => p && this.#settleClosed(slot, ECANCELED, 0, failed));
    // Its sockets: every request naming them is settled, so each fd is
    // closed directly (peers see end of stream, ports are free again).
    net.closeSockets(this);
    // The ring's default recv group last: its receives ended above (with
    // RingClosedError), and the kernel dropped the buffer ring with the ring.
    net.closeDefaultGroup(this);
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @ignore Internal: submits what is queued and settles what completed,
   * synchronously (a buffer group in pool mode closing: a cancelled recv
   * completes inside the submit, and its block can go back at once; with
   * `waitMs`, waits that long for a first completion: an SQPOLL ring's
   * kernel thread takes the cancel later). False, doing nothing, when
   * closed, inside a drain (the batch array is in use) or while corked. */
  [kSettleNow](waitMs = 0): boolean {
    const ptr = this.#ptr;
    if (ptr === null || this.#cork > 0 || this.#batchEnd > 0) return false;
    this.#submit(ptr);
    this.#drain(ptr, waitMs);
    return true;
  }

  /** @ignore Internal: the native ring, for registration. */
  [kRingPtr](): Deno.PointerObject {
    if (this.#ptr === null) throw new RingClosedError("the ring is closed");
    return this.#ptr;
  }

  /** @ignore Internal request API (see the module comment). */
  [kRequest](
    prep: PrepFn,
    hold: RequestHold | null,
    onComplete: CompleteFn,
    direct: boolean = hold?.file?.direct ?? false,
  ): number {
    const ptr = this.#ptr;
    if (ptr === null || this.#closing) throw closedError();
    fileOps.beforeOtherRequest(this); // never inside a linked chain of file_ops
    const p = new Req();
    p.onComplete = onComplete;
    if (hold !== null) {
      // A copy: the caller may change its array while the request runs,
      // and exactly the buffers made busy here must be let go at the end.
      p.bufs = hold.bufs ? hold.bufs.slice() : null;
      p.file = hold.file ?? null;
      p.conn = hold.conn ?? null;
      acquire(p); // throws, holding nothing, when one is released/closed
    }
    const slot = this.#slot();
    let rc;
    try {
      rc = prep(ptr, slot);
      // SQ full (the op files' preps never submit by themselves): make room
      // and try once more, unless a chain is open (it must go in one submit).
      if (rc === EBUSY && this.#makeRoom(ptr)) rc = prep(ptr, slot);
    } catch (e) {
      this.#freeSlots.push(slot);
      release(p);
      throw e;
    }
    if (rc < 0) {
      this.#freeSlots.push(slot);
      release(p);
      return rc;
    }
    this.#pending[slot] = p;
    this.#queued(direct);
    return slot;
  }

  /** @ignore Internal: an SQE that is no request (its CQE settles
   * nothing); prep gets UD_IGNORE. Returns the prep's result. */
  [kInternal](prep: PrepFn): number {
    const ptr = this.#ptr;
    if (ptr === null || this.#closing) throw closedError();
    fileOps.beforeOtherRequest(this);
    let rc = prep(ptr, UD_IGNORE);
    if (rc === EBUSY && this.#makeRoom(ptr)) rc = prep(ptr, UD_IGNORE);
    if (rc >= 0) {
      this.#sqes++;
      this.#scheduleFlush();
    }
    return rc;
  }

  /** @ignore Internal: holds (+1) or lets go (-1) of submission, so that a
   * linked chain prepared in one synchronous run goes out in one submit. */
  [kCork](delta: 1 | -1): void {
    this.#cork += delta;
    if (this.#cork !== 0) return;
    const eager = this.#eagerCorked;
    this.#eagerCorked = false;
    if (this.#sqes === 0 || this.#ptr === null) return;
    // The chain is complete: it goes now (in one submit) when eager or when
    // the ring has nothing else in the kernel (a lone request waits for
    // nothing), and the flush drains what completes and parks the wait.
    if (this.#submitsNow(eager)) this.#submit(this.#ptr);
    this.#scheduleFlush();
  }

  /** @ignore Internal: makes sure `n` SQEs are free (submitting now if
   * needed, never while corked). False if they cannot be. */
  [kReserve](n: number): boolean {
    const ptr = this.#ptr;
    if (ptr === null) return false;
    if (this.#sym.vb_ring_sq_space(ptr) >= n) return true;
    if (this.#cork > 0) return false;
    this.#submit(ptr);
    return this.#sym.vb_ring_sq_space(ptr) >= n;
  }

  /** SQ full: submits what is queued so a prep can get an SQE. False when
   * corked (an open chain must stay in one submit) or nothing was freed. */
  #makeRoom(ptr: Deno.PointerObject): boolean {
    if (this.#cork > 0) return false;
    if (this.#sqes === 0) this.#sqes = this.#sym.vb_ring_sq_ready(ptr);
    this.#submit(ptr);
    return this.#sym.vb_ring_sq_space(ptr) > 0;
  }

  #bufRequest(
    op: number,
    file: RingFile,
    buf: FixedBuf,
    offset: number,
    length: number | undefined,
  ): Promise<number> {
    const ptr = this.#ptr;
    if (ptr === null || this.#closing) return Promise.reject(closedError());
    let registrars, bytes, bufIndex;
    try {
      registrars = registrarsOf(buf); // BufferReleasedError, or not a FixedBuf of ours
      bytes = buf.bytes;
      bufIndex = buf.bufIndex;
    } catch (e) {
      return Promise.reject(e);
    }
    const len = length ?? bytes.length;
    if (!Number.isInteger(len) || len < 0 || len > bytes.length) {
      return Promise.reject(
        new RangeError(`length must be an integer from 0 to ${bytes.length}, got ${len}`),
      );
    }
    // A registered index is only meaningful in the ring that holds it.
    const index = bufIndex >= 0 && registrars.includes(this) ? bufIndex : -1;
    const p = new Req();
    const err = this.#target(p, op, file, offset, len);
    if (err !== null) return Promise.reject(err);
    p.buf = buf;
    const slot = this.#slot();
    const rc = this.#sym.vb_ring_prep(ptr, op, p.fd, bytes, len, offset, index, slot);
    return this.#track(rc, slot, p);
  }

  #rawRequest(op: number, file: RingFile, raw: RawBuffer, offset: number): Promise<number> {
    const ptr = this.#ptr;
    if (ptr === null || this.#closing) return Promise.reject(closedError());
    if (typeof raw !== "object" || raw === null) {
      return Promise.reject(
        new TypeError(`raw must be { pointer, length, bufIndex }, got ${typeName(raw)}`),
      );
    }
    const { pointer, length, bufIndex } = raw;
    if (typeof pointer !== "object" || pointer === null) {
      return Promise.reject(
        new TypeError(
          `raw.pointer must be a non-null Deno.PointerObject, got ${typeName(pointer)}`,
        ),
      );
    }
    if (!Number.isInteger(length) || length < 0 || length > MAX_LEN) {
      return Promise.reject(new RangeError(`raw length must be 0 to ${MAX_LEN}, got ${length}`));
    }
    if (!Number.isInteger(bufIndex) || bufIndex < -1 || bufIndex >= this.bufferSlots) {
      return Promise.reject(
        new RangeError(`raw bufIndex must be -1 or a slot below ${this.bufferSlots}`),
      );
    }
    const p = new Req();
    const err = this.#target(p, op, file, offset, length);
    if (err !== null) return Promise.reject(err);
    const slot = this.#slot();
    let rc;
    try {
      rc = this.#sym.vb_ring_prep_ptr(ptr, op, p.fd, pointer, length, offset, bufIndex, slot);
    } catch (e) { // a pointer Deno refuses
      this.#freeSlots.push(slot);
      return Promise.reject(e);
    }
    return this.#track(rc, slot, p);
  }

  /** Checks the file and offset and fills the request's target; the error
   * to reject with, or null. */
  #target(p: Req, op: number, file: RingFile, offset: number, length: number): Error | null {
    if (!Number.isInteger(offset) || offset < 0 || offset > Number.MAX_SAFE_INTEGER) {
      return new RangeError(`fileOffset must be a non-negative integer, got ${String(offset)}`);
    }
    p.op = op;
    p.offset = offset;
    p.length = length;
    if (typeof file === "number") {
      if (!Number.isInteger(file) || file < 0 || file > 0x7fffffff) {
        return new TypeError(`file must be a FileHandle or a file descriptor, got ${file}`);
      }
      p.fd = file;
      return null;
    }
    if (!(file instanceof FileHandle)) {
      return new TypeError(
        `file must be a FileHandle (openFile) or a file descriptor number, got ${typeName(file)}`,
      );
    }
    let fd;
    try {
      fd = file.fd; // throws once closed
    } catch (e) {
      return e as Error;
    }
    if (file.direct) {
      const a = file.alignment;
      if (offset % a !== 0 || length % a !== 0) {
        return new RangeError(
          `O_DIRECT file ${file.path} needs offsets and lengths that are multiples of ${a} bytes, got offset ${offset}, length ${length}`,
        );
      }
    }
    p.fd = fd;
    p.direct = file.direct;
    p.file = file;
    return null;
  }

  #slot(): number {
    return this.#freeSlots.pop() ?? this.#pending.length;
  }

  /** Records a prepared read/write and schedules its submission. */
  #track(rc: number, slot: number, p: Req): Promise<number> {
    if (rc < 0) {
      this.#freeSlots.push(slot);
      return Promise.reject(ioError(rc, p));
    }
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    p.resolve = resolve;
    p.reject = reject;
    p.buf?.[kBusy](1);
    p.file?.[kHold](1);
    this.#pending[slot] = p;
    this.#queued(p.direct);
    return promise;
  }

  /** A request was prepared: submit it now when the policy says so for it
   * (`direct`: it goes to an O_DIRECT file) or when the ring is idle (a lone
   * request waits for nothing), else let the flush gather it. */
  #queued(direct: boolean): void {
    this.#inFlight++;
    this.#unsubmitted++;
    this.#sqes++;
    this.#made++;
    const eager = this.#eagerAll || (direct && this.#eagerDirect);
    if (this.#cork > 0) {
      this.#eagerCorked ||= eager;
      return;
    }
    if (this.#submitsNow(eager)) this.#submit(this.#ptr!);
    this.#scheduleFlush(); // drains what completes and parks the wait
  }

  /** What was just queued goes to the kernel now: its policy says so, or
   * the ring has nothing else in the kernel (a lone request waits for
   * nothing). */
  #submitsNow(eager: boolean): boolean {
    return eager || (!this.#flushQueued && this.#inFlight === this.#unsubmitted);
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    this.#seen = this.#made;
    this.#idleRounds = 0;
    this.#rounds = 0;
    queueMicrotask(this.#flush);
  }

  /** Runs once per microtask round while requests keep coming; submits
   * them together after IDLE_ROUNDS rounds with none, then takes what is
   * already complete and makes sure the thread's wait is parked. */
  #flush = (): void => {
    const ptr = this.#ptr;
    if (ptr === null || this.#cork > 0) {
      this.#flushQueued = false; // uncorking schedules it again
      return;
    }
    if (++this.#rounds < MAX_ROUNDS) {
      if (this.#made !== this.#seen) {
        this.#seen = this.#made;
        this.#idleRounds = 0;
        queueMicrotask(this.#flush);
        return;
      }
      if (this.#idleRounds++ < IDLE_ROUNDS) {
        queueMicrotask(this.#flush);
        return;
      }
    }
    this.#flushQueued = false;
    this.#submit(ptr);
    // This thread already settled a budget's worth inline since the event
    // loop last turned (an await loop of page-cache hits): the drain waits
    // for a macrotask, so timers, other rings and terminate() get a turn.
    if (overBudget()) return this.#deferDrain();
    // Completions already there (page-cache hits complete inside submit;
    // on a VM's virtual disk often the whole batch) are taken now, with no
    // wake-up at all.
    this.#drainThenWait(ptr);
  };

  /** Drains; when that settled something, the requests its continuations
   * make in the coming microtasks are gathered by another flush (no lone
   * early submit, which costs a whole submit: ~100-200 us on a VM's disk),
   * which waits once they are out. Else the thread's wait is (re)armed. */
  #drainThenWait(ptr: Deno.PointerObject): void {
    if (this.#drain(ptr) > 0) {
      inlineSettled();
      this.#scheduleFlush();
    }
    this.#waiter.need(); // while gathering: only the other rings' (see need())
  }

  #deferDrain(): void {
    if (this.#drainDeferred) return;
    this.#drainDeferred = true;
    onNextTurn(this.#deferredDrain); // with the budget's own turn: one macrotask
  }

  #deferredDrain = (): void => {
    this.#drainDeferred = false;
    const ptr = this.#ptr;
    if (ptr === null) return; // close() settled everything
    if (this.#cork === 0) this.#submit(ptr); // every drain submits first (cancel safety)
    this.#drainThenWait(ptr);
  };

  /** Hands every queued SQE to the kernel.  The C side says how many are
   * still queued (a full SQ submits early, inside prep). */
  #submit(ptr: Deno.PointerObject): void {
    if (this.#sqes === 0) return;
    const n = this.#sym.vb_ring_submit(ptr);
    this.#submitCalls++;
    // All went (#sqes is at least what the SQ held: C may have submitted
    // some by itself): no second FFI call, one per request when eager.
    const left = n >= this.#sqes ? 0 : this.#sym.vb_ring_sq_ready(ptr);
    const stillQueued = Math.min(left, this.#unsubmitted);
    this.#submitted += this.#unsubmitted - stillQueued;
    this.#unsubmitted = stillQueued;
    this.#sqes = left;
    // Still queued (EAGAIN/EBUSY: the kernel is short of room for now): try
    // again soon; a wake-up would only come for requests the kernel has.
    if (left > 0 && !this.#retryQueued) {
      this.#retryQueued = true;
      setTimeout(() => {
        this.#retryQueued = false;
        if (this.#ptr !== null && this.#cork === 0) this.#scheduleFlush();
      }, 1);
    }
  }

  #needsWait(): boolean {
    return this.#inFlight > this.#unsubmitted;
  }

  /** The thread's wait returned: submit, drain; true while more is due. */
  #onWake(): boolean {
    const ptr = this.#ptr;
    if (ptr === null) return false;
    if (this.#cork === 0) this.#submit(ptr); // every drain submits first (cancel safety)
    if (this.#drain(ptr) > 0) {
      this.#wakeups++;
      // Continuations of what settled issue their requests in the coming
      // microtasks: gather them into one submit.
      this.#scheduleFlush();
    }
    return this.#needsWait();
  }

  /** Settles every ready completion (waiting up to `waitMs` for the first
   * when none is there); returns how many. */
  #drain(ptr: Deno.PointerObject, waitMs = 0): number {
    const cqes = this.#cqes;
    let total = 0;
    for (let wait = waitMs;; wait = 0) {
      const n = Math.max(0, this.#sym.vb_ring_reap(ptr, wait)); // -ETIME: none came
      this.#batchEnd = 3 * n;
      for (let i = 0; i < 3 * n; i += 3) {
        this.#batchPos = i + 3; // what close() must settle if a handler calls it
        this.#settle(cqes[i], cqes[i + 1], cqes[i + 2]);
        // A request handler closed the ring: the array is gone with it
        // (close() settled the rest).
        if (this.#ptr === null) return total + i / 3 + 1;
      }
      this.#batchEnd = 0;
      if (n > 0) total += n;
      if (n < this.#cqeCap) return total;
    }
  }

  /** Removes a request from the table and lets go of what it held, unless
   * `keepBusy` (the kernel may still be using it). */
  #take(slot: number, keepBusy: boolean): Req | undefined {
    const p = this.#pending[slot];
    if (p === undefined) return undefined;
    this.#pending[slot] = undefined;
    this.#freeSlots.push(slot);
    this.#inFlight--;
    this.#completed++;
    if (!keepBusy) release(p);
    return p;
  }

  #settle(slot: number, res: number, flags: number): void {
    const p = this.#pending[slot];
    if (p === undefined) return;
    if (p.onComplete !== null) {
      if ((flags & CqeFlag.MORE) === 0) this.#take(slot, false);
      callHandler(p.onComplete, res, flags, false);
      return;
    }
    this.#take(slot, false);
    if (res >= 0) p.resolve!(res);
    else p.reject!(ioError(res, p));
  }

  #settleClosed(slot: number, res: number, flags: number, keepBusy: boolean): void {
    const p = this.#pending[slot];
    if (p === undefined) return;
    if (p.onComplete !== null) {
      if ((flags & CqeFlag.MORE) === 0) this.#take(slot, keepBusy);
      callHandler(p.onComplete, res, flags, true, keepBusy);
      return;
    }
    this.#take(slot, keepBusy);
    // The kernel did it: the result stands.
    if (res >= 0 && !keepBusy) return p.resolve!(res);
    const what = res >= 0 ? `completed with ${res} bytes` : `ended with ${errnoName(res)}`;
    p.reject!(
      new RingClosedError(`the ring was closed while this request was in flight (${what})`, res),
    );
  }
}

/** Takes the holds of a generic request; throws (holding nothing) when one
 * is released or closed. */
function acquire(p: Req): void {
  const bufs = p.bufs;
  let i = 0;
  try {
    if (bufs !== null) { for (; i < bufs.length; i++) bufs[i][kBusy](1); }
    p.file?.[kHold](1);
    try {
      p.conn?.[kHold](1);
    } catch (e) {
      p.file?.[kHold](-1);
      throw e;
    }
  } catch (e) {
    while (i-- > 0) bufs![i][kBusy](-1);
    throw e;
  }
}

/** Lets go of a request's holds. Each is released even if another throws
 * (a deferred free that finds a double free): the error is reported, never
 * thrown into the drain, which must settle the rest of its batch. */
function release(p: Req): void {
  if (p.buf !== null) tryRelease(p.buf, kBusy);
  const bufs = p.bufs;
  if (bufs !== null) { for (let i = 0; i < bufs.length; i++) tryRelease(bufs[i], kBusy); }
  if (p.file !== null) tryRelease(p.file, kHold);
  if (p.conn !== null) tryRelease(p.conn, kHold);
}

function tryRelease(
  x: { [kBusy](d: number): void } | { [kHold](d: 1 | -1): void },
  key: typeof kBusy | typeof kHold,
): void {
  try {
    (x as Record<symbol, (d: -1) => void>)[key](-1);
  } catch (e) {
    reportError(e);
  }
}

function callHandler(
  fn: CompleteFn,
  res: number,
  flags: number,
  closing: boolean,
  lost = false,
): void {
  try {
    fn(res, flags, closing, lost);
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
  }
}

/** read/write's 4th argument as options (a number is the length). */
function rwOptions(
  options: number | ReadWriteOptions | null | undefined,
): ReadWriteOptions | undefined {
  if (options === undefined || options === null) return undefined; // null: as before, the default
  if (typeof options === "object") return options;
  return { length: options };
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "string") return `the string ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === "object") return (v as object).constructor?.name ?? "an object";
  return typeof v;
}

function closedError(): RingClosedError {
  return new RingClosedError("the ring is closed: create a new Ring for more I/O");
}

function ioError(code: number, p: Req): IoError {
  const { op, fd, offset, length, direct } = p;
  const name = errnoName(code);
  const verb = op === Op.READ ? "read" : "write";
  let hint = "";
  if (name === "EINVAL") {
    hint = direct
      ? " (O_DIRECT needs aligned offset, length and address)"
      : " (for O_DIRECT files: offset, length and address must be aligned to the device's block size)";
  } else if (name === "EFAULT") {
    hint = " (the memory is not inside the registered buffer named by bufIndex)";
  }
  // EBUSY from a ring is its own (the C core's text for it is the pool's).
  const text = name === "EBUSY"
    ? "the ring's submission queue stayed full (the kernel did not take the queued requests)"
    : describe(code);
  return new IoError(
    `${verb} of ${length} bytes at offset ${offset} on fd ${fd} failed: ${name}: ${text}${hint}`,
    -code,
    name,
  );
}

function ringCreateError(
  code: number,
  sym: VeloqLib["symbols"],
  entries: number,
  slots: number,
): Error {
  const name = errnoName(code);
  if (name === "ENOSYS" || name === "EPERM" || name === "EACCES") {
    const disabled = sym.vb_io_uring_disabled();
    let cause;
    if (disabled === 2) {
      cause = "kernel.io_uring_disabled is 2 (io_uring off for every process). " +
        "Fix: `sysctl -w kernel.io_uring_disabled=0`.";
    } else if (disabled === 1 && name === "EPERM") {
      cause = "kernel.io_uring_disabled is 1 (only members of kernel.io_uring_group may use it). " +
        "Fix: add the user to that group, or `sysctl -w kernel.io_uring_disabled=0`.";
    } else if (name === "ENOSYS") {
      cause = "Either the kernel has no io_uring (before 5.1, or built without " +
        "CONFIG_IO_URING) or a seccomp filter refuses it (container runtimes' default profiles do). " +
        "Fix: a kernel with io_uring, or a seccomp profile that allows " +
        "io_uring_setup, io_uring_enter and io_uring_register.";
    } else {
      cause = "A seccomp filter refuses it (container runtimes' default profiles do), or a " +
        "security module does. Fix: a seccomp profile that allows io_uring_setup, " +
        "io_uring_enter and io_uring_register (docker: --security-opt seccomp=<profile>).";
    }
    return new IoUringUnavailableError(
      `io_uring is not available in this process: io_uring_setup failed with ${name}. ${cause}`,
      { code },
    );
  }
  if (name === "ENOMEM") {
    return new IoUringUnavailableError(
      `cannot create an io_uring with ${entries} entries and ${slots} buffer slots: ENOMEM (kernel memory, or RLIMIT_MEMLOCK on kernels before 5.12: raise \`ulimit -l\`)`,
      { code },
    );
  }
  return new VeloqError(`cannot create an io_uring: ${name}: ${describe(code)}`, { code });
}

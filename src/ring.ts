/**
 * Ring: one io_uring instance doing reads and writes with pool buffers.
 *
 * The completion path follows what Deno can afford (DESIGN.md section 8):
 * waking JavaScript from another thread costs tens of microseconds, so there
 * is at most ONE outstanding wait (a nonblocking FFI call that sleeps in
 * io_uring_enter on a helper thread). When it returns, one fast call drains
 * every ready completion into a shared Int32Array and all their promises
 * settle together. Requests made in the same tick go to the kernel in one
 * io_uring_submit, run from a microtask.
 *
 * @module
 */
import { Op, RingFlag } from "../ffi/constants.ts";
import { lib } from "../ffi/loader.ts";
import type { VeloqLib } from "../ffi/symbols.ts";
import { IoError, IoUringUnavailableError, RingClosedError, VeloqError } from "./errors.ts";
import type { FileHandle } from "./file.ts";
import { type FixedBuf, kBusy, registrarsOf } from "./fixed_buf.ts";
import { describe, errnoName } from "./native_errors.ts";
import { boolOption, intOption } from "./options.ts";

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
}

/** Counters of a ring's completion path. */
export interface RingStats {
  /** Requests handed to the kernel. */
  submitted: number;
  /** Requests completed (settled). */
  completed: number;
  /** io_uring_submit calls: one per tick with new requests. */
  submitCalls: number;
  /** Times the helper thread woke JavaScript up. */
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

/** One request in flight. */
interface Pending {
  resolve: (n: number) => void;
  reject: (e: Error) => void;
  buf: FixedBuf | null;
  op: number;
  fd: number;
  offset: number;
  length: number;
  direct: boolean;
}

/** Internal: the native ring pointer, for pool registration. */
export const kRingPtr: unique symbol = Symbol("veloq.ringPtr");

const MAX_LEN = 0x7fffffff;

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
  #cqes: Int32Array;
  #cqeCap: number;
  #pending: (Pending | undefined)[] = [];
  #freeSlots: number[] = [];
  #inFlight = 0;
  #unsubmitted = 0;
  #flushQueued = false;
  #waiting = false;
  #retryQueued = false;
  #submitted = 0;
  #completed = 0;
  #submitCalls = 0;
  #wakeups = 0;
  /** Slots of the registered-buffer table. */
  readonly bufferSlots: number;
  /** SQ entries. */
  readonly entries: number;

  /** Creates the io_uring instance; throws IoUringUnavailableError when the
   * kernel refuses (see the message for the cause and the fix). */
  constructor(options?: RingOptions) {
    options ??= {};
    const entries = intOption("entries", options.entries, 1, 32768, 256);
    const slots = intOption("bufferSlots", options.bufferSlots, 0, 16384, 1024);
    const precheck = boolOption("memlockPrecheck", options.memlockPrecheck, true);
    this.#sym = lib().symbols;
    const cell = new BigUint64Array(1);
    const flags = precheck ? 0 : RingFlag.NO_MEMLOCK_PRECHECK;
    const rc = this.#sym.vb_ring_create(entries, slots, flags, cell);
    if (rc !== 0) throw ringCreateError(rc, this.#sym, entries, slots);
    this.#ptr = Deno.UnsafePointer.create(cell[0])!;
    this.entries = entries;
    this.bufferSlots = this.#sym.vb_ring_buf_slots(this.#ptr);
    this.#cqeCap = this.#sym.vb_ring_completions_cap(this.#ptr);
    this.#cqes = new Int32Array(
      Deno.UnsafePointerView.getArrayBuffer(
        this.#sym.vb_ring_completions(this.#ptr)!,
        this.#cqeCap * 8,
      ),
    );
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#ptr === null;
  }

  /**
   * Reads from `file` at `fileOffset` into `buf` (its first `length` bytes,
   * default its capacity). Resolves to the bytes read (0 at end of file).
   * READ_FIXED when `buf` comes from a pool registered with this ring.
   * The buffer cannot be released until the promise settles.
   */
  read(file: RingFile, buf: FixedBuf, fileOffset: number, length?: number): Promise<number> {
    return this.#bufRequest(Op.READ, file, buf, fileOffset, length);
  }

  /** Writes the first `length` bytes of `buf` (default its capacity) to
   * `file` at `fileOffset`. Resolves to the bytes written. WRITE_FIXED when
   * `buf` comes from a pool registered with this ring. */
  write(file: RingFile, buf: FixedBuf, fileOffset: number, length?: number): Promise<number> {
    return this.#bufRequest(Op.WRITE, file, buf, fileOffset, length);
  }

  /**
   * Reads into raw memory: `(pointer, length, bufIndex)`, for memory from
   * other native code. With `bufIndex >= 0` the kernel checks that the
   * range lies inside that registered buffer (else the promise rejects
   * with EFAULT). The caller keeps the memory alive until it settles.
   */
  readRaw(file: RingFile, raw: RawBuffer, fileOffset: number): Promise<number> {
    return this.#rawRequest(Op.READ, file, raw, fileOffset);
  }

  /** Writes from raw memory (see {@linkcode Ring.readRaw}). */
  writeRaw(file: RingFile, raw: RawBuffer, fileOffset: number): Promise<number> {
    return this.#rawRequest(Op.WRITE, file, raw, fileOffset);
  }

  /** Counters of the completion path (wake-ups per completion, batching). */
  stats(): RingStats {
    return {
      submitted: this.#submitted,
      completed: this.#completed,
      submitCalls: this.#submitCalls,
      wakeups: this.#wakeups,
      inFlight: this.#inFlight,
    };
  }

  /**
   * Closes the ring. Requests still in flight are cancelled, waited for,
   * and rejected with RingClosedError (whose `result` says what the kernel
   * reported); their buffers are free to release afterwards. Pools
   * registered here keep working, unregistered (bufIndex -1). A second call
   * does nothing.
   */
  close(): void {
    const ptr = this.#ptr;
    if (ptr === null) return;
    // Requests never submitted are dropped by destroy: they never run.
    let failed = false;
    if (this.#inFlight > this.#sym.vb_ring_sq_ready(ptr)) {
      this.#sym.vb_ring_cancel_all(ptr);
      while (this.#inFlight > this.#sym.vb_ring_sq_ready(ptr)) {
        const n = this.#sym.vb_ring_reap(ptr, 1);
        if (n < 0) {
          failed = true;
          break;
        }
        for (let i = 0; i < n; i++) {
          this.#settleClosed(this.#cqes[2 * i], this.#cqes[2 * i + 1], false);
        }
      }
    }
    this.#ptr = null;
    this.#sym.vb_ring_destroy(ptr);
    // What is left never ran (unsent) or, if reaping failed, may still be
    // running in the kernel: its buffers stay busy (never released under
    // the kernel's feet; a leak is better than corruption).
    this.#pending.forEach((p, slot) => p && this.#settleClosed(slot, -125, failed));
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @ignore Internal: the native ring, for registration. */
  [kRingPtr](): Deno.PointerObject {
    if (this.#ptr === null) throw new RingClosedError("the ring is closed");
    return this.#ptr;
  }

  #bufRequest(
    op: number,
    file: RingFile,
    buf: FixedBuf,
    offset: number,
    length: number | undefined,
  ): Promise<number> {
    const ptr = this.#ptr;
    if (ptr === null) return Promise.reject(closedError());
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
    const target = resolveFile(file, offset, len);
    if (target instanceof Error) return Promise.reject(target);
    const slot = this.#slot();
    const rc = this.#sym.vb_ring_prep(ptr, op, target.fd, bytes, len, offset, index, slot);
    return this.#track(rc, slot, op, target, offset, len, buf);
  }

  #rawRequest(op: number, file: RingFile, raw: RawBuffer, offset: number): Promise<number> {
    const ptr = this.#ptr;
    if (ptr === null) return Promise.reject(closedError());
    const { pointer, length, bufIndex } = raw;
    if (!Number.isInteger(length) || length < 0 || length > MAX_LEN) {
      return Promise.reject(new RangeError(`raw length must be 0 to ${MAX_LEN}, got ${length}`));
    }
    if (!Number.isInteger(bufIndex) || bufIndex < -1 || bufIndex >= this.bufferSlots) {
      return Promise.reject(
        new RangeError(`raw bufIndex must be -1 or a slot below ${this.bufferSlots}`),
      );
    }
    const target = resolveFile(file, offset, length);
    if (target instanceof Error) return Promise.reject(target);
    const slot = this.#slot();
    const rc = this.#sym.vb_ring_prep_ptr(
      ptr,
      op,
      target.fd,
      pointer,
      length,
      offset,
      bufIndex,
      slot,
    );
    return this.#track(rc, slot, op, target, offset, length, null);
  }

  #slot(): number {
    return this.#freeSlots.pop() ?? this.#pending.length;
  }

  /** Records a prepared request and schedules its submission. */
  #track(
    rc: number,
    slot: number,
    op: number,
    target: { fd: number; direct: boolean },
    offset: number,
    length: number,
    buf: FixedBuf | null,
  ): Promise<number> {
    if (rc < 0) {
      this.#freeSlots.push(slot);
      return Promise.reject(ioError(rc, op, target.fd, offset, length, target.direct));
    }
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    this.#pending[slot] = {
      resolve,
      reject,
      buf,
      op,
      fd: target.fd,
      offset,
      length,
      direct: target.direct,
    };
    buf?.[kBusy](1);
    this.#inFlight++;
    this.#unsubmitted++;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
    return promise;
  }

  /** Submits this tick's requests in one call, then makes sure someone
   * waits for their completions. */
  #flush = (): void => {
    this.#flushQueued = false;
    const ptr = this.#ptr;
    if (ptr === null) return;
    this.#submit(ptr);
    // Without a waiter, completions that are already there (page-cache
    // hits complete inside submit) are taken now, with no wake-up at all.
    if (!this.#waiting) {
      this.#drain(ptr);
      this.#arm(ptr);
    }
  };

  /** Hands every queued request to the kernel.  The C side says how many
   * are still queued (a full SQ submits early, inside prep). */
  #submit(ptr: Deno.PointerObject): void {
    if (this.#unsubmitted === 0) return;
    this.#sym.vb_ring_submit(ptr);
    this.#submitCalls++;
    const left = this.#sym.vb_ring_sq_ready(ptr);
    this.#submitted += this.#unsubmitted - left;
    this.#unsubmitted = left;
    // Still queued (EAGAIN/EBUSY: the kernel is short of room for now): try
    // again soon; a wake-up would only come for requests the kernel has.
    if (left > 0 && !this.#retryQueued) {
      this.#retryQueued = true;
      setTimeout(() => {
        this.#retryQueued = false;
        this.#flush();
      }, 1);
    }
  }

  /** Starts the one wait, for requests the kernel has (never for ones
   * still queued here: nothing would wake it). */
  #arm(ptr: Deno.PointerObject): void {
    if (this.#inFlight - this.#unsubmitted <= 0 || this.#waiting) return;
    this.#waiting = true;
    this.#sym.vb_ring_arm(ptr);
    this.#sym.vb_ring_wait(ptr).then(this.#onWake);
  }

  #onWake = (rc: number): void => {
    this.#waiting = false;
    const ptr = this.#ptr;
    if (ptr === null) return; // closed meanwhile: close() settled everything
    this.#wakeups++;
    this.#submit(ptr);
    const reaped = this.#drain(ptr);
    // A failing wait (rc < 0) that brought nothing must not spin: look
    // again a little later.
    if (rc < 0 && reaped === 0) {
      setTimeout(() => {
        if (this.#ptr !== null) this.#arm(this.#ptr);
      }, 1);
      return;
    }
    this.#arm(ptr);
  };

  /** Settles every ready completion; returns how many. */
  #drain(ptr: Deno.PointerObject): number {
    const cqes = this.#cqes;
    let total = 0;
    for (;;) {
      const n = this.#sym.vb_ring_reap(ptr, 0);
      for (let i = 0; i < n; i++) this.#settle(cqes[2 * i], cqes[2 * i + 1]);
      if (n > 0) total += n;
      if (n < this.#cqeCap) return total;
    }
  }

  /** Removes a request from the table; its buffer stops being busy unless
   * `keepBusy` (the kernel may still be using it). */
  #take(slot: number, keepBusy = false): Pending | undefined {
    const p = this.#pending[slot];
    if (p === undefined) return undefined;
    this.#pending[slot] = undefined;
    this.#freeSlots.push(slot);
    this.#inFlight--;
    this.#completed++;
    if (!keepBusy) p.buf?.[kBusy](-1);
    return p;
  }

  #settle(slot: number, res: number): void {
    const p = this.#take(slot);
    if (p === undefined) return;
    if (res >= 0) p.resolve(res);
    else p.reject(ioError(res, p.op, p.fd, p.offset, p.length, p.direct));
  }

  #settleClosed(slot: number, res: number, keepBusy: boolean): void {
    const p = this.#take(slot, keepBusy);
    if (p === undefined) return;
    const what = res >= 0 ? `completed with ${res} bytes` : `ended with ${errnoName(res)}`;
    p.reject(
      new RingClosedError(`the ring was closed while this request was in flight (${what})`, res),
    );
  }
}

function closedError(): RingClosedError {
  return new RingClosedError("the ring is closed: create a new Ring for more I/O");
}

/** The descriptor behind a RingFile, after O_DIRECT alignment checks. */
function resolveFile(
  file: RingFile,
  offset: number,
  length: number,
): { fd: number; direct: boolean } | Error {
  if (!Number.isInteger(offset) || offset < 0 || offset > Number.MAX_SAFE_INTEGER) {
    return new RangeError(`fileOffset must be a non-negative integer, got ${offset}`);
  }
  if (typeof file === "number") {
    if (!Number.isInteger(file) || file < 0 || file > 0x7fffffff) {
      return new TypeError(`file must be a FileHandle or a file descriptor, got ${file}`);
    }
    return { fd: file, direct: false };
  }
  let fd;
  try {
    fd = file.fd;
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
  return { fd, direct: file.direct };
}

function ioError(
  code: number,
  op: number,
  fd: number,
  offset: number,
  length: number,
  direct: boolean,
): IoError {
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
  return new IoError(
    `${verb} of ${length} bytes at offset ${offset} on fd ${fd} failed: ${name}: ${
      describe(code)
    }${hint}`,
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

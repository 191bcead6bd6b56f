/**
 * Typed errors.  Each message says what happened and what to do about it.
 *
 * @module
 */

/** Base class of every error this package throws (besides RangeError and
 * TypeError for invalid arguments). */
export class VeloqError extends Error {
  /** The error class name. */
  override name = "VeloqError";
  /** The C core's error code (negative), when the error came from it. */
  readonly code: number | undefined;
  /** A message, and optionally the C core's code and the cause. */
  constructor(message: string, options?: { code?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code;
  }
}

/** No free block fits the request and the pool's policy is to fail. */
export class PoolExhaustedError extends VeloqError {
  /** The error class name. */
  override name = "PoolExhaustedError";
}

/** A buffer was released twice at the C level (already free). */
export class DoubleFreeError extends VeloqError {
  /** The error class name. */
  override name = "DoubleFreeError";
}

/** A pointer or handle that does not name a buffer of this pool. */
export class ForeignBufferError extends VeloqError {
  /** The error class name. */
  override name = "ForeignBufferError";
}

/** A FixedBuf was used after release() (or after being given away). */
export class BufferReleasedError extends VeloqError {
  /** The error class name. */
  override name = "BufferReleasedError";
}

/** release() was called while the kernel still uses the buffer for I/O. */
export class BufferBusyError extends VeloqError {
  /** The error class name. */
  override name = "BufferBusyError";
}

/** The pool was used after close(). */
export class PoolClosedError extends VeloqError {
  /** The error class name. */
  override name = "PoolClosedError";
}

/** close() was called while buffers are still live. */
export class PoolBusyError extends VeloqError {
  /** The error class name. */
  override name = "PoolBusyError";
  /** How many buffers were live. */
  readonly liveBuffers: number;
  /** The message and the live count. */
  constructor(message: string, liveBuffers: number) {
    super(message);
    this.liveBuffers = liveBuffers;
  }
}

/** pool.check() found a broken invariant: the pool's memory is not trustworthy. */
export class PoolCorruptedError extends VeloqError {
  /** The error class name. */
  override name = "PoolCorruptedError";
}

/** io_uring cannot be used in this process (old kernel, seccomp, sysctl). */
export class IoUringUnavailableError extends VeloqError {
  /** The error class name. */
  override name = "IoUringUnavailableError";
}

/** The kernel (or our pre-check) refused to register a pool's memory. */
export class RegistrationError extends VeloqError {
  /** The error class name. */
  override name = "RegistrationError";
}

/** Registering would pin more memory than RLIMIT_MEMLOCK allows. */
export class MemlockError extends RegistrationError {
  /** The error class name. */
  override name = "MemlockError";
  /** Bytes the registration needed to pin. */
  readonly bytesNeeded: number;
  /** RLIMIT_MEMLOCK soft limit in bytes (-1: unlimited). */
  readonly limit: number;
  /** The message, the bytes to pin, the limit and the C core's code. */
  constructor(message: string, bytesNeeded: number, limit: number, code?: number) {
    super(message, { code });
    this.bytesNeeded = bytesNeeded;
    this.limit = limit;
  }
}

/** The kernel refused the memory behind an arena when it was mapped (a
 * Worker's first allocation from a lazy share): RLIMIT_DATA, RLIMIT_AS,
 * vm.overcommit or vm.max_map_count. Nothing was handed out; a later
 * allocation tries again. */
export class ArenaMapError extends VeloqError {
  /** The error class name. */
  override name = "ArenaMapError";
  /** Bytes the arena needed. */
  readonly bytesNeeded: number;
  /** The message, the arena's size and the C core's code. */
  constructor(message: string, bytesNeeded: number, code?: number) {
    super(message, { code });
    this.bytesNeeded = bytesNeeded;
  }
}

/** An I/O request failed: the kernel's negative result, with its errno name. */
export class IoError extends VeloqError {
  /** The error class name. */
  override name = "IoError";
  /** The errno name, e.g. "EFAULT". */
  readonly errnoName: string;
  /** The errno value (positive). */
  readonly errno: number;
  /** The message, the errno value and its name. */
  constructor(message: string, errno: number, errnoName: string) {
    super(message, { code: -errno });
    this.errno = errno;
    this.errnoName = errnoName;
  }
}

/** The ring was closed: before a request was made, or while it was in flight. */
export class RingClosedError extends VeloqError {
  /** The error class name. */
  override name = "RingClosedError";
  /** For a request in flight at close: what the kernel reported for it
   * (bytes, or -errno such as -125 ECANCELED); undefined otherwise. */
  readonly result: number | undefined;
  /** The message and the kernel's result for a request in flight. */
  constructor(message: string, result?: number) {
    super(message);
    this.result = result;
  }
}

// --- network (src/net/; owner w16) ---------------------------------------

/** A connection or listener was closed: before a request was made, or
 * while it was pending (the kernel's result is in `result`). */
export class ConnectionClosedError extends VeloqError {
  /** The error class name. */
  override name = "ConnectionClosedError";
  /** For a request pending at close: what the kernel reported for it
   * (bytes, or -errno such as -125 ECANCELED); undefined otherwise. */
  readonly result: number | undefined;
  /** The message and the kernel's result for a pending request. */
  constructor(message: string, result?: number) {
    super(message);
    this.result = result;
  }
}

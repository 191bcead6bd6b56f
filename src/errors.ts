/**
 * Typed errors.  Each message says what happened and what to do about it.
 *
 * @module
 */

/** Base class of every error this package throws (besides RangeError and
 * TypeError for invalid arguments). */
export class VeloqError extends Error {
  override name = "VeloqError";
  /** The C core's error code (negative), when the error came from it. */
  readonly code: number | undefined;
  constructor(message: string, options?: { code?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code;
  }
}

/** No free block fits the request and the pool's policy is to fail. */
export class PoolExhaustedError extends VeloqError {
  override name = "PoolExhaustedError";
}

/** A buffer was released twice at the C level (already free). */
export class DoubleFreeError extends VeloqError {
  override name = "DoubleFreeError";
}

/** A pointer or handle that does not name a buffer of this pool. */
export class ForeignBufferError extends VeloqError {
  override name = "ForeignBufferError";
}

/** A FixedBuf was used after release() (or after being given away). */
export class BufferReleasedError extends VeloqError {
  override name = "BufferReleasedError";
}

/** release() was called while the kernel still uses the buffer for I/O. */
export class BufferBusyError extends VeloqError {
  override name = "BufferBusyError";
}

/** The pool was used after close(). */
export class PoolClosedError extends VeloqError {
  override name = "PoolClosedError";
}

/** close() was called while buffers are still live. */
export class PoolBusyError extends VeloqError {
  override name = "PoolBusyError";
  /** How many buffers were live. */
  readonly liveBuffers: number;
  constructor(message: string, liveBuffers: number) {
    super(message);
    this.liveBuffers = liveBuffers;
  }
}

/** pool.check() found a broken invariant: the pool's memory is not trustworthy. */
export class PoolCorruptedError extends VeloqError {
  override name = "PoolCorruptedError";
}

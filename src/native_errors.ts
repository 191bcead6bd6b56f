/**
 * Turns the C core's negative error codes into typed errors.
 *
 * @module
 */
import { Err } from "../ffi/constants.ts";
import { cString, lib } from "../ffi/loader.ts";
import {
  DoubleFreeError,
  ForeignBufferError,
  PoolBusyError,
  PoolCorruptedError,
  PoolExhaustedError,
  VeloqError,
} from "./errors.ts";

/** Names of the errno values the C core and the kernel return. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  21: "EISDIR",
  22: "EINVAL",
  19: "ENODEV",
  20: "ENOTDIR",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  32: "EPIPE",
  34: "ERANGE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  75: "EOVERFLOW",
  95: "EOPNOTSUPP",
  125: "ECANCELED",
  // network
  61: "ENODATA",
  88: "ENOTSOCK",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
};

/** "ENOMEM" for -12 or 12; "E<n>" when unknown. */
export function errnoName(code: number): string {
  const n = Math.abs(code);
  return ERRNO_NAMES[n] ?? `E${n}`;
}

/** The C core's own description of a code. */
export function describe(code: number): string {
  return cString(lib().symbols.vb_strerror(code));
}

/** What a pool needs to be described in an error. */
interface PoolLike {
  readonly name: string;
  stats(): {
    liveBuffers: number;
    largestFree: number;
    capacityBytes: number;
    arenas?: number;
    maxArenas?: number;
  };
}

/** The typed error for a pool operation that returned `code`. */
export function poolError(code: number, pool: PoolLike, size?: number, detail?: string): Error {
  const where = `pool "${pool.name}"`;
  switch (code) {
    case Err.ENOMEM: {
      const s = pool.stats();
      const grown = s.maxArenas !== undefined && s.maxArenas > 1 && s.arenas === s.maxArenas
        ? ` It has grown to its limit of ${s.maxArenas} arenas (growth.maxArenas).`
        : "";
      return new PoolExhaustedError(
        `${where} is exhausted: no free block for ${size} bytes (largest free ${s.largestFree} of ${s.capacityBytes} bytes, ${s.liveBuffers} live buffers).${grown} Release buffers, create the pool larger${
          grown ? " or raise growth.maxArenas" : ""
        }, use tryAlloc(), or set onExhausted: "fallback".`,
        { code },
      );
    }
    case Err.ERANGE:
      return new RangeError(
        `${where} can never serve ${size} bytes: it is larger than its largest block`,
      );
    case Err.EINVAL:
      return new RangeError(
        `${where}: invalid argument${size === undefined ? "" : ` (size ${size})`}`,
      );
    case Err.EDOUBLEFREE:
      return new DoubleFreeError(`${where}: ${describe(code)}`, { code });
    case Err.EINTERIOR:
    case Err.EFAULT:
      return new ForeignBufferError(`${where}: ${describe(code)}`, { code });
    case Err.EBUSY: {
      const live = pool.stats().liveBuffers;
      return new PoolBusyError(
        `${where} still has ${live} live buffer(s): release them first`,
        live,
      );
    }
    case Err.ECORRUPT:
      return new PoolCorruptedError(`${where} is corrupted: ${detail ?? describe(code)}`, { code });
    default:
      return new VeloqError(`${where}: ${errnoName(code)}: ${describe(code)}`, { code });
  }
}

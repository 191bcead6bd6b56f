/**
 * Constants mirrored from csrc/include/veloq_buffer.h.  They change only
 * together with ABI_VERSION (checked when the library is loaded).
 *
 * @module
 */

/** Page size every buffer is aligned to. */
export const PAGE_SIZE = 4096;
/** Most rings one pool may be registered with (VB_MAX_POOL_RINGS). */
export const MAX_POOL_RINGS = 8;
/** Most arenas one pool may grow to (VB_MAX_ARENAS). */
export const MAX_ARENAS = 1024;
/** Handles are [arena:11][page:20]. */
export const HANDLE_PAGE_BITS = 20;
/** Page bits of a handle. */
export const HANDLE_PAGE_MASK = (1 << 20) - 1;
/** Arena number marking a buffer from the global allocator. */
export const HANDLE_FALLBACK_ARENA = 0x7ff;

/** Error codes returned by the C core (negative errno, or VB_E*). */
export const Err = {
  ENOMEM: -12,
  EFAULT: -14,
  EBUSY: -16,
  EINVAL: -22,
  ERANGE: -34,
  EDOUBLEFREE: -4001,
  EINTERIOR: -4002,
  ECORRUPT: -4003,
  EMEMLOCK: -4004,
  ENOSLOTS: -4005,
  EKMEMLOCK: -4006,
  EATTACHED: -4007,
  ESTALE: -4008,
  EMAP: -4009,
} as const;

/** Operations of vb_ring_prep. */
export const Op = { READ: 0, WRITE: 1 } as const;

/** CQE flags as the kernel sets them (the third int of each completion). */
export const CqeFlag = {
  BUFFER: 1 << 0,
  MORE: 1 << 1,
  SOCK_NONEMPTY: 1 << 2,
  NOTIF: 1 << 3,
} as const;

/** user_data of an internal SQE that settles nothing (a cancel, a linked
 * timeout): its CQE is consumed in C (VB_RING_UD_IGNORE). */
export const UD_IGNORE = 0xfffffff1;

/** vb_ring_create flags. */
export const RingFlag = {
  NO_MEMLOCK_PRECHECK: 1 << 0,
  SQPOLL: 1 << 1,
  SINGLE_ISSUER: 1 << 2,
} as const;

/** vb_file_open flags. */
export const FileFlag = {
  READ: 1 << 0,
  WRITE: 1 << 1,
  CREATE: 1 << 2,
  TRUNCATE: 1 << 3,
  DIRECT: 1 << 4,
  EXCLUSIVE: 1 << 5,
  APPEND: 1 << 6,
  DSYNC: 1 << 7,
  SYNC: 1 << 8,
} as const;

/** Pool creation flags. */
export const Flag = {
  FALLBACK_ON_EXHAUSTED: 1 << 0,
  POPULATE: 1 << 1,
  NO_DOUBLE_FREE_BITSET: 1 << 2,
  RELEASE_EMPTY_ARENAS: 1 << 3,
  HUGE_PAGES: 1 << 4,
  POISON: 1 << 5,
} as const;

/** Slots of vb_pool_out(): last alloc's outputs, then the deferred-free queue. */
export const Out = {
  CAPACITY: 0,
  BUF_INDEX: 1,
  QUEUED: 2,
  QUEUE_ERRORS: 3,
  ARENA_EPOCH: 4,
  QUEUE: 5,
  QUEUE_CAP: 59,
  LEN: 64,
} as const;

/** Slots of vb_pool_stats(). */
export const Stat = {
  LIVE_BUFFERS: 0,
  BYTES_IN_USE: 1,
  CAPACITY_BYTES: 2,
  FREE_BYTES: 3,
  CACHED_BUFFERS: 4,
  LARGEST_FREE: 5,
  FALLBACK_BUFFERS: 6,
  FALLBACK_BYTES: 7,
  ALLOCS: 8,
  FREES: 9,
  FAILED_ALLOCS: 10,
  ARENAS: 11,
  CLASSES: 12,
  MAX_ARENAS: 13,
  GROWS: 14,
  HUGE_ARENAS: 15,
  THP_ARENAS: 16,
  ATTACHED: 17,
  REMOTE_ERRORS: 18,
  QUEUE_ERRORS: 19,
  LEN: 20,
} as const;

/** Slots of vb_pool_class_stats(). */
export const ClassStat = { SIZE: 0, TOTAL: 1, FREE: 2, LEN: 3 } as const;

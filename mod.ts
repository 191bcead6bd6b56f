/**
 * veloq buffer: page-aligned, address-stable buffer pools for fast kernel
 * I/O from Deno.  Buffers come out of a pool as {@linkcode FixedBuf}s and go
 * back with `using`.
 *
 * ```ts
 * import { BuddyPool } from "@veloq/buffer";
 *
 * using pool = BuddyPool.create();           // 32 MiB arena
 * {
 *   using buf = pool.alloc(16 * 1024);       // 16 KiB, 4 KiB aligned
 *   buf.bytes.set([1, 2, 3]);                // a view, no copy
 * }                                          // back in the pool here
 * console.log(pool.stats().liveBuffers);     // 0
 * ```
 *
 * Needs `--allow-ffi`. Imported from JSR, the package also downloads its
 * prebuilt native library once (verified by SHA-256, then cached): grant
 * `--allow-net` for the first run and `--allow-read`/`--allow-write` for the
 * cache and `--allow-env`; or point `VELOQ_BUFFER_LIB` at a library of your
 * own.
 *
 * @module
 */
export {
  type BufPool,
  type ClassStats,
  NativePool,
  type PoolStats,
  type Region,
  type SharedPool,
} from "./src/pool.ts";
export { FixedBuf, type TransferredBuf } from "./src/fixed_buf.ts";
export { attachBuf, AttachedPool, attachPool } from "./src/attached_pool.ts";
export type { AllocAsyncOptions } from "./src/waiters.ts";
export { BufScope } from "./src/scope.ts";
export { BUDDY_DEFAULT_ARENA, BuddyPool, type BuddyPoolOptions } from "./src/buddy_pool.ts";
export {
  HYBRID_DEFAULT_CLASSES,
  HybridPool,
  type HybridPoolOptions,
  type SizeClass,
} from "./src/hybrid_pool.ts";
export type { CommonPoolOptions, GrowthOptions, LeakReport } from "./src/create.ts";
export {
  type RawBuffer,
  Ring,
  type RingFile,
  type RingOptions,
  type RingStats,
  type SubmitPolicy,
} from "./src/ring.ts";
export { FileHandle, openFile, type OpenFileOptions } from "./src/file.ts";
export type {
  FallocateOptions,
  FsyncOptions,
  ReadWriteOptions,
  RequestOptions,
} from "./src/file_ops.ts";
export { type RingAddr, RingConn, type SendOptions, type WriteOptions } from "./src/net/conn.ts";
export { RingListener } from "./src/net/listener.ts";
export {
  BufferGroup,
  type BufferGroupStats,
  type ProvideBuffersOptions,
} from "./src/net/buffer_group.ts";
export type { ConnectOptions, ListenOptions } from "./src/net/net.ts";
import "./src/net/default_pool.ts";
export type { NetFeatures, RequestOptions as NetRequestOptions } from "./src/net/host.ts";
export {
  ArenaMapError,
  BufferBusyError,
  BufferReleasedError,
  ConnectionClosedError,
  DoubleFreeError,
  ForeignBufferError,
  IoError,
  IoUringUnavailableError,
  MemlockError,
  PoolBusyError,
  PoolClosedError,
  PoolCorruptedError,
  PoolExhaustedError,
  RegistrationError,
  RingClosedError,
  VeloqError,
} from "./src/errors.ts";
export {
  fetchPrebuiltLibrary,
  loadLibrary,
  type LoadOptions,
  NativeLibraryError,
} from "./ffi/loader.ts";
export type { RemoteOptions } from "./ffi/remote.ts";

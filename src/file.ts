/**
 * openFile: files opened by the C core, so that O_DIRECT is possible (Deno.open
 * cannot set it, and a Deno.FsFile has no file descriptor to give a Ring).
 *
 * @module
 */
import { FileFlag } from "../ffi/constants.ts";
import { lib } from "../ffi/loader.ts";
import { IoError } from "./errors.ts";
import { kHold } from "./hold.ts";
import { errnoName } from "./native_errors.ts";
import { boolOption, intOption, knownKeys } from "./options.ts";

/** Options of {@linkcode openFile}. At least one of read and write. */
export interface OpenFileOptions {
  /** Open for reading. Default true unless `write` is set. */
  read?: boolean;
  /** Open for writing. Default false. */
  write?: boolean;
  /** Create the file when missing (needs write). Default false. */
  create?: boolean;
  /** Cut the file to length 0 (needs write). Default false. */
  truncate?: boolean;
  /**
   * O_DIRECT: bypass the page cache. File offsets, lengths and buffer
   * addresses must then be multiples of {@linkcode FileHandle.alignment}
   * (pool buffers are 4096-aligned, so pass aligned offsets and lengths).
   * Default false.
   */
  direct?: boolean;
  /** Permission bits for a created file. Default 0o644. */
  mode?: number;
  /**
   * O_EXCL: fail with `EEXIST` when the file already exists (needs
   * `create`): the way to make a new file and know it is yours. Default false.
   */
  exclusive?: boolean;
  /**
   * O_APPEND: every write goes to the current end of the file, whatever
   * offset it names (Linux ignores pwrite offsets on such files); needs
   * `write`. Default false.
   */
  append?: boolean;
  /**
   * O_DSYNC: each write is durable (its data and the metadata needed to
   * read it back) when it completes, as if followed by fdatasync; needs
   * `write`. Default false.
   */
  dsync?: boolean;
  /**
   * O_SYNC: like `dsync`, and all metadata (timestamps) too, as if each
   * write were followed by fsync; needs `write`. Includes `dsync`.
   * Default false.
   */
  sync?: boolean;
}

/**
 * An open file descriptor for {@linkcode Ring} I/O. Close it with `close()`
 * or `using`. Ring requests hold the handle until they complete: closing it
 * while some are queued or in flight refuses new requests at once and
 * closes the descriptor when the last one settles (fd numbers are reused by
 * the kernel at once, so a queued write could otherwise land in whatever
 * file is opened next).
 */
export class FileHandle implements Disposable {
  /** The path it was opened with. */
  readonly path: string;
  /** True when opened with O_DIRECT. */
  readonly direct: boolean;
  /** O_DIRECT alignment of offsets and lengths for this file (statx), in bytes. */
  readonly alignment: number;
  #fd: number;
  /** The descriptor until the real close(2) (#fd is -1 from close()). */
  #open: number;
  /** Ring requests holding the handle. */
  #holds = 0;

  /** @ignore Made by {@linkcode openFile}. */
  constructor(fd: number, path: string, direct: boolean) {
    this.#fd = fd;
    this.#open = fd;
    this.path = path;
    this.direct = direct;
    this.alignment = direct ? lib().symbols.vb_file_dio_align(fd) : 1;
  }

  /** The file descriptor; throws after close(). */
  get fd(): number {
    if (this.#fd < 0) throw closedFile(this.path);
    return this.#fd;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** The file's size in bytes now. */
  size(): number {
    const n = lib().symbols.vb_file_size(this.fd);
    if (n < 0) throw fileError("fstat", this.path, n);
    return n;
  }

  /** Ring requests using the handle now (queued or in flight). */
  get pendingRequests(): number {
    return this.#holds;
  }

  /**
   * Closes the descriptor. With ring requests queued or in flight the
   * handle is closed for new use at once and the descriptor is closed when
   * the last of them settles. A second call does nothing.
   */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    if (this.#holds > 0) return; // the last request's settlement closes it
    this.#open = -1;
    const rc = lib().symbols.vb_file_close(fd);
    if (rc < 0) throw fileError("close", this.path, rc);
  }

  /** @ignore Internal: a ring request starts (+1) or ends (-1) using the
   * descriptor; +1 throws once the handle is closed. */
  [kHold](delta: 1 | -1): void {
    if (delta > 0) {
      if (this.#fd < 0) throw closedFile(this.path);
      this.#holds++;
      return;
    }
    if (--this.#holds > 0 || this.#fd >= 0 || this.#open < 0) return;
    // Deferred close(2): nobody is left to hear an error (close errors on
    // regular files come from write-back, which fsync reports instead).
    const fd = this.#open;
    this.#open = -1;
    lib().symbols.vb_file_close(fd);
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }
}

const OPEN_FILE_OPTIONS = [
  "read",
  "write",
  "create",
  "truncate",
  "direct",
  "mode",
  "exclusive",
  "append",
  "dsync",
  "sync",
] as const;

/**
 * Opens a file for Ring I/O, optionally with O_DIRECT.
 *
 * ```ts
 * import { openFile } from "@veloq/buffer";
 * using file = openFile("/tmp/data.bin", { write: true, create: true, direct: true });
 * console.log(file.fd, file.alignment);
 * ```
 *
 * Throws {@linkcode IoError} (errno name in `errnoName`) when open(2) fails;
 * EINVAL with `direct` usually means the file system has no O_DIRECT (tmpfs
 * before Linux 6.6).
 */
export function openFile(path: string | URL, options: OpenFileOptions = {}): FileHandle {
  knownKeys("openFile", options, OPEN_FILE_OPTIONS);
  const p = path instanceof URL ? decodeURIComponent(path.pathname) : path;
  if (typeof p !== "string" || p.length === 0) {
    throw new TypeError("openFile: path must be a non-empty string or a file: URL");
  }
  const write = boolOption("write", options.write, false);
  const read = boolOption("read", options.read, !write);
  const create = boolOption("create", options.create, false);
  const truncate = boolOption("truncate", options.truncate, false);
  const direct = boolOption("direct", options.direct, false);
  const mode = intOption("mode", options.mode, 0, 0o7777, 0o644);
  if (!read && !write) throw new TypeError("openFile: options read and write are both false");
  if ((create || truncate) && !write) {
    throw new TypeError("openFile: options create and truncate need write: true");
  }
  const more = openFlags(options, write, create);
  let flags = 0;
  if (read) flags |= FileFlag.READ;
  if (write) flags |= FileFlag.WRITE;
  if (create) flags |= FileFlag.CREATE;
  if (truncate) flags |= FileFlag.TRUNCATE;
  if (direct) flags |= FileFlag.DIRECT;
  flags |= more;
  const cpath = new TextEncoder().encode(p + "\0");
  const fd = lib().symbols.vb_file_open(cpath, flags, mode);
  if (fd < 0) {
    const hint = direct && fd === -22
      ? " (this file system does not support O_DIRECT; try a file on ext4/xfs/btrfs)"
      : "";
    throw fileError("open", p, fd, hint);
  }
  return new FileHandle(fd, p, direct);
}

/** The flags exclusive, append, dsync and sync, checked against the rest:
 * a combination that cannot mean what it says is a TypeError naming it. */
function openFlags(options: OpenFileOptions, write: boolean, create: boolean): number {
  const exclusive = boolOption("exclusive", options.exclusive, false);
  const append = boolOption("append", options.append, false);
  const dsync = boolOption("dsync", options.dsync, false);
  const sync = boolOption("sync", options.sync, false);
  if (exclusive && !create) {
    throw new TypeError(
      "openFile: option exclusive needs create: true (O_EXCL only means something with O_CREAT)",
    );
  }
  const writeOnly = [append && "append", dsync && "dsync", sync && "sync"].filter(Boolean);
  if (writeOnly.length > 0 && !write) {
    throw new TypeError(
      `openFile: option${writeOnly.length > 1 ? "s" : ""} ${writeOnly.join(" and ")} need${
        writeOnly.length > 1 ? "" : "s"
      } write: true (they only change how writes behave)`,
    );
  }
  let flags = 0;
  if (exclusive) flags |= FileFlag.EXCLUSIVE;
  if (append) flags |= FileFlag.APPEND;
  if (dsync) flags |= FileFlag.DSYNC;
  if (sync) flags |= FileFlag.SYNC;
  return flags;
}

function closedFile(path: string): IoError {
  return new IoError(`file ${path} is closed`, 9, "EBADF");
}

function fileError(what: string, path: string, code: number, hint = ""): IoError {
  const name = errnoName(code);
  return new IoError(`${what} ${path}: ${name}${hint}`, -code, name);
}

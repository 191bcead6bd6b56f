/**
 * File operations of a Ring beyond plain read/write: fsync, readv/writev,
 * fallocate, truncate, and the request options every file request takes
 * (`{ signal, timeout, link }`, plus `length` for read/write). The Ring's
 * public methods are thin delegations to the functions here; the SQEs are
 * prepared by csrc/ring_ops.c through the ring's internal request API
 * (`ring[kRequest]`, src/ring.ts).
 *
 * ## How the options map to io_uring
 * - `signal`: aborting sends IORING_OP_ASYNC_CANCEL for that one request;
 *   the promise rejects with `signal.reason` once the kernel is done with
 *   the request (its buffers stay busy until then). A request the kernel
 *   already finished cannot be undone: an aborted write may have written.
 * - `timeout` (ms): an IORING_OP_LINK_TIMEOUT right after the request; on
 *   expiry the kernel cancels it and the promise rejects with a
 *   `DOMException` named `TimeoutError`. The clock starts when the request
 *   starts in the kernel (for a linked request: after its predecessor).
 * - `link: true`: the NEXT file request made on this ring runs only after
 *   this one succeeds (a short read/write counts as a failure, as in the
 *   kernel); when it fails, the linked ones reject with an `IoError` whose
 *   `errnoName` is `ECANCELED`. Requests made in the same synchronous run
 *   go to the kernel as one IOSQE_IO_LINK chain in one submit. A request
 *   made later (after an `await`) is linked here instead: it is sent when
 *   its predecessor succeeded, or rejected with ECANCELED when it failed.
 *   Either way the guarantee is the same.
 *
 * @module
 */
import { CqeFlag } from "../ffi/constants.ts";
import { lib } from "../ffi/loader.ts";
import type { VeloqLib } from "../ffi/symbols.ts";
import { IoError, RingClosedError } from "./errors.ts";
import { signalTimeoutError } from "./options.ts";
import { FileHandle } from "./file.ts";
import { type FixedBuf, kBusy, registrarsOf } from "./fixed_buf.ts";
import { kHold } from "./hold.ts";
import { describe, errnoName } from "./native_errors.ts";
import {
  kCork,
  kInternal,
  kRequest,
  kReserve,
  kRingPtr,
  type RawBuffer,
  type RequestHold,
  type Ring,
  type RingFile,
} from "./ring.ts";

/** Options every file request takes (the last argument of each op). */
export interface RequestOptions {
  /** Aborting cancels this request (IORING_OP_ASYNC_CANCEL); the promise
   * rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds the request may take once started (IORING_OP_LINK_TIMEOUT);
   * then it is cancelled and rejects with a `DOMException` named `TimeoutError`. */
  timeout?: number;
  /** The next file request made on this ring runs only after this one
   * succeeds (IOSQE_IO_LINK); if this one fails, that one rejects with
   * `IoError` ECANCELED. */
  link?: boolean;
}

/** Options of `ring.read` / `ring.write` (4th argument; a number there is `length`). */
export interface ReadWriteOptions extends RequestOptions {
  /** Bytes to transfer from the start of the buffer; default its capacity. */
  length?: number;
}

/** Options of `ring.fsync`. */
export interface FsyncOptions extends RequestOptions {
  /** fdatasync: only the data and the metadata needed to read it back
   * (IORING_FSYNC_DATASYNC). Default false (fsync: all metadata too). */
  dataOnly?: boolean;
}

/** Options of `ring.fallocate`. */
export interface FallocateOptions extends RequestOptions {
  /** FALLOC_FL_KEEP_SIZE: allocate blocks without changing the file size. */
  keepSize?: boolean;
  /** FALLOC_FL_PUNCH_HOLE: free the range (reads give zeros); the size stays. */
  punchHole?: boolean;
}

// Kernel numbers used here.
const ECANCELED = -125;
const ETIME = -62;
const IOSQE_IO_LINK = 1 << 2;
const OP_READ = 0;
const MAX_IOVECS = 1024;

/** A request's life: waiting for a predecessor (linked in JS), with the
 * kernel, or settled. */
const WAITING = 0, IN_KERNEL = 1, SETTLED = 2;

/** What to send for one request. */
interface Spec {
  /** Prepares the op's one SQE (0 or -errno; vb_op_vec may return 1). */
  prep: (ring: Deno.PointerObject, userData: number) => number;
  hold: RequestHold;
  /** The result that counts as success for a link (read/write: the length);
   * -1: any result >= 0. */
  expect: number;
  /** For error messages: "fsync of fd 5". */
  what: string;
  direct: boolean;
  /** Memory the kernel reads at submit time (iovecs), kept until settled. */
  keep?: unknown;
  /** Runs the op without io_uring (truncate on kernels before 6.9). */
  fallback?: () => Promise<number>;
}

class FileReq {
  state = WAITING;
  ud = -1;
  res: number | undefined = undefined;
  timed = false;
  tres: number | undefined = undefined;
  closing = false;
  /** Settled with a result a link counts as success. */
  ok = false;
  /** Rejected because the request it was linked to failed. */
  linkFailed = false;
  abortReason: unknown = undefined;
  aborted = false;
  /** The request linked to this one in JS (made after this one was sent). */
  next: FileReq | null = null;
  /** The link timeout's time, read by the kernel at submit. */
  ts: BigInt64Array | null = null;
  /** Holds taken here while the request waits in JS for its predecessor
   * (its buffers busy, its file held open), kept until its CQE. */
  held: RequestHold | null = null;
  onAbort: (() => void) | null = null;
  resolve!: (n: number) => void;
  reject!: (e: unknown) => void;
  constructor(
    readonly ring: Ring,
    readonly spec: Spec,
    readonly signal: AbortSignal | undefined,
    readonly timeout: number | undefined,
    readonly link: boolean,
  ) {}
}

/** Per ring: the request the next one links to (`tail`), and the kernel
 * chain being built in this synchronous run, if any (`open`: corked, its
 * SQEs still in the SQ; `last`: the request whose SQE ends it). The two are
 * not always the same request: a request linked in JS earlier, sent when its
 * predecessor completes, opens a chain of its own while `tail` may be
 * another request still in flight. Only a request linked to `last` may
 * continue the chain in the kernel. */
interface Chain {
  tail: FileReq | null;
  open: boolean;
  last: FileReq | null;
  gen: number;
}

const chains = new WeakMap<Ring, Chain>();
/** Chains open (corked) on any ring of this thread: a cheap test for
 * {@linkcode beforeOtherRequest}. */
let openChains = 0;
/** True while this module queues its own SQEs. */
let preparing = false;

function chainOf(ring: Ring): Chain {
  let c = chains.get(ring);
  if (c === undefined) {
    c = { tail: null, open: false, last: null, gen: 0 };
    chains.set(ring, c);
  }
  return c;
}

/** True while a link from a previous file request is pending on `ring`
 * (read/write must then come through here). */
export function linkPending(ring: Ring): boolean {
  if (linkTails === 0 && openChains === 0) return false;
  // Also while a chain is open with no tail (its last request was refused
  // or aborted before it started): the next request must close it first,
  // or its SQE would land behind a linked one (review 14d #5).
  const c = chains.get(ring);
  return c !== undefined && (c.tail !== null || c.open);
}

/** Rings of this thread whose next file request is linked: lets plain
 * read/write skip the lookup above (one compare on their hot path). */
let linkTails = 0;

function setTail(chain: Chain, r: FileReq | null): void {
  if ((chain.tail === null) !== (r === null)) linkTails += r === null ? -1 : 1;
  chain.tail = r;
}

/** Ends the kernel chain being built: what is queued goes to the kernel
 * now, and the last request's IOSQE_IO_LINK points at nothing (the kernel
 * runs a chain cut at the end of a submit as it is). Later requests link in
 * JS. Called at the end of the synchronous run, and before any SQE that is
 * not the chain's next link. */
export function closeChain(ring: Ring): void {
  const c = chains.get(ring);
  if (c === undefined || !c.open) return;
  c.open = false;
  c.last = null;
  openChains--;
  ring[kCork](-1);
  ring.submit();
}

/** Called by the ring before an SQE that does not come from here (a
 * network request, another module's cancel): it must not land inside an
 * open chain, where the kernel would link it. */
export function beforeOtherRequest(ring: Ring): void {
  if (openChains > 0 && !preparing) closeChain(ring);
}

let sym: VeloqLib["symbols"] | null = null;
const native = () => sym ??= lib().symbols;

/** Test hook: behave as on a kernel without IORING_OP_FTRUNCATE. */
let noFtruncateOp = false;
/** @ignore For tests: force (or stop forcing) the ftruncate(2) fallback. */
export function forceTruncateFallback(on: boolean): void {
  noFtruncateOp = on;
}

/** Makes one request with its options; the promise of its result. */
function request(
  ring: Ring,
  spec: Spec,
  options: RequestOptions | undefined,
  allowed: readonly string[],
): Promise<number> {
  const { signal, timeout, link } = requestOptions(options, allowed); // throws: refused
  if (ring.closed) return Promise.reject(closedError());
  if (timeout !== undefined && ring.entries < 2) {
    // The request and its linked timeout must go in one submit (review 14d #6).
    throw new RangeError(
      `a request with a timeout needs 2 submission queue entries; this ring has entries: ${ring.entries}`,
    );
  }
  const r = new FileReq(ring, spec, signal, timeout, link);
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  r.resolve = resolve;
  r.reject = reject;
  const chain = chainOf(ring);
  const pred = chain.tail;
  setTail(chain, null);
  if (signal?.aborted) {
    // Never starts; a request linked to it fails like after any failure.
    r.aborted = true;
    r.abortReason = signal.reason;
    finish(r);
  } else {
    if (signal !== undefined) {
      r.onAbort = () => abort(r);
      signal.addEventListener("abort", r.onAbort, { once: true });
    }
    if (pred === null) send(r, false);
    else if (
      pred.state === IN_KERNEL && chain.open && chain.last === pred && canContinue(ring, r)
    ) send(r, true);
    else if (pred.state === SETTLED) {
      if (pred.ok) send(r, false);
      else failLinked(r, pred);
    } else {
      // The predecessor is with the kernel already (or waits itself): this
      // one is sent when it succeeds. Meanwhile it holds what it will use,
      // as a request with the kernel does (a close or a release now is
      // deferred, not a failure later).
      closeChain(ring);
      try {
        takeHolds(r);
        pred.next = r;
      } catch (e) {
        finishWith(r, e);
      }
    }
  }
  if (link) setTail(chain, r);
  return promise;
}

/** Takes r's holds now (throws, holding nothing, when one is released or
 * closed already). */
function takeHolds(r: FileReq): void {
  const { bufs, file } = r.spec.hold;
  let i = 0;
  try {
    if (bufs) { for (; i < bufs.length; i++) bufs[i][kBusy](1); }
    file?.[kHold](1);
  } catch (e) {
    while (i-- > 0) bufs![i][kBusy](-1);
    throw e;
  }
  r.held = r.spec.hold;
}

/** Lets go of the holds takeHolds took (once). */
function dropHolds(r: FileReq): void {
  const h = r.held;
  if (h === null) return;
  r.held = null;
  if (h.bufs) { for (const b of h.bufs) b[kBusy](-1); }
  h.file?.[kHold](-1);
}

/** Whether r can be the next SQE of the open chain (room for it and its
 * timeout in this submit). */
function canContinue(ring: Ring, r: FileReq): boolean {
  if (r.spec.fallback !== undefined) return false;
  const need = r.timeout === undefined ? 1 : 2;
  return native().vb_ring_sq_space(ring[kRingPtr]()) >= need;
}

/** Hands r to the kernel (or its fallback). `continuing`: r's SQE follows
 * the open chain's last one. */
function send(r: FileReq, continuing: boolean): void {
  const ring = r.ring;
  const chain = chainOf(ring);
  if (ring.closed) {
    r.closing = true;
    r.res = ECANCELED;
    return finish(r);
  }
  if (!continuing) closeChain(ring);
  if (r.spec.fallback !== undefined) return sendFallback(r);
  const need = r.timeout === undefined ? 1 : 2;
  if (!continuing && !ring[kReserve](need)) {
    r.res = -16; // EBUSY: the SQ cannot hold the request and its timeout
    return finish(r);
  }
  if (r.link && !chain.open) {
    // Hold the submit until the chain's next request is made (in this
    // synchronous run) or the run ends.
    chain.open = true;
    openChains++;
    ring[kCork](1);
    const gen = ++chain.gen;
    queueMicrotask(() => {
      if (chain.gen === gen) closeChain(ring);
    });
  }
  const linkAfter = r.link;
  const timed = r.timeout !== undefined;
  // The op and its timeout go out together (an idle ring submits a lone
  // request at once, which would leave the timeout nothing to time).
  const cork = timed && !chain.open;
  if (cork) ring[kCork](1);
  try {
    sendSqes(r, linkAfter, timed);
  } finally {
    if (cork) ring[kCork](-1);
  }
  if (chain.open && r.state === IN_KERNEL) {
    if (r.link) chain.last = r; // the next request linked to r may follow it
    else {
      // r ends the chain it continued: the chain is complete, submit may go.
      chain.open = false;
      chain.last = null;
      openChains--;
      ring[kCork](-1);
    }
  }
}

/** Queues r's SQE (and its link timeout's). */
function sendSqes(r: FileReq, linkAfter: boolean, timed: boolean): void {
  preparing = true;
  try {
    sendSqesNow(r, linkAfter, timed);
  } finally {
    preparing = false;
  }
}

function sendSqesNow(r: FileReq, linkAfter: boolean, timed: boolean): void {
  const ring = r.ring;
  let ud;
  try {
    ud = ring[kRequest](
      (ptr, u) => {
        const rc = r.spec.prep(ptr, u);
        if (rc >= 0 && linkAfter && !timed) native().vb_ring_link_last(ptr, IOSQE_IO_LINK);
        return rc;
      },
      r.held !== null ? null : r.spec.hold, // holds taken while waiting go on
      (res, flags, closing) => {
        if ((flags & CqeFlag.MORE) !== 0) return;
        dropHolds(r);
        r.res = res;
        r.closing ||= closing;
        if (!r.timed || r.tres !== undefined) finish(r);
      },
      r.spec.direct, // its submit policy (holds taken while waiting are not passed)
    );
  } catch (e) { // ring closed, buffer released, file closed
    endChainAt(r);
    return finishWith(r, e);
  }
  if (ud < 0) {
    endChainAt(r);
    r.res = ud;
    return finish(r);
  }
  r.ud = ud;
  r.state = IN_KERNEL;
  if (timed) {
    r.timed = true;
    r.ts = new BigInt64Array(2);
    const ts = r.ts;
    const ms = r.timeout!;
    const tud = ring[kRequest](
      (ptr, u) => {
        const rc = native().vb_op_link_timeout(ptr, ts, ms, u);
        if (rc >= 0 && linkAfter) native().vb_ring_link_last(ptr, IOSQE_IO_LINK);
        return rc;
      },
      null,
      (res, _flags, closing) => {
        r.tres = res;
        r.closing ||= closing;
        if (r.res !== undefined) finish(r);
      },
    );
    if (tud < 0) r.timed = false; // cannot happen (room reserved): runs untimed
  }
}

/** r failed before reaching the kernel: a chain it was to continue ends
 * at its predecessor. */
function endChainAt(r: FileReq): void {
  if (chainOf(r.ring).open) closeChain(r.ring);
}

/** truncate without IORING_OP_FTRUNCATE: ftruncate(2) on Deno's blocking
 * pool, holding the file meanwhile. Not cancellable once started. */
function sendFallback(r: FileReq): void {
  if (r.held === null) {
    try {
      takeHolds(r);
    } catch (e) {
      return finishWith(r, e);
    }
  }
  r.state = IN_KERNEL;
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (r.timeout !== undefined) {
    timer = setTimeout(() => {
      r.tres = ETIME;
    }, r.timeout);
  }
  r.spec.fallback!().then((res) => {
    clearTimeout(timer);
    dropHolds(r);
    r.res = res;
    // A timeout that passed while the syscall ran: the work is done, so the
    // result stands (as with a request the kernel finished first).
    finish(r);
  });
}

function abort(r: FileReq): void {
  if (r.state === SETTLED || r.aborted) return;
  r.aborted = true;
  r.abortReason = r.signal!.reason;
  if (r.state === WAITING) {
    // Not sent yet: fail it now (its predecessor's `next` still names it;
    // runNext skips a settled one).
    return finish(r);
  }
  // With the kernel: cancel it by user_data.
  if (r.spec.fallback !== undefined) return;
  cancelInKernel(r);
}

/** How often an aborted request still with the kernel is cancelled again. */
const RECANCEL_MS = 10;

/** Cancels r by user_data, again every RECANCEL_MS until its CQE came: a
 * request linked behind one still running has not started, the cancel does
 * not find it (ENOENT), and it starts once its predecessor completes
 * (review 14d #1). Safe: r's slot is not reused until its CQE was drained,
 * and r.res is set then, so a later round cannot hit another request. */
function cancelInKernel(r: FileReq): void {
  const ring = r.ring;
  if (r.res !== undefined || ring.closed) return;
  closeChain(ring); // no cancel SQE in the middle of a chain
  const target = r.ud;
  preparing = true;
  try {
    ring[kInternal]((ptr, u) => native().vb_op_cancel(ptr, target, u));
  } catch {
    return; // closing: close() cancels everything itself
  } finally {
    preparing = false;
  }
  ring.submit();
  setTimeout(() => cancelInKernel(r), RECANCEL_MS);
}

/** r never runs because `pred` failed. */
function failLinked(r: FileReq, pred: FileReq): void {
  r.linkFailed = true;
  if (pred.closing) r.closing = true;
  r.res = ECANCELED;
  finish(r);
}

function finishWith(r: FileReq, e: unknown): void {
  r.state = SETTLED;
  r.ok = false;
  detach(r);
  r.reject(e);
  runNext(r);
}

function detach(r: FileReq): void {
  dropHolds(r); // a request that never reached the kernel
  if (r.onAbort !== null) {
    r.signal!.removeEventListener("abort", r.onAbort);
    r.onAbort = null;
  }
  r.ts = null;
}

/** Settles r from its result(s), then lets its JS-linked successor go. */
function finish(r: FileReq): void {
  const wasWaiting = r.state === WAITING;
  r.state = SETTLED;
  detach(r);
  const res = r.res;
  const spec = r.spec;
  if (r.aborted && (wasWaiting || res === undefined)) {
    r.ok = false;
    r.reject(r.abortReason);
    return runNext(r);
  }
  r.ok = res !== undefined && res >= 0 && (spec.expect < 0 || res === spec.expect) && !r.aborted;
  if (r.closing && (res === undefined || res < 0)) {
    r.reject(
      new RingClosedError(
        `the ring was closed while this request was in flight (${spec.what})`,
        res ?? ECANCELED,
      ),
    );
  } else if (r.aborted) {
    r.reject(r.abortReason);
  } else if (res !== undefined && res >= 0) {
    r.resolve(res);
  } else if (r.tres === ETIME) {
    r.reject(
      new DOMException(`${spec.what} timed out after ${r.timeout} ms`, "TimeoutError"),
    );
  } else {
    r.reject(opError(res ?? ECANCELED, spec, r.linkFailed));
  }
  runNext(r);
}

function runNext(r: FileReq): void {
  const next = r.next;
  r.next = null;
  if (next === null) return;
  if (next.state !== WAITING) return; // aborted while waiting
  if (r.ok) send(next, false);
  else failLinked(next, r);
}

function opError(code: number, spec: Spec, linkFailed: boolean): IoError {
  const name = errnoName(code);
  let hint = "";
  if (linkFailed || (name === "ECANCELED")) {
    hint = " (it was linked to a request that failed, or was cancelled)";
  } else if (name === "EINVAL" && spec.direct) {
    hint = " (O_DIRECT needs aligned offset, length and address)";
  } else if (name === "EFAULT") {
    hint = " (the memory is not inside the registered buffer named by bufIndex)";
  } else if (name === "EOPNOTSUPP") {
    hint = " (the file system does not support this operation)";
  }
  // EBUSY here is the ring's, not a pool's (describe() speaks of pools).
  const text = name === "EBUSY"
    ? "the ring's submission queue has no room for it (and its linked timeout) now"
    : describe(code);
  return new IoError(`${spec.what} failed: ${name}: ${text}${hint}`, -code, name);
}

function closedError(): RingClosedError {
  return new RingClosedError("the ring is closed: create a new Ring for more I/O");
}

// --- option checking --------------------------------------------------------

const REQUEST_KEYS = ["signal", "timeout", "link"] as const;

function requestOptions(
  options: RequestOptions | undefined,
  allowed: readonly string[],
): { signal: AbortSignal | undefined; timeout: number | undefined; link: boolean } {
  if (options === undefined) return { signal: undefined, timeout: undefined, link: false };
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${String(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key) && !(REQUEST_KEYS as readonly string[]).includes(key)) {
      throw new TypeError(
        `unknown option "${key}" (known: ${[...allowed, ...REQUEST_KEYS].join(", ")})`,
      );
    }
  }
  const bad = signalTimeoutError("request", options);
  if (bad !== null) throw bad;
  const { signal, timeout, link } = options;
  if (link !== undefined && typeof link !== "boolean") {
    throw new TypeError(`option link must be a boolean, got ${String(link)}`);
  }
  return { signal, timeout, link: link ?? false };
}

function flag(options: object | undefined, key: string): boolean {
  const v = (options as Record<string, unknown> | undefined)?.[key];
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw new TypeError(`option ${key} must be a boolean, got ${v}`);
  return v;
}

/** The descriptor behind a RingFile. */
function target(file: RingFile): { fd: number; handle: FileHandle | null } {
  if (typeof file === "number") {
    if (!Number.isInteger(file) || file < 0 || file > 0x7fffffff) {
      throw new TypeError(`file must be a FileHandle or a file descriptor, got ${file}`);
    }
    return { fd: file, handle: null };
  }
  if (!(file instanceof FileHandle)) {
    throw new TypeError(
      `file must be a FileHandle (openFile) or a file descriptor number, got ${String(file)}`,
    );
  }
  return { fd: file.fd, handle: file }; // fd throws once closed
}

function fileSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${name} must be a non-negative integer, got ${String(v)}`);
  }
}

function checkDirect(handle: FileHandle | null, offset: number, lengths: number[]): void {
  if (handle === null || !handle.direct) return;
  const a = handle.alignment;
  if (offset % a !== 0 || lengths.some((n) => n % a !== 0)) {
    throw new RangeError(
      `O_DIRECT file ${handle.path} needs offsets and lengths that are multiples of ${a} bytes, got offset ${offset}, lengths ${
        lengths.join(", ")
      }`,
    );
  }
}

/** Runs an op's argument checks and request; a throw becomes a rejected
 * promise, and counts as a failed request for links: a request linked to
 * the one before still fails with it, and `{ link: true }` on a refused
 * request makes the next one fail (ECANCELED), as if the kernel had run it. */
function rejecting<T>(ring: Ring, options: unknown, fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    refused(ring, (options as RequestOptions | undefined)?.link === true);
    return Promise.reject(e);
  }
}

/** A request refused before it was made still takes its place in a chain. */
function refused(ring: Ring, link: boolean): void {
  const chain = chains.get(ring);
  if (chain === undefined && !link) return;
  const c = chainOf(ring);
  if (!link) return setTail(c, null);
  const r = new FileReq(ring, REFUSED, undefined, undefined, true);
  r.state = SETTLED;
  r.ok = false;
  setTail(c, r);
}

const REFUSED: Spec = {
  prep: () => -22,
  hold: {},
  expect: -1,
  what: "a refused request",
  direct: false,
};

const toVoid = (): void => {};

// --- the ops ----------------------------------------------------------------

/** `ring.fsync(file, { dataOnly })`: IORING_OP_FSYNC. */
export function fsync(ring: Ring, file: RingFile, options?: FsyncOptions): Promise<void> {
  return rejecting(ring, options, () => {
    const { fd, handle } = target(file);
    const dataOnly = flag(options, "dataOnly");
    const spec: Spec = {
      prep: (ptr, ud) => native().vb_op_fsync(ptr, fd, dataOnly ? 1 : 0, ud),
      hold: { file: handle },
      expect: -1,
      what: `${dataOnly ? "fdatasync" : "fsync"} of fd ${fd}`,
      direct: false,
    };
    return request(ring, spec, options, ["dataOnly"]).then(toVoid);
  });
}

/** `ring.readv` / `ring.writev`: one READV/WRITEV over several buffers
 * (READV_FIXED/WRITEV_FIXED on 6.15+ when all are in one registered buffer). */
export function vectored(
  ring: Ring,
  op: 0 | 1,
  file: RingFile,
  bufs: readonly FixedBuf[],
  fileOffset: number,
  options?: RequestOptions,
): Promise<number> {
  return rejecting(ring, options, () => {
    if (!Array.isArray(bufs) || bufs.length === 0 || bufs.length > MAX_IOVECS) {
      throw new RangeError(`bufs must be an array of 1 to ${MAX_IOVECS} FixedBufs`);
    }
    // The request holds exactly the buffers it was made with: the caller
    // may reuse or clear its array at once.
    bufs = Object.freeze([...bufs]);
    fileSize("fileOffset", fileOffset);
    const { fd, handle } = target(file);
    const iov = new BigUint64Array(2 * bufs.length);
    const lengths: number[] = [];
    let index = -2;
    let total = 0;
    for (let i = 0; i < bufs.length; i++) {
      const b = bufs[i];
      // BufferReleasedError once released; ForeignBufferError for another
      // copy of the package's FixedBuf; TypeError for anything else.
      const registrars = registrarsOf(b);
      const len = b.bytes.length;
      iov[2 * i] = BigInt(Deno.UnsafePointer.value(b.pointer));
      iov[2 * i + 1] = BigInt(len);
      lengths.push(len);
      total += len;
      // One registered buffer for all: the fixed variant can be used.
      const bi = b.bufIndex >= 0 && registrars.includes(ring) ? b.bufIndex : -1;
      index = index === -2 || index === bi ? bi : -1;
    }
    checkDirect(handle, fileOffset, lengths);
    const verb = op === OP_READ ? "readv" : "writev";
    const spec: Spec = {
      prep: (ptr, ud) =>
        native().vb_op_vec(ptr, op, fd, iov, bufs.length, fileOffset, index < 0 ? -1 : index, ud),
      hold: { file: handle, bufs },
      expect: total,
      what:
        `${verb} of ${total} bytes in ${bufs.length} buffers at offset ${fileOffset} on fd ${fd}`,
      direct: handle?.direct ?? false,
      keep: iov,
    };
    return request(ring, spec, options, []);
  });
}

/** `ring.read` / `ring.write` with an options object. */
export function readWrite(
  ring: Ring,
  op: 0 | 1,
  file: RingFile,
  buf: FixedBuf,
  fileOffset: number,
  options: ReadWriteOptions | undefined,
): Promise<number> {
  return rejecting(ring, options, () => {
    const registrars = registrarsOf(buf); // BufferReleasedError, ForeignBufferError, TypeError
    const bytes = buf.bytes;
    const len = options?.length ?? bytes.length;
    if (!Number.isInteger(len) || len < 0 || len > bytes.length) {
      throw new RangeError(`length must be an integer from 0 to ${bytes.length}, got ${len}`);
    }
    fileSize("fileOffset", fileOffset);
    const { fd, handle } = target(file);
    checkDirect(handle, fileOffset, [len]);
    const index = buf.bufIndex >= 0 && registrars.includes(ring) ? buf.bufIndex : -1;
    const spec: Spec = {
      prep: (ptr, ud) => native().vb_ring_prep(ptr, op, fd, bytes, len, fileOffset, index, ud),
      hold: { file: handle, bufs: [buf] },
      expect: len,
      what: `${
        op === OP_READ ? "read" : "write"
      } of ${len} bytes at offset ${fileOffset} on fd ${fd}`,
      direct: handle?.direct ?? false,
    };
    return request(ring, spec, options, ["length"]);
  });
}

/** `ring.readRaw` / `ring.writeRaw` with request options. */
export function rawReadWrite(
  ring: Ring,
  op: 0 | 1,
  file: RingFile,
  raw: RawBuffer,
  fileOffset: number,
  options: RequestOptions | undefined,
): Promise<number> {
  return rejecting(ring, options, () => {
    if (typeof raw !== "object" || raw === null) {
      throw new TypeError("raw must be { pointer, length, bufIndex }");
    }
    const { pointer, length, bufIndex } = raw;
    if (typeof pointer !== "object" || pointer === null) {
      throw new TypeError("raw.pointer must be a non-null Deno.PointerObject");
    }
    if (!Number.isInteger(length) || length < 0 || length > 0x7fffffff) {
      throw new RangeError(`raw length must be 0 to ${0x7fffffff}, got ${length}`);
    }
    if (!Number.isInteger(bufIndex) || bufIndex < -1 || bufIndex >= ring.bufferSlots) {
      throw new RangeError(`raw bufIndex must be -1 or a slot below ${ring.bufferSlots}`);
    }
    fileSize("fileOffset", fileOffset);
    const { fd, handle } = target(file);
    checkDirect(handle, fileOffset, [length]);
    const spec: Spec = {
      prep: (ptr, ud) =>
        native().vb_ring_prep_ptr(ptr, op, fd, pointer, length, fileOffset, bufIndex, ud),
      hold: { file: handle },
      expect: length,
      what: `${
        op === OP_READ ? "read" : "write"
      } of ${length} raw bytes at offset ${fileOffset} on fd ${fd}`,
      direct: handle?.direct ?? false,
    };
    return request(ring, spec, options, []);
  });
}

/** `ring.fallocate(file, offset, length, { keepSize, punchHole })`. */
export function fallocate(
  ring: Ring,
  file: RingFile,
  offset: number,
  length: number,
  options?: FallocateOptions,
): Promise<void> {
  return rejecting(ring, options, () => {
    fileSize("offset", offset);
    fileSize("length", length);
    if (length === 0) throw new RangeError("length must be at least 1");
    const { fd, handle } = target(file);
    const keepSize = flag(options, "keepSize");
    const punchHole = flag(options, "punchHole");
    const flags = (keepSize ? 1 : 0) | (punchHole ? 2 : 0);
    const spec: Spec = {
      prep: (ptr, ud) => native().vb_op_fallocate(ptr, fd, flags, offset, length, ud),
      hold: { file: handle },
      expect: -1,
      what: `fallocate${
        punchHole ? " (punch hole)" : keepSize ? " (keep size)" : ""
      } of ${length} bytes at offset ${offset} on fd ${fd}`,
      direct: false,
    };
    return request(ring, spec, options, ["keepSize", "punchHole"]).then(toVoid);
  });
}

/** `ring.truncate(file, length)`: IORING_OP_FTRUNCATE (Linux 6.9+), else
 * ftruncate(2) on Deno's blocking pool. */
export function truncate(
  ring: Ring,
  file: RingFile,
  length: number,
  options?: RequestOptions,
): Promise<void> {
  return rejecting(ring, options, () => {
    fileSize("length", length);
    const { fd, handle } = target(file);
    const useOp = !noFtruncateOp && truncateIsRingOp(ring);
    const spec: Spec = {
      prep: (ptr, ud) => native().vb_op_ftruncate(ptr, fd, length, ud),
      hold: { file: handle },
      expect: -1,
      what: `truncate to ${length} bytes of fd ${fd}`,
      direct: false,
      fallback: useOp ? undefined : () => native().vb_file_truncate(fd, length),
    };
    return request(ring, spec, options, []).then(toVoid);
  });
}

/** Whether this kernel has IORING_OP_FTRUNCATE (6.9+): truncate is then an
 * io_uring request, else a plain ftruncate(2) on a helper thread. */
export function truncateIsRingOp(ring: Ring): boolean {
  return native().vb_ring_op_supported(ring[kRingPtr](), 55) === 1 && !noFtruncateOp;
}

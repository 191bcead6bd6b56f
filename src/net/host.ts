/**
 * The one place where the network modules meet the Ring's completion path:
 * every socket request goes through `ring[kRequest]` (prep callback with
 * the ring pointer and user data, a handler that sees every CQE with its
 * flags, multishot requests pending while CQE_F_MORE). Also request
 * options (`signal`, `timeout`) and the kernel feature probe.
 *
 * @module
 */
import { lib } from "../../ffi/loader.ts";
import { CqeFlag } from "../../ffi/constants.ts";
import { type CompleteFn, kInternal, kRequest, kRingPtr, type Ring } from "../ring.ts";
import { IoError, RingClosedError } from "../errors.ts";
import { describe, errnoName } from "../native_errors.ts";
export { knownKeys, requestOptionsError, unknownKeyError } from "../options.ts";
import { signalTimeoutError } from "../options.ts";

/** The request options of socket requests (no `link`: it chains file
 * requests only). */
export const NET_REQUEST_OPTIONS = ["signal", "timeout"] as const;

/** IORING_CQE_F_MORE: the request posts more completions. */
export const CQE_F_MORE: number = CqeFlag.MORE;
/** IORING_CQE_F_BUFFER: the upper 16 flag bits name the provided buffer. */
export const CQE_F_BUFFER: number = CqeFlag.BUFFER;
/** IORING_CQE_F_NOTIF: a zero-copy send's notification. */
export const CQE_F_NOTIF: number = CqeFlag.NOTIF;
/** Each completion of a request: (res, flags, closing). */
export type CompletionHandler = CompleteFn;
/** -ECANCELED. */
export const ECANCELED = -125;
/** -ENOBUFS: the buffer group ran dry. */
export const ENOBUFS = -105;

/** Options of one network request. */
export interface RequestOptions {
  /** Aborts the request: it is cancelled in the kernel and the promise
   * rejects with the signal's reason (unless it completed first). */
  signal?: AbortSignal;
  /** Milliseconds before the request is cancelled; the promise then
   * rejects with a `DOMException` named `TimeoutError` (as file requests). */
  timeout?: number;
}

/** The native symbols. */
export function sym(): ReturnType<typeof lib>["symbols"] {
  return lib().symbols;
}

/** The native ring (throws RingClosedError once closed). */
export function ringPtr(ring: Ring): Deno.PointerObject {
  return ring[kRingPtr]();
}

/** Makes a request; returns its user data, or a negative errno when the
 * SQE could not be queued. Throws RingClosedError on a closed ring. */
export function request(
  ring: Ring,
  prep: (ptr: Deno.PointerObject, ud: number) => number,
  onCqe: CompletionHandler,
): number {
  return ring[kRequest](prep, null, onCqe);
}

/** Cancels the request with user data `ud` (its CQE still arrives; the
 * cancel's own is consumed in C). */
export function cancel(ring: Ring, ud: number): void {
  if (ring.closed || queueCancel(ring, ud)) return;
  // No room yet (an SQPOLL ring's kernel thread has not taken the SQ):
  // try again shortly, or sooner from retryCancels(). A cancel is never
  // dropped (a close waits for it).
  let set = deferredCancels.get(ring);
  if (set === undefined) deferredCancels.set(ring, set = new Set());
  if (set.size === 0) setTimeout(() => retryCancels(ring), 1);
  set.add(ud);
}

/** Cancels that found the SQ full, per ring, waiting for a retry. */
const deferredCancels = new WeakMap<Ring, Set<number>>();

/** Queues the cancel of `ud`; false when the SQ has no room even after a
 * submit (a full SQ refuses the SQE with -EBUSY). */
function queueCancel(ring: Ring, ud: number): boolean {
  const prep = (p: Deno.PointerObject, u: number) => sym().vb_op_cancel(p, ud, u);
  if (ring[kInternal](prep) >= 0) return true;
  ring.submit();
  return ring[kInternal](prep) >= 0;
}

/** Queues the cancels that found the SQ full (their timer, or a caller
 * that waits synchronously for them: BufferGroup.close()). */
export function retryCancels(ring: Ring): void {
  const set = deferredCancels.get(ring);
  if (set === undefined || set.size === 0) return;
  for (const ud of [...set]) {
    if (ring.closed) return set.clear();
    if (!queueCancel(ring, ud)) break;
    set.delete(ud);
  }
  if (set.size > 0) setTimeout(() => retryCancels(ring), 1);
}

/** Who owns a request (a connection or listener): told when it starts
 * and ends, asked whether it was closed meanwhile. */
export interface RequestOwner {
  /** An error to reject with when the owner was closed, else null. */
  closedError(res: number): Error | null;
  /** A request of this owner entered the ring. */
  started(ud: number): void;
  /** Its last completion arrived. */
  finished(ud: number): void;
}

/** What a finished single-shot request reports: null for its result, or
 * the error to reject with (the owner was closed meanwhile; the ring was
 * closed and the request did not complete; its signal/timeout, `why`,
 * cancelled it). */
function endError(
  owner: RequestOwner | null,
  res: number,
  closed: boolean,
  why: Error | null,
): Error | null {
  const err = owner?.closedError(res) ?? null;
  if (err !== null) return err;
  // What the kernel completed during ring.close() resolves (as file
  // requests do): a send that went out must not be reported as lost.
  if (closed && res < 0) {
    return new RingClosedError(
      `the ring was closed while this request was in flight (ended with ${res})`,
      res,
    );
  }
  return why !== null && res === ECANCELED ? why : null;
}

/**
 * A single-shot request whose end goes to `settle(res, err)` (err as
 * endError, `why` asked for when the request was cancelled): no promise,
 * for the hot paths that keep one per connection. Returns its user data,
 * or a negative errno when the SQE could not be queued (`settle` is then
 * never called); throws RingClosedError on a closed ring.
 */
export function requestOnce(
  ring: Ring,
  prep: (ptr: Deno.PointerObject, ud: number) => number,
  owner: RequestOwner | null,
  settle: (res: number, err: Error | null) => void,
  why: () => Error | null = noReason,
): number {
  const ud = request(ring, prep, (res, _flags, closed) => {
    owner?.finished(ud);
    settle(res, endError(owner, res, closed, why()));
  });
  if (ud >= 0) owner?.started(ud);
  return ud;
}

const noReason = (): Error | null => null;

/**
 * A single-shot request with `signal` / `timeout`: the promise resolves to
 * the kernel's result (errors too, as -errno: the caller names them), and
 * rejects with the abort reason / TimeoutError / RingClosedError, or the
 * owner's error when it was closed meanwhile. `discard(res)` is told of a
 * result that is dropped that way (an accepted fd to close, say).
 */
export function oneShot(
  ring: Ring,
  prep: (ptr: Deno.PointerObject, ud: number) => number,
  options: RequestOptions | undefined,
  owner: RequestOwner | null,
  discard?: (res: number) => void,
): Promise<number> {
  const bad = signalTimeoutError("request", options);
  if (bad !== null) return Promise.reject(bad);
  const signal = options?.signal;
  const timeout = options?.timeout;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  let why: Error | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  let ud: number;
  try {
    ud = requestOnce(ring, prep, owner, (res, err) => {
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort) signal!.removeEventListener("abort", onAbort);
      if (err === null) return resolve(res);
      if (res >= 0) discard?.(res);
      reject(err);
    }, signal === undefined && timeout === undefined ? noReason : () => why);
  } catch (e) {
    return Promise.reject(e);
  }
  if (ud < 0) return Promise.resolve(ud);
  if (signal === undefined && timeout === undefined) return promise;
  const stop = (e: Error) => {
    if (why !== null) return;
    why = e;
    cancel(ring, ud);
  };
  if (signal) {
    onAbort = () => stop(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  }
  if (timeout !== undefined) {
    timer = setTimeout(
      () => stop(new DOMException(`the request timed out after ${timeout} ms`, "TimeoutError")),
      timeout,
    );
  }
  return promise;
}

/**
 * Ends the wait `w` (queued in `waiters`) early on `signal` / `timeout`:
 * it leaves the queue and rejects with the abort reason or a TimeoutError
 * (`what` names the call), so what arrives later goes to the next waiter.
 * Returns w.promise.
 */
export function watchWait<T>(
  w: PromiseWithResolvers<T>,
  waiters: PromiseWithResolvers<T>[],
  options: RequestOptions | undefined,
  what: string,
): Promise<T> {
  const signal = options?.signal;
  const timeout = options?.timeout;
  if (signal === undefined && timeout === undefined) return w.promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drop = (e: Error) => {
    const i = waiters.indexOf(w);
    if (i < 0) return; // settled first
    waiters.splice(i, 1);
    w.reject(e);
  };
  const onAbort = () => drop(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  if (timeout !== undefined) {
    timer = setTimeout(
      () => drop(new DOMException(`${what} timed out after ${timeout} ms`, "TimeoutError")),
      timeout,
    );
  }
  const clean = () => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  };
  w.promise.then(clean, clean);
  return w.promise;
}

/** What the kernel offers and what the ring uses (`ring.features`). */
export interface NetFeatures {
  /** Provided buffer rings (IORING_REGISTER_PBUF_RING, 5.19). */
  pbufRing: boolean;
  /** Multishot accept (5.19). */
  multishotAccept: boolean;
  /** Multishot recv into provided buffers (6.0). */
  multishotRecv: boolean;
  /** Zero-copy send (IORING_OP_SEND_ZC, 6.0). */
  sendZc: boolean;
}

const cache = new WeakMap<Ring, NetFeatures>();

/**
 * The features in use on `ring`: the kernel probe, minus what the
 * environment variable VELOQ_NET_DISABLE (comma-separated feature names,
 * e.g. "multishotRecv,pbufRing") turns off, to run the fallbacks on a new
 * kernel.
 */
export function features(ring: Ring): NetFeatures {
  let f = cache.get(ring);
  if (f) return f;
  const bits = sym().vb_net_features(ringPtr(ring));
  f = {
    pbufRing: (bits & 1) !== 0,
    multishotAccept: (bits & 2) !== 0,
    multishotRecv: (bits & 4) !== 0,
    sendZc: (bits & 8) !== 0,
  };
  let off = "";
  try {
    off = Deno.env.get("VELOQ_NET_DISABLE") ?? "";
  } catch { /* no --allow-env: nothing disabled */ }
  for (const name of off.split(",").map((s) => s.trim())) {
    if (name in f) (f as unknown as Record<string, boolean>)[name] = false;
  }
  // Multishot recv needs provided buffers.
  if (!f.pbufRing) f.multishotRecv = false;
  Object.freeze(f);
  cache.set(ring, f);
  return f;
}

/** A NUL-terminated copy of a string, for C. */
export function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/** The IoError for a failed socket operation. */
export function netError(res: number, what: string): Error {
  const name = errnoName(res);
  return new IoError(`${what} failed: ${name}: ${describe(res)}`, -res, name);
}

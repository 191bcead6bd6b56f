/**
 * The requests of one socket (a connection or a listener) and the close of
 * its fd: the fd goes back to the kernel only after the last completion of
 * every request naming it, since fd numbers are reused at once.
 *
 * @module
 */
import { ConnectionClosedError } from "../errors.ts";
import type { Ring } from "../ring.ts";
import { cancel, ECANCELED, request, type RequestOwner, sym } from "./host.ts";

/** Tracks a socket's requests; closes its fd once they are all done. */
export class SocketRequests implements RequestOwner {
  /** True once the owner was closed. */
  closed = false;
  #fdClosed = false;
  readonly #inflight = new Set<number>();

  /** `busy()` says whether the owner still has requests of its own
   * (multishot ones it tracks itself). */
  constructor(
    readonly ring: Ring,
    readonly fd: number,
    readonly what: string,
    readonly busy: () => boolean,
  ) {}

  /** The error for a request pending when the owner closed. */
  closedError(res: number): Error | null {
    return this.closed
      ? new ConnectionClosedError(`the ${this.what} was closed while this request was pending`, res)
      : null;
  }

  /** A request entered the ring. */
  started(ud: number): void {
    this.#inflight.add(ud);
  }

  /** Its last completion arrived. */
  finished(ud: number): void {
    this.#inflight.delete(ud);
    this.closeFdWhenIdle();
  }

  /** Marks the owner closed and cancels its requests; false if it was. */
  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    for (const ud of this.#inflight) cancel(this.ring, ud);
    return true;
  }

  /** Closes the fd once closed and idle. */
  closeFdWhenIdle(): void {
    if (!this.closed || this.#fdClosed || this.#inflight.size > 0 || this.busy()) return;
    this.#fdClosed = true;
    closeFd(this.ring, this.fd);
  }
}

/** Internal: closes a socket because its ring closed (later calls then
 * reject with RingClosedError, not ConnectionClosedError). */
export const kRingClosed: unique symbol = Symbol("veloq.ringClosed");

/** A connection or listener, as its ring sees it. */
interface RingSocket {
  [kRingClosed](): void;
}

/** The sockets of each ring not closed yet: a Ring owns its sockets, so
 * ring.close() closes them (their peers see end of stream, ports are free
 * again, no fd is left behind) once its requests are settled. */
const openSockets = new WeakMap<Ring, Set<RingSocket>>();

/** A socket of `ring` was made. On a ring closed meanwhile (a connect or
 * accept that completed during ring.close()) it is closed at once. */
export function ownSocket(ring: Ring, s: RingSocket): void {
  if (ring.closed) return s[kRingClosed]();
  let set = openSockets.get(ring);
  if (set === undefined) openSockets.set(ring, set = new Set());
  set.add(s);
}

/** The socket was closed by its owner. */
export function disownSocket(ring: Ring, s: RingSocket): void {
  openSockets.get(ring)?.delete(s);
}

/** ring.close(), after it settled every request: closes what is open (the
 * ring is gone, so each fd is closed directly). */
export function closeSockets(ring: Ring): void {
  const set = openSockets.get(ring);
  if (set === undefined) return;
  openSockets.delete(ring);
  for (const s of set) s[kRingClosed]();
}

/** Closes a socket through the ring (or directly once the ring is gone).
 * When the ring closes before the close ran (it was still queued, or the
 * ring was inside close() reaping: the request ends with -ECANCELED), the
 * fd is closed directly then; a close the kernel ran is never repeated
 * (the fd number may belong to someone else by then). */
export function closeFd(ring: Ring, fd: number): void {
  if (!ring.closed) {
    try {
      const rc = request(ring, (p, ud) => sym().vb_net_prep_close(p, fd, ud), (res) => {
        if (res === ECANCELED) sym().vb_net_close_now(fd);
      });
      if (rc >= 0) return;
    } catch { /* closed meanwhile */ }
  }
  sym().vb_net_close_now(fd);
}

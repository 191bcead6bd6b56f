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

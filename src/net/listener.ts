/**
 * RingListener: a listening TCP socket whose accepts go through a Ring.
 * `accept()` is one ACCEPT; `for await` arms a multishot accept (5.19+)
 * and re-arms it whenever the kernel ends it.
 *
 * @module
 */
import { ConnectionClosedError, RingClosedError } from "../errors.ts";
import type { Ring } from "../ring.ts";
import type { BufferGroup } from "./buffer_group.ts";
import { kNewConn, type RingAddr, RingConn, socketAddr } from "./conn.ts";
import {
  closeFd,
  disownSocket,
  kRingClosed,
  ownSocket,
  SocketRequests,
} from "./socket_requests.ts";
import {
  cancel,
  CQE_F_MORE,
  ECANCELED,
  features,
  NET_REQUEST_OPTIONS,
  netError,
  oneShot,
  request,
  type RequestOptions,
  requestOptionsError,
  sym,
  watchWait,
} from "./host.ts";

/** Makes a RingListener (internal). */
export const kNewListener: unique symbol = Symbol("veloq.newListener");

type Accepted = RingConn | Error;

/** A listening socket on a Ring. Made by `ring.listen()`. */
export class RingListener implements Disposable, AsyncIterable<RingConn> {
  /** The bound address (`port` is the one picked for port 0). */
  readonly addr: RingAddr;
  readonly #ring: Ring;
  readonly #fd: number;
  readonly #group: BufferGroup | (() => BufferGroup);
  readonly #reqs: SocketRequests;
  #multiUd = -1;
  /** Closed by ring.close() (not by close()). */
  #byRing = false;
  #queue: Accepted[] = [];
  #waiters: PromiseWithResolvers<RingConn | null>[] = [];

  /** @ignore Made by `ring.listen()`. */
  constructor(
    token: typeof kNewListener,
    ring: Ring,
    fd: number,
    group: BufferGroup | (() => BufferGroup),
  ) {
    if (token !== kNewListener) throw new TypeError("RingListener is made by ring.listen()");
    this.#ring = ring;
    this.#fd = fd;
    this.#group = group;
    this.#reqs = new SocketRequests(ring, fd, "listener", () => this.#multiUd >= 0);
    this.addr = socketAddr(fd, false);
    ownSocket(ring, this); // ring.close() closes it
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#reqs.closed;
  }

  /** Waits for one connection. Rejects with ConnectionClosedError when the
   * listener closes first. */
  async accept(options?: RequestOptions): Promise<RingConn> {
    const bad = requestOptionsError("listener.accept", options, NET_REQUEST_OPTIONS);
    if (bad !== null) throw bad;
    if (this.#reqs.closed) throw this.#closedError();
    if (this.#queue.length > 0 || this.#multiUd >= 0) {
      if (options?.signal?.aborted) throw options.signal.reason;
      const c = await this.#next(options);
      if (c === null) throw this.#closedError();
      return c;
    }
    const fd = this.#fd;
    const ring = this.#ring;
    const res = await oneShot(
      ring,
      (p, ud) => sym().vb_net_prep_accept(p, fd, 0, ud),
      options,
      this.#reqs,
      (accepted) => closeFd(ring, accepted),
    );
    if (res < 0) throw netError(res, "accept");
    if (ring.closed) { // completed during ring.close(): the ring owns no socket any more
      closeFd(ring, res);
      throw new RingClosedError("the ring was closed while this accept was pending", res);
    }
    return new RingConn(kNewConn, ring, res, this.#group);
  }

  /** `for await (const conn of listener)`: connections until the listener
   * or its ring is closed (the loop then just ends; accept() rejects). */
  async *[Symbol.asyncIterator](): AsyncIterator<RingConn> {
    try {
      for (;;) {
        let c;
        try {
          c = await this.#next();
        } catch (e) {
          // The ring closed under the loop: it ends (accept() rejects instead).
          if (e instanceof RingClosedError || e instanceof ConnectionClosedError) return;
          throw e;
        }
        if (c === null) return;
        yield c;
      }
    } finally {
      // Iteration stopped (break, return, throw): no more accepting for it.
      if (this.#multiUd >= 0 && this.#waiters.length === 0) cancel(this.#ring, this.#multiUd);
    }
  }

  /**
   * Closes the listener: accepts still pending reject with
   * ConnectionClosedError, iteration ends, connections accepted but not
   * yet taken are closed, and the fd is closed once the kernel is done.
   */
  close(): void {
    if (!this.#reqs.close()) return;
    disownSocket(this.#ring, this);
    if (this.#multiUd >= 0) cancel(this.#ring, this.#multiUd);
    for (const w of this.#waiters.splice(0)) w.resolve(null);
    for (const c of this.#queue.splice(0)) if (c instanceof RingConn) c.close();
    this.#reqs.closeFdWhenIdle();
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @ignore Internal: ring.close() closes its listeners. */
  [kRingClosed](): void {
    this.#byRing = true;
    this.close();
  }

  #closedError(): Error {
    return this.#byRing
      ? new RingClosedError("the ring of this listener was closed")
      : new ConnectionClosedError("the listener is closed");
  }

  /** The next connection from the queue or the multishot accept; with
   * `signal`/`timeout` only the wait ends (a connection accepted later goes
   * to the next caller, or the queue). */
  #next(options?: RequestOptions): Promise<RingConn | null> {
    if (this.#reqs.closed) return Promise.resolve(null);
    const item = this.#queue.shift();
    if (item !== undefined) {
      return item instanceof Error ? Promise.reject(item) : Promise.resolve(item);
    }
    const w = Promise.withResolvers<RingConn | null>();
    this.#waiters.push(w);
    this.#armMulti();
    return watchWait(w, this.#waiters, options, "accept");
  }

  #armMulti(): void {
    if (this.#reqs.closed || this.#multiUd >= 0 || this.#ring.closed) return;
    const fd = this.#fd;
    const multi = features(this.#ring).multishotAccept ? 1 : 0;
    const ud = request(
      this.#ring,
      (p, u) => sym().vb_net_prep_accept(p, fd, multi, u),
      this.#onAccept,
    );
    if (ud < 0) {
      this.#deliver(netError(ud, "arming accept"));
      return;
    }
    this.#multiUd = ud;
  }

  #onAccept = (res: number, flags: number, closed: boolean): void => {
    const more = (flags & CQE_F_MORE) !== 0;
    if (!more) this.#multiUd = -1;
    if (res >= 0) {
      if (this.#reqs.closed || closed) closeFd(this.#ring, res);
      else this.#deliver(new RingConn(kNewConn, this.#ring, res, this.#group));
    } else if (closed) {
      for (const w of this.#waiters.splice(0)) {
        w.reject(new RingClosedError("the ring was closed while this listener was accepting", res));
      }
    } else if (res !== ECANCELED && !this.#reqs.closed) {
      this.#deliver(netError(res, "accept"));
    }
    if (!more) {
      this.#reqs.closeFdWhenIdle();
      // Ended by the kernel (or single-shot): go on while someone waits.
      if (this.#waiters.length > 0) this.#armMulti();
    }
  };

  #deliver(item: Accepted): void {
    const w = this.#waiters.shift();
    if (w === undefined) {
      this.#queue.push(item);
      return;
    }
    if (item instanceof Error) w.reject(item);
    else w.resolve(item);
  }
}

/**
 * RingConn: one TCP connection whose I/O goes through a Ring.
 *
 * `read`/`write`/`send` use buffers the caller gives; `recv()` returns
 * buffers the kernel chose from the connection's BufferGroup (a multishot
 * recv armed on first use, re-armed when the kernel ends it). The socket's
 * fd is closed through the ring only after the last completion of every
 * request that names it (fd numbers are reused at once).
 *
 * @module
 */
import { ConnectionClosedError, RingClosedError } from "../errors.ts";
import { type FixedBuf, kBusy, kConsumed, registrarsOf } from "../fixed_buf.ts";
import type { Ring } from "../ring.ts";
import type { BufferGroup, GroupInternals, GroupUser } from "./buffer_group.ts";
import { kGroup } from "./buffer_group.ts";
import { disownSocket, kRingClosed, ownSocket, SocketRequests } from "./socket_requests.ts";
import {
  cancel,
  CQE_F_BUFFER,
  CQE_F_MORE,
  CQE_F_NOTIF,
  ECANCELED,
  ENOBUFS,
  features,
  NET_REQUEST_OPTIONS,
  netError,
  oneShot,
  request,
  requestOnce,
  type RequestOptions,
  requestOptionsError,
  sym,
  watchWait,
} from "./host.ts";

/** The bytes a write/send of `buf` sends: `length`, default all of its
 * `size` bytes (RangeError outside 0..size). */
function sendLength(length: number | undefined, size: number): number {
  const len = length ?? size;
  if (!Number.isInteger(len) || len < 0 || len > size) {
    throw new RangeError(`length must be an integer from 0 to ${size}, got ${len}`);
  }
  return len;
}

/** A recv() or recv-mode read() waiting for data (read: `dst` set). */
type Waiter = PromiseWithResolvers<FixedBuf | null | number> & { dst?: Uint8Array };

/** Address of a socket, like Deno.NetAddr. */
export interface RingAddr {
  /** Always "tcp". */
  transport: "tcp";
  /** The IP address as text ("127.0.0.1", "::1"). */
  hostname: string;
  /** The port. */
  port: number;
  /** 4 or 6. */
  family: 4 | 6;
}

const WRITE_OPTIONS = ["length", ...NET_REQUEST_OPTIONS] as const;
const SEND_OPTIONS = [...WRITE_OPTIONS, "zeroCopy"] as const;

/** Options of `write`: request options plus how many bytes. */
export interface WriteOptions extends RequestOptions {
  /** Bytes to write from the start of the buffer (default `buf.length`). */
  length?: number;
}

/** Options of `send`. */
export interface SendOptions extends WriteOptions {
  /** SEND_ZC with the registered buffer when the kernel has it (the
   * promise settles once the kernel no longer reads the memory). Loopback
   * copies anyway: zero-copy only pays on real NICs. */
  zeroCopy?: boolean;
}

/** Reads the socket's own or peer address. */
export function socketAddr(fd: number, peer: boolean): RingAddr {
  const text = new Uint8Array(64);
  const out = new Int32Array(1);
  const port = sym().vb_net_addr(fd, peer ? 1 : 0, text, text.length, out);
  if (port < 0) throw netError(port, peer ? "getpeername" : "getsockname");
  const end = text.indexOf(0);
  return {
    transport: "tcp",
    hostname: new TextDecoder().decode(text.subarray(0, end < 0 ? text.length : end)),
    port,
    family: out[0] === 6 ? 6 : 4,
  };
}

type Item = FixedBuf | null | Error;

/** Makes a RingConn (internal: listeners and connect). */
export const kNewConn: unique symbol = Symbol("veloq.newConn");

/**
 * A TCP connection on a Ring. Made by `listener.accept()` or
 * `ring.connect()`. Close it with `close()` or `using`.
 */
export class RingConn implements Disposable, AsyncIterable<FixedBuf> {
  readonly #ring: Ring;
  readonly #fd: number;
  readonly #groupArg: BufferGroup | (() => BufferGroup);
  #group: GroupInternals | null = null;
  #groupObj: BufferGroup | null = null;
  readonly #reqs: SocketRequests;
  #local: RingAddr | null = null;
  #remote: RingAddr | null = null;
  // recv() state
  #started = false;
  #armedUd = -1;
  #armedBid = -1;
  #ended = false;
  #queue: Item[] = [];
  #head = 0;
  /** recv() waits for a buffer; read() in recv mode waits with `dst`, the
   * bytes to copy into (resolving to how many were copied). */
  #waiters: Waiter[] = [];
  #held = 0;
  /** Zero-copy sends whose promise has not settled (rejected by close()). */
  readonly #zcPending = new Set<() => void>();
  // send order: a write/send/closeWrite in flight, and the ones waiting
  /** Closed by ring.close() (not by close()). */
  #byRing = false;
  #sending = false;
  readonly #sendQueue: (() => void)[] = [];
  // the fast write in flight (#writeNow): its buffer, bytes, progress, promise
  #wBuf: FixedBuf | null = null;
  #wBytes: Uint8Array | null = null;
  #wLen = 0;
  #wOff = 0;
  #wDone: PromiseWithResolvers<number> | null = null;
  readonly #user: GroupUser = {
    rearm: () => this.#arm(),
    groupClosed: () => {
      if (this.#armedUd >= 0) cancel(this.#ring, this.#armedUd);
      // Blocks received but not handed out go back now (no user code holds
      // them), so the pool behind the group can close.
      this.#dropUnread();
      this.#push(new ConnectionClosedError("the buffer group was closed"));
    },
    credit: () => {
      this.#held--;
      // After the group's batch of released blocks reached the kernel (its
      // flush microtask was queued first), or the recv would find it dry.
      queueMicrotask(this.#armLater);
    },
  };

  /** @ignore Made by listeners and `ring.connect`. */
  constructor(
    token: typeof kNewConn,
    ring: Ring,
    fd: number,
    group: BufferGroup | (() => BufferGroup),
  ) {
    if (token !== kNewConn) throw new TypeError("RingConn is made by ring.connect() or a listener");
    this.#ring = ring;
    this.#fd = fd;
    this.#groupArg = group;
    this.#reqs = new SocketRequests(ring, fd, "connection", () => this.#armedUd >= 0);
    ownSocket(ring, this); // ring.close() closes it
    // And the thread's end (a terminated Worker) closes its fd if still
    // open: C records made fds, and accepted ones as their completion is
    // reaped; recorded again here in case that note found no memory.
    sym().vb_thread_own_fd(fd);
  }

  /** This end's address. */
  get localAddr(): RingAddr {
    return this.#local ??= socketAddr(this.#liveFd(), false);
  }

  /** The peer's address. */
  get remoteAddr(): RingAddr {
    return this.#remote ??= socketAddr(this.#liveFd(), true);
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#reqs.closed;
  }

  /** Turns Nagle's algorithm off (default) or on (`false`). */
  setNoDelay(noDelay = true): void {
    const rc = sym().vb_net_set_nodelay(this.#liveFd(), noDelay ? 1 : 0);
    if (rc < 0) throw netError(rc, "setsockopt(TCP_NODELAY)");
  }

  /**
   * Reads into `buf` (up to `buf.length` bytes); resolves to the bytes read,
   * 0 at end of stream. After `recv()` was used, reads copy from the
   * received buffers instead (nothing is lost between the two).
   */
  async read(buf: FixedBuf, options?: RequestOptions): Promise<number> {
    const bad = requestOptionsError("conn.read", options, NET_REQUEST_OPTIONS);
    if (bad !== null) throw bad;
    this.#check();
    registrarsOf(buf); // BufferReleasedError, or not a FixedBuf of this copy
    if (this.#started) return this.#readFromRecv(buf, options);
    const bytes = buf.bytes;
    buf[kBusy](1);
    try {
      const fd = this.#fd;
      const res = await oneShot(
        this.#ring,
        (p, ud) => sym().vb_net_prep_recv(p, fd, bytes, bytes.length, ud),
        options,
        this.#reqs,
      );
      if (res < 0) throw netError(res, `recv of ${bytes.length} bytes`);
      return res;
    } finally {
      buf[kBusy](-1);
    }
  }

  /** Writes all `length` bytes of `buf` (default `buf.length`), resuming
   * short writes; resolves to the bytes written. Writes, sends and
   * closeWrite of one connection go out in call order, also when not
   * awaited one by one (each starts once the bytes before it are all in the
   * socket). */
  write(buf: FixedBuf, options?: WriteOptions): Promise<number> {
    const bad = requestOptionsError("conn.write", options, WRITE_OPTIONS);
    if (bad !== null) return Promise.reject(bad);
    // No send in flight and no signal/timeout to watch (a request/response
    // server's every write): the same steps as #sendAll without its async
    // function and per-write closures.
    if (!this.#sending && options?.signal === undefined && options?.timeout === undefined) {
      return this.#writeNow(buf, options?.length);
    }
    return this.#sendAll(buf, options, false);
  }

  /** Like write(); with `{ zeroCopy: true }` it uses SEND_ZC (from the
   * registered buffer when `buf`'s pool is registered with this ring) and
   * settles once the kernel's notification says the memory is free. Falls
   * back to a copying send where the kernel lacks SEND_ZC.
   *
   * On TCP the notification comes when the peer ACKs the bytes, which a
   * peer with nothing to send may delay (delayed ACK, ~40 ms): do not make
   * the next receive wait for it. Writes and sends of one connection go out
   * in call order without awaiting each other, and a send waits only until
   * the bytes before it are in the socket (not for their notification), so
   * `conn.send(buf, { zeroCopy: true }).finally(() => buf.release())`
   * keeps the stream moving (examples/echo_server.ts). */
  send(buf: FixedBuf, options?: SendOptions): Promise<number> {
    const bad = requestOptionsError("conn.send", options, SEND_OPTIONS) ??
      (options?.zeroCopy !== undefined && typeof options.zeroCopy !== "boolean"
        ? new TypeError(`option zeroCopy must be a boolean, got ${typeof options.zeroCopy}`)
        : null);
    if (bad !== null) return Promise.reject(bad);
    // (A closed ring has no features to ask: #sendAll then rejects, typed.)
    const zc = options?.zeroCopy === true && !this.#ring.closed && features(this.#ring).sendZc;
    return this.#sendAll(buf, options, zc);
  }

  /**
   * A buffer the kernel filled from this connection's buffer group: its
   * `length` is the bytes received and `bytes` views exactly those.
   * Release it (or `using`) to give the block back. `null` at end of
   * stream. With `timeout`/`signal` only the wait ends (no data is lost).
   */
  recv(options?: RequestOptions): Promise<FixedBuf | null> {
    const bad = requestOptionsError("conn.recv", options, NET_REQUEST_OPTIONS);
    if (bad !== null) return Promise.reject(bad);
    if (this.#reqs.closed) return Promise.reject(this.#closedError());
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      this.#startRecv();
    } catch (e) {
      return Promise.reject(e);
    }
    // (What a read() left of a block is the head of the queue, shortened.)
    if (this.#head < this.#queue.length) return this.#take();
    if (this.#ended) return Promise.resolve(null);
    const w: Waiter = Promise.withResolvers<FixedBuf | null | number>();
    this.#waiters.push(w);
    this.#arm();
    return watchWait(w, this.#waiters, options, "recv") as Promise<FixedBuf | null>;
  }

  /** `for await (const buf of conn)`: received buffers until end of stream,
   * or until the connection, its group or the ring is closed (the loop then
   * just ends). Release each one (they come from the connection's group). */
  async *[Symbol.asyncIterator](): AsyncIterator<FixedBuf> {
    for (;;) {
      let buf;
      try {
        buf = await this.recv();
      } catch (e) {
        // The connection, its group or the ring was closed: the loop ends
        // (explicit recv() calls reject with the typed error instead).
        if (e instanceof ConnectionClosedError || e instanceof RingClosedError) return;
        throw e;
      }
      if (buf === null) return;
      yield buf;
    }
  }

  /** Shuts the sending side down (the peer reads end of stream), after
   * the bytes of every write/send called before it. */
  async closeWrite(options?: RequestOptions): Promise<void> {
    const bad = requestOptionsError("conn.closeWrite", options, NET_REQUEST_OPTIONS);
    if (bad !== null) throw bad;
    this.#check();
    const fd = this.#fd;
    let turn = false;
    try {
      const wait = this.#takeTurn(options);
      if (wait !== null) await wait;
      turn = true;
      this.#check();
      const res = await oneShot(
        this.#ring,
        (p, ud) => sym().vb_net_prep_shutdown(p, fd, 1, ud),
        options,
        this.#reqs,
      );
      if (res < 0) throw netError(res, "shutdown(SHUT_WR)");
    } finally {
      if (turn) this.#passTurn();
    }
  }

  /**
   * Closes the connection: what is armed is cancelled, what is pending
   * rejects with ConnectionClosedError, received buffers not yet taken go
   * back to the group, and the fd is closed once the kernel is done with
   * every request naming it. A second call does nothing.
   */
  close(): void {
    if (!this.#reqs.close()) return;
    disownSocket(this.#ring, this);
    this.#ended = true;
    if (this.#armedUd >= 0) cancel(this.#ring, this.#armedUd);
    this.#group?.forget(this.#user);
    const err = this.#closedError();
    for (const w of this.#waiters.splice(0)) w.reject(err);
    this.#dropUnread();
    // Pending zero-copy sends reject now (ConnectionClosedError); their
    // buffers stay busy until the kernel's last CQE for each (the
    // notification), and the fd closes once none of them still names it.
    for (const f of [...this.#zcPending]) f();
    this.#reqs.closeFdWhenIdle();
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @ignore Internal: ring.close() closes its connections. */
  [kRingClosed](): void {
    this.#byRing = true;
    this.close();
  }

  // --- sends ------------------------------------------------------------

  /** Waits until every earlier write/send/closeWrite of this connection
   * has all its bytes in the socket (call order is stream order: two sends
   * in flight at once would interleave at a short write). Resolves at once
   * when none is in flight; rejects with the abort reason / TimeoutError if
   * the request's signal or timeout ends the wait first. The caller must
   * call #passTurn() when its bytes are in (or it failed). */
  #takeTurn(options: RequestOptions | undefined): Promise<void> | null {
    if (!this.#sending) {
      this.#sending = true;
      return null;
    }
    const signal = options?.signal;
    const timeout = options?.timeout;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const turn = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve();
    };
    const give = (e: Error) => {
      const i = this.#sendQueue.indexOf(turn);
      if (i < 0) return; // the turn came first: the request itself sees it
      this.#sendQueue.splice(i, 1);
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      reject(e);
    };
    const onAbort = () => give(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (typeof timeout === "number" && timeout >= 0) {
      timer = setTimeout(
        () => give(new DOMException(`the request timed out after ${timeout} ms`, "TimeoutError")),
        timeout,
      );
    }
    this.#sendQueue.push(turn);
    return promise;
  }

  /** The next queued send goes (its bytes follow the ones just queued). */
  #passTurn(): void {
    const next = this.#sendQueue.shift();
    if (next === undefined) this.#sending = false;
    else next();
  }

  /** write() with the turn free and no signal/timeout: takes the turn and
   * sends from `#w*` (one such write at a time: it holds the turn), with
   * handlers made once per connection. One promise per write. */
  #writeNow(buf: FixedBuf, length: number | undefined): Promise<number> {
    let bytes: Uint8Array, len: number;
    try {
      this.#check();
      registrarsOf(buf); // BufferReleasedError, or not a FixedBuf of this copy
      bytes = buf.bytes;
      len = sendLength(length, bytes.length);
    } catch (e) {
      return Promise.reject(e);
    }
    if (len === 0) return Promise.resolve(0);
    const w = Promise.withResolvers<number>();
    buf[kBusy](1);
    this.#sending = true;
    this.#wBuf = buf;
    this.#wBytes = bytes;
    this.#wLen = len;
    this.#wOff = 0;
    this.#wDone = w;
    this.#writeStep();
    return w.promise;
  }

  #writeStep(): void {
    let ud;
    try {
      ud = requestOnce(this.#ring, this.#writePrep, this.#reqs, this.#writeSent);
    } catch (e) {
      return this.#writeEnd(e as Error); // the ring was closed
    }
    if (ud < 0) this.#writeSent(ud, null);
  }

  #writePrep = (p: Deno.PointerObject, ud: number): number => {
    const off = this.#wOff;
    const bytes = off === 0 ? this.#wBytes! : this.#wBytes!.subarray(off);
    return sym().vb_net_prep_send(p, this.#fd, bytes, this.#wLen - off, 0, -1, ud);
  };

  #writeSent = (res: number, err: Error | null): void => {
    if (err !== null) return this.#writeEnd(err);
    const left = this.#wLen - this.#wOff;
    if (res < 0) return this.#writeEnd(netError(res, `send of ${left} bytes`));
    if (res === 0) {
      return this.#writeEnd(netError(-32, `send of ${left} bytes (the kernel took none)`));
    }
    this.#wOff += res;
    if (this.#wOff === this.#wLen) return this.#writeEnd(null);
    // A short write: the rest goes next, still holding the turn.
    if (this.#reqs.closed) return this.#writeEnd(this.#closedError());
    this.#writeStep();
  };

  /** The fast write ended: the next send may go, the buffer is free. */
  #writeEnd(err: Error | null): void {
    const buf = this.#wBuf!, done = this.#wDone!, len = this.#wLen;
    this.#wBuf = null;
    this.#wBytes = null;
    this.#wDone = null;
    this.#passTurn();
    buf[kBusy](-1);
    if (err === null) done.resolve(len);
    else done.reject(err);
  }

  async #sendAll(buf: FixedBuf, options: WriteOptions | undefined, zc: boolean): Promise<number> {
    this.#check();
    const registrars = registrarsOf(buf); // BufferReleasedError, or not a FixedBuf of this copy
    const bytes = buf.bytes;
    const len = sendLength(options?.length, bytes.length);
    const index = zc && buf.bufIndex >= 0 && registrars.includes(this.#ring) ? buf.bufIndex : -1;
    buf[kBusy](1);
    let turn = false;
    // Zero-copy parts whose notification is still due (each keeps the
    // buffer busy by itself until then).
    let notifs: Promise<void>[] | null = null;
    try {
      const wait = this.#takeTurn(options);
      if (wait !== null) await wait;
      turn = true;
      this.#check(); // closed while waiting for the turn
      let off = 0;
      const fd = this.#fd;
      while (off < len) {
        const part = off === 0 && len === bytes.length ? bytes : bytes.subarray(off, len);
        let res;
        if (zc) {
          notifs ??= [];
          res = await this.#sendZc(buf, part, index, options, notifs);
        } else {
          res = await oneShot(
            this.#ring,
            (p, ud) => sym().vb_net_prep_send(p, fd, part, part.length, 0, -1, ud),
            options,
            this.#reqs,
          );
        }
        if (res < 0) throw netError(res, `send of ${len - off} bytes`);
        if (res === 0) throw netError(-32, `send of ${len - off} bytes (the kernel took none)`);
        off += res;
      }
      // Every byte is in the socket: the next send may go now, while this
      // one's zero-copy notifications (the peer's ACKs) are still due. The
      // promise settles with the last of them.
      turn = false;
      this.#passTurn();
      if (notifs !== null) await Promise.all(notifs);
      return len;
    } finally {
      if (turn) this.#passTurn();
      buf[kBusy](-1);
    }
  }

  /** One SEND_ZC: resolves with the result's byte count or -errno once the
   * kernel has taken the bytes (its first CQE), and pushes onto `notifs` a
   * promise that settles at the notification (the kernel's last CQE for
   * it). The buffer stays busy (its own hold, apart from #sendAll's) until
   * that last CQE: when the ring closes without it (the notification never
   * came) the buffer stays busy for good: a leak, never reuse under the
   * kernel. The fd is no longer named after the first CQE, so close() can
   * close it then and reject the promises (the buffer still waits). */
  #sendZc(
    buf: FixedBuf,
    part: Uint8Array,
    index: number,
    options: RequestOptions | undefined,
    notifs: Promise<void>[],
  ): Promise<number> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const fd = this.#fd;
    const sent = Promise.withResolvers<number>();
    const done = Promise.withResolvers<void>();
    let result = 0;
    let ud = -1;
    let haveResult = false;
    let settled = false;
    let named = true; // the request still names the fd
    let why: Error | null = null; // abort reason / TimeoutError
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reportResult = (err: Error | null) => {
      if (haveResult) return;
      haveResult = true;
      if (err !== null) sent.reject(err);
      else if (why !== null && result === ECANCELED) sent.reject(why);
      else sent.resolve(result);
    };
    const settle = (err: Error | null) => {
      reportResult(err);
      if (settled) return;
      settled = true;
      this.#zcPending.delete(onClose);
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
      if (err) done.reject(err);
      else done.resolve();
    };
    const onClose = () => settle(this.#reqs.closedError(result));
    buf[kBusy](1);
    try {
      ud = request(
        this.#ring,
        (p, u) => sym().vb_net_prep_send(p, fd, part, part.length, 1, index, u),
        (res, flags, closed, lost) => {
          if ((flags & CQE_F_NOTIF) === 0) result = res;
          if ((flags & CQE_F_MORE) !== 0) {
            // The result; the notification follows. The request is done
            // with the fd (not with the memory).
            if (named) {
              named = false;
              this.#reqs.finished(ud);
            }
            if (this.#reqs.closed) onClose();
            else reportResult(null);
            return;
          }
          if (named) {
            named = false;
            this.#reqs.finished(ud);
          }
          // The kernel's last CQE for this send, unless the ring gave up
          // waiting for it (lost): then the memory may still be in the
          // socket's queue and the buffer must never be reused.
          if (!lost) buf[kBusy](-1);
          settle(
            closed && (lost || result < 0)
              ? new RingClosedError("the ring was closed during a zero-copy send", result)
              : this.#reqs.closedError(result),
          );
        },
      );
    } catch (e) {
      buf[kBusy](-1);
      return Promise.reject(e);
    }
    if (ud < 0) {
      buf[kBusy](-1);
      return Promise.resolve(ud);
    }
    this.#reqs.started(ud);
    this.#zcPending.add(onClose);
    // A notification that #sendAll no longer waits for (an error in a later
    // part) must not become an unhandled rejection.
    done.promise.catch(() => {});
    notifs.push(done.promise);
    const stop = () => {
      if (why !== null) return;
      why = signal?.aborted
        ? signal.reason
        : new DOMException(`the request timed out after ${options!.timeout} ms`, "TimeoutError");
      cancel(this.#ring, ud);
    };
    signal?.addEventListener("abort", stop, { once: true });
    if (options?.timeout !== undefined) timer = setTimeout(stop, options.timeout);
    return sent.promise;
  }

  // --- recv ---------------------------------------------------------------

  #startRecv(): void {
    if (this.#started) return;
    const g = typeof this.#groupArg === "function" ? this.#groupArg() : this.#groupArg;
    this.#groupObj = g;
    this.#group = g[kGroup];
    this.#group.join(this.#user);
    this.#started = true;
  }

  #armLater = (): void => this.#arm();

  /** Arms a receive unless one is armed, the stream ended, or this
   * connection holds its share of blocks (back-pressure). */
  #arm(): void {
    const g = this.#group;
    if (g === null || this.#reqs.closed || this.#ended || this.#armedUd >= 0) return;
    // With a share of the whole group, running dry is the limit (ENOBUFS).
    const per = this.#groupObj!.perConnection;
    if (this.#held >= per && per < this.#groupObj!.count) return;
    if (g.closed()) return this.#push(new ConnectionClosedError("the buffer group was closed"));
    const ring = this.#ring;
    if (ring.closed) return;
    const fd = this.#fd;
    let rc: number;
    if (this.#groupObj!.mode === "ring") {
      // A multishot recv takes blocks as fast as data arrives (a burst
      // already in the socket takes the whole group before any CQE is
      // seen), so no cancel can bound it: it is used only when the share
      // is the whole group (the dry ring ends it: ENOBUFS). Any smaller
      // share uses single-shot receives, one block each: a hard limit.
      const multi = features(ring).multishotRecv && this.#multishotRoom(per) ? 1 : 0;
      const bgid = this.#groupObj!.groupId;
      rc = request(
        ring,
        (p, ud) => sym().vb_net_prep_recv_select(p, fd, bgid, multi, ud),
        this.#onRecv,
      );
    } else {
      const bid = g.take();
      if (bid < 0) return g.starve(this.#user);
      const view = g.view(bid);
      this.#armedBid = bid;
      rc = request(
        ring,
        (p, ud) => sym().vb_net_prep_recv(p, fd, view, view.length, ud),
        this.#onRecv,
      );
      if (rc < 0) {
        this.#armedBid = -1;
        g.untake(bid);
      }
    }
    if (rc < 0) return this.#push(netError(rc, "arming recv"));
    this.#armedUd = rc;
    g.armStart();
  }

  /** Whether a multishot recv may be armed: only when this connection's
   * share is the whole group. */
  #multishotRoom(per: number): boolean {
    return per >= this.#groupObj!.count;
  }

  #onRecv = (res: number, flags: number, closed: boolean): void => {
    const g = this.#group!;
    const more = (flags & CQE_F_MORE) !== 0;
    let buf: FixedBuf | null = null;
    if (this.#groupObj!.mode === "ring") {
      if ((flags & CQE_F_BUFFER) !== 0) {
        const bid = flags >>> 16;
        if (res > 0 && !closed) buf = g.deliver(bid, res, this.#user);
        else g.unused(bid);
      }
    } else {
      const bid = this.#armedBid;
      this.#armedBid = -1;
      if (res > 0 && !closed) buf = g.filled(bid, res, this.#user);
      else g.untake(bid);
    }
    if (!more) {
      this.#armedUd = -1;
      g.armEnd();
      this.#reqs.closeFdWhenIdle();
    }
    if (closed) {
      this.#ended = true;
      return this.#push(
        new RingClosedError("the ring was closed while this connection was receiving", res),
      );
    }
    if (buf !== null) {
      this.#held++;
      if (this.#reqs.closed) buf.release();
      else this.#push(buf);
      // Back-pressure: a share smaller than the group is received with
      // single-shot recvs (#arm re-arms only below the share); a multishot
      // has the whole group, and the dry ring ends it (ENOBUFS).
    } else if (res === 0) {
      this.#ended = true;
      this.#push(null);
    } else if (res === ENOBUFS) {
      if (!this.#reqs.closed) g.starve(this.#user);
      return;
    } else if (res < 0 && res !== ECANCELED && !this.#reqs.closed) {
      this.#ended = true;
      this.#push(netError(res, "recv"));
    }
    if (!more) this.#arm();
  };

  /** Releases what was received and never handed out (queued blocks, the
   * rest of a block read() started). */
  #dropUnread(): void {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const item = this.#queue[i];
      if (item !== null && !(item instanceof Error)) item.release();
    }
    this.#queue = [];
    this.#head = 0;
  }

  #push(item: Item): void {
    if (this.#reqs.closed) {
      if (item !== null && !(item instanceof Error)) item.release();
      return;
    }
    if (item instanceof Error || item === null) {
      this.#ended = true;
      if (this.#waiters.length === 0) {
        this.#queue.push(item);
        return;
      }
      // Whoever waits gets end of stream / the error.
      for (const w of this.#waiters.splice(0)) {
        if (item instanceof Error) w.reject(item);
        else w.resolve(w.dst !== undefined ? 0 : null);
      }
      return;
    }
    // Waiters in call order: a recv() takes the buffer; a read() copies
    // what fits, and the rest goes on to the next waiter (or the queue).
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) {
      if (w.dst === undefined) return w.resolve(item);
      const len = item.length;
      const n = this.#copyOut(item, w.dst);
      w.resolve(n === -1 ? len : n);
      if (n === -1) return; // all of it was read (the block went back)
    }
    this.#queue.push(item);
  }

  /** Copies the start of `item` into `dst` for a read(): returns -1 when
   * it took all of it (the buffer is released), else the bytes copied (the
   * buffer keeps the rest, moved to its front). */
  #copyOut(item: FixedBuf, dst: Uint8Array): number {
    const src = item.bytes;
    const n = Math.min(dst.length, src.length);
    dst.set(n === src.length ? src : src.subarray(0, n));
    if (n === src.length) {
      item.release();
      return -1;
    }
    item[kConsumed](n);
    return n;
  }

  #take(): Promise<FixedBuf | null> {
    const item = this.#queue[this.#head];
    if (item === null || item instanceof Error) {
      // Stays at the head: later recv() calls see it again.
      return item === null ? Promise.resolve(null) : Promise.reject(item);
    }
    this.#queue[this.#head++] = null as unknown as FixedBuf;
    this.#compact();
    return Promise.resolve(item);
  }

  /** After the head was taken: drops the consumed part of the queue. */
  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** read() once recv() was used: copies from the head of the queue (the
   * rest of a block stays at the head, shortened), or waits in line with
   * the recv() calls; `buf` stays busy while it waits. */
  #readFromRecv(buf: FixedBuf, options?: RequestOptions): Promise<number> {
    const dst = buf.bytes;
    if (this.#head < this.#queue.length) {
      const item = this.#queue[this.#head];
      if (item === null) return Promise.resolve(0);
      if (item instanceof Error) return Promise.reject(item);
      const len = item.length;
      const n = this.#copyOut(item, dst);
      if (n !== -1) return Promise.resolve(n);
      this.#queue[this.#head++] = null as unknown as FixedBuf;
      this.#compact();
      return Promise.resolve(len);
    }
    if (this.#ended) return Promise.resolve(0);
    const w: Waiter = Promise.withResolvers<FixedBuf | null | number>();
    w.dst = dst;
    buf[kBusy](1);
    this.#waiters.push(w);
    this.#arm();
    const done = () => buf[kBusy](-1);
    return (watchWait(w, this.#waiters, options, "read") as Promise<number>).finally(done);
  }

  // --- lifetime -------------------------------------------------------------

  #check(): void {
    if (this.#reqs.closed) throw this.#closedError();
  }

  #liveFd(): number {
    this.#check();
    return this.#fd;
  }

  #closedError(): ConnectionClosedError | RingClosedError {
    if (this.#byRing) return new RingClosedError("the ring of this connection was closed");
    return new ConnectionClosedError("the connection is closed");
  }
}

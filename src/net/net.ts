/**
 * Network entry points behind `ring.listen`, `ring.connect`,
 * `ring.provideBuffers` and `ring.features` (Ring's methods delegate here).
 *
 * Sockets are made in C with plain syscalls; everything after goes
 * through the ring. NOTE: these sockets bypass Deno's `--allow-net`
 * (FFI needs only `--allow-ffi`): the permission system never sees them.
 *
 * @module
 */
import { RingClosedError } from "../errors.ts";
import type { BufPool } from "../pool.ts";
import type { Ring } from "../ring.ts";
import { BufferGroup, kGroup, type ProvideBuffersOptions } from "./buffer_group.ts";
import { kNewConn, RingConn } from "./conn.ts";
import {
  cstr,
  knownKeys,
  NET_REQUEST_OPTIONS,
  netError,
  oneShot,
  type RequestOptions,
  requestOptionsError,
  ringPtr,
  sym,
} from "./host.ts";
import { kNewListener, RingListener } from "./listener.ts";

/** Options of `ring.listen()`. */
export interface ListenOptions {
  /** Address to bind: an IPv4 or IPv6 literal or a name (default "0.0.0.0"). */
  hostname?: string;
  /** Port; 0 picks a free one (see `listener.addr.port`). */
  port: number;
  /** listen(2) backlog (default 511). */
  backlog?: number;
  /** SO_REUSEPORT: several listeners (rings, Workers) share the port. */
  reusePort?: boolean;
  /** The buffer group accepted connections' recv() draws from (default: the
   * ring's own group of 256 x 16 KiB blocks, made on first use). */
  recvBuffers?: BufferGroup;
}

/** Options of `ring.connect()`. */
export interface ConnectOptions extends RequestOptions {
  /** Host to connect to (default "127.0.0.1"). */
  hostname?: string;
  /** Port. */
  port: number;
  /** The buffer group recv() draws from (default: the ring's own group). */
  recvBuffers?: BufferGroup;
}

const defaults = new WeakMap<Ring, BufferGroup>();
const DEFAULT_SIZE = 16384;
const DEFAULT_COUNT = 256;

/** Makes the default group's pool: set by default_pool.ts (which mod.ts
 * imports), because ring.ts -> here -> hybrid_pool.ts -> pool.ts -> ring.ts
 * would be an import cycle evaluated too early. */
let makePool: ((size: number, count: number) => BufPool) | null = null;

/** @ignore Internal: installs the default pool maker. */
export function setDefaultPoolMaker(f: (size: number, count: number) => BufPool): void {
  makePool = f;
}

/** The ring's default buffer group (its own unregistered HybridPool). */
function defaultGroup(ring: Ring): BufferGroup {
  let g = defaults.get(ring);
  if (g === undefined || g.closed) {
    if (makePool === null) {
      throw new TypeError("no default recvBuffers: pass a group from ring.provideBuffers()");
    }
    const pool = makePool(DEFAULT_SIZE, DEFAULT_COUNT);
    try {
      g = new BufferGroup(ring, pool, { size: DEFAULT_SIZE, count: DEFAULT_COUNT }, true);
    } catch (e) {
      pool.close();
      throw e;
    }
    defaults.set(ring, g);
  }
  return g;
}

export { closeSockets } from "./socket_requests.ts";

/** Closes the ring's default group (at ring close). */
export function closeDefaultGroup(ring: Ring): void {
  defaults.get(ring)?.close();
  defaults.delete(ring);
}

function groupOf(ring: Ring, g: BufferGroup | undefined): BufferGroup | (() => BufferGroup) {
  if (g === undefined) return () => defaultGroup(ring);
  if (!(g instanceof BufferGroup)) {
    throw new TypeError("recvBuffers must be a BufferGroup from ring.provideBuffers()");
  }
  // A group id means something only in the ring that registered it.
  if (g[kGroup].ring() !== ring) {
    throw new TypeError("recvBuffers must be a BufferGroup of this ring (ring.provideBuffers())");
  }
  return g;
}

function portOf(port: unknown): number {
  if (typeof port !== "number") {
    throw new TypeError(`port must be a number from 0 to 65535, got ${typeof port}`);
  }
  if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${port}`);
  }
  return port as number;
}

/** `ring.listen()`. */
export function listen(ring: Ring, options: ListenOptions): RingListener {
  knownKeys("ring.listen", options, ["hostname", "port", "backlog", "reusePort", "recvBuffers"]);
  const port = portOf(options?.port);
  const host = options.hostname ?? "0.0.0.0";
  const backlog = options.backlog ?? 511;
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) {
    throw new RangeError(`backlog must be an integer from 1 to 65535, got ${backlog}`);
  }
  const group = groupOf(ring, options.recvBuffers);
  ringPtr(ring); // throws RingClosedError on a closed ring
  const out = new Int32Array(2);
  const fd = sym().vb_net_listen(cstr(host), port, backlog, options.reusePort ? 1 : 0, out);
  if (fd < 0) {
    if (fd === -98) {
      throw new Deno.errors.AddrInUse(
        `cannot listen on ${host}:${port}: the address is in use (EADDRINUSE)`,
      );
    }
    if (fd === -4020) {
      throw new Deno.errors.NotFound(`cannot listen on ${host}: the name does not resolve`);
    }
    throw netError(fd, `listen on ${host}:${port}`);
  }
  try {
    return new RingListener(kNewListener, ring, fd, group);
  } catch (e) {
    sym().vb_net_close_now(fd);
    throw e;
  }
}

/** Errors after which connect tries the name's next address. */
const NEXT_ADDRESS = new Set([-111, -101, -113, -99, -97]); // ECONNREFUSED ENETUNREACH EHOSTUNREACH EADDRNOTAVAIL EAFNOSUPPORT

/** `ring.connect()`: each address of the name in turn (as Deno.connect),
 * until one answers. */
export async function connect(ring: Ring, options: ConnectOptions): Promise<RingConn> {
  const bad = requestOptionsError("ring.connect", options, [
    "hostname",
    "port",
    "recvBuffers",
    ...NET_REQUEST_OPTIONS,
  ]);
  if (bad !== null) throw bad;
  const port = portOf(options?.port);
  const host = options.hostname ?? "127.0.0.1";
  const group = groupOf(ring, options.recvBuffers);
  ringPtr(ring); // throws RingClosedError on a closed ring
  const name = cstr(host);
  let last = 0;
  for (let index = 0;; index++) {
    const addr = new Uint8Array(128);
    const fam = new Int32Array(1);
    const alen = sym().vb_net_resolve(name, port, index, addr, fam);
    if (alen === -4020 && index > 0) break; // tried them all
    if (alen === -4020) throw new Deno.errors.NotFound(`cannot connect to ${host}: no such host`);
    if (alen < 0) throw netError(alen, `resolving ${host}`);
    const fd = sym().vb_net_socket(fam[0]);
    if (fd < 0) {
      last = fd;
      if (NEXT_ADDRESS.has(fd)) continue;
      throw netError(fd, "socket");
    }
    let res: number;
    try {
      // `addr` stays referenced by this closure until the CQE (the kernel
      // reads it while connecting).
      res = await oneShot(
        ring,
        (p, ud) => sym().vb_net_prep_connect(p, fd, addr, alen, ud),
        options,
        null,
      );
    } catch (e) {
      sym().vb_net_close_now(fd);
      throw e;
    }
    if (res >= 0 && ring.closed) { // completed during ring.close(): nothing owns it now
      sym().vb_net_close_now(fd);
      throw new RingClosedError("the ring was closed while this connect was pending", res);
    }
    if (res >= 0) return new RingConn(kNewConn, ring, fd, group);
    sym().vb_net_close_now(fd);
    last = res;
    if (!NEXT_ADDRESS.has(res)) break;
  }
  const err = netError(last, `connect to ${host}:${port}`);
  if (last === -111) err.message += " (nothing listens there)";
  throw err;
}

/** `ring.provideBuffers()`. */
export function provideBuffers(
  ring: Ring,
  pool: BufPool,
  options: ProvideBuffersOptions,
): BufferGroup {
  return new BufferGroup(ring, pool, options);
}

/**
 * Registering a pool's arenas with a Ring (the seed's RegisteredPool): the
 * C core does it; this turns its refusals into errors that say what to do.
 *
 * @module
 */
import { Err } from "../ffi/constants.ts";
import { cString, lib } from "../ffi/loader.ts";
import { MemlockError, RegistrationError } from "./errors.ts";
import { describe, errnoName } from "./native_errors.ts";
import { kRingPtr, type Ring } from "./ring.ts";

/** How to raise the limit, for every way a process gets started. */
const MEMLOCK_FIX =
  "Raise RLIMIT_MEMLOCK: `ulimit -l <KiB>` (or `ulimit -l unlimited`) in the shell that starts deno, " +
  "LimitMEMLOCK= in a systemd unit, `--ulimit memlock=-1` for docker, " +
  "or grant CAP_IPC_LOCK; or register a smaller pool.";

/** Registers every arena of the pool in the buffer table of each ring,
 * at the same indexes; returns the first registered index. */
export function registerPool(
  poolPtr: Deno.PointerObject,
  rings: readonly Ring[],
  poolName: string,
  bytes: number,
): number {
  const addrs = new BigUint64Array(
    rings.map((r) => BigInt(Deno.UnsafePointer.value(r[kRingPtr]()))),
  );
  const rc = lib().symbols.vb_pool_register_rings(poolPtr, addrs, rings.length);
  if (rc >= 0) return rc;
  throw registrationError(rc, poolPtr, rings, poolName, bytes, "register");
}

/** What a refused registration was for (the message's first part). */
const REFUSED = {
  register: (pool: string, bytes: number) => `cannot register pool "${pool}" (${bytes} bytes)`,
  grow: (pool: string, bytes: number) =>
    `pool "${pool}" is full and cannot grow: registering a new arena of ${bytes} bytes failed`,
  map: (pool: string, bytes: number) =>
    `pool "${pool}" (attached): this thread's first allocation maps its arena of ${bytes} bytes, and registering it with the owner's rings failed`,
};

/**
 * The error for a registration the C core refused with `code`, when the
 * pool was created (`register`), when it grew by one arena (`grow`), or
 * when a Worker's first allocation mapped its share (`map`; no pool
 * pointer: the message buffer is the owner thread's).
 */
export function registrationError(
  code: number,
  poolPtr: Deno.PointerObject | null,
  rings: readonly Ring[],
  poolName: string,
  bytes: number,
  when: "register" | "grow" | "map",
): Error {
  const sym = lib().symbols;
  const what = REFUSED[when](poolName, bytes);
  const limit = sym.vb_memlock_limit();
  switch (code) {
    case Err.EMEMLOCK: {
      const pinned = sym.vb_pinned_bytes();
      const need = Math.ceil((pinned + bytes) / 1024);
      return new MemlockError(
        `${what}: it would pin ${bytes} bytes but RLIMIT_MEMLOCK is ${limit} bytes (${pinned} already pinned by this process; needed at least ${need} KiB). ${MEMLOCK_FIX}`,
        bytes,
        limit,
        code,
      );
    }
    case Err.EKMEMLOCK:
      return new MemlockError(
        `${what}: the kernel refused with ENOMEM. Registered memory counts against RLIMIT_MEMLOCK (now ${
          limit < 0 ? "unlimited" : `${limit} bytes`
        }) together with what other processes of this user pin. ${MEMLOCK_FIX}`,
        bytes,
        limit,
        code,
      );
    case Err.ENOSLOTS:
      return new RegistrationError(
        `${what}: no run of free slots is left in the buffer table${
          rings.length > 1 ? "s of its rings (the same indexes must be free in every one)" : ""
        } (bufferSlots ${
          rings.map((r) => r.bufferSlots).join(", ")
        }). Create the Ring with a larger bufferSlots (up to 16384).`,
        { code },
      );
    case Err.EBUSY:
      return new RegistrationError(`${what}: it is already registered`, { code });
    default: {
      const detail = poolPtr === null ? "" : cString(sym.vb_pool_last_error(poolPtr));
      return new RegistrationError(
        `${what}: ${errnoName(code)}: ${describe(code)}${detail ? ` (${detail})` : ""}`,
        { code },
      );
    }
  }
}

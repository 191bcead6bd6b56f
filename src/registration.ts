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

/** Registers every region of the pool in the ring's buffer table; returns
 * the first registered index. */
export function registerPool(
  poolPtr: Deno.PointerObject,
  ring: Ring,
  poolName: string,
  bytes: number,
): number {
  const sym = lib().symbols;
  const rc = sym.vb_pool_register(poolPtr, ring[kRingPtr]());
  if (rc >= 0) return rc;
  const where = `pool "${poolName}" (${bytes} bytes)`;
  const limit = sym.vb_memlock_limit();
  switch (rc) {
    case Err.EMEMLOCK: {
      const pinned = sym.vb_pinned_bytes();
      const need = Math.ceil((pinned + bytes) / 1024);
      throw new MemlockError(
        `cannot register ${where}: it would pin ${bytes} bytes but RLIMIT_MEMLOCK is ${limit} bytes (${pinned} already pinned by this process; needed at least ${need} KiB). ${MEMLOCK_FIX}`,
        bytes,
        limit,
        rc,
      );
    }
    case Err.ENOMEM:
      throw new MemlockError(
        `cannot register ${where}: the kernel refused with ENOMEM. Registered memory counts against RLIMIT_MEMLOCK (now ${
          limit < 0 ? "unlimited" : `${limit} bytes`
        }) together with what other processes of this user pin. ${MEMLOCK_FIX}`,
        bytes,
        limit,
        rc,
      );
    case Err.ENOSLOTS:
      throw new RegistrationError(
        `cannot register ${where}: the ring's ${ring.bufferSlots} buffer slots are taken. Create the Ring with a larger bufferSlots (up to 16384).`,
        { code: rc },
      );
    case Err.EBUSY:
      throw new RegistrationError(`${where} is already registered`, { code: rc });
    default: {
      const detail = cString(sym.vb_pool_last_error(poolPtr));
      throw new RegistrationError(
        `cannot register ${where}: ${errnoName(rc)}: ${describe(rc)}${
          detail ? ` (${detail})` : ""
        }`,
        { code: rc },
      );
    }
  }
}

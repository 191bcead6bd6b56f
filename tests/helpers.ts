/** Helpers shared by the tests (not part of the package). */
import { lib } from "../ffi/loader.ts";

/** Pools alive in this process, per the C core. */
export function livePools(): number {
  return lib().symbols.vb_live_pools();
}

/** Whether this process has CAP_IPC_LOCK (pinned memory not charged). */
export function hasIpcLock(): boolean {
  return lib().symbols.vb_has_ipc_lock() === 1;
}

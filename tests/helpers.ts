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

/** mulberry32: a small seeded generator (uniform in [0, 1)), so a failing
 * randomized test can be replayed from its printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

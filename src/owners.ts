/**
 * This thread's owner object for each C pool it uses: the pool itself in
 * the thread that created it, an AttachedPool in a Worker.  attachBuf looks
 * up here which object a buffer handed over from another thread belongs to
 * (each Worker has its own copy of this module, so its own map).
 *
 * @module
 */
import type { BufOwner } from "./fixed_buf.ts";

const owners = new Map<bigint, BufOwner>();

/** Records the owner of the C pool at `address` in this thread. */
export function addOwner(address: bigint, owner: BufOwner): void {
  owners.set(address, owner);
}

/** Forgets it (the pool closed, or was detached from this thread). */
export function removeOwner(address: bigint, owner: BufOwner): void {
  if (owners.get(address) === owner) owners.delete(address);
}

/** This thread's owner of the C pool at `address`, if any. */
export function ownerOf(address: bigint): BufOwner | undefined {
  return owners.get(address);
}

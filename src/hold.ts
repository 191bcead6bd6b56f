/**
 * kHold: what a ring request holds until its last completion. A FileHandle
 * (and a connection of src/net/) counts the requests using it, so that
 * closing it while they are queued or in flight only marks it closed and
 * the real close(2) waits for the last one (fd numbers are reused at once).
 *
 * @module
 */

/** Internal: `[kHold](+1)` when a request starts using the object (throws
 * when it is closed), `[kHold](-1)` when that request's last CQE is reaped. */
export const kHold: unique symbol = Symbol("veloq.hold");

/** Something a request can hold (FileHandle, a connection). */
export interface Holdable {
  /** @ignore +1 / -1 (see kHold). */
  [kHold](delta: 1 | -1): void;
}

/**
 * Waking allocAsync waiters of one pool across threads (Deno Workers).
 *
 * A release in one thread can give memory to a waiter in another: a Worker
 * releasing a buffer of the main thread's arena, the main thread releasing
 * one of a Worker's arena. The C core moves the memory (remote-free lists);
 * this module tells the waiting thread, without parking any blocking call:
 *
 * - Every shared pool has one SharedArrayBuffer of two cells, made by the
 *   first `share()` and carried by every share handle: EPOCH, bumped by a
 *   thread that gave memory to other threads while somebody waits, and
 *   WAITERS, how many threads have waiters on the pool now.
 * - A thread with waiters counts itself in WAITERS and waits for EPOCH to
 *   move with `Atomics.waitAsync`: V8 keeps the waiter in its own list and
 *   posts a task to this thread's event loop when another thread calls
 *   `Atomics.notify`. No thread of Deno's blocking pool is used (it has 32
 *   threads for the whole runtime; issue 14), and a pending waitAsync does
 *   not keep the event loop alive.
 * - A thread that released memory of other threads' arenas first hands the
 *   releases to the C core (by the end of the releasing task: one flush per
 *   task), then reads WAITERS: while it is 0 that is the whole cost (one
 *   atomic load per task, not per release); otherwise it bumps EPOCH and
 *   notifies.
 *
 * No wake-up is lost: a waiter raises WAITERS, then reads EPOCH, then tries
 * to allocate, then waits for EPOCH to differ from what it read. A releaser
 * publishes its frees in C, then reads WAITERS. Either the releaser sees
 * the waiter (and bumps EPOCH: the waitAsync returns at once or is
 * notified), or the waiter's attempt, which comes after its WAITERS store,
 * sees the frees (all of these are sequentially consistent atomics).
 *
 * Releases made by a thread's exit hook (a terminated Worker's buffers, see
 * csrc/thread_exit.c) run in C with no JavaScript to notify: waiting
 * threads also look again every RECHECK_MS while they wait, on a timer that
 * keeps the event loop alive (a pending waitAsync does not), so an
 * allocAsync waiting for a dead Worker's buffers settles even when nothing
 * else keeps the program running.
 *
 * @module
 */

const EPOCH = 0;
const WAITERS = 1;
const CELLS = 2;
/** Safety net while waiting: releases nobody could notify (a Worker's
 * thread ending) are found within this time. */
const RECHECK_MS = 100;

/** The shared cells of a new shared pool. */
export function newWakeCells(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(CELLS * 4));
}

/** Checks cells that came with a share handle. */
export function isWakeCells(x: unknown): x is Int32Array {
  return x instanceof Int32Array && x.buffer instanceof SharedArrayBuffer &&
    x.length === CELLS;
}

/** What the watcher needs from the pool's waiting line. */
export interface WaitingLine {
  /** Waiters now. */
  readonly length: number;
  /** Serves waiters (in a microtask) if memory may have come back. */
  wake(): void;
}

/** One thread's side of one pool's cross-thread wake-ups. */
export class CrossWake {
  /** The pool's shared cells. */
  readonly cells: Int32Array;
  #line: WaitingLine;
  #watching = false;
  #closed = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Bumped by each watch(): a waitAsync of an earlier watch that settles
   * later must not start a second chain of waits. */
  #generation = 0;

  /** `line` is this thread's waiting line of the pool. */
  constructor(cells: Int32Array, line: WaitingLine) {
    this.cells = cells;
    this.#line = line;
  }

  /** This thread gave memory to other threads (after the C core has the
   * frees): wakes their waiters, if there are any. */
  notify(): void {
    const cells = this.cells;
    if (Atomics.load(cells, WAITERS) === 0) return;
    Atomics.add(cells, EPOCH, 1);
    Atomics.notify(cells, EPOCH);
  }

  /** This thread has waiters: watch for memory released in other threads
   * until it has none. */
  watch(): void {
    if (this.#watching || this.#closed) return;
    this.#watching = true;
    this.#generation++;
    Atomics.add(this.cells, WAITERS, 1);
    this.#timer = setInterval(this.#recheck, RECHECK_MS);
    this.#arm();
  }

  /** The pool is closed (or detached) in this thread: stop watching. */
  close(): void {
    this.#closed = true;
    this.#unwatch();
  }

  #arm(): void {
    const seen = Atomics.load(this.cells, EPOCH);
    // A release that came before WAITERS went up notified nobody: look now.
    this.#line.wake();
    const generation = this.#generation;
    const onWake = () => this.#onWake(generation);
    const r = Atomics.waitAsync(this.cells, EPOCH, seen);
    if (r.async) r.value.then(onWake);
    else setTimeout(onWake, 0); // moved meanwhile: look again (not in a microtask loop)
  }

  #onWake(generation: number): void {
    if (this.#closed || !this.#watching || generation !== this.#generation) return;
    if (this.#line.length === 0) {
      this.#unwatch();
      return;
    }
    this.#arm();
  }

  /** The timer's look: releases nobody notified (see the module doc). */
  #recheck = (): void => {
    if (this.#line.length === 0) this.#unwatch();
    else this.#line.wake();
  };

  #unwatch(): void {
    if (!this.#watching) return;
    this.#watching = false;
    clearInterval(this.#timer);
    Atomics.sub(this.cells, WAITERS, 1);
  }
}

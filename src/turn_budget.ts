/**
 * How much completion work a thread does without an event-loop turn.
 *
 * Requests that complete inside `io_uring_submit` (page-cache hits) are
 * settled by the ring's flush, in a microtask; an `await` loop of them then
 * issues the next request in a microtask too, forever: timers, other rings'
 * wake-ups and a Worker's terminate() would never get a turn. So the first
 * such settlement after a macrotask starts a budget (BUDGET_MS), and a
 * macrotask posted then marks the next turn of the event loop; past the budget the
 * rings defer their drains to a macrotask. A lone request (or any loop
 * shorter than the budget) keeps settling at once.
 *
 * Module state: one budget per JS thread (isolate), shared by its rings.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** Inline work allowed between two event-loop turns (ms). */
export const BUDGET_MS = 1;

let start = -1;
let turnQueued = false;
/** What waits for the next turn (one macrotask for all). */
let afterTurn: (() => void)[] = [];

function turn(): void {
  turnQueued = false;
  start = -1;
  const fns = afterTurn;
  afterTurn = [];
  for (const fn of fns) fn();
}

/** Runs `fn` in the next turn of the event loop (the budget's macrotask,
 * posted now unless it already is), with a fresh budget. */
export function onNextTurn(fn: () => void): void {
  afterTurn.push(fn);
  postTurn();
}

function postTurn(): void {
  if (turnQueued) return;
  turnQueued = true;
  // A macrotask: Deno runs it after the event loop polled timers and I/O
  // (1.6 us per turn on the 2-vCPU VM; `setTimeout(fn, 0)` takes 1-4 ms).
  // It keeps nothing alive once it ran. (A fresh MessageChannel per turn,
  // used before, cost ~12 us.)
  setImmediate(turn);
}

/** Completions were settled without a wake-up (inside a microtask run). */
export function inlineSettled(): void {
  if (start >= 0) return;
  start = performance.now();
  postTurn();
}

/** True when this macrotask already did a budget's worth of inline work. */
export function overBudget(): boolean {
  return start >= 0 && performance.now() - start > BUDGET_MS;
}

/** Called from the parked wait's result (a turn during which the thread
 * was idle): a fresh budget. */
export function turned(): void {
  start = -1;
}

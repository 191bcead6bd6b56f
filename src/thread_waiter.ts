/**
 * The one blocking wait of this JS thread, for all of its rings.
 *
 * Every Ring of the thread signals one eventfd (the C waiter,
 * csrc/waiter.c). At most ONE nonblocking FFI call (`vb_waiter_wait`) is
 * parked on Deno's blocking pool per JS thread, however many rings there
 * are, so 64 rings never starve that 32-thread pool (Deno's own file
 * operations use it too). When it returns, every ring of the thread drains
 * its completions with fast calls; it is parked again only while some ring
 * has requests in the kernel, so an idle program can exit. Closing the last
 * busy ring wakes a parked wait (an eventfd write) instead of leaving it
 * parked.
 *
 * @module
 */
import { lib } from "../ffi/loader.ts";
import { VeloqError } from "./errors.ts";
import { inlineSettled, onNextTurn, overBudget, turned } from "./turn_budget.ts";

/** Longest poll (no syscall) before the other waits (us), and the recent
 * wait length under which it is tried. */
const SPIN_US = 100;

/**
 * Longest inline wait (us): this thread blocks in the kernel itself
 * (vb_waiter_block) instead of parking the helper, while recent waits were
 * shorter than this. The kernel then wakes the JS thread directly, as it
 * wakes fio in io_uring_enter, instead of waking the helper, which must
 * then hand its result to the event loop (measured 20-100 us per wake-up
 * on a 2-vCPU VM, `deliveryUs` below). The thread does nothing else while
 * it blocks, so inline waits stop once the turn budget
 * (src/turn_budget.ts, 1 ms of inline work) is spent: the event loop gets
 * a turn (one macrotask) before the next.
 */
const INLINE_US = 1000;

/** What the waiter asks of a ring. */
export interface WaitClient {
  /** Drains the ring after a wake-up; true while it still needs a wait. */
  onWake(): boolean;
  /** True while the ring has requests in the kernel. */
  needsWait(): boolean;
  /** True while the ring is gathering requests to submit (a flush or a
   * deferred drain is queued); it calls `need()` once that is done. */
  gathering(): boolean;
  /** False: this ring's thread never blocks inline for it (RingOptions.inlineWait). */
  readonly inlineWait: boolean;
}

/** The thread's waiter (one per JS thread: module state is per isolate). */
export class ThreadWaiter {
  #sym = lib().symbols;
  #ptr: Deno.PointerObject;
  #clients = new Set<WaitClient>();
  #parked = false;
  #spinQueued = false;
  #parkedAt = 0;
  /** Moving average of how long parked waits lasted (us). */
  #avgWaitUs = 1e9;
  #spins = 0;
  #spinHits = 0;
  #blocks = 0;
  #blockHits = 0;
  /** Inline waits that missed in a row, and parked waits left before the
   * next inline try. */
  #misses = 0;
  #skipInline = 0;
  /** Rings of this thread that refuse inline waits. */
  #noInline = 0;
  #turnQueued = false;
  #deliveryNs = 0;
  /** Wake-ups of the parked call (all rings of the thread together). */
  wakeups = 0;

  constructor() {
    const cell = new BigUint64Array(1);
    // Its own waiter (eventfd): a second copy of this package in the thread
    // has another, so neither empties the count the other was woken for.
    const rc = this.#sym.vb_waiter_create(cell);
    if (rc < 0) {
      throw new VeloqError(`cannot make the thread's completion waiter (eventfd): ${rc}`, {
        code: rc,
      });
    }
    this.#ptr = Deno.UnsafePointer.create(cell[0])!;
  }

  /** Makes `ring` signal this waiter. Returns 0 or -errno. */
  attach(client: WaitClient, ring: Deno.PointerObject): number {
    const rc = this.#sym.vb_ring_set_waiter(ring, this.#ptr);
    if (rc === 0) {
      this.#clients.add(client);
      if (!client.inlineWait) this.#noInline++;
    }
    return rc;
  }

  /** Forgets a ring that is closing (before it is destroyed). A parked wait
   * that no ring needs any more is woken, so nothing stays parked. */
  detach(client: WaitClient): void {
    if (this.#clients.delete(client) && !client.inlineWait) this.#noInline--;
    if (this.#parked && !this.#anyNeeds()) this.#sym.vb_waiter_wake(this.#ptr);
  }

  /** Rings have requests in the kernel: wait for them, inline while waits
   * are short (a poll, then a bounded block in the kernel), else parked.
   * Called by a ring after it submitted, and after every wake-up; a no-op
   * while some ring is still gathering requests or none needs a wait. */
  need(): void {
    if (this.#spinQueued || this.#turnQueued) return;
    // A ring still gathering the requests its completions' continuations
    // make calls need() again once they are submitted: waiting inline now
    // would hold them back behind the requests still in the kernel. The
    // other rings must not wait for it (one whose requests keep completing
    // inside submit gathers for long: review 14c D1): what they have ready
    // is drained now (one look in C), else a parked wait covers them.
    let gathering = false, others = false;
    for (const c of this.#clients) {
      if (c.gathering()) gathering = true;
      else if (c.needsWait()) others = true;
    }
    if (gathering) {
      if (!others) return;
      if (this.#sym.vb_waiter_spin(this.#ptr, 0) === 1) {
        this.#spinQueued = true;
        queueMicrotask(this.#onSpin);
      } else if (!this.#parked) this.#park();
      return;
    }
    // Nothing gathers: `others` is then every ring that needs a wait.
    if (this.#parked || !others) return;
    if (this.#skipInline > 0) this.#skipInline--; // backing off after misses
    else if (this.#avgWaitUs < INLINE_US && this.#noInline === 0) {
      // Inline work since the event loop last turned is over budget: let
      // it turn (timers, sockets, other promises), then wait again.
      if (overBudget()) return this.#turnThenNeed();
      if (this.#waitInline()) return;
    }
    this.#park();
  }

  #park(): void {
    this.#parkedAt = performance.now();
    this.#parked = true;
    this.#sym.vb_waiter_arm(this.#ptr);
    this.#sym.vb_waiter_wait(this.#ptr).then(this.#onWake);
  }

  /** Waits on this thread: true when a completion arrived (drained in a
   * microtask), false when the wait should be parked instead. */
  #waitInline(): boolean {
    const t0 = performance.now();
    let hit = false;
    if (this.#avgWaitUs < SPIN_US) {
      this.#spins++;
      hit = this.#sym.vb_waiter_spin(this.#ptr, SPIN_US) === 1;
      if (hit) this.#spinHits++;
    }
    if (!hit) {
      this.#blocks++;
      const us = Math.min(INLINE_US, Math.max(250, Math.ceil(4 * this.#avgWaitUs)));
      hit = this.#sym.vb_waiter_block(this.#ptr, us) === 1;
      if (hit) this.#blockHits++;
    }
    if (!hit) {
      // Longer than that: park, and measure again. Waits can be short and
      // still never end inline: a completion that needs this thread's
      // event loop (the peer is Deno's own socket in this thread) comes
      // only once the thread is free. So each miss in a row doubles the
      // parked waits before the next try (2, 4, ... 256): a miss costs up
      // to 1 ms, a few percent at most once backed off.
      this.#avgWaitUs = INLINE_US * 4;
      this.#misses = Math.min(this.#misses + 1, 8);
      this.#skipInline = 2 ** this.#misses;
      return false;
    }
    this.#misses = 0;
    this.#avgWaitUs = this.#avgWaitUs * 0.5 + (performance.now() - t0) * 500;
    inlineSettled(); // counts toward the turn budget
    this.#spinQueued = true;
    queueMicrotask(this.#onSpin);
    return true;
  }

  #turnThenNeed(): void {
    this.#turnQueued = true;
    onNextTurn(() => {
      this.#turnQueued = false;
      if (this.#anyNeeds()) this.need();
    });
  }

  /** The native waiter's address (tests: two copies of the package in one
   * thread must not share one). */
  get address(): bigint {
    return BigInt(Deno.UnsafePointer.value(this.#ptr));
  }

  /** True while the one wait is parked. */
  get parked(): boolean {
    return this.#parked;
  }

  #anyNeeds(): boolean {
    for (const c of this.#clients) if (c.needsWait()) return true;
    return false;
  }

  #onSpin = (): void => {
    this.#spinQueued = false;
    this.#drainAll(0);
  };

  #onWake = (rc: number): void => {
    this.#parked = false;
    turned(); // a macrotask: the inline budget starts again
    this.wakeups++;
    const us = (performance.now() - this.#parkedAt) * 1000;
    // Helper thread back from the kernel -> this handler: Deno's delivery
    // of a nonblocking call's result (blocking pool -> event loop -> JS).
    this.#deliveryNs += this.#sym.vb_now_ns() - this.#sym.vb_waiter_woke_ns(this.#ptr);
    this.#avgWaitUs = this.#avgWaitUs * 0.5 + us * 0.5;
    this.#drainAll(rc);
  };

  #drainAll(rc: number): void {
    let again = false;
    // Every ring, not only the busy ones: an internal CQE (a cancel, a
    // linked timeout) left in an idle ring would end every wait at once.
    for (const c of this.#clients) if (c.onWake()) again = true;
    if (!again) return;
    // A failing wait (-errno) must not spin: look again a little later.
    if (rc < 0) setTimeout(() => this.#anyNeeds() && this.need(), 1);
    else this.need();
  }

  /** Wait statistics: polls tried and polls that found a completion,
   * inline blocks tried and blocks that ended with a completion;
   * mean delivery time of a parked wait's result (helper thread back from
   * the kernel until this thread's handler runs), in microseconds. */
  spinStats(): {
    spins: number;
    hits: number;
    blocks: number;
    blockHits: number;
    wakeups: number;
    deliveryUs: number;
  } {
    return {
      spins: this.#spins,
      hits: this.#spinHits,
      blocks: this.#blocks,
      blockHits: this.#blockHits,
      wakeups: this.wakeups,
      deliveryUs: this.wakeups ? this.#deliveryNs / this.wakeups / 1000 : 0,
    };
  }
}

let waiter: ThreadWaiter | null = null;

/** This thread's waiter, made on first use. */
export function threadWaiter(): ThreadWaiter {
  return waiter ??= new ThreadWaiter();
}

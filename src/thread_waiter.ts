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
import { turned } from "./turn_budget.ts";

/** Longest poll before parking (us), and the wait length under which
 * polling is tried at all. */
const SPIN_US = 100;

const SPIN_RUN = 8;

/** What the waiter asks of a ring. */
export interface WaitClient {
  /** Drains the ring after a wake-up; true while it still needs a wait. */
  onWake(): boolean;
  /** True while the ring has requests in the kernel. */
  needsWait(): boolean;
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
  #deliveryNs = 0;
  /** Spin hits since the last parked wait: the spin path runs entirely in
   * microtasks, so it parks every SPIN_RUN hits to let the event loop turn
   * (timers, sockets, other promises of the program). */
  #spinRun = 0;
  /** Wake-ups of the parked call (all rings of the thread together). */
  wakeups = 0;

  constructor() {
    const cell = new BigUint64Array(1);
    const rc = this.#sym.vb_thread_waiter(cell);
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
    if (rc === 0) this.#clients.add(client);
    return rc;
  }

  /** Forgets a ring that is closing (before it is destroyed). A parked wait
   * that no ring needs any more is woken, so nothing stays parked. */
  detach(client: WaitClient): void {
    this.#clients.delete(client);
    if (this.#parked && !this.#anyNeeds()) this.#sym.vb_waiter_wake(this.#ptr);
  }

  /** A ring has requests in the kernel: make sure the wait is parked. */
  need(): void {
    if (this.#parked || this.#spinQueued) return;
    // Completions due within a few microseconds (recent waits were short):
    // poll for them instead of paying the parked call's wake-up (~20-50 us
    // from CQE to JS). Bounded, and only while waits stay that short.
    if (this.#avgWaitUs < SPIN_US && this.#spinRun < SPIN_RUN) {
      this.#spins++;
      if (this.#sym.vb_waiter_spin(this.#ptr, SPIN_US) === 1) {
        this.#spinHits++;
        this.#spinRun++;
        this.#avgWaitUs *= 0.75; // still short
        this.#spinQueued = true;
        queueMicrotask(this.#onSpin);
        return;
      }
      this.#avgWaitUs = SPIN_US * 4; // missed: park, and measure again
    }
    this.#parkedAt = performance.now();
    this.#parked = true;
    this.#sym.vb_waiter_arm(this.#ptr);
    this.#sym.vb_waiter_wait(this.#ptr).then(this.#onWake);
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
    this.#spinRun = 0;
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

  /** Spin statistics: polls tried, and polls that found a completion;
   * mean delivery time of a parked wait's result (helper thread back from
   * the kernel until this thread's handler runs), in microseconds. */
  spinStats(): { spins: number; hits: number; wakeups: number; deliveryUs: number } {
    return {
      spins: this.#spins,
      hits: this.#spinHits,
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

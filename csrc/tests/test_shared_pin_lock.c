/*
 * test_shared_pin_lock.c - review 13b #3: a view's first allocation pins
 * its arena in the owner's rings without the process-wide share lock, so
 * the kernel's pinning (seconds for a large arena) stalls no other pool:
 * while it runs, the owner creates, shares and destroys unrelated pools,
 * none of them waiting for most of it (neither for the share lock nor for
 * the mmap lock the kernel holds while it faults pages in for a pin).
 * Runs under TSan too (scripts/hardening.sh tsan: the "shared" filter).
 */
#define _GNU_SOURCE
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define MiB (1024u * 1024u)
/* Large enough that pinning takes the kernel well over the time of a few
 * dozen pool create/destroy pairs (256 MiB: ~0.1-1 s here). */
#define PIN_ARENA (256u * MiB)

typedef struct pinner {
    vb_pool *pool;
    uint32_t share[2];
    _Atomic int started, done;
    int32_t handle, index;
    double ms;
} pinner;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *pin_view(void *arg) {
    pinner *x = arg;
    vb_view *v;
    if (vb_view_attach(x->pool, x->share[0], x->share[1], &v) != 0) {
        atomic_store_explicit(&x->done, 1, memory_order_release);
        return 0;
    }
    atomic_store_explicit(&x->started, 1, memory_order_release);
    double t0 = now_ms();
    x->handle = vb_view_alloc(v, 4096); /* maps and pins PIN_ARENA */
    x->ms = now_ms() - t0;
    x->index = (int32_t)vb_view_out(v)[VB_OUT_BUF_INDEX];
    if (x->handle >= 0) vb_view_free(v, x->handle);
    vb_view_detach(v);
    atomic_store_explicit(&x->done, 1, memory_order_release);
    return 0;
}

/* Whether PIN_ARENA more may be pinned (else the test says so and ends). */
static int can_pin(void) {
    double limit = vb_memlock_limit();
    if (vb_has_ipc_lock() || limit < 0 || limit >= vb_pinned_bytes() + PIN_ARENA) return 1;
    test_note("skipped: RLIMIT_MEMLOCK %.0f bytes and no CAP_IPC_LOCK (needs %u MiB)", limit, PIN_ARENA / MiB);
    return 0;
}

/* A ring, a PIN_ARENA pool registered with it and shared, and the view's
 * thread started into its first allocation (returns once it is about to). */
static int pin_start(vb_ring **r, pinner *x, pthread_t *t) {
    memset(x, 0, sizeof *x);
    x->handle = x->index = -99;
    if (vb_ring_create(8, 16, 0, r) != 0) return -1;
    if (vb_buddy_create(PIN_ARENA, 0, 0, 0, &x->pool) != 0) return -1;
    if (vb_pool_register(x->pool, *r) != 0 || vb_pool_share(x->pool, x->share) != 0) return -1;
    if (pthread_create(t, 0, pin_view, x) != 0) return -1;
    while (!atomic_load_explicit(&x->started, memory_order_acquire) &&
           !atomic_load_explicit(&x->done, memory_order_acquire)) {
    }
    return 0;
}

static void shared_pin_without_share_lock(void) {
    SKIP_UNDER_VALGRIND(); /* timing-sized: the pin against many small calls */
    if (!can_pin()) return;
    vb_ring *r;
    pinner x;
    pthread_t t;
    REQUIRE(pin_start(&r, &x, &t) == 0);
    /* Let the view get into its pin first (mapping takes it microseconds):
     * otherwise a tight loop of ours could keep the share lock from an old
     * build's view, which then pinned after the loop, unmeasured. */
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, 0);
    /* Unrelated pools, each created, shared (its share lock), unshared and
     * destroyed while the view pins: with the pin under the share lock each
     * of these waits for the whole pin, so at most one or two complete. */
    uint32_t during = 0;
    double worst = 0;
    while (!atomic_load_explicit(&x.done, memory_order_acquire)) {
        double t0 = now_ms();
        vb_pool *q;
        uint32_t h[2];
        if (vb_buddy_create(64 * 1024, 0, 0, 0, &q) != 0) break;
        CHECK_RC(vb_pool_share(q, h), 0);
        CHECK_RC(vb_pool_unshare(q, h[0]), 0);
        CHECK_RC(vb_pool_destroy(q), 0);
        double dt = now_ms() - t0;
        if (dt > worst) worst = dt;
        if (!atomic_load_explicit(&x.done, memory_order_acquire)) during++;
    }
    pthread_join(t, 0);
    CHECK_MSG(x.handle >= 0 && x.index == 1, "first alloc %d, index %d", x.handle, x.index);
    CHECK_MSG(during >= 20, "%u unrelated create+share+destroy done while the view pinned for %.0f ms (worst %.1f ms)",
              during, x.ms, worst);
    /* And none of them waited for most of the pin: with the share lock
     * free, the kernel faulting the arena in under the mmap lock (mmap and
     * munmap wait for it) was the next stall; the view faults it in first. */
    CHECK_MSG(worst < x.ms / 2, "an unrelated create+share+destroy took %.1f ms of the view's %.0f ms pin", worst,
              x.ms);
    test_note("pin %.0f ms; %u unrelated pools meanwhile, worst %.2f ms", x.ms, during, worst);
    CHECK_RC(vb_pool_destroy(x.pool), 0);
    CHECK_RC(vb_ring_destroy(r), 0);
}

/* The ring destroyed while the view pins: the destroy waits for the pin
 * (the fd stays open for it), the view ends registered or not, never on a
 * closed ring, and every pin is undone. */
static void shared_pin_ring_destroy_waits(void) {
    SKIP_UNDER_VALGRIND();
    if (!can_pin()) return;
    double pinned = vb_pinned_bytes();
    vb_ring *r;
    pinner x;
    pthread_t t;
    REQUIRE(pin_start(&r, &x, &t) == 0);
    CHECK_RC(vb_ring_destroy(r), 0);
    pthread_join(t, 0);
    CHECK_MSG(x.handle >= 0 && (x.index == 1 || x.index == -1), "first alloc %d, index %d", x.handle, x.index);
    CHECK_RC(vb_pool_destroy(x.pool), 0);
    CHECK(vb_pinned_bytes() == pinned);
}

const test_case shared_pin_lock_tests[] = {
    TEST(shared_pin_without_share_lock),
    TEST(shared_pin_ring_destroy_waits),
    TEST_END,
};

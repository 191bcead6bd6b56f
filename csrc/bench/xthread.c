/*
 * xthread.c - vb_bench_threads: what a release from another thread costs,
 * beside the owner thread's own alloc+release (`zig build bench`).
 *
 *   owner:   one thread allocates and frees 4 KiB buffers (the hot path)
 *   remote:  the owner allocates, a second thread frees (vb_view_free on a
 *            buffer of the owner's arena: the remote-free push), and the
 *            owner takes them back when it runs short
 *
 * Handles go from owner to freer through a single-producer ring of atomics,
 * so the figure is the allocator's cost plus one cache-line hand-over, the
 * least any cross-thread release can cost.  ns per buffer, median of runs.
 */
#include "veloq_buffer.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RING 1024u
#define N (1u << 21)
#define RUNS 5

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef struct handoff {
    _Atomic int32_t slot[RING];
    _Atomic uint32_t head; /* written by the producer */
    vb_view *view;
} handoff;

static void *freer(void *arg) {
    handoff *h = arg;
    for (uint32_t i = 0; i < N; i++) {
        int32_t v;
        while ((v = atomic_exchange_explicit(&h->slot[i % RING], -1, memory_order_acquire)) < 0)
            sched_yield();
        if (vb_view_free(h->view, v) != 0) abort();
    }
    return 0;
}

static double owner_only(void) {
    vb_pool *p;
    if (vb_buddy_create(32u << 20, 64, 6, 0, &p)) abort();
    double t = now_ns();
    for (uint32_t i = 0; i < N; i++) {
        int32_t h = vb_pool_alloc(p, 4096);
        if (h < 0 || vb_pool_free(p, h)) abort();
    }
    t = (now_ns() - t) / N;
    vb_pool_destroy(p);
    return t;
}

static double remote(void) {
    vb_pool *p;
    if (vb_buddy_create(32u << 20, 64, 6, 0, &p)) abort();
    uint32_t share[2];
    vb_view *v;
    if (vb_pool_share(p, share) || vb_view_attach(p, share[0], share[1], &v)) abort();
    static handoff h;
    for (uint32_t i = 0; i < RING; i++) atomic_store(&h.slot[i], -1);
    h.view = v;
    pthread_t th;
    double t = now_ns();
    pthread_create(&th, 0, freer, &h);
    for (uint32_t i = 0; i < N; i++) {
        int32_t b;
        while ((b = vb_pool_alloc(p, 4096)) < 0) sched_yield(); /* short: the freer catches up */
        while (atomic_load_explicit(&h.slot[i % RING], memory_order_acquire) >= 0) sched_yield();
        atomic_store_explicit(&h.slot[i % RING], b, memory_order_release);
    }
    pthread_join(th, 0);
    t = (now_ns() - t) / N;
    vb_view_detach(v);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s); /* takes back the last remote frees */
    if (s[VB_STAT_LIVE_BUFFERS] != 0 || vb_pool_check(p) || vb_pool_destroy(p)) abort();
    return t;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    double own[RUNS], rem[RUNS];
    for (int r = 0; r < RUNS; r++) { /* interleaved: noise hits both */
        own[r] = owner_only();
        rem[r] = remote();
    }
    qsort(own, RUNS, sizeof *own, cmp);
    qsort(rem, RUNS, sizeof *rem, cmp);
    printf("vb_bench_threads: 4 KiB buffers, %u per run, median of %d runs\n", N, RUNS);
    printf("  owner alloc + owner free           %7.2f ns/buffer\n", own[RUNS / 2]);
    printf("  owner alloc + free in other thread %7.2f ns/buffer  (%.1fx; two threads, one hand-over)\n",
           rem[RUNS / 2], rem[RUNS / 2] / own[RUNS / 2]);
    return 0;
}

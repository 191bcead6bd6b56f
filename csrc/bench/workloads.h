/*
 * workloads.h - the timed loops, one per workload kind.
 *
 * Every allocator's file includes this and calls wl_run() with its own
 * alloc and free functions as constants.  wl_run and the loops are
 * always_inline, so each allocator gets its own copy of every loop with
 * DIRECT calls (no function pointer left in the timed code): an indirect
 * call per operation would cost about as much as a pool's whole fast path.
 *
 * A token is what the allocator hands out: a pool handle, or an address.
 */
#ifndef VB_BENCH_WORKLOADS_H
#define VB_BENCH_WORKLOADS_H

#include "bench.h"

typedef uintptr_t tok_t;
typedef tok_t (*alloc_fn)(void *ctx, uint32_t size);
typedef void (*free_fn)(void *ctx, tok_t t);

#define WL_INLINE static inline __attribute__((always_inline))

/* The optimizer must assume `t` is read and any memory may change here, so
 * it can neither drop an alloc+free pair (compilers may elide malloc/free)
 * nor hoist work out of the loop.  Emits no instruction. */
static inline __attribute__((always_inline)) void keep(tok_t t) {
    __asm__ volatile("" : : "r"(t) : "memory");
}

WL_INLINE double wl_lifo(void *ctx, const workload *w, alloc_fn A, free_fn F) {
    for (uint64_t i = 0; i < w->warmup; i++) {
        tok_t t = A(ctx, w->size);
        keep(t);
        F(ctx, t);
    }
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < w->pairs; i++) {
        tok_t t = A(ctx, w->size);
        keep(t);
        F(ctx, t);
    }
    return (double)(now_ns() - t0) / (double)w->pairs;
}

/* One step of the mixed workload: free the chosen live buffer, allocate the
 * next size in its slot. */
WL_INLINE void wl_step(void *ctx, const workload *w, tok_t *set, uint64_t k, alloc_fn A, free_fn F) {
    uint32_t i = (uint32_t)(k & (w->len - 1));
    uint32_t slot = w->victim[i];
    F(ctx, set[slot]);
    tok_t t = A(ctx, w->sizes[i]);
    keep(t);
    set[slot] = t;
}

WL_INLINE double wl_mixed(void *ctx, const workload *w, alloc_fn A, free_fn F) {
    tok_t set[BENCH_MAX_LIVE];
    for (uint32_t i = 0; i < w->live; i++) {
        set[i] = A(ctx, w->sizes[i]);
        keep(set[i]);
    }
    uint64_t k = 0;
    for (; k < w->warmup; k++) wl_step(ctx, w, set, k, A, F);
    uint64_t t0 = now_ns();
    for (uint64_t end = k + w->pairs; k < end; k++) wl_step(ctx, w, set, k, A, F);
    double ns = (double)(now_ns() - t0) / (double)w->pairs;
    for (uint32_t i = 0; i < w->live; i++) F(ctx, set[i]);
    return ns;
}

/* One burst: `live` allocations, then their frees in allocation order. */
WL_INLINE void wl_one_burst(void *ctx, const workload *w, tok_t *set, alloc_fn A, free_fn F) {
    for (uint32_t i = 0; i < w->live; i++) {
        set[i] = A(ctx, w->size);
        keep(set[i]);
    }
    for (uint32_t i = 0; i < w->live; i++) F(ctx, set[i]);
}

WL_INLINE double wl_burst(void *ctx, const workload *w, alloc_fn A, free_fn F) {
    tok_t set[BENCH_MAX_LIVE];
    uint64_t bursts = w->pairs / w->live;
    for (uint64_t r = 0; r < w->warmup; r++) wl_one_burst(ctx, w, set, A, F);
    uint64_t t0 = now_ns();
    for (uint64_t r = 0; r < bursts; r++) wl_one_burst(ctx, w, set, A, F);
    return (double)(now_ns() - t0) / (double)(bursts * w->live);
}

/* One timed measurement of w: ns per alloc+free pair. */
WL_INLINE double wl_run(void *ctx, const workload *w, alloc_fn A, free_fn F) {
    switch (w->kind) {
    case WL_LIFO: return wl_lifo(ctx, w, A, F);
    case WL_MIXED: return wl_mixed(ctx, w, A, F);
    case WL_BURST: return wl_burst(ctx, w, A, F);
    }
    die("unknown workload kind %d", (int)w->kind);
}

#endif /* VB_BENCH_WORKLOADS_H */

/*
 * pool.c - the type-erased pool (the seed's AnyBufPool / BufPool).
 *
 * A vb_pool dispatches to its backing allocator through a vtable, turns the
 * backing pool's page numbers into handles, serves fallback buffers, keeps
 * the counters, and stamps each buffer with its registered index.  It never
 * knows how the backing pool splits memory.
 */
#include "pool_internal.h"

#include "buddy.h"
#include "hybrid.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint32_t live_pools;

uint32_t vb_live_pools(void) { return atomic_load_explicit(&live_pools, memory_order_relaxed); }

int32_t vb_corrupt(char *msg, size_t msg_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_len, fmt, ap);
    va_end(ap);
    return VB_ECORRUPT;
}

int32_t vb_pool_wrap(const vb_backing_vtable *vt, void *backing, uint32_t flags, vb_pool **out) {
    vb_pool *p = calloc(1, sizeof *p);
    if (!p) {
        vt->destroy(backing);
        return VB_ENOMEM;
    }
    p->vt = vt;
    p->backing = backing;
    p->flags = flags;
    p->reg_index = -1;
    void *base;
    vt->region(backing, &base, &p->arena_size);
    p->arena_base = base;
    p->out[VB_OUT_BUF_INDEX] = (uint32_t)-1;
    atomic_fetch_add_explicit(&live_pools, 1, memory_order_relaxed);
    *out = p;
    return 0;
}

int32_t vb_buddy_create(uint64_t arena_size, uint32_t cache_depth, uint32_t cached_orders,
                        uint32_t flags, vb_pool **out) {
    if (!out) return VB_EINVAL;
    const vb_backing_vtable *vt;
    void *backing;
    int32_t rc = vb_buddy_new(arena_size, cache_depth, cached_orders, flags, &vt, &backing);
    return rc ? rc : vb_pool_wrap(vt, backing, flags, out);
}

int32_t vb_hybrid_create(const uint32_t *sizes, const uint32_t *counts, uint32_t nclasses,
                         uint32_t flags, vb_pool **out) {
    if (!out) return VB_EINVAL;
    const vb_backing_vtable *vt;
    void *backing;
    int32_t rc = vb_hybrid_new(sizes, counts, nclasses, flags, &vt, &backing);
    return rc ? rc : vb_pool_wrap(vt, backing, flags, out);
}

/* Live buffers: counted by the backing pool and the fallback table, so the
 * hot path keeps no count of its own. */
static uint64_t pool_live(vb_pool *p) { return p->vt->live(p->backing) + p->fallback.live; }

int32_t vb_pool_destroy(vb_pool *p) {
    if (!p) return VB_EINVAL;
    vb_pool_flush(p);
    uint64_t live = pool_live(p);
    if (live) {
        snprintf(p->msg, sizeof p->msg, "pool has %llu live buffers", (unsigned long long)live);
        return VB_EBUSY;
    }
    if (p->on_destroy) {
        int32_t rc = p->on_destroy(p);
        if (rc) return rc;
    }
    p->vt->destroy(p->backing);
    vb_fallback_destroy(&p->fallback);
    free(p);
    atomic_fetch_sub_explicit(&live_pools, 1, memory_order_relaxed);
    return 0;
}

/* --- hot path ------------------------------------------------------------- */

__attribute__((noinline)) static int32_t alloc_fallback(vb_pool *p, uint32_t size) {
    uint32_t cap;
    int32_t slot = vb_fallback_alloc(&p->fallback, size, &cap);
    if (slot < 0) return slot;
    p->out[VB_OUT_CAPACITY] = cap;
    p->out[VB_OUT_BUF_INDEX] = (uint32_t)-1;
    p->allocs++;
    return (int32_t)((VB_HANDLE_FALLBACK_ARENA << VB_HANDLE_PAGE_BITS) | (uint32_t)slot);
}

/* Frees one handle: the body of vb_pool_free, inlined into the queue drain. */
static inline int32_t pool_free(vb_pool *p, int32_t handle) {
    if (handle < 0) return VB_EFAULT;
    uint32_t arena = (uint32_t)handle >> VB_HANDLE_PAGE_BITS;
    uint32_t page = (uint32_t)handle & VB_HANDLE_PAGE_MASK;
    int32_t cap;
    if (__builtin_expect(arena == 0, 1)) cap = p->vt->free(p->backing, page);
    else if (arena == VB_HANDLE_FALLBACK_ARENA) cap = vb_fallback_free(&p->fallback, page);
    else return VB_EFAULT;
    return cap < 0 ? cap : 0;
}

int32_t vb_pool_free(vb_pool *p, int32_t handle) { return pool_free(p, handle); }

/* Frees queued handles.  A refusal means the binding queued something that
 * was not live; the pool itself stays consistent (every free checks). */
__attribute__((noinline)) int32_t vb_pool_flush(vb_pool *p) {
    uint32_t n = p->out[VB_OUT_QUEUED], bad = 0;
    if (n > VB_OUT_QUEUE_CAP) n = VB_OUT_QUEUE_CAP, bad++;
    for (uint32_t i = 0; i < n; i++)
        if (pool_free(p, (int32_t)p->out[VB_OUT_QUEUE + i]) != 0) bad++;
    p->out[VB_OUT_QUEUED] = 0;
    if (__builtin_expect(bad != 0, 0)) p->out[VB_OUT_QUEUE_ERRORS] += bad;
    return (int32_t)bad;
}

/* The backing pool said no (`rc`): fall back if the policy allows. */
__attribute__((noinline)) static int32_t alloc_failed(vb_pool *p, uint32_t size, int32_t rc) {
    if ((rc == VB_ERANGE && p->vt->oversize_fallback) ||
        (rc == VB_ENOMEM && (p->flags & VB_FLAG_FALLBACK_ON_EXHAUSTED))) {
        int32_t h = alloc_fallback(p, size);
        if (h != VB_ENOMEM) return h;
        rc = h;
    }
    if (rc == VB_ENOMEM) p->failed_allocs++;
    return rc;
}

int32_t vb_pool_alloc(vb_pool *p, uint32_t size) {
    uint32_t queued = p->out[VB_OUT_QUEUED];
    if (__builtin_expect(queued != 0, 1)) {
        /* The usual case: the one buffer released since the last alloc. */
        uint32_t h = p->out[VB_OUT_QUEUE];
        if (queued == 1 && (h >> VB_HANDLE_PAGE_BITS) == 0) {
            p->out[VB_OUT_QUEUED] = 0;
            if (__builtin_expect(p->vt->free(p->backing, h) < 0, 0)) p->out[VB_OUT_QUEUE_ERRORS]++;
        } else {
            vb_pool_flush(p);
        }
    }
    if (__builtin_expect(size == 0, 0)) return VB_EINVAL;
    uint32_t cap;
    int32_t page = p->vt->alloc(p->backing, size, &cap);
    if (__builtin_expect(page < 0, 0)) return alloc_failed(p, size, page);
    p->out[VB_OUT_CAPACITY] = cap;
    /* A registered arena is split into 1 GiB registrations and no block
     * straddles a 1 GiB line, so the index follows from the page. */
    p->out[VB_OUT_BUF_INDEX] = p->reg_index < 0 ? (uint32_t)-1 : (uint32_t)(p->reg_index + (page >> 18));
    p->allocs++;
    return page; /* arena 0: the handle is the page */
}

/* --- by address ----------------------------------------------------------- */

/* The handle of the buffer starting at ptr, or an error. */
static int32_t handle_of(const vb_pool *p, const void *ptr) {
    const uint8_t *b = ptr;
    if (b >= p->arena_base && b < p->arena_base + p->arena_size) {
        uint64_t off = (uint64_t)(b - p->arena_base);
        if (off % VB_PAGE_SIZE) return VB_EINTERIOR;
        return (int32_t)(off / VB_PAGE_SIZE);
    }
    int32_t slot = vb_fallback_find(&p->fallback, ptr);
    if (slot < 0) return slot;
    return (int32_t)((VB_HANDLE_FALLBACK_ARENA << VB_HANDLE_PAGE_BITS) | (uint32_t)slot);
}

int32_t vb_pool_free_ptr(vb_pool *p, const void *ptr) {
    int32_t h = handle_of(p, ptr);
    return h < 0 ? h : vb_pool_free(p, h);
}

void *vb_pool_ptr(vb_pool *p, int32_t handle) {
    if (handle < 0) return 0;
    uint32_t arena = (uint32_t)handle >> VB_HANDLE_PAGE_BITS;
    uint32_t page = (uint32_t)handle & VB_HANDLE_PAGE_MASK;
    if (arena == VB_HANDLE_FALLBACK_ARENA) return vb_fallback_ptr(&p->fallback, page);
    if (arena != 0 || !p->vt->capacity(p->backing, page)) return 0;
    return p->arena_base + (uint64_t)page * VB_PAGE_SIZE;
}

uint32_t vb_pool_capacity(vb_pool *p, int32_t handle) {
    if (handle < 0) return 0;
    uint32_t arena = (uint32_t)handle >> VB_HANDLE_PAGE_BITS;
    uint32_t page = (uint32_t)handle & VB_HANDLE_PAGE_MASK;
    if (arena == VB_HANDLE_FALLBACK_ARENA)
        return vb_fallback_ptr(&p->fallback, page) ? p->fallback.slots[page].capacity : 0;
    return arena == 0 ? p->vt->capacity(p->backing, page) : 0;
}

uint32_t *vb_pool_out(vb_pool *p) { return p->out; }

/* --- regions, stats, check ------------------------------------------------ */

uint32_t vb_pool_region_count(vb_pool *p) { return p ? 1 : 0; }

void *vb_pool_region_base(vb_pool *p, uint32_t index) { return index == 0 ? p->arena_base : 0; }

uint64_t vb_pool_region_size(vb_pool *p, uint32_t index) { return index == 0 ? p->arena_size : 0; }

void vb_pool_stats(vb_pool *p, double *out) {
    vb_pool_flush(p);
    memset(out, 0, VB_STAT_LEN * sizeof *out);
    p->vt->stats(p->backing, out);
    /* Only what the hot path must count is counted there; the rest is
     * derived here. */
    uint64_t live = pool_live(p);
    out[VB_STAT_LIVE_BUFFERS] = (double)live;
    out[VB_STAT_BYTES_IN_USE] = out[VB_STAT_CAPACITY_BYTES] - out[VB_STAT_FREE_BYTES] +
                                (double)p->fallback.live_bytes;
    out[VB_STAT_FALLBACK_BUFFERS] = (double)p->fallback.live;
    out[VB_STAT_FALLBACK_BYTES] = (double)p->fallback.live_bytes;
    out[VB_STAT_ALLOCS] = (double)p->allocs;
    out[VB_STAT_FREES] = (double)(p->allocs - live);
    out[VB_STAT_FAILED_ALLOCS] = (double)p->failed_allocs;
    out[VB_STAT_ARENAS] = 1;
}

int32_t vb_pool_class_stats(vb_pool *p, uint32_t cls, double *out) {
    return p->vt->class_stats(p->backing, cls, out);
}

int32_t vb_pool_check(vb_pool *p) {
    p->msg[0] = 0;
    vb_pool_flush(p);
    if (p->out[VB_OUT_QUEUE_ERRORS])
        return vb_corrupt(p->msg, sizeof p->msg, "pool: %u deferred frees named no live buffer",
                          p->out[VB_OUT_QUEUE_ERRORS]);
    int32_t rc = p->vt->check(p->backing, p->msg, sizeof p->msg);
    if (rc) return rc;
    return 0;
}

const char *vb_pool_last_error(vb_pool *p) { return p->msg; }

const char *vb_pool_kind(vb_pool *p) { return p->vt->kind; }

/*
 * alloc_pool.c - BuddyPool and HybridPool, timed through the public ABI
 * exactly as a C caller uses it:
 *
 *   by handle:  h = vb_pool_alloc(pool, n) ... vb_pool_free(pool, h)
 *   by address: p = base + h * VB_PAGE_SIZE ... vb_pool_free_ptr(pool, p)
 *
 * (the address of handle h in arena 0 is the arena base plus h pages, as
 * veloq_buffer.h documents).  Every measurement gets a fresh pool, and the
 * pool must pass vb_pool_check and destroy cleanly afterwards.
 */
#include "veloq_buffer.h"
#include "workloads.h"

/* The pool and its arena's base, for the by-address variant. */
typedef struct pool_ctx {
    vb_pool *pool;
    uint8_t *base;
} pool_ctx;

__attribute__((noinline, cold, noreturn)) static void failed(const char *call, int32_t rc) {
    die("%s failed: %d (%s)", call, rc, vb_strerror(rc));
}

static inline tok_t handle_alloc(void *ctx, uint32_t size) {
    int32_t h = vb_pool_alloc(((pool_ctx *)ctx)->pool, size);
    if (__builtin_expect(h < 0, 0)) failed("vb_pool_alloc", h);
    return (tok_t)h;
}

static inline void handle_free(void *ctx, tok_t t) {
    int32_t rc = vb_pool_free(((pool_ctx *)ctx)->pool, (int32_t)t);
    if (__builtin_expect(rc != 0, 0)) failed("vb_pool_free", rc);
}

static inline tok_t ptr_alloc(void *ctx, uint32_t size) {
    pool_ctx *c = ctx;
    int32_t h = vb_pool_alloc(c->pool, size);
    /* Negative (an error) or above the page mask (a fallback buffer, which
     * has no arena address): neither may happen in these workloads. */
    if (__builtin_expect((uint32_t)h > VB_HANDLE_PAGE_MASK, 0)) failed("vb_pool_alloc (arena 0)", h);
    return (tok_t)(c->base + ((size_t)h << VB_PAGE_SHIFT));
}

static inline void ptr_free(void *ctx, tok_t t) {
    int32_t rc = vb_pool_free_ptr(((pool_ctx *)ctx)->pool, (const void *)t);
    if (__builtin_expect(rc != 0, 0)) failed("vb_pool_free_ptr", rc);
}

/* --- pools ------------------------------------------------------------------ */

vb_pool *bench_buddy_create(void) {
    vb_pool *p;
    int32_t rc = vb_buddy_create(32u << 20, 64, 6, 0, &p);
    if (rc) failed("vb_buddy_create", rc);
    return p;
}

/* HYBRID_DEFAULT_CLASSES (src/hybrid_pool.ts): 14 MiB. */
static vb_pool *hybrid_create(uint32_t flags) {
    static const uint32_t sizes[] = {4096, 8192, 16384, 32768, 65536};
    static const uint32_t counts[] = {1024, 256, 128, 64, 64};
    vb_pool *p;
    int32_t rc = vb_hybrid_create(sizes, counts, 5, flags, &p);
    if (rc) failed("vb_hybrid_create", rc);
    return p;
}

/* Times w on `pool`, then checks and destroys it. */
static double measure(vb_pool *pool, const workload *w, int by_address) {
    pool_ctx c = {pool, vb_pool_region_base(pool, 0)};
    double ns = by_address ? wl_run(&c, w, ptr_alloc, ptr_free) : wl_run(&c, w, handle_alloc, handle_free);
    int32_t rc = vb_pool_check(pool);
    if (rc) die("%s after %s: %s", vb_pool_kind(pool), w->name, vb_pool_last_error(pool));
    rc = vb_pool_destroy(pool);
    if (rc) failed("vb_pool_destroy", rc);
    return ns;
}

static double buddy_handle(const workload *w) { return measure(bench_buddy_create(), w, 0); }
static double buddy_ptr(const workload *w) { return measure(bench_buddy_create(), w, 1); }
static double hybrid_handle(const workload *w) { return measure(hybrid_create(0), w, 0); }
static double hybrid_ptr(const workload *w) { return measure(hybrid_create(0), w, 1); }
static double hybrid_nobitset(const workload *w) {
    return measure(hybrid_create(VB_FLAG_NO_DOUBLE_FREE_BITSET), w, 0);
}

#define ALL_SIZES UINT32_MAX
#define HYBRID_MAX (64u << 10) /* larger requests go to the global allocator */

const allocator buddy_handle_allocator = {
    .name = "BuddyPool", .calls = "vb_pool_alloc / vb_pool_free", .max_size = ALL_SIZES, .run = buddy_handle};
const allocator buddy_ptr_allocator = {
    .name = "BuddyPool", .calls = "vb_pool_alloc / vb_pool_free_ptr", .max_size = ALL_SIZES, .run = buddy_ptr};
const allocator hybrid_handle_allocator = {
    .name = "HybridPool", .calls = "vb_pool_alloc / vb_pool_free", .max_size = HYBRID_MAX, .run = hybrid_handle};
const allocator hybrid_ptr_allocator = {
    .name = "HybridPool", .calls = "vb_pool_alloc / vb_pool_free_ptr", .max_size = HYBRID_MAX, .run = hybrid_ptr};
const allocator hybrid_nobitset_allocator = {
    .name = "HybridPool no bitset", .calls = "vb_pool_alloc / vb_pool_free", .max_size = HYBRID_MAX,
    .run = hybrid_nobitset};

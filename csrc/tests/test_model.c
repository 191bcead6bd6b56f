/*
 * test_model.c - randomized model tests: a long run of mixed-size allocs and
 * frees against each pool kind, checked against a reference model that
 * knows which arena pages every live buffer covers.
 *
 * On every alloc the model checks the capacity, that the block lies inside
 * the arena on pages no live buffer covers, and stamps its first and last
 * bytes; on every free it checks the stamps are intact.  Refusals are
 * checked too: VB_ENOMEM only when the model agrees nothing fits, and bad
 * frees (double, interior, foreign) must fail with the right code.  Every
 * AUDIT_EVERY ops vb_pool_check runs and the stats are compared with the
 * model.  At the end everything is freed and the whole arena must be
 * allocatable again.
 *
 *   VB_SEED=n       replay a run (every result line shows its seed)
 *   VB_MODEL_OPS=n  ops per pool kind (default 1,000,000; soak: 100000000)
 */
#include "test.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PAGE VB_PAGE_SIZE
#define KiB 1024u
#define MiB (1024u * 1024u)
#define AUDIT_EVERY 10000u
#define PHASE_LEN 25000u    /* ops between switching from filling to draining */
#define MAX_FALLBACK 256u   /* live fallback buffers the model allows */

typedef struct live_buf {
    int32_t handle;
    uint32_t cap;
    uint8_t *ptr;
    uint64_t stamp; /* in the first and last 8 bytes */
} live_buf;

typedef struct model model;

/* What differs between the pool kinds. */
typedef struct model_kind {
    const char *name;
    vb_pool *(*create)(model *m);
    uint32_t (*random_size)(model *m);
    /* Capacity a successful alloc of `size` must report right now, and
     * whether it must come from the fallback (the global allocator). */
    uint32_t (*expected_cap)(const model *m, uint32_t size, int *fallback);
    /* The pool refused `size` with rc: would the model refuse too? */
    int (*refusal_ok)(model *m, uint32_t size, int32_t rc);
    /* Largest block a request could get now (VB_STAT_LARGEST_FREE). */
    uint64_t (*largest_free)(const model *m);
    /* All freed: the whole arena must be allocatable again. */
    void (*check_all_free)(model *m);
} model_kind;

struct model {
    const model_kind *kind;
    vb_pool *pool;
    test_rng rng;
    uint8_t *base;
    uint32_t npages;
    uint8_t *used; /* per arena page: 1 while a live buffer covers it */
    live_buf *live;
    uint32_t nlive, max_live, nfallback;
    uint64_t allocs, enomem, stamps;
    /* buddy */
    uint32_t cache_depth, max_order, enomem_seen;
    /* hybrid */
    uint32_t flags, class_live[8];
};

static int is_fallback(int32_t h) { return ((uint32_t)h >> VB_HANDLE_PAGE_BITS) == VB_HANDLE_FALLBACK_ARENA; }

static uint32_t page_count(uint32_t bytes) { return (uint32_t)(((uint64_t)bytes + PAGE - 1) / PAGE); }

/* --- the kinds ---------------------------------------------------------------- */

/* Buddy: an arena that is not a power of two (12345 = 8192+4096+32+16+8+1
 * pages), and an L0 cache depth that varies with the seed. */
#define BUDDY_PAGES 12345u

static vb_pool *buddy_create(model *m) {
    static const uint32_t depths[] = {0, 3, 64};
    m->cache_depth = depths[rng_below(&m->rng, 3)];
    m->max_order = 31u - (uint32_t)__builtin_clz(BUDDY_PAGES);
    vb_pool *p = 0;
    int32_t rc = vb_buddy_create((uint64_t)BUDDY_PAGES * PAGE, m->cache_depth, 6, 0, &p);
    CHECK_RC(rc, 0);
    return p;
}

static uint32_t buddy_random_size(model *m) {
    uint32_t r = rng_below(&m->rng, 100), max = PAGE << m->max_order;
    if (r < 40) return 1 + rng_below(&m->rng, 16 * KiB);
    if (r < 65) return 1 + rng_below(&m->rng, 64 * KiB);
    if (r < 80) return (1 + rng_below(&m->rng, 64)) * PAGE - 1 + rng_below(&m->rng, 3); /* boundaries */
    if (r < 96) return 1 + rng_below(&m->rng, MiB);
    if (r < 99) return 1 + rng_below(&m->rng, max);
    return max + 1 + rng_below(&m->rng, max); /* never servable */
}

static uint32_t buddy_expected_cap(const model *m, uint32_t size, int *fallback) {
    (void)m;
    *fallback = 0;
    uint32_t cap = PAGE;
    while (cap < size) cap <<= 1;
    return cap;
}

/* VB_ERANGE above the largest block; VB_ENOMEM only if no aligned run of
 * 2^k free pages exists (buddies merge fully once the caches are drained).
 * That scan is O(pages), so only every 16th VB_ENOMEM gets it. */
static int buddy_refusal_ok(model *m, uint32_t size, int32_t rc) {
    int fallback;
    uint32_t pages = buddy_expected_cap(m, size, &fallback) / PAGE;
    if (rc == VB_ERANGE) return (uint64_t)size > ((uint64_t)PAGE << m->max_order);
    if (rc != VB_ENOMEM || pages > (1u << m->max_order)) return 0;
    if (m->enomem_seen++ % 16) return 1;
    for (uint32_t a = 0; a + pages <= m->npages; a += pages) {
        uint32_t i = 0;
        while (i < pages && !m->used[a + i]) i++;
        if (i == pages) return 0; /* a free block that fits */
    }
    return 1;
}

static uint64_t buddy_largest_free(const model *m) {
    uint64_t best = 0;
    for (uint32_t k = 0; k <= m->max_order; k++)
        for (uint32_t a = 0, n = 1u << k; a + n <= m->npages; a += n) {
            uint32_t i = 0;
            while (i < n && !m->used[a + i]) i++;
            if (i == n) {
                best = (uint64_t)n * PAGE;
                break;
            }
        }
    return best;
}

/* Every page one by one, then the arena's binary decomposition in whole
 * blocks (which needs every freed block merged back). */
static void buddy_check_all_free(model *m) {
    int32_t *h = malloc(m->npages * sizeof *h);
    REQUIRE(h);
    uint32_t n = 0;
    for (int32_t x; n < m->npages && (x = vb_pool_alloc(m->pool, 1)) >= 0;) h[n++] = x;
    CHECK_MSG(n == m->npages, "only %u of %u pages allocatable", n, m->npages);
    FREE_ALL(m->pool, h, n);
    n = 0;
    for (uint32_t k = 1u << m->max_order; k; k >>= 1)
        if (m->npages & k) {
            h[n] = vb_pool_alloc(m->pool, k * PAGE);
            CHECK_MSG(h[n] >= 0, "the arena's %u-page block: %s", k, vb_strerror(h[n]));
            if (h[n] >= 0) n++;
        }
    CHECK_RC(vb_pool_alloc(m->pool, 1), VB_ENOMEM);
    FREE_ALL(m->pool, h, n);
    free(h);
}

/* Hybrid: a 12 KiB class that is not a power of two, small counts so each
 * class runs out often, and VB_FLAG_FALLBACK_ON_EXHAUSTED on or off with
 * the seed. */
static const uint32_t hy_sizes[] = {4096, 8192, 12288, 16384, 32768, 65536, 262144};
static const uint32_t hy_counts[] = {256, 128, 64, 64, 32, 16, 4};
#define HY_CLASSES 7u
#define HY_MAX 262144u

static vb_pool *hybrid_create(model *m) {
    m->flags = rng_below(&m->rng, 2) ? VB_FLAG_FALLBACK_ON_EXHAUSTED : 0;
    vb_pool *p = 0;
    CHECK_RC(vb_hybrid_create(hy_sizes, hy_counts, HY_CLASSES, m->flags, &p), 0);
    return p;
}

static uint32_t hybrid_class_of(uint32_t size) {
    uint32_t c = 0;
    while (hy_sizes[c] < size) c++;
    return c;
}

static uint32_t hybrid_random_size(model *m) {
    uint32_t r = rng_below(&m->rng, 100);
    if (r < 45) return 1 + rng_below(&m->rng, 16 * KiB);
    if (r < 70) return 1 + rng_below(&m->rng, 64 * KiB);
    if (r < 85) return hy_sizes[rng_below(&m->rng, HY_CLASSES)] - 1 + rng_below(&m->rng, 3);
    if (r < 97 || m->nfallback >= MAX_FALLBACK) return 1 + rng_below(&m->rng, HY_MAX);
    return HY_MAX + 1 + rng_below(&m->rng, HY_MAX); /* above every class */
}

/* The smallest class that fits, or a page-rounded fallback buffer above
 * the largest class (or when its class is full and the flag says so). */
static uint32_t hybrid_expected_cap(const model *m, uint32_t size, int *fallback) {
    *fallback = 0;
    if (size <= HY_MAX) {
        uint32_t c = hybrid_class_of(size);
        if (m->class_live[c] < hy_counts[c] || !(m->flags & VB_FLAG_FALLBACK_ON_EXHAUSTED))
            return hy_sizes[c];
    }
    *fallback = 1;
    return page_count(size) * PAGE;
}

static int hybrid_refusal_ok(model *m, uint32_t size, int32_t rc) {
    if (rc != VB_ENOMEM || size > HY_MAX || (m->flags & VB_FLAG_FALLBACK_ON_EXHAUSTED)) return 0;
    uint32_t c = hybrid_class_of(size);
    return m->class_live[c] == hy_counts[c];
}

static uint64_t hybrid_largest_free(const model *m) {
    for (uint32_t c = HY_CLASSES; c-- > 0;)
        if (m->class_live[c] < hy_counts[c]) return hy_sizes[c];
    return 0;
}

/* Every block of every class, then one more of each must be refused. */
static void hybrid_check_all_free(model *m) {
    uint32_t total = 0;
    for (uint32_t c = 0; c < HY_CLASSES; c++) total += hy_counts[c];
    int32_t *h = malloc(total * sizeof *h);
    REQUIRE(h);
    uint32_t n = 0;
    for (uint32_t c = 0; c < HY_CLASSES; c++)
        for (uint32_t i = 0; i < hy_counts[c]; i++) {
            h[n] = vb_pool_alloc(m->pool, hy_sizes[c]);
            CHECK_MSG(h[n] >= 0 && !is_fallback(h[n]), "class %u block %u: %d", c, i, h[n]);
            if (h[n] >= 0) n++;
        }
    if (!(m->flags & VB_FLAG_FALLBACK_ON_EXHAUSTED))
        for (uint32_t c = 0; c < HY_CLASSES; c++) CHECK_RC(vb_pool_alloc(m->pool, hy_sizes[c]), VB_ENOMEM);
    FREE_ALL(m->pool, h, n);
    free(h);
}

static const model_kind buddy_kind = {
    "buddy", buddy_create, buddy_random_size, buddy_expected_cap,
    buddy_refusal_ok, buddy_largest_free, buddy_check_all_free,
};

static const model_kind hybrid_kind = {
    "hybrid", hybrid_create, hybrid_random_size, hybrid_expected_cap,
    hybrid_refusal_ok, hybrid_largest_free, hybrid_check_all_free,
};

/* --- the model ---------------------------------------------------------------- */

static uint32_t cap_class(uint32_t cap) {
    for (uint32_t c = 0; c < HY_CLASSES; c++)
        if (hy_sizes[c] == cap) return c;
    return HY_CLASSES;
}

/* Marks (or clears) the pages of an arena buffer; an alloc onto a page
 * that is already in use is the overlap every other check builds on. */
static void claim_pages(model *m, const live_buf *b, uint8_t to) {
    uint32_t first = (uint32_t)b->handle, n = b->cap / PAGE;
    CHECK_MSG(first + n <= m->npages, "block at page %u (%u pages) ends past the arena", first, n);
    if (first + n > m->npages) return;
    for (uint32_t i = 0; i < n; i++) {
        CHECK_MSG(m->used[first + i] != to, "page %u %s", first + i,
                  to ? "handed out while a live buffer covers it" : "was not in use");
        m->used[first + i] = to;
    }
    if (m->kind == &hybrid_kind && cap_class(b->cap) < HY_CLASSES) /* counts per class */
        m->class_live[cap_class(b->cap)] += to ? 1u : (uint32_t)-1;
}

static void stamp(live_buf *b) {
    memcpy(b->ptr, &b->stamp, 8);
    memcpy(b->ptr + b->cap - 8, &b->stamp, 8);
}

static void check_stamp(const live_buf *b) {
    uint64_t head, tail;
    memcpy(&head, b->ptr, 8);
    memcpy(&tail, b->ptr + b->cap - 8, 8);
    CHECK_MSG(head == b->stamp && tail == b->stamp, "handle %d: stamp %llx, found %llx / %llx", b->handle,
              (unsigned long long)b->stamp, (unsigned long long)head, (unsigned long long)tail);
}

static void model_alloc(model *m) {
    uint32_t size = m->kind->random_size(m);
    int fallback;
    uint32_t want = m->kind->expected_cap(m, size, &fallback);
    int32_t h = vb_pool_alloc(m->pool, size);
    if (h < 0) {
        CHECK_MSG(m->kind->refusal_ok(m, size, h), "alloc(%u) refused with %s, but the model has room",
                  size, vb_strerror(h));
        m->enomem += h == VB_ENOMEM;
        return;
    }
    live_buf b = {h, vb_pool_out(m->pool)[VB_OUT_CAPACITY], vb_pool_ptr(m->pool, h), 0};
    CHECK_MSG(b.cap == want, "alloc(%u): capacity %u, expected %u", size, b.cap, want);
    CHECK_MSG(is_fallback(h) == fallback, "alloc(%u): handle %d is %sa fallback buffer", size, h,
              fallback ? "not " : "");
    CHECK_EQ(vb_pool_capacity(m->pool, h), b.cap);
    if (!b.ptr || b.cap != want || b.cap < 8) {
        CHECK_MSG(b.ptr, "alloc(%u): handle %d has no address", size, h);
        return; /* reported; going on would only crash */
    }
    CHECK_EQ((uintptr_t)b.ptr % PAGE, 0);
    if (is_fallback(h)) {
        m->nfallback++;
    } else {
        CHECK(b.ptr == m->base + (size_t)h * PAGE);
        claim_pages(m, &b, 1);
    }
    b.stamp = ++m->stamps * 0x9E3779B97F4A7C15ull;
    stamp(&b);
    m->live[m->nlive++] = b;
    m->allocs++;
}

/* Frees live[i] by handle, by address, or through the deferred queue. */
static void model_free(model *m, uint32_t i) {
    live_buf b = m->live[i];
    m->live[i] = m->live[--m->nlive];
    check_stamp(&b);
    if (is_fallback(b.handle)) m->nfallback--;
    else claim_pages(m, &b, 0);

    uint32_t how = rng_below(&m->rng, 8), *out = vb_pool_out(m->pool);
    if (how < 2) { /* queued: freed by the next alloc, flush, stats or check */
        out[VB_OUT_QUEUE + out[VB_OUT_QUEUED]++] = (uint32_t)b.handle;
        if (out[VB_OUT_QUEUED] == VB_OUT_QUEUE_CAP) CHECK_RC(vb_pool_flush(m->pool), 0);
        return;
    }
    if (how == 2) CHECK_RC(vb_pool_free_ptr(m->pool, b.ptr), 0);
    else CHECK_RC(vb_pool_free(m->pool, b.handle), 0);
    if (how == 3) { /* now it is free: a second free must be refused */
        CHECK_RC(vb_pool_free(m->pool, b.handle), VB_EDOUBLEFREE);
        if (!is_fallback(b.handle)) CHECK_RC(vb_pool_free_ptr(m->pool, b.ptr), VB_EDOUBLEFREE);
        CHECK(vb_pool_ptr(m->pool, b.handle) == 0);
    }
}

/* Frees that must be refused, with the target left live. */
static void model_bad_free(model *m) {
    if (m->nlive == 0) return;
    const live_buf *b = &m->live[rng_below(&m->rng, m->nlive)];
    uint32_t off = 1 + rng_below(&m->rng, b->cap - 1);
    CHECK_RC(vb_pool_free_ptr(m->pool, b->ptr + off), VB_EINTERIOR);
    if (!is_fallback(b->handle) && b->cap > PAGE) /* any page but the first */
        CHECK_RC(vb_pool_free(m->pool, b->handle + 1 + (int32_t)rng_below(&m->rng, b->cap / PAGE - 1)),
                 VB_EINTERIOR);
    CHECK_RC(vb_pool_free(m->pool, (int32_t)(m->npages + rng_below(&m->rng, 1000))), VB_EFAULT);
    CHECK_EQ(vb_pool_capacity(m->pool, b->handle), b->cap);
}

/* The pool's own check, and its stats against the model. */
static void model_audit(model *m) {
    CHECK_POOL(m->pool);
    double s[VB_STAT_LEN];
    vb_pool_stats(m->pool, s);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], m->nlive);
    CHECK_EQ(s[VB_STAT_FALLBACK_BUFFERS], m->nfallback);
    CHECK_EQ(s[VB_STAT_ALLOCS], m->allocs);
    CHECK_EQ(s[VB_STAT_FREES], m->allocs - m->nlive);
    CHECK_EQ(s[VB_STAT_FAILED_ALLOCS], m->enomem);
    CHECK_EQ(s[VB_STAT_LARGEST_FREE], m->kind->largest_free(m));
    double in_use = 0;
    for (uint32_t i = 0; i < m->nlive; i++) in_use += m->live[i].cap;
    CHECK_EQ(s[VB_STAT_BYTES_IN_USE], in_use);
    CHECK_EQ(vb_pool_out(m->pool)[VB_OUT_QUEUE_ERRORS], 0);
}

static uint64_t env_u64(const char *name, uint64_t fallback) {
    const char *v = getenv(name);
    return v && *v ? strtoull(v, 0, 0) : fallback;
}

static void run_model(const model_kind *kind) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t seed = env_u64("VB_SEED", ((uint64_t)t.tv_sec * 1000000007u) ^ (uint64_t)t.tv_nsec ^
                                           ((uint64_t)getpid() << 32));
    uint64_t ops = env_u64("VB_MODEL_OPS", 1000000);
    test_note("VB_SEED=%llu VB_MODEL_OPS=%llu", (unsigned long long)seed, (unsigned long long)ops);

    model m = {.kind = kind, .rng = rng_seeded(seed)};
    m.pool = kind->create(&m);
    REQUIRE(m.pool);
    m.base = vb_pool_region_base(m.pool, 0);
    m.npages = (uint32_t)(vb_pool_region_size(m.pool, 0) / PAGE);
    m.max_live = m.npages + MAX_FALLBACK + 1;
    m.used = calloc(m.npages, 1);
    m.live = calloc(m.max_live, sizeof *m.live);
    REQUIRE(m.used && m.live);

    /* Alternate filling (60% allocs: the pool runs full and refuses) with
     * draining (40%: it empties), so both regimes get their share. */
    for (uint64_t op = 0; op < ops && !test_failures(); op++) {
        uint32_t alloc_pct = (op / PHASE_LEN) % 2 ? 40 : 60, r = rng_below(&m.rng, 100);
        if (r == 0) model_bad_free(&m);
        else if (m.nlive == 0 || (r <= alloc_pct && m.nlive < m.max_live - 1 && m.nfallback < MAX_FALLBACK))
            model_alloc(&m);
        else model_free(&m, rng_below(&m.rng, m.nlive));
        if ((op + 1) % AUDIT_EVERY == 0) model_audit(&m);
    }

    while (m.nlive && !test_failures()) model_free(&m, m.nlive - 1);
    model_audit(&m);
    double s[VB_STAT_LEN];
    vb_pool_stats(m.pool, s);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 0);
    CHECK_EQ(s[VB_STAT_BYTES_IN_USE], 0);
    CHECK_EQ(s[VB_STAT_FREE_BYTES], s[VB_STAT_CAPACITY_BYTES]);
    CHECK_EQ(s[VB_STAT_FALLBACK_BYTES], 0);
    if (!test_failures()) kind->check_all_free(&m);
    CHECK_POOL(m.pool);
    CHECK_RC(vb_pool_destroy(m.pool), 0);
    free(m.used);
    free(m.live);
}

static void model_buddy(void) { run_model(&buddy_kind); }
static void model_hybrid(void) { run_model(&hybrid_kind); }

/* Found by the pool fuzzer (csrc/fuzz/, at c72da24): an extra arena returned
 * when empty had its slot zeroed, so vb_pool_region_reg_index said it was
 * registered at index 0.  A returned region reads NULL, 0 and -1. */
static void model_returned_arena_is_unregistered(void) {
    for (int hybrid = 0; hybrid < 2; hybrid++) {
        static const uint32_t sizes[] = {4 * PAGE}, counts[] = {1};
        vb_pool *p = 0;
        if (hybrid) CHECK_RC(vb_hybrid_create(sizes, counts, 1, VB_FLAG_RELEASE_EMPTY_ARENAS, &p), 0);
        else CHECK_RC(vb_buddy_create(4 * PAGE, 2, 3, VB_FLAG_RELEASE_EMPTY_ARENAS, &p), 0);
        REQUIRE(p);
        CHECK_RC(vb_pool_set_max_arenas(p, 2), 0);
        int32_t a = vb_pool_alloc(p, 4 * PAGE), b = vb_pool_alloc(p, 4 * PAGE);
        REQUIRE(a >= 0 && b >= 0);
        CHECK_EQ((uint32_t)b >> VB_HANDLE_PAGE_BITS, 1); /* the second arena */
        CHECK_EQ(vb_pool_region_reg_index(p, 1), -1);
        CHECK_RC(vb_pool_free(p, b), 0); /* empty: returned */
        CHECK_EQ(vb_pool_region_count(p), 2);
        CHECK(vb_pool_region_base(p, 1) == 0);
        CHECK_EQ(vb_pool_region_size(p, 1), 0);
        CHECK_EQ(vb_pool_region_reg_index(p, 1), -1);
        CHECK_POOL(p);
        CHECK_RC(vb_pool_free(p, a), 0);
        CHECK_RC(vb_pool_destroy(p), 0);
    }
}

const test_case model_tests[] = {
    TEST(model_returned_arena_is_unregistered),
    TEST(model_buddy),
    TEST(model_hybrid),
    TEST_END,
};

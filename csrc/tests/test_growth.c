/*
 * test_growth.c - pools with more than one arena: growth when full, handles
 * naming their arena, the growth limit, and returning empty extra arenas.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define KiB 1024u

static uint32_t arena_of(int32_t h) { return (uint32_t)h >> VB_HANDLE_PAGE_BITS; }

/* A full buddy pool maps a second arena instead of failing, up to the
 * limit; every buffer stays valid and the pool consistent. */
static void growth_buddy_up_to_limit(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * KiB, 4, 6, 0, &p) == 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 3), 0);
    uint32_t *out = vb_pool_out(p);
    int32_t h[48];
    for (int i = 0; i < 48; i++) {
        h[i] = vb_pool_alloc(p, 4096);
        REQUIRE(h[i] >= 0);
        CHECK_EQ(arena_of(h[i]), (uint32_t)i / 16); /* 16 pages per arena */
        fill_pattern(vb_pool_ptr(p, h[i]), 4096, (uint32_t)i);
    }
    CHECK_EQ(out[VB_OUT_ARENA_EPOCH], 2);
    CHECK_RC(vb_pool_alloc(p, 4096), VB_ENOMEM);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_ARENAS], 3);
    CHECK_EQ(s[VB_STAT_GROWS], 2);
    CHECK_EQ(s[VB_STAT_CAPACITY_BYTES], 3 * 64 * KiB);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 48);
    CHECK_EQ(vb_pool_region_count(p), 3);
    for (uint32_t r = 0; r < 3; r++) {
        CHECK(vb_pool_region_base(p, r) != 0);
        CHECK_EQ(vb_pool_region_size(p, r), 64 * KiB);
    }
    CHECK_POOL(p);
    for (int i = 0; i < 48; i++) {
        CHECK_EQ(pattern_mismatch(vb_pool_ptr(p, h[i]), 4096, (uint32_t)i), 4096);
        CHECK_RC(vb_pool_free(p, h[i]), 0);
    }
    CHECK_RC(vb_pool_free(p, h[20]), VB_EDOUBLEFREE);
    CHECK_POOL(p);
    /* Freed space in any arena serves again; nothing is mapped anew. */
    int32_t again = vb_pool_alloc(p, 64 * KiB);
    CHECK(again >= 0);
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_ARENAS], 3);
    CHECK_RC(vb_pool_free(p, again), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

static void growth_limit_validated(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * KiB, 4, 6, 0, &p) == 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 0), VB_EINVAL);
    CHECK_RC(vb_pool_set_max_arenas(p, VB_MAX_ARENAS + 1), VB_EINVAL);
    CHECK_RC(vb_pool_set_max_arenas(p, 2), 0);
    int32_t a = vb_pool_alloc(p, 64 * KiB), b = vb_pool_alloc(p, 64 * KiB);
    CHECK(a >= 0 && b >= 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 1), VB_EINVAL); /* arena 1 is in use */
    CHECK_RC(vb_pool_free(p, a), 0);
    CHECK_RC(vb_pool_free(p, b), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* With VB_FLAG_RELEASE_EMPTY_ARENAS, an extra arena is unmapped as soon as
 * its last buffer comes back; arena 0 never is. */
static void growth_returns_empty_arenas(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * KiB, 4, 6, VB_FLAG_RELEASE_EMPTY_ARENAS, &p) == 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 2), 0);
    uint32_t *out = vb_pool_out(p);
    int32_t first = vb_pool_alloc(p, 64 * KiB), second = vb_pool_alloc(p, 32 * KiB);
    REQUIRE(first >= 0 && second >= 0);
    CHECK_EQ(arena_of(second), 1);
    uint32_t epoch = out[VB_OUT_ARENA_EPOCH];
    CHECK_RC(vb_pool_free(p, second), 0);
    CHECK_EQ(out[VB_OUT_ARENA_EPOCH], epoch + 1);
    CHECK(vb_pool_region_base(p, 1) == 0);
    CHECK_EQ(vb_pool_region_size(p, 1), 0);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_ARENAS], 1);
    CHECK_RC(vb_pool_free(p, second), VB_EFAULT); /* its arena is gone */
    CHECK_POOL(p);
    /* Growth reuses the slot. */
    int32_t third = vb_pool_alloc(p, 4096);
    CHECK_EQ(arena_of(third), 1);
    CHECK_RC(vb_pool_free(p, first), 0); /* arena 0 stays */
    CHECK(vb_pool_region_base(p, 0) != 0);
    CHECK_RC(vb_pool_free(p, third), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* HybridPool grows by whole arenas of its class layout; per-class stats
 * add up across arenas; oversize still falls back. */
static void growth_hybrid(void) {
    uint32_t sizes[] = {4096, 8192}, counts[] = {2, 1};
    vb_pool *p;
    REQUIRE(vb_hybrid_create(sizes, counts, 2, 0, &p) == 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 2), 0);
    int32_t h[4];
    for (int i = 0; i < 4; i++) h[i] = vb_pool_alloc(p, 4096);
    CHECK(h[0] >= 0 && h[1] >= 0 && h[2] >= 0 && h[3] >= 0);
    CHECK_EQ(arena_of(h[2]), 1);
    CHECK_RC(vb_pool_alloc(p, 4096), VB_ENOMEM);
    double c[VB_CLASS_STAT_LEN];
    CHECK_RC(vb_pool_class_stats(p, 0, c), 0);
    CHECK_EQ(c[VB_CLASS_STAT_TOTAL], 4);
    CHECK_EQ(c[VB_CLASS_STAT_FREE], 0);
    CHECK_RC(vb_pool_class_stats(p, 1, c), 0);
    CHECK_EQ(c[VB_CLASS_STAT_TOTAL], 2);
    CHECK_EQ(c[VB_CLASS_STAT_FREE], 2);
    int32_t big = vb_pool_alloc(p, 100 * KiB);
    CHECK_EQ(arena_of(big), VB_HANDLE_FALLBACK_ARENA);
    CHECK_POOL(p);
    FREE_ALL(p, h, 4);
    CHECK_RC(vb_pool_free(p, big), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Huge pages: hugetlbfs when reserved, else a 2 MiB-aligned THP arena. */
static void arena_huge_pages(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(4u << 20, 4, 6, VB_FLAG_HUGE_PAGES, &p) == 0);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_HUGE_ARENAS] + s[VB_STAT_THP_ARENAS], 1);
    CHECK_EQ((uintptr_t)vb_pool_region_base(p, 0) % (2u << 20), 0);
    int32_t h = vb_pool_alloc(p, 2u << 20);
    CHECK(h >= 0);
    fill_pattern(vb_pool_ptr(p, h), 2u << 20, 5);
    CHECK_EQ(pattern_mismatch(vb_pool_ptr(p, h), 2u << 20, 5), 2u << 20);
    CHECK_RC(vb_pool_free(p, h), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Checked mode: a freed buffer reads VB_POISON_BYTE, whichever path freed
 * it (by handle, through the deferred queue, a fallback buffer). */
static void pool_poisons_freed_buffers(void) {
    uint32_t sizes[] = {4096}, counts[] = {2};
    vb_pool *p;
    REQUIRE(vb_hybrid_create(sizes, counts, 1, VB_FLAG_POISON, &p) == 0);
    uint32_t *out = vb_pool_out(p);
    int32_t a = vb_pool_alloc(p, 4096), big = vb_pool_alloc(p, 3 * 4096);
    REQUIRE(a >= 0 && big >= 0);
    uint8_t *pa = vb_pool_ptr(p, a);
    memset(pa, 0x11, 4096);
    CHECK_RC(vb_pool_free(p, a), 0);
    CHECK_EQ(pa[0], VB_POISON_BYTE);
    CHECK_EQ(pa[4095], VB_POISON_BYTE);
    /* The deferred queue takes the general path in checked mode. */
    int32_t b = vb_pool_alloc(p, 4096);
    uint8_t *pb = vb_pool_ptr(p, b);
    memset(pb, 0x22, 4096);
    out[VB_OUT_QUEUE] = (uint32_t)b;
    out[VB_OUT_QUEUED] = 1;
    int32_t c = vb_pool_alloc(p, 4096);
    CHECK(c >= 0);
    CHECK_EQ(pb[100], VB_POISON_BYTE);
    uint8_t *pbig = vb_pool_ptr(p, big);
    memset(pbig, 0x33, 3 * 4096);
    CHECK_RC(vb_pool_free(p, big), 0); /* fallback: poisoned, then freed */
    CHECK_RC(vb_pool_free(p, c), 0);
    CHECK_RC(vb_pool_free(p, c), VB_EDOUBLEFREE); /* no write to freed memory */
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* alloc_many reports each buffer's own capacity (review finding: one
 * capacity for all, wrong for a fallback buffer among arena blocks). */
static void pool_alloc_many_capacities(void) {
    uint32_t sizes[] = {12288}, counts[] = {1};
    vb_pool *p;
    REQUIRE(vb_hybrid_create(sizes, counts, 1, VB_FLAG_FALLBACK_ON_EXHAUSTED, &p) == 0);
    int32_t out[6];
    CHECK_RC(vb_pool_alloc_many(p, 5000, 2, out), 2);
    CHECK_EQ(out[2], 12288);                                      /* the class block */
    CHECK_EQ(out[5], 8192);                                       /* fallback: 5000 in pages */
    CHECK_EQ((uint32_t)out[3] >> VB_HANDLE_PAGE_BITS, VB_HANDLE_FALLBACK_ARENA);
    CHECK_EQ(out[4], -1);
    CHECK_RC(vb_pool_free(p, out[0]), 0);
    CHECK_RC(vb_pool_free(p, out[3]), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* A shared arena handed back and then returned keeps the arena counts
 * right (review finding: shared_arenas never went down). */
static void pool_shared_arena_returned(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * KiB, 4, 6, VB_FLAG_RELEASE_EMPTY_ARENAS, &p) == 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 2), 0);
    double s[VB_STAT_LEN];
    for (int round = 1; round <= 2; round++) { /* the old bug showed on round 2 */
        uint32_t share[2];
        REQUIRE(vb_pool_share(p, share) == 0);
        vb_view *v;
        REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
        int32_t h = vb_view_alloc(v, 4096);
        REQUIRE(h >= 0);
        CHECK_RC(vb_view_detach(v), 0); /* h is live, now in a main-owned arena */
        vb_pool_stats(p, s);
        CHECK_EQ(s[VB_STAT_ALLOCS], round);
        CHECK_EQ(s[VB_STAT_FREES], round - 1); /* not 2^64 - 1 */
        CHECK_RC(vb_pool_free(p, h), 0); /* empty: the arena is returned */
        vb_pool_stats(p, s);
        CHECK_EQ(s[VB_STAT_ARENAS], 1);
        CHECK_POOL(p);
    }
    int32_t a = vb_pool_alloc(p, 64 * KiB), b = vb_pool_alloc(p, 4096); /* growth still works */
    CHECK(a >= 0 && b >= 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 3), 0);
    CHECK_RC(vb_pool_free(p, a), 0);
    CHECK_RC(vb_pool_free(p, b), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

const test_case growth_tests[] = {
    TEST(pool_alloc_many_capacities),
    TEST(pool_shared_arena_returned),
    TEST(pool_poisons_freed_buffers),
    TEST(growth_buddy_up_to_limit),
    TEST(growth_limit_validated),
    TEST(growth_returns_empty_arenas),
    TEST(growth_hybrid),
    TEST(arena_huge_pages),
    TEST_END,
};

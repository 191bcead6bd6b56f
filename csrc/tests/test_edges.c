/*
 * test_edges.c - regression tests of issue 12's single-thread items: the
 * HybridPool size overflow (3), checker blind spots of the fallback table
 * (10; the buddy and hybrid ones are in their suites' corruption tests),
 * vb_ring_prep offsets (11), and item 12's refused-deferred-free count and
 * capacities without the double-free bitset.
 */
#include "test.h"

#include "pool_internal.h" /* white-box: the fallback table (item 10) */

#include <math.h>

#define PAGE VB_PAGE_SIZE

/* Item 3: a class table of 2^52 + 1 pages is 2^64 + 4096 bytes, which
 * wrapped to one page and passed the 1 GiB check. */
static void edges_hybrid_size_overflow(void) {
    uint32_t sizes[6] = {PAGE}, counts[6] = {262135};
    for (int i = 1; i < 5; i++) sizes[i] = ((1u << 18) - 5 + (uint32_t)i) * PAGE, counts[i] = 0xFFFFFFFFu;
    sizes[5] = 1u << 30, counts[5] = 163843;
    uint64_t pages = 0;
    for (int i = 0; i < 6; i++) pages += (uint64_t)counts[i] * (sizes[i] / PAGE);
    REQUIRE(pages == (1ull << 52) + 1); /* the table the issue names */
    vb_pool *p = 0;
    CHECK_RC(vb_hybrid_create(sizes, counts, 6, 0, &p), VB_ERANGE);
    CHECK(p == 0);
    /* One page past 1 GiB, and exactly 1 GiB. */
    uint32_t one[1] = {PAGE}, n[1] = {(1u << 18) + 1};
    CHECK_RC(vb_hybrid_create(one, n, 1, 0, &p), VB_ERANGE);
    n[0] = 1u << 18;
    REQUIRE(vb_hybrid_create(one, n, 1, 0, &p) == 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Item 10: a live fallback slot on the free chain would be handed out
 * again while live. */
static void edges_check_sees_fallback_chain(void) {
    uint32_t sizes[] = {PAGE}, counts[] = {1};
    vb_pool *p;
    REQUIRE(vb_hybrid_create(sizes, counts, 1, 0, &p) == 0);
    int32_t a = vb_pool_alloc(p, 2 * PAGE), b = vb_pool_alloc(p, 2 * PAGE); /* oversize: fallback slots 0, 1 */
    REQUIRE(a >= 0 && b >= 0);
    CHECK_RC(vb_pool_free(p, b), 0);
    CHECK_POOL(p);
    vb_fallback *fb = &p->fallback;
    uint32_t head = fb->free_head, slot_a = (uint32_t)a & VB_HANDLE_PAGE_MASK;
    uint32_t saved = fb->slots[slot_a].next_free;
    fb->slots[slot_a].next_free = head; /* live slot a put on the chain */
    fb->free_head = slot_a;
    CHECK_CORRUPT(p, "free chain");
    fb->free_head = head;
    fb->slots[slot_a].next_free = saved;
    CHECK_POOL(p);
    fb->live++; /* a count the slots do not have */
    CHECK_CORRUPT(p, "fallback");
    fb->live--;
    CHECK_POOL(p);
    CHECK_RC(vb_pool_free(p, a), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Item 11: offsets a bare cast would turn into undefined behaviour. */
static void edges_ring_prep_offsets(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    static uint8_t buf[PAGE] __attribute__((aligned(PAGE)));
    const double bad[] = {NAN, -NAN, -2.0, -0.5, -INFINITY, INFINITY, 18446744073709551616.0, 1e30, 0.5, 4096.25};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t rc = vb_ring_prep(r, VB_OP_READ, 0, buf, PAGE, bad[i], -1, 1);
        CHECK_MSG(rc == VB_EINVAL, "offset %g: %d, expected VB_EINVAL", bad[i], rc);
    }
    CHECK_EQ(vb_ring_sq_ready(r), 0); /* nothing was queued */
    /* -1 (the file position), 0 and the largest double below 2^64 are fine. */
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, 0, buf, PAGE, -1.0, -1, 1), 0);
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, 0, buf, PAGE, 0.0, -1, 2), 0);
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, 0, buf, PAGE, 18446744073709549568.0, -1, 3), 0);
    CHECK_EQ(vb_ring_sq_ready(r), 3);
    CHECK_RC(vb_ring_destroy(r), 0); /* unsubmitted: dropped */
}

/* Item 12: one refused deferred free is reported once, not forever; the
 * count stays in VB_STAT_QUEUE_ERRORS. */
static void edges_refused_deferred_free_reported_once(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(16 * PAGE, 4, 4, 0, &p) == 0);
    uint32_t *out = vb_pool_out(p);
    int32_t h = vb_pool_alloc(p, PAGE);
    REQUIRE(h >= 0);
    CHECK_RC(vb_pool_free(p, h), 0);
    out[VB_OUT_QUEUE] = (uint32_t)h; /* freed already */
    out[VB_OUT_QUEUED] = 1;
    CHECK_RC(vb_pool_flush(p), 1);
    CHECK_CORRUPT(p, "deferred frees");
    CHECK_POOL(p); /* the second check passes: nothing is broken */
    CHECK_POOL(p);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_QUEUE_ERRORS], 1);
    CHECK_EQ(out[VB_OUT_QUEUE_ERRORS], 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Item 12: without the double-free bitset, live buffers still have an
 * address and a capacity. */
static void edges_no_bitset_capacity(void) {
    uint32_t sizes[] = {PAGE, 4 * PAGE}, counts[] = {4, 2};
    vb_pool *p;
    REQUIRE(vb_hybrid_create(sizes, counts, 2, VB_FLAG_NO_DOUBLE_FREE_BITSET, &p) == 0);
    int32_t a = vb_pool_alloc(p, PAGE), b = vb_pool_alloc(p, 3 * PAGE);
    REQUIRE(a >= 0 && b >= 0);
    CHECK_EQ(vb_pool_capacity(p, a), PAGE);
    CHECK_EQ(vb_pool_capacity(p, b), 4 * PAGE);
    CHECK(vb_pool_ptr(p, a) == (uint8_t *)vb_pool_region_base(p, 0) + (uint64_t)a * PAGE);
    CHECK(vb_pool_ptr(p, b) != 0);
    CHECK_EQ(vb_pool_capacity(p, b + 1), 0); /* inside a block */
    CHECK_RC(vb_pool_free(p, a), 0);
    CHECK_EQ(vb_pool_capacity(p, a), 0); /* free again */
    CHECK(vb_pool_ptr(p, a) == 0);
    CHECK_RC(vb_pool_free(p, b), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

const test_case edge_tests[] = {
    TEST(edges_hybrid_size_overflow),
    TEST(edges_check_sees_fallback_chain),
    TEST(edges_ring_prep_offsets),
    TEST(edges_refused_deferred_free_reported_once),
    TEST(edges_no_bitset_capacity),
    TEST_END,
};

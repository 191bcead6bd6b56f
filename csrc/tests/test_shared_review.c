/*
 * test_shared_review.c - regression tests of the hostile review of issue 12
 * (/work/notes/review-12.md, defects D1-D6), one or more per defect, each
 * named for what it proves.  The white-box ones corrupt share bookkeeping
 * the way a memory bug would.
 */
#include "test.h"

#include "pool_internal.h" /* white-box: attached count, owner fields, links */

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define KiB 1024u

/* A share of p attached in this thread (white-box tests need no other). */
static vb_view *share_attach(vb_pool *p) {
    uint32_t share[2];
    vb_view *v = 0;
    if (vb_pool_share(p, share) != 0 || vb_view_attach(p, share[0], share[1], &v) != 0) return 0;
    return v;
}

/* --- D6: a refused deferred release is counted once ------------------------- */

static void shared_review_bad_deferred_free_counted_once(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(1 << 20, 0, 0, 0, &p) == 0);
    vb_view *v = share_attach(p);
    REQUIRE(v);
    int32_t h = vb_view_alloc(v, 4096); /* handed to the owner */
    REQUIRE(h >= 0);
    uint32_t *out = vb_pool_out(p);
    out[VB_OUT_QUEUE] = (uint32_t)h; /* released twice before the view looks */
    out[VB_OUT_QUEUE + 1] = (uint32_t)h;
    out[VB_OUT_QUEUED] = 2;
    CHECK_EQ(vb_pool_flush(p), 1); /* the second is refused */
    CHECK_RC(vb_view_detach(v), 0);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 0);
    CHECK_EQ(s[VB_STAT_REMOTE_ERRORS] + s[VB_STAT_QUEUE_ERRORS], 1);
    CHECK_EQ(s[VB_STAT_QUEUE_ERRORS], 1);
    CHECK_CORRUPT(p, "1 deferred frees"); /* reported once */
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* A direct release refused at once is the caller's to count (it was told). */
static void shared_review_refused_release_not_counted_again(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(1 << 20, 0, 0, 0, &p) == 0);
    vb_view *v = share_attach(p);
    REQUIRE(v);
    int32_t a = vb_pool_alloc(p, 4096); /* the owner's, released by the view */
    REQUIRE(a >= 0);
    CHECK_RC(vb_view_free(v, a), 0);
    CHECK_RC(vb_view_free(v, a), VB_EDOUBLEFREE);
    CHECK_RC(vb_view_detach(v), 0);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 0);
    CHECK_EQ(s[VB_STAT_REMOTE_ERRORS], 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* --- D1: the checker and destroy do not trust the share bookkeeping -------- */

/* `attached` dropped to 0 while a view holds a buffer (white-box). */
static void shared_review_check_sees_attached_count(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(1 << 20, 0, 0, 0, &p) == 0);
    vb_view *v = share_attach(p);
    REQUIRE(v);
    int32_t h = vb_view_alloc(v, 4096);
    REQUIRE(h >= 0);
    CHECK_POOL(p);
    atomic_store(&p->attached, 0); /* the corruption */
    CHECK_CORRUPT(p, "1 arenas held by views, 0 views attached");
    CHECK_RC(vb_pool_destroy(p), VB_EATTACHED); /* not an unmap under the view */
    atomic_store(&p->attached, 1);
    memset((uint8_t *)vb_view_base(v) + (uint64_t)(h & VB_HANDLE_PAGE_MASK) * VB_PAGE_SIZE, 1, 4096);
    CHECK_RC(vb_view_free(v, h), 0);
    CHECK_RC(vb_view_detach(v), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* A returned arena's owner overwritten with a view id nobody holds, while
 * one of its buffers lives (white-box). */
static void shared_review_check_sees_foreign_owner_id(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(1 << 20, 0, 0, 0, &p) == 0);
    vb_view *v = share_attach(p);
    REQUIRE(v);
    uint32_t a = vb_view_arena(v);
    int32_t h = vb_view_alloc(v, 4096); /* stays live: handed to someone */
    REQUIRE(h >= 0);
    CHECK_RC(vb_view_detach(v), 0);
    for (int k = 0; k < 2; k++) {
        /* A view id of another arena, then this arena's own id (no view). */
        atomic_store(&p->arenas[a].owner, k == 0 ? VB_OWNER_VIEW0 + 7 : VB_OWNER_VIEW0 + a);
        CHECK_CORRUPT(p, k == 0 ? "names no view of it" : "1 arenas held by views, 0 views attached");
        CHECK_RC(vb_pool_destroy(p), VB_EATTACHED);
    }
    atomic_store(&p->arenas[a].owner, VB_OWNER_RETURNED);
    CHECK_RC(vb_pool_destroy(p), VB_EBUSY); /* the buffer lives */
    CHECK_RC(vb_pool_free(p, h), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* A page marked as waiting on a remote list while on none (white-box): every
 * release of it from another thread would be refused as a double free. */
static void shared_review_check_sees_stray_remote_mark(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(1 << 20, 0, 0, 0, &p) == 0);
    int32_t a = vb_pool_alloc(p, 4096);
    REQUIRE(a >= 0);
    atomic_store(&p->arenas[0].links[a & VB_HANDLE_PAGE_MASK].queued, 1); /* the corruption */
    CHECK_CORRUPT(p, "marked as waiting on a remote list");
    atomic_store(&p->arenas[0].links[a & VB_HANDLE_PAGE_MASK].queued, 0);
    /* A real remote free in the same place is no corruption. */
    vb_view *v = share_attach(p);
    REQUIRE(v);
    CHECK_RC(vb_view_free(v, a), 0);
    CHECK_POOL(p);
    CHECK_EQ(vb_pool_ptr(p, a), 0); /* the check's drain freed it */
    CHECK_RC(vb_view_detach(v), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* shared_arenas out of step with the slots' shared flags (white-box). */
static void shared_review_check_sees_shared_count(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * KiB, 0, 0, 0, &p) == 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    p->shared_arenas = 2; /* one share more than made */
    CHECK_CORRUPT(p, "1 shared arenas found, 2 counted");
    p->shared_arenas = 1;
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* --- D2: a cancelled or used share handle never takes a later reservation --- */

static void shared_review_cancelled_handle_stays_stale(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(1 << 20, 0, 0, 0, &p) == 0);
    uint32_t a[2], b[2], c[2];
    vb_view *v = 0, *w = 0;
    REQUIRE(vb_pool_share(p, a) == 0);
    CHECK_RC(vb_pool_unshare(p, a[0]), 0);
    CHECK_RC(vb_view_attach(p, a[0], a[1], &v), VB_ESTALE);
    REQUIRE(vb_pool_share(p, b) == 0); /* the same slot again */
    CHECK_EQ(b[0] & VB_SHARE_ARENA_MASK, a[0] & VB_SHARE_ARENA_MASK);
    CHECK(b[0] != a[0]);
    CHECK_RC(vb_pool_unshare(p, a[0]), VB_EINVAL); /* cancels nothing of b's */
    CHECK_RC(vb_view_attach(p, a[0], a[1], &v), VB_ESTALE);
    CHECK(v == 0);
    CHECK_RC(vb_view_attach(p, b[0], b[1], &w), 0); /* the rightful attacher */
    REQUIRE(w != 0);
    CHECK_RC(vb_pool_unshare(p, b[0]), VB_EBUSY);
    CHECK_RC(vb_view_detach(w), 0);
    /* A used handle does not take the next reservation of the slot either. */
    REQUIRE(vb_pool_share(p, c) == 0);
    CHECK_EQ(c[0] & VB_SHARE_ARENA_MASK, b[0] & VB_SHARE_ARENA_MASK);
    w = 0;
    CHECK_RC(vb_view_attach(p, b[0], b[1], &w), VB_ESTALE);
    CHECK_RC(vb_view_attach(p, c[0] & VB_SHARE_ARENA_MASK, c[1], &w), VB_ESTALE); /* a bare arena */
    CHECK_RC(vb_view_attach(p, c[0], c[1], &w), 0);
    if (w) CHECK_RC(vb_view_detach(w), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* --- D3: arenas views give back do not grow the owner past max_arenas ------- */

static void review_cycles(uint32_t flags) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * KiB, 0, 0, flags, &p) == 0); /* max_arenas 1 */
    int32_t first[16];
    for (int i = 0; i < 16; i++) REQUIRE((first[i] = vb_pool_alloc(p, 4096)) >= 0); /* arena 0 full */
    CHECK_RC(vb_pool_alloc(p, 4096), VB_ENOMEM);
    int32_t handed = -1;
    for (int cycle = 0; cycle < 512 && !test_failures(); cycle++) {
        uint32_t share[2];
        vb_view *v;
        CHECK_RC(vb_pool_share(p, share), 0);
        REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
        /* Every 8th view leaves a buffer to the owner, freed a cycle later. */
        int32_t h = cycle % 8 == 0 ? vb_view_alloc(v, 4096) : -1;
        CHECK_RC(vb_view_detach(v), 0);
        CHECK_RC(vb_pool_alloc(p, 4096), VB_ENOMEM); /* no growth: arena 0 is full */
        if (handed >= 0) CHECK_RC(vb_pool_free(p, handed), 0);
        handed = h;
        double s[VB_STAT_LEN];
        vb_pool_stats(p, s);
        CHECK_MSG(s[VB_STAT_ARENAS] <= 3, "cycle %d: %.0f arenas for a no-growth pool with one view at a time", cycle,
                  s[VB_STAT_ARENAS]);
        CHECK_EQ(s[VB_STAT_LARGEST_FREE], 0); /* nothing the owner could get */
    }
    if (handed >= 0) CHECK_RC(vb_pool_free(p, handed), 0);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    /* Without the flag: arena 0, and one for the views (a share while the
     * last view's arena still held the buffer it handed over reserves
     * another, given up when its view leaves without allocating: a lazy
     * share is never mapped for nothing). */
    CHECK_EQ(s[VB_STAT_ARENAS], flags & VB_FLAG_RELEASE_EMPTY_ARENAS ? 1 : 2);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 16);
    CHECK_POOL(p);
    FREE_ALL(p, first, 16);
    CHECK_RC(vb_pool_destroy(p), 0);
}

static void shared_review_returned_arenas_no_growth(void) { review_cycles(0); }
static void shared_review_returned_arenas_no_growth_release(void) { review_cycles(VB_FLAG_RELEASE_EMPTY_ARENAS); }

/* With room to grow the owner adopts a returned arena instead of mapping one. */
static void shared_review_growth_adopts_returned_arena(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * KiB, 0, 0, 0, &p) == 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 2), 0);
    vb_view *v = share_attach(p);
    REQUIRE(v);
    uint32_t given_back = vb_view_arena(v), share[2];
    /* Used once, so mapped (an arena a view never allocated from is not
     * kept: it was never mapped). */
    int32_t used = vb_view_alloc(v, 4096);
    CHECK(used >= 0);
    CHECK_RC(vb_view_free(v, used), 0);
    CHECK_RC(vb_view_detach(v), 0);
    int32_t a = vb_pool_alloc(p, 65536), b = vb_pool_alloc(p, 65536);
    CHECK(a >= 0 && b >= 0);
    CHECK_EQ((uint32_t)b >> VB_HANDLE_PAGE_BITS, given_back); /* adopted, not mapped */
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_ARENAS], 2);
    CHECK_EQ(s[VB_STAT_GROWS], 0);
    CHECK_RC(vb_pool_alloc(p, 4096), VB_ENOMEM); /* max_arenas reached */
    CHECK_POOL(p);
    CHECK_RC(vb_pool_share(p, share), 0); /* a new arena: b's is the owner's now */
    CHECK_EQ(share[0] & VB_SHARE_ARENA_MASK, 2);
    CHECK_RC(vb_pool_unshare(p, share[0]), 0);
    CHECK_RC(vb_pool_free(p, a), 0);
    CHECK_RC(vb_pool_free(p, b), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

const test_case shared_review_tests[] = {
    TEST(shared_review_bad_deferred_free_counted_once),
    TEST(shared_review_refused_release_not_counted_again),
    TEST(shared_review_check_sees_attached_count),
    TEST(shared_review_check_sees_foreign_owner_id),
    TEST(shared_review_check_sees_stray_remote_mark),
    TEST(shared_review_check_sees_shared_count),
    TEST(shared_review_cancelled_handle_stays_stale),
    TEST(shared_review_returned_arenas_no_growth),
    TEST(shared_review_returned_arenas_no_growth_release),
    TEST(shared_review_growth_adopts_returned_arena),
    TEST_END,
};

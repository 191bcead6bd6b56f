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

/* --- D6: a refused deferred release is counted once ------------------------- */

static void shared_review_bad_deferred_free_counted_once(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(1 << 20, 0, 0, 0, &p) == 0);
    uint32_t share[2];
    vb_view *v;
    REQUIRE(vb_pool_share(p, share) == 0);
    REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
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
    uint32_t share[2];
    vb_view *v;
    REQUIRE(vb_pool_share(p, share) == 0);
    REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
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

const test_case shared_review_tests[] = {
    TEST(shared_review_bad_deferred_free_counted_once),
    TEST(shared_review_refused_release_not_counted_again),
    TEST_END,
};

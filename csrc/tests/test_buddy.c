/*
 * test_buddy.c - BuddyPool through the public vb_pool_* API, which reaches
 * the buddy allocator only through its vtable.
 *
 * Most tests use small arenas so that exhaustion, splitting and merging
 * happen after a handful of calls and the expected handles can be worked
 * out by hand.  The last test breaks the allocator's invariants on purpose
 * to show that vb_pool_check can fail at all.
 */
#include "test.h"

#include "pool_internal.h" /* vb_pool.arenas, for the corruption test */

/* The corruption test needs the layout of buddy.c's private struct.
 * Including the source gives exactly the layout the library was built with
 * (same compiler, same flags).  Its one external function is renamed so it
 * does not clash with the library's; the pools under test are created by
 * the library's copy as usual. */
#define vb_buddy_new vb_buddy_new_layout_only
#include "buddy.c"
#undef vb_buddy_new

#define PAGE VB_PAGE_SIZE
#define KiB 1024u
#define MiB (1024u * 1024u)

/* The seed's defaults: 64 blocks cached for each of orders 0-5. */
#define DEPTH 64u
#define ORDERS 6u

static vb_pool *new_buddy(uint64_t arena_size, uint32_t depth) {
    vb_pool *p = 0;
    int32_t rc = vb_buddy_create(arena_size, depth, ORDERS, 0, &p);
    CHECK_MSG(rc == 0, "vb_buddy_create(%llu, %u): %d (%s)", (unsigned long long)arena_size, depth,
              rc, vb_strerror(rc));
    return rc ? 0 : p;
}

static uint8_t *base_of(vb_pool *p) { return vb_pool_region_base(p, 0); }

/* Allocates order-0 blocks until the pool says VB_ENOMEM; returns how many
 * (their handles in h[], which must have room for max). */
static size_t fill_pages(vb_pool *p, int32_t *h, size_t max) {
    size_t n = 0;
    for (int32_t x; n < max && (x = vb_pool_alloc(p, 1)) >= 0;) h[n++] = x;
    CHECK_RC(vb_pool_alloc(p, 1), VB_ENOMEM);
    return n;
}

/* Requests are rounded up to 2^k pages, and a block of 2^k pages starts at
 * a multiple of 2^k pages (the buddy invariant), so its address is at least
 * page-aligned. */
static void buddy_rounds_up_to_power_of_two_pages(void) {
    vb_pool *p = new_buddy(4 * MiB, DEPTH);
    REQUIRE(p);
    static const uint32_t cases[][2] = {
        {1, 4096},      {4095, 4096},     {4096, 4096},      {4097, 8192},
        {8192, 8192},   {8193, 16384},    {12288, 16384},    {65536, 65536},
        {100000, 131072}, {131073, 262144}, {4 * MiB, 4 * MiB},
    };
    uint32_t *out = vb_pool_out(p);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t size = cases[i][0], cap = cases[i][1];
        int32_t h = vb_pool_alloc(p, size);
        CHECK_MSG(h >= 0, "alloc(%u): %d", size, h);
        if (h < 0) continue;
        CHECK_EQ(out[VB_OUT_CAPACITY], cap);
        CHECK_EQ(vb_pool_capacity(p, h), cap);
        CHECK_EQ((int32_t)out[VB_OUT_BUF_INDEX], -1); /* not registered */
        uint8_t *ptr = vb_pool_ptr(p, h);
        CHECK(ptr == base_of(p) + (size_t)h * PAGE); /* handle = first page */
        CHECK_EQ((uintptr_t)ptr % PAGE, 0);
        CHECK_EQ((size_t)(ptr - base_of(p)) % cap, 0);
        CHECK_RC(vb_pool_free(p, h), 0);
    }
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Splitting keeps the lower half and frees the upper ones; freeing merges
 * buddies back.  With the L0 cache off every free goes straight to L1, so
 * the placement is fully determined. */
static void buddy_split_and_coalesce(void) {
    vb_pool *p = new_buddy(16 * PAGE, 0);
    REQUIRE(p);
    double s[VB_STAT_LEN];

    /* One page splits 16 -> 8+4+2+1+1: the next requests find their halves. */
    CHECK_EQ(vb_pool_alloc(p, PAGE), 0);
    CHECK_EQ(vb_pool_alloc(p, 32 * KiB), 8);
    CHECK_EQ(vb_pool_alloc(p, 16 * KiB), 4);
    CHECK_EQ(vb_pool_alloc(p, 8 * KiB), 2);
    CHECK_EQ(vb_pool_alloc(p, PAGE), 1);
    CHECK_RC(vb_pool_alloc(p, 1), VB_ENOMEM);
    static const int32_t order[] = {4, 0, 8, 2, 1};
    FREE_ALL(p, order, 5);
    CHECK_EQ(vb_pool_alloc(p, 64 * KiB), 0); /* all merged back into one block */
    CHECK_RC(vb_pool_free(p, 0), 0);

    /* Every order-0 block, freed evens first: nothing can merge until the
     * odd half comes back. */
    int32_t h[16];
    CHECK_EQ(fill_pages(p, h, 16), 16);
    for (int i = 0; i < 16; i += 2) CHECK_RC(vb_pool_free(p, i), 0);
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_LARGEST_FREE], PAGE);
    CHECK_EQ(s[VB_STAT_FREE_BYTES], 8 * PAGE);
    for (int i = 1; i < 16; i += 2) CHECK_RC(vb_pool_free(p, i), 0);
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_LARGEST_FREE], 16 * PAGE);
    CHECK_POOL(p);

    int32_t all = vb_pool_alloc(p, 16 * PAGE);
    CHECK_EQ(all, 0);
    CHECK_RC(vb_pool_free(p, all), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* With the L0 cache on, freed blocks park in per-order stacks instead of
 * merging.  A request L1 cannot serve must drain them, so after freeing
 * everything in any order the whole arena is one block again. */
static void buddy_whole_arena_after_random_frees(void) {
    enum { PAGES = 1024 };
    vb_pool *p = new_buddy(PAGES * PAGE, DEPTH);
    REQUIRE(p);
    test_rng rng = rng_seeded(20240611);
    static int32_t h[PAGES];
    double s[VB_STAT_LEN];

    for (int round = 0; round < 2; round++) {
        size_t n = 0;
        if (round == 1) /* mixed sizes up to the largest cached order first */
            for (int32_t x; (x = vb_pool_alloc(p, 1 + rng_below(&rng, 128 * KiB))) >= 0;) h[n++] = x;
        n += fill_pages(p, h + n, PAGES - n); /* then every page left */
        vb_pool_stats(p, s);
        CHECK_EQ(s[VB_STAT_FREE_BYTES], 0);
        CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], n);

        shuffle_handles(&rng, h, n);
        FREE_ALL(p, h, n);
        vb_pool_stats(p, s);
        CHECK_MSG(s[VB_STAT_CACHED_BUFFERS] > 0, "round %d: the cache was never used", round);
        CHECK_EQ(s[VB_STAT_FREE_BYTES], PAGES * PAGE);
        CHECK_POOL(p);

        int32_t all = vb_pool_alloc(p, PAGES * PAGE);
        CHECK_MSG(all == 0, "round %d: whole-arena alloc returned %d (%s)", round, all,
                  vb_strerror(all));
        vb_pool_stats(p, s);
        CHECK_EQ(s[VB_STAT_CACHED_BUFFERS], 0); /* drained into L1 */
        if (all >= 0) CHECK_RC(vb_pool_free(p, all), 0);
        CHECK_POOL(p);
    }
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Size 0 and sizes above the largest block are refused without touching
 * the pool; a full pool says VB_ENOMEM and counts it. */
static void buddy_exhaustion_and_bad_sizes(void) {
    vb_pool *p = new_buddy(64 * PAGE, DEPTH);
    REQUIRE(p);
    double s[VB_STAT_LEN];
    EXPECT_REFUSED(p, vb_pool_alloc(p, 0), VB_EINVAL);
    EXPECT_REFUSED(p, vb_pool_alloc(p, 64 * PAGE + 1), VB_ERANGE);
    EXPECT_REFUSED(p, vb_pool_alloc(p, UINT32_MAX), VB_ERANGE);

    int32_t h = vb_pool_alloc(p, 64 * PAGE);
    CHECK_EQ(h, 0);
    CHECK_RC(vb_pool_alloc(p, 1), VB_ENOMEM);
    CHECK_RC(vb_pool_alloc(p, 64 * PAGE), VB_ENOMEM);
    CHECK_RC(vb_pool_alloc(p, 64 * PAGE + 1), VB_ERANGE); /* still "never", not "not now" */
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_FAILED_ALLOCS], 2);
    CHECK_EQ(s[VB_STAT_ALLOCS], 1);
    CHECK_EQ(s[VB_STAT_LARGEST_FREE], 0);
    CHECK_POOL(p);

    CHECK_RC(vb_pool_free(p, h), 0);
    h = vb_pool_alloc(p, 1);
    CHECK_EQ(h, 0);
    CHECK_RC(vb_pool_free(p, h), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* A second free is refused wherever the block went: into an L0 stack, or
 * (cache off) back into L1 and merged into a bigger free block. */
static void buddy_double_free(void) {
    static const uint32_t depths[] = {DEPTH, 0};
    for (size_t d = 0; d < 2; d++) {
        vb_pool *p = new_buddy(64 * PAGE, depths[d]);
        REQUIRE(p);
        int32_t a = vb_pool_alloc(p, PAGE), b = vb_pool_alloc(p, 16 * KiB);
        int32_t keep = vb_pool_alloc(p, PAGE);
        REQUIRE(a >= 0 && b >= 0 && keep >= 0);
        uint8_t *pa = vb_pool_ptr(p, a);

        CHECK_RC(vb_pool_free(p, a), 0);
        EXPECT_REFUSED(p, vb_pool_free(p, a), VB_EDOUBLEFREE);
        EXPECT_REFUSED(p, vb_pool_free_ptr(p, pa), VB_EDOUBLEFREE);
        CHECK(vb_pool_ptr(p, a) == 0);
        CHECK_EQ(vb_pool_capacity(p, a), 0);

        CHECK_RC(vb_pool_free(p, b), 0);
        EXPECT_REFUSED(p, vb_pool_free(p, b), VB_EDOUBLEFREE);
        /* A page inside a free block is as free as its first page. */
        EXPECT_REFUSED(p, vb_pool_free(p, b + 1), VB_EDOUBLEFREE);

        CHECK_RC(vb_pool_free(p, keep), 0);
        CHECK_RC(vb_pool_destroy(p), 0);
    }
}

/* Any page of a live block but the first, and any address that is not a
 * block start, is refused as interior; the block stays live. */
static void buddy_interior_page(void) {
    vb_pool *p = new_buddy(64 * PAGE, DEPTH);
    REQUIRE(p);
    int32_t h = vb_pool_alloc(p, 16 * KiB);
    REQUIRE(h >= 0);
    uint8_t *ptr = vb_pool_ptr(p, h);
    for (int32_t i = 1; i < 4; i++) {
        EXPECT_REFUSED(p, vb_pool_free(p, h + i), VB_EINTERIOR);
        EXPECT_REFUSED(p, vb_pool_free_ptr(p, ptr + (size_t)i * PAGE), VB_EINTERIOR);
        CHECK(vb_pool_ptr(p, h + i) == 0);
    }
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, ptr + 1), VB_EINTERIOR);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, ptr + 16 * KiB - 1), VB_EINTERIOR);
    CHECK_EQ(vb_pool_capacity(p, h), 16 * KiB);
    CHECK_RC(vb_pool_free_ptr(p, ptr), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Handles and pointers that name nothing in this pool: out of range,
 * another arena, another pool, the stack. */
static void buddy_foreign_handles_and_pointers(void) {
    vb_pool *p = new_buddy(64 * PAGE, DEPTH), *other = new_buddy(64 * PAGE, DEPTH);
    REQUIRE(p && other);
    int32_t h = vb_pool_alloc(p, PAGE), o = vb_pool_alloc(other, PAGE);
    REQUIRE(h >= 0 && o >= 0);
    int on_stack = 0;

    EXPECT_REFUSED(p, vb_pool_free(p, 64), VB_EFAULT); /* first page past the arena */
    EXPECT_REFUSED(p, vb_pool_free(p, (int32_t)VB_HANDLE_PAGE_MASK), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free(p, -1), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free(p, (int32_t)(1u << VB_HANDLE_PAGE_BITS) | h), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free(p, (int32_t)(VB_HANDLE_FALLBACK_ARENA << VB_HANDLE_PAGE_BITS)),
                   VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, vb_pool_ptr(other, o)), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, &on_stack), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, 0), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, base_of(p) + 64 * PAGE), VB_EFAULT);
    CHECK(vb_pool_ptr(p, 64) == 0);
    CHECK(vb_pool_ptr(p, -1) == 0);
    CHECK_EQ(vb_pool_capacity(p, (int32_t)(1u << VB_HANDLE_PAGE_BITS)), 0);

    CHECK_EQ(vb_pool_capacity(other, o), PAGE); /* untouched by all of it */
    CHECK_POOL(other);
    CHECK_RC(vb_pool_free(p, h), 0);
    CHECK_RC(vb_pool_free(other, o), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
    CHECK_RC(vb_pool_destroy(other), 0);
}

/* An arena of n pages starts as n's binary decomposition (100 = 64+32+4):
 * every page is allocatable, each of those blocks comes back whole, and
 * nothing larger than the largest of them is ever servable. */
static void buddy_non_power_of_two_arenas(void) {
    static const uint32_t sizes[] = {7, 100};
    static const uint32_t depths[] = {DEPTH, 0};
    test_rng rng = rng_seeded(7);
    int32_t h[100];
    for (size_t i = 0; i < 2; i++)
        for (size_t d = 0; d < 2; d++) {
            uint32_t pages = sizes[i], top = 1u << (31 - __builtin_clz(pages));
            vb_pool *p = new_buddy((uint64_t)pages * PAGE, depths[d]);
            REQUIRE(p);
            CHECK_EQ(vb_pool_region_size(p, 0), (uint64_t)pages * PAGE);
            EXPECT_REFUSED(p, vb_pool_alloc(p, top * PAGE + 1), VB_ERANGE);

            size_t n = fill_pages(p, h, pages);
            CHECK_MSG(n == pages, "%u-page arena: %zu pages allocatable", pages, n);
            for (size_t j = 0; j < n; j++) CHECK_MSG(h[j] >= 0 && (uint32_t)h[j] < pages, "handle %d", h[j]);
            shuffle_handles(&rng, h, n);
            FREE_ALL(p, h, n);

            n = 0;
            for (uint32_t k = top; k; k >>= 1)
                if (pages & k) {
                    h[n] = vb_pool_alloc(p, k * PAGE);
                    CHECK_MSG(h[n] >= 0, "%u-page arena: its %u-page block: %d", pages, k, h[n]);
                    if (h[n] >= 0) n++;
                }
            CHECK_RC(vb_pool_alloc(p, 1), VB_ENOMEM);
            FREE_ALL(p, h, n);
            CHECK_POOL(p);
            CHECK_RC(vb_pool_destroy(p), 0);
        }
}

/* The largest arena: 2^20 pages, so handles use all 20 page bits, and
 * blocks stop at 1 GiB (one registered buffer). */
static void buddy_largest_arena(void) {
    vb_pool *p = 0;
    int32_t rc = vb_buddy_create(VB_MAX_ARENA_SIZE, DEPTH, ORDERS, 0, &p);
    if (rc == VB_ENOMEM) { /* only address space; a small machine may refuse it */
        test_note("skipped: no 4 GiB mapping (%s)", vb_strerror(rc));
        return;
    }
    CHECK_RC(rc, 0);
    REQUIRE(p);
    CHECK_RC(vb_pool_alloc(p, 0x80000000u), VB_ERANGE);
    /* Four 1 GiB blocks, in whatever order the free list holds them. */
    int32_t h[4];
    uint32_t seen = 0;
    for (int i = 0; i < 4; i++) {
        h[i] = vb_pool_alloc(p, 1u << 30);
        CHECK_MSG(h[i] >= 0 && h[i] % (1 << 18) == 0, "GiB block %d: handle %d", i, h[i]);
        if (h[i] >= 0) seen |= 1u << (h[i] >> 18);
    }
    CHECK_EQ(seen, 0xF);
    CHECK_RC(vb_pool_alloc(p, 1), VB_ENOMEM);
    REQUIRE(seen == 0xF);

    /* The last GiB split again: its first page, then its upper half, which
     * ends at the arena's last byte. */
    const int32_t top = 3 << 18;
    CHECK_RC(vb_pool_free(p, top), 0);
    int32_t first = vb_pool_alloc(p, 1), half = vb_pool_alloc(p, 1u << 29);
    CHECK_EQ(first, top);
    CHECK_EQ(half, top + (1 << 17));
    if (half >= 0) {
        uint8_t *end = (uint8_t *)vb_pool_ptr(p, half) + (1u << 29);
        CHECK(end == base_of(p) + VB_MAX_ARENA_SIZE);
        end[-1] = 0x5a; /* and that byte is really mapped */
        CHECK_RC(vb_pool_free(p, half), 0);
    }
    if (first >= 0) CHECK_RC(vb_pool_free(p, first), 0);
    CHECK_POOL(p);
    for (int i = 0; i < 4; i++)
        if (h[i] != top) CHECK_RC(vb_pool_free(p, h[i]), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Bad configurations create nothing (and count no pool). */
static void buddy_invalid_configs(void) {
    uint32_t pools = vb_live_pools();
    vb_pool *p = 0;
    CHECK_RC(vb_buddy_create(0, DEPTH, ORDERS, 0, &p), VB_EINVAL);
    CHECK_RC(vb_buddy_create(PAGE + 1, DEPTH, ORDERS, 0, &p), VB_EINVAL);
    CHECK_RC(vb_buddy_create(VB_MAX_ARENA_SIZE + PAGE, DEPTH, ORDERS, 0, &p), VB_EINVAL);
    CHECK_RC(vb_buddy_create(MiB, VB_BUDDY_MAX_CACHE_DEPTH + 1, ORDERS, 0, &p), VB_EINVAL);
    CHECK_RC(vb_buddy_create(MiB, DEPTH, VB_BUDDY_MAX_ORDER + 2, 0, &p), VB_EINVAL);
    CHECK_RC(vb_buddy_create(MiB, DEPTH, ORDERS, 0, 0), VB_EINVAL);
    CHECK(p == 0);
    CHECK_EQ(vb_live_pools(), pools);
}

/* Destroy refuses while a buffer is live and leaves the pool working; the
 * process-wide pool count comes back to where it started. */
static void buddy_destroy_refuses_while_busy(void) {
    uint32_t pools = vb_live_pools();
    vb_pool *p = new_buddy(64 * PAGE, DEPTH), *q = new_buddy(PAGE, 0);
    REQUIRE(p && q);
    CHECK_EQ(vb_live_pools(), pools + 2);
    int32_t h = vb_pool_alloc(p, PAGE);
    REQUIRE(h >= 0);

    CHECK_RC(vb_pool_destroy(p), VB_EBUSY);
    CHECK_MSG(strstr(vb_pool_last_error(p), "live"), "last error: %s", vb_pool_last_error(p));
    CHECK_EQ(vb_live_pools(), pools + 2);
    int32_t h2 = vb_pool_alloc(p, 8 * KiB); /* still fully usable */
    CHECK(h2 >= 0);
    fill_pattern(vb_pool_ptr(p, h2), 8 * KiB, 1);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_free(p, h2), 0);

    /* A deferred free still in the queue is not a live buffer: destroy
     * flushes the queue first. */
    uint32_t *out = vb_pool_out(p);
    out[VB_OUT_QUEUE] = (uint32_t)h;
    out[VB_OUT_QUEUED] = 1;
    CHECK_RC(vb_pool_destroy(p), 0);
    CHECK_RC(vb_pool_destroy(q), 0);
    CHECK_EQ(vb_live_pools(), pools);
}

/* Every buffer is its own memory (sizes up to 40 KiB: orders 0-4). */
static void buddy_buffers_do_not_alias(void) {
    vb_pool *p = new_buddy(8 * MiB, 4);
    REQUIRE(p);
    check_buffers_independent(p, 99, 40 * KiB, 96);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Every VB_STAT_* field after a sequence worked out by hand.  A 256-page
 * arena: 1 page splits off 128+64+32+16+8+4+2+1 free blocks at the pages of
 * the same numbers; 2 pages then take page 2, 25 pages (rounded to 32) page
 * 32. */
static void buddy_stats_after_known_sequence(void) {
    vb_pool *p = new_buddy(MiB, DEPTH);
    REQUIRE(p);
    CHECK(strcmp(vb_pool_kind(p), "buddy") == 0);
    CHECK_EQ(vb_pool_region_count(p), 1);
    double cls[VB_CLASS_STAT_LEN];
    CHECK_RC(vb_pool_class_stats(p, 0, cls), VB_EINVAL); /* no size classes */

    double want[VB_STAT_LEN] = {0};
    want[VB_STAT_CAPACITY_BYTES] = MiB;
    want[VB_STAT_FREE_BYTES] = MiB;
    want[VB_STAT_LARGEST_FREE] = MiB;
    want[VB_STAT_ARENAS] = 1;
    want[VB_STAT_MAX_ARENAS] = 1;
    CHECK_STATS(p, want, "fresh");

    int32_t a = vb_pool_alloc(p, 1), b = vb_pool_alloc(p, 8 * KiB), c = vb_pool_alloc(p, 100000);
    CHECK(a == 0 && b == 2 && c == 32);
    want[VB_STAT_LIVE_BUFFERS] = 3;
    want[VB_STAT_BYTES_IN_USE] = 4096 + 8192 + 131072;
    want[VB_STAT_FREE_BYTES] = MiB - want[VB_STAT_BYTES_IN_USE];
    want[VB_STAT_LARGEST_FREE] = 512 * KiB;
    want[VB_STAT_ALLOCS] = 3;
    CHECK_STATS(p, want, "3 allocs");

    CHECK_RC(vb_pool_free(p, a), 0); /* parks in the order-0 stack */
    want[VB_STAT_LIVE_BUFFERS] = 2;
    want[VB_STAT_BYTES_IN_USE] -= 4096;
    want[VB_STAT_FREE_BYTES] += 4096;
    want[VB_STAT_CACHED_BUFFERS] = 1;
    want[VB_STAT_FREES] = 1;
    CHECK_STATS(p, want, "1 free");

    /* The whole arena is not free: refused and counted; the attempt drained
     * the cache into L1 first.  A request that could never fit is not
     * counted as a failure. */
    CHECK_RC(vb_pool_alloc(p, MiB), VB_ENOMEM);
    CHECK_RC(vb_pool_alloc(p, 2 * MiB), VB_ERANGE);
    want[VB_STAT_CACHED_BUFFERS] = 0;
    want[VB_STAT_FAILED_ALLOCS] = 1;
    CHECK_STATS(p, want, "failed allocs");

    CHECK_RC(vb_pool_free(p, b), 0);
    CHECK_RC(vb_pool_free(p, c), 0);
    want[VB_STAT_LIVE_BUFFERS] = 0;
    want[VB_STAT_BYTES_IN_USE] = 0;
    want[VB_STAT_FREE_BYTES] = MiB;
    want[VB_STAT_CACHED_BUFFERS] = 2;
    want[VB_STAT_FREES] = 3;
    /* What the next request can get: the cached blocks count as merged,
     * since a request L1 cannot serve drains the caches first. */
    want[VB_STAT_LARGEST_FREE] = MiB;
    CHECK_STATS(p, want, "all freed");
    CHECK_EQ(vb_pool_alloc(p, MiB), 0);
    CHECK_RC(vb_pool_free(p, 0), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* The deferred-free queue in the out array: the binding appends handles and
 * the pool frees them at the next alloc (one handle: a fast path), flush,
 * stats or check.  Bad handles are counted, not fatal. */
static void buddy_deferred_free_queue(void) {
    vb_pool *p = new_buddy(64 * PAGE, DEPTH);
    REQUIRE(p);
    uint32_t *out = vb_pool_out(p);
    int32_t h[VB_OUT_QUEUE_CAP];
    for (int i = 0; i < 4; i++) h[i] = vb_pool_alloc(p, PAGE);

    out[VB_OUT_QUEUE] = (uint32_t)h[0];
    out[VB_OUT_QUEUED] = 1;
    int32_t e = vb_pool_alloc(p, 8 * KiB); /* frees h[0] before allocating */
    CHECK(e >= 0);
    CHECK_EQ(out[VB_OUT_QUEUED], 0);
    CHECK(vb_pool_ptr(p, h[0]) == 0);

    out[VB_OUT_QUEUE] = (uint32_t)h[1];
    out[VB_OUT_QUEUE + 1] = (uint32_t)h[2];
    out[VB_OUT_QUEUED] = 2;
    CHECK_RC(vb_pool_flush(p), 0);
    CHECK_EQ(out[VB_OUT_QUEUED], 0);
    CHECK(vb_pool_ptr(p, h[1]) == 0 && vb_pool_ptr(p, h[2]) == 0);
    CHECK_EQ(out[VB_OUT_QUEUE_ERRORS], 0);

    /* A stale handle among good ones: the good ones are still freed. */
    out[VB_OUT_QUEUE] = (uint32_t)h[1];
    out[VB_OUT_QUEUE + 1] = (uint32_t)h[3];
    out[VB_OUT_QUEUED] = 2;
    CHECK_RC(vb_pool_flush(p), 1);
    CHECK_EQ(out[VB_OUT_QUEUE_ERRORS], 1);
    CHECK(vb_pool_ptr(p, h[3]) == 0);
    /* Alone, through the alloc fast path. */
    out[VB_OUT_QUEUE] = (uint32_t)h[3];
    out[VB_OUT_QUEUED] = 1;
    int32_t f = vb_pool_alloc(p, PAGE);
    CHECK(f >= 0);
    CHECK_EQ(out[VB_OUT_QUEUE_ERRORS], 2);

    /* The allocator is intact, but check reports the refused frees until
     * the binding acknowledges them by resetting the counter. */
    CHECK_CORRUPT(p, "deferred");
    out[VB_OUT_QUEUE_ERRORS] = 0;
    CHECK_POOL(p);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 2); /* e and f */
    CHECK_EQ(s[VB_STAT_ALLOCS], 6);
    CHECK_EQ(s[VB_STAT_FREES], 4);

    /* A full queue: the binding flushes when it reaches VB_OUT_QUEUE_CAP. */
    out[VB_OUT_QUEUE] = (uint32_t)e;
    out[VB_OUT_QUEUE + 1] = (uint32_t)f;
    out[VB_OUT_QUEUED] = 2;
    for (int i = 0; i < VB_OUT_QUEUE_CAP; i++) h[i] = vb_pool_alloc(p, PAGE); /* frees e, f */
    for (int i = 0; i < VB_OUT_QUEUE_CAP; i++) out[VB_OUT_QUEUE + i] = (uint32_t)h[i];
    out[VB_OUT_QUEUED] = VB_OUT_QUEUE_CAP;
    vb_pool_stats(p, s); /* stats flush too */
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 0);
    CHECK_EQ(out[VB_OUT_QUEUE_ERRORS], 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* vb_pool_check must be able to fail: break one invariant at a time through
 * the private struct, expect VB_ECORRUPT and a message, then put it back. */
static void buddy_check_detects_corruption(void) {
    vb_pool *p = new_buddy(64 * PAGE, DEPTH);
    REQUIRE(p);
    buddy *b = p->arenas[0].backing;
    int32_t live = vb_pool_alloc(p, PAGE), next = vb_pool_alloc(p, PAGE);
    int32_t cached = vb_pool_alloc(p, PAGE);
    REQUIRE(live == 0 && next == 1 && cached == 2);
    CHECK_RC(vb_pool_free(p, cached), 0);
    REQUIRE(b->ncached[0] == 1);
    CHECK_POOL(p);
    CHECK(vb_pool_last_error(p)[0] == 0);

    uint32_t saved_nonempty = b->nonempty; /* a list above max_order [issue 12 item 10] */
    b->nonempty |= 1u << (b->max_order + 1);
    CHECK_CORRUPT(p, "above");
    b->nonempty = saved_nonempty;
    CHECK_POOL(p);

    b->live++; /* a count that disagrees with the blocks */
    CHECK_CORRUPT(p, "live");
    b->live--;
    CHECK_POOL(p);

    b->cache[0][b->ncached[0]++] = (uint32_t)cached; /* the same block cached twice */
    CHECK_CORRUPT(p, "cache 0");
    b->ncached[0]--;
    CHECK_POOL(p);

    b->state[live] = ST_FREE; /* freed (and counted so) but on no free list */
    b->live--;
    CHECK_CORRUPT(p, "free list 0");
    b->state[live] = ST_LIVE;
    b->live++;
    CHECK_POOL(p);

    b->order[live] = 1; /* now it swallows the next live block */
    CHECK_CORRUPT(p, "overlaps");
    b->order[live] = 0;
    CHECK_POOL(p);

    uint32_t k = (uint32_t)__builtin_ctz(b->nonempty), head = b->head[k];
    uint32_t saved = b->next[head];
    b->next[head] = head; /* a cycle in a free list */
    CHECK_CORRUPT(p, "free list");
    b->next[head] = saved;
    CHECK_POOL(p);
    CHECK(vb_pool_last_error(p)[0] == 0);

    CHECK_RC(vb_pool_free(p, live), 0);
    CHECK_RC(vb_pool_free(p, next), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

const test_case buddy_tests[] = {
    TEST(buddy_rounds_up_to_power_of_two_pages),
    TEST(buddy_split_and_coalesce),
    TEST(buddy_whole_arena_after_random_frees),
    TEST(buddy_exhaustion_and_bad_sizes),
    TEST(buddy_double_free),
    TEST(buddy_interior_page),
    TEST(buddy_foreign_handles_and_pointers),
    TEST(buddy_non_power_of_two_arenas),
    TEST(buddy_largest_arena),
    TEST(buddy_invalid_configs),
    TEST(buddy_destroy_refuses_while_busy),
    TEST(buddy_buffers_do_not_alias),
    TEST(buddy_stats_after_known_sequence),
    TEST(buddy_deferred_free_queue),
    TEST(buddy_check_detects_corruption),
    TEST_END,
};

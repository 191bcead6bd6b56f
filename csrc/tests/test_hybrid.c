/*
 * test_hybrid.c - HybridPool through the public vb_pool_* API: one arena
 * cut into one slab per size class, requests above the largest class served
 * by the global allocator (the "fallback").
 *
 * The expected placement of every block follows from the configuration
 * alone: slabs lie in class order from the arena's start, so a test can say
 * which slab an address must fall in.  The last test breaks the allocator's
 * invariants on purpose to show that vb_pool_check can fail.
 */
#include "test.h"

#include "pool_internal.h" /* vb_pool.arenas, for the corruption test */

/* The corruption test needs hybrid.c's private structs; see the same
 * include in test_buddy.c for why this is the source itself. */
#define vb_hybrid_new vb_hybrid_new_layout_only
#include "hybrid.c"
#undef vb_hybrid_new

#define PAGE VB_PAGE_SIZE
#define KiB 1024u
#define MiB (1024u * 1024u)
#define FALLBACK_HANDLE(slot) ((int32_t)((VB_HANDLE_FALLBACK_ARENA << VB_HANDLE_PAGE_BITS) | (slot)))

typedef struct config {
    uint32_t n;
    uint32_t sizes[8];
    uint32_t counts[8];
} config;

/* The seed's classes: 4K x1024, 8K x256, 16K x128, 32K x64, 64K x64 = 14 MiB. */
static const config seed_classes = {5, {4096, 8192, 16384, 32768, 65536}, {1024, 256, 128, 64, 64}};
/* Small enough to exhaust by hand. */
static const config small = {3, {4096, 8192, 16384}, {4, 2, 4}};
/* Classes that are not powers of two pages (3 and 5 pages). */
static const config odd = {3, {4096, 12288, 20480}, {3, 3, 2}};

static vb_pool *new_hybrid(const config *c, uint32_t flags) {
    vb_pool *p = 0;
    int32_t rc = vb_hybrid_create(c->sizes, c->counts, c->n, flags, &p);
    CHECK_MSG(rc == 0, "vb_hybrid_create: %d (%s)", rc, vb_strerror(rc));
    return rc ? 0 : p;
}

/* First page of class `cls`'s slab: the slabs before it, in order. */
static uint32_t slab_page(const config *c, uint32_t cls) {
    uint32_t page = 0;
    for (uint32_t i = 0; i < cls; i++) page += c->counts[i] * (c->sizes[i] / PAGE);
    return page;
}

static uint64_t arena_bytes(const config *c) { return (uint64_t)slab_page(c, c->n) * PAGE; }

static int is_fallback(int32_t h) { return h >= 0 && ((uint32_t)h >> VB_HANDLE_PAGE_BITS) == VB_HANDLE_FALLBACK_ARENA; }

/* Allocates `size` and checks the block is a whole block of class `cls`:
 * the capacity, the slab it lies in, and its alignment inside that slab.
 * Returns the handle (negative on failure, already reported). */
static int32_t alloc_in_class(vb_pool *p, const config *c, uint32_t size, uint32_t cls) {
    int32_t h = vb_pool_alloc(p, size);
    CHECK_MSG(h >= 0, "alloc(%u): %d (%s)", size, h, vb_strerror(h));
    if (h < 0) return h;
    uint32_t cap = c->sizes[cls];
    CHECK_MSG(vb_pool_out(p)[VB_OUT_CAPACITY] == cap, "alloc(%u): capacity %u, expected class %u (%u)",
              size, vb_pool_out(p)[VB_OUT_CAPACITY], cls, cap);
    CHECK_EQ(vb_pool_capacity(p, h), cap);
    CHECK_EQ((int32_t)vb_pool_out(p)[VB_OUT_BUF_INDEX], -1);
    const uint8_t *base = vb_pool_region_base(p, 0), *ptr = vb_pool_ptr(p, h);
    const uint8_t *slab = base + (size_t)slab_page(c, cls) * PAGE;
    CHECK(ptr == base + (size_t)h * PAGE);
    CHECK_MSG(ptr >= slab && ptr < slab + (size_t)cap * c->counts[cls] && (size_t)(ptr - slab) % cap == 0,
              "alloc(%u): block at arena offset %td is not a block of class %u", size, ptr - base, cls);
    return h;
}

/* Each request goes to the smallest class that fits, at every boundary. */
static void hybrid_class_mapping_at_boundaries(void) {
    vb_pool *p = new_hybrid(&seed_classes, 0);
    REQUIRE(p);
    static const uint32_t cases[][2] = {
        {1, 0},     {4095, 0},  {4096, 0},  {4097, 1},  {8192, 1},  {8193, 2},
        {16384, 2}, {16385, 3}, {32768, 3}, {32769, 4}, {65535, 4}, {65536, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t h = alloc_in_class(p, &seed_classes, cases[i][0], cases[i][1]);
        if (h >= 0) CHECK_RC(vb_pool_free(p, h), 0);
    }
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Above the largest class: a page-aligned buffer from the global allocator
 * with a fallback handle, counted apart, freed like any other. */
static void hybrid_oversize_goes_to_fallback(void) {
    vb_pool *p = new_hybrid(&seed_classes, 0);
    REQUIRE(p);
    uint32_t *out = vb_pool_out(p);
    const uint8_t *base = vb_pool_region_base(p, 0);
    uint64_t arena = vb_pool_region_size(p, 0);

    int32_t h = vb_pool_alloc(p, 65537);
    REQUIRE(h >= 0);
    CHECK_EQ((uint32_t)h >> VB_HANDLE_PAGE_BITS, VB_HANDLE_FALLBACK_ARENA);
    CHECK_EQ((int32_t)out[VB_OUT_BUF_INDEX], -1);
    CHECK_EQ(out[VB_OUT_CAPACITY], 65536 + PAGE);
    CHECK_EQ(vb_pool_capacity(p, h), 65536 + PAGE);
    uint8_t *ptr = vb_pool_ptr(p, h);
    REQUIRE(ptr);
    CHECK_EQ((uintptr_t)ptr % PAGE, 0);
    uintptr_t at = (uintptr_t)ptr, lo = (uintptr_t)base; /* outside the arena */
    CHECK(at + 65536 + PAGE <= lo || at >= lo + arena);
    fill_pattern(ptr, 65536 + PAGE, 3);
    CHECK_EQ(pattern_mismatch(ptr, 65536 + PAGE, 3), 65536 + PAGE);

    double want[VB_STAT_LEN] = {0};
    want[VB_STAT_LIVE_BUFFERS] = 1;
    want[VB_STAT_BYTES_IN_USE] = 65536 + PAGE;
    want[VB_STAT_CAPACITY_BYTES] = want[VB_STAT_FREE_BYTES] = (double)arena;
    want[VB_STAT_LARGEST_FREE] = 65536;
    want[VB_STAT_FALLBACK_BUFFERS] = 1;
    want[VB_STAT_FALLBACK_BYTES] = 65536 + PAGE;
    want[VB_STAT_ALLOCS] = 1;
    want[VB_STAT_ARENAS] = 1;
    want[VB_STAT_MAX_ARENAS] = 1;
    want[VB_STAT_CLASSES] = 5;
    CHECK_STATS(p, want, "one fallback buffer");

    /* Freed by address too, and its interior is refused like an arena's. */
    int32_t g = vb_pool_alloc(p, MiB);
    REQUIRE(is_fallback(g));
    uint8_t *gp = vb_pool_ptr(p, g);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, gp + 1), VB_EINTERIOR);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, gp + PAGE), VB_EINTERIOR);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, gp + MiB - 1), VB_EINTERIOR);
    CHECK_RC(vb_pool_free_ptr(p, gp), 0);

    CHECK_RC(vb_pool_free(p, h), 0);
    EXPECT_REFUSED(p, vb_pool_free(p, h), VB_EDOUBLEFREE);
    EXPECT_REFUSED(p, vb_pool_free(p, FALLBACK_HANDLE(1000)), VB_EFAULT); /* no such slot */
    CHECK(vb_pool_ptr(p, h) == 0);
    CHECK_EQ(vb_pool_capacity(p, h), 0);
    want[VB_STAT_LIVE_BUFFERS] = want[VB_STAT_BYTES_IN_USE] = 0;
    want[VB_STAT_FALLBACK_BUFFERS] = want[VB_STAT_FALLBACK_BYTES] = 0;
    want[VB_STAT_ALLOCS] = want[VB_STAT_FREES] = 2;
    CHECK_STATS(p, want, "all freed");

    /* A capacity must fit the int32 the free path returns it in: 2 GiB and
     * above can never be served, not even by the fallback. */
    EXPECT_REFUSED(p, vb_pool_alloc(p, 0x7FFFF001u), VB_ERANGE);
    EXPECT_REFUSED(p, vb_pool_alloc(p, UINT32_MAX), VB_ERANGE);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* The whole pool is one page-aligned mapping: exactly one region. */
static void hybrid_one_region(void) {
    vb_pool *p = new_hybrid(&seed_classes, 0);
    REQUIRE(p);
    CHECK(strcmp(vb_pool_kind(p), "hybrid") == 0);
    CHECK_EQ(vb_pool_region_count(p), 1);
    CHECK_EQ((uintptr_t)vb_pool_region_base(p, 0) % PAGE, 0);
    CHECK_EQ(vb_pool_region_size(p, 0), 14 * MiB);
    CHECK_EQ(vb_pool_region_size(p, 0), arena_bytes(&seed_classes));
    CHECK(vb_pool_region_base(p, 1) == 0);
    CHECK_EQ(vb_pool_region_size(p, 1), 0);

    double cls[VB_CLASS_STAT_LEN];
    for (uint32_t i = 0; i < seed_classes.n; i++) {
        CHECK_RC(vb_pool_class_stats(p, i, cls), 0);
        CHECK_EQ(cls[VB_CLASS_STAT_SIZE], seed_classes.sizes[i]);
        CHECK_EQ(cls[VB_CLASS_STAT_TOTAL], seed_classes.counts[i]);
        CHECK_EQ(cls[VB_CLASS_STAT_FREE], seed_classes.counts[i]);
    }
    CHECK_RC(vb_pool_class_stats(p, seed_classes.n, cls), VB_EINVAL);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* A full class refuses (it never borrows from a larger class) while the
 * others go on serving; with VB_FLAG_FALLBACK_ON_EXHAUSTED it falls back. */
static void hybrid_exhaustion_per_class(void) {
    for (uint32_t spill = 0; spill < 2; spill++) {
        vb_pool *p = new_hybrid(&small, spill ? VB_FLAG_FALLBACK_ON_EXHAUSTED : 0);
        REQUIRE(p);
        double s[VB_STAT_LEN], cls[VB_CLASS_STAT_LEN];
        int32_t a = alloc_in_class(p, &small, 8192, 1), b = alloc_in_class(p, &small, 5000, 1);
        REQUIRE(a >= 0 && b >= 0);
        CHECK_RC(vb_pool_class_stats(p, 1, cls), 0);
        CHECK_EQ(cls[VB_CLASS_STAT_FREE], 0);

        if (!spill) {
            CHECK_RC(vb_pool_alloc(p, 8192), VB_ENOMEM);
            CHECK_RC(vb_pool_alloc(p, 4097), VB_ENOMEM);
            vb_pool_stats(p, s);
            CHECK_EQ(s[VB_STAT_FAILED_ALLOCS], 2);
        } else {
            int32_t x = vb_pool_alloc(p, 8192);
            CHECK_MSG(is_fallback(x), "alloc(8192) on a full class: %d", x);
            CHECK_EQ(vb_pool_out(p)[VB_OUT_CAPACITY], 8192);
            vb_pool_stats(p, s);
            CHECK_EQ(s[VB_STAT_FAILED_ALLOCS], 0);
            CHECK_EQ(s[VB_STAT_FALLBACK_BUFFERS], 1);
            CHECK_RC(vb_pool_free(p, x), 0);
        }
        int32_t c4 = alloc_in_class(p, &small, 4096, 0), c16 = alloc_in_class(p, &small, 16384, 2);
        CHECK_RC(vb_pool_class_stats(p, 2, cls), 0);
        CHECK_EQ(cls[VB_CLASS_STAT_FREE], 3); /* only c16: nothing spilled over */

        CHECK_RC(vb_pool_free(p, a), 0);
        CHECK_EQ(alloc_in_class(p, &small, 8192, 1), a); /* the block just freed */
        int32_t all[] = {a, b, c4, c16};
        FREE_ALL(p, all, 4);
        CHECK_POOL(p);
        CHECK_RC(vb_pool_destroy(p), 0);
    }
}

/* Freeing a free block is refused, whether it was freed before or never
 * handed out at all. */
static void hybrid_double_free(void) {
    vb_pool *p = new_hybrid(&small, 0);
    REQUIRE(p);
    int32_t a = alloc_in_class(p, &small, 4096, 0), b = alloc_in_class(p, &small, 16384, 2);
    REQUIRE(a >= 0 && b >= 0);
    uint8_t *pa = vb_pool_ptr(p, a);
    CHECK_RC(vb_pool_free(p, a), 0);
    EXPECT_REFUSED(p, vb_pool_free(p, a), VB_EDOUBLEFREE);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, pa), VB_EDOUBLEFREE);
    CHECK(vb_pool_ptr(p, a) == 0);
    int32_t never = (int32_t)(slab_page(&small, 2) + 3 * 4); /* the last 16K block */
    EXPECT_REFUSED(p, vb_pool_free(p, never), VB_EDOUBLEFREE);
    CHECK_RC(vb_pool_free(p, b), 0);
    EXPECT_REFUSED(p, vb_pool_free(p, b), VB_EDOUBLEFREE);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Inside the arena but not at a block start: refused, block left live. */
static void hybrid_interior_pointer(void) {
    vb_pool *p = new_hybrid(&small, 0);
    REQUIRE(p);
    int32_t b = alloc_in_class(p, &small, 16384, 2);
    REQUIRE(b >= 0);
    uint8_t *ptr = vb_pool_ptr(p, b);
    for (int32_t i = 1; i < 4; i++) {
        EXPECT_REFUSED(p, vb_pool_free(p, b + i), VB_EINTERIOR);
        EXPECT_REFUSED(p, vb_pool_free_ptr(p, ptr + (size_t)i * PAGE), VB_EINTERIOR);
    }
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, ptr + 1), VB_EINTERIOR);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, ptr + 16383), VB_EINTERIOR);
    /* The same inside a block that is free. */
    EXPECT_REFUSED(p, vb_pool_free(p, (int32_t)slab_page(&small, 2) + 3 * 4 + 2), VB_EINTERIOR);
    CHECK_EQ(vb_pool_capacity(p, b), 16384);
    CHECK_RC(vb_pool_free(p, b), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Handles and pointers that are not this pool's. */
static void hybrid_foreign_pointer(void) {
    vb_pool *p = new_hybrid(&small, 0), *other = new_hybrid(&small, 0);
    REQUIRE(p && other);
    int32_t h = vb_pool_alloc(p, PAGE), o = vb_pool_alloc(other, PAGE);
    int32_t of = vb_pool_alloc(other, MiB); /* a fallback buffer of the other pool */
    REQUIRE(h >= 0 && o >= 0 && is_fallback(of));
    int on_stack = 0;
    uint32_t npages = slab_page(&small, small.n);

    EXPECT_REFUSED(p, vb_pool_free_ptr(p, vb_pool_ptr(other, o)), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, vb_pool_ptr(other, of)), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free(p, of), VB_EFAULT); /* p has no fallback slots at all */
    EXPECT_REFUSED(p, vb_pool_free_ptr(p, &on_stack), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free(p, (int32_t)npages), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free(p, -5), VB_EFAULT);
    EXPECT_REFUSED(p, vb_pool_free(p, (int32_t)(2u << VB_HANDLE_PAGE_BITS) | h), VB_EFAULT);
    CHECK(vb_pool_ptr(p, (int32_t)npages) == 0);

    CHECK_EQ(vb_pool_capacity(other, o), PAGE);
    CHECK_EQ(vb_pool_capacity(other, of), MiB);
    CHECK_RC(vb_pool_free(p, h), 0);
    CHECK_RC(vb_pool_free(other, o), 0);
    CHECK_RC(vb_pool_free(other, of), 0);
    CHECK_POOL(other);
    CHECK_RC(vb_pool_destroy(p), 0);
    CHECK_RC(vb_pool_destroy(other), 0);
}

/* 12 KiB and 20 KiB classes: mapping, placement, interior pages and
 * exhaustion all work without power-of-two arithmetic. */
static void hybrid_non_power_of_two_classes(void) {
    vb_pool *p = new_hybrid(&odd, 0);
    REQUIRE(p);
    CHECK_EQ(vb_pool_region_size(p, 0), 3 * 4096 + 3 * 12288 + 2 * 20480);
    static const uint32_t cases[][2] = {{8193, 1}, {12288, 1}, {12289, 2}, {20480, 2}};
    for (size_t i = 0; i < 4; i++) {
        int32_t h = alloc_in_class(p, &odd, cases[i][0], cases[i][1]);
        if (h >= 0) CHECK_RC(vb_pool_free(p, h), 0);
    }
    int32_t h[3];
    for (int i = 0; i < 3; i++) {
        h[i] = alloc_in_class(p, &odd, 12288, 1);
        REQUIRE(h[i] >= 0);
        EXPECT_REFUSED(p, vb_pool_free(p, h[i] + 1), VB_EINTERIOR);
        EXPECT_REFUSED(p, vb_pool_free(p, h[i] + 2), VB_EINTERIOR);
    }
    CHECK(h[0] != h[1] && h[1] != h[2] && h[0] != h[2]);
    CHECK_RC(vb_pool_alloc(p, 12288), VB_ENOMEM);
    int32_t big = vb_pool_alloc(p, 20481);
    CHECK(is_fallback(big));
    CHECK_EQ(vb_pool_capacity(p, big), 24576);
    CHECK_RC(vb_pool_free(p, big), 0);
    FREE_ALL(p, h, 3);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Configurations that describe no valid pool create nothing. */
static void hybrid_invalid_configs(void) {
    static const struct {
        const char *why;
        config c;
        int32_t rc;
    } bad[] = {
        {"no classes", {0, {0}, {0}}, VB_EINVAL},
        {"unsorted", {2, {8192, 4096}, {1, 1}}, VB_EINVAL},
        {"equal sizes", {2, {4096, 4096}, {1, 1}}, VB_EINVAL},
        {"zero count", {2, {4096, 8192}, {1, 0}}, VB_EINVAL},
        {"size not a page multiple", {2, {4096, 5000}, {1, 1}}, VB_EINVAL},
        {"size 0", {1, {0}, {1}}, VB_EINVAL},
        {"class above 1 GiB", {1, {(1u << 30) + 4096}, {1}}, VB_EINVAL},
        {"arena above 1 GiB", {1, {4096}, {(1u << 18) + 1}}, VB_ERANGE},
    };
    uint32_t pools = vb_live_pools();
    vb_pool *p = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t rc = vb_hybrid_create(bad[i].c.sizes, bad[i].c.counts, bad[i].c.n, 0, &p);
        CHECK_MSG(rc == bad[i].rc, "%s: %d (%s), expected %s", bad[i].why, rc, vb_strerror(rc),
                  vb_strerror(bad[i].rc));
    }
    uint32_t many[VB_HYBRID_MAX_CLASSES + 1];
    for (uint32_t i = 0; i <= VB_HYBRID_MAX_CLASSES; i++) many[i] = (i + 1) * PAGE;
    uint32_t ones[VB_HYBRID_MAX_CLASSES + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_RC(vb_hybrid_create(many, ones, VB_HYBRID_MAX_CLASSES + 1, 0, &p), VB_EINVAL);
    CHECK_RC(vb_hybrid_create(0, ones, 1, 0, &p), VB_EINVAL);
    CHECK_RC(vb_hybrid_create(many, 0, 1, 0, &p), VB_EINVAL);
    CHECK_RC(vb_hybrid_create(many, ones, 1, 0, 0), VB_EINVAL);
    CHECK(p == 0);
    CHECK_EQ(vb_live_pools(), pools);
    /* The largest valid configuration, for contrast. */
    CHECK_RC(vb_hybrid_create(many, ones, VB_HYBRID_MAX_CLASSES, 0, &p), 0);
    if (p) CHECK_RC(vb_pool_destroy(p), 0);
}

/* Every buffer is its own memory, in every class and the fallback. */
static void hybrid_buffers_do_not_alias(void) {
    vb_pool *p = new_hybrid(&seed_classes, 0);
    REQUIRE(p);
    check_buffers_independent(p, 42, 80 * KiB, 128);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Every VB_STAT_* field after a known sequence. */
static void hybrid_stats_after_known_sequence(void) {
    vb_pool *p = new_hybrid(&seed_classes, 0);
    REQUIRE(p);
    double want[VB_STAT_LEN] = {0};
    want[VB_STAT_CAPACITY_BYTES] = want[VB_STAT_FREE_BYTES] = 14 * MiB;
    want[VB_STAT_LARGEST_FREE] = 65536;
    want[VB_STAT_ARENAS] = 1;
    want[VB_STAT_MAX_ARENAS] = 1;
    want[VB_STAT_CLASSES] = 5;
    CHECK_STATS(p, want, "fresh");

    int32_t h[2 + 64];
    h[0] = alloc_in_class(p, &seed_classes, 4096, 0);
    h[1] = alloc_in_class(p, &seed_classes, 8193, 2);
    int32_t f = vb_pool_alloc(p, 65537);
    CHECK(is_fallback(f));
    want[VB_STAT_LIVE_BUFFERS] = 3;
    want[VB_STAT_BYTES_IN_USE] = 4096 + 16384 + 69632;
    want[VB_STAT_FREE_BYTES] -= 4096 + 16384;
    want[VB_STAT_FALLBACK_BUFFERS] = 1;
    want[VB_STAT_FALLBACK_BYTES] = 69632;
    want[VB_STAT_ALLOCS] = 3;
    CHECK_STATS(p, want, "3 allocs");
    double cls[VB_CLASS_STAT_LEN];
    CHECK_RC(vb_pool_class_stats(p, 2, cls), 0);
    CHECK_EQ(cls[VB_CLASS_STAT_FREE], 127);

    /* Exhaust the 64K class: the largest free block shrinks to 32K, and one
     * more 64K request fails (the fallback is for oversize only). */
    for (int i = 0; i < 64; i++) h[2 + i] = alloc_in_class(p, &seed_classes, 65536, 4);
    CHECK_RC(vb_pool_alloc(p, 65536), VB_ENOMEM);
    want[VB_STAT_LIVE_BUFFERS] += 64;
    want[VB_STAT_BYTES_IN_USE] += 64 * 65536;
    want[VB_STAT_FREE_BYTES] -= 64 * 65536;
    want[VB_STAT_LARGEST_FREE] = 32768;
    want[VB_STAT_ALLOCS] += 64;
    want[VB_STAT_FAILED_ALLOCS] = 1;
    CHECK_STATS(p, want, "64K class exhausted");

    FREE_ALL(p, h, 2 + 64);
    CHECK_RC(vb_pool_free(p, f), 0);
    want[VB_STAT_LIVE_BUFFERS] = want[VB_STAT_BYTES_IN_USE] = 0;
    want[VB_STAT_FREE_BYTES] = 14 * MiB;
    want[VB_STAT_LARGEST_FREE] = 65536;
    want[VB_STAT_FALLBACK_BUFFERS] = want[VB_STAT_FALLBACK_BYTES] = 0;
    want[VB_STAT_FREES] = want[VB_STAT_ALLOCS];
    CHECK_STATS(p, want, "all freed");
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* Fallback handles in the deferred-free queue take the general path (the
 * alloc fast path serves one arena handle only); a live fallback buffer
 * keeps destroy from freeing the pool. */
static void hybrid_deferred_free_and_destroy_with_fallback(void) {
    vb_pool *p = new_hybrid(&small, 0);
    REQUIRE(p);
    uint32_t *out = vb_pool_out(p);
    int32_t f = vb_pool_alloc(p, MiB), a = vb_pool_alloc(p, PAGE);
    REQUIRE(is_fallback(f) && a >= 0);
    CHECK_RC(vb_pool_destroy(p), VB_EBUSY);

    out[VB_OUT_QUEUE] = (uint32_t)f;
    out[VB_OUT_QUEUED] = 1;
    int32_t g = vb_pool_alloc(p, 2 * MiB); /* frees f first */
    CHECK(is_fallback(g));
    CHECK(vb_pool_ptr(p, f) == 0 || f == g);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_FALLBACK_BUFFERS], 1);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 2);

    out[VB_OUT_QUEUE] = (uint32_t)a;
    out[VB_OUT_QUEUE + 1] = (uint32_t)FALLBACK_HANDLE(9); /* a slot never used */
    out[VB_OUT_QUEUED] = 2;
    CHECK_RC(vb_pool_flush(p), 1);
    CHECK_EQ(out[VB_OUT_QUEUE_ERRORS], 1);
    CHECK(vb_pool_ptr(p, a) == 0);
    out[VB_OUT_QUEUE_ERRORS] = 0; /* acknowledged: the pool itself is fine */
    CHECK_POOL(p);

    CHECK_RC(vb_pool_destroy(p), VB_EBUSY); /* g, a fallback buffer, is live */
    out[VB_OUT_QUEUE] = (uint32_t)g;
    out[VB_OUT_QUEUED] = 1;
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* vb_pool_check must be able to fail: break one invariant at a time through
 * the private struct, expect VB_ECORRUPT and a message, then put it back. */
static void hybrid_check_detects_corruption(void) {
    vb_pool *p = new_hybrid(&small, 0);
    REQUIRE(p);
    hybrid *hy = p->arenas[0].backing;
    hclass *c = &hy->cls[0];
    int32_t live = alloc_in_class(p, &small, PAGE, 0);
    REQUIRE(live == 0 && c->top == 3); /* block 0 of class 0 */
    CHECK_POOL(p);

    hy->nblocks++; /* a block count the classes do not have [issue 12 item 10] */
    CHECK_CORRUPT(p, "nblocks");
    hy->nblocks--;
    CHECK_POOL(p);

    c->stack[c->top++] = c->stack[0]; /* a free block stacked twice */
    CHECK_CORRUPT(p, "stacked twice");
    c->top--;
    CHECK_POOL(p);

    c->stack[c->top++] = c->first_page; /* the live block on the free stack */
    CHECK_CORRUPT(p, "both free and live");
    c->top--;
    CHECK_POOL(p);

    bit_clear(hy->live, c->first_page); /* a live block that is on no list at all */
    CHECK_CORRUPT(p, "live + 3 free");
    bit_set(hy->live, c->first_page);
    CHECK_POOL(p);

    uint32_t page = slab_page(&small, 1); /* the first 8K page, claimed by class 0 */
    hy->page_class[page] = 0;
    CHECK_CORRUPT(p, "maps to class");
    hy->page_class[page] = 1;
    CHECK_POOL(p);

    hy->cls[2].top = hy->cls[2].count + 1; /* more free than exist */
    CHECK_CORRUPT(p, "5 free of 4");
    hy->cls[2].top = hy->cls[2].count;
    CHECK_POOL(p);
    CHECK(vb_pool_last_error(p)[0] == 0);

    CHECK_RC(vb_pool_free(p, live), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
}

const test_case hybrid_tests[] = {
    TEST(hybrid_class_mapping_at_boundaries),
    TEST(hybrid_oversize_goes_to_fallback),
    TEST(hybrid_one_region),
    TEST(hybrid_exhaustion_per_class),
    TEST(hybrid_double_free),
    TEST(hybrid_interior_pointer),
    TEST(hybrid_foreign_pointer),
    TEST(hybrid_non_power_of_two_classes),
    TEST(hybrid_invalid_configs),
    TEST(hybrid_buffers_do_not_alias),
    TEST(hybrid_stats_after_known_sequence),
    TEST(hybrid_deferred_free_and_destroy_with_fallback),
    TEST(hybrid_check_detects_corruption),
    TEST_END,
};

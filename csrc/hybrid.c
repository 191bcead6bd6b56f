/*
 * hybrid.c - HybridPool: one arena laid out as one slab per size class.
 *
 *   arena: [ slab 4K | slab 8K | slab 16K | slab 32K | slab 64K ]
 *
 * The size of every slab is known up front, so the whole pool is ONE
 * page-aligned mapping and registers as one region.  A request maps to the
 * smallest class that fits through a table indexed by its page count (O(1));
 * each class keeps a stack of its free blocks, by first page (pop/push,
 * O(1), no arithmetic to find the block).
 *
 * One allocation bitset says which blocks are handed out: one bit per
 * block, kept at the bit of the block's first page, so that the bit's place
 * follows from the page alone and its load need not wait for any other.
 * Freeing a block whose bit is clear is a double free.  A byte per page
 * names the class owning it, or INSIDE for a page within a block, so a free
 * is O(1) too.  All metadata lives outside the arena.
 */
#include "hybrid.h"

#include "arena.h"
#include "pool_impl.h"

#include <stdlib.h>
#include <string.h>

/* 32 bytes: the hot paths index the class array with a shift. */
typedef struct hclass {
    uint32_t size;       /* bytes per block */
    uint32_t min_size;   /* the next smaller class's size (0 for the first) */
    uint32_t first_page; /* where the slab starts in the arena */
    uint32_t top;        /* free blocks on the stack */
    uint32_t *stack;     /* free blocks, by first page */
    uint32_t count;      /* blocks */
    uint32_t unused;
} hclass;

/* page_class value of a page inside a block: names a class of size 0, so
 * the size test of reuse rejects such pages with no test of its own. */
#define INSIDE VB_HYBRID_MAX_CLASSES

typedef struct hybrid {
    vb_arena arena;
    uint32_t npages;
    uint32_t nclasses;
    uint32_t max_pages;        /* pages of the largest class */
    uint32_t nblocks;          /* blocks of all classes */
    int bitset;                /* double-free detection on */
    hclass cls[INSIDE + 1];    /* the classes, then the empty INSIDE */
    uint64_t *live;            /* bit p: the block starting at page p is out */
    uint8_t *page_class;       /* [page]: class owning it, or INSIDE */
    uint8_t *class_for_pages;  /* [1..max_pages]: smallest class that fits */
    void *meta;
    uint64_t meta_bytes;
} hybrid;

static inline int bit_get(const uint64_t *w, uint32_t i) { return (int)((w[i >> 6] >> (i & 63)) & 1); }
static inline void bit_set(uint64_t *w, uint32_t i) { w[i >> 6] |= 1ull << (i & 63); }
static inline void bit_clear(uint64_t *w, uint32_t i) { w[i >> 6] &= ~(1ull << (i & 63)); }

/* --- hot paths ----------------------------------------------------------------
 * Each comes in two builds, with the allocation bitset (the default) and
 * without (VB_FLAG_NO_DOUBLE_FREE_BITSET, to measure what the bitset costs),
 * so that neither tests a flag. */

static inline int32_t alloc_common(hybrid *h, uint32_t size, uint32_t *capacity, int bitset) {
    uint32_t pages = (uint32_t)(((uint64_t)size + VB_PAGE_SIZE - 1) >> VB_PAGE_SHIFT);
    if (pages > h->max_pages) return VB_ERANGE;
    hclass *c = &h->cls[h->class_for_pages[pages]];
    if (c->top == 0) return VB_ENOMEM;
    uint32_t page = c->stack[--c->top];
    if (bitset) bit_set(h->live, page);
    *capacity = c->size;
    return (int32_t)page;
}

static inline int32_t free_common(hybrid *h, uint32_t page, int bitset) {
    if (page >= h->npages) return VB_EFAULT;
    uint32_t i = h->page_class[page];
    if (i == INSIDE) return VB_EINTERIOR;
    hclass *c = &h->cls[i];
    if (bitset) {
        if (!bit_get(h->live, page)) return VB_EDOUBLEFREE;
        bit_clear(h->live, page);
    } else if (c->top == c->count) {
        return VB_EDOUBLEFREE; /* without the bitset only an overflow shows */
    }
    c->stack[c->top++] = page;
    return (int32_t)c->size;
}

/* alloc(size) picks the smallest class that fits, so a live block can serve
 * `size` exactly as alloc would when size lies in (next smaller class, its
 * class]; then it simply stays live (see pool_impl.h).  Class sizes are
 * whole pages, so the unrounded size compares the same. */
static inline int32_t reuse_common(hybrid *h, uint32_t page, uint32_t size, uint32_t *capacity,
                                   int bitset) {
    if (page >= h->npages) return -1;
    const hclass *c = &h->cls[h->page_class[page]];
    if (size > c->size || size <= c->min_size) return -1;
    if (bitset ? !bit_get(h->live, page) : c->top == c->count) return -1;
    *capacity = c->size;
    return (int32_t)page;
}

static int32_t hybrid_alloc(void *self, uint32_t size, uint32_t *capacity) {
    return alloc_common(self, size, capacity, 1);
}

static int32_t hybrid_free(void *self, uint32_t page) { return free_common(self, page, 1); }

static int32_t hybrid_reuse(void *self, uint32_t page, uint32_t size, uint32_t *capacity) {
    return reuse_common(self, page, size, capacity, 1);
}

static int32_t hybrid_alloc_nobits(void *self, uint32_t size, uint32_t *capacity) {
    return alloc_common(self, size, capacity, 0);
}

static int32_t hybrid_free_nobits(void *self, uint32_t page) { return free_common(self, page, 0); }

static int32_t hybrid_reuse_nobits(void *self, uint32_t page, uint32_t size, uint32_t *capacity) {
    return reuse_common(self, page, size, capacity, 0);
}

/* --- the rest of the vtable ------------------------------------------------ */

/* Without the bitset a block is live when it is not on its class's free
 * stack: a walk of the stack, for queries only (never the hot path).
 * [issue 12 item 12] */
static uint32_t hybrid_capacity(void *self, uint32_t page) {
    hybrid *h = self;
    if (page >= h->npages || h->page_class[page] == INSIDE) return 0;
    const hclass *c = &h->cls[h->page_class[page]];
    if (h->bitset) return bit_get(h->live, page) ? c->size : 0;
    for (uint32_t s = 0; s < c->top; s++)
        if (c->stack[s] == page) return 0;
    return c->size;
}

static uint64_t hybrid_live(void *self) {
    const hybrid *h = self;
    uint64_t free_blocks = 0;
    for (uint32_t i = 0; i < h->nclasses; i++) free_blocks += h->cls[i].top;
    return h->nblocks - free_blocks;
}

static void hybrid_region(void *self, void **base, uint64_t *size) {
    const hybrid *h = self;
    *base = h->arena.base;
    *size = h->arena.size;
}

static uint64_t hybrid_max_request(void *self) {
    const hybrid *h = self;
    return (uint64_t)h->max_pages * VB_PAGE_SIZE;
}

static void hybrid_stats(void *self, double *out) {
    const hybrid *h = self;
    double free_bytes = 0, largest = 0;
    for (uint32_t i = 0; i < h->nclasses; i++) {
        const hclass *c = &h->cls[i];
        free_bytes += (double)c->top * c->size;
        if (c->top) largest = c->size;
    }
    out[VB_STAT_CAPACITY_BYTES] += (double)h->arena.size;
    out[VB_STAT_FREE_BYTES] += free_bytes;
    if (largest > out[VB_STAT_LARGEST_FREE]) out[VB_STAT_LARGEST_FREE] = largest;
    out[VB_STAT_CLASSES] = h->nclasses;
    vb_arena_stats(&h->arena, out);
}

static int32_t hybrid_class_stats(void *self, uint32_t cls, double *out) {
    const hybrid *h = self;
    if (cls >= h->nclasses) return VB_EINVAL;
    out[VB_CLASS_STAT_SIZE] = h->cls[cls].size;
    out[VB_CLASS_STAT_TOTAL] = h->cls[cls].count;
    out[VB_CLASS_STAT_FREE] = h->cls[cls].top;
    return 0;
}

/* The slab of class i tiles its pages: block starts name class i, the
 * pages inside blocks name INSIDE, and no bit is set but at block starts. */
static int32_t check_slab(const hybrid *h, uint32_t i, char *msg, size_t n) {
    const hclass *c = &h->cls[i];
    uint32_t pages = c->size >> VB_PAGE_SHIFT;
    if (c->min_size != (i ? h->cls[i - 1].size : 0))
        return vb_corrupt(msg, n, "hybrid: class %u lower bound %u is wrong", i, c->min_size);
    for (uint32_t r = 0; r < c->count * pages; r++) {
        uint32_t p = c->first_page + r, want = r % pages ? INSIDE : i;
        if (h->page_class[p] != want)
            return vb_corrupt(msg, n, "hybrid: page %u maps to class %u, not %u", p, h->page_class[p], want);
        if (want == INSIDE && bit_get(h->live, p))
            return vb_corrupt(msg, n, "hybrid: page %u inside a block is marked live", p);
    }
    return 0;
}

/* Class i's free stack: every entry one of its block starts, free, stacked
 * once; with the bitset, live + free blocks = all blocks.  `seen` is
 * scratch, one bit per page, all clear on entry and on return. */
static int32_t check_stack(const hybrid *h, uint32_t i, uint64_t *seen, char *msg, size_t n) {
    const hclass *c = &h->cls[i];
    uint32_t pages = c->size >> VB_PAGE_SHIFT, end = c->first_page + c->count * pages;
    if (c->top > c->count)
        return vb_corrupt(msg, n, "hybrid: class %u has %u free of %u", i, c->top, c->count);
    int32_t rc = 0;
    uint32_t s = 0;
    for (; s < c->top && !rc; s++) {
        uint32_t p = c->stack[s];
        if (p < c->first_page || p >= end || (p - c->first_page) % pages)
            rc = vb_corrupt(msg, n, "hybrid: class %u stack holds page %u, not a block of its own", i, p);
        else if (bit_get(seen, p))
            rc = vb_corrupt(msg, n, "hybrid: class %u block at page %u stacked twice", i, p);
        else if (h->bitset && bit_get(h->live, p))
            rc = vb_corrupt(msg, n, "hybrid: class %u block at page %u is both free and live", i, p);
        else
            bit_set(seen, p);
    }
    while (s--) /* leave `seen` clear */
        if (c->stack[s] < h->npages) bit_clear(seen, c->stack[s]);
    if (rc || !h->bitset) return rc;
    uint32_t live = 0;
    for (uint32_t p = c->first_page; p < end; p += pages) live += (uint32_t)bit_get(h->live, p);
    if (live + c->top != c->count)
        return vb_corrupt(msg, n, "hybrid: class %u: %u live + %u free != %u blocks", i, live, c->top, c->count);
    return 0;
}

static int32_t hybrid_check(void *self, char *msg, size_t n) {
    hybrid *h = self;
    uint32_t page = 0;
    for (uint32_t i = 0; i < h->nclasses; i++) {
        const hclass *c = &h->cls[i];
        if (c->first_page != page)
            return vb_corrupt(msg, n, "hybrid: class %u starts at page %u, expected %u", i, c->first_page, page);
        int32_t rc = check_slab(h, i, msg, n);
        if (rc) return rc;
        page += c->count * (c->size >> VB_PAGE_SHIFT);
    }
    if (page != h->npages) return vb_corrupt(msg, n, "hybrid: slabs cover %u of %u pages", page, h->npages);
    uint64_t blocks = 0;
    for (uint32_t i = 0; i < h->nclasses; i++) blocks += h->cls[i].count;
    if (blocks != h->nblocks) /* hybrid_live counts from nblocks [issue 12 item 10] */
        return vb_corrupt(msg, n, "hybrid: classes hold %llu blocks, nblocks says %u", (unsigned long long)blocks,
                          h->nblocks);
    const hclass *inside = &h->cls[INSIDE];
    if (inside->size || inside->min_size || inside->count)
        return vb_corrupt(msg, n, "hybrid: the INSIDE class is not empty");
    for (uint32_t p = 1, i = 0; p <= h->max_pages; p++) {
        while ((h->cls[i].size >> VB_PAGE_SHIFT) < p) i++;
        if (h->class_for_pages[p] != i)
            return vb_corrupt(msg, n, "hybrid: %u pages map to class %u, not %u", p, h->class_for_pages[p], i);
    }
    uint64_t *seen = calloc(((uint64_t)h->npages + 63) / 64, sizeof *seen);
    if (!seen) return vb_corrupt(msg, n, "hybrid: no memory for the check");
    int32_t rc = 0;
    for (uint32_t i = 0; i < h->nclasses && !rc; i++) rc = check_stack(h, i, seen, msg, n);
    free(seen);
    return rc;
}

static void hybrid_destroy(void *self) {
    hybrid *h = self;
    vb_arena_unmap(&h->arena);
    vb_meta_free(h->meta, h->meta_bytes);
}

static int32_t hybrid_clone(const void *self, uint32_t flags, void **out) {
    const hybrid *h = self;
    uint32_t sizes[VB_HYBRID_MAX_CLASSES], counts[VB_HYBRID_MAX_CLASSES];
    for (uint32_t i = 0; i < h->nclasses; i++) sizes[i] = h->cls[i].size, counts[i] = h->cls[i].count;
    const vb_backing_vtable *vt;
    return vb_hybrid_new(sizes, counts, h->nclasses, flags, &vt, out);
}

static struct vb_arena *hybrid_arena(void *self) { return &((hybrid *)self)->arena; }

#define HYBRID_VTABLE(ALLOC, FREE, REUSE)                                                        \
    {                                                                                            \
        .kind = "hybrid", .oversize_fallback = true, .alloc = ALLOC, .free = FREE,               \
        .reuse = REUSE, .capacity = hybrid_capacity, .region = hybrid_region,                    \
        .live = hybrid_live, .max_request = hybrid_max_request, .stats = hybrid_stats,           \
        .class_stats = hybrid_class_stats, .check = hybrid_check, .destroy = hybrid_destroy,     \
        .clone = hybrid_clone, .arena = hybrid_arena,                                            \
    }

static const vb_backing_vtable hybrid_vtable = HYBRID_VTABLE(hybrid_alloc, hybrid_free, hybrid_reuse);
static const vb_backing_vtable hybrid_vtable_nobits =
    HYBRID_VTABLE(hybrid_alloc_nobits, hybrid_free_nobits, hybrid_reuse_nobits);

/* --- construction ------------------------------------------------------------ */

int32_t vb_hybrid_new(const uint32_t *sizes, const uint32_t *counts, uint32_t nclasses,
                      uint32_t flags, const vb_backing_vtable **vt, void **out) {
    if (!sizes || !counts || nclasses == 0 || nclasses > VB_HYBRID_MAX_CLASSES) return VB_EINVAL;
    uint64_t total_pages = 0, nblocks = 0;
    for (uint32_t i = 0; i < nclasses; i++) {
        if (sizes[i] == 0 || sizes[i] % VB_PAGE_SIZE || sizes[i] > VB_HYBRID_MAX_CLASS_SIZE) return VB_EINVAL;
        if (i && sizes[i] <= sizes[i - 1]) return VB_EINVAL;
        if (counts[i] == 0) return VB_EINVAL;
        total_pages += (uint64_t)counts[i] * (sizes[i] / VB_PAGE_SIZE);
        nblocks += counts[i];
    }
    /* In pages: 16 classes x (2^32 - 1) blocks x 2^18 pages stay far below
     * 2^64, but times VB_PAGE_SIZE they could wrap. [issue 12 item 3] */
    if (total_pages > VB_HYBRID_MAX_ARENA / VB_PAGE_SIZE) return VB_ERANGE;
    uint32_t npages = (uint32_t)total_pages;
    uint32_t max_pages = sizes[nclasses - 1] / VB_PAGE_SIZE;

    /* One side allocation: the struct, the bitset, the stacks, then the
     * byte tables (8-byte items first keep everything aligned). */
    uint64_t words = ((uint64_t)npages + 63) / 64;
    uint64_t bytes = sizeof(hybrid) + words * 8 + nblocks * 4 + npages + max_pages + 1;
    uint8_t *m = vb_meta_alloc(bytes);
    if (!m) return VB_ENOMEM;
    hybrid *h = (hybrid *)m;
    h->meta = m;
    h->meta_bytes = bytes;
    int32_t rc = vb_arena_map(&h->arena, total_pages * VB_PAGE_SIZE, flags);
    if (rc) {
        vb_meta_free(m, bytes);
        return rc;
    }
    h->npages = npages;
    h->nclasses = nclasses;
    h->max_pages = max_pages;
    h->nblocks = (uint32_t)nblocks;
    h->bitset = !(flags & VB_FLAG_NO_DOUBLE_FREE_BITSET);
    uint8_t *cur = m + sizeof(hybrid);
    h->live = (uint64_t *)cur, cur += words * 8;
    uint32_t *stacks = (uint32_t *)cur;
    cur += nblocks * 4;
    h->page_class = cur, cur += npages;
    h->class_for_pages = cur;

    uint32_t page = 0;
    for (uint32_t i = 0; i < nclasses; i++) {
        hclass *c = &h->cls[i];
        uint32_t pages = sizes[i] / VB_PAGE_SIZE;
        c->size = sizes[i];
        c->min_size = i ? sizes[i - 1] : 0;
        c->count = counts[i];
        c->first_page = page;
        c->stack = stacks;
        stacks += c->count;
        /* Stack the first block last so the first allocations come from
         * the slab start. */
        for (uint32_t b = 0; b < c->count; b++) c->stack[b] = page + (c->count - 1 - b) * pages;
        c->top = c->count;
        memset(h->page_class + page, INSIDE, (size_t)c->count * pages);
        for (uint32_t b = 0; b < c->count; b++) h->page_class[page + b * pages] = (uint8_t)i;
        page += c->count * pages;
    }
    for (uint32_t p = 1, i = 0; p <= max_pages; p++) {
        while ((h->cls[i].size >> VB_PAGE_SHIFT) < p) i++;
        h->class_for_pages[p] = (uint8_t)i;
    }
    h->class_for_pages[0] = 0;
    *vt = h->bitset ? &hybrid_vtable : &hybrid_vtable_nobits;
    *out = h;
    return 0;
}

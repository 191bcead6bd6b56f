/*
 * hybrid.c - HybridPool: one arena laid out as one slab per size class.
 *
 *   arena: [ slab 4K | slab 8K | slab 16K | slab 32K | slab 64K ]
 *
 * The size of every slab is known up front, so the whole pool is ONE
 * page-aligned mapping and registers as one region.  A request maps to the
 * smallest class that fits through a table indexed by its page count (O(1));
 * each class keeps a stack of free block numbers (pop/push, O(1)) and an
 * allocation bitset (one bit per block) that catches double frees.  Which
 * class a page belongs to comes from a per-page byte, so a free is O(1) too.
 * All metadata lives outside the arena.
 */
#include "hybrid.h"

#include "arena.h"
#include "pool_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct hclass {
    uint32_t size;       /* bytes per block */
    uint32_t count;      /* blocks */
    uint32_t pages;      /* pages per block */
    uint32_t shift;      /* log2(pages) when pages is a power of two, else 32 */
    uint32_t first_page; /* where the slab starts in the arena */
    uint32_t top;        /* free blocks on the stack */
    uint32_t *stack;     /* free block numbers */
    uint64_t *live_bits; /* bit i: block i is handed out */
} hclass;

typedef struct hybrid {
    vb_arena arena;
    uint32_t npages;
    uint32_t nclasses;
    uint32_t max_pages;        /* pages of the largest class */
    int bitset;                /* double-free detection on */
    hclass cls[VB_HYBRID_MAX_CLASSES];
    uint8_t *class_for_pages;  /* [1..max_pages]: smallest class that fits */
    uint8_t *page_class;       /* [page]: class owning the page */
    void *meta;
    uint64_t meta_bytes;
} hybrid;

static inline int bit_get(const uint64_t *w, uint32_t i) { return (int)((w[i >> 6] >> (i & 63)) & 1); }
static inline void bit_set(uint64_t *w, uint32_t i) { w[i >> 6] |= 1ull << (i & 63); }
static inline void bit_clear(uint64_t *w, uint32_t i) { w[i >> 6] &= ~(1ull << (i & 63)); }

static int32_t hybrid_alloc(void *self, uint32_t size, uint32_t *capacity) {
    hybrid *h = self;
    uint32_t pages = (uint32_t)(((uint64_t)size + VB_PAGE_SIZE - 1) >> VB_PAGE_SHIFT);
    if (pages > h->max_pages) return VB_ERANGE;
    hclass *c = &h->cls[h->class_for_pages[pages]];
    if (c->top == 0) return VB_ENOMEM;
    uint32_t block = c->stack[--c->top];
    if (h->bitset) bit_set(c->live_bits, block);
    *capacity = c->size;
    return (int32_t)(c->first_page + block * c->pages);
}

static int32_t hybrid_free(void *self, uint32_t page) {
    hybrid *h = self;
    if (page >= h->npages) return VB_EFAULT;
    hclass *c = &h->cls[h->page_class[page]];
    uint32_t rel = page - c->first_page, block;
    if (c->shift < 32) {
        if (rel & (c->pages - 1)) return VB_EINTERIOR;
        block = rel >> c->shift;
    } else {
        if (rel % c->pages) return VB_EINTERIOR;
        block = rel / c->pages;
    }
    if (h->bitset) {
        if (!bit_get(c->live_bits, block)) return VB_EDOUBLEFREE;
        bit_clear(c->live_bits, block);
    } else if (c->top == c->count) {
        return VB_EDOUBLEFREE; /* without the bitset only an overflow shows */
    }
    c->stack[c->top++] = block;
    return (int32_t)c->size;
}

static uint32_t hybrid_capacity(void *self, uint32_t page) {
    hybrid *h = self;
    if (page >= h->npages || !h->bitset) return 0;
    hclass *c = &h->cls[h->page_class[page]];
    uint32_t rel = page - c->first_page;
    if (rel % c->pages) return 0;
    return bit_get(c->live_bits, rel / c->pages) ? c->size : 0;
}

static uint64_t hybrid_live(void *self) {
    const hybrid *h = self;
    uint64_t free_blocks = 0, total = 0;
    for (uint32_t i = 0; i < h->nclasses; i++) free_blocks += h->cls[i].top, total += h->cls[i].count;
    return total - free_blocks;
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

static int32_t hybrid_check(void *self, char *msg, size_t n) {
    hybrid *h = self;
    uint32_t page = 0;
    for (uint32_t i = 0; i < h->nclasses; i++) {
        const hclass *c = &h->cls[i];
        if (c->first_page != page)
            return vb_corrupt(msg, n, "hybrid: class %u starts at page %u, expected %u", i, c->first_page, page);
        for (uint32_t p = page; p < page + c->count * c->pages; p++)
            if (h->page_class[p] != i)
                return vb_corrupt(msg, n, "hybrid: page %u maps to class %u, not %u", p, h->page_class[p], i);
        page += c->count * c->pages;
        if (c->top > c->count)
            return vb_corrupt(msg, n, "hybrid: class %u has %u free of %u", i, c->top, c->count);
        /* Every stacked block is in range, free, and stacked once. */
        uint64_t words = ((uint64_t)c->count + 63) / 64;
        uint64_t *seen = calloc(words, sizeof *seen);
        if (!seen) return vb_corrupt(msg, n, "hybrid: no memory to check class %u", i);
        int32_t rc = 0;
        for (uint32_t s = 0; s < c->top && !rc; s++) {
            uint32_t b = c->stack[s];
            if (b >= c->count) rc = vb_corrupt(msg, n, "hybrid: class %u stack holds block %u of %u", i, b, c->count);
            else if (bit_get(seen, b)) rc = vb_corrupt(msg, n, "hybrid: class %u block %u stacked twice", i, b);
            else if (h->bitset && bit_get(c->live_bits, b))
                rc = vb_corrupt(msg, n, "hybrid: class %u block %u is both free and live", i, b);
            else bit_set(seen, b);
        }
        if (!rc && h->bitset) {
            uint32_t live = 0;
            for (uint64_t w = 0; w < words; w++) live += (uint32_t)__builtin_popcountll(c->live_bits[w]);
            if (live + c->top != c->count)
                rc = vb_corrupt(msg, n, "hybrid: class %u: %u live + %u free != %u blocks", i, live,
                                c->top, c->count);
        }
        free(seen);
        if (rc) return rc;
    }
    if (page != h->npages) return vb_corrupt(msg, n, "hybrid: slabs cover %u of %u pages", page, h->npages);
    return 0;
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

static const vb_backing_vtable hybrid_vtable = {
    .kind = "hybrid",
    .oversize_fallback = true,
    .alloc = hybrid_alloc,
    .free = hybrid_free,
    .capacity = hybrid_capacity,
    .region = hybrid_region,
    .live = hybrid_live,
    .max_request = hybrid_max_request,
    .stats = hybrid_stats,
    .class_stats = hybrid_class_stats,
    .check = hybrid_check,
    .destroy = hybrid_destroy,
    .clone = hybrid_clone,
};

int32_t vb_hybrid_new(const uint32_t *sizes, const uint32_t *counts, uint32_t nclasses,
                      uint32_t flags, const vb_backing_vtable **vt, void **out) {
    if (!sizes || !counts || nclasses == 0 || nclasses > VB_HYBRID_MAX_CLASSES) return VB_EINVAL;
    uint64_t total_pages = 0, table_words = 0;
    for (uint32_t i = 0; i < nclasses; i++) {
        if (sizes[i] == 0 || sizes[i] % VB_PAGE_SIZE || sizes[i] > VB_HYBRID_MAX_CLASS_SIZE) return VB_EINVAL;
        if (i && sizes[i] <= sizes[i - 1]) return VB_EINVAL;
        if (counts[i] == 0) return VB_EINVAL;
        total_pages += (uint64_t)counts[i] * (sizes[i] / VB_PAGE_SIZE);
        table_words += counts[i] + 1 + 2 * ((counts[i] + 63) / 64); /* stack + bitset */
    }
    if (total_pages * VB_PAGE_SIZE > VB_HYBRID_MAX_ARENA) return VB_ERANGE;
    uint32_t npages = (uint32_t)total_pages;
    uint32_t max_pages = sizes[nclasses - 1] / VB_PAGE_SIZE;

    uint64_t bytes = sizeof(hybrid) + table_words * sizeof(uint32_t) + (max_pages + 1) + npages + 8;
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
    h->bitset = !(flags & VB_FLAG_NO_DOUBLE_FREE_BITSET);

    uint8_t *cur = m + sizeof(hybrid); /* 8-byte aligned: the struct is */
    uint32_t first = 0;
    for (uint32_t i = 0; i < nclasses; i++) {
        hclass *c = &h->cls[i];
        c->size = sizes[i];
        c->count = counts[i];
        c->pages = sizes[i] / VB_PAGE_SIZE;
        c->shift = (c->pages & (c->pages - 1)) ? 32 : (uint32_t)__builtin_ctz(c->pages);
        c->first_page = first;
        first += c->count * c->pages;
        c->live_bits = (uint64_t *)cur, cur += ((c->count + 63) / 64) * sizeof(uint64_t);
        c->stack = (uint32_t *)cur, cur += (((uint64_t)c->count + 1) & ~1ull) * sizeof(uint32_t);
        /* Stack block 0 last so the first allocations come from the slab start. */
        for (uint32_t b = 0; b < c->count; b++) c->stack[b] = c->count - 1 - b;
        c->top = c->count;
    }
    h->class_for_pages = cur, cur += max_pages + 1;
    h->page_class = cur;
    for (uint32_t p = 1, i = 0; p <= max_pages; p++) {
        while (h->cls[i].pages < p) i++;
        h->class_for_pages[p] = (uint8_t)i;
    }
    h->class_for_pages[0] = 0;
    for (uint32_t i = 0; i < nclasses; i++) {
        const hclass *c = &h->cls[i];
        memset(h->page_class + c->first_page, (int)i, (size_t)c->count * c->pages);
    }
    *vt = &hybrid_vtable;
    *out = h;
    return 0;
}

/*
 * buddy.c - BuddyPool: a binary buddy allocator (L1) behind per-order stack
 * caches (L0), over one page-aligned arena.
 *
 * L1 is the classic buddy system in units of pages: a block of order k is
 * 2^k pages, starts at a multiple of 2^k pages, and its buddy starts at
 * page ^ 2^k.  Freeing merges a block with its buddy while the buddy is free
 * and of the same order.  Each order has a doubly linked free list, and the
 * bitmap `nonempty` (bit k set = list k not empty) finds the smallest order
 * that can serve a request with one count-trailing-zeros.
 *
 * L0 keeps up to cache_depth recently freed blocks of each small order
 * (default orders 0-5: 4 KiB-128 KiB) on a plain stack, so the common
 * alloc/free pair is a pop and a push with no splitting or merging.  A full
 * stack flushes its older half to L1; when L1 cannot serve a request, every
 * stack is drained into L1 (so cached blocks can merge) and L1 is asked again.
 *
 * All metadata lives in side tables indexed by page, never in the arena:
 * buffers belong to the kernel while I/O is in flight.
 *
 * Arenas need not be a power of two: the arena is seeded with its binary
 * decomposition (largest blocks first, so each is naturally aligned), and a
 * buddy that would reach past the end simply never merges.
 */
#include "buddy.h"

#include "arena.h"
#include "pool_impl.h"

#include <string.h>

#define MAX_ORDERS (VB_BUDDY_MAX_ORDER + 1)
#define NIL 0xFFFFFFFFu

/* Per-page state, meaningful at a block's first page ("head"). */
enum { ST_NONE = 0, ST_FREE = 1, ST_CACHED = 2, ST_LIVE = 3, ST_SEEN = 4 };

typedef struct buddy {
    vb_arena arena;
    uint32_t npages;
    uint32_t max_order;     /* largest block: 2^max_order pages */
    uint32_t cached_orders; /* orders < cached_orders have an L0 stack */
    uint32_t cache_depth;
    uint32_t nonempty;      /* bit k: L1 free list k is not empty */
    uint32_t head[MAX_ORDERS];
    uint32_t nfree[MAX_ORDERS];
    uint32_t ncached[MAX_ORDERS];
    uint32_t *cache[MAX_ORDERS];
    uint8_t *state; /* ST_* per page */
    uint8_t *order; /* order of the block headed here */
    uint32_t *next; /* free list links, by page */
    uint32_t *prev;
    uint32_t live;
    void *meta;
    uint64_t meta_bytes;
} buddy;

/* --- L1: free lists ------------------------------------------------------ */

static void list_push(buddy *b, uint32_t k, uint32_t page) {
    uint32_t h = b->head[k];
    b->next[page] = h;
    b->prev[page] = NIL;
    if (h != NIL) b->prev[h] = page;
    b->head[k] = page;
    b->nfree[k]++;
    b->nonempty |= 1u << k;
    b->state[page] = ST_FREE;
    b->order[page] = (uint8_t)k;
}

static void list_remove(buddy *b, uint32_t k, uint32_t page) {
    uint32_t n = b->next[page], p = b->prev[page];
    if (p != NIL) b->next[p] = n;
    else b->head[k] = n;
    if (n != NIL) b->prev[n] = p;
    if (--b->nfree[k] == 0) b->nonempty &= ~(1u << k);
    b->state[page] = ST_NONE;
}

/* Takes a free block of order k, splitting a larger one if needed. */
static int32_t l1_alloc(buddy *b, uint32_t k) {
    uint32_t fit = b->nonempty >> k;
    if (fit == 0) return VB_ENOMEM;
    uint32_t j = k + (uint32_t)__builtin_ctz(fit);
    uint32_t page = b->head[j];
    list_remove(b, j, page);
    while (j > k) { /* keep the lower half, free the upper halves */
        j--;
        list_push(b, j, page + (1u << j));
    }
    b->order[page] = (uint8_t)k;
    return (int32_t)page;
}

/* Returns a block to L1, merging it with free buddies of equal order. */
static void l1_free(buddy *b, uint32_t page, uint32_t k) {
    b->state[page] = ST_NONE; /* it may become the upper half of a merge */
    while (k < b->max_order) {
        uint32_t bud = page ^ (1u << k);
        if (bud + (1u << k) > b->npages) break;
        if (b->state[bud] != ST_FREE || b->order[bud] != k) break;
        list_remove(b, k, bud);
        page &= ~(1u << k);
        k++;
    }
    list_push(b, k, page);
}

/* --- L0: per-order stacks ------------------------------------------------- */

static void cache_flush(buddy *b, uint32_t k, uint32_t count) {
    uint32_t *s = b->cache[k];
    for (uint32_t i = 0; i < count; i++) l1_free(b, s[i], k);
    b->ncached[k] -= count;
    memmove(s, s + count, b->ncached[k] * sizeof *s);
}

static void cache_drain_all(buddy *b) {
    for (uint32_t k = 0; k < b->cached_orders; k++)
        if (b->ncached[k]) cache_flush(b, k, b->ncached[k]);
}

/* --- vtable -------------------------------------------------------------- */

static uint32_t order_for(uint32_t size) {
    uint32_t pages = (uint32_t)(((uint64_t)size + VB_PAGE_SIZE - 1) >> VB_PAGE_SHIFT);
    return pages <= 1 ? 0 : 32u - (uint32_t)__builtin_clz(pages - 1);
}

/* L0 was empty: split from L1, or drain every cache into L1 and retry. */
__attribute__((noinline)) static int32_t alloc_from_l1(buddy *b, uint32_t k) {
    int32_t page = l1_alloc(b, k);
    if (page < 0) {
        cache_drain_all(b);
        page = l1_alloc(b, k);
    }
    return page;
}

static int32_t buddy_alloc(void *self, uint32_t size, uint32_t *capacity) {
    buddy *b = self;
    uint32_t k = order_for(size);
    if (__builtin_expect(k > b->max_order, 0)) return VB_ERANGE;
    int32_t page;
    if (k < b->cached_orders && b->ncached[k]) {
        page = (int32_t)b->cache[k][--b->ncached[k]];
    } else {
        page = alloc_from_l1(b, k);
        if (page < 0) return page;
    }
    b->state[page] = ST_LIVE;
    b->live++;
    *capacity = VB_PAGE_SIZE << k;
    return page;
}

/* Why `page` cannot be freed: it lies in a free block (already freed) or
 * inside a live block without being its start.  Slow path only. */
__attribute__((noinline, cold)) static int32_t classify_bad_free(const buddy *b, uint32_t page) {
    for (uint32_t k = 0; k <= b->max_order; k++) {
        uint32_t h = page & ~((1u << k) - 1);
        if (b->state[h] == ST_NONE || b->order[h] < k) continue;
        return b->state[h] == ST_LIVE ? VB_EINTERIOR : VB_EDOUBLEFREE;
    }
    return VB_EFAULT; /* unreachable while the pool is consistent */
}

/* L0 is full (flush half of it first) or does not cache this order. */
__attribute__((noinline)) static void free_to_l1(buddy *b, uint32_t page, uint32_t k) {
    if (k < b->cached_orders && b->cache_depth) {
        cache_flush(b, k, (b->cache_depth + 1) / 2);
        b->cache[k][b->ncached[k]++] = page;
        b->state[page] = ST_CACHED;
    } else {
        l1_free(b, page, k);
    }
}

static int32_t buddy_free(void *self, uint32_t page) {
    buddy *b = self;
    if (__builtin_expect(page >= b->npages || b->state[page] != ST_LIVE, 0))
        return page >= b->npages ? VB_EFAULT : classify_bad_free(b, page);
    uint32_t k = b->order[page];
    b->live--;
    if (k < b->cached_orders && b->ncached[k] < b->cache_depth) {
        b->cache[k][b->ncached[k]++] = page;
        b->state[page] = ST_CACHED;
    } else {
        free_to_l1(b, page, k);
    }
    return (int32_t)(VB_PAGE_SIZE << k);
}

static int32_t buddy_reuse(void *self, uint32_t page, uint32_t size, uint32_t *capacity) {
    const buddy *b = self;
    uint32_t k = order_for(size);
    /* Only cached orders: their free pushes the block on the L0 stack and
     * the alloc pops that very block.  Others merge on free, and alloc may
     * then hand out another block. */
    if (k >= b->cached_orders || b->cache_depth == 0) return -1;
    if (page >= b->npages || b->state[page] != ST_LIVE || b->order[page] != k) return -1;
    *capacity = VB_PAGE_SIZE << k;
    return (int32_t)page;
}

static uint32_t buddy_capacity(void *self, uint32_t page) {
    const buddy *b = self;
    if (page >= b->npages || b->state[page] != ST_LIVE) return 0;
    return VB_PAGE_SIZE << b->order[page];
}

static uint64_t buddy_live(void *self) { return ((const buddy *)self)->live; }

static void buddy_region(void *self, void **base, uint64_t *size) {
    const buddy *b = self;
    *base = b->arena.base;
    *size = b->arena.size;
}

static uint64_t buddy_max_request(void *self) {
    const buddy *b = self;
    return (uint64_t)VB_PAGE_SIZE << b->max_order;
}

/* The largest block a request can get once the L0 stacks are drained into
 * L1, which alloc_from_l1 does before it gives up.  Freed blocks then merge
 * fully, so that is the largest aligned 2^k pages (k <= max_order) inside a
 * run of pages no live block covers.  Walks every block: stats only. */
static uint64_t largest_after_drain(const buddy *b) {
    uint64_t best = 0;
    uint32_t run = 0; /* first page of the current run of non-live blocks */
    for (uint32_t p = 0;; p += 1u << b->order[p], run = p) {
        while (p < b->npages && b->state[p] != ST_LIVE) p += 1u << b->order[p];
        for (uint32_t k = b->max_order + 1; k-- > 0 && (1ull << k) > best;) {
            uint64_t start = ((uint64_t)run + (1u << k) - 1) & ~((1ull << k) - 1);
            if (start + (1u << k) <= p) best = 1ull << k;
        }
        if (p == b->npages) return best;
    }
}

static void buddy_stats(void *self, double *out) {
    const buddy *b = self;
    uint64_t free_pages = 0, cached = 0, largest = 0;
    for (uint32_t k = 0; k <= b->max_order; k++) {
        free_pages += (uint64_t)b->nfree[k] << k;
        if (b->nfree[k]) largest = 1ull << k;
    }
    for (uint32_t k = 0; k < b->cached_orders; k++) {
        free_pages += (uint64_t)b->ncached[k] << k;
        cached += b->ncached[k];
        if (b->ncached[k] && (1ull << k) > largest) largest = 1ull << k;
    }
    /* Cached blocks would merge with their free buddies on a drain. */
    if (cached) largest = largest_after_drain(b);
    out[VB_STAT_CAPACITY_BYTES] += (double)b->arena.size;
    out[VB_STAT_FREE_BYTES] += (double)(free_pages * VB_PAGE_SIZE);
    out[VB_STAT_CACHED_BUFFERS] += (double)cached;
    vb_arena_stats(&b->arena, out);
    if ((double)(largest * VB_PAGE_SIZE) > out[VB_STAT_LARGEST_FREE])
        out[VB_STAT_LARGEST_FREE] = (double)(largest * VB_PAGE_SIZE);
}

static int32_t buddy_class_stats(void *self, uint32_t cls, double *out) {
    (void)self, (void)cls, (void)out;
    return VB_EINVAL; /* a buddy pool has no size classes */
}

/* Every invariant, in one O(pages) walk plus the lists and stacks. */
static int32_t buddy_check(void *self, char *msg, size_t n) {
    buddy *b = self;
    uint32_t free_heads[MAX_ORDERS] = {0}, cached_heads[MAX_ORDERS] = {0}, live = 0;

    /* 1. Blocks tile the arena: aligned, in bounds, no overlap, no gap. */
    for (uint32_t p = 0; p < b->npages;) {
        uint32_t s = b->state[p], k = b->order[p];
        if (s == ST_NONE || s > ST_LIVE)
            return vb_corrupt(msg, n, "buddy: page %u is covered by no block (state %u)", p, s);
        if (k > b->max_order || (p & ((1u << k) - 1)) || p + (1u << k) > b->npages)
            return vb_corrupt(msg, n, "buddy: block at page %u order %u misaligned or out of bounds", p, k);
        for (uint32_t q = p + 1; q < p + (1u << k); q++)
            if (b->state[q] != ST_NONE)
                return vb_corrupt(msg, n, "buddy: block at page %u overlaps a block at page %u", p, q);
        if (s == ST_FREE) {
            free_heads[k]++;
            uint32_t bud = p ^ (1u << k);
            if (k < b->max_order && bud + (1u << k) <= b->npages && b->state[bud] == ST_FREE &&
                b->order[bud] == k)
                return vb_corrupt(msg, n, "buddy: free buddies at pages %u and %u not merged", p, bud);
        } else if (s == ST_CACHED) {
            if (k >= b->cached_orders)
                return vb_corrupt(msg, n, "buddy: page %u cached at uncached order %u", p, k);
            cached_heads[k]++;
        } else {
            live++;
        }
        p += 1u << k;
    }
    if (live != b->live)
        return vb_corrupt(msg, n, "buddy: %u live blocks found, %u counted", live, b->live);

    /* 2. Free lists hold exactly the free heads, with sound links; no
     * list above max_order claims blocks (alloc would take its head).
     * [issue 12 item 10] */
    if (b->nonempty >> b->max_order >> 1)
        return vb_corrupt(msg, n, "buddy: nonempty bitmap %#x has orders above %u", b->nonempty, b->max_order);
    for (uint32_t k = 0; k <= b->max_order; k++) {
        uint32_t count = 0, prev = NIL;
        for (uint32_t p = b->head[k]; p != NIL; prev = p, p = b->next[p]) {
            if (p >= b->npages || count++ > free_heads[k])
                return vb_corrupt(msg, n, "buddy: free list %u is broken or cyclic", k);
            if (b->state[p] != ST_FREE || b->order[p] != k || b->prev[p] != prev)
                return vb_corrupt(msg, n, "buddy: free list %u holds page %u wrongly", k, p);
        }
        if (count != free_heads[k] || count != b->nfree[k])
            return vb_corrupt(msg, n, "buddy: free list %u has %u entries, %u free blocks, count %u",
                              k, count, free_heads[k], b->nfree[k]);
        if (!!(b->nonempty & (1u << k)) != (count != 0))
            return vb_corrupt(msg, n, "buddy: nonempty bitmap wrong for order %u", k);
    }

    /* 3. Each cached head sits on its order's stack exactly once. */
    int32_t rc = 0;
    for (uint32_t k = 0; k < b->cached_orders && !rc; k++) {
        if (b->ncached[k] > b->cache_depth || b->ncached[k] != cached_heads[k]) {
            rc = vb_corrupt(msg, n, "buddy: cache %u holds %u blocks, %u cached heads, depth %u", k,
                            b->ncached[k], cached_heads[k], b->cache_depth);
            break;
        }
        for (uint32_t i = 0; i < b->ncached[k]; i++) {
            uint32_t p = b->cache[k][i];
            if (p >= b->npages || b->state[p] != ST_CACHED || b->order[p] != k) {
                rc = vb_corrupt(msg, n, "buddy: cache %u entry %u (page %u) is not a cached block", k, i, p);
                break;
            }
            b->state[p] = ST_SEEN; /* a duplicate entry will now fail the test above */
        }
    }
    for (uint32_t k = 0; k < b->cached_orders; k++) /* undo the marks */
        for (uint32_t i = 0; i < b->ncached[k]; i++)
            if (b->cache[k][i] < b->npages && b->state[b->cache[k][i]] == ST_SEEN)
                b->state[b->cache[k][i]] = ST_CACHED;
    return rc;
}

static void buddy_destroy(void *self) {
    buddy *b = self;
    vb_arena_unmap(&b->arena);
    vb_meta_free(b->meta, b->meta_bytes);
}

static int32_t buddy_clone(const void *self, uint32_t flags, void **out) {
    const buddy *b = self;
    const vb_backing_vtable *vt;
    return vb_buddy_new(b->arena.size, b->cache_depth, b->cached_orders, flags, &vt, out);
}

static struct vb_arena *buddy_arena(void *self) { return &((buddy *)self)->arena; }

static const vb_backing_vtable buddy_vtable = {
    .kind = "buddy",
    .oversize_fallback = false,
    .alloc = buddy_alloc,
    .free = buddy_free,
    .reuse = buddy_reuse,
    .capacity = buddy_capacity,
    .region = buddy_region,
    .live = buddy_live,
    .max_request = buddy_max_request,
    .stats = buddy_stats,
    .class_stats = buddy_class_stats,
    .check = buddy_check,
    .destroy = buddy_destroy,
    .clone = buddy_clone,
    .arena = buddy_arena,
};

/* --- construction ---------------------------------------------------------- */

int32_t vb_buddy_new(uint64_t arena_size, uint32_t cache_depth, uint32_t cached_orders,
                     uint32_t flags, const vb_backing_vtable **vt, void **out) {
    if (arena_size == 0 || arena_size % VB_PAGE_SIZE || arena_size > VB_MAX_ARENA_SIZE)
        return VB_EINVAL;
    if (cached_orders > MAX_ORDERS || cache_depth > VB_BUDDY_MAX_CACHE_DEPTH) return VB_EINVAL;
    uint32_t npages = (uint32_t)(arena_size / VB_PAGE_SIZE);
    uint32_t max_order = 31u - (uint32_t)__builtin_clz(npages);
    if (max_order > VB_BUDDY_MAX_ORDER) max_order = VB_BUDDY_MAX_ORDER;
    if (cached_orders > max_order + 1) cached_orders = max_order + 1;

    /* One side allocation: the struct, per-page tables, then the stacks. */
    uint64_t bytes = sizeof(buddy) + (uint64_t)npages * (2 + 2 * sizeof(uint32_t)) +
                     (uint64_t)cached_orders * cache_depth * sizeof(uint32_t);
    uint8_t *m = vb_meta_alloc(bytes);
    if (!m) return VB_ENOMEM;
    buddy *b = (buddy *)m;
    b->meta = m;
    b->meta_bytes = bytes;
    int32_t rc = vb_arena_map(&b->arena, arena_size, flags);
    if (rc) {
        vb_meta_free(m, bytes);
        return rc;
    }
    b->npages = npages;
    b->max_order = max_order;
    b->cached_orders = cached_orders;
    b->cache_depth = cache_depth;
    uint8_t *cur = m + sizeof(buddy);
    b->next = (uint32_t *)cur, cur += (uint64_t)npages * sizeof(uint32_t);
    b->prev = (uint32_t *)cur, cur += (uint64_t)npages * sizeof(uint32_t);
    for (uint32_t k = 0; k < cached_orders; k++)
        b->cache[k] = (uint32_t *)cur, cur += (uint64_t)cache_depth * sizeof(uint32_t);
    b->state = cur, cur += npages;
    b->order = cur;
    for (uint32_t k = 0; k < MAX_ORDERS; k++) b->head[k] = NIL;

    /* Seed L1 with the arena's binary decomposition, largest blocks first. */
    uint32_t page = 0;
    for (int32_t k = (int32_t)max_order; k >= 0; k--)
        while (npages - page >= (1u << k)) {
            list_push(b, (uint32_t)k, page);
            page += 1u << k;
        }
    *vt = &buddy_vtable;
    *out = b;
    return 0;
}

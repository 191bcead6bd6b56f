/*
 * fuzz_pool.c - libFuzzer harness for the pools, against a reference model.
 *
 * Built twice by scripts/hardening.sh: VB_FUZZ_HYBRID=0 is fuzz_buddy,
 * VB_FUZZ_HYBRID=1 is fuzz_hybrid (clang -fsanitize=fuzzer,address,undefined).
 *
 * The input is a small pool configuration followed by operations (see
 * run_op): allocations of any size (0, huge, page boundaries, class and block
 * boundaries), frees of live, already freed, interior, out-of-range and
 * foreign handles and pointers, the deferred-free queue (then an alloc, a
 * flush, stats or a check), growth limits, queries, raw pool configurations.
 * Each operation runs on the pool and on a model that knows which arena pages
 * every live buffer covers.  The model predicts every result exactly: error
 * codes (a handle or pointer is judged by what it names *now*: a freed handle
 * whose block was handed out again names the new buffer), capacities, when an
 * arena is mapped or returned, fallback buffers, the queue's refusals.  After
 * every operation vb_pool_check must pass and every statistic, region and
 * live buffer's contents must match the model.  Any disagreement prints what
 * differed and aborts, which libFuzzer reports as a crash.
 *
 *   VB_FUZZ_TRACE=1  print each operation (to replay a crash: the harness
 *                    binary with the crash file as its argument)
 */
#include "veloq_buffer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef VB_FUZZ_HYBRID
#error "build with -DVB_FUZZ_HYBRID=0 (buddy) or 1 (hybrid)"
#endif

#define PAGE VB_PAGE_SIZE
#define FB_ARENA VB_HANDLE_FALLBACK_ARENA
#define MAX_ARENAS 10u  /* most arenas the harness lets a pool have (growth + shares) */
#define MAX_GROW 6u     /* most arenas set_max_arenas asks for */
#define MAX_SHARED 3u   /* most arenas made by vb_pool_share at once */
#define MAX_VIEWS 3u    /* views attached at once (all in this thread) */
#define FB_LINKS 4096u  /* fallback slots a remote free may name (one link chunk) */
#define MAX_PAGES 320u  /* most pages per arena (hybrid: (4 + 8 + 12 + 16) pages x 8) */
#define MAX_FB 48u      /* most live fallback buffers */
#define MAX_LIVE (MAX_ARENAS * MAX_PAGES + MAX_FB)
#define MAX_CLASSES 4u
#define HISTORY 16u
#define MAX_OPS 3000u
#define INSIDE 0xFFu    /* layout: a page inside a hybrid block */

/* --- input ------------------------------------------------------------------ */

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t rd8(reader *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}
static uint32_t rd16(reader *r) { return rd8(r) | (uint32_t)rd8(r) << 8; }
static uint32_t rd32(reader *r) { return rd16(r) | rd16(r) << 16; }

/* --- the model ---------------------------------------------------------------- */

typedef struct mbuf {
    int used;
    int32_t handle;
    uint32_t cap;
    uint8_t *ptr;
    uint32_t arena; /* FB_ARENA for a fallback buffer (then page = its slot) */
    uint32_t page;
    uint64_t seed; /* its pattern */
} mbuf;

/* Who owns an arena (vb_arena_slot.owner, as the model sees it). */
enum { WHO_MAIN = 0, WHO_RESERVED = -1, WHO_RETURNED = -2 }; /* > 0: view index + 1 */

typedef struct marena {
    int live; /* mapped: not yet returned */
    int who;
    int shared; /* made by vb_pool_share */
    int mapped; /* 0: a share's arena its view has not allocated from (address space only) */
    uint8_t pend[MAX_PAGES]; /* page waits on the arena's remote list */
    uint8_t *base;
    uint64_t size;
    uint32_t nlive;
    uint32_t class_live[MAX_CLASSES];
    uint16_t owner[MAX_PAGES]; /* live-table slot + 1 of the buffer covering the page */
} marena;

typedef struct model {
    vb_pool *pool;
    uint32_t *out;
    uint32_t flags;
    /* shape */
    uint32_t npages; /* per arena */
    uint32_t max_order, cache_depth, cached_orders;           /* buddy */
    uint32_t nclasses, cls_pages[MAX_CLASSES], cls_count[MAX_CLASSES]; /* hybrid */
    uint8_t layout[MAX_PAGES]; /* hybrid: class of a block start, INSIDE elsewhere */
    uint64_t max_request;
    /* arenas */
    marena ar[MAX_ARENAS];
    uint32_t narenas, live_arenas, max_arenas;
    uint64_t grows, epoch;
    /* buffers */
    mbuf live[MAX_LIVE];
    uint32_t nlive, nfb;
    uint64_t fb_bytes;
    uint32_t fb_nslots;
    uint32_t fb_linked; /* a fallback alloc succeeded: the pool made its remote-free links */
    uint64_t allocs, failed_allocs, queue_errors, queue_errors_total, seeds;
    /* what to verify after the call that the model just simulated */
    uint8_t *poisoned[MAX_LIVE];
    uint32_t poisoned_cap[MAX_LIVE], npoisoned;
    uint8_t *unmapped[MAX_ARENAS * 4];
    uint32_t nunmapped;
    /* handles and pointers freed lately, and others' */
    int32_t old_handle[HISTORY];
    uint8_t *old_ptr[HISTORY];
    uint32_t nold;
    vb_pool *foreign;
    int32_t foreign_h[2];
    uint8_t *foreign_ptr[2];
    uint8_t *heap; /* a malloc'd block: a pointer no pool owns */
    /* shares and views */
    struct {
        vb_view *v;
        uint32_t arena, *out;
        uint64_t allocs, queue_errors;
    } view[MAX_VIEWS];
    uint32_t nviews, shared_arenas;
    /* The latest reservation handle (share's out[0]) of each slot: kept
     * when the slot is emptied, like the pool's generation. */
    uint32_t res[VB_MAX_ARENAS];
    uint64_t view_allocs, remote_errors;
    uint8_t fb_pend[FB_LINKS];
    uint32_t op;
    const char *opname;
    int trace;
} model;

static model M;

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...) {
    fprintf(stderr, "FUZZ FAIL (%s, op %u %s): ", VB_FUZZ_HYBRID ? "hybrid" : "buddy", M.op,
            M.opname ? M.opname : "");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  model: %u live (%u fallback), %u/%u arenas (max %u), flags %#x, last error \"%s\"\n",
            M.nlive, M.nfb, M.live_arenas, M.narenas, M.max_arenas, M.flags,
            M.pool ? vb_pool_last_error(M.pool) : "");
    abort();
}

#define EXPECT_RC(call, want)                                                                     \
    do {                                                                                          \
        int32_t rc_ = (call), want_ = (want);                                                     \
        if (rc_ != want_)                                                                         \
            fail("%s returned %d (%s), expected %d (%s)", #call, rc_, vb_strerror(rc_), want_,    \
                 vb_strerror(want_));                                                             \
    } while (0)

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...) {
    if (!M.trace) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  [%u] ", M.op);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static uint32_t h_arena(int32_t h) { return (uint32_t)h >> VB_HANDLE_PAGE_BITS; }
static uint32_t h_page(int32_t h) { return (uint32_t)h & VB_HANDLE_PAGE_MASK; }
static int32_t mk_handle(uint32_t arena, uint32_t page) {
    return (int32_t)(arena << VB_HANDLE_PAGE_BITS | page);
}
static uint64_t round_page(uint64_t n) { return (n + PAGE - 1) & ~(uint64_t)(PAGE - 1); }
static uint32_t buf_pages(const mbuf *b) { return b->cap / PAGE; }

/* --- patterns: three stamps per page (start, middle, end) ------------------------ */

static uint64_t stamp_of(uint64_t seed, uint32_t page, uint32_t where) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + page * 0xBF58476D1CE4E5B9ull + where;
    return z ^ (z >> 29);
}

static void fill(const mbuf *b) {
    static const uint32_t at[3] = {0, PAGE / 2, PAGE - 8};
    for (uint32_t pg = 0; pg < buf_pages(b); pg++)
        for (uint32_t w = 0; w < 3; w++) {
            uint64_t v = stamp_of(b->seed, pg, w);
            memcpy(b->ptr + (size_t)pg * PAGE + at[w], &v, 8);
        }
}

static void verify(const mbuf *b, const char *when) {
    static const uint32_t at[3] = {0, PAGE / 2, PAGE - 8};
    if (!b->seed) return; /* never filled (a batch given back at once) */
    for (uint32_t pg = 0; pg < buf_pages(b); pg++)
        for (uint32_t w = 0; w < 3; w++) {
            uint64_t v;
            memcpy(&v, b->ptr + (size_t)pg * PAGE + at[w], 8);
            if (v != stamp_of(b->seed, pg, w))
                fail("%s: buffer %d (cap %u) overwritten at byte %zu", when, b->handle, b->cap,
                     (size_t)pg * PAGE + at[w]);
        }
}

/* A freed buffer in a checked pool reads VB_POISON_BYTE everywhere. */
static void verify_poisoned(const uint8_t *p, uint32_t cap) {
    for (uint32_t off = 0; off < cap; off += PAGE / 4)
        if (p[off] != VB_POISON_BYTE || p[off + PAGE / 4 - 1] != VB_POISON_BYTE)
            fail("freed buffer at %p (cap %u) not poisoned at byte %u", (const void *)p, cap, off);
}

/* A returned or destroyed arena is unmapped (mincore: ENOMEM).  Only
 * right after the call that unmapped it, and only if that call mapped
 * nothing (an arena, metadata, a large fallback buffer could land there). */
static void verify_unmapped(uint8_t *base) {
    unsigned char vec;
    if (mincore(base, PAGE, &vec) == 0 || errno != ENOMEM)
        fail("arena at %p is still mapped", (void *)base);
}

/* --- the model's view of one handle or pointer --------------------------------- */

static mbuf *fb_in_slot(uint32_t slot) {
    for (uint32_t i = 0; i < MAX_LIVE; i++)
        if (M.live[i].used && M.live[i].arena == FB_ARENA && M.live[i].page == slot) return &M.live[i];
    return 0;
}

/* expect_free's answer for a handle of an arena this thread does not own:
 * vb_pool_free pushes it on that arena's remote list (see do_push). */
#define PUSHED 1

/* Judges a free of handle h by the owner of arena h names, as if the caller
 * owned it: 0 (*slot frees), or the error. */
static int32_t expect_local(int32_t h, int32_t *slot) {
    *slot = -1;
    if (h < 0) return VB_EFAULT;
    uint32_t a = h_arena(h), page = h_page(h);
    if (a == FB_ARENA) {
        if (page >= M.fb_nslots) return VB_EFAULT;
        mbuf *b = fb_in_slot(page);
        if (!b) return VB_EDOUBLEFREE;
        *slot = (int32_t)(b - M.live);
        return 0;
    }
    if (a >= M.narenas || !M.ar[a].live || page >= M.npages) return VB_EFAULT;
    uint32_t o = M.ar[a].owner[page];
    if (o && M.live[o - 1].page == page) {
        *slot = (int32_t)o - 1;
        return 0;
    }
    /* Buddy: inside a live block is interior, anywhere else (free or cached
     * blocks) already free.  Hybrid: the slab layout alone decides. */
    if (VB_FUZZ_HYBRID) return M.layout[page] == INSIDE ? VB_EINTERIOR : VB_EDOUBLEFREE;
    return o ? VB_EINTERIOR : VB_EDOUBLEFREE;
}

/* What vb_pool_free(handle) must return now: expect_local, or PUSHED when
 * the handle names an arena the owner thread does not own. */
static int32_t expect_free(int32_t h, int32_t *slot) {
    *slot = -1;
    uint32_t a = h_arena(h);
    if (h >= 0 && a != 0 && a < M.narenas && M.ar[a].live && M.ar[a].who != WHO_MAIN) return PUSHED;
    return expect_local(h, slot);
}

/* A remote free (vb_remote_push): what it returns, and the page waits on
 * its arena's list until that arena's owner takes the list. */
static int32_t do_push(int32_t h) {
    uint32_t a = h_arena(h), page = h_page(h);
    uint8_t *pend;
    if (h < 0) return VB_EFAULT;
    if (a == FB_ARENA) {
        if (!M.fb_linked || page >= FB_LINKS) return VB_EFAULT; /* no links made yet */
        pend = &M.fb_pend[page];
    } else {
        if (a >= VB_MAX_ARENAS || a >= M.narenas || !M.ar[a].live || page >= M.npages) return VB_EFAULT;
        pend = &M.ar[a].pend[page];
    }
    if (*pend) return VB_EDOUBLEFREE; /* refused to the caller, not counted by the pool */
    *pend = 1;
    return 0;
}

/* What vb_pool_free_ptr(ptr) must return now; *h is the handle it names
 * (for a push). */
static int32_t expect_free_ptr(const uint8_t *ptr, int32_t *slot, int32_t *h) {
    uintptr_t p = (uintptr_t)ptr;
    *slot = -1;
    for (uint32_t a = 0; a < M.narenas; a++) {
        const marena *A = &M.ar[a];
        if (!A->live || p < (uintptr_t)A->base || p >= (uintptr_t)A->base + A->size) continue;
        uintptr_t off = p - (uintptr_t)A->base;
        if (off % PAGE) return VB_EINTERIOR;
        *h = mk_handle(a, (uint32_t)(off / PAGE));
        return expect_free(*h, slot);
    }
    for (uint32_t i = 0; i < MAX_LIVE; i++) {
        const mbuf *b = &M.live[i];
        if (!b->used || b->arena != FB_ARENA) continue;
        if (p == (uintptr_t)b->ptr) {
            *slot = (int32_t)i;
            return 0;
        }
        if (p > (uintptr_t)b->ptr && p < (uintptr_t)b->ptr + b->cap) return VB_EINTERIOR;
    }
    return VB_EFAULT;
}

/* The model side of a successful free of live[slot] (called before the
 * pool's call: contents are verified while they are still there). */
static void model_release_arena(uint32_t a) {
    marena *A = &M.ar[a];
    A->live = 0; /* returned: its slot reads (NULL, 0) */
    M.live_arenas--;
    if (A->shared) M.shared_arenas--;
    A->shared = 0;
    M.epoch++;
    M.unmapped[M.nunmapped++] = A->base;
    /* Its poisoned buffers are gone too (a new arena may be mapped at the
     * same address before the checks run). */
    uint32_t keep = 0;
    for (uint32_t i = 0; i < M.npoisoned; i++)
        if ((uintptr_t)M.poisoned[i] < (uintptr_t)A->base || (uintptr_t)M.poisoned[i] >= (uintptr_t)A->base + A->size) {
            M.poisoned[keep] = M.poisoned[i];
            M.poisoned_cap[keep++] = M.poisoned_cap[i];
        }
    M.npoisoned = keep;
}

static void model_release(int32_t slot) {
    mbuf *b = &M.live[slot];
    verify(b, "before its free");
    if (b->arena == FB_ARENA) {
        M.nfb--;
        M.fb_bytes -= b->cap;
    } else {
        marena *A = &M.ar[b->arena];
        for (uint32_t i = 0; i < buf_pages(b); i++) A->owner[b->page + i] = 0;
        A->nlive--;
        if (VB_FUZZ_HYBRID) A->class_live[M.layout[b->page]]--;
        if (b->arena != 0 && A->nlive == 0 && A->who == WHO_MAIN && (M.flags & VB_FLAG_RELEASE_EMPTY_ARENAS)) {
            model_release_arena(b->arena);
        } else if (M.flags & VB_FLAG_POISON) {
            M.poisoned[M.npoisoned] = b->ptr;
            M.poisoned_cap[M.npoisoned++] = b->cap;
        }
    }
    if (b->seed) { /* a batch given back at once has no address to remember */
        M.old_handle[M.nold % HISTORY] = b->handle;
        M.old_ptr[M.nold % HISTORY] = b->ptr;
        M.nold++;
    }
    b->used = 0;
    M.nlive--;
}

/* After the call: freed memory poisoned (unless handed out again since),
 * returned arenas unmapped. */
static void post_checks(void) {
    for (uint32_t i = 0; i < M.npoisoned; i++) {
        /* Skipped when its arena was returned since, or a buffer handed
         * out since covers it. */
        uintptr_t p = (uintptr_t)M.poisoned[i];
        int check = 0;
        for (uint32_t a = 0; a < M.narenas; a++) {
            const marena *A = &M.ar[a];
            if (!A->live || p < (uintptr_t)A->base || p >= (uintptr_t)A->base + A->size) continue;
            uint32_t first = (uint32_t)((p - (uintptr_t)A->base) / PAGE);
            check = 1;
            for (uint32_t k = 0; k < M.poisoned_cap[i] / PAGE; k++) check &= A->owner[first + k] == 0;
        }
        if (check) verify_poisoned(M.poisoned[i], M.poisoned_cap[i]);
    }
    for (uint32_t i = 0; i < M.nunmapped; i++) verify_unmapped(M.unmapped[i]);
    M.npoisoned = M.nunmapped = 0;
}

/* Simulates what the pool does with the deferred-free queue before an
 * alloc, flush, stats or check: every queued handle freed in order, each
 * judged as vb_pool_free would (a count above the capacity is one more
 * refusal).  Returns the refusals. */
static uint32_t model_drain_queue(void) {
    uint32_t n = M.out[VB_OUT_QUEUED], bad = 0;
    if (n == 0) return 0;
    if (n > VB_OUT_QUEUE_CAP) n = VB_OUT_QUEUE_CAP, bad++;
    for (uint32_t i = 0; i < n; i++) {
        int32_t slot, h = (int32_t)M.out[VB_OUT_QUEUE + i], e = expect_free(h, &slot);
        if (e == PUSHED) e = do_push(h);
        else if (e == 0) model_release(slot);
        bad += e != 0;
    }
    M.queue_errors += bad;
    return bad;
}

/* The owner of arena a takes its remote list: every page on it is freed
 * if it starts a live buffer now (order does not matter: frees never make a
 * page start a live buffer), else counted as a remote error. */
static uint32_t resolve_pending(uint32_t a, int discard) {
    uint32_t freed = 0;
    for (uint32_t page = 0; page < M.npages; page++) {
        if (!M.ar[a].pend[page]) continue;
        M.ar[a].pend[page] = 0;
        int32_t slot;
        if (!discard && expect_local(mk_handle(a, page), &slot) == 0) model_release(slot), freed++;
        else M.remote_errors++;
    }
    return freed;
}

/* What the owner's drain does (vb_pool_drain_remote): the fallback list,
 * then by arena: returned arenas taken over (and returned themselves when
 * empty), its own arenas' lists, and reservations' lists counted. */
static void model_owner_drain(void) {
    for (uint32_t s = 0; s < FB_LINKS; s++) {
        if (!M.fb_pend[s]) continue;
        M.fb_pend[s] = 0;
        mbuf *b = s < M.fb_nslots ? fb_in_slot(s) : 0;
        if (b) model_release((int32_t)(b - M.live));
        else M.remote_errors++;
    }
    for (uint32_t a = 0; a < M.narenas; a++) {
        marena *A = &M.ar[a];
        if (!A->live) continue;
        if (A->who == WHO_RETURNED) {
            A->who = WHO_MAIN;
            M.epoch++;
            if (!A->mapped) { /* its view never allocated: dropped, nothing to keep */
                resolve_pending(a, 1);
                model_release_arena(a);
                continue;
            }
            resolve_pending(a, 0);
            if (A->live && A->nlive == 0 && (M.flags & VB_FLAG_RELEASE_EMPTY_ARENAS)) model_release_arena(a);
        } else if (A->who == WHO_MAIN) {
            resolve_pending(a, 0);
        } else if (A->who == WHO_RESERVED) {
            resolve_pending(a, 1);
        }
    }
}

/* --- expectations of an alloc --------------------------------------------------- */

static uint32_t order_for(uint32_t size) {
    uint64_t pages = (round_page(size)) / PAGE;
    uint32_t k = 0;
    while ((1ull << k) < pages) k++;
    return k;
}

static uint32_t class_for(uint32_t size) { /* hybrid; size <= max_request */
    uint64_t pages = round_page(size) / PAGE;
    uint32_t c = 0;
    while (M.cls_pages[c] < pages) c++;
    return c;
}

/* Buddy: a free, aligned run of 2^k pages in arena a (all blocks merge once
 * the caches are drained, which the pool does before it gives up). */
static int buddy_fits(const marena *A, uint32_t k) {
    uint32_t n = 1u << k;
    for (uint32_t s = 0; s + n <= M.npages; s += n) {
        uint32_t i = 0;
        while (i < n && !A->owner[s + i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

static int arena_fits(const marena *A, uint32_t size) {
    if (!A->live) return 0;
    if (VB_FUZZ_HYBRID) {
        uint32_t c = class_for(size);
        return A->class_live[c] < M.cls_count[c];
    }
    return buddy_fits(A, order_for(size));
}

/* The largest block one request could get now (VB_STAT_LARGEST_FREE). */
static uint64_t model_largest_free(void) {
    uint64_t best = 0;
    for (uint32_t a = 0; a < M.narenas; a++) {
        const marena *A = &M.ar[a];
        if (!A->live || A->who != WHO_MAIN) continue;
        if (A->shared && M.live_arenas - M.shared_arenas >= M.max_arenas) continue; /* not the owner's to use */
        if (VB_FUZZ_HYBRID) {
            for (uint32_t c = 0; c < M.nclasses; c++)
                if (A->class_live[c] < M.cls_count[c] && (uint64_t)M.cls_pages[c] * PAGE > best)
                    best = (uint64_t)M.cls_pages[c] * PAGE;
        } else {
            for (uint32_t k = M.max_order + 1; k-- > 0;)
                if (buddy_fits(A, k)) {
                    if (((uint64_t)PAGE << k) > best) best = (uint64_t)PAGE << k;
                    break;
                }
        }
    }
    return best;
}

/* OUT_ADOPT: a shared arena a view gave back becomes the owner's (growth). */
enum { OUT_ARENA, OUT_GROW, OUT_FALLBACK, OUT_ERROR, OUT_ADOPT };

/* Where alloc(size) must be served from, the queue already drained. */
static int expect_alloc(uint32_t size, int32_t *err, uint32_t *grow_into) {
    *err = 0;
    if (size == 0) {
        *err = VB_EINVAL;
        return OUT_ERROR;
    }
    if (size > M.max_request) {
        if (!VB_FUZZ_HYBRID) {
            *err = VB_ERANGE;
            return OUT_ERROR;
        }
        /* Oversize: the global allocator, unless the capacity would not
         * fit an int32 (the fallback table grows first either way). */
        return round_page(size) > INT32_MAX ? (*err = VB_ERANGE, OUT_FALLBACK) : OUT_FALLBACK;
    }
    for (uint32_t a = 0; a < M.narenas; a++)
        if (M.ar[a].who == WHO_MAIN && !M.ar[a].shared && arena_fits(&M.ar[a], size)) return OUT_ARENA;
    if (M.live_arenas - M.shared_arenas < M.max_arenas) {
        for (uint32_t a = 1; a < M.narenas; a++)
            if (M.ar[a].live && M.ar[a].shared && M.ar[a].who == WHO_MAIN && arena_fits(&M.ar[a], size)) {
                *grow_into = a; /* the first that fits, as the pool tries them */
                return OUT_ADOPT;
            }
        uint32_t i = 0;
        while (i < M.narenas && M.ar[i].live) i++; /* a returned slot first */
        *grow_into = i;
        return OUT_GROW;
    }
    if (M.flags & VB_FLAG_FALLBACK_ON_EXHAUSTED) return OUT_FALLBACK;
    *err = VB_ENOMEM;
    return OUT_ERROR;
}

static int32_t new_slot(void) {
    for (uint32_t i = 0; i < MAX_LIVE; i++)
        if (!M.live[i].used) return (int32_t)i;
    fail("model live table full");
}

/* A freshly mapped arena: its region, as the pool reports it. */
static void model_map_arena(uint32_t i) {
    marena *A = &M.ar[i];
    memset(A, 0, sizeof *A);
    A->live = 1;
    A->mapped = 1;
    A->base = vb_pool_region_base(M.pool, i);
    A->size = vb_pool_region_size(M.pool, i);
    if (!A->base || (uintptr_t)A->base % PAGE || A->size != (uint64_t)M.npages * PAGE)
        fail("arena %u: region %p size %llu, expected %u pages", i, (void *)A->base,
             (unsigned long long)A->size, M.npages);
}

/* A new arena buffer b (of a request of `size`): its block must be what
 * the arena's allocator hands out (class or order, alignment, inside the
 * arena, at base + page) on pages no live buffer covers. */
static void claim_block(mbuf *b, uint32_t size, int32_t slot) {
    int32_t h = b->handle;
    marena *A = &M.ar[b->arena];
    uint32_t want_cap, pages;
    if (VB_FUZZ_HYBRID) {
        uint32_t c = class_for(size);
        want_cap = M.cls_pages[c] * PAGE;
        if (b->page >= M.npages || M.layout[b->page] != c)
            fail("alloc(%u): page %u is not a block of class %u", size, b->page, c);
        A->class_live[c]++;
    } else {
        want_cap = PAGE << order_for(size);
        if (b->page % (want_cap / PAGE)) fail("alloc(%u): block at page %u misaligned", size, b->page);
    }
    if (b->cap != want_cap) fail("alloc(%u): capacity %u, expected %u", size, b->cap, want_cap);
    pages = b->cap / PAGE;
    if (b->page + pages > M.npages) fail("block at page %u (%u pages) ends past the arena", b->page, pages);
    if ((uintptr_t)b->ptr != (uintptr_t)A->base + (uintptr_t)b->page * PAGE) fail("handle %d: address %p is not base + page", h, (void *)b->ptr);
    for (uint32_t i = 0; i < pages; i++) {
        if (A->owner[b->page + i])
            fail("alloc(%u): page %u of arena %u handed out while buffer %d covers it", size,
                 b->page + i, b->arena, M.live[A->owner[b->page + i] - 1].handle);
        A->owner[b->page + i] = (uint16_t)(slot + 1);
    }
    A->nlive++;
}

static int32_t accept_alloc(int32_t h, uint32_t size, int where, uint32_t grow_into, uint32_t cap, int32_t bufidx,
                            int fill_it);

/* One checked alloc: the queue is drained first (the pool does that too),
 * then the result must be exactly what the model expects.  Skipped (the
 * queue flushed instead) when it would pass the harness's fallback limit. */
static void op_alloc(uint32_t size) {
    uint32_t queued = M.out[VB_OUT_QUEUED];
    uint64_t qerr_before = M.queue_errors;
    model_drain_queue();
    int32_t err;
    uint32_t grow_into = 0;
    int where = expect_alloc(size, &err, &grow_into);
    trace("alloc(%u) -> %s %d", size,
          (const char *[]){"arena", "grow", "fallback", "error", "adopt"}[where], err);
    if (where == OUT_FALLBACK && M.nfb >= MAX_FB) {
        uint64_t bad = M.queue_errors - qerr_before;
        if (queued) EXPECT_RC(vb_pool_flush(M.pool), (int32_t)bad);
        post_checks();
        return;
    }
    /* The pool grows its fallback slot table before it looks at the size
     * (a refused alloc(4294967295) grows it too), but makes the remote-free
     * links only for an allocation it served (fb_linked). */
    if (where == OUT_FALLBACK && M.nfb == M.fb_nslots) M.fb_nslots = M.fb_nslots ? M.fb_nslots * 2 : 16;
    if (where == OUT_FALLBACK && !err) M.fb_linked = 1;
    if (where == OUT_GROW || where == OUT_FALLBACK) M.nunmapped = 0; /* see verify_unmapped */

    int32_t h = vb_pool_alloc(M.pool, size);
    trace("  = %d (arena %u, grow into %u)", h, h >= 0 ? h_arena(h) : 0, grow_into);
    if (M.out[VB_OUT_QUEUED] != 0) fail("alloc left %u queued frees", M.out[VB_OUT_QUEUED]);
    if (M.out[VB_OUT_QUEUE_ERRORS] != M.queue_errors)
        fail("queue errors %u, expected %llu", M.out[VB_OUT_QUEUE_ERRORS], (unsigned long long)M.queue_errors);
    if (err) {
        EXPECT_RC(h, err);
        if (err == VB_ENOMEM) M.failed_allocs++;
        post_checks();
        return;
    }
    accept_alloc(h, size, where, grow_into, M.out[VB_OUT_CAPACITY], (int32_t)M.out[VB_OUT_BUF_INDEX], 1);
    post_checks();
}

/* The model side of an alloc the pool served with handle h (where the model
 * said: arena, grow, fallback); fills the buffer with its pattern unless
 * `fill_it` is 0 (a batch the pool gave back again).  Returns its slot. */
static int32_t accept_alloc(int32_t h, uint32_t size, int where, uint32_t grow_into, uint32_t cap, int32_t bufidx,
                            int fill_it) {
    if (h < 0) fail("alloc(%u) refused with %d (%s); the model expected %s", size, h, vb_strerror(h),
                    where == OUT_FALLBACK ? "a fallback buffer" : "room in an arena");
    if (where == OUT_GROW) {
        if (grow_into == M.narenas) M.narenas++;
        M.live_arenas++;
        M.grows++;
        M.epoch++;
        if (fill_it) {
            model_map_arena(grow_into);
        } else { /* given back at once: with VB_FLAG_RELEASE_EMPTY_ARENAS already unmapped */
            marena *G = &M.ar[grow_into];
            memset(G, 0, sizeof *G);
            G->live = 1;
            G->base = vb_pool_region_base(M.pool, grow_into);
            G->size = (uint64_t)M.npages * PAGE;
        }
    }
    int32_t slot = new_slot();
    mbuf *b = &M.live[slot];
    *b = (mbuf){.used = 1, .handle = h, .cap = cap, .ptr = fill_it ? vb_pool_ptr(M.pool, h) : 0,
                .arena = h_arena(h), .page = h_page(h), .seed = fill_it ? ++M.seeds : 0};
    if (!fill_it) /* given back already: its address from the region */
        b->ptr = b->arena == FB_ARENA ? (uint8_t *)PAGE
                                      : (uint8_t *)((uintptr_t)vb_pool_region_base(M.pool, b->arena) +
                                                    (uintptr_t)b->page * PAGE);
    if (bufidx != -1) fail("unregistered pool gave buf index %d", bufidx);
    if (fill_it && vb_pool_capacity(M.pool, h) != b->cap)
        fail("handle %d: capacity %u, out says %u", h, vb_pool_capacity(M.pool, h), b->cap);
    if (fill_it && (!b->ptr || (uintptr_t)b->ptr % PAGE)) fail("handle %d: address %p", h, (void *)b->ptr);

    if (where == OUT_FALLBACK) {
        if (b->arena != FB_ARENA) fail("alloc(%u): handle %d, expected a fallback buffer", size, h);
        if (b->cap != round_page(size)) fail("fallback alloc(%u): capacity %u", size, b->cap);
        uint32_t same = 0;
        for (uint32_t i = 0; i < MAX_LIVE; i++)
            same += M.live[i].used && M.live[i].arena == FB_ARENA && M.live[i].page == b->page;
        if (b->page >= M.fb_nslots || same != 1)
            fail("fallback slot %u: beyond %u slots or in use", b->page, M.fb_nslots);
        M.nfb++;
        M.fb_bytes += b->cap;
    } else {
        if (b->arena == FB_ARENA) fail("alloc(%u): fallback handle %d, expected an arena", size, h);
        if (b->arena >= M.narenas) fail("alloc(%u): handle %d names arena %u of %u", size, h, b->arena, M.narenas);
        if (where == OUT_ADOPT) {
            if (b->arena != grow_into || !arena_fits(&M.ar[b->arena], size))
                fail("alloc(%u): handle %d from arena %u, expected the returned shared arena %u", size, h, b->arena,
                     grow_into);
            M.ar[b->arena].shared = 0; /* the owner's growth now */
            M.shared_arenas--;
        } else if (where == OUT_GROW ? b->arena != grow_into
                                     : M.ar[b->arena].who != WHO_MAIN || !arena_fits(&M.ar[b->arena], size))
            fail("alloc(%u): handle %d from arena %u, which %s", size, h, b->arena,
                 where == OUT_GROW ? "is not the new one" : "had no room (or is not mapped)");
        claim_block(b, size, slot);
    }
    M.nlive++;
    M.allocs++;
    if (fill_it) fill(b);
    return slot;
}

/* A checked free (by handle or by address). */
static void op_free(int32_t h, const uint8_t *ptr, int by_ptr) {
    int32_t slot;
    int32_t named = h;
    int32_t want = by_ptr ? expect_free_ptr(ptr, &slot, &named) : expect_free(h, &slot);
    if (want == PUSHED) want = do_push(named);
    else if (want == 0) model_release(slot);
    trace("free%s(%d / %p) -> %d", by_ptr ? "_ptr" : "", h, (const void *)ptr, want);
    int32_t rc = by_ptr ? vb_pool_free_ptr(M.pool, ptr) : vb_pool_free(M.pool, h);
    if (rc != want)
        fail("free%s(%d / %p) returned %d (%s), expected %d (%s)", by_ptr ? "_ptr" : "", h,
             (const void *)ptr, rc, vb_strerror(rc), want, vb_strerror(want));
    post_checks();
}

/* --- audit after every operation --------------------------------------------------- */

/* A buffer the owner thread sees (its arenas and fallback buffers). */
static int owner_sees(const mbuf *b) { return b->arena == FB_ARENA || M.ar[b->arena].who == WHO_MAIN; }

static void audit(void) {
    model_owner_drain();  /* vb_pool_check drains the remote lists first, */
    model_drain_queue();  /* then flushes */
    int32_t rc = vb_pool_check(M.pool);
    post_checks();
    if (M.queue_errors) {
        /* Refused deferred frees are reported by the check; a binding that
         * has seen them clears the count. */
        if (rc != VB_ECORRUPT || !strstr(vb_pool_last_error(M.pool), "deferred frees"))
            fail("check after %llu refused deferred frees: %d \"%s\"", (unsigned long long)M.queue_errors,
                 rc, vb_pool_last_error(M.pool));
        /* Reported once: the check moves the count to VB_STAT_QUEUE_ERRORS. */
        if (M.out[VB_OUT_QUEUE_ERRORS] != 0)
            fail("queue errors %u left after the check reported them", M.out[VB_OUT_QUEUE_ERRORS]);
        M.queue_errors_total += M.queue_errors;
        M.queue_errors = 0;
        rc = vb_pool_check(M.pool);
    }
    if (rc != 0) fail("vb_pool_check: %d: %s", rc, vb_pool_last_error(M.pool));
    if (M.out[VB_OUT_QUEUED]) fail("check left %u queued", M.out[VB_OUT_QUEUED]);
    if (M.out[VB_OUT_ARENA_EPOCH] != M.epoch)
        fail("arena epoch %u, expected %llu", M.out[VB_OUT_ARENA_EPOCH], (unsigned long long)M.epoch);

    model_owner_drain(); /* stats drain too: what the check's flush pushed into reservations */
    double s[VB_STAT_LEN];
    vb_pool_stats(M.pool, s);
    double want[VB_STAT_LEN] = {0};
    /* The owner's figures cover its own arenas (views' are theirs). */
    uint64_t in_arenas = 0, capacity = 0, seen = 0, main_arenas = 0;
    for (uint32_t i = 0; i < MAX_LIVE; i++)
        if (M.live[i].used && owner_sees(&M.live[i])) {
            seen++;
            if (M.live[i].arena != FB_ARENA) in_arenas += M.live[i].cap;
        }
    for (uint32_t a = 0; a < M.narenas; a++)
        if (M.ar[a].live && M.ar[a].who == WHO_MAIN) capacity += M.ar[a].size, main_arenas++;
    uint64_t allocs = M.allocs + M.view_allocs;
    want[VB_STAT_LIVE_BUFFERS] = (double)seen;
    want[VB_STAT_BYTES_IN_USE] = (double)(in_arenas + M.fb_bytes);
    want[VB_STAT_CAPACITY_BYTES] = (double)capacity;
    want[VB_STAT_FREE_BYTES] = (double)(capacity - in_arenas);
    want[VB_STAT_CACHED_BUFFERS] = s[VB_STAT_CACHED_BUFFERS]; /* not modelled; bounded below */
    want[VB_STAT_LARGEST_FREE] = (double)model_largest_free();
    want[VB_STAT_FALLBACK_BUFFERS] = M.nfb;
    want[VB_STAT_FALLBACK_BYTES] = (double)M.fb_bytes;
    want[VB_STAT_ALLOCS] = (double)allocs;
    want[VB_STAT_FREES] = allocs >= seen ? (double)(allocs - seen) : 0;
    want[VB_STAT_FAILED_ALLOCS] = (double)M.failed_allocs;
    want[VB_STAT_ARENAS] = M.live_arenas;
    want[VB_STAT_CLASSES] = VB_FUZZ_HYBRID ? M.nclasses : 0;
    want[VB_STAT_MAX_ARENAS] = M.max_arenas;
    want[VB_STAT_GROWS] = (double)M.grows;
    want[VB_STAT_QUEUE_ERRORS] = (double)(M.queue_errors_total + M.queue_errors);
    want[VB_STAT_ATTACHED] = M.nviews;
    want[VB_STAT_REMOTE_ERRORS] = (double)M.remote_errors;
    if (M.flags & VB_FLAG_HUGE_PAGES) { /* hugetlbfs or THP: either, for every arena */
        want[VB_STAT_HUGE_ARENAS] = s[VB_STAT_HUGE_ARENAS];
        want[VB_STAT_THP_ARENAS] = (double)main_arenas - s[VB_STAT_HUGE_ARENAS];
    }
    for (int i = 0; i < VB_STAT_LEN; i++)
        if (s[i] != want[i]) fail("stat %d is %.0f, expected %.0f", i, s[i], want[i]);
    double max_cached = VB_FUZZ_HYBRID ? 0 : (double)M.cache_depth * M.cached_orders * (double)main_arenas;
    if (s[VB_STAT_CACHED_BUFFERS] > max_cached)
        fail("%.0f cached buffers, at most %.0f", s[VB_STAT_CACHED_BUFFERS], max_cached);

    if (vb_pool_region_count(M.pool) != M.narenas)
        fail("%u regions, expected %u", vb_pool_region_count(M.pool), M.narenas);
    for (uint32_t a = 0; a < M.narenas; a++) {
        void *base = vb_pool_region_base(M.pool, a);
        uint64_t size = vb_pool_region_size(M.pool, a);
        if (M.ar[a].live ? (base != M.ar[a].base || size != M.ar[a].size) : (base || size))
            fail("region %u: %p %llu, expected %p %llu", a, base, (unsigned long long)size,
                 M.ar[a].live ? (void *)M.ar[a].base : 0, M.ar[a].live ? (unsigned long long)M.ar[a].size : 0);
        if (vb_pool_region_reg_index(M.pool, a) != -1) fail("region %u registered", a);
    }
    if (vb_pool_region_base(M.pool, M.narenas) || vb_pool_region_size(M.pool, M.narenas) ||
        vb_pool_region_reg_index(M.pool, M.narenas) != -1)
        fail("region %u past the last one", M.narenas);

    double cs[VB_CLASS_STAT_LEN];
    if (VB_FUZZ_HYBRID) {
        for (uint32_t c = 0; c < M.nclasses; c++) {
            EXPECT_RC(vb_pool_class_stats(M.pool, c, cs), 0);
            double free_blocks = 0;
            for (uint32_t a = 0; a < M.narenas; a++)
                if (M.ar[a].live && M.ar[a].who == WHO_MAIN) free_blocks += M.cls_count[c] - M.ar[a].class_live[c];
            if (cs[VB_CLASS_STAT_SIZE] != M.cls_pages[c] * PAGE ||
                cs[VB_CLASS_STAT_TOTAL] != (double)M.cls_count[c] * (double)main_arenas ||
                cs[VB_CLASS_STAT_FREE] != free_blocks)
                fail("class %u stats %.0f %.0f %.0f", c, cs[0], cs[1], cs[2]);
        }
    }
    EXPECT_RC(vb_pool_class_stats(M.pool, VB_FUZZ_HYBRID ? M.nclasses : 0, cs), VB_EINVAL);

    for (uint32_t i = 0; i < MAX_LIVE; i++) {
        const mbuf *b = &M.live[i];
        if (!b->used) continue;
        verify(b, "audit");
        if (!owner_sees(b)) { /* a view's: not the owner's to read */
            if (vb_pool_ptr(M.pool, b->handle) || vb_pool_capacity(M.pool, b->handle))
                fail("the owner reads view buffer %d", b->handle);
            continue;
        }
        if (vb_pool_ptr(M.pool, b->handle) != b->ptr || vb_pool_capacity(M.pool, b->handle) != b->cap)
            fail("live handle %d: ptr %p cap %u", b->handle, vb_pool_ptr(M.pool, b->handle),
                 vb_pool_capacity(M.pool, b->handle));
    }
}

/* --- choosing things from the input ---------------------------------------------------- */

static mbuf *pick_live(reader *r, int arena_only) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < MAX_LIVE; i++) n += M.live[i].used && !(arena_only && M.live[i].arena == FB_ARENA);
    if (!n) return 0;
    uint32_t k = rd16(r) % n;
    for (uint32_t i = 0; i < MAX_LIVE; i++)
        if (M.live[i].used && !(arena_only && M.live[i].arena == FB_ARENA) && k-- == 0) return &M.live[i];
    return 0;
}

static uint32_t pick_arena(reader *r) { return M.narenas ? rd8(r) % M.narenas : 0; }

/* Sizes: zero, tiny, page and block boundaries, class sizes, the largest
 * request and one more, huge values.  Hybrid sizes above the largest class
 * stay below 1 MiB (real fallback allocations) unless they are refused
 * anyway (capacity past INT32_MAX). */
static uint32_t pick_size(reader *r) {
    static const uint32_t huge[] = {0xFFFFFFFFu, 0x80000000u, 0x7FFFF001u, 0xFFFFF000u, 0xFFFFF001u, 0x80001000u};
    uint32_t t = rd8(r), delta = (uint32_t)(rd8(r) % 3) - 1u, s;
    switch (t % 10) {
    case 0: return 0;
    case 1: return 1 + rd8(r);
    case 2: return (rd8(r) % 70) * PAGE + delta;
    case 3: s = 1 + rd16(r) * 16u; break;
    case 4: return huge[rd8(r) % (sizeof huge / sizeof huge[0])];
    case 5: return (uint32_t)M.max_request + delta;
    case 6:
        if (VB_FUZZ_HYBRID) return M.cls_pages[rd8(r) % M.nclasses] * PAGE + delta;
        return (PAGE << (rd8(r) % (M.max_order + 2))) + delta;
    case 7: s = rd32(r); break;
    default: return 1 + rd8(r) * 64u;
    }
    if (VB_FUZZ_HYBRID && s > (1u << 20) && s <= 0x7FFFF000u) s &= (1u << 20) - 1;
    return s;
}

/* Handles of every kind: live ones, freed ones (maybe handed out again),
 * pages inside live buffers, past an arena's end, arenas that do not exist,
 * fallback slots, negative values, another pool's handles, raw bits. */
static int32_t pick_handle(reader *r) {
    mbuf *b;
    switch (rd8(r) % 11) {
    case 0:
        if ((b = pick_live(r, 0))) return b->handle;
        /* fall through */
    case 1: return M.nold ? M.old_handle[rd8(r) % (M.nold < HISTORY ? M.nold : HISTORY)] : 0;
    case 2:
        if ((b = pick_live(r, 1))) return b->handle + 1 + (int32_t)(rd8(r) % buf_pages(b));
        return 1;
    case 3: return mk_handle(pick_arena(r), M.npages + rd8(r));
    case 4: return mk_handle(M.narenas + rd8(r) % 16, rd8(r));
    case 5: return mk_handle(FB_ARENA, rd8(r) % (M.fb_nslots + 4));
    case 6: return rd8(r) & 1 ? INT32_MIN : -1 - (int32_t)rd8(r);
    case 7: return M.foreign_h[rd8(r) & 1];
    case 8: return mk_handle(pick_arena(r), VB_HANDLE_PAGE_MASK - rd8(r) % 2);
    case 9: return mk_handle(pick_arena(r), rd16(r) % (M.npages + 2));
    default: return (int32_t)rd32(r);
    }
}

/* Pointers: live buffers and places inside them, freed ones, another pool's,
 * NULL, the stack, the heap, just outside an arena. */
static const uint8_t *pick_ptr(reader *r, const uint8_t *stack) {
    mbuf *b;
    uint32_t a;
    switch (rd8(r) % 10) {
    case 0:
        if ((b = pick_live(r, 0))) return b->ptr;
        /* fall through */
    case 1:
        if ((b = pick_live(r, 0))) return b->ptr + (1 + rd16(r) * 7u % (b->cap - 1));
        return 0;
    case 9: /* its last byte, or one past its end */
        if ((b = pick_live(r, 0))) return b->ptr + b->cap - (rd8(r) & 1);
        return 0;
    case 2: return M.nold ? M.old_ptr[rd8(r) % (M.nold < HISTORY ? M.nold : HISTORY)] + (rd8(r) & 1 ? 0 : rd8(r)) : 0;
    case 3: return M.foreign_ptr[rd8(r) & 1] + (rd8(r) & 1 ? 0 : 4096 * (rd8(r) % 3));
    case 4: return 0;
    case 5: return stack;
    case 6: return M.heap + rd8(r) % 64;
    case 7:
        a = pick_arena(r);
        if (!M.ar[a].live) return (const uint8_t *)(uintptr_t)PAGE;
        switch (rd8(r) % 4) {
        case 0: return M.ar[a].base + M.ar[a].size;
        case 1: return (const uint8_t *)((uintptr_t)M.ar[a].base - PAGE);
        case 2: return (const uint8_t *)((uintptr_t)M.ar[a].base - 1);
        default: return M.ar[a].base + M.ar[a].size - 1;
        }
    default: return (const uint8_t *)(uintptr_t)rd32(r);
    }
}

/* --- configurations ------------------------------------------------------------------- */

static uint32_t config_flags(reader *r) {
    uint8_t f = rd8(r);
    uint32_t flags = 0;
    if (f & 1) flags |= VB_FLAG_FALLBACK_ON_EXHAUSTED;
    if (f & 2) flags |= VB_FLAG_RELEASE_EMPTY_ARENAS;
    if (f & 4) flags |= VB_FLAG_POISON;
    if ((f & 0x38) == 0x38) flags |= VB_FLAG_HUGE_PAGES; /* 1 in 8: a 2 MiB mapping each */
    else if ((f & 0x38) == 0x30) flags |= VB_FLAG_POPULATE;
    M.max_arenas = 1 + (f >> 6); /* 1..4; set_max_arenas goes up to MAX_ARENAS */
    return flags;
}

static void create_pool(reader *r) {
    if (VB_FUZZ_HYBRID) {
        uint32_t sizes[MAX_CLASSES], counts[MAX_CLASSES], pages = 0, prev = 0;
        M.nclasses = 1 + rd8(r) % MAX_CLASSES;
        for (uint32_t c = 0; c < M.nclasses; c++) {
            uint8_t b = rd8(r);
            M.cls_pages[c] = prev + 1 + (b & 3); /* ascending, 1..16 pages */
            M.cls_count[c] = 1 + (b >> 2) % 8;
            prev = M.cls_pages[c];
            sizes[c] = M.cls_pages[c] * PAGE;
            counts[c] = M.cls_count[c];
            for (uint32_t i = 0; i < M.cls_count[c]; i++)
                for (uint32_t k = 0; k < M.cls_pages[c]; k++) M.layout[pages++] = k ? INSIDE : (uint8_t)c;
        }
        M.npages = pages;
        M.max_request = (uint64_t)prev * PAGE;
        M.flags = config_flags(r);
        EXPECT_RC(vb_hybrid_create(sizes, counts, M.nclasses, M.flags, &M.pool), 0);
    } else {
        static const uint32_t depths[] = {0, 1, 2, 3, 4, 7, 16, 64};
        M.npages = 1 + rd8(r) % 64;
        uint8_t b = rd8(r);
        M.cache_depth = depths[b & 7];
        M.cached_orders = b >> 5; /* 0..7 */
        M.max_order = 0;
        while ((2u << M.max_order) <= M.npages) M.max_order++;
        if (M.cached_orders > M.max_order + 1) M.cached_orders = M.max_order + 1;
        M.max_request = (uint64_t)PAGE << M.max_order;
        M.flags = config_flags(r);
        EXPECT_RC(vb_buddy_create((uint64_t)M.npages * PAGE, M.cache_depth, b >> 5, M.flags, &M.pool), 0);
    }
    M.out = vb_pool_out(M.pool);
    M.narenas = M.live_arenas = 1;
    model_map_arena(0);
    if (M.max_arenas > 1) EXPECT_RC(vb_pool_set_max_arenas(M.pool, M.max_arenas), 0);
    if (strcmp(vb_pool_kind(M.pool), VB_FUZZ_HYBRID ? "hybrid" : "buddy"))
        fail("kind %s", vb_pool_kind(M.pool));
}

/* A pool of a configuration taken raw from the input: created exactly when
 * the configuration is valid, then one alloc, free and check. */
static void op_create_raw(reader *r) {
    vb_pool *p = 0;
    int32_t want = 0, rc;
    uint32_t first = PAGE;
    if (VB_FUZZ_HYBRID) {
        uint32_t sizes[18], counts[18], n = rd8(r) % 18;
        uint64_t pages = 0;
        for (uint32_t i = 0; i < n; i++) {
            switch (rd8(r) % 5) {
            case 0: sizes[i] = rd32(r); break;
            case 1: sizes[i] = (1u << 30) + PAGE * (rd8(r) % 2); break;
            default: sizes[i] = (i ? sizes[i - 1] : 0) + PAGE * (rd8(r) % 4); break;
            }
            counts[i] = rd8(r) % 4 == 0 ? rd32(r) : rd8(r) % 5;
        }
        if (n == 0 || n > 16) want = VB_EINVAL;
        for (uint32_t i = 0; i < n && !want; i++) {
            if (!sizes[i] || sizes[i] % PAGE || sizes[i] > (1u << 30) || (i && sizes[i] <= sizes[i - 1]) || !counts[i])
                want = VB_EINVAL;
            pages += (uint64_t)counts[i] * (sizes[i] / PAGE);
        }
        if (!want && pages > (1ull << 30) / PAGE) want = VB_ERANGE; /* in pages: no wrap */
        if (!want) first = sizes[0];
        rc = vb_hybrid_create(sizes, counts, n, rd8(r) & VB_FLAG_FALLBACK_ON_EXHAUSTED, &p);
        trace("hybrid_create(%u classes) -> %d", n, rc);
    } else {
        static const uint64_t sizes[] = {0, 1, 4095, 4097, VB_MAX_ARENA_SIZE, (uint64_t)VB_MAX_ARENA_SIZE + PAGE,
                                         1ull << 40, UINT64_MAX, UINT64_MAX - PAGE + 1};
        static const uint32_t depths[] = {0, 1, 65535, 65536, 65537, UINT32_MAX, 1u << 31};
        uint64_t size = rd8(r) & 1 ? sizes[rd8(r) % (sizeof sizes / sizeof sizes[0])] : (uint64_t)rd16(r) * PAGE;
        uint32_t depth = rd8(r) & 1 ? depths[rd8(r) % (sizeof depths / sizeof depths[0])] : rd8(r);
        uint32_t orders = rd8(r) % 24;
        if (rd8(r) == 0xFF) orders = UINT32_MAX;
        if (!size || size % PAGE || size > VB_MAX_ARENA_SIZE || orders > 19 || depth > 65536) want = VB_EINVAL;
        rc = vb_buddy_create(size, depth, orders, 0, &p);
        trace("buddy_create(%llu, %u, %u) -> %d", (unsigned long long)size, depth, orders, rc);
    }
    EXPECT_RC(VB_FUZZ_HYBRID ? vb_hybrid_create(0, 0, 1, 0, &p) : vb_buddy_create(PAGE, 0, 0, 0, 0), VB_EINVAL);
    if (rc != want) fail("create returned %d (%s), expected %d (%s)", rc, vb_strerror(rc), want, vb_strerror(want));
    if (rc) return;
    int32_t h = vb_pool_alloc(p, first);
    if (h < 0 || vb_pool_out(p)[VB_OUT_CAPACITY] != first) fail("first alloc of a raw pool: %d", h);
    memset(vb_pool_ptr(p, h), 0x5A, first);
    EXPECT_RC(vb_pool_check(p), 0);
    EXPECT_RC(vb_pool_destroy(p), VB_EBUSY);
    EXPECT_RC(vb_pool_free(p, h), 0);
    EXPECT_RC(vb_pool_check(p), 0);
    EXPECT_RC(vb_pool_destroy(p), 0);
}

/* --- operations ----------------------------------------------------------------------- */

/* Queues handles in the out array as a binding would, then ends the way
 * the input says: an alloc, a flush, stats, or nothing (the audit's check
 * flushes).  A queued handle stays live until then. */
static void op_queue(reader *r) {
    uint32_t n = 1 + rd8(r) % 8;
    for (uint32_t i = 0; i < n && M.out[VB_OUT_QUEUED] < VB_OUT_QUEUE_CAP; i++) {
        mbuf *b = rd8(r) % 4 ? pick_live(r, 0) : 0;
        M.out[VB_OUT_QUEUE + M.out[VB_OUT_QUEUED]++] = (uint32_t)(b ? b->handle : pick_handle(r));
    }
    uint32_t end = rd8(r) % 4;
    trace("queue %u, then %s", M.out[VB_OUT_QUEUED], (const char *[]){"alloc", "flush", "stats", "-"}[end]);
    if (end == 0) {
        op_alloc(pick_size(r));
    } else if (end == 1) {
        uint32_t bad = model_drain_queue();
        EXPECT_RC(vb_pool_flush(M.pool), (int32_t)bad);
        post_checks();
    } else if (end == 2) {
        double s[VB_STAT_LEN];
        model_drain_queue();
        vb_pool_stats(M.pool, s);
        post_checks();
        uint32_t seen = 0;
        for (uint32_t i = 0; i < MAX_LIVE; i++) seen += M.live[i].used && owner_sees(&M.live[i]);
        if (s[VB_STAT_LIVE_BUFFERS] != seen) fail("stats: %.0f live, expected %u", s[0], seen);
    }
}

/* A binding that wrote a queue count past the capacity: the pool frees the
 * whole queue (whatever the slots hold) and counts one more refusal. */
static void op_queue_overflow(reader *r) {
    M.out[VB_OUT_QUEUED] = VB_OUT_QUEUE_CAP + 1 + (rd8(r) % 2 ? rd8(r) : rd32(r) % (UINT32_MAX - VB_OUT_QUEUE_CAP));
    trace("queue count %u", M.out[VB_OUT_QUEUED]);
    if (rd8(r) & 1) {
        op_alloc(pick_size(r));
    } else {
        uint32_t bad = model_drain_queue();
        EXPECT_RC(vb_pool_flush(M.pool), (int32_t)bad);
        post_checks();
    }
}

static void op_set_max_arenas(reader *r) {
    uint32_t n = rd8(r) % (MAX_GROW + 2);
    if (n == MAX_GROW + 1) n = rd8(r) & 1 ? VB_MAX_ARENAS + 1 : UINT32_MAX;
    int32_t want = n == 0 || n > VB_MAX_ARENAS || n < M.live_arenas - M.shared_arenas ? VB_EINVAL : 0;
    trace("set_max_arenas(%u) -> %d", n, want);
    EXPECT_RC(vb_pool_set_max_arenas(M.pool, n), want);
    if (!want) M.max_arenas = n;
}

static void op_query(reader *r) {
    int32_t h = pick_handle(r), slot;
    int live = expect_free(h, &slot) == 0; /* PUSHED: a view's, the owner reads nothing */
    void *ptr = vb_pool_ptr(M.pool, h);
    uint32_t cap = vb_pool_capacity(M.pool, h);
    if (live ? (ptr != M.live[slot].ptr || cap != M.live[slot].cap) : (ptr || cap))
        fail("query handle %d: %p %u, expected %s", h, ptr, cap, live ? "its buffer" : "nothing");
    uint32_t idx = rd8(r) & 1 ? M.narenas + rd8(r) : UINT32_MAX - rd8(r);
    if (vb_pool_region_base(M.pool, idx) || vb_pool_region_size(M.pool, idx) ||
        vb_pool_region_reg_index(M.pool, idx) != -1)
        fail("region %u exists", idx);
    double cs[VB_CLASS_STAT_LEN];
    EXPECT_RC(vb_pool_class_stats(M.pool, VB_FUZZ_HYBRID ? M.nclasses + rd8(r) : rd32(r), cs), VB_EINVAL);
}

/* vb_pool_destroy refuses (and changes nothing) while buffers are live; it
 * flushes the queue first, like everything else. */
static void op_destroy_busy(void) {
    uint32_t bad = model_drain_queue();
    EXPECT_RC(vb_pool_flush(M.pool), (int32_t)bad);
    post_checks();
    if (M.nviews) EXPECT_RC(vb_pool_destroy(M.pool), VB_EATTACHED);
    else if (M.nlive) EXPECT_RC(vb_pool_destroy(M.pool), VB_EBUSY);
}

/* --- shares and views (all in this thread; the threads are in
 * csrc/tests/test_shared_stress.c) ------------------------------------------ */

/* vb_pool_share: an empty arena an earlier share made (the owner's now)
 * first, else a new one in the first free slot from 1. */
static void op_share(void) {
    uint32_t i, reuse = 0;
    for (i = 1; i < M.narenas; i++)
        if (M.ar[i].live && M.ar[i].shared && M.ar[i].who == WHO_MAIN && M.ar[i].nlive == 0) break;
    if (i < M.narenas) {
        reuse = 1;
    } else {
        if (M.shared_arenas >= MAX_SHARED) return;
        for (i = 1; i < M.narenas && M.ar[i].live; i++) {}
        if (i >= MAX_ARENAS) return;
    }
    trace("share -> arena %u (%s)", i, reuse ? "reused" : "new");
    if (!reuse) M.nunmapped = 0; /* a new mapping may take an old address */
    uint32_t out[2];
    EXPECT_RC(vb_pool_share(M.pool, out), 0);
    if ((out[0] & VB_SHARE_ARENA_MASK) != i || out[0] == M.res[i] || !(out[0] >> VB_SHARE_GEN_SHIFT) ||
        out[1] != vb_pool_token(M.pool))
        fail("share gave (%#x, %u), expected arena %u, a new reservation", out[0], out[1], i);
    M.res[i] = out[0];
    if (!reuse) {
        if (i == M.narenas) M.narenas++;
        M.live_arenas++;
        M.shared_arenas++;
        model_map_arena(i);
        M.ar[i].shared = 1;
        M.ar[i].mapped = 0; /* mapped at its view's first alloc */
    }
    M.ar[i].who = WHO_RESERVED;
    M.epoch++;
    post_checks();
}

static uint32_t pick_reserved(reader *r) {
    uint32_t n = 0, k;
    for (uint32_t a = 0; a < M.narenas; a++) n += M.ar[a].live && M.ar[a].who == WHO_RESERVED;
    if (!n) return pick_arena(r);
    k = rd8(r) % n;
    for (uint32_t a = 0; a < M.narenas; a++)
        if (M.ar[a].live && M.ar[a].who == WHO_RESERVED && k-- == 0) return a;
    return 0;
}

/* The handle to name arena a with: its latest reservation's (a bare arena
 * number, generation 0, when it never had one: no reservation's). */
static uint32_t res_of(uint32_t a) { return a < VB_MAX_ARENAS && M.res[a] ? M.res[a] : a; }

static void op_unshare(reader *r) {
    uint32_t a = rd8(r) % 4 ? pick_reserved(r) : rd8(r) % (M.narenas + 2);
    int who = a < M.narenas && M.ar[a].live ? M.ar[a].who : WHO_MAIN;
    int32_t want = a == 0 || a >= M.narenas || who == WHO_MAIN ? VB_EINVAL : who == WHO_RESERVED ? 0 : VB_EBUSY;
    trace("unshare(%u) -> %d", a, want);
    EXPECT_RC(vb_pool_unshare(M.pool, res_of(a)), want);
    if (want) return;
    resolve_pending(a, 1); /* frees into it named nothing */
    M.ar[a].who = WHO_MAIN;
    M.epoch++;
    /* Empty by construction; never mapped (no view came): dropped in any case. */
    if (!M.ar[a].mapped || (M.flags & VB_FLAG_RELEASE_EMPTY_ARENAS)) model_release_arena(a);
    post_checks();
}

static int free_view_slot(void) {
    for (uint32_t k = 0; k < MAX_VIEWS; k++)
        if (!M.view[k].v) return (int)k;
    return -1;
}

static void op_attach(reader *r) {
    uint32_t a = pick_reserved(r), token = vb_pool_token(M.pool);
    switch (rd8(r) % 6) {
    case 0: token ^= 1u << (rd8(r) % 32); break;
    case 1: a = 0, (void)rd8(r); break;
    case 2: a = pick_arena(r); break;
    default: break;
    }
    int k = free_view_slot();
    int who = a < M.narenas && M.ar[a].live ? M.ar[a].who : WHO_MAIN;
    int stale = rd8(r) % 8 == 0; /* a handle of an earlier reservation of the slot */
    int32_t want = a == 0 || a >= VB_MAX_ARENAS                       ? VB_EINVAL
                   : stale && token == vb_pool_token(M.pool)          ? VB_ESTALE
                   : token != vb_pool_token(M.pool)                   ? VB_ESTALE
                   : who == WHO_RESERVED                              ? 0
                   : who > 0 || who == WHO_RETURNED                    ? VB_EBUSY
                                                                      : VB_ESTALE;
    if (want == 0 && k < 0) return; /* no room for another view in the model */
    trace("attach(%u, %#x) -> %d", a, token, want);
    vb_view *v = 0;
    uint32_t h = res_of(a);
    if (stale) h = (h & VB_SHARE_ARENA_MASK) | ((h >> VB_SHARE_GEN_SHIFT) - 1) << VB_SHARE_GEN_SHIFT;
    EXPECT_RC(vb_view_attach(M.pool, h, token, &v), want);
    if (want) {
        if (v) fail("a refused attach gave a view");
        return;
    }
    M.view[k].v = v;
    M.view[k].arena = a;
    M.view[k].out = vb_view_out(v);
    M.view[k].allocs = M.view[k].queue_errors = 0;
    M.ar[a].who = k + 1;
    M.nviews++;
    resolve_pending(a, 1); /* the view takes its list at attach: all bad */
    if (vb_view_arena(v) != a || vb_view_base(v) != M.ar[a].base || vb_view_size(v) != M.ar[a].size ||
        vb_view_reg(v) != -1)
        fail("view of arena %u reads arena %u base %p size %llu reg %d", a, vb_view_arena(v), vb_view_base(v),
             (unsigned long long)vb_view_size(v), vb_view_reg(v));
}

/* A view's free: its own arena as its owner, any other one pushed. */
static int32_t expect_view_free(uint32_t k, int32_t h) {
    if (h >= 0 && h_arena(h) == M.view[k].arena) {
        int32_t slot, e = expect_local(h, &slot);
        if (e == 0) model_release(slot);
        return e;
    }
    return do_push(h);
}

/* vb_view_flush: its queue, then its arena's remote list.  Returns the
 * queue's refusals. */
static uint32_t model_view_flush(uint32_t k) {
    uint32_t *out = M.view[k].out, n = out[VB_OUT_QUEUED], bad = 0;
    if (n > VB_OUT_QUEUE_CAP) n = VB_OUT_QUEUE_CAP, bad++;
    for (uint32_t i = 0; i < n; i++) bad += expect_view_free(k, (int32_t)out[VB_OUT_QUEUE + i]) != 0;
    resolve_pending(M.view[k].arena, 0);
    M.view[k].queue_errors += bad;
    return bad;
}

static uint32_t view_live(uint32_t k) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < MAX_LIVE; i++) n += M.live[i].used && M.live[i].arena == M.view[k].arena;
    return n;
}

static void op_view_alloc(uint32_t k, uint32_t size) {
    marena *A = &M.ar[M.view[k].arena];
    uint32_t *out = M.view[k].out;
    if (out[VB_OUT_QUEUED]) model_view_flush(k);
    int32_t want = 0;
    if (size == 0) want = VB_EINVAL;
    else if (size > M.max_request) want = VB_ERANGE;
    else if (!arena_fits(A, size) && (resolve_pending(M.view[k].arena, 0) == 0 || !arena_fits(A, size)))
        want = VB_ENOMEM;
    int32_t h = vb_view_alloc(M.view[k].v, size);
    trace("view %u alloc(%u) -> %d, got %d", k, size, want, h);
    if (out[VB_OUT_QUEUED]) fail("view alloc left %u queued", out[VB_OUT_QUEUED]);
    if (out[VB_OUT_QUEUE_ERRORS] != M.view[k].queue_errors) fail("view queue errors %u", out[VB_OUT_QUEUE_ERRORS]);
    if (want) {
        EXPECT_RC(h, want);
        post_checks();
        return;
    }
    if (h < 0 || h_arena(h) != M.view[k].arena) fail("view alloc(%u) gave %d", size, h);
    if ((int32_t)out[VB_OUT_BUF_INDEX] != -1) fail("view buf index %d", (int32_t)out[VB_OUT_BUF_INDEX]);
    int32_t slot = new_slot();
    mbuf *b = &M.live[slot];
    *b = (mbuf){.used = 1, .handle = h, .cap = out[VB_OUT_CAPACITY], .ptr = A->base + (size_t)h_page(h) * PAGE,
                .arena = h_arena(h), .page = h_page(h), .seed = ++M.seeds};
    claim_block(b, size, slot);
    A->mapped = 1;
    M.nlive++;
    M.view[k].allocs++;
    fill(b);
    post_checks();
}

static void op_view(reader *r) {
    uint32_t k = rd8(r) % MAX_VIEWS;
    if (!M.view[k].v) return;
    vb_view *v = M.view[k].v;
    uint32_t *out = M.view[k].out, sub = rd8(r) % 8;
    mbuf *b;
    int32_t h, want;
    switch (sub) {
    case 0: case 1: op_view_alloc(k, pick_size(r) % (2 * (uint32_t)M.max_request + 2)); break;
    case 2: /* any live buffer: its own locally, others pushed */
    case 3:
        if (!(b = pick_live(r, 0))) break;
        h = b->handle;
        if (sub == 3) h = pick_handle(r);
        want = expect_view_free(k, h);
        trace("view %u free(%d) -> %d", k, h, want);
        EXPECT_RC(vb_view_free(v, h), want);
        post_checks();
        break;
    case 4: { /* its queue, then a flush */
        uint32_t n = 1 + rd8(r) % 8;
        for (uint32_t i = 0; i < n && out[VB_OUT_QUEUED] < VB_OUT_QUEUE_CAP; i++) {
            b = rd8(r) % 4 ? pick_live(r, 0) : 0;
            out[VB_OUT_QUEUE + out[VB_OUT_QUEUED]++] = (uint32_t)(b ? b->handle : pick_handle(r));
        }
        if (rd8(r) % 2) {
            op_view_alloc(k, pick_size(r) % (2 * (uint32_t)M.max_request + 2));
        } else {
            uint32_t bad = model_view_flush(k);
            trace("view %u flush -> %u", k, bad);
            EXPECT_RC(vb_view_flush(v), (int32_t)bad);
            if (out[VB_OUT_QUEUED] || out[VB_OUT_QUEUE_ERRORS] != M.view[k].queue_errors) fail("view flush state");
            post_checks();
        }
        break;
    }
    case 5:
        model_view_flush(k);
        if (vb_view_live(v) != view_live(k)) fail("view %u: %u live, expected %u", k, vb_view_live(v), view_live(k));
        post_checks();
        break;
    default: /* detach: the arena goes back to the owner (taken over at its next drain) */
        model_view_flush(k);
        trace("view %u detach", k);
        EXPECT_RC(vb_view_detach(v), 0);
        M.ar[M.view[k].arena].who = WHO_RETURNED;
        M.view_allocs += M.view[k].allocs;
        M.view[k].v = 0;
        M.nviews--;
        post_checks();
        break;
    }
}

/* vb_pool_alloc_many: n allocs, all or none (the ones it got are freed
 * again when one fails). */
static void op_alloc_many(reader *r) {
    uint32_t size = pick_size(r), n = rd8(r) % 9;
    if (M.nfb + n > MAX_FB || M.nlive + n + 1 >= MAX_LIVE) return;
    int32_t out[3 * 8];
    uint32_t queued = M.out[VB_OUT_QUEUED];
    (void)queued;
    model_drain_queue(); /* the first alloc flushes */
    trace("alloc_many(%u, %u)", size, n);
    int32_t rc = vb_pool_alloc_many(M.pool, size, n, out);
    int32_t slots[8];
    for (uint32_t i = 0; i < n; i++) {
        int32_t err;
        uint32_t grow_into = 0;
        int where = expect_alloc(size, &err, &grow_into);
        /* As op_alloc: the slot table grows even for an alloc it then refuses. */
        if (where == OUT_FALLBACK && M.nfb == M.fb_nslots) M.fb_nslots = M.fb_nslots ? M.fb_nslots * 2 : 16;
        if (where == OUT_FALLBACK && !err) M.fb_linked = 1;
        if (where == OUT_GROW || where == OUT_FALLBACK) M.nunmapped = 0;
        if (err) {
            if (rc != err) fail("alloc_many(%u, %u) = %d, expected %d at buffer %u", size, n, rc, err, i);
            if (err == VB_ENOMEM) M.failed_allocs++;
            /* Given back, last first, as the pool frees them (an alloc
             * and a free each: ALLOCS counts them). */
            while (i--) model_release(slots[i]);
            post_checks();
            return;
        }
        if (rc >= 0 && rc != (int32_t)n) fail("alloc_many(%u, %u) = %d", size, n, rc);
        /* When the batch failed later, out[] still names what it had got. */
        slots[i] = accept_alloc(out[3 * i], size, where, grow_into, (uint32_t)out[3 * i + 2], out[3 * i + 1], rc >= 0);
    }
    if (rc != (int32_t)n) fail("alloc_many(%u, %u) = %d, expected %u", size, n, rc, n);
    if (M.out[VB_OUT_QUEUED]) fail("alloc_many left the queue");
    post_checks();
}

static void run_op(reader *r, const uint8_t *stack) {
    mbuf *b;
    uint8_t op = rd8(r);
    if (op == 0xFF) {
        M.opname = "create raw";
        op_create_raw(r);
        return;
    }
    switch (op % 22) {
    case 0: case 1: case 2: case 3:
        M.opname = "alloc";
        op_alloc(pick_size(r));
        break;
    case 4: case 5:
        M.opname = "free";
        if ((b = pick_live(r, 0))) op_free(b->handle, 0, 0);
        break;
    case 6:
        M.opname = "free_ptr";
        if ((b = pick_live(r, 0))) op_free(0, b->ptr, 1);
        break;
    case 7: M.opname = "bad free"; op_free(pick_handle(r), 0, 0); break;
    case 8: M.opname = "bad free_ptr"; op_free(0, pick_ptr(r, stack), 1); break;
    case 9: case 10: M.opname = "queue"; op_queue(r); break;
    case 11: M.opname = "queue overflow"; op_queue_overflow(r); break;
    case 12: M.opname = "set_max_arenas"; op_set_max_arenas(r); break;
    case 13: M.opname = "query"; op_query(r); break;
    case 14: M.opname = "destroy busy"; op_destroy_busy(); break;
    case 15: M.opname = "free then flush"; if ((b = pick_live(r, 0))) op_free(b->handle, 0, 0); break;
    case 16: M.opname = "share"; op_share(); break;
    case 17: M.opname = "unshare"; op_unshare(r); break;
    case 18: M.opname = "attach"; op_attach(r); break;
    case 19: case 20: M.opname = "view"; op_view(r); break;
    default: M.opname = "alloc_many"; op_alloc_many(r); break;
    }
}

/* Everything freed: every page of every arena must be allocatable again
 * one page at a time (blocks merged back, caches drained), then the pool
 * is destroyed and its arenas unmapped. */
static void finish(void) {
    M.opname = "finish";
    /* Views free their own buffers and detach; reservations are cancelled. */
    for (uint32_t k = 0; k < MAX_VIEWS; k++) {
        if (!M.view[k].v) continue;
        for (uint32_t i = 0; i < MAX_LIVE; i++)
            if (M.live[i].used && M.live[i].arena == M.view[k].arena) {
                int32_t h = M.live[i].handle, want = expect_view_free(k, h); /* the model first: it verifies */
                EXPECT_RC(vb_view_free(M.view[k].v, h), want);
            }
        model_view_flush(k);
        EXPECT_RC(vb_view_detach(M.view[k].v), 0);
        M.ar[M.view[k].arena].who = WHO_RETURNED;
        M.view_allocs += M.view[k].allocs;
        M.view[k].v = 0;
        M.nviews--;
        audit();
    }
    for (uint32_t a = 1; a < M.narenas; a++)
        if (M.ar[a].live && M.ar[a].who == WHO_RESERVED) {
            EXPECT_RC(vb_pool_unshare(M.pool, res_of(a)), 0);
            resolve_pending(a, 1);
            M.ar[a].who = WHO_MAIN;
            M.epoch++;
            if (!M.ar[a].mapped || (M.flags & VB_FLAG_RELEASE_EMPTY_ARENAS)) model_release_arena(a);
            audit();
        }
    for (uint32_t i = 0; i < MAX_LIVE; i++)
        if (M.live[i].used) op_free(M.live[i].handle, 0, 0);
    audit();
    uint32_t total = 0, first = VB_FUZZ_HYBRID ? M.cls_pages[0] * PAGE : 1;
    if (!VB_FUZZ_HYBRID)
        for (uint32_t a = 0; a < M.narenas; a++) total += M.ar[a].live ? M.npages : 0;
    else
        for (uint32_t a = 0; a < M.narenas; a++) total += M.ar[a].live ? M.cls_count[0] : 0;
    /* The model expects these from the arenas there are (growth only when
     * none has room).  The owner serves from arenas views gave back only
     * as growth: room for all of them. */
    EXPECT_RC(vb_pool_set_max_arenas(M.pool, M.live_arenas), 0);
    M.max_arenas = M.live_arenas;
    for (uint32_t i = 0; i < total; i++) op_alloc(first);
    audit();
    if (M.nlive - M.nfb != total) fail("only %u of %u blocks allocatable after all were freed", M.nlive - M.nfb, total);
    for (uint32_t i = 0; i < MAX_LIVE; i++)
        if (M.live[i].used) op_free(M.live[i].handle, 0, 0);
    audit();
    uint8_t *bases[MAX_ARENAS];
    uint32_t nb = 0;
    for (uint32_t a = 0; a < M.narenas; a++)
        if (M.ar[a].live) bases[nb++] = M.ar[a].base;
    EXPECT_RC(vb_pool_destroy(M.pool), 0);
    M.pool = 0;
    for (uint32_t i = 0; i < nb; i++) verify_unmapped(bases[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t stack_byte = 0;
    reader r = {data, size};
    memset(&M, 0, sizeof M);
    M.trace = getenv("VB_FUZZ_TRACE") != 0;
    uint32_t pools_before = vb_live_pools();

    /* Another pool, for foreign handles and pointers. */
    EXPECT_RC(vb_buddy_create(16 * PAGE, 2, 3, 0, &M.foreign), 0);
    M.foreign_h[0] = vb_pool_alloc(M.foreign, PAGE);
    M.foreign_h[1] = vb_pool_alloc(M.foreign, 4 * PAGE);
    M.foreign_ptr[0] = vb_pool_ptr(M.foreign, M.foreign_h[0]);
    M.foreign_ptr[1] = vb_pool_ptr(M.foreign, M.foreign_h[1]);
    M.heap = malloc(64);
    if (!M.heap || !M.foreign_ptr[0] || !M.foreign_ptr[1]) fail("setup");

    create_pool(&r);
    audit();
    while (r.n && M.op < MAX_OPS) {
        run_op(&r, &stack_byte);
        audit();
        M.op++;
    }
    finish();

    EXPECT_RC(vb_pool_free(M.foreign, M.foreign_h[0]), 0);
    EXPECT_RC(vb_pool_free(M.foreign, M.foreign_h[1]), 0);
    EXPECT_RC(vb_pool_destroy(M.foreign), 0);
    free(M.heap);
    if (vb_live_pools() != pools_before) fail("%u pools left", vb_live_pools() - pools_before);
    return 0;
}

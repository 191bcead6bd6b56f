/*
 * pool.c - the type-erased pool (the seed's AnyBufPool / BufPool).
 *
 * A vb_pool dispatches to its backing allocators through a vtable, turns
 * their page numbers into handles, serves fallback buffers, keeps the
 * counters, and stamps each buffer with its registered index.  It never
 * knows how a backing pool splits memory.
 *
 * Growth: a pool owns up to max_arenas arenas, each a backing pool of the
 * same shape (vtable `clone`).  Allocation tries the arena that served last
 * (`cur`), then the others, then maps a new arena, which registered.c
 * registers in a free slot of the ring's table without touching the others.
 * A handle names its arena, so frees go straight to the right one.
 */
#include "pool_internal.h"

#include "arena.h"
#include "buddy.h"
#include "hybrid.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Atomic uint32_t live_pools;

uint32_t vb_live_pools(void) { return atomic_load_explicit(&live_pools, memory_order_relaxed); }

int32_t vb_corrupt(char *msg, size_t msg_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_len, fmt, ap);
    va_end(ap);
    return VB_ECORRUPT;
}

static inline uint32_t handle_arena(int32_t h) { return (uint32_t)h >> VB_HANDLE_PAGE_BITS; }
static inline uint32_t handle_page(int32_t h) { return (uint32_t)h & VB_HANDLE_PAGE_MASK; }
static inline int32_t make_handle(uint32_t arena, uint32_t page) {
    return (int32_t)((arena << VB_HANDLE_PAGE_BITS) | page);
}

/* Fills an arena slot from a fresh backing pool.  Its owner stays NONE:
 * the caller stores it last, with release, so another thread that reads it
 * (acquire) sees a complete slot. */
void vb_slot_fill(vb_pool *p, uint32_t i, void *backing) {
    vb_arena_slot *s = &p->arenas[i];
    void *base;
    s->backing = backing;
    p->vt->region(backing, &base, &s->size);
    s->base = base;
    s->reg_index = -1;
    s->reg_count = 0;
    atomic_store_explicit(&s->view_reg, -1, memory_order_relaxed);
    atomic_store_explicit(&s->mapped, p->vt->arena(backing)->mode != VB_ARENA_RESERVED, memory_order_relaxed);
}

/* Undoes vb_slot_fill (and anything published since): nothing of the arena
 * stays visible. */
void vb_slot_clear(vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    if (s->backing) p->vt->destroy(s->backing);
    atomic_store_explicit(&s->owner, VB_OWNER_NONE, memory_order_release);
    s->backing = 0;
    s->base = 0;
    s->size = 0;
    s->reg_index = -1;
    s->reg_count = 0;
    atomic_store_explicit(&s->view_reg, -1, memory_order_relaxed);
    atomic_store_explicit(&s->mapped, 0, memory_order_relaxed);
    vb_slot_discard_remote(p, i); /* frees that raced its return named nothing [item 8] */
}

static inline uint32_t owner_of(const vb_pool *p, uint32_t i) {
    return atomic_load_explicit(&p->arenas[i].owner, memory_order_acquire);
}

/* Arenas this (the creating) thread may touch: only its own.  A reserved
 * arena can be attached at any moment, a view's or a returned one is
 * another thread's until taken over (shared.c). [item 2] */
static inline int main_may_touch(const vb_pool *p, uint32_t i) { return owner_of(p, i) == VB_OWNER_MAIN; }

void vb_pool_set_cur(vb_pool *p, uint32_t i) {
    p->cur_arena = i;
    p->cur = p->arenas[i].backing;
    p->cur_reg = p->arenas[i].reg_index;
}
#define set_cur vb_pool_set_cur

int32_t vb_pool_wrap(const vb_backing_vtable *vt, void *backing, uint32_t flags, vb_pool **out) {
    vb_pool *p = calloc(1, sizeof *p);
    vb_arena_slot *slots = calloc(VB_MAX_ARENAS, sizeof *slots);
    if (!p || !slots) {
        free(p);
        free(slots);
        vt->destroy(backing);
        return VB_ENOMEM;
    }
    p->vt = vt;
    p->flags = flags;
    p->arenas = slots;
    pthread_mutex_init(&p->reg_lock, 0);
    p->narenas = 1;
    p->live_arenas = 1;
    p->max_arenas = 1;
    vb_slot_fill(p, 0, backing);
    if (vb_slot_links(p, 0) != 0) {
        vt->destroy(backing);
        pthread_mutex_destroy(&p->reg_lock);
        free(slots);
        free(p);
        return VB_ENOMEM;
    }
    atomic_store_explicit(&p->arenas[0].owner, VB_OWNER_MAIN, memory_order_release);
    p->arena0 = backing;
    set_cur(p, 0);
    p->out[VB_OUT_BUF_INDEX] = (uint32_t)-1;
    vb_pool_list(p);
    atomic_fetch_add_explicit(&live_pools, 1, memory_order_relaxed);
    *out = p;
    return 0;
}

int32_t vb_buddy_create(uint64_t arena_size, uint32_t cache_depth, uint32_t cached_orders,
                        uint32_t flags, vb_pool **out) {
    if (!out) return VB_EINVAL;
    const vb_backing_vtable *vt;
    void *backing;
    flags &= ~VB_ARENA_RESERVE_ONLY; /* internal: a pool's arenas are mapped */
    int32_t rc = vb_buddy_new(arena_size, cache_depth, cached_orders, flags, &vt, &backing);
    return rc ? rc : vb_pool_wrap(vt, backing, flags, out);
}

int32_t vb_hybrid_create(const uint32_t *sizes, const uint32_t *counts, uint32_t nclasses,
                         uint32_t flags, vb_pool **out) {
    if (!out) return VB_EINVAL;
    const vb_backing_vtable *vt;
    void *backing;
    flags &= ~VB_ARENA_RESERVE_ONLY;
    int32_t rc = vb_hybrid_new(sizes, counts, nclasses, flags, &vt, &backing);
    return rc ? rc : vb_pool_wrap(vt, backing, flags, out);
}

int32_t vb_pool_set_max_arenas(vb_pool *p, uint32_t max_arenas) {
    if (!p || max_arenas == 0 || max_arenas > VB_MAX_ARENAS || max_arenas < p->live_arenas - p->shared_arenas)
        return VB_EINVAL;
    p->max_arenas = max_arenas;
    return 0;
}

/* Live buffers: counted by the backing pools and the fallback table, so
 * the hot path keeps no count of its own. */
static uint64_t pool_live(vb_pool *p) {
    uint64_t live = p->fallback.live;
    for (uint32_t i = 0; i < p->narenas; i++)
        if (p->arenas[i].backing && main_may_touch(p, i)) live += p->vt->live(p->arenas[i].backing);
    return live;
}

/*
 * Destroy decides under the share lock, from its first check to unlisting
 * the pool (shared.c has the whole argument): while it holds the lock no
 * view attaches or detaches, so attached == 0 means every view that ever
 * existed has detached and its arena reads RETURNED; the drain takes those
 * over, and their live buffers count like any other.  An attach after the
 * unlisting finds no pool (VB_ESTALE). [items 1, 9]
 */
/* Destroys the pool; `abandoned`: its thread ended (thread_exit.c), so the
 * buffers still live are held by nobody who could use them: no refusal for
 * them (still VB_EATTACHED while another thread has the pool attached). */
static int32_t destroy(vb_pool *p, int abandoned);

int32_t vb_pool_destroy(vb_pool *p) { return destroy(p, 0); }

int32_t vb_pool_destroy_abandoned(vb_pool *p) { return destroy(p, 1); }

static int32_t destroy(vb_pool *p, int abandoned) {
    if (!p) return VB_EINVAL;
    vb_share_lock();
    uint32_t attached = atomic_load_explicit(&p->attached, memory_order_relaxed);
    if (attached) {
        vb_share_unlock();
        snprintf(p->msg, sizeof p->msg, "pool is attached in %u other threads", attached);
        return VB_EATTACHED;
    }
    vb_pool_drain_remote_locked(p);
    vb_pool_flush_queue(p);
    uint64_t live = pool_live(p);
    /* Not on the count alone: after the drain every arena must read the
     * owner's or a pending reservation's (whose buffers count too: no view
     * can attach while we hold the lock).  One a view still holds means
     * the count is wrong, and unmapping it would pull memory from under
     * that view. [review 12 D1] */
    for (uint32_t i = 1; i < p->narenas; i++) {
        vb_arena_slot *s = &p->arenas[i];
        uint32_t o = owner_of(p, i);
        if (!s->backing || o == VB_OWNER_MAIN || o == VB_OWNER_NONE) continue;
        if (o != VB_OWNER_RESERVED) {
            vb_share_unlock();
            snprintf(p->msg, sizeof p->msg, "pool: arena %u is held by another thread (owner %u) with %u attached",
                     i, o, attached);
            return VB_EATTACHED;
        }
        live += p->vt->live(s->backing);
    }
    if (live && !abandoned) {
        vb_share_unlock();
        snprintf(p->msg, sizeof p->msg, "pool has %llu live buffers", (unsigned long long)live);
        return VB_EBUSY;
    }
    vb_pool_unlist_locked(p);
    vb_share_unlock();
    vb_pool_unregister(p);
    for (uint32_t i = 0; i < p->narenas; i++)
        if (p->arenas[i].backing) p->vt->destroy(p->arenas[i].backing);
    vb_fallback_destroy(&p->fallback);
    vb_pool_free_links(p);
    /* No view is left to take it (attached == 0, decided under the share
     * lock) and vb_pool_unregister above let it go. */
    pthread_mutex_destroy(&p->reg_lock);
    free(p->arenas);
    free(p);
    atomic_fetch_sub_explicit(&live_pools, 1, memory_order_relaxed);
    return 0;
}

/* --- arenas coming and going ----------------------------------------------- */

/* Maps one more arena of the pool's shape (and registers it when the pool
 * is registered).  Returns its index, or an error. */
static int32_t grow(vb_pool *p) {
    uint32_t i = 0;
    while (i < p->narenas && p->arenas[i].backing) i++; /* reuse a returned slot */
    if (i >= VB_MAX_ARENAS) return VB_ENOMEM;
    int32_t rc = vb_slot_links(p, i);
    if (rc) return rc;
    void *backing;
    rc = p->vt->clone(p->arenas[0].backing, p->flags, &backing);
    if (rc) return rc;
    vb_slot_discard_remote(p, i); /* pushes that raced the slot's last return */
    vb_slot_fill(p, i, backing);
    if (p->registration && (rc = vb_registration_add_arena(p, i)) != 0) {
        vb_slot_clear(p, i);
        return rc;
    }
    atomic_store_explicit(&p->arenas[i].owner, VB_OWNER_MAIN, memory_order_release);
    if (i == p->narenas) p->narenas++;
    p->live_arenas++;
    p->grows++;
    p->out[VB_OUT_ARENA_EPOCH]++; /* bindings re-read the regions */
    return (int32_t)i;
}

/* With VB_FLAG_RELEASE_EMPTY_ARENAS: unmaps an extra arena nobody uses. */
__attribute__((noinline)) static void maybe_release(vb_pool *p, uint32_t i) {
    if (owner_of(p, i) != VB_OWNER_MAIN || p->vt->live(p->arenas[i].backing) != 0) return;
    vb_pool_discard_arena(p, i); /* (a shared one was made for a view now gone) */
}

void vb_pool_discard_arena(vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    if (i == 0 || !s->backing) return;
    if (s->reg_index >= 0) vb_registration_remove_arena(p, i);
    vb_slot_clear(p, i);
    if (s->shared) {
        s->shared = 0;
        p->shared_arenas--;
    }
    p->live_arenas--;
    if (p->cur_arena == i) set_cur(p, 0);
    p->out[VB_OUT_ARENA_EPOCH]++;
}

void vb_pool_arena_empty(vb_pool *p, uint32_t i) {
    if (i != 0 && (p->flags & VB_FLAG_RELEASE_EMPTY_ARENAS) && p->arenas[i].backing) maybe_release(p, i);
}

/* --- hot path ------------------------------------------------------------- */

__attribute__((noinline)) static int32_t alloc_fallback(vb_pool *p, uint32_t size) {
    uint32_t cap;
    int32_t slot = vb_fallback_alloc(&p->fallback, size, &cap);
    if (slot < 0) return slot;
    /* Remote-free links for every slot there is, so that a free from
     * another thread never needs memory. */
    if (__builtin_expect(vb_fallback_links(p, p->fallback.nslots) != 0, 0)) {
        vb_fallback_free(&p->fallback, (uint32_t)slot);
        return VB_ENOMEM;
    }
    p->out[VB_OUT_CAPACITY] = cap;
    p->out[VB_OUT_BUF_INDEX] = (uint32_t)-1;
    p->allocs++;
    return make_handle(VB_HANDLE_FALLBACK_ARENA, (uint32_t)slot);
}

/* Checked mode: fills a live buffer with VB_POISON_BYTE before it is freed
 * (nothing happens for a handle that names no live buffer: the free that
 * follows reports it). */
__attribute__((noinline, cold)) static void poison(vb_pool *p, int32_t handle) {
    uint8_t *ptr = vb_pool_ptr(p, handle);
    if (ptr) memset(ptr, VB_POISON_BYTE, vb_pool_capacity(p, handle));
}

/* Frees one handle: the body of vb_pool_free, inlined into the queue drain. */
static inline int32_t pool_free(vb_pool *p, int32_t handle) {
    if (handle < 0) return VB_EFAULT;
    uint32_t arena = handle_arena(handle), page = handle_page(handle);
    int32_t cap;
    /* An arena this thread does not own (reserved, a view's, returned):
     * its owner frees it; never touch its state. */
    if (__builtin_expect(arena != 0 && arena < p->narenas, 0)) {
        uint32_t o = owner_of(p, arena);
        if (o != VB_OWNER_MAIN && o != VB_OWNER_NONE) return vb_remote_push(p, arena, handle);
    }
    if (__builtin_expect(p->flags & VB_FLAG_POISON, 0)) poison(p, handle);
    if (__builtin_expect(arena < p->narenas && p->arenas[arena].backing != 0, 1)) {
        cap = p->vt->free(p->arenas[arena].backing, page);
        if (__builtin_expect(arena != 0 && cap >= 0 && (p->flags & VB_FLAG_RELEASE_EMPTY_ARENAS), 0))
            maybe_release(p, arena);
    } else if (arena == VB_HANDLE_FALLBACK_ARENA) {
        cap = vb_fallback_free(&p->fallback, page);
    } else {
        return VB_EFAULT;
    }
    return cap < 0 ? cap : 0;
}

int32_t vb_pool_free(vb_pool *p, int32_t handle) { return pool_free(p, handle); }

/* The deferred-free queue alone. */
static inline int32_t flush_queue(vb_pool *p) {
    uint32_t n = p->out[VB_OUT_QUEUED], bad = 0;
    if (n > VB_OUT_QUEUE_CAP) n = VB_OUT_QUEUE_CAP, bad++;
    for (uint32_t i = 0; i < n; i++)
        if (pool_free(p, (int32_t)p->out[VB_OUT_QUEUE + i]) != 0) bad++;
    p->out[VB_OUT_QUEUED] = 0;
    if (__builtin_expect(bad != 0, 0)) p->out[VB_OUT_QUEUE_ERRORS] += bad;
    return (int32_t)bad;
}

/* Frees queued handles.  A refusal means the binding queued something that
 * was not live; the pool itself stays consistent (every free checks). */
__attribute__((noinline)) int32_t vb_pool_flush(vb_pool *p) {
    if (atomic_load_explicit(&p->main_pending, memory_order_relaxed)) vb_pool_drain_remote(p);
    return flush_queue(p);
}

int32_t vb_pool_flush_queue(vb_pool *p) { return flush_queue(p); }

/* Stamps a successful allocation from arena i. */
static inline int32_t served(vb_pool *p, uint32_t i, int32_t page, uint32_t cap, int32_t reg) {
    p->out[VB_OUT_CAPACITY] = cap;
    /* A registered arena is split into 1 GiB registrations and no block
     * straddles a 1 GiB line, so the index follows from the page.  Without
     * a branch: reg >> 31 is all ones exactly when unregistered (-1). */
    p->out[VB_OUT_BUF_INDEX] = (uint32_t)(reg + (page >> 18)) | (uint32_t)(reg >> 31);
    p->allocs++;
    return make_handle(i, (uint32_t)page);
}

/* The current arena said no (`rc`): other arenas, a new arena, then the
 * fallback policy. */
__attribute__((noinline)) static int32_t alloc_slow(vb_pool *p, uint32_t size, int32_t rc) {
    if (rc == VB_ENOMEM) {
        uint32_t cap;
        /* Buffers other threads gave back first: the pool is short. */
        if (vb_pool_drain_remote(p)) {
            int32_t page = p->vt->alloc(p->cur, size, &cap);
            if (page >= 0) return served(p, p->cur_arena, page, cap, p->cur_reg);
        }
        /* The owner's own arenas: not those shares made (a view gave them
         * back), which stay for the next shares.  Serving from one of those
         * would grow the owner past max_arenas and, keeping it non-empty,
         * make every later share map a new arena. [review 12 D3] */
        for (uint32_t i = 0; i < p->narenas; i++) {
            if (i == p->cur_arena || !p->arenas[i].backing || p->arenas[i].shared || owner_of(p, i) != VB_OWNER_MAIN)
                continue;
            int32_t page = p->vt->alloc(p->arenas[i].backing, size, &cap);
            if (page >= 0) {
                set_cur(p, i);
                return served(p, i, page, cap, p->cur_reg);
            }
        }
        if (p->live_arenas - p->shared_arenas < p->max_arenas) {
            /* Room to grow: adopt a shared arena a view gave back before
             * mapping a new one (it counts as growth from now on). */
            for (uint32_t i = 1; i < p->narenas; i++) {
                vb_arena_slot *s = &p->arenas[i];
                if (!s->shared || !s->backing || owner_of(p, i) != VB_OWNER_MAIN) continue;
                int32_t page = p->vt->alloc(s->backing, size, &cap);
                if (page >= 0) {
                    s->shared = 0;
                    p->shared_arenas--;
                    set_cur(p, i);
                    return served(p, i, page, cap, p->cur_reg);
                }
            }
            int32_t i = grow(p);
            if (i < 0 && i != VB_ENOMEM) return i; /* e.g. registration refused */
            if (i >= 0) {
                int32_t page = p->vt->alloc(p->arenas[i].backing, size, &cap);
                if (page >= 0) {
                    set_cur(p, (uint32_t)i);
                    return served(p, (uint32_t)i, page, cap, p->cur_reg);
                }
            }
        }
    }
    if ((rc == VB_ERANGE && p->vt->oversize_fallback) ||
        (rc == VB_ENOMEM && (p->flags & VB_FLAG_FALLBACK_ON_EXHAUSTED))) {
        int32_t h = alloc_fallback(p, size);
        if (h != VB_ENOMEM) return h;
        rc = h;
    }
    if (rc == VB_ENOMEM) p->failed_allocs++;
    return rc;
}

int32_t vb_pool_alloc(vb_pool *p, uint32_t size) {
    uint32_t queued = p->out[VB_OUT_QUEUED];
    if (__builtin_expect(queued != 0, 1)) {
        /* The usual case: the one buffer released since the last alloc,
         * from arena 0.  When it is what this request would get anyway (a
         * LIFO free list hands back the block just freed), it stays live
         * and is handed out again: one call into the backing pool instead
         * of a free and an alloc. */
        int32_t h = (int32_t)p->out[VB_OUT_QUEUE];
        if (queued == 1 && ((uint32_t)h >> VB_HANDLE_PAGE_BITS) == 0 && !(p->flags & VB_FLAG_POISON)) {
            p->out[VB_OUT_QUEUED] = 0;
            uint32_t cap;
            if (p->cur_arena == 0 && size != 0) {
                int32_t page = p->vt->reuse(p->arena0, (uint32_t)h, size, &cap);
                if (page >= 0) return served(p, 0, page, cap, p->cur_reg);
            }
            if (__builtin_expect(p->vt->free(p->arena0, (uint32_t)h) < 0, 0))
                p->out[VB_OUT_QUEUE_ERRORS]++;
        } else {
            vb_pool_flush(p);
        }
    }
    if (__builtin_expect(size == 0, 0)) return VB_EINVAL;
    uint32_t cap;
    int32_t page = p->vt->alloc(p->cur, size, &cap);
    if (__builtin_expect(page < 0, 0)) return alloc_slow(p, size, page);
    return served(p, p->cur_arena, page, cap, p->cur_reg);
}

int32_t vb_pool_alloc_many(vb_pool *p, uint32_t size, uint32_t n, int32_t *out) {
    if (!out || n > 0x7fffffffu) return VB_EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        int32_t h = vb_pool_alloc(p, size);
        if (h < 0) {
            while (i--) pool_free(p, out[3 * i]);
            return h;
        }
        /* Capacities may differ within a batch (a fallback buffer among
         * arena blocks): each is reported. */
        out[3 * i] = h;
        out[3 * i + 1] = (int32_t)p->out[VB_OUT_BUF_INDEX];
        out[3 * i + 2] = (int32_t)p->out[VB_OUT_CAPACITY];
    }
    return (int32_t)n;
}

/* --- by address ----------------------------------------------------------- */

/* The handle of the buffer starting at ptr, or an error. */
static int32_t handle_of(const vb_pool *p, const void *ptr) {
    const uint8_t *b = ptr;
    for (uint32_t i = 0; i < p->narenas; i++) {
        const vb_arena_slot *s = &p->arenas[i];
        if (!s->backing || b < s->base || b >= s->base + s->size) continue;
        uint64_t off = (uint64_t)(b - s->base);
        if (off % VB_PAGE_SIZE) return VB_EINTERIOR;
        return make_handle(i, (uint32_t)(off / VB_PAGE_SIZE));
    }
    int32_t slot = vb_fallback_find(&p->fallback, ptr);
    if (slot < 0) return slot;
    return make_handle(VB_HANDLE_FALLBACK_ARENA, (uint32_t)slot);
}

int32_t vb_pool_free_ptr(vb_pool *p, const void *ptr) {
    int32_t h = handle_of(p, ptr);
    return h < 0 ? h : vb_pool_free(p, h);
}

/* The arena slot a handle names, or NULL (also for another thread's arena:
 * its state is not ours to read). */
static const vb_arena_slot *slot_of(const vb_pool *p, int32_t handle) {
    uint32_t arena = handle_arena(handle);
    if (handle < 0 || arena >= p->narenas || !p->arenas[arena].backing || !main_may_touch(p, arena)) return 0;
    return &p->arenas[arena];
}

void *vb_pool_ptr(vb_pool *p, int32_t handle) {
    if (handle >= 0 && handle_arena(handle) == VB_HANDLE_FALLBACK_ARENA)
        return vb_fallback_ptr(&p->fallback, handle_page(handle));
    const vb_arena_slot *s = slot_of(p, handle);
    if (!s || !p->vt->capacity(s->backing, handle_page(handle))) return 0;
    return s->base + (uint64_t)handle_page(handle) * VB_PAGE_SIZE;
}

uint32_t vb_pool_capacity(vb_pool *p, int32_t handle) {
    if (handle >= 0 && handle_arena(handle) == VB_HANDLE_FALLBACK_ARENA) {
        uint32_t slot = handle_page(handle);
        return vb_fallback_ptr(&p->fallback, slot) ? p->fallback.slots[slot].capacity : 0;
    }
    const vb_arena_slot *s = slot_of(p, handle);
    return s ? p->vt->capacity(s->backing, handle_page(handle)) : 0;
}

uint32_t *vb_pool_out(vb_pool *p) { return p->out; }

/* --- regions, stats, check ------------------------------------------------ */

/* Regions are the arena slots by index; a returned arena reads as
 * (NULL, 0) so indexes stay those of the handles. */
uint32_t vb_pool_region_count(vb_pool *p) { return p ? p->narenas : 0; }

void *vb_pool_region_base(vb_pool *p, uint32_t index) {
    return index < p->narenas ? p->arenas[index].base : 0;
}

uint64_t vb_pool_region_size(vb_pool *p, uint32_t index) {
    return index < p->narenas ? p->arenas[index].size : 0;
}

int32_t vb_pool_region_reg_index(vb_pool *p, uint32_t index) {
    if (index >= p->narenas) return -1;
    /* A lazy share's indexes are only reserved until its view maps it:
     * nothing is registered there yet.  (Acquire: a snapshot; the view
     * may map it just after.) */
    const vb_arena_slot *s = &p->arenas[index];
    if (s->backing && !atomic_load_explicit(&s->mapped, memory_order_acquire)) return -1;
    return s->reg_index;
}

int32_t vb_pool_region_mapped(vb_pool *p, uint32_t index) {
    if (index >= p->narenas) return 0;
    /* Acquire, as vb_pool_region_reg_index: a view maps its arena from its
     * own thread (release store in shared.c view_map). */
    const vb_arena_slot *s = &p->arenas[index];
    return s->backing && atomic_load_explicit(&s->mapped, memory_order_acquire);
}

void vb_pool_stats(vb_pool *p, double *out) {
    vb_pool_drain_remote(p);
    vb_pool_flush(p);
    memset(out, 0, VB_STAT_LEN * sizeof *out);
    /* Arenas other threads own now are left out: their state is theirs.
     * One a view gave back counts in the bytes, but its blocks are no
     * "largest free" the owner can get unless it has room to adopt it. */
    int adopt = p->live_arenas - p->shared_arenas < p->max_arenas;
    for (uint32_t i = 0; i < p->narenas; i++) {
        if (!p->arenas[i].backing || !main_may_touch(p, i)) continue;
        double largest = out[VB_STAT_LARGEST_FREE];
        p->vt->stats(p->arenas[i].backing, out);
        if (p->arenas[i].shared && !adopt) out[VB_STAT_LARGEST_FREE] = largest;
    }
    /* Only what the hot path must count is counted there; the rest is
     * derived here. */
    uint64_t live = pool_live(p);
    out[VB_STAT_LIVE_BUFFERS] = (double)live;
    out[VB_STAT_BYTES_IN_USE] = out[VB_STAT_CAPACITY_BYTES] - out[VB_STAT_FREE_BYTES] +
                                (double)p->fallback.live_bytes;
    out[VB_STAT_FALLBACK_BUFFERS] = (double)p->fallback.live;
    out[VB_STAT_FALLBACK_BYTES] = (double)p->fallback.live_bytes;
    /* Views count their allocations and hand the count over on detach. */
    uint64_t allocs = p->allocs + atomic_load_explicit(&p->view_allocs, memory_order_relaxed);
    out[VB_STAT_ALLOCS] = (double)allocs;
    out[VB_STAT_FREES] = allocs >= live ? (double)(allocs - live) : 0;
    out[VB_STAT_FAILED_ALLOCS] = (double)p->failed_allocs;
    out[VB_STAT_ARENAS] = p->live_arenas;
    out[VB_STAT_MAX_ARENAS] = p->max_arenas;
    out[VB_STAT_GROWS] = (double)p->grows;
    out[VB_STAT_ATTACHED] = atomic_load_explicit(&p->attached, memory_order_relaxed);
    out[VB_STAT_REMOTE_ERRORS] = (double)atomic_load_explicit(&p->remote_errors, memory_order_relaxed);
    out[VB_STAT_QUEUE_ERRORS] = (double)(p->queue_errors + p->out[VB_OUT_QUEUE_ERRORS]);
}

int32_t vb_pool_class_stats(vb_pool *p, uint32_t cls, double *out) {
    double one[VB_CLASS_STAT_LEN];
    int32_t rc = p->vt->class_stats(p->arenas[0].backing, cls, out);
    if (rc) return rc;
    for (uint32_t i = 1; i < p->narenas; i++) { /* arenas share the shape */
        if (!p->arenas[i].backing || !main_may_touch(p, i)) continue;
        p->vt->class_stats(p->arenas[i].backing, cls, one);
        out[VB_CLASS_STAT_TOTAL] += one[VB_CLASS_STAT_TOTAL];
        out[VB_CLASS_STAT_FREE] += one[VB_CLASS_STAT_FREE];
    }
    return 0;
}

/* The share bookkeeping [review 12 D1]: every view-owned arena carries the
 * id of a view of that very arena, their number is `attached` (both change
 * together under the share lock, which we take: no attach or detach runs),
 * and the shared flags add up to shared_arenas.  A count that lies would
 * let destroy unmap a live view's arena. */
static int32_t check_shares(vb_pool *p) {
    uint32_t views = 0, shared = 0, bad = UINT32_MAX, bad_owner = 0;
    vb_share_lock();
    uint32_t attached = atomic_load_explicit(&p->attached, memory_order_relaxed);
    for (uint32_t i = 0; i < p->narenas; i++) {
        const vb_arena_slot *s = &p->arenas[i];
        uint32_t o = owner_of(p, i);
        if (s->backing && s->shared) shared++;
        if (o >= VB_OWNER_VIEW0) views++;
        int ok = i == 0 ? o == VB_OWNER_MAIN && !s->shared
                        : o < VB_OWNER_VIEW0 ? o <= VB_OWNER_RETURNED : o == VB_OWNER_VIEW0 + i && s->backing;
        if (!ok && bad == UINT32_MAX) bad = i, bad_owner = o;
    }
    vb_share_unlock();
    if (bad != UINT32_MAX)
        return vb_corrupt(p->msg, sizeof p->msg, "pool: arena %u has owner %u, which names no view of it", bad,
                          bad_owner);
    if (views != attached)
        return vb_corrupt(p->msg, sizeof p->msg, "pool: %u arenas held by views, %u views attached", views, attached);
    if (shared != p->shared_arenas)
        return vb_corrupt(p->msg, sizeof p->msg, "pool: %u shared arenas found, %u counted", shared, p->shared_arenas);
    return 0;
}

/* The first link of the owner's arenas (and of the fallback slots) that is
 * marked as waiting on a remote list, after a drain took the lists; 0 when
 * none is. */
static vb_rlink *queued_link(vb_pool *p, uint32_t *arena, uint32_t *page) {
    for (uint32_t i = 0; i < p->narenas; i++) {
        vb_arena_slot *s = &p->arenas[i];
        if (!s->backing || !s->links || !main_may_touch(p, i)) continue;
        for (uint32_t k = 0; k < s->nlinks; k++)
            if (atomic_load_explicit(&s->links[k].queued, memory_order_relaxed))
                return *arena = i, *page = k, &s->links[k];
    }
    uint32_t cap = atomic_load_explicit(&p->fb_links_cap, memory_order_acquire);
    for (uint32_t k = 0; k < cap; k++) {
        vb_rlink *l = &p->fb_links[k / VB_FB_LINK_CHUNK][k % VB_FB_LINK_CHUNK];
        if (atomic_load_explicit(&l->queued, memory_order_relaxed)) return *arena = VB_HANDLE_FALLBACK_ARENA, *page = k, l;
    }
    return 0;
}

/* A page marked queued but on no list makes every later release of it from
 * another thread a "double free": the buffer could never be freed there.
 * Right after the drain a mark can also be a push in flight (between its
 * mark and its CAS): those land within microseconds, so the check drains
 * again and gives a suspect up to 2 s before it calls it corrupt. */
static int32_t check_remote_marks(vb_pool *p) {
    struct timespec start, now, nap = {0, 1000000};
    uint32_t arena, page;
    if (!queued_link(p, &arena, &page)) return 0; /* the usual case: one scan */
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        nanosleep(&nap, 0);
        vb_pool_drain_remote(p);
        if (!queued_link(p, &arena, &page)) return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < 2);
    return vb_corrupt(p->msg, sizeof p->msg, "pool: page %u of arena %u is marked as waiting on a remote list, but is on none",
                      page, arena);
}

int32_t vb_pool_check(vb_pool *p) {
    p->msg[0] = 0;
    vb_pool_drain_remote(p);
    vb_pool_flush(p);
    if (p->out[VB_OUT_QUEUE_ERRORS]) {
        /* Reported once: the pool itself is intact (every refused free left
         * it unchanged); the count moves to VB_STAT_QUEUE_ERRORS. [item 12] */
        uint32_t n = p->out[VB_OUT_QUEUE_ERRORS];
        p->queue_errors += n;
        p->out[VB_OUT_QUEUE_ERRORS] = 0;
        return vb_corrupt(p->msg, sizeof p->msg, "pool: %u deferred frees named no live buffer", n);
    }
    int32_t frc = vb_fallback_check(&p->fallback, p->msg, sizeof p->msg);
    if (frc) return frc;
    uint32_t live_arenas = 0;
    for (uint32_t i = 0; i < p->narenas; i++) {
        const vb_arena_slot *s = &p->arenas[i];
        if (!s->backing) {
            if (i == 0) return vb_corrupt(p->msg, sizeof p->msg, "pool: arena 0 is gone");
            if (owner_of(p, i) != VB_OWNER_NONE)
                return vb_corrupt(p->msg, sizeof p->msg, "pool: empty arena %u has an owner", i);
            continue;
        }
        live_arenas++;
        if (!main_may_touch(p, i)) continue; /* another thread's, busy now */
        void *base;
        uint64_t size;
        p->vt->region(s->backing, &base, &size);
        if (base != s->base || size != s->size)
            return vb_corrupt(p->msg, sizeof p->msg, "pool: arena %u region does not match", i);
        if ((s->reg_index >= 0) != (p->registration != 0))
            return vb_corrupt(p->msg, sizeof p->msg, "pool: arena %u registration out of step", i);
        int32_t rc = p->vt->check(s->backing, p->msg, sizeof p->msg);
        if (rc) return rc;
    }
    if (live_arenas != p->live_arenas || p->live_arenas - p->shared_arenas > p->max_arenas)
        return vb_corrupt(p->msg, sizeof p->msg, "pool: %u arenas found, %u counted (max %u)",
                          live_arenas, p->live_arenas, p->max_arenas);
    if (p->cur_arena >= p->narenas || p->cur != p->arenas[p->cur_arena].backing || !p->cur ||
        p->cur_reg != p->arenas[p->cur_arena].reg_index || p->arenas[p->cur_arena].shared)
        return vb_corrupt(p->msg, sizeof p->msg, "pool: current arena %u is stale", p->cur_arena);
    int32_t rc = check_shares(p);
    return rc ? rc : check_remote_marks(p);
}

const char *vb_pool_last_error(vb_pool *p) { return p->msg; }

const char *vb_pool_kind(vb_pool *p) { return p->vt->kind; }

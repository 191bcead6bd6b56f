/*
 * shared.c - one pool used by several threads (Deno Workers).
 *
 * Every arena has exactly one owner thread, recorded in its slot: the
 * pool's creator (VB_OWNER_MAIN) or one view.  Only the owner touches the
 * arena's backing pool, so allocation and the owner's frees stay plain
 * single-threaded code with no lock and no atomic on the hot path.
 *
 * --- Remote frees: intrusive Treiber stacks ----------------------------------
 *
 * A thread that frees a buffer of an arena it does not own pushes the
 * buffer's first page on that arena's remote list.  The links live in a
 * side table of the slot (one vb_rlink per page, allocated when the slot is
 * first used and kept until the pool is destroyed), so a release never
 * allocates and can never fail for lack of memory.  The owner takes the
 * whole list with one atomic exchange and frees the pages as its own when
 * it runs short, flushes, or asks for stats (mimalloc's thread-delayed free,
 * the kernel's per-cpu lists).
 *
 *   push (any thread):  queued[x] 0 -> 1 by exchange (acquire); else the page
 *                       is already on a list: a double free, refused and
 *                       counted (a second push would overwrite next[x] of a
 *                       listed page and cut or loop the list);
 *                       next[x] = head; CAS head -> x (seq_cst), retried.
 *   take (owner only):  list = exchange(head, 0) (seq_cst); then for each
 *                       page: read next[x], THEN store queued[x] = 0
 *                       (release), then free the page.
 *
 * Why this is ABA-free: a push never reads a listed node; its CAS only
 * asks "is the head still the value I linked below me?".  If the head went
 * A -> 0 (the owner took the list) -> A (A pushed again), the CAS succeeds
 * and our node links to A, which IS the head now: the list is still exactly
 * the pages pushed and not yet taken.  Nothing is ever popped one at a time,
 * the only removal is the owner's exchange of the whole list, so no thread
 * can hold a stale "next" of a node that left the list.
 * Why next[x] is never raced: a pusher writes next[x] only after its
 * exchange on queued[x] read 0; the owner reads next[x] before its release
 * store of queued[x] = 0, which that exchange (acquire) synchronizes with.
 * The owner sees every node it takes fully written: the pusher's CAS
 * (release as part of seq_cst) is read by the owner's exchange.
 *
 * Telling the owner.  After a push into an arena the creating thread owns
 * (or will own: RETURNED), the pusher raises main_pending (seq_cst, skipped
 * when a seq_cst load already reads it raised).  The owner clears the flag
 * (seq_cst exchange) before it takes the lists.  All four operations are
 * seq_cst, so in their single total order either the clear comes after the
 * raise (then the take after it sees the push, which precedes the raise) or
 * before it (then the flag stays up and the next flush drains).  A push that
 * read VIEW in the owner field while the view detaches: the detach stores
 * RETURNED and then raises the flag, both after the push in the total order,
 * so the owner's take after clearing it sees the push.
 *
 * --- Shares, attach, detach, destroy: one lock ---------------------------------
 *
 * These are rare (once per Worker), so they take one process-wide mutex,
 * which also guards the registry of live pools.  The owner field changes
 * only as pool_internal.h lists; every change made by a thread other than
 * the owner (attach: RESERVED -> view, detach: view -> RETURNED) and every
 * owner change of a RESERVED slot (share, unshare) happens under the lock,
 * together with the `attached` count.  Hence, by construction:
 *
 *  - destroy holds the lock from its first check to unlisting the pool.  In
 *    that window no view can attach or detach, so `attached == 0` means no
 *    view exists and every view that ever existed has detached; its arena
 *    reads RETURNED, destroy takes it over and counts its live buffers (a
 *    buffer a view handed out and still lives elsewhere makes destroy
 *    VB_EBUSY).  An attach after destroy finds the pool unlisted
 *    (VB_ESTALE) without touching its memory.  [issue 12 items 1 and 9]
 *  - attach raises `attached` only when its owner change succeeded, under
 *    the lock, so destroy never sees a count for a view that does not
 *    exist.
 *  - the owner thread never touches a RESERVED, view-owned or RETURNED
 *    arena's backing pool (check, stats and frees skip or push); it takes a
 *    RETURNED arena over (RETURNED -> MAIN, a plain store: no other thread
 *    changes a RETURNED slot) and only then walks it.  The view's writes to
 *    its arena precede its detach (release), the owner's takeover reads the
 *    owner field (acquire) first.  [item 2]
 *  - a share handle is (reservation, pool token), the reservation being
 *    the arena and the slot's generation, bumped (under the lock) by every
 *    share of the slot: attach takes the arena only while it is RESERVED
 *    for that very generation; a cancelled or superseded reservation is
 *    VB_ESTALE, one taken already VB_EBUSY, and unshare cancels only the
 *    reservation it names.  [review 12 D2]
 *
 * A freed pool's memory is never read by attach: the pointer is compared
 * with the registry's entries first, under the lock.  (A pool freed and a new
 * one allocated at the same address has another random token.)
 *
 * --- Lazy shares: mapped at the view's first allocation ----------------------
 *
 * A share of a new slot makes a backing pool whose arena is address space
 * only (PROT_NONE: no memory, no pin, no commit charge) and, for a
 * registered pool, takes its indexes in every ring's table without
 * registering anything (registered.c, "Lazy shares").  The slot's fields
 * (backing, base, size, reg_index) are the owner's and final before the
 * slot is published, exactly as for an eager share; what changes later is
 * only (a) the arena's pages, made read/write by its view (the slot's only
 * user: the owner never touches a view's arena, and the view never touches
 * anyone else's), (b) the registration, done by the view under the pool's
 * reg_lock (registered.c has that argument; not the share lock, so a long
 * pin stalls no other pool), and (c) `mapped`, 0 -> 1, stored by the view
 * under reg_lock with release after (a) and (b).
 * `mapped` decides what the owner may do with the slot once it is its own
 * again: a RETURNED slot read (acquire) as never mapped is dropped at once
 * (its view's last write to it precedes its detach), as is a cancelled
 * reservation, so every MAIN slot is mapped and the owner's hot paths need
 * no check.  The owner's other reads of `mapped` (regions, registration
 * under the lock) are snapshots or locked.
 */
#include "pool_internal.h"

#include "arena.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct vb_view {
    uint32_t out[VB_OUT_LEN]; /* the view's own outputs and deferred frees */
    vb_pool *pool;
    void *backing; /* its arena's backing pool */
    vb_arena_slot *slot;
    uint8_t *base;
    uint32_t arena;
    uint32_t mapped; /* this thread's copy of slot->mapped (it alone sets it) */
    uint64_t allocs;
};

/* --- the lock and the registry of live pools ----------------------------------- */

static pthread_mutex_t share_lock = PTHREAD_MUTEX_INITIALIZER;
static vb_pool **registry;
static uint32_t registry_len, registry_cap;

void vb_share_lock(void) { pthread_mutex_lock(&share_lock); }
void vb_share_unlock(void) { pthread_mutex_unlock(&share_lock); }

void vb_pool_list(vb_pool *p) {
    uint32_t token = 0;
    if (getrandom(&token, sizeof token, 0) != sizeof token) token = (uint32_t)(uintptr_t)p;
    vb_share_lock();
    if (registry_len == registry_cap) {
        uint32_t cap = registry_cap ? registry_cap * 2 : 16;
        vb_pool **r = realloc(registry, cap * sizeof *r);
        if (r) registry = r, registry_cap = cap;
    }
    /* Out of memory for the registry: the pool works, but cannot be shared
     * (attach will not find it). */
    if (registry_len < registry_cap) registry[registry_len++] = p;
    if (!p->token) p->token = token | 1; /* never 0 */
    vb_share_unlock();
}

void vb_pool_unlist_locked(vb_pool *p) {
    for (uint32_t i = 0; i < registry_len; i++)
        if (registry[i] == p) {
            registry[i] = registry[--registry_len];
            break;
        }
}

static int listed_locked(const vb_pool *p) {
    for (uint32_t i = 0; i < registry_len; i++)
        if (registry[i] == p) return 1;
    return 0;
}

/* --- links (owner thread) ------------------------------------------------------- */

int32_t vb_slot_links(vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    if (s->links) return 0;
    /* Every arena has the pool's shape: arena 0's page count. */
    uint64_t pages = p->arenas[0].size / VB_PAGE_SIZE;
    s->links = calloc(pages, sizeof *s->links);
    if (!s->links) return VB_ENOMEM;
    s->nlinks = (uint32_t)pages; /* published with the owner field (release) */
    return 0;
}

int32_t vb_fallback_links(vb_pool *p, uint32_t n) {
    uint32_t have = atomic_load_explicit(&p->fb_links_cap, memory_order_relaxed);
    while (have < n) {
        vb_rlink *chunk = calloc(VB_FB_LINK_CHUNK, sizeof *chunk);
        if (!chunk) return VB_ENOMEM;
        p->fb_links[have / VB_FB_LINK_CHUNK] = chunk;
        have += VB_FB_LINK_CHUNK;
        /* Release: a pusher that reads the new cap (acquire) sees the chunk. */
        atomic_store_explicit(&p->fb_links_cap, have, memory_order_release);
    }
    return 0;
}

void vb_pool_free_links(vb_pool *p) {
    for (uint32_t i = 0; i < VB_MAX_ARENAS; i++) free(p->arenas[i].links);
    for (uint32_t c = 0; c < VB_FB_LINK_CHUNKS; c++) free(p->fb_links[c]);
}

static vb_rlink *fb_link(vb_pool *p, uint32_t slot) {
    return &p->fb_links[slot / VB_FB_LINK_CHUNK][slot % VB_FB_LINK_CHUNK];
}

/* --- remote frees ------------------------------------------------------------------ */

int32_t vb_remote_push(vb_pool *p, uint32_t arena, int32_t handle) {
    uint32_t page = (uint32_t)handle & VB_HANDLE_PAGE_MASK;
    vb_rlist *list;
    vb_rlink *link;
    int tell_main;
    if (arena == VB_HANDLE_FALLBACK_ARENA) {
        if (page >= atomic_load_explicit(&p->fb_links_cap, memory_order_acquire)) return VB_EFAULT;
        list = &p->fallback_remote;
        link = fb_link(p, page);
        tell_main = 1;
    } else {
        if (arena >= VB_MAX_ARENAS) return VB_EFAULT;
        vb_arena_slot *s = &p->arenas[arena];
        /* Acquire: the slot's links and size were written before it got an
         * owner.  Links outlive the arena, so a push that races the arena's
         * return writes only into memory that stays ours. */
        if (atomic_load_explicit(&s->owner, memory_order_acquire) == VB_OWNER_NONE || page >= s->nlinks)
            return VB_EFAULT;
        list = &s->remote;
        link = &s->links[page];
        tell_main = -1;
    }
    if (atomic_exchange_explicit(&link->queued, 1, memory_order_acquire)) {
        /* Already waiting on a list: a double free.  Refused to the caller,
         * who counts it (a deferred free as a queue error) or is told:
         * not also a remote error of the pool, or it counts twice. */
        return VB_EDOUBLEFREE;
    }
    uint32_t head = atomic_load_explicit(&list->head, memory_order_relaxed);
    do link->next = head;
    while (!atomic_compare_exchange_weak_explicit(&list->head, &head, page + 1, memory_order_seq_cst,
                                                  memory_order_relaxed));
    if (tell_main < 0) {
        uint32_t o = atomic_load_explicit(&p->arenas[arena].owner, memory_order_seq_cst);
        /* MAIN and RETURNED are the creating thread's to drain; a view polls
         * its own list; RESERVED is drained at attach or counted by the
         * owner under the lock. */
        tell_main = o == VB_OWNER_MAIN || o == VB_OWNER_RETURNED;
    }
    if (tell_main && !atomic_load_explicit(&p->main_pending, memory_order_seq_cst))
        atomic_store_explicit(&p->main_pending, 1, memory_order_seq_cst);
    return 0;
}

/* Takes a whole list and frees its pages with free_one(self, arena, page);
 * refusals are counted as the pool's remote errors.  Returns how many
 * buffers came back. */
static uint32_t drain_list(vb_pool *p, vb_rlist *list, uint32_t arena, vb_rlink *links,
                           int32_t (*free_one)(void *, int32_t), void *self) {
    if (!atomic_load_explicit(&list->head, memory_order_relaxed)) return 0;
    uint32_t x = atomic_exchange_explicit(&list->head, 0, memory_order_seq_cst), count = 0;
    uint64_t errors = 0;
    while (x) {
        uint32_t page = x - 1;
        vb_rlink *l = links ? &links[page] : fb_link(p, page);
        x = l->next; /* read before the page may be pushed again */
        atomic_store_explicit(&l->queued, 0, memory_order_release);
        if (free_one(self, (int32_t)(arena << VB_HANDLE_PAGE_BITS | page)) == 0) count++;
        else errors++;
    }
    if (errors) atomic_fetch_add_explicit(&p->remote_errors, errors, memory_order_relaxed);
    return count;
}

static int32_t count_as_error(void *self, int32_t handle) {
    (void)self, (void)handle;
    return VB_EFAULT;
}

void vb_slot_discard_remote(vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    if (s->links) drain_list(p, &s->remote, i, s->links, count_as_error, 0);
}

static int32_t main_free(void *p, int32_t handle) { return vb_pool_free(p, handle); }

static uint32_t drain_remote(vb_pool *p, int locked) {
    atomic_store_explicit(&p->main_pending, 0, memory_order_seq_cst);
    uint32_t count = drain_list(p, &p->fallback_remote, VB_HANDLE_FALLBACK_ARENA, 0, main_free, p);
    for (uint32_t i = 0; i < p->narenas; i++) {
        vb_arena_slot *s = &p->arenas[i];
        uint32_t o = atomic_load_explicit(&s->owner, memory_order_acquire);
        if (o == VB_OWNER_RETURNED) {
            /* Its view detached (release, after its last touch of the
             * arena): the arena is ours again.  No other thread writes a
             * RETURNED slot. */
            atomic_store_explicit(&s->owner, VB_OWNER_MAIN, memory_order_relaxed);
            p->out[VB_OUT_ARENA_EPOCH]++;
            if (!atomic_load_explicit(&s->mapped, memory_order_relaxed)) {
                /* Its view never allocated: never mapped, nothing in it;
                 * a MAIN slot is always mapped, so it goes (its reserved
                 * indexes too).  `mapped` is the view's last word, read
                 * after the acquire above. */
                vb_pool_discard_arena(p, i);
                continue;
            }
            count += drain_list(p, &s->remote, i, s->links, main_free, p);
            /* Returned with VB_FLAG_RELEASE_EMPTY_ARENAS when empty; else a
             * later share takes it again. [item 4] */
            if (s->backing && p->vt->live(s->backing) == 0) vb_pool_arena_empty(p, i);
        } else if (o == VB_OWNER_MAIN) {
            count += drain_list(p, &s->remote, i, s->links, main_free, p);
        } else if (o == VB_OWNER_RESERVED && atomic_load_explicit(&s->remote.head, memory_order_relaxed)) {
            /* Frees into an arena no view has attached yet name no live
             * buffer; count them now (under the lock, so no view attaches
             * while we take its list). */
            if (!locked) vb_share_lock();
            if (atomic_load_explicit(&s->owner, memory_order_relaxed) == VB_OWNER_RESERVED)
                vb_slot_discard_remote(p, i);
            if (!locked) vb_share_unlock();
        }
    }
    return count;
}

uint32_t vb_pool_drain_remote(vb_pool *p) { return drain_remote(p, 0); }

uint32_t vb_pool_drain_remote_locked(vb_pool *p) { return drain_remote(p, 1); }

/* --- shares (owner thread) ----------------------------------------------------------- */

/* Owner thread, share lock held: arena i becomes a reservation. */
static void reserve_locked(vb_pool *p, uint32_t i, uint32_t *out) {
    vb_arena_slot *s = &p->arenas[i];
    /* A new generation, never 0 (a bare arena number is no handle); wraps
     * after 2^22 - 1 reservations of one slot. */
    uint32_t gen = (s->share_gen + 1) & (UINT32_MAX >> VB_SHARE_GEN_SHIFT);
    s->share_gen = gen ? gen : 1;
    /* Release: an attacher (under the same lock anyway) sees the slot whole. */
    atomic_store_explicit(&s->owner, VB_OWNER_RESERVED, memory_order_release);
    out[0] = i | s->share_gen << VB_SHARE_GEN_SHIFT;
    out[1] = p->token;
}

/* The arena a reservation names, and whether it is the slot's latest. */
static inline uint32_t reservation_arena(uint32_t r) { return r & VB_SHARE_ARENA_MASK; }
static inline int reservation_current_locked(const vb_pool *p, uint32_t r) {
    return p->arenas[reservation_arena(r)].share_gen == r >> VB_SHARE_GEN_SHIFT;
}

int32_t vb_pool_share(vb_pool *p, uint32_t *out) {
    if (!p || !out) return VB_EINVAL;
    vb_pool_drain_remote(p); /* takes returned arenas over: they can be shared again */
    /* An empty arena made by an earlier share first (arena 0 never). */
    for (uint32_t i = 1; i < p->narenas; i++) {
        vb_arena_slot *s = &p->arenas[i];
        if (!s->shared || !s->backing || atomic_load_explicit(&s->owner, memory_order_relaxed) != VB_OWNER_MAIN ||
            p->vt->live(s->backing) != 0)
            continue;
        if (p->cur_arena == i) vb_pool_set_cur(p, 0);
        vb_share_lock();
        reserve_locked(p, i, out);
        vb_share_unlock();
        p->out[VB_OUT_ARENA_EPOCH]++;
        return 0;
    }
    uint32_t i = 1;
    while (i < p->narenas && p->arenas[i].backing) i++;
    if (i >= VB_MAX_ARENAS) return VB_ENOMEM;
    int32_t rc = vb_slot_links(p, i);
    if (rc) return rc;
    void *backing;
    /* Address space only: mapped at the view's first allocation (see "Lazy
     * shares"); a registered pool's indexes are reserved now, so that
     * allocation never finds the ring's table full. */
    rc = p->vt->clone(p->arenas[0].backing, p->flags | VB_ARENA_RESERVE_ONLY, &backing);
    if (rc) return rc;
    vb_slot_discard_remote(p, i); /* pushes that raced the slot's last return */
    vb_slot_fill(p, i, backing);
    if (p->registration && (rc = vb_registration_add_arena(p, i)) != 0) {
        vb_slot_clear(p, i); /* nothing of it stays visible [item 6] */
        return rc;
    }
    p->arenas[i].shared = 1;
    if (i == p->narenas) p->narenas++;
    p->live_arenas++;
    p->shared_arenas++;
    p->out[VB_OUT_ARENA_EPOCH]++;
    vb_share_lock();
    reserve_locked(p, i, out);
    vb_share_unlock();
    return 0;
}

int32_t vb_pool_unshare(vb_pool *p, uint32_t reservation) {
    uint32_t arena = reservation_arena(reservation);
    if (!p || arena == 0 || arena >= p->narenas) return VB_EINVAL;
    vb_arena_slot *s = &p->arenas[arena];
    vb_share_lock();
    /* Another reservation's handle names nothing to cancel here. */
    uint32_t o = reservation_current_locked(p, reservation) ? atomic_load_explicit(&s->owner, memory_order_relaxed)
                                                             : VB_OWNER_MAIN;
    if (o == VB_OWNER_RESERVED) {
        vb_slot_discard_remote(p, arena);
        atomic_store_explicit(&s->owner, VB_OWNER_MAIN, memory_order_relaxed);
    }
    vb_share_unlock();
    if (o != VB_OWNER_RESERVED) return o >= VB_OWNER_RETURNED ? VB_EBUSY : VB_EINVAL;
    p->out[VB_OUT_ARENA_EPOCH]++;
    /* Never mapped (no view came): it costs nothing to make again. */
    if (!atomic_load_explicit(&s->mapped, memory_order_relaxed)) vb_pool_discard_arena(p, arena);
    else vb_pool_arena_empty(p, arena); /* returned with VB_FLAG_RELEASE_EMPTY_ARENAS */
    return 0;
}

uint32_t vb_pool_token(vb_pool *p) { return p->token; }

/* --- views (any thread) ------------------------------------------------------------------ */

/* A view's free: its own arena directly, any other one remotely.  The view
 * never reads `narenas` or a slot's other fields (the owner thread changes
 * them): the push checks the slot's owner field, written with release
 * after the slot. */
static int32_t view_free(void *self, int32_t handle) {
    vb_view *v = self;
    vb_pool *p = v->pool;
    if (handle < 0) return VB_EFAULT;
    uint32_t arena = (uint32_t)handle >> VB_HANDLE_PAGE_BITS, page = (uint32_t)handle & VB_HANDLE_PAGE_MASK;
    if (arena != v->arena) return vb_remote_push(p, arena, handle);
    if (__builtin_expect(p->flags & VB_FLAG_POISON, 0)) {
        uint32_t cap = p->vt->capacity(v->backing, page);
        if (cap) memset(v->base + (uint64_t)page * VB_PAGE_SIZE, VB_POISON_BYTE, cap);
    }
    int32_t cap = p->vt->free(v->backing, page);
    return cap < 0 ? cap : 0;
}

/* Frees of the view's own buffers made by other threads. */
static uint32_t view_take_remote(vb_view *v) {
    return drain_list(v->pool, &v->slot->remote, v->arena, v->slot->links, view_free, v);
}

int32_t vb_view_attach(vb_pool *p, uint32_t reservation, uint32_t token, vb_view **out) {
    if (!out) return VB_EINVAL;
    *out = 0;
    uint32_t arena = reservation_arena(reservation);
    if (arena == 0) return VB_EINVAL;
    vb_view *v = calloc(1, sizeof *v);
    if (!v) return VB_ENOMEM;
    int32_t rc = VB_ESTALE;
    vb_share_lock();
    /* The pool is dereferenced only once the registry lists it. */
    if (listed_locked(p) && token == p->token) {
        vb_arena_slot *s = &p->arenas[arena];
        uint32_t o = atomic_load_explicit(&s->owner, memory_order_acquire);
        if (!reservation_current_locked(p, reservation)) {
            /* cancelled and shared again, or an older handle: VB_ESTALE */
        } else if (o == VB_OWNER_RESERVED) {
            v->pool = p;
            v->arena = arena;
            v->slot = s;
            v->backing = s->backing;
            v->base = s->base;
            v->mapped = atomic_load_explicit(&s->mapped, memory_order_relaxed);
            v->out[VB_OUT_BUF_INDEX] = (uint32_t)-1;
            /* The id only has to differ from the special values. */
            atomic_store_explicit(&s->owner, VB_OWNER_VIEW0 + arena, memory_order_release);
            atomic_fetch_add_explicit(&p->attached, 1, memory_order_relaxed);
            rc = 0;
        } else if (o >= VB_OWNER_RETURNED) {
            rc = VB_EBUSY; /* attached already */
        } /* else no reservation (cancelled, or never made): VB_ESTALE */
    }
    vb_share_unlock();
    if (rc) {
        free(v);
        return rc;
    }
    view_take_remote(v); /* frees made into it before we came (they name nothing) */
    *out = v;
    return 0;
}

int32_t vb_view_flush(vb_view *v) {
    uint32_t bad = 0, n = v->out[VB_OUT_QUEUED];
    if (n > VB_OUT_QUEUE_CAP) n = VB_OUT_QUEUE_CAP, bad++;
    for (uint32_t i = 0; i < n; i++)
        if (view_free(v, (int32_t)v->out[VB_OUT_QUEUE + i]) != 0) bad++;
    v->out[VB_OUT_QUEUED] = 0;
    /* Other threads' bad frees count as the pool's remote errors, not as
     * this thread's refusals. [item 12] */
    view_take_remote(v);
    if (bad) v->out[VB_OUT_QUEUE_ERRORS] += bad;
    return (int32_t)bad;
}

int32_t vb_view_free(vb_view *v, int32_t handle) { return view_free(v, handle); }

/* The view's first allocation of a lazy share: maps the arena, then
 * registers it at the indexes its share reserved (see "Lazy shares" in
 * registered.c).  All or nothing: a refused registration gives the memory
 * back, and the next allocation tries again. */
__attribute__((noinline, cold)) static int32_t view_map(vb_view *v) {
    vb_pool *p = v->pool;
    struct vb_arena *a = p->vt->arena(v->backing);
    /* Our arena: no other thread touches its pages or its backing pool
     * while we own the slot, so mapping needs no lock. */
    int32_t rc = vb_arena_commit(a);
    /* Not VB_ENOMEM: that says "the arena is full", and the caller would
     * wait for releases that cannot come (nothing of it was handed out). */
    if (rc) return VB_EMAP;
    /* The pool's reg_lock, not the share lock: the kernel may take seconds
     * to pin a large arena, and no other pool or ring has to wait for that
     * (registered.c, "Lazy shares", has the argument). */
    pthread_mutex_lock(&p->reg_lock);
    rc = vb_registration_map_view_locked(p, v->arena);
    /* Release: whoever reads it (under reg_lock, or after our detach)
     * sees the mapping and the registration. */
    if (!rc) atomic_store_explicit(&v->slot->mapped, 1, memory_order_release);
    pthread_mutex_unlock(&p->reg_lock);
    if (rc) {
        vb_arena_decommit(a);
        return rc;
    }
    v->mapped = 1;
    return 0;
}

int32_t vb_view_alloc(vb_view *v, uint32_t size) {
    vb_pool *p = v->pool;
    if (v->out[VB_OUT_QUEUED]) vb_view_flush(v);
    if (size == 0) return VB_EINVAL;
    if (__builtin_expect(!v->mapped, 0)) {
        /* A request no block can ever serve says so before mapping. */
        if (size > p->vt->max_request(v->backing)) return VB_ERANGE;
        int32_t rc = view_map(v);
        if (rc) return rc;
    }
    uint32_t cap;
    int32_t page = p->vt->alloc(v->backing, size, &cap);
    if (page == VB_ENOMEM && view_take_remote(v)) /* short: take what other threads gave back */
        page = p->vt->alloc(v->backing, size, &cap);
    if (page < 0) return page;
    /* Read every time: the owner registers and unregisters the pool. [item 5] */
    int32_t reg = atomic_load_explicit(&v->slot->view_reg, memory_order_acquire);
    v->out[VB_OUT_CAPACITY] = cap;
    v->out[VB_OUT_BUF_INDEX] = (uint32_t)(reg + (page >> 18)) | (uint32_t)(reg >> 31);
    v->allocs++;
    return (int32_t)((v->arena << VB_HANDLE_PAGE_BITS) | (uint32_t)page);
}

uint32_t *vb_view_out(vb_view *v) { return v->out; }

uint32_t vb_view_arena(vb_view *v) { return v->arena; }

int32_t vb_view_reg(vb_view *v) { return atomic_load_explicit(&v->slot->view_reg, memory_order_acquire); }

/* The slots never move and outlive every view (the pool cannot be
 * destroyed while one is attached); view_reg is published by the owner
 * with release, -1 before the kernel drops the buffers (registered.c). */
int32_t vb_view_arena_reg(vb_view *v, uint32_t arena) {
    if (arena >= VB_MAX_ARENAS) return -1;
    return atomic_load_explicit(&v->pool->arenas[arena].view_reg, memory_order_acquire);
}

void *vb_view_base(vb_view *v) { return v->base; }

int32_t vb_view_mapped(vb_view *v) { return (int32_t)v->mapped; } /* its thread's own copy */

uint64_t vb_view_size(vb_view *v) { return v->slot->size; }

uint32_t vb_view_live(vb_view *v) {
    vb_view_flush(v);
    return (uint32_t)v->pool->vt->live(v->backing);
}

/* The view's arena in the pool's stats layout (its thread only: it reads
 * only what the view owns, plus the pool's atomic counters). */
void vb_view_stats(vb_view *v, double *out) {
    vb_pool *p = v->pool;
    vb_view_flush(v);
    view_take_remote(v);
    memset(out, 0, VB_STAT_LEN * sizeof *out);
    p->vt->stats(v->backing, out);
    uint64_t live = p->vt->live(v->backing);
    out[VB_STAT_LIVE_BUFFERS] = (double)live;
    out[VB_STAT_BYTES_IN_USE] = out[VB_STAT_CAPACITY_BYTES] - out[VB_STAT_FREE_BYTES];
    out[VB_STAT_ALLOCS] = (double)v->allocs;
    /* Blocks live in the arena when the view attached (none: a reservation
     * is empty) came from its allocations. */
    out[VB_STAT_FREES] = v->allocs >= live ? (double)(v->allocs - live) : 0;
    out[VB_STAT_ARENAS] = 1;
    out[VB_STAT_MAX_ARENAS] = 1;
    out[VB_STAT_ATTACHED] = atomic_load_explicit(&p->attached, memory_order_relaxed);
    out[VB_STAT_REMOTE_ERRORS] = (double)atomic_load_explicit(&p->remote_errors, memory_order_relaxed);
    out[VB_STAT_QUEUE_ERRORS] = v->out[VB_OUT_QUEUE_ERRORS];
}

int32_t vb_view_class_stats(vb_view *v, uint32_t cls, double *out) {
    return v->pool->vt->class_stats(v->backing, cls, out);
}

int32_t vb_view_detach(vb_view *v) {
    if (!v) return VB_EINVAL;
    vb_pool *p = v->pool;
    vb_view_flush(v);
    vb_share_lock();
    atomic_fetch_add_explicit(&p->view_allocs, v->allocs, memory_order_relaxed);
    /* Our last touch of the arena is above; seq_cst (see "Telling the
     * owner"): frees that still arrive go to the owner, which takes the
     * arena over at its next drain. */
    atomic_store_explicit(&v->slot->owner, VB_OWNER_RETURNED, memory_order_seq_cst);
    atomic_fetch_sub_explicit(&p->attached, 1, memory_order_relaxed);
    atomic_store_explicit(&p->main_pending, 1, memory_order_seq_cst);
    vb_share_unlock();
    free(v);
    return 0;
}

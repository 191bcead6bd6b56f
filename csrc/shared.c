/*
 * shared.c - one pool used by several threads (Deno Workers).
 *
 * Every arena has exactly one owner thread, recorded in its slot: the
 * pool's creator (VB_OWNER_MAIN) or one view.  Only the owner touches the
 * arena's backing pool, so allocation and the owner's frees stay plain
 * single-threaded code with no lock and no atomic on the hot path.
 *
 * A thread that frees a buffer of an arena it does not own pushes the
 * handle on that arena's remote list: a Treiber stack of malloc'd nodes.
 * The owner takes the whole list with one atomic exchange and frees the
 * handles as its own when it runs short, flushes, or asks for stats (as
 * mimalloc's thread-delayed free and the kernel's per-cpu lists do).
 *
 * Memory ordering.  A pusher writes its node, then publishes it with a
 * compare-exchange (release) on the list head; the owner's exchange
 * (acquire) then sees every node it takes, fully written.  Nodes are only
 * ever pushed, and removed all at once by the exchange, so no node is
 * popped while another thread looks at it: there is no ABA problem.  After
 * pushing, the pusher raises a "pending" flag (release) for the owner; the
 * owner clears the flag before it exchanges, so a push that lands after the
 * exchange raises the flag again and is found next time.
 *
 * Lifetime.  A view lives on another thread and holds only a (pool, arena,
 * token) triple until it attaches.  Pools are listed in a process-wide
 * registry under a mutex; attach looks the pool up there (and counts itself
 * in `attached`) under that mutex, and destroy unlists the pool under it,
 * so an attach either happens before destroy (which then refuses) or finds
 * the pool gone (VB_ESTALE): never a use after free.
 */
#include "pool_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct vb_view {
    uint32_t out[VB_OUT_LEN]; /* the view's own outputs and deferred frees */
    vb_pool *pool;
    void *backing; /* its arena's backing pool */
    uint32_t arena;
    uint32_t id; /* the owner value of its arena */
    uint64_t allocs;
    int32_t reg; /* its arena's registered index, or -1 */
};

/* --- registry of live pools ---------------------------------------------- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static vb_pool **registry;
static uint32_t registry_len, registry_cap;

void vb_pool_list(vb_pool *p) {
    uint32_t token = 0;
    if (getrandom(&token, sizeof token, 0) != sizeof token) token = (uint32_t)(uintptr_t)p;
    pthread_mutex_lock(&registry_lock);
    if (registry_len == registry_cap) {
        uint32_t cap = registry_cap ? registry_cap * 2 : 16;
        vb_pool **r = realloc(registry, cap * sizeof *r);
        if (r) registry = r, registry_cap = cap;
    }
    /* Out of memory for the registry: the pool works, but cannot be shared
     * (attach will not find it). */
    if (registry_len < registry_cap) registry[registry_len++] = p;
    if (!p->token) p->token = token | 1; /* never 0; kept when re-listed */
    pthread_mutex_unlock(&registry_lock);
}

void vb_pool_unlist(vb_pool *p) {
    pthread_mutex_lock(&registry_lock);
    for (uint32_t i = 0; i < registry_len; i++)
        if (registry[i] == p) {
            registry[i] = registry[--registry_len];
            break;
        }
    pthread_mutex_unlock(&registry_lock);
}

/* --- remote frees ---------------------------------------------------------- */

void vb_remote_push(vb_pool *p, uint32_t arena, int32_t handle) {
    _Atomic(vb_remote *) *head =
        arena == VB_HANDLE_FALLBACK_ARENA ? &p->fallback_remote : &p->arenas[arena].remote;
    vb_remote *n = malloc(sizeof *n);
    if (!n) return; /* leaks one buffer rather than corrupting anything */
    n->handle = handle;
    n->next = atomic_load_explicit(head, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(head, &n->next, n, memory_order_release,
                                                  memory_order_relaxed)) {
    }
    /* Tell the owner.  Fallback buffers and main's arenas are main's; a
     * view polls its own arena's list. */
    if (arena == VB_HANDLE_FALLBACK_ARENA ||
        atomic_load_explicit(&p->arenas[arena].owner, memory_order_acquire) == VB_OWNER_MAIN)
        atomic_store_explicit(&p->main_pending, 1, memory_order_release);
}

/* Takes a whole remote list (the owner's side). */
static vb_remote *take(_Atomic(vb_remote *) *head) {
    if (!atomic_load_explicit(head, memory_order_relaxed)) return 0;
    return atomic_exchange_explicit(head, 0, memory_order_acquire);
}

/* Frees the handles of a taken list with `free_one`; returns how many. */
static uint32_t free_list(vb_remote *n, uint64_t *errors, int32_t (*free_one)(void *, int32_t),
                          void *self) {
    uint32_t count = 0;
    while (n) {
        vb_remote *next = n->next;
        if (free_one(self, n->handle) == 0) count++;
        else (*errors)++;
        free(n);
        n = next;
    }
    return count;
}

static int32_t main_free(void *p, int32_t handle) { return vb_pool_free(p, handle); }

uint32_t vb_pool_drain_remote(vb_pool *p) {
    atomic_store_explicit(&p->main_pending, 0, memory_order_seq_cst);
    uint32_t count = free_list(take(&p->fallback_remote), &p->remote_errors, main_free, p);
    for (uint32_t i = 0; i < p->narenas; i++) {
        uint32_t o = atomic_load_explicit(&p->arenas[i].owner, memory_order_acquire);
        if (o == VB_OWNER_MAIN || o == VB_OWNER_RESERVED)
            count += free_list(take(&p->arenas[i].remote), &p->remote_errors, main_free, p);
    }
    return count;
}

/* --- shares and views ------------------------------------------------------ */

/* A view's free: its own arena directly, any other one remotely.  The view
 * never reads `narenas` (the owner thread changes it): the handle names the
 * slot, and the slot's owner field, written with release after the slot,
 * says whether it is there. */
static int32_t view_free(void *self, int32_t handle) {
    vb_view *v = self;
    vb_pool *p = v->pool;
    if (handle < 0) return VB_EFAULT;
    uint32_t arena = (uint32_t)handle >> VB_HANDLE_PAGE_BITS;
    if (arena == v->arena) {
        if (p->flags & VB_FLAG_POISON) {
            uint32_t cap = p->vt->capacity(v->backing, (uint32_t)handle & VB_HANDLE_PAGE_MASK);
            if (cap) memset(p->arenas[arena].base + (uint64_t)(handle & VB_HANDLE_PAGE_MASK) * VB_PAGE_SIZE,
                            VB_POISON_BYTE, cap);
        }
        int32_t cap = p->vt->free(v->backing, (uint32_t)handle & VB_HANDLE_PAGE_MASK);
        return cap < 0 ? cap : 0;
    }
    if (arena != VB_HANDLE_FALLBACK_ARENA &&
        (arena >= VB_MAX_ARENAS ||
         atomic_load_explicit(&p->arenas[arena].owner, memory_order_acquire) == VB_OWNER_NONE))
        return VB_EFAULT;
    vb_remote_push(p, arena, handle);
    return 0;
}

int32_t vb_pool_share(vb_pool *p, uint32_t *out) {
    if (!p || !out) return VB_EINVAL;
    uint32_t i = 1; /* arena 0 is never shared */
    while (i < p->narenas && p->arenas[i].backing) i++;
    if (i >= VB_MAX_ARENAS) return VB_ENOMEM;
    void *backing;
    int32_t rc = p->vt->clone(p->arenas[0].backing, p->flags, &backing);
    if (rc) return rc;
    vb_arena_slot *s = &p->arenas[i];
    s->backing = backing;
    void *base;
    p->vt->region(backing, &base, &s->size);
    s->base = base;
    s->reg_index = -1;
    s->reg_count = 0;
    atomic_store_explicit(&s->remote, 0, memory_order_relaxed);
    if (p->registration) {
        rc = vb_registration_add_arena(p, i);
        if (rc) {
            p->vt->destroy(backing);
            s->backing = 0;
            return rc;
        }
    }
    s->shared = 1;
    atomic_store_explicit(&s->owner, VB_OWNER_RESERVED, memory_order_release);
    if (i == p->narenas) p->narenas++;
    p->live_arenas++;
    p->shared_arenas++;
    p->out[VB_OUT_ARENA_EPOCH]++;
    out[0] = i;
    out[1] = p->token;
    return 0;
}

uint32_t vb_pool_token(vb_pool *p) { return p->token; }

int32_t vb_view_attach(vb_pool *p, uint32_t arena, uint32_t token, vb_view **out) {
    if (!out || arena == 0 || arena >= VB_MAX_ARENAS) return VB_EINVAL;
    *out = 0;
    vb_view *v = calloc(1, sizeof *v);
    if (!v) return VB_ENOMEM;
    int32_t rc = VB_ESTALE;
    pthread_mutex_lock(&registry_lock);
    for (uint32_t i = 0; i < registry_len; i++) {
        if (registry[i] != p || p->token != token) continue;
        uint32_t want = VB_OWNER_RESERVED;
        uint32_t id = VB_OWNER_VIEW0 + atomic_fetch_add_explicit(&p->attached, 1, memory_order_acq_rel);
        /* The id only has to differ from MAIN/RESERVED/NONE: views of one
         * pool own different arenas, so equal ids never meet. */
        if (atomic_compare_exchange_strong_explicit(&p->arenas[arena].owner, &want, id,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            v->pool = p;
            v->arena = arena;
            v->id = id;
            v->backing = p->arenas[arena].backing;
            v->reg = p->arenas[arena].reg_index;
            v->out[VB_OUT_BUF_INDEX] = (uint32_t)-1;
            rc = 0;
        } else {
            atomic_fetch_sub_explicit(&p->attached, 1, memory_order_acq_rel);
            rc = want >= VB_OWNER_VIEW0 ? VB_EBUSY : VB_EINVAL;
        }
        break;
    }
    pthread_mutex_unlock(&registry_lock);
    if (rc) free(v);
    else *out = v;
    return rc;
}

int32_t vb_view_flush(vb_view *v) {
    vb_pool *p = v->pool;
    uint32_t bad = 0, n = v->out[VB_OUT_QUEUED];
    if (n > VB_OUT_QUEUE_CAP) n = VB_OUT_QUEUE_CAP, bad++;
    for (uint32_t i = 0; i < n; i++)
        if (view_free(v, (int32_t)v->out[VB_OUT_QUEUE + i]) != 0) bad++;
    v->out[VB_OUT_QUEUED] = 0;
    uint64_t errors = 0;
    free_list(take(&p->arenas[v->arena].remote), &errors, view_free, v);
    bad += (uint32_t)errors;
    v->out[VB_OUT_QUEUE_ERRORS] += bad;
    return (int32_t)bad;
}

int32_t vb_view_free(vb_view *v, int32_t handle) { return view_free(v, handle); }

int32_t vb_view_alloc(vb_view *v, uint32_t size) {
    vb_pool *p = v->pool;
    if (v->out[VB_OUT_QUEUED]) vb_view_flush(v);
    if (size == 0) return VB_EINVAL;
    uint32_t cap;
    int32_t page = p->vt->alloc(v->backing, size, &cap);
    if (page == VB_ENOMEM) { /* short: take what other threads gave back */
        vb_view_flush(v);
        page = p->vt->alloc(v->backing, size, &cap);
    }
    if (page < 0) return page;
    v->out[VB_OUT_CAPACITY] = cap;
    v->out[VB_OUT_BUF_INDEX] = (uint32_t)(v->reg + (page >> 18)) | (uint32_t)(v->reg >> 31);
    v->allocs++;
    return (int32_t)((v->arena << VB_HANDLE_PAGE_BITS) | (uint32_t)page);
}

uint32_t *vb_view_out(vb_view *v) { return v->out; }

uint32_t vb_view_arena(vb_view *v) { return v->arena; }

int32_t vb_view_reg(vb_view *v) { return v->reg; }

void *vb_view_base(vb_view *v) { return v->pool->arenas[v->arena].base; }

uint64_t vb_view_size(vb_view *v) { return v->pool->arenas[v->arena].size; }

uint32_t vb_view_live(vb_view *v) {
    vb_view_flush(v);
    return (uint32_t)v->pool->vt->live(v->backing);
}

int32_t vb_view_detach(vb_view *v) {
    if (!v) return VB_EINVAL;
    vb_pool *p = v->pool;
    vb_view_flush(v);
    /* Frees that still arrive go to the pool's owner, which owns the
     * arena from now on and drains its list. */
    atomic_fetch_add_explicit(&p->view_allocs, v->allocs, memory_order_relaxed);
    atomic_store_explicit(&p->arenas[v->arena].owner, VB_OWNER_MAIN, memory_order_release);
    atomic_store_explicit(&p->main_pending, 1, memory_order_release);
    atomic_fetch_sub_explicit(&p->attached, 1, memory_order_acq_rel);
    free(v);
    return 0;
}

/*
 * thread_exit.c - what a thread leaves behind is reclaimed when it ends.
 *
 * A Deno Worker can end at any moment (Worker.terminate(), or its last
 * task): its JavaScript heap is gone at once, with whatever it still held.
 * The C side outlives it: the pool views the thread attached (their arenas
 * stay reserved for it, and the pool's owner can never close the pool while
 * a view is attached), the buffers it held, and its rings and their waiter.
 * This file runs, on the ending thread itself, a hook that gives all of it
 * back:
 *
 *   1. rings (the thread's waiter, csrc/waiter.c): their requests are
 *      cancelled and waited for, so the kernel no longer writes into any
 *      buffer, then the rings are destroyed and a helper thread parked in
 *      the waiter is woken (it would otherwise stay parked in Deno's
 *      blocking pool forever);
 *   2. views: every buffer the thread still held is freed (the binding
 *      marks what it holds, see vb_thread_track_view), then the view is
 *      detached, so its arena goes back to the pool's owner;
 *   3. sockets: every socket the thread made or accepted and did not close
 *      (vb_thread_own_fd; csrc/net.c records and forgets them) is closed
 *      after its rings are gone, so peers see end of stream and ports are
 *      free again instead of leaking with the fd.
 *
 * The hook is a pthread key destructor: glibc runs it when a thread returns
 * from its start routine or calls pthread_exit (a Deno Worker's thread
 * does, once its runtime is dropped), never for the process's main thread,
 * whose end is the process's.  It runs after the thread's last call into
 * the library from JavaScript, and the library is never unmapped
 * (resident.c), so the code it runs is still there.
 *
 * Concurrency: a thread's records are touched by that thread only (the
 * binding's calls, then its exit hook); the operations the hook performs
 * (vb_view_free, vb_view_detach, ring destroy) are the ones the thread
 * could have called itself, with their own cross-thread protocols.
 */
#include "pool_internal.h"
#include "veloq_buffer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A set of int32 handles (open addressing, linear probing): the buffers of
 * other arenas a thread holds.  EMPTY and GONE are never handles (< 0). */
#define SET_EMPTY (-1)
#define SET_GONE (-2)

typedef struct {
    int32_t *slots;
    uint32_t cap; /* a power of two, or 0 */
    uint32_t used; /* slots not EMPTY (live + GONE) */
    uint32_t live;
} handle_set;

static uint32_t set_hash(int32_t h) { return (uint32_t)h * 2654435761u; }

static int set_grow(handle_set *s) {
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    if (s->live * 4 < s->cap) cap = s->cap; /* mostly tombstones: rebuild in place */
    int32_t *slots = malloc(cap * sizeof *slots);
    if (!slots) return VB_ENOMEM;
    for (uint32_t i = 0; i < cap; i++) slots[i] = SET_EMPTY;
    for (uint32_t i = 0; i < s->cap; i++) {
        int32_t h = s->slots[i];
        if (h < 0) continue;
        uint32_t j = set_hash(h) & (cap - 1);
        while (slots[j] != SET_EMPTY) j = (j + 1) & (cap - 1);
        slots[j] = h;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->used = s->live;
    return 0;
}

static int32_t set_add(handle_set *s, int32_t h) {
    if ((s->used + 1) * 4 > s->cap * 3) {
        int32_t rc = set_grow(s);
        if (rc) return rc;
    }
    uint32_t j = set_hash(h) & (s->cap - 1), gone = UINT32_MAX;
    for (;; j = (j + 1) & (s->cap - 1)) {
        if (s->slots[j] == h) return 0;
        if (s->slots[j] == SET_GONE && gone == UINT32_MAX) gone = j;
        if (s->slots[j] == SET_EMPTY) break;
    }
    if (gone != UINT32_MAX) j = gone;
    else s->used++;
    s->slots[j] = h;
    s->live++;
    return 0;
}

static void set_remove(handle_set *s, int32_t h) {
    if (!s->cap) return;
    for (uint32_t j = set_hash(h) & (s->cap - 1); s->slots[j] != SET_EMPTY; j = (j + 1) & (s->cap - 1))
        if (s->slots[j] == h) {
            s->slots[j] = SET_GONE;
            s->live--;
            return;
        }
}

/* --- per-thread records ----------------------------------------------------- */

struct vb_thread_view {
    struct vb_thread_view *next, *prev;
    vb_view *view;
    uint32_t arena;
    uint32_t pages;
    uint8_t *held;      /* [pages]: 1 at the first page of each block held here */
    handle_set foreign; /* buffers of other arenas held here */
};

typedef struct {
    vb_thread_view *views;
    vb_pool **pools; /* pools this thread created and tracks */
    uint32_t npools, cap_pools;
    handle_set fds; /* sockets made or accepted here, not closed yet */
} thread_state;

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;
static _Atomic uint32_t exits; /* hooks run, process-wide (tests) */

static void thread_ended(void *arg);

/* The thread's rings: the per-thread waiter of csrc/waiter.c owns them;
 * its shutdown cancels and reaps their requests (vb_ring_quiesce, bounded),
 * destroys them and wakes a parked helper.  Returns nonzero when a request
 * outlived the wait (its buffer may still be in the kernel's hands). */
static uint32_t exit_rings(void) { return vb_thread_shutdown() == -ETIME; }

static void make_key(void) { key_ok = pthread_key_create(&key, thread_ended) == 0; }

/* This thread's record, made (and its exit hook armed) on first use. */
static thread_state *state(int create) {
    pthread_once(&key_once, make_key);
    if (!key_ok) return 0;
    thread_state *st = pthread_getspecific(key);
    if (st || !create) return st;
    st = calloc(1, sizeof *st);
    if (st && pthread_setspecific(key, st) != 0) {
        free(st);
        st = 0;
    }
    return st;
}

int32_t vb_thread_exit_arm(void) { return state(1) ? 0 : VB_ENOMEM; }

uint32_t vb_thread_exits(void) { return atomic_load_explicit(&exits, memory_order_relaxed); }

/* --- sockets --------------------------------------------------------------- */

int32_t vb_thread_own_fd(int32_t fd) {
    if (fd < 0) return VB_EINVAL;
    thread_state *st = state(1);
    return st ? set_add(&st->fds, fd) : VB_ENOMEM;
}

void vb_thread_disown_fd(int32_t fd) {
    thread_state *st = state(0);
    if (st && fd >= 0) set_remove(&st->fds, fd);
}

/* --- views ---------------------------------------------------------------- */

vb_thread_view *vb_thread_track_view(vb_view *v) {
    if (!v) return 0;
    thread_state *st = state(1);
    if (!st) return 0;
    vb_thread_view *t = calloc(1, sizeof *t);
    if (!t) return 0;
    uint64_t pages = vb_view_size(v) / VB_PAGE_SIZE;
    /* calloc of a large map is fresh zero pages: untouched pages cost no
     * memory (a 4 GiB arena has 2^20 pages). */
    t->held = calloc(pages ? pages : 1, 1);
    if (!t->held) {
        free(t);
        return 0;
    }
    t->view = v;
    t->arena = vb_view_arena(v);
    t->pages = (uint32_t)pages;
    t->next = st->views;
    if (st->views) st->views->prev = t;
    st->views = t;
    return t;
}

uint8_t *vb_thread_view_held(vb_thread_view *t) { return t ? t->held : 0; }

int32_t vb_thread_view_hold(vb_thread_view *t, int32_t handle, uint32_t held) {
    if (!t || handle < 0) return VB_EINVAL;
    if ((uint32_t)handle >> VB_HANDLE_PAGE_BITS == t->arena) {
        uint32_t page = (uint32_t)handle & VB_HANDLE_PAGE_MASK;
        if (page >= t->pages) return VB_EINVAL;
        t->held[page] = held != 0;
        return 0;
    }
    if (held) return set_add(&t->foreign, handle);
    set_remove(&t->foreign, handle);
    return 0;
}

static void untrack(thread_state *st, vb_thread_view *t) {
    if (t->prev) t->prev->next = t->next;
    else if (st) st->views = t->next;
    if (t->next) t->next->prev = t->prev;
    free(t->foreign.slots);
    free(t->held);
    free(t);
}

int32_t vb_thread_view_detach(vb_thread_view *t) {
    if (!t) return VB_EINVAL;
    vb_view *v = t->view;
    untrack(state(0), t);
    return vb_view_detach(v);
}

/* Frees every buffer the ending thread still held (unless the kernel may
 * still use them: `leak`), then detaches. */
static void reclaim_view(thread_state *st, vb_thread_view *t, int leak) {
    vb_view *v = t->view;
    for (uint32_t page = 0; page < t->pages && !leak; page++)
        if (t->held[page]) vb_view_free(v, (int32_t)((t->arena << VB_HANDLE_PAGE_BITS) | page));
    for (uint32_t i = 0; i < t->foreign.cap && !leak; i++)
        if (t->foreign.slots[i] >= 0) vb_view_free(v, t->foreign.slots[i]);
    untrack(st, t);
    vb_view_detach(v);
}

/* --- pools the thread created ----------------------------------------------- */

int32_t vb_thread_track_pool(vb_pool *p) {
    if (!p) return VB_EINVAL;
    thread_state *st = state(1);
    if (!st) return VB_ENOMEM;
    if (st->npools == st->cap_pools) {
        uint32_t cap = st->cap_pools ? st->cap_pools * 2 : 8;
        vb_pool **a = realloc(st->pools, cap * sizeof *a);
        if (!a) return VB_ENOMEM;
        st->pools = a;
        st->cap_pools = cap;
    }
    st->pools[st->npools++] = p;
    return 0;
}

int32_t vb_thread_untrack_pool(vb_pool *p) {
    thread_state *st = state(0);
    for (uint32_t i = 0; st && i < st->npools; i++)
        if (st->pools[i] == p) {
            st->pools[i] = st->pools[--st->npools];
            return 0;
        }
    return VB_EINVAL;
}

/* --- the hook --------------------------------------------------------------- */

static void thread_ended(void *arg) {
    thread_state *st = arg;
    /* Rings first: their requests may still use buffers the views hold.
     * A request the kernel did not finish in time keeps its buffer: the
     * thread's buffers are then left live rather than reused under it. */
    int leak = exit_rings() != 0;
    while (st->views) reclaim_view(st, st->views, leak);
    /* Pools it made: nobody can use their buffers any more (another thread
     * holding one has the pool attached: then it stays, leaked). */
    for (uint32_t i = 0; i < st->npools && !leak; i++) vb_pool_destroy_abandoned(st->pools[i]);
    free(st->pools);
    /* Sockets last: the rings that named them are gone (a request the
     * kernel still runs holds its own reference to the file, so closing
     * the number is safe even then). */
    for (uint32_t i = 0; i < st->fds.cap; i++)
        if (st->fds.slots[i] >= 0) close(st->fds.slots[i]);
    free(st->fds.slots);
    free(st);
    atomic_fetch_add_explicit(&exits, 1, memory_order_relaxed);
}


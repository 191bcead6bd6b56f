/*
 * pool_internal.h - the vb_pool struct, shared by pool.c (type erasure,
 * arenas, fallback) and registered.c (registration).  Nothing outside csrc/
 * sees it.
 */
#ifndef VB_POOL_INTERNAL_H
#define VB_POOL_INTERNAL_H

#include "fallback.h"
#include "pool_impl.h"

#include <pthread.h>
#include <stdatomic.h>

/* Who may touch an arena's backing pool (vb_arena_slot.owner).  The
 * transitions, and which thread makes each (see shared.c for why this is
 * race-free):
 *
 *   NONE -> MAIN            owner thread: growth (grow)
 *   MAIN -> NONE            owner thread: an empty extra arena returned
 *   NONE/MAIN -> RESERVED   owner thread, under the share lock: vb_pool_share
 *   RESERVED -> MAIN        owner thread, under the share lock: vb_pool_unshare
 *   RESERVED -> VIEW id     the attaching thread, under the share lock
 *   VIEW id -> RETURNED     the view's thread, under the share lock: detach
 *   RETURNED -> MAIN        owner thread: it takes a returned arena over
 *
 * The owner thread touches an arena's backing pool only while the slot
 * reads MAIN, a view only while it reads its id. */
enum {
    VB_OWNER_NONE = 0,     /* empty slot */
    VB_OWNER_MAIN = 1,     /* the thread that created the pool */
    VB_OWNER_RESERVED = 2, /* made by vb_pool_share, waiting for vb_view_attach */
    VB_OWNER_RETURNED = 3, /* its view detached; the owner takes it over next */
    VB_OWNER_VIEW0 = 4,    /* and up: the id of the view (thread) that owns it */
};

/* The intrusive remote-free link of one page of an arena (or one fallback
 * slot): a free from a thread that does not own the buffer is a push of its
 * page on the arena's list, so a release never needs memory.  Side table,
 * never inside the arena. */
typedef struct vb_rlink {
    uint32_t next;           /* next page on the list + 1; 0 ends it */
    _Atomic uint32_t queued; /* 1 while the page is on a list (a second push is a double free) */
} vb_rlink;

/* One remote-free list: a Treiber stack of pages (shared.c). */
typedef struct vb_rlist {
    _Atomic uint32_t head; /* first page + 1; 0 when empty */
} vb_rlist;

/* Fallback slots get their links in chunks that never move (the slot table
 * itself is realloc'd by the owner as it grows). */
#define VB_FB_LINK_CHUNK 4096u
#define VB_FB_LINK_CHUNKS ((VB_HANDLE_PAGE_MASK + 1) / VB_FB_LINK_CHUNK)

/* One arena of a pool: a backing pool of the pool's shape. */
typedef struct vb_arena_slot {
    void *backing;     /* NULL once an empty extra arena was returned */
    uint8_t *base;
    uint64_t size;
    int32_t reg_index; /* first registered index, or -1 (the owner thread's copy) */
    uint32_t reg_count;
    _Atomic int32_t view_reg;    /* reg_index as a view reads it (registered.c) */
    _Atomic uint32_t owner;      /* VB_OWNER_* or a view id */
    vb_rlist remote;             /* frees from threads that do not own the arena */
    /* Remote links of the slot's pages: allocated the first time the slot
     * is used and kept (same shape for every arena) until the pool is
     * destroyed, so a late push never writes into freed memory. */
    vb_rlink *links;
    uint32_t nlinks;
    uint8_t shared;     /* made by vb_pool_share */
    /* 0 while the arena is address space only: a share maps it at its
     * view's first allocation (shared.c, "Lazy shares").  Set by the owner
     * before the slot is published, or by the slot's view under the share
     * lock (release); the owner reads it under the lock or after taking
     * the slot back (RETURNED, acquire).  A MAIN slot is always mapped. */
    _Atomic uint8_t mapped;
    /* Generation of the slot's latest reservation (in its handle), changed
     * and read under the share lock only; kept when the slot is emptied, so
     * a handle of an earlier reservation never matches a later one. */
    uint32_t share_gen;
} vb_arena_slot;

typedef struct vb_registration vb_registration;

struct vb_pool {
    uint32_t out[VB_OUT_LEN]; /* hot: written by every alloc */
    /* Hot: the arena tried first, where the last allocation succeeded. */
    void *cur;
    uint32_t cur_arena;
    int32_t cur_reg; /* arenas[cur_arena].reg_index */
    void *arena0;    /* arenas[0].backing, which never changes */
    const vb_backing_vtable *vt;
    /* VB_MAX_ARENAS slots, allocated once: other threads index it while the
     * owner grows the pool, so it never moves.  Arena 0 is never returned
     * nor shared. */
    vb_arena_slot *arenas;
    uint32_t narenas;      /* slots ever used: [0, narenas) */
    uint32_t live_arenas;  /* slots with a backing pool */
    uint32_t shared_arenas; /* of those, made by vb_pool_share (not growth) */
    uint32_t max_arenas;
    uint32_t flags;
    uint64_t allocs; /* successful allocations; frees = allocs - live */
    uint64_t failed_allocs;
    uint64_t grows;
    vb_fallback fallback;
    vb_registration *registration;
    /* Cross-thread use (shared.c). */
    _Atomic uint32_t main_pending;    /* remote frees or returned arenas wait for the owner */
    vb_rlist fallback_remote;
    vb_rlink *fb_links[VB_FB_LINK_CHUNKS]; /* owner allocates, never moves */
    _Atomic uint32_t fb_links_cap;    /* fallback slots that have a link */
    _Atomic uint32_t attached;        /* views attached now (changed under the share lock) */
    uint32_t token;                   /* tells a live pool from a stale handle */
    _Atomic uint64_t remote_errors;   /* remote frees that named no live buffer (any thread) */
    _Atomic uint64_t view_allocs;     /* allocations of detached views */
    uint64_t queue_errors;            /* refused deferred frees the check has reported */
    /* The pool's registration state as a view's first allocation reads and
     * writes it (registered.c, "Lazy shares"): held while that view pins
     * its arena, so the pinning waits for no other pool and no other pool
     * waits for it.  Taken before the share lock, never after it (except
     * by trylock: vb_registrations_detach). */
    pthread_mutex_t reg_lock;
    char msg[256];
};

/* shared.c: frees `handle` on behalf of a thread that does not own its
 * arena (pushed on the arena's list for its owner): 0, or VB_EFAULT (no
 * such arena or slot) / VB_EDOUBLEFREE (already on a list). */
int32_t vb_remote_push(vb_pool *p, uint32_t arena, int32_t handle);
/* Owner thread: takes over returned arenas and frees every remote free
 * waiting in its arenas and in the fallback list.  Returns how many buffers
 * came back. */
uint32_t vb_pool_drain_remote(vb_pool *p);
/* The same, the share lock already held (destroy). */
uint32_t vb_pool_drain_remote_locked(vb_pool *p);
/* pool.c: frees the deferred-free queue only (no drain); returns refusals. */
int32_t vb_pool_flush_queue(vb_pool *p);
/* Owner thread: the remote-free links arena slot i needs (allocated once
 * per slot); 0 or VB_ENOMEM. */
int32_t vb_slot_links(vb_pool *p, uint32_t i);
/* Owner thread: links for every fallback slot below n; 0 or VB_ENOMEM. */
int32_t vb_fallback_links(vb_pool *p, uint32_t n);
/* Owner thread: an arena slot leaves service (returned or destroyed): frees
 * still on its list named no live buffer and are counted as remote errors. */
void vb_slot_discard_remote(vb_pool *p, uint32_t i);
/* pool.c, owner thread: fills slot i from a fresh backing pool (owner left
 * NONE: the caller publishes it); empties it again; makes it current. */
void vb_slot_fill(vb_pool *p, uint32_t i, void *backing);
void vb_slot_clear(vb_pool *p, uint32_t i);
void vb_pool_set_cur(vb_pool *p, uint32_t i);
/* With VB_FLAG_RELEASE_EMPTY_ARENAS: returns extra arena i if it is the
 * owner's and empty. */
void vb_pool_arena_empty(vb_pool *p, uint32_t i);
/* Owner thread: empties extra arena i at once (it is the owner's, or a
 * returned or reserved one no view can touch any more): its registration
 * and memory go, the slot reads NONE. */
void vb_pool_discard_arena(vb_pool *p, uint32_t i);
/* Frees the links (destroy). */
void vb_pool_free_links(vb_pool *p);
/* The process-wide lock of share/attach/detach/destroy (shared.c). */
void vb_share_lock(void);
void vb_share_unlock(void);
/* vb_pool_destroy for a pool whose thread ended (thread_exit.c): live
 * buffers do not stop it; an attached view does (VB_EATTACHED). */
int32_t vb_pool_destroy_abandoned(vb_pool *p);
/* Unlinks the pool from the registry of live pools (destroy; share lock held). */
void vb_pool_unlist_locked(vb_pool *p);
/* Links a new pool into it. */
void vb_pool_list(vb_pool *p);

/* Registration hooks pool.c calls when an arena comes or goes
 * (registered.c).  add returns 0 or an error and sets the slot's index. */
int32_t vb_registration_add_arena(vb_pool *p, uint32_t arena);
void vb_registration_remove_arena(vb_pool *p, uint32_t arena);
/* A view's thread, the pool's reg_lock held (not the share lock):
 * registers its arena (just mapped) at the indexes reserved for it in
 * every ring of the pool; all or nothing. */
int32_t vb_registration_map_view_locked(vb_pool *p, uint32_t arena);

#endif /* VB_POOL_INTERNAL_H */

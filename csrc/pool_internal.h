/*
 * pool_internal.h - the vb_pool struct, shared by pool.c (type erasure,
 * arenas, fallback) and registered.c (registration).  Nothing outside csrc/
 * sees it.
 */
#ifndef VB_POOL_INTERNAL_H
#define VB_POOL_INTERNAL_H

#include "fallback.h"
#include "pool_impl.h"

#include <stdatomic.h>

/* Who may touch an arena's backing pool (vb_arena_slot.owner). */
enum {
    VB_OWNER_NONE = 0,     /* empty slot */
    VB_OWNER_MAIN = 1,     /* the thread that created the pool */
    VB_OWNER_RESERVED = 2, /* made by vb_pool_share, waiting for vb_view_attach */
    VB_OWNER_VIEW0 = 3,    /* and up: the id of the view (thread) that owns it */
};

/* A free made by a thread that does not own the buffer's arena: pushed on
 * the arena's remote list, freed by the owner later (shared.c). */
typedef struct vb_remote {
    int32_t handle;
    struct vb_remote *next;
} vb_remote;

/* One arena of a pool: a backing pool of the pool's shape. */
typedef struct vb_arena_slot {
    void *backing;     /* NULL once an empty extra arena was returned */
    uint8_t *base;
    uint64_t size;
    int32_t reg_index; /* first registered index, or -1 */
    uint32_t reg_count;
    _Atomic uint32_t owner;         /* VB_OWNER_* or a view id */
    _Atomic(vb_remote *) remote;    /* frees from other threads */
    uint8_t shared;                 /* made by vb_pool_share */
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
    _Atomic uint32_t main_pending;    /* remote frees wait in main's arenas */
    _Atomic(vb_remote *) fallback_remote;
    _Atomic uint32_t attached;        /* views attached now */
    uint32_t token;                   /* tells a live pool from a stale handle */
    uint32_t next_view_id;
    uint64_t remote_errors;           /* remote frees the owner refused */
    _Atomic uint64_t view_allocs;     /* allocations of detached views */
    char msg[256];
};

/* shared.c: frees `handle` on behalf of a thread that does not own its
 * arena (pushed for the owner), and the owner's side of it. */
void vb_remote_push(vb_pool *p, uint32_t arena, int32_t handle);
/* Main thread: frees every remote free waiting in its arenas and in the
 * fallback list.  Returns how many buffers came back. */
uint32_t vb_pool_drain_remote(vb_pool *p);
/* Unlinks the pool from the registry of live pools (destroy). */
void vb_pool_unlist(vb_pool *p);
/* Links a new pool into it. */
void vb_pool_list(vb_pool *p);

/* Registration hooks pool.c calls when an arena comes or goes
 * (registered.c).  add returns 0 or an error and sets the slot's index. */
int32_t vb_registration_add_arena(vb_pool *p, uint32_t arena);
void vb_registration_remove_arena(vb_pool *p, uint32_t arena);

#endif /* VB_POOL_INTERNAL_H */

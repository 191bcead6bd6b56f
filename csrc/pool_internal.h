/*
 * pool_internal.h - the vb_pool struct, shared by pool.c (type erasure,
 * arenas, fallback) and registered.c (registration).  Nothing outside csrc/
 * sees it.
 */
#ifndef VB_POOL_INTERNAL_H
#define VB_POOL_INTERNAL_H

#include "fallback.h"
#include "pool_impl.h"

/* One arena of a pool: a backing pool of the pool's shape. */
typedef struct vb_arena_slot {
    void *backing;     /* NULL once an empty extra arena was returned */
    uint8_t *base;
    uint64_t size;
    int32_t reg_index; /* first registered index, or -1 */
    uint32_t reg_count;
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
    vb_arena_slot *arenas; /* max_arenas slots; arena 0 is never returned */
    uint32_t narenas;      /* slots ever used: [0, narenas) */
    uint32_t live_arenas;  /* slots with a backing pool */
    uint32_t max_arenas;
    uint32_t flags;
    uint64_t allocs; /* successful allocations; frees = allocs - live */
    uint64_t failed_allocs;
    uint64_t grows;
    vb_fallback fallback;
    vb_registration *registration;
    char msg[256];
};

/* Registration hooks pool.c calls when an arena comes or goes
 * (registered.c).  add returns 0 or an error and sets the slot's index. */
int32_t vb_registration_add_arena(vb_pool *p, uint32_t arena);
void vb_registration_remove_arena(vb_pool *p, uint32_t arena);

#endif /* VB_POOL_INTERNAL_H */

/*
 * pool_internal.h - the vb_pool struct, shared by pool.c (type erasure and
 * fallback) and the registration layer.  Nothing outside csrc/ sees it.
 */
#ifndef VB_POOL_INTERNAL_H
#define VB_POOL_INTERNAL_H

#include "fallback.h"
#include "pool_impl.h"

struct vb_pool {
    uint32_t out[VB_OUT_LEN]; /* hot: written by every alloc */
    const vb_backing_vtable *vt;
    void *backing;
    uint8_t *arena_base;
    uint64_t arena_size;
    int32_t reg_index; /* first registered index of the arena, or -1 */
    uint32_t flags;
    uint64_t allocs; /* successful allocations; frees = allocs - live */
    uint64_t failed_allocs;
    vb_fallback fallback;
    /* Called by vb_pool_destroy before anything is freed (unregistration);
     * a non-zero result stops the destroy. */
    int32_t (*on_destroy)(vb_pool *p);
    void *registration;
    char msg[256];
};

#endif /* VB_POOL_INTERNAL_H */

/*
 * pool_impl.h - the contract between the type-erased pool (pool.c) and the
 * backing pools (buddy.c, hybrid.c).  This is the seed's BackingPool trait
 * as a manual vtable: pool.c never knows which allocator it is talking to.
 *
 * Backing pools work in pages of one arena and never see the handle's arena
 * bits, fallback buffers, registration or statistics that span arenas.
 */
#ifndef VB_POOL_IMPL_H
#define VB_POOL_IMPL_H

#include "veloq_buffer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vb_arena;

typedef struct vb_backing_vtable {
    const char *kind;
    /* Requests above max_request go to the global allocator (else VB_ERANGE). */
    bool oversize_fallback;
    /* Allocate a block of at least `size` bytes; returns its first page
     * (>= 0) and stores its capacity, or VB_ENOMEM / VB_ERANGE. */
    int32_t (*alloc)(void *self, uint32_t size, uint32_t *capacity);
    /* Free the block starting at `page`; VB_EDOUBLEFREE / VB_EINTERIOR /
     * VB_EFAULT leave the pool unchanged. */
    int32_t (*free)(void *self, uint32_t page);
    /* The release-then-alloc pair in one call: when the live block at `page`
     * is exactly what alloc(size) would hand out next (same order or class:
     * the block a LIFO free list would return), keep it live and return
     * `page` with its capacity; otherwise return -1 and change nothing. */
    int32_t (*reuse)(void *self, uint32_t page, uint32_t size, uint32_t *capacity);
    /* Capacity of the live block starting at `page`, or 0. */
    uint32_t (*capacity)(void *self, uint32_t page);
    /* The arena this backing pool carves up. */
    void (*region)(void *self, void **base, uint64_t *size);
    /* Largest request that can ever succeed (VB_ERANGE above it). */
    uint64_t (*max_request)(void *self);
    /* Blocks handed out (for the pool's consistency check). */
    uint64_t (*live)(void *self);
    /* Adds this backing pool's figures to out[] (VB_STAT_*). */
    void (*stats)(void *self, double *out);
    /* Per-class figures, or VB_EINVAL. */
    int32_t (*class_stats)(void *self, uint32_t cls, double *out);
    /* Verify every invariant; on failure write a message and return
     * VB_ECORRUPT. */
    int32_t (*check)(void *self, char *msg, size_t msg_len);
    void (*destroy)(void *self);
    /* A new, empty backing pool of the same shape, for growth (and shares:
     * with VB_ARENA_RESERVE_ONLY its arena is address space only). */
    int32_t (*clone)(const void *self, uint32_t flags, void **out);
    /* The arena it carves up (a lazily mapped share commits it). */
    struct vb_arena *(*arena)(void *self);
} vb_backing_vtable;

/* Wraps a freshly created backing pool in a vb_pool (which then owns it). */
int32_t vb_pool_wrap(const vb_backing_vtable *vt, void *backing, uint32_t flags,
                     vb_pool **out);

/* printf into a bounded message buffer; always returns VB_ECORRUPT. */
int32_t vb_corrupt(char *msg, size_t msg_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* VB_POOL_IMPL_H */

/*
 * fallback.h - buffers from the global allocator, for requests a pool's
 * arenas cannot serve (too large, or the pool is full and its policy says
 * fall back).  They are page-aligned like arena buffers but never registered.
 * A table of slots names them, so they get handles like any other buffer and
 * double frees are caught the same way.
 */
#ifndef VB_FALLBACK_H
#define VB_FALLBACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct vb_fallback_slot {
    void *ptr;          /* NULL while the slot is free */
    uint32_t capacity;
    uint32_t next_free; /* free-slot chain */
} vb_fallback_slot;

typedef struct vb_fallback {
    vb_fallback_slot *slots;
    uint32_t nslots;
    uint32_t free_head;
    uint32_t live;
    uint64_t live_bytes;
} vb_fallback;

/* Returns a slot number (>= 0) and the capacity, or VB_ENOMEM. */
int32_t vb_fallback_alloc(vb_fallback *fb, uint32_t size, uint32_t *capacity);
/* Returns the freed capacity (> 0), or VB_EDOUBLEFREE / VB_EFAULT. */
int32_t vb_fallback_free(vb_fallback *fb, uint32_t slot);
/* The live buffer in `slot`, or NULL. */
void *vb_fallback_ptr(const vb_fallback *fb, uint32_t slot);
/* Finds the slot holding ptr: >= 0, or VB_EINTERIOR (inside one) / VB_EFAULT. */
int32_t vb_fallback_find(const vb_fallback *fb, const void *ptr);
/* Verifies the table: the free chain holds exactly the free slots, once
 * each; the live count and bytes match the live slots.  0, or VB_ECORRUPT
 * with a message. */
int32_t vb_fallback_check(const vb_fallback *fb, char *msg, size_t msg_len);
/* Frees the table (its buffers must all be freed). */
void vb_fallback_destroy(vb_fallback *fb);

#endif /* VB_FALLBACK_H */

/*
 * arena.h - page-aligned, address-stable memory straight from mmap.
 *
 * Arenas are anonymous private mappings: the kernel accepts only anonymous
 * memory for registered buffers, and a mapping never moves.  mmap already
 * returns page-aligned addresses, so 4 KiB alignment needs no extra work.
 */
#ifndef VB_ARENA_H
#define VB_ARENA_H

#include <stdint.h>

typedef struct vb_arena {
    void *base;    /* first usable byte, VB_PAGE_SIZE aligned */
    uint64_t size; /* usable bytes, a multiple of VB_PAGE_SIZE */
} vb_arena;

/* Maps `size` bytes (a multiple of VB_PAGE_SIZE); VB_FLAG_POPULATE pre-faults
 * them.  Returns 0 or a negative errno. */
int32_t vb_arena_map(vb_arena *arena, uint64_t size, uint32_t flags);
void vb_arena_unmap(vb_arena *arena);

/* Metadata tables (never inside arenas: buffers belong to the kernel while
 * I/O runs).  Zeroed, and freed with vb_meta_free. */
void *vb_meta_alloc(uint64_t bytes);
void vb_meta_free(void *p, uint64_t bytes);

#endif /* VB_ARENA_H */

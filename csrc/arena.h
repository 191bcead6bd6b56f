/*
 * arena.h - page-aligned, address-stable memory straight from mmap.
 *
 * Arenas are anonymous private mappings: the kernel accepts only anonymous
 * memory for registered buffers, and a mapping never moves.  mmap already
 * returns page-aligned addresses, so 4 KiB alignment needs no extra work;
 * huge pages (VB_FLAG_HUGE_PAGES) need 2 MiB alignment, arranged here.
 */
#ifndef VB_ARENA_H
#define VB_ARENA_H

#include <stdint.h>

#define VB_HUGE_PAGE_SIZE (2u << 20)

/* How an arena's pages are backed.  RESERVED: address space only
 * (PROT_NONE, no memory behind it) until vb_arena_commit. */
enum { VB_ARENA_4K = 0, VB_ARENA_HUGETLB = 1, VB_ARENA_THP = 2, VB_ARENA_RESERVED = 3 };

/* Internal flag (never a public VB_FLAG_*): vb_arena_map only reserves the
 * address range; vb_arena_commit backs it with memory later.  The base
 * never moves, so a pointer taken before the commit stays right. */
#define VB_ARENA_RESERVE_ONLY (1u << 31)

typedef struct vb_arena {
    void *base;    /* first usable byte, VB_PAGE_SIZE aligned */
    uint64_t size; /* usable bytes, a multiple of VB_PAGE_SIZE */
    void *map;     /* what to munmap (differs from base when over-mapped to align) */
    uint64_t map_size;
    int mode;      /* VB_ARENA_* */
    uint32_t commit_flags; /* RESERVED: the VB_FLAG_POPULATE / HUGE_PAGES asked for */
    uint64_t commit_size;  /* RESERVED: bytes from base the commit backs */
} vb_arena;

/* Maps `size` bytes (a multiple of VB_PAGE_SIZE; with VB_FLAG_HUGE_PAGES
 * the mapping is rounded up to whole 2 MiB pages); VB_FLAG_POPULATE
 * pre-faults them.  Returns 0 or a negative errno. */
int32_t vb_arena_map(vb_arena *arena, uint64_t size, uint32_t flags);
void vb_arena_unmap(vb_arena *arena);
/* Backs a reserved arena with memory (read/write; huge pages only as THP
 * advice; pre-faulted when VB_FLAG_POPULATE was asked).  Never unmaps the
 * range, also when it fails, so no other mapping can land in it.  0 (also
 * for an arena that is not RESERVED) or a negative errno. */
int32_t vb_arena_commit(vb_arena *arena);
/* Undoes vb_arena_commit: the memory goes back, the range stays reserved. */
void vb_arena_decommit(vb_arena *arena);
/* Adds the arena's page mode to the pool stats (VB_STAT_*_ARENAS). */
void vb_arena_stats(const vb_arena *arena, double *out);

/* Metadata tables (never inside arenas: buffers belong to the kernel while
 * I/O runs).  Zeroed, and freed with vb_meta_free. */
void *vb_meta_alloc(uint64_t bytes);
void vb_meta_free(void *p, uint64_t bytes);

#endif /* VB_ARENA_H */

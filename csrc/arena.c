/* arena.c - see arena.h. */
#define _GNU_SOURCE /* MAP_HUGETLB, MADV_HUGEPAGE */
#include "arena.h"

#include "veloq_buffer.h"

#include <errno.h>
#include <sys/mman.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MAP_HUGE_2MB_ (21 << MAP_HUGE_SHIFT)

/* Huge pages, first choice: reserved hugetlbfs pages (vm.nr_hugepages).
 * Pinned for registration as 2 MiB pages, never split or swapped. */
static void *map_hugetlb(uint64_t size, int mflags) {
    void *p = mmap(0, (size_t)size, PROT_READ | PROT_WRITE, mflags | MAP_HUGETLB | MAP_HUGE_2MB_, -1, 0);
    return p == MAP_FAILED ? 0 : p;
}

/* Second choice: a 2 MiB-aligned ordinary mapping advised MADV_HUGEPAGE, so
 * transparent huge pages can back it when the kernel has them.  Over-map
 * by 2 MiB and keep the aligned middle. */
static void *map_thp(vb_arena *a, uint64_t size, int mflags) {
    uint64_t over = size + VB_HUGE_PAGE_SIZE;
    uint8_t *p = mmap(0, (size_t)over, PROT_READ | PROT_WRITE, mflags & ~MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return 0;
    uint8_t *base = (uint8_t *)(((uintptr_t)p + VB_HUGE_PAGE_SIZE - 1) & ~(uintptr_t)(VB_HUGE_PAGE_SIZE - 1));
    a->map = p;
    a->map_size = over;
    madvise(base, (size_t)size, MADV_HUGEPAGE); /* advice: failure only means 4 KiB pages */
    if (mflags & MAP_POPULATE) madvise(base, (size_t)size, MADV_POPULATE_WRITE);
    return base;
}

/* Address space only: PROT_NONE private anonymous memory is neither
 * backed, nor charged to the commit limit, nor pinnable; 2 MiB-aligned
 * (over-mapped) when huge pages are asked, so the commit can advise THP. */
static int32_t reserve(vb_arena *a, uint64_t size, uint32_t flags) {
    uint64_t commit = size, over = size;
    if (flags & VB_FLAG_HUGE_PAGES) {
        commit = (size + VB_HUGE_PAGE_SIZE - 1) & ~(uint64_t)(VB_HUGE_PAGE_SIZE - 1);
        over = commit + VB_HUGE_PAGE_SIZE;
    }
    uint8_t *p = mmap(0, (size_t)over, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return -errno;
    uint8_t *base = p;
    if (flags & VB_FLAG_HUGE_PAGES)
        base = (uint8_t *)(((uintptr_t)p + VB_HUGE_PAGE_SIZE - 1) & ~(uintptr_t)(VB_HUGE_PAGE_SIZE - 1));
    a->map = p;
    a->map_size = over;
    a->base = base;
    a->size = size;
    a->mode = VB_ARENA_RESERVED;
    a->commit_flags = flags & (VB_FLAG_POPULATE | VB_FLAG_HUGE_PAGES);
    a->commit_size = commit;
    return 0;
}

int32_t vb_arena_commit(vb_arena *a) {
    if (a->mode != VB_ARENA_RESERVED) return 0;
    /* mprotect, not a MAP_FIXED mmap: a failed MAP_FIXED may leave a hole
     * another thread's mmap could take before we filled it again. */
    if (mprotect(a->base, (size_t)a->commit_size, PROT_READ | PROT_WRITE) != 0) return -errno;
    int mode = VB_ARENA_4K;
    if ((a->commit_flags & VB_FLAG_HUGE_PAGES) && madvise(a->base, (size_t)a->commit_size, MADV_HUGEPAGE) == 0)
        mode = VB_ARENA_THP;
    if (a->commit_flags & VB_FLAG_POPULATE) {
        /* Pre-faulting is advice, as MAP_POPULATE is; before 5.14 (no
         * MADV_POPULATE_WRITE) touch each page. */
        if (madvise(a->base, (size_t)a->commit_size, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
            for (uint64_t off = 0; off < a->commit_size; off += VB_PAGE_SIZE) ((volatile uint8_t *)a->base)[off] = 0;
    }
    a->mode = mode;
    return 0;
}

void vb_arena_decommit(vb_arena *a) {
    if (a->mode == VB_ARENA_RESERVED || !a->commit_size) return;
    madvise(a->base, (size_t)a->commit_size, MADV_DONTNEED);
    mprotect(a->base, (size_t)a->commit_size, PROT_NONE);
    a->mode = VB_ARENA_RESERVED;
}

int32_t vb_arena_map(vb_arena *arena, uint64_t size, uint32_t flags) {
    arena->base = arena->map = 0;
    arena->size = arena->map_size = 0;
    arena->mode = VB_ARENA_4K;
    arena->commit_flags = 0;
    arena->commit_size = 0;
    if (size == 0 || size % VB_PAGE_SIZE != 0) return VB_EINVAL;
    if (flags & VB_ARENA_RESERVE_ONLY) return reserve(arena, size, flags);
    int mflags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (flags & VB_FLAG_POPULATE) mflags |= MAP_POPULATE;
    void *p = 0;
    if (flags & VB_FLAG_HUGE_PAGES) {
        /* Whole huge pages are mapped; the arena uses `size` of them. */
        uint64_t whole = (size + VB_HUGE_PAGE_SIZE - 1) & ~(uint64_t)(VB_HUGE_PAGE_SIZE - 1);
        if ((p = map_hugetlb(whole, mflags)) != 0) {
            arena->map = p;
            arena->map_size = whole;
            arena->mode = VB_ARENA_HUGETLB;
        } else if ((p = map_thp(arena, whole, mflags)) != 0) {
            arena->mode = VB_ARENA_THP;
        } else {
            return -errno;
        }
    } else {
        p = mmap(0, (size_t)size, PROT_READ | PROT_WRITE, mflags, -1, 0);
        if (p == MAP_FAILED) return -errno;
        arena->map = p;
        arena->map_size = size;
    }
    arena->base = p;
    arena->size = size;
    return 0;
}

void vb_arena_unmap(vb_arena *arena) {
    if (arena->map) munmap(arena->map, (size_t)arena->map_size);
    arena->base = arena->map = 0;
    arena->size = arena->map_size = 0;
}

void vb_arena_stats(const vb_arena *arena, double *out) {
    if (arena->mode == VB_ARENA_HUGETLB) out[VB_STAT_HUGE_ARENAS] += 1;
    if (arena->mode == VB_ARENA_THP) out[VB_STAT_THP_ARENAS] += 1;
}

/* Side tables come from mmap too: they can be large (a 4 GiB arena has a
 * million pages) and calloc would touch them all. */
void *vb_meta_alloc(uint64_t bytes) {
    if (bytes == 0) bytes = 1;
    void *p = mmap(0, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? 0 : p;
}

void vb_meta_free(void *p, uint64_t bytes) {
    if (p) munmap(p, (size_t)(bytes ? bytes : 1));
}

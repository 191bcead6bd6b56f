/* arena.c - see arena.h. */
#include "arena.h"

#include "veloq_buffer.h"

#include <errno.h>
#include <sys/mman.h>

int32_t vb_arena_map(vb_arena *arena, uint64_t size, uint32_t flags) {
    arena->base = 0;
    arena->size = 0;
    if (size == 0 || size % VB_PAGE_SIZE != 0) return VB_EINVAL;
    int mflags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (flags & VB_FLAG_POPULATE) mflags |= MAP_POPULATE;
    void *p = mmap(0, (size_t)size, PROT_READ | PROT_WRITE, mflags, -1, 0);
    if (p == MAP_FAILED) return -errno;
    arena->base = p;
    arena->size = size;
    return 0;
}

void vb_arena_unmap(vb_arena *arena) {
    if (arena->base) munmap(arena->base, (size_t)arena->size);
    arena->base = 0;
    arena->size = 0;
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

/* buddy.h - BuddyPool's backing allocator (see buddy.c). */
#ifndef VB_BUDDY_H
#define VB_BUDDY_H

#include "pool_impl.h"

/* Largest block: 2^18 pages = 1 GiB, the kernel's limit for one registered
 * buffer, so a block never straddles two registrations. */
#define VB_BUDDY_MAX_ORDER 18u
#define VB_BUDDY_MAX_CACHE_DEPTH 65536u

int32_t vb_buddy_new(uint64_t arena_size, uint32_t cache_depth, uint32_t cached_orders,
                     uint32_t flags, const vb_backing_vtable **vt, void **out);

#endif /* VB_BUDDY_H */

/* hybrid.h - HybridPool's backing allocator (see hybrid.c). */
#ifndef VB_HYBRID_H
#define VB_HYBRID_H

#include "pool_impl.h"

#define VB_HYBRID_MAX_CLASSES 16u
/* One registered buffer covers at most 1 GiB, and the arena is one region. */
#define VB_HYBRID_MAX_ARENA (1ull << 30)
#define VB_HYBRID_MAX_CLASS_SIZE (1u << 30)

int32_t vb_hybrid_new(const uint32_t *sizes, const uint32_t *counts, uint32_t nclasses,
                      uint32_t flags, const vb_backing_vtable **vt, void **out);

#endif /* VB_HYBRID_H */

/*
 * registrar.h - the seed's BufferRegistrar: something that takes memory
 * regions and gives back the indexes I/O requests name them by.  The pools
 * never see it; registered.c binds a pool to one.  The io_uring
 * implementation lives in registrar_uring.c.
 */
#ifndef VB_REGISTRAR_H
#define VB_REGISTRAR_H

#include <stdint.h>
#include <sys/uio.h>

/* The kernel's limits for one registered buffer table
 * (IORING_MAX_REG_BUFFERS, and 1 GiB per buffer in io_uring/rsrc.c). */
#define VB_MAX_REG_BUFFERS 16384u
#define VB_MAX_REG_BUFFER_SIZE (1ull << 30)
/* A registered buffer of 1 GiB spans this many pages: the hot path turns a
 * page number into an index offset with one shift. */
#define VB_REG_PAGE_SHIFT 18u

typedef struct vb_registrar_ops {
    /* First index at or after `from` that starts n free slots, or -1. */
    int64_t (*find_free)(void *self, uint32_t from, uint32_t n);
    /* Registers n regions (each at most VB_MAX_REG_BUFFER_SIZE bytes) at
     * indexes [first, first + n); 0 or a negative error. */
    int32_t (*register_at)(void *self, uint32_t first, const struct iovec *iov, uint32_t n);
    /* Shares indexes [first, first + n) of another registrar of the same
     * kind, same indexes here, without pinning the memory again; 0, or a
     * negative error when the kernel cannot (then register_at instead). */
    int32_t (*clone_from)(void *self, void *src_self, uint32_t first, uint32_t n);
    /* Frees the indexes [first, first + n). */
    int32_t (*unregister)(void *self, uint32_t first, uint32_t n);

    /* Lazy shares (registered.c): the indexes are taken at share() with
     * nothing behind them, and filled when the view maps its arena. */
    /* Takes [first, first + n) (found free) with nothing registered there. */
    void (*reserve)(void *self, uint32_t first, uint32_t n);
    /* Gives reserved indexes back (nothing registered there). */
    void (*unreserve)(void *self, uint32_t first, uint32_t n);
    /* Registers n regions at reserved indexes, all or nothing; 0 or a
     * negative error.  Touches none of the registrar's own bookkeeping,
     * only the kernel's table: the share lock held, another thread than the
     * registrar's may call it while the registrar's thread works. */
    int32_t (*fill_reserved)(void *self, uint32_t first, const struct iovec *iov, uint32_t n);
    /* Empties filled reserved indexes in the kernel; they stay reserved
     * (same rule as fill_reserved). */
    void (*empty_reserved)(void *self, uint32_t first, uint32_t n);
} vb_registrar_ops;

/* One pool registered with one registrar (registered.c). */
typedef struct vb_registration vb_registration;

typedef struct vb_registrar {
    const vb_registrar_ops *ops;
    void *self;
    /* Skip the RLIMIT_MEMLOCK pre-check and let the kernel decide. */
    int no_memlock_precheck;
    /* Pools registered here, so the registrar can detach them when it goes
     * away before they do. */
    vb_registration *regs;
} vb_registrar;

/* Called by a registrar that goes away: its pools keep working,
 * unregistered (their new buffers get index -1). */
void vb_registrations_detach(vb_registrar *r);

#endif /* VB_REGISTRAR_H */

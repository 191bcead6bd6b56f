/*
 * registrar_uring.c - registered buffers in an io_uring's sparse table.
 *
 * The table is registered once, empty, when the ring is created
 * (io_uring_register_buffers_sparse); registering a pool fills free slots
 * with io_uring_register_buffers_update_tag and unregistering empties them
 * again.  Nothing already registered is ever re-registered, so pools can come
 * and go (and grow) while I/O runs on other slots.
 *
 * A pool used by several rings has the same indexes in each (a FixedBuf
 * carries one bufIndex).  The kernel can share registered buffers between
 * rings without pinning or charging them again (IORING_REGISTER_CLONE_BUFFERS
 * with a range and DST_REPLACE, Linux 6.13); where it cannot, the same memory
 * is simply registered again at the same slots.
 */
#include "registrar_uring.h"

#include "veloq_buffer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Not in Debian's liburing 2.3 headers: the kernel's own values. */
#define VB_IORING_REGISTER_CLONE_BUFFERS 30u
#define VB_IORING_REGISTER_DST_REPLACE (1u << 1)

struct vb_clone_buffers { /* struct io_uring_clone_buffers, Linux 6.13 */
    uint32_t src_fd;
    uint32_t flags;
    uint32_t src_off;
    uint32_t dst_off;
    uint32_t nr;
    uint32_t pad[3];
};

int32_t vb_uring_table_init(vb_uring_table *t, struct io_uring *ring, uint32_t slots) {
    memset(t, 0, sizeof *t);
    t->ring = ring;
    if (slots == 0) return 0;
    if (slots > VB_MAX_REG_BUFFERS) return VB_EINVAL;
    t->used = calloc(slots, 1);
    if (!t->used) return VB_ENOMEM;
    int rc = io_uring_register_buffers_sparse(ring, slots);
    if (rc < 0) {
        free(t->used);
        t->used = 0;
        return rc;
    }
    t->slots = slots;
    return 0;
}

void vb_uring_table_fini(vb_uring_table *t) {
    free(t->used);
    t->used = 0;
    t->slots = 0;
}

/* First of n consecutive free slots at or after `from`, or -1. */
static int64_t uring_find_free(void *self, uint32_t from, uint32_t n) {
    const vb_uring_table *t = self;
    if (n == 0) return -1;
    for (uint32_t i = from, run = 0; i < t->slots; i++) {
        run = t->used[i] ? 0 : run + 1;
        if (run == n) return (int64_t)i + 1 - n;
    }
    return -1;
}

/* Empties slots [first, first + n) in the kernel's table (the kernel only:
 * `used` is left alone). */
static int32_t empty_kernel(const vb_uring_table *t, uint32_t first, uint32_t n) {
    int32_t err = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct iovec empty = {0, 0};
        int rc = io_uring_register_buffers_update_tag(t->ring, first + i, &empty, 0, 1);
        if (rc < 0 && !err) err = rc;
    }
    return err;
}

/* Empties slots [first, first + n) and frees them. */
static int32_t clear_slots(vb_uring_table *t, uint32_t first, uint32_t n) {
    int32_t err = empty_kernel(t, first, n);
    memset(t->used + first, 0, n);
    return err;
}

/* Registers n regions at [first, first + n) in the kernel's table, all or
 * nothing; the kernel only (`used` is left alone).  Reads t->ring and
 * t->slots, fixed from the table's init to its fini. */
static int32_t fill_kernel(const vb_uring_table *t, uint32_t first, const struct iovec *iov, uint32_t n) {
    if (n == 0 || (uint64_t)first + n > t->slots) return VB_ENOSLOTS;
    /* One slot per call: a batch that fails part-way reports how many went
     * in but not why, and the why (ENOMEM: memlock) is what users need. */
    for (uint32_t i = 0; i < n; i++) {
        int rc = io_uring_register_buffers_update_tag(t->ring, first + i, iov + i, 0, 1);
        if (rc != 1) {
            empty_kernel(t, first, i);
            return rc < 0 ? rc : -EIO;
        }
    }
    return 0;
}

static int32_t uring_register_at(void *self, uint32_t first, const struct iovec *iov, uint32_t n) {
    vb_uring_table *t = self;
    int32_t rc = fill_kernel(t, first, iov, n);
    if (rc == 0) memset(t->used + first, 1, n);
    return rc;
}

static void uring_reserve(void *self, uint32_t first, uint32_t n) {
    vb_uring_table *t = self;
    if ((uint64_t)first + n <= t->slots) memset(t->used + first, 1, n);
}

static void uring_unreserve(void *self, uint32_t first, uint32_t n) {
    vb_uring_table *t = self;
    if ((uint64_t)first + n <= t->slots) memset(t->used + first, 0, n);
}

static int32_t uring_fill_reserved(void *self, uint32_t first, const struct iovec *iov, uint32_t n) {
    return fill_kernel(self, first, iov, n);
}

static void uring_empty_reserved(void *self, uint32_t first, uint32_t n) {
    const vb_uring_table *t = self;
    if ((uint64_t)first + n <= t->slots) empty_kernel(t, first, n);
}

static int32_t uring_clone_from(void *self, void *src_self, uint32_t first, uint32_t n) {
    vb_uring_table *t = self;
    const vb_uring_table *src = src_self;
    if (n == 0 || (uint64_t)first + n > t->slots) return VB_ENOSLOTS;
    /* Some 6.13+ kernels without the fix for lost entries after a cloned
     * range (525916ce) drop the destination's entries past the range: clone
     * only where none are in use, register otherwise. */
    for (uint32_t i = first + n; i < t->slots; i++)
        if (t->used[i]) return -EEXIST;
    struct vb_clone_buffers arg;
    memset(&arg, 0, sizeof arg);
    arg.src_fd = (uint32_t)src->ring->ring_fd;
    arg.flags = VB_IORING_REGISTER_DST_REPLACE; /* our table exists: sparse */
    arg.src_off = first;
    arg.dst_off = first;
    arg.nr = n;
    long rc = syscall(__NR_io_uring_register, t->ring->ring_fd, VB_IORING_REGISTER_CLONE_BUFFERS, &arg, 1);
    if (rc < 0) return -errno; /* EINVAL before 6.13: the caller registers instead */
    memset(t->used + first, 1, n);
    return 0;
}

static int32_t uring_unregister(void *self, uint32_t first, uint32_t n) {
    vb_uring_table *t = self;
    if ((uint64_t)first + n > t->slots) return VB_EINVAL;
    return clear_slots(t, first, n);
}

const vb_registrar_ops vb_uring_registrar_ops = {
    .find_free = uring_find_free,
    .register_at = uring_register_at,
    .clone_from = uring_clone_from,
    .unregister = uring_unregister,
    .reserve = uring_reserve,
    .unreserve = uring_unreserve,
    .fill_reserved = uring_fill_reserved,
    .empty_reserved = uring_empty_reserved,
};

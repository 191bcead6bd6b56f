/*
 * registrar_uring.c - registered buffers in an io_uring's sparse table.
 *
 * The table is registered once, empty, when the ring is created
 * (io_uring_register_buffers_sparse); registering a pool fills free slots
 * with io_uring_register_buffers_update_tag and unregistering empties them
 * again.  Nothing already registered is ever re-registered, so pools can come
 * and go (and grow) while I/O runs on other slots.
 */
#include "registrar_uring.h"

#include "veloq_buffer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* First of n consecutive free slots, or -1. */
static int64_t find_run(const vb_uring_table *t, uint32_t n) {
    for (uint32_t i = 0, run = 0; i < t->slots; i++) {
        run = t->used[i] ? 0 : run + 1;
        if (run == n) return (int64_t)i + 1 - n;
    }
    return -1;
}

static int32_t uring_register(void *self, const struct iovec *iov, uint32_t n) {
    vb_uring_table *t = self;
    if (n == 0) return VB_EINVAL;
    int64_t first = find_run(t, n);
    if (first < 0) return VB_ENOSLOTS;
    int rc = io_uring_register_buffers_update_tag(t->ring, (unsigned)first, iov, 0, n);
    if (rc < 0) return rc;
    if ((uint32_t)rc != n) { /* partial: undo what went in */
        struct iovec empty[1] = {{0, 0}};
        for (int i = 0; i < rc; i++)
            io_uring_register_buffers_update_tag(t->ring, (unsigned)first + (unsigned)i, empty, 0, 1);
        return -EIO;
    }
    memset(t->used + first, 1, n);
    return (int32_t)first;
}

static int32_t uring_unregister(void *self, uint32_t first, uint32_t n) {
    vb_uring_table *t = self;
    if (first + n > t->slots) return VB_EINVAL;
    int32_t err = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct iovec empty = {0, 0};
        int rc = io_uring_register_buffers_update_tag(t->ring, first + i, &empty, 0, 1);
        if (rc < 0 && !err) err = rc;
        t->used[first + i] = 0;
    }
    return err;
}

const vb_registrar_ops vb_uring_registrar_ops = {
    .register_regions = uring_register,
    .unregister = uring_unregister,
};

/*
 * ring_internal.h - the vb_ring struct, shared by ring.c (I/O) and
 * registered.c (which registers pools in the ring's buffer table).
 */
#ifndef VB_RING_INTERNAL_H
#define VB_RING_INTERNAL_H

#include "registrar.h"
#include "registrar_uring.h"

#include <liburing.h>
#include <stdatomic.h>

struct vb_ring {
    struct io_uring uring;
    vb_uring_table table; /* the sparse registered-buffer table */
    vb_registrar registrar;
    int32_t *completions; /* (user_data, res) pairs filled by vb_ring_reap */
    uint32_t completions_cap;
    /* Waits announced by vb_ring_arm and not finished yet.  Destroy may
     * not unmap the ring while a helper thread is inside vb_ring_wait. */
    _Atomic uint32_t armed;
    _Atomic int closing;
};

#endif /* VB_RING_INTERNAL_H */

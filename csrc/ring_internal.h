/*
 * ring_internal.h - the vb_ring struct, shared by ring.c (I/O),
 * waiter.c (one blocking wait per thread), registered.c (which registers
 * pools in the ring's buffer table) and the op files (ring_ops.c, net.c),
 * which prepare their SQEs with vb_ring_sqe.
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
    int32_t *completions; /* (user_data, res, flags) triples filled by vb_ring_reap */
    uint32_t completions_cap;
    /* Waits announced by vb_ring_arm and not finished yet.  Destroy may
     * not unmap the ring while a helper thread is inside vb_ring_wait. */
    _Atomic uint32_t armed;
    _Atomic int closing;
    /* The thread's waiter this ring signals (eventfd), and the next ring of
     * that waiter's list; both guarded by the waiter's lock. */
    struct vb_waiter *waiter;
    /* CQEs reaped that were the last of their SQE (no F_MORE): with the
     * kernel's SQ head, how many SQEs are still the kernel's. */
    uint32_t finals;
    int sqpoll; /* IORING_SETUP_SQPOLL: a kernel thread consumes the SQ */
    /* IORING_SETUP_DEFER_TASKRUN: completion work waits for this ring's
     * thread to enter (set once at create, read-only after). */
    int defer_taskrun;
    uint32_t setup_flags; /* what io_uring_setup took */
    uint32_t auto_submits; /* io_uring_submit calls made by vb_ring_sqe (SQ full) */
    struct vb_ring *next_in_waiter;
    /* Accepts in the kernel (their user data; net.c records, vb_ring_reap
     * forgets at the last CQE), and whether the thread is ending: then an
     * accepted fd reaped is closed in C, since no JavaScript will adopt it.
     * Both touched by the owning thread only. */
    uint32_t *accepts;
    uint32_t naccepts, cap_accepts;
    int exiting;
};

/* An accept with user data `ud` was queued (net.c). 0 or VB_ENOMEM. */
int32_t vb_ring_note_accept(struct vb_ring *r, uint32_t ud);

/* An SQE for an op file to prepare (set its user_data: a request's slot, or
 * VB_RING_UD_IGNORE).  Submits what is queued when the SQ is full, so a
 * linked chain must check vb_ring_sq_space first.  NULL when none. */
struct io_uring_sqe *vb_ring_sqe(struct vb_ring *r);

/* Unlinks a ring from its waiter (ring.c's destroy). */
void vb_waiter_unlink(struct vb_ring *r);
/* The thread is ending (its JavaScript is gone): closes the fd of every
 * queued, never submitted CLOSE, which the shutdown would otherwise turn
 * into a NOP (the socket would stay open), and from now on closes what an
 * accept reaped returns. Only then: with the binding alive, such a close
 * is settled as never run and closed by the binding, and it adopts
 * accepted fds itself. */
void vb_ring_thread_ending(struct vb_ring *r);

#endif /* VB_RING_INTERNAL_H */

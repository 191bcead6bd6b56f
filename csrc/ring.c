/*
 * ring.c - one io_uring instance: queue reads and writes, submit them in a
 * batch, and hand completions to the caller in a flat array.
 *
 * The completion path is shaped by what a binding like Deno can afford (see
 * DESIGN.md section 8): waking a JavaScript thread costs tens of
 * microseconds, so the binding keeps at most ONE helper thread blocked in
 * vb_ring_wait, and when it returns drains every ready completion with one
 * cheap call (vb_ring_reap).  Only the submitting thread touches the SQ and
 * consumes CQEs; the helper thread only sleeps in io_uring_enter until the
 * CQ is non-empty, so the two never race on ring memory.
 *
 * IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN only on request
 * (VB_RING_SINGLE_ISSUER): the kernel then refuses io_uring_register from
 * any other thread, and a shared pool's Worker registers its arena with the
 * owner's rings from its own thread.  The helper thread never enters the
 * ring (it polls the eventfd), so the waiter works in both modes.
 *
 * COOP_TASKRUN | TASKRUN_FLAG (5.19+): a completion that needs the
 * submitting thread's task work (socket data behind an armed poll, most
 * file completions) no longer interrupts that thread with an IPI while it
 * runs JavaScript; the kernel sets IORING_SQ_TASKRUN and runs the work at
 * the thread's next syscall, and vb_ring_reap enters the kernel for it.  A
 * sleeping submitter is still woken at once (task_work_add wakes it).
 * Measured: the HTTP bench server spent 9% in IPI entry/exit without it.
 */
#include "ring_internal.h"

#include "veloq_buffer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Internal user_data: the wake-up NOP posted by destroy and the
 * cancel-all request.  vb_ring_reap never reports them. */
#define UD_WAKE 0xFFFFFFFFu
#define UD_CANCEL 0xFFFFFFFEu

int32_t vb_ring_create(uint32_t entries, uint32_t buf_slots, uint32_t flags, vb_ring **out) {
    if (!out || entries == 0 || entries > 32768 || buf_slots > VB_MAX_REG_BUFFERS) return VB_EINVAL;
    *out = 0;
    vb_ring *r = calloc(1, sizeof *r);
    if (!r) return VB_ENOMEM;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    /* A CQ twice the SQ.  More requests than that may be in flight: the
     * kernel keeps extra completions on its overflow list (NODROP, 5.5+).
     * SUBMIT_ALL (5.18+): a request the kernel refuses while submitting
     * completes with its error instead of stopping the batch, so every
     * request submitted is one the kernel took. */
    /* SQPOLL (opt-in): a kernel thread takes SQEs from the ring, so the
     * issue work (block layer, ~µs per request) runs beside the submitting
     * thread; it sleeps after `idle` ms without work (liburing's submit
     * wakes it).  No SINGLE_ISSUER/DEFER_TASKRUN (see the top). */
    uint32_t sqpoll = flags & VB_RING_SQPOLL;
    uint32_t idle = flags >> 16;
    params.flags = IORING_SETUP_CLAMP | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
                   (sqpoll ? 0 : IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
    if (sqpoll) {
        params.flags |= IORING_SETUP_SQPOLL;
        params.sq_thread_idle = idle ? idle : 10;
    }
    params.cq_entries = entries * 2;
    /* DEFER_TASKRUN needs SINGLE_ISSUER and excludes SQPOLL. */
    uint32_t single = (flags & VB_RING_SINGLE_ISSUER) && !sqpoll
                          ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
                          : 0;
    params.flags |= single;
    int rc = io_uring_queue_init_params(entries, &r->uring, &params);
    if (rc == -EINVAL && single) { /* before 6.1: without them */
        params.flags &= ~single;
        rc = io_uring_queue_init_params(entries, &r->uring, &params);
    }
    if (rc == -EINVAL && !sqpoll) { /* before 5.19: without COOP_TASKRUN */
        params.flags &= ~(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
        rc = io_uring_queue_init_params(entries, &r->uring, &params);
    }
    if (rc == -EINVAL) { /* before 5.18: without SUBMIT_ALL (submit loops) */
        uint32_t keep = params.flags & IORING_SETUP_SQPOLL;
        memset(&params, 0, sizeof params);
        params.flags = IORING_SETUP_CLAMP | IORING_SETUP_CQSIZE | keep;
        params.sq_thread_idle = keep ? (idle ? idle : 10) : 0;
        params.cq_entries = entries * 2;
        rc = io_uring_queue_init_params(entries, &r->uring, &params);
    }
    r->sqpoll = sqpoll != 0;
    r->setup_flags = params.flags;
    r->defer_taskrun = (params.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
    if (rc < 0) {
        free(r);
        return rc; /* -ENOSYS, -EPERM (io_uring_disabled, seccomp), -ENOMEM */
    }
    r->completions_cap = r->uring.cq.ring_entries;
    r->completions = calloc(r->completions_cap, 3 * sizeof(int32_t));
    if (!r->completions) {
        io_uring_queue_exit(&r->uring);
        free(r);
        return VB_ENOMEM;
    }
    rc = vb_uring_table_init(&r->table, &r->uring, buf_slots);
    if (rc < 0) {
        free(r->completions);
        io_uring_queue_exit(&r->uring);
        free(r);
        return rc;
    }
    r->registrar.ops = &vb_uring_registrar_ops;
    r->registrar.self = &r->table;
    r->registrar.no_memlock_precheck = (flags & VB_RING_NO_MEMLOCK_PRECHECK) != 0;
    *out = r;
    return 0;
}

/* Gets an SQE, submitting what is queued when the SQ is full. */
struct io_uring_sqe *vb_ring_sqe(vb_ring *r) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
    if (!sqe) {
        io_uring_submit(&r->uring);
        r->auto_submits++;
        sqe = io_uring_get_sqe(&r->uring);
    }
    /* SQPOLL: the submit above only published the entries (and woke the
     * kernel thread); the SQ stays full until that thread takes them, a
     * few microseconds later.  Wait for room instead of refusing, bounded
     * (~1 s) so a kernel thread that never consumes cannot hang the caller. */
    for (int i = 0; !sqe && r->sqpoll && i < 100000; i++) {
        if (io_uring_sq_space_left(&r->uring) == 0) {
            struct timespec ts = {0, 10000}; /* 10 us */
            nanosleep(&ts, 0);
            io_uring_submit(&r->uring); /* wakes the thread if it went idle */
            r->auto_submits++;
        }
        sqe = io_uring_get_sqe(&r->uring);
    }
    return sqe;
}

/* Turns requests prepared but never submitted into NOPs: at destroy they
 * must not run (nobody would reap them, and their buffers are released). */
static void neutralize_queued(vb_ring *r) {
    struct io_uring_sq *sq = &r->uring.sq;
    for (unsigned i = sq->sqe_head; i != sq->sqe_tail; i++) {
        struct io_uring_sqe *sqe = &sq->sqes[i & *sq->kring_mask];
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, UD_WAKE);
    }
}

int32_t vb_ring_note_accept(vb_ring *r, uint32_t ud) {
    if (r->naccepts == r->cap_accepts) {
        uint32_t cap = r->cap_accepts ? 2 * r->cap_accepts : 4;
        uint32_t *a = realloc(r->accepts, cap * sizeof *a);
        if (!a) return VB_ENOMEM;
        r->accepts = a;
        r->cap_accepts = cap;
    }
    r->accepts[r->naccepts++] = ud;
    return 0;
}

/* A CQE of an accept (its user data noted): forgets it at its last CQE.
 * The fd it brought becomes the thread's at once (vb_thread_own_fd), not
 * only once JavaScript wraps it a microtask later, which a Worker ending
 * (self.close() drops queued microtasks) may never run; at thread exit it
 * is closed here. */
static void reaped_accept(vb_ring *r, uint64_t ud, const struct io_uring_cqe *cqe) {
    for (uint32_t i = 0; i < r->naccepts; i++) {
        if (r->accepts[i] != ud) continue;
        if (cqe->res >= 0) {
            if (r->exiting) close(cqe->res);
            else vb_thread_own_fd(cqe->res);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE)) r->accepts[i] = r->accepts[--r->naccepts];
        return;
    }
}

void vb_ring_thread_ending(vb_ring *r) {
    r->exiting = 1;
    struct io_uring_sq *sq = &r->uring.sq;
    for (unsigned i = sq->sqe_head; i != sq->sqe_tail; i++) {
        struct io_uring_sqe *sqe = &sq->sqes[i & *sq->kring_mask];
        if (sqe->opcode != IORING_OP_CLOSE || (sqe->flags & IOSQE_FIXED_FILE) || sqe->fd < 0) continue;
        close(sqe->fd);
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, UD_WAKE);
    }
}

int32_t vb_ring_destroy(vb_ring *r) {
    if (!r) return VB_EINVAL;
    /* First out of the waiter's list: its helper reads this ring's CQ
     * indexes only under the waiter's lock, so after this it never will. */
    vb_waiter_unlink(r);
    atomic_store_explicit(&r->closing, 1, memory_order_seq_cst);
    neutralize_queued(r);
    /* Wake a helper blocked in vb_ring_wait: any CQE will do (the queued
     * NOPs, when the SQ was full and no SQE is left for another). */
    if (atomic_load_explicit(&r->armed, memory_order_acquire)) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
        if (sqe) {
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data64(sqe, UD_WAKE);
        }
        while (io_uring_sq_ready(&r->uring) > 0 && io_uring_submit(&r->uring) > 0) {
        }
    }
    /* The helper's last touch of *r is its release-decrement of `armed`. A
     * wait announced but not yet started sees `closing` and leaves at once. */
    while (atomic_load_explicit(&r->armed, memory_order_acquire) != 0) {
        struct timespec ts = {0, 50 * 1000};
        nanosleep(&ts, 0);
    }
    vb_registrations_detach(&r->registrar);
    vb_uring_table_fini(&r->table);
    io_uring_queue_exit(&r->uring); /* also drops the registered buffers */
    free(r->completions);
    free(r->accepts);
    free(r);
    return 0;
}

/* A file offset from a double: -1 (the file position, u64 -1 for the
 * kernel) or a whole number in [0, 2^64).  Anything else (NaN, other
 * negatives, fractions, 2^64 and above) is refused: casting it would be
 * undefined behaviour. [issue 12 item 11] */
static int file_offset(double v, uint64_t *out) {
    if (v == -1.0) {
        *out = (uint64_t)-1;
        return 0;
    }
    if (!(v >= 0) || v >= 18446744073709551616.0) return -1;
    uint64_t u = (uint64_t)v; /* defined now; exact for every whole double */
    if ((double)u != v) return -1; /* a fraction (no trunc(): no libm) */
    *out = u;
    return 0;
}

int32_t vb_ring_prep(vb_ring *r, uint32_t op, int32_t fd, uint8_t *buf, uint32_t len,
                     double offset, int32_t buf_index, uint32_t user_data) {
    uint64_t off;
    if (!buf || op > VB_OP_WRITE || user_data >= VB_RING_INTERNAL_DATA || file_offset(offset, &off))
        return VB_EINVAL;
    if (buf_index >= (int32_t)r->table.slots) return VB_EINVAL;
    struct io_uring_sqe *sqe = vb_ring_sqe(r);
    if (!sqe) return -EBUSY;
    if (buf_index >= 0) {
        if (op == VB_OP_READ) io_uring_prep_read_fixed(sqe, fd, buf, len, off, buf_index);
        else io_uring_prep_write_fixed(sqe, fd, buf, len, off, buf_index);
    } else {
        if (op == VB_OP_READ) io_uring_prep_read(sqe, fd, buf, len, off);
        else io_uring_prep_write(sqe, fd, buf, len, off);
    }
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int32_t vb_ring_submit(vb_ring *r) {
    if (r->sqpoll) return io_uring_submit(&r->uring); /* flush + wake the thread */
    /* Without SUBMIT_ALL (old kernels) the kernel stops at a request it
     * refuses; go on with the rest, so no request stays behind unsent. */
    int32_t total = 0;
    while (io_uring_sq_ready(&r->uring) > 0) {
        int rc = io_uring_submit(&r->uring);
        if (rc < 0) return total ? total : rc;
        if (rc == 0) break;
        total += rc;
    }
    return total;
}

uint32_t vb_ring_auto_submits(vb_ring *r) { return r->auto_submits; }

uint32_t vb_ring_sq_ready(vb_ring *r) {
    /* With SQPOLL the kernel thread takes flushed SQEs later: what is not
     * flushed yet is what is still queued here. */
    if (r->sqpoll) return r->uring.sq.sqe_tail - r->uring.sq.sqe_head;
    return io_uring_sq_ready(&r->uring);
}

void vb_ring_arm(vb_ring *r) { atomic_fetch_add_explicit(&r->armed, 1, memory_order_relaxed); }

int32_t vb_ring_wait(vb_ring *r) {
    int32_t rc = 0;
    /* A raw io_uring_enter: liburing's wait helpers may touch the SQ, and
     * this thread must not.  The kernel returns once the CQ holds more than
     * it did at entry. */
    while (!atomic_load_explicit(&r->closing, memory_order_acquire) &&
           io_uring_cq_ready(&r->uring) == 0) {
        long ret = syscall(__NR_io_uring_enter, r->uring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS,
                           (void *)0, 0);
        if (ret >= 0) break;
        if (errno != EINTR) {
            rc = -errno;
            break;
        }
    }
    atomic_fetch_sub_explicit(&r->armed, 1, memory_order_release);
    return rc;
}

/* The kernel keeps CQEs that did not fit on an overflow list (NODROP) and
 * says so in the SQ flags; an io_uring_enter with GETEVENTS moves them in. */
/* The CQ is empty: flush completions the kernel holds back (an overflow),
 * or task work it deferred to this thread (COOP_TASKRUN), into it. */
static void flush_overflow(vb_ring *r) {
    unsigned flags = __atomic_load_n(r->uring.sq.kflags, __ATOMIC_ACQUIRE);
    if (flags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN))
        syscall(__NR_io_uring_enter, r->uring.ring_fd, 0, 0, IORING_ENTER_GETEVENTS, (void *)0,
                (size_t)0); /* a size_t: varargs pass an int's upper bits as they are */
}

int32_t vb_ring_reap(vb_ring *r, uint32_t wait_ms) {
    if (io_uring_cq_ready(&r->uring) == 0) flush_overflow(r);
    if (wait_ms && io_uring_cq_ready(&r->uring) == 0) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {wait_ms / 1000, (long long)(wait_ms % 1000) * 1000000};
        int rc;
        do rc = io_uring_wait_cqe_timeout(&r->uring, &cqe, &ts); /* a signal is no answer */
        while (rc == -EINTR);
        if (rc < 0) return rc;
    }
    uint32_t n = 0, seen = 0, head;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&r->uring, head, cqe) {
        if (n == r->completions_cap) break;
        seen++;
        if (!(cqe->flags & IORING_CQE_F_MORE)) r->finals++;
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        if (ud >= VB_RING_INTERNAL_DATA) continue;
        if (r->naccepts) reaped_accept(r, ud, cqe);
        r->completions[3 * n] = (int32_t)ud;
        r->completions[3 * n + 1] = cqe->res;
        r->completions[3 * n + 2] = (int32_t)cqe->flags;
        n++;
    }
    io_uring_cq_advance(&r->uring, seen);
    return (int32_t)n;
}

int32_t *vb_ring_completions(vb_ring *r) { return r->completions; }

uint32_t vb_ring_completions_cap(vb_ring *r) { return r->completions_cap; }

uint32_t vb_ring_outstanding(vb_ring *r) {
    /* Every SQE the kernel took ends with exactly one CQE without F_MORE
     * (multishot and SEND_ZC post more, all but the last with F_MORE). */
    return __atomic_load_n(r->uring.sq.khead, __ATOMIC_ACQUIRE) - r->finals;
}

int32_t vb_ring_quiesce(vb_ring *r, uint32_t timeout_ms) {
    if (vb_ring_outstanding(r) == 0) return 0;
    vb_ring_cancel_all(r);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (vb_ring_outstanding(r) != 0) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long long ms = (t.tv_sec - t0.tv_sec) * 1000LL + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms >= (long long)timeout_ms) return -ETIME;
        int32_t n = vb_ring_reap(r, (uint32_t)(timeout_ms - ms) > 50 ? 50 : (uint32_t)(timeout_ms - ms) + 1);
        if (n < 0 && n != -ETIME && n != -EINTR) return n;
        /* A request linked behind one that was running had not started, so
         * the cancel did not reach it; it starts once its predecessor
         * completes: cancel again after each quiet slice. */
        if (n == -ETIME) vb_ring_cancel_all(r);
    }
    return 0;
}

int32_t vb_ring_cancel_all(vb_ring *r) {
    /* Requests never submitted must not start now: they become NOPs whose
     * CQEs nobody sees (the caller settles them as never run). */
    neutralize_queued(r);
    struct io_uring_sqe *sqe = vb_ring_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, UD_CANCEL);
    return io_uring_submit(&r->uring);
}

uint32_t vb_ring_buf_slots(vb_ring *r) { return r->table.slots; }

uint32_t vb_ring_setup_flags(vb_ring *r) { return r->setup_flags; }

int32_t vb_ring_prep_poll(vb_ring *r, int32_t fd, uint32_t events, uint32_t multishot,
                          uint32_t user_data) {
    if (fd < 0 || (user_data >= VB_RING_INTERNAL_DATA && user_data != VB_RING_UD_IGNORE))
        return VB_EINVAL;
    struct io_uring_sqe *sqe = vb_ring_sqe(r);
    if (!sqe) return -EBUSY;
    if (multishot) io_uring_prep_poll_multishot(sqe, fd, events);
    else io_uring_prep_poll_add(sqe, fd, events);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int32_t vb_io_uring_disabled(void) {
    int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char c = 0;
    ssize_t n = read(fd, &c, 1);
    close(fd);
    return n == 1 && c >= '0' && c <= '9' ? c - '0' : -1;
}

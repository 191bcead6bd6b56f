/*
 * waiter.c - one blocking wait per thread for all of that thread's rings.
 *
 * Every ring of a thread registers the thread's eventfd with
 * io_uring_register_eventfd, so the kernel signals it whenever it posts a
 * CQE in any of them.  A binding parks ONE helper thread in vb_waiter_wait
 * (Deno: one nonblocking FFI call per JS thread, however many rings), and
 * when it returns drains every ring with fast calls.
 *
 * Concurrency argument:
 * - The owning thread creates, attaches, destroys rings and reaps them; the
 *   helper thread only (a) reads and writes the eventfd and (b) reads the
 *   CQ indexes (ktail, khead) and SQ flags of attached rings, always under
 *   `lock`.  vb_ring_destroy unlinks the ring under the same lock before it
 *   unmaps anything, so the helper never touches a destroyed ring and
 *   destroy never waits for the helper (it cannot spin on a parked call).
 * - No lost wake-up: the helper first empties the eventfd, then looks at
 *   every ring, and only then blocks in poll.  A CQE posted after the
 *   emptying raises the counter again, so poll returns at once.
 * - `kicked` (set by vb_waiter_wake, exchanged to 0 by the helper) and
 *   `closing` make the helper return without any ring being ready; the
 *   eventfd write that follows each of them ends a parked poll.
 * - `armed` counts waits announced by the owning thread and not finished;
 *   the helper's last touch of the waiter is its release-decrement, so
 *   vb_waiter_shutdown may free the waiter once it reads 0 (acquire).
 */
#define _GNU_SOURCE /* ppoll: a microsecond timeout */
#include "ring_internal.h"

#include "veloq_buffer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct vb_waiter {
    int efd;
    vb_waiter *next_of_thread; /* the owning thread's list (thread_waiters) */
    pthread_mutex_t lock; /* guards `rings` and each ring's next_in_waiter */
    vb_ring *rings;
    uint32_t count;
    _Atomic uint32_t armed;
    _Atomic int kicked;
    _Atomic int closing;
    /* CLOCK_MONOTONIC ns when the helper last returned (written by the
     * helper, read by the owner after the wait's result arrived: the
     * result's delivery orders them; relaxed is enough for a statistic). */
    _Atomic uint64_t woke_ns;
};

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

double vb_now_ns(void) { return (double)now_ns(); }

double vb_waiter_woke_ns(vb_waiter *w) {
    return (double)atomic_load_explicit(&w->woke_ns, memory_order_relaxed);
}

/* The calling thread's waiters (its own thread-local list: only that
 * thread links and unlinks them), and the one vb_thread_waiter hands out.
 * vb_waiter_create makes more: two copies of a binding in one thread (two
 * module instances) must not share one eventfd, or one copy's helper
 * empties the count the other's was woken for and sleeps on. */
static _Thread_local vb_waiter *thread_waiters;
static _Thread_local vb_waiter *thread_waiter;

static int32_t waiter_create(vb_waiter **out) {
    vb_waiter *w = calloc(1, sizeof *w);
    if (!w) return VB_ENOMEM;
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0) {
        int32_t rc = -errno;
        free(w);
        return rc;
    }
    pthread_mutex_init(&w->lock, 0);
    w->next_of_thread = thread_waiters;
    thread_waiters = w;
    /* The thread's exit hook (thread_exit.c) shuts its waiters down. */
    vb_thread_exit_arm();
    *out = w;
    return 0;
}

int32_t vb_thread_waiter(vb_waiter **out) {
    if (!out) return VB_EINVAL;
    if (!thread_waiter) {
        int32_t rc = waiter_create(&thread_waiter);
        if (rc < 0) return rc;
    }
    *out = thread_waiter;
    return 0;
}

int32_t vb_waiter_create(vb_waiter **out) {
    if (!out) return VB_EINVAL;
    return waiter_create(out);
}

int32_t vb_ring_set_waiter(vb_ring *r, vb_waiter *w) {
    if (!r || !w || r->waiter) return VB_EINVAL;
    int rc = io_uring_register_eventfd(&r->uring, w->efd);
    if (rc < 0) return rc;
    pthread_mutex_lock(&w->lock);
    r->waiter = w;
    r->next_in_waiter = w->rings;
    w->rings = r;
    w->count++;
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void vb_waiter_unlink(vb_ring *r) {
    vb_waiter *w = r->waiter;
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    for (vb_ring **p = &w->rings; *p; p = &(*p)->next_in_waiter) {
        if (*p == r) {
            *p = r->next_in_waiter;
            w->count--;
            break;
        }
    }
    r->waiter = 0;
    r->next_in_waiter = 0;
    pthread_mutex_unlock(&w->lock);
    /* The eventfd stays registered until io_uring_queue_exit; a signal it
     * still sends is one spurious count, emptied by the next wait. */
}

uint32_t vb_waiter_rings(vb_waiter *w) {
    pthread_mutex_lock(&w->lock);
    uint32_t n = w->count;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void vb_waiter_arm(vb_waiter *w) { atomic_fetch_add_explicit(&w->armed, 1, memory_order_relaxed); }

/* A ring has CQEs to reap, or overflowed ones to flush in.  The indexes
 * are the kernel's and the owning thread's: read them atomically. */
static int ring_ready(vb_ring *r, int owner) {
    unsigned tail = __atomic_load_n(r->uring.cq.ktail, __ATOMIC_ACQUIRE);
    unsigned head = __atomic_load_n(r->uring.cq.khead, __ATOMIC_RELAXED);
    if (tail != head) return 1;
    /* Overflowed CQEs; for the owning thread also task work the kernel
     * deferred to it (COOP_TASKRUN): its reap enters the kernel and runs it.
     * Not for the helper: the kernel wakes a sleeping owner for that work
     * itself, and an owner that runs does it at its next syscall, so the
     * flag would only end a parked wait at once, again and again.  Except
     * with DEFER_TASKRUN: that work runs only when the owner enters the
     * ring, so it is the helper's news too (the kernel signals the eventfd
     * when it queues such work; its CQEs appear only after the reap). */
    unsigned flags = __atomic_load_n(r->uring.sq.kflags, __ATOMIC_RELAXED);
    unsigned work = owner || r->defer_taskrun ? IORING_SQ_TASKRUN : 0;
    return (flags & (IORING_SQ_CQ_OVERFLOW | work)) != 0;
}

static int any_ready(vb_waiter *w, int owner) {
    int ready = 0;
    pthread_mutex_lock(&w->lock);
    for (vb_ring *r = w->rings; r && !ready; r = r->next_in_waiter) ready = ring_ready(r, owner);
    pthread_mutex_unlock(&w->lock);
    return ready;
}

int32_t vb_waiter_spin(vb_waiter *w, uint32_t max_us) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (any_ready(w, 1)) return 1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long long us = (t.tv_sec - t0.tv_sec) * 1000000LL + (t.tv_nsec - t0.tv_nsec) / 1000;
        if (us >= (long long)max_us) return 0;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#endif
    }
}

/* The thread's only ring, when it has one and the kernel takes a timeout
 * without an SQE (EXT_ARG, 5.11+), else 0. */
static vb_ring *only_ring(vb_waiter *w) {
    pthread_mutex_lock(&w->lock);
    vb_ring *r = w->count == 1 ? w->rings : 0;
    pthread_mutex_unlock(&w->lock);
    return r && (r->uring.features & IORING_FEAT_EXT_ARG) && !r->sqpoll ? r : 0;
}

int32_t vb_waiter_block(vb_waiter *w, uint32_t max_us) {
    /* The owning thread, with no helper parked (the binding parks one only
     * after this returned): emptying the eventfd races with nobody. */
    uint64_t count;
    while (read(w->efd, &count, sizeof count) > 0) {
    } /* EAGAIN once empty; a CQE after this raises it again (no lost wake-up) */
    if (any_ready(w, 1)) return 1;
    vb_ring *r = only_ring(w);
    if (r) {
        /* One ring: wait in io_uring_enter itself, as fio does: the kernel
         * runs this thread's task work (the completions) inside the wait
         * and returns with the CQEs posted, one step shorter than a wake-up
         * through the eventfd. */
        struct io_uring_cqe *cqe;
        struct __kernel_timespec kts = {max_us / 1000000u, (long long)(max_us % 1000000u) * 1000};
        int rc = io_uring_wait_cqe_timeout(&r->uring, &cqe, &kts);
        if (rc == 0 || rc == -EINTR || rc == -ETIME) return any_ready(w, 1);
        return rc;
    }
    uint64_t deadline = now_ns() + (uint64_t)max_us * 1000u;
    struct pollfd pfd = {.fd = w->efd, .events = POLLIN};
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline) return any_ready(w, 1);
        uint64_t left = deadline - now;
        struct timespec ts = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
        if (ppoll(&pfd, 1, &ts, 0) >= 0) return any_ready(w, 1);
        if (errno != EINTR) return -errno;
        /* EINTR: a signal (e.g. a profiler's), or io_uring woke this
         * sleeping submitter to run its task work, which posts CQEs on the
         * way back to user space: look again, with the time that is left
         * (glibc's ppoll does not update ts, so the deadline bounds it). */
        if (any_ready(w, 1)) return 1;
    }
}

int32_t vb_waiter_wait(vb_waiter *w) {
    int32_t rc = 0;
    for (;;) {
        uint64_t count;
        while (read(w->efd, &count, sizeof count) > 0) {
        } /* EAGAIN once empty */
        if (atomic_load_explicit(&w->closing, memory_order_acquire) ||
            atomic_exchange_explicit(&w->kicked, 0, memory_order_acq_rel)) {
            rc = 1;
            break;
        }
        if (any_ready(w, 0)) break;
        struct pollfd pfd = {.fd = w->efd, .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
    }
    atomic_store_explicit(&w->woke_ns, now_ns(), memory_order_relaxed);
    atomic_fetch_sub_explicit(&w->armed, 1, memory_order_release);
    return rc;
}

void vb_waiter_wake(vb_waiter *w) {
    atomic_store_explicit(&w->kicked, 1, memory_order_release);
    uint64_t one = 1;
    ssize_t n = write(w->efd, &one, sizeof one); /* EAGAIN only at 2^64-2: already readable */
    (void)n;
}

int32_t vb_waiter_shutdown(vb_waiter *w) {
    if (!w) return VB_EINVAL;
    atomic_store_explicit(&w->closing, 1, memory_order_seq_cst);
    uint64_t one = 1;
    ssize_t n = write(w->efd, &one, sizeof one);
    (void)n;
    while (atomic_load_explicit(&w->armed, memory_order_acquire) != 0) {
        struct timespec ts = {0, 50 * 1000};
        nanosleep(&ts, 0);
    }
    /* No helper inside any more: quiesce and destroy what is left (destroy
     * unlinks).  After quiesce the kernel writes into no buffer of these
     * rings, so their memory may go back to its pool; a ring that cannot be
     * quiesced in time is still destroyed (the kernel cancels at exit). */
    int32_t rc = 0;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        vb_ring *r = w->rings;
        pthread_mutex_unlock(&w->lock);
        if (!r) break;
        if (vb_ring_quiesce(r, 5000) < 0) rc = -ETIME;
        vb_ring_destroy(r);
    }
    if (thread_waiter == w) thread_waiter = 0;
    for (vb_waiter **p = &thread_waiters; *p; p = &(*p)->next_of_thread) {
        if (*p == w) {
            *p = w->next_of_thread;
            break;
        }
    }
    close(w->efd);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return rc;
}

int32_t vb_thread_shutdown(void) {
    int32_t rc = 0;
    /* The thread is ending: close requests queued and never submitted
     * still happen (ring.c). Concurrency: the SQ is this thread's alone (a
     * parked helper never touches it); the lock guards the ring list. */
    for (vb_waiter *w = thread_waiters; w; w = w->next_of_thread) {
        pthread_mutex_lock(&w->lock);
        for (vb_ring *r = w->rings; r; r = r->next_in_waiter) vb_ring_thread_ending(r);
        pthread_mutex_unlock(&w->lock);
    }
    while (thread_waiters) { /* each shutdown unlinks its waiter */
        int32_t one = vb_waiter_shutdown(thread_waiters);
        if (one < 0) rc = one;
    }
    return rc;
}

/*
 * test_waiter.c - one waiter for many rings: a helper thread parked in
 * vb_waiter_wait wakes for a completion in any attached ring, a wake or a
 * shutdown ends a parked wait, and destroying rings while the helper is
 * parked returns at once (no spin on the helper).
 */
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <liburing.h>

#define RINGS 64

typedef struct {
    vb_waiter *w;
    _Atomic int rc;
    _Atomic int done;
} helper;

static void *helper_main(void *arg) {
    helper *h = arg;
    atomic_store(&h->rc, vb_waiter_wait(h->w));
    atomic_store(&h->done, 1);
    return 0;
}

static void start(helper *h, pthread_t *th, vb_waiter *w) {
    h->w = w;
    atomic_store(&h->done, 0);
    vb_waiter_arm(w);
    REQUIRE(pthread_create(th, 0, helper_main, h) == 0);
}

/* Parks a helper and checks it stays parked for 20 ms (nothing ready). */
static void start_parked(helper *h, pthread_t *th, vb_waiter *w) {
    start(h, th, w);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, 0);
    CHECK(!atomic_load(&h->done));
}

/* Waits up to 2 s for the helper to return. */
static int returned(helper *h) {
    for (int i = 0; i < 2000 && !atomic_load(&h->done); i++) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, 0);
    }
    return atomic_load(&h->done);
}

static void waiter_many_rings_one_wait(void) {
    vb_waiter *w;
    REQUIRE(vb_waiter_shutdown(0) == VB_EINVAL);
    REQUIRE(vb_thread_waiter(&w) == 0);
    vb_waiter *again;
    REQUIRE(vb_thread_waiter(&again) == 0 && again == w);
    vb_ring *rings[RINGS];
    int pipes[RINGS][2];
    static uint8_t bufs[RINGS][8];
    for (int i = 0; i < RINGS; i++) {
        REQUIRE(vb_ring_create(4, 0, 0, &rings[i]) == 0);
        CHECK_RC(vb_ring_set_waiter(rings[i], w), 0);
        REQUIRE(pipe(pipes[i]) == 0);
        CHECK_RC(vb_ring_prep(rings[i], VB_OP_READ, pipes[i][0], bufs[i], 8, -1, -1, (uint32_t)i), 0);
        CHECK_RC(vb_ring_submit(rings[i]), 1);
    }
    CHECK_EQ(vb_waiter_rings(w), RINGS);
    helper h;
    pthread_t th;
    /* Nothing ready: the helper stays parked. */
    start(&h, &th, w);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, 0);
    CHECK(!atomic_load(&h.done));
    /* Data for the last ring wakes it. */
    CHECK(write(pipes[RINGS - 1][1], "x", 1) == 1);
    CHECK(returned(&h));
    CHECK_EQ(atomic_load(&h.rc), 0);
    pthread_join(th, 0);
    CHECK_EQ(vb_ring_reap(rings[RINGS - 1], 0), 1);
    CHECK_EQ(vb_ring_completions(rings[RINGS - 1])[0], RINGS - 1);
    CHECK_EQ(vb_ring_completions(rings[RINGS - 1])[1], 1);
    /* Parked again; vb_waiter_wake ends it without any ring ready. */
    start(&h, &th, w);
    nanosleep(&ts, 0);
    CHECK(!atomic_load(&h.done));
    vb_waiter_wake(w);
    CHECK(returned(&h));
    CHECK_EQ(atomic_load(&h.rc), 1);
    pthread_join(th, 0);
    /* Parked again; destroying rings under it returns at once. */
    start(&h, &th, w);
    for (int i = 0; i < RINGS / 2; i++) {
        CHECK_RC(vb_ring_cancel_all(rings[i]), 1);
        CHECK_EQ(vb_ring_reap(rings[i], 2000), 1); /* the read, -ECANCELED */
        CHECK_EQ(vb_ring_completions(rings[i])[1], -ECANCELED);
        CHECK_RC(vb_ring_destroy(rings[i]), 0);
    }
    CHECK_EQ(vb_waiter_rings(w), RINGS - RINGS / 2);
    /* The shutdown (a thread exit) wakes the helper and takes the rest. */
    CHECK_RC(vb_thread_shutdown(), 0);
    CHECK(returned(&h));
    pthread_join(th, 0);
    for (int i = 0; i < RINGS; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    vb_waiter *fresh;
    REQUIRE(vb_thread_waiter(&fresh) == 0);
    CHECK_EQ(vb_waiter_rings(fresh), 0);
    CHECK_RC(vb_thread_shutdown(), 0);
}

/* Completions carry the CQE flags: a NOP has none; internal user_data is
 * consumed without being reported. */
static void ring_reap_reports_flags(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(4, 0, 0, &r) == 0);
    int p[2];
    REQUIRE(pipe(p) == 0);
    static uint8_t buf[4];
    CHECK(write(p[1], "abcd", 4) == 4);
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, p[0], buf, 4, -1, -1, 5), 0);
    CHECK_EQ(vb_ring_sq_space(r), 3);
    CHECK_RC(vb_ring_submit(r), 1);
    CHECK_RC(vb_ring_cancel_all(r), 1); /* UD_CANCEL: never reported */
    CHECK_EQ(vb_ring_reap(r, 2000), 1);
    int32_t *c = vb_ring_completions(r);
    CHECK_EQ(c[0], 5);
    CHECK_EQ(c[1], 4);
    CHECK_EQ(c[2], 0);
    /* The timed wait gives up. */
    CHECK_EQ(vb_ring_reap(r, 10), -ETIME);
    close(p[0]);
    close(p[1]);
    CHECK_RC(vb_ring_destroy(r), 0);
}

/* Quiesce: a pending read and a multishot poll are cancelled and reaped
 * until the kernel holds nothing of the ring. */
static void ring_quiesce_leaves_nothing_in_flight(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    int p[2];
    REQUIRE(pipe(p) == 0);
    static uint8_t buf[8];
    CHECK_EQ(vb_ring_outstanding(r), 0);
    CHECK_RC(vb_ring_quiesce(r, 100), 0); /* nothing to do */
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, p[0], buf, 8, -1, -1, 1), 0);
    CHECK_RC(vb_ring_prep_poll(r, p[0], 1 /* POLLIN */, 1, 2), 0);
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, p[0], buf, 8, -1, -1, 3), 0); /* stays queued */
    CHECK_EQ(vb_ring_submit(r), 3);
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, p[0], buf, 8, -1, -1, 4), 0); /* never submitted */
    CHECK_EQ(vb_ring_outstanding(r), 3);
    CHECK_RC(vb_ring_quiesce(r, 2000), 0);
    CHECK_EQ(vb_ring_outstanding(r), 0);
    CHECK_EQ(vb_ring_sq_ready(r), 0);
    /* Nothing reads the pipe any more: a write stays in it. */
    CHECK(write(p[1], "abc", 3) == 3);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, 0);
    char back[8];
    CHECK(read(p[0], back, sizeof back) == 3);
    close(p[0]);
    close(p[1]);
    CHECK_RC(vb_ring_destroy(r), 0);
}

typedef struct {
    int fd;
    unsigned delay_ms;
} late_write;

static void *write_later(void *arg) {
    late_write *lw = arg;
    struct timespec ts = {0, (long)lw->delay_ms * 1000 * 1000};
    nanosleep(&ts, 0);
    ssize_t n = write(lw->fd, "y", 1);
    (void)n;
    return 0;
}

static double ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* vb_waiter_block on the owning thread: 0 after its timeout with nothing
 * ready, 1 as soon as another thread's write completes a pending read, with
 * one ring (waits in io_uring_enter) and with two (ppoll on the eventfd). */
static void waiter_block_inline(void) {
    SKIP_UNDER_VALGRIND(); /* the writer thread cannot run while this one blocks in the kernel */
    vb_waiter *w;
    REQUIRE(vb_thread_waiter(&w) == 0);
    for (int nrings = 1; nrings <= 2; nrings++) {
        vb_ring *rings[2];
        int p[2];
        static uint8_t buf[8];
        for (int i = 0; i < nrings; i++) {
            REQUIRE(vb_ring_create(4, 0, 0, &rings[i]) == 0);
            CHECK_RC(vb_ring_set_waiter(rings[i], w), 0);
        }
        REQUIRE(pipe(p) == 0);
        vb_ring *r = rings[nrings - 1];
        CHECK_RC(vb_ring_prep(r, VB_OP_READ, p[0], buf, 8, -1, -1, 7), 0);
        CHECK_EQ(vb_ring_submit(r), 1);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_EQ(vb_waiter_block(w, 3000), 0); /* 3 ms, nothing ready */
        double waited = ms_since(&t0);
        CHECK(waited >= 2.5 && waited < 1000);
        late_write lw = {p[1], 20};
        pthread_t th;
        REQUIRE(pthread_create(&th, 0, write_later, &lw) == 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_EQ(vb_waiter_block(w, 2000000), 1); /* up to 2 s: the write ends it */
        CHECK(ms_since(&t0) < 1500);
        pthread_join(th, 0);
        CHECK_EQ(vb_ring_reap(r, 0), 1);
        CHECK_EQ(vb_ring_completions(r)[0], 7);
        CHECK_EQ(vb_ring_completions(r)[1], 1);
        /* Nothing in flight: a completion already reaped does not count. */
        CHECK_EQ(vb_waiter_block(w, 1000), 0);
        close(p[0]);
        close(p[1]);
        for (int i = 0; i < nrings; i++) CHECK_RC(vb_ring_destroy(rings[i]), 0);
    }
}

/* Two waiters of one thread (two copies of a binding): a completion in one
 * waiter's ring wakes that waiter's parked helper, never only the other's
 * (a shared eventfd let one helper take the count the other was woken for,
 * and that one slept on for good), and each shuts down on its own. */
static void waiter_create_independent(void) {
    SKIP_UNDER_VALGRIND(); /* helpers parked in the kernel */
    vb_waiter *a, *b, *t;
    REQUIRE(vb_waiter_create(&a) == 0);
    REQUIRE(vb_waiter_create(&b) == 0);
    REQUIRE(vb_thread_waiter(&t) == 0);
    CHECK(a != b && a != t && b != t);
    vb_ring *ra, *rb;
    REQUIRE(vb_ring_create(4, 0, 0, &ra) == 0);
    REQUIRE(vb_ring_create(4, 0, 0, &rb) == 0);
    CHECK_RC(vb_ring_set_waiter(ra, a), 0);
    CHECK_RC(vb_ring_set_waiter(rb, b), 0);
    int pa[2], pb[2];
    REQUIRE(pipe(pa) == 0 && pipe(pb) == 0);
    static uint8_t ba[8], bb[8];
    CHECK_RC(vb_ring_prep(ra, VB_OP_READ, pa[0], ba, 8, -1, -1, 1), 0);
    CHECK_RC(vb_ring_prep(rb, VB_OP_READ, pb[0], bb, 8, -1, -1, 2), 0);
    CHECK_EQ(vb_ring_submit(ra), 1);
    CHECK_EQ(vb_ring_submit(rb), 1);
    for (int round = 0; round < 20; round++) {
        helper ha, hb;
        pthread_t tha, thb;
        start(&ha, &tha, a);
        start(&hb, &thb, b);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, 0);
        /* b's ring completes: b's helper must come back (a's may not). */
        CHECK(write(pb[1], "x", 1) == 1);
        CHECK(returned(&hb));
        pthread_join(thb, 0);
        CHECK_EQ(vb_ring_reap(rb, 0), 1);
        CHECK_RC(vb_ring_prep(rb, VB_OP_READ, pb[0], bb, 8, -1, -1, 2), 0);
        CHECK_EQ(vb_ring_submit(rb), 1);
        vb_waiter_wake(a);
        CHECK(returned(&ha));
        pthread_join(tha, 0);
    }
    CHECK_RC(vb_waiter_shutdown(a), 0); /* destroys ra */
    CHECK_EQ(vb_waiter_rings(b), 1);
    CHECK_RC(vb_thread_shutdown(), 0); /* b (and rb), and the thread's own */
    vb_waiter *again;
    REQUIRE(vb_thread_waiter(&again) == 0);
    CHECK_RC(vb_thread_shutdown(), 0);
    for (int i = 0; i < 2; i++) {
        close(pa[i]);
        close(pb[i]);
    }
}

static pthread_t blocked_thread;
static _Atomic int stop_signals;
static _Atomic int signals_sent;

static void on_signal(int sig) { (void)sig; }

static void *signal_every_200us(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_signals)) {
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, 0);
        pthread_kill(blocked_thread, SIGUSR2);
        atomic_fetch_add(&signals_sent, 1);
    }
    return 0;
}

/* A stream of signals (a profiler's SIGPROF) faster than max_us: every
 * block still ends within max_us (the deadline bounds the EINTR restarts;
 * glibc's ppoll does not give back the time left), with one ring and two. */
static void waiter_block_bounded_under_signals(void) {
    SKIP_UNDER_VALGRIND();
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART */
    REQUIRE(sigaction(SIGUSR2, &sa, &old) == 0);
    vb_waiter *w;
    REQUIRE(vb_waiter_create(&w) == 0);
    vb_ring *rings[2];
    int p[2];
    REQUIRE(pipe(p) == 0);
    static uint8_t buf[8];
    for (int i = 0; i < 2; i++) {
        REQUIRE(vb_ring_create(4, 0, 0, &rings[i]) == 0);
        CHECK_RC(vb_ring_set_waiter(rings[i], w), 0);
        if (i == 0) {
            CHECK_RC(vb_ring_prep(rings[0], VB_OP_READ, p[0], buf, 8, -1, -1, 1), 0);
            CHECK_EQ(vb_ring_submit(rings[0]), 1);
        }
        blocked_thread = pthread_self();
        atomic_store(&stop_signals, 0);
        atomic_store(&signals_sent, 0);
        pthread_t th;
        REQUIRE(pthread_create(&th, 0, signal_every_200us, 0) == 0);
        for (int k = 0; k < 5; k++) {
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            CHECK_EQ(vb_waiter_block(w, 2000), 0); /* 2 ms, nothing completes */
            double took = ms_since(&t0);
            if (took > 100) fprintf(stderr, "    block of 2 ms took %.1f ms (%d rings)\n", took, i + 1);
            CHECK(took < 100);
        }
        atomic_store(&stop_signals, 1);
        pthread_join(th, 0);
        /* The ppoll path (two rings) sat through the signals; one ring's
         * io_uring_enter may return early at a signal (0: within bounds). */
        if (i == 1) CHECK(atomic_load(&signals_sent) > 10);
    }
    CHECK_RC(vb_waiter_shutdown(w), 0);
    close(p[0]);
    close(p[1]);
    sigaction(SIGUSR2, &old, 0);
}

/* VB_RING_SINGLE_ISSUER (DEFER_TASKRUN, 6.1+): a pipe read's completion
 * is work the kernel runs only when the owner enters the ring, so the CQ
 * stays empty until then; the parked helper must still return for it (the
 * kernel signals the eventfd when it queues the work), and the owner's
 * reap must run it.  Without the flag the kernel would have been refused. */
static void waiter_single_issuer_ring(void) {
    vb_waiter *w;
    REQUIRE(vb_waiter_create(&w) == 0);
    vb_ring *r;
    REQUIRE(vb_ring_create(4, 0, VB_RING_SINGLE_ISSUER, &r) == 0);
    int defer = (vb_ring_setup_flags(r) & IORING_SETUP_DEFER_TASKRUN) != 0;
    struct utsname u;
    REQUIRE(uname(&u) == 0);
    int major = 0, minor = 0;
    sscanf(u.release, "%d.%d", &major, &minor);
    CHECK_EQ(defer, major > 6 || (major == 6 && minor >= 1));
    CHECK_RC(vb_ring_set_waiter(r, w), 0);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    static uint8_t buf[8];
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, fds[0], buf, 8, -1, -1, 7), 0);
    CHECK_RC(vb_ring_submit(r), 1);
    helper h;
    pthread_t th;
    start_parked(&h, &th, w);
    CHECK(write(fds[1], "hi", 2) == 2);
    CHECK(returned(&h));
    CHECK_EQ(atomic_load(&h.rc), 0);
    pthread_join(th, 0);
    CHECK_EQ(vb_ring_reap(r, 0), 1);
    CHECK_EQ(vb_ring_completions(r)[0], 7);
    CHECK_EQ(vb_ring_completions(r)[1], 2);
    /* A vb_ring_create with SQPOLL too makes the ring without it. */
    vb_ring *sq;
    if (vb_ring_create(4, 0, VB_RING_SINGLE_ISSUER | VB_RING_SQPOLL, &sq) == 0) {
        CHECK_EQ(vb_ring_setup_flags(sq) & IORING_SETUP_DEFER_TASKRUN, 0);
        CHECK_RC(vb_ring_destroy(sq), 0);
    }
    CHECK_RC(vb_ring_destroy(r), 0);
    CHECK_RC(vb_waiter_shutdown(w), 0);
    close(fds[0]);
    close(fds[1]);
}

const test_case waiter_tests[] = {
    TEST(waiter_create_independent),
    TEST(waiter_block_bounded_under_signals),
    TEST(waiter_block_inline),
    TEST(ring_quiesce_leaves_nothing_in_flight),
    TEST(waiter_many_rings_one_wait),
    TEST(ring_reap_reports_flags),
    TEST(waiter_single_issuer_ring),
    TEST_END,
};

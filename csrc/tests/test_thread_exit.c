/*
 * test_thread_exit.c - a thread that ends with a tracked view attached
 * (csrc/thread_exit.c): its exit hook frees every buffer it marked as held,
 * leaves alone what it handed over, and detaches the view, so the owner can
 * destroy the pool.  Also run under ThreadSanitizer and ASan by
 * scripts/hardening.sh (the hook runs on the ending thread).
 */
#define _GNU_SOURCE
#include "test.h"

#include <stdatomic.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define KiB 1024u

typedef struct {
    vb_pool *pool;
    uint32_t arena, token;
    int32_t foreign[1000]; /* owner buffers handed to the thread */
    uint32_t nforeign;
    int32_t given; /* a buffer of its arena it hands back (not held) */
    int32_t freed_early; /* one it releases itself before it ends */
    int rc;
} exit_job;

/* The thread: attaches, holds buffers of its arena and the owner's, marks
 * them the way a binding does, and ends without detaching. */
static void *holder(void *arg) {
    exit_job *j = arg;
    vb_view *v;
    if ((j->rc = vb_view_attach(j->pool, j->arena, j->token, &v)) != 0) return 0;
    vb_thread_view *t = vb_thread_track_view(v);
    if (!t) {
        j->rc = VB_ENOMEM;
        return 0;
    }
    uint8_t *held = vb_thread_view_held(t);
    for (int i = 0; i < 5; i++) {
        int32_t h = vb_view_alloc(v, (uint32_t)(i + 1) * 4 * KiB);
        if (h < 0) {
            j->rc = h;
            return 0;
        }
        held[h & VB_HANDLE_PAGE_MASK] = 1;
    }
    /* Handed over: allocated here, no longer held. */
    j->given = vb_view_alloc(v, 4 * KiB);
    /* Released by the binding: unmarked first, then queued. */
    j->freed_early = vb_view_alloc(v, 4 * KiB);
    held[j->freed_early & VB_HANDLE_PAGE_MASK] = 0;
    uint32_t *out = vb_view_out(v);
    out[VB_OUT_QUEUE + out[VB_OUT_QUEUED]++] = (uint32_t)j->freed_early;
    for (uint32_t i = 0; i < j->nforeign; i++)
        if ((j->rc = vb_thread_view_hold(t, j->foreign[i], 1)) != 0) return 0;
    /* One handed over again (the mark comes off). */
    vb_thread_view_hold(t, j->foreign[0], 0);
    return 0; /* ends with the view attached: the hook runs now */
}

static void threads_exit_reclaims_views(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(1024 * KiB, 0, 0, 0, &p) == 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    static exit_job j;
    j = (exit_job){.pool = p, .arena = share[0], .token = share[1], .nforeign = 64};
    for (uint32_t i = 0; i < j.nforeign; i++) {
        j.foreign[i] = vb_pool_alloc(p, 4 * KiB);
        REQUIRE(j.foreign[i] >= 0);
    }
    uint32_t exits = vb_thread_exits();
    pthread_t th;
    REQUIRE(pthread_create(&th, 0, holder, &j) == 0);
    pthread_join(th, 0);
    REQUIRE(j.rc == 0);
    CHECK(vb_thread_exits() == exits + 1);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK(s[VB_STAT_ATTACHED] == 0);
    /* Left: the owner buffer the thread handed on, and the one of the
     * thread's arena it handed over. */
    CHECK_MSG(s[VB_STAT_LIVE_BUFFERS] == 2, "live %g", s[VB_STAT_LIVE_BUFFERS]);
    CHECK(s[VB_STAT_REMOTE_ERRORS] == 0);
    CHECK(vb_pool_check(p) == 0);
    CHECK(vb_pool_free(p, j.given) == 0);
    CHECK(vb_pool_free(p, j.foreign[0]) == 0);
    CHECK(vb_pool_check(p) == 0);
    CHECK(vb_pool_destroy(p) == 0);
}

/* A thread that detaches its tracked view itself leaves nothing for the
 * hook; one that tracked nothing runs no hook at all. */
static void *tidy(void *arg) {
    exit_job *j = arg;
    vb_view *v;
    if ((j->rc = vb_view_attach(j->pool, j->arena, j->token, &v)) != 0) return 0;
    vb_thread_view *t = vb_thread_track_view(v);
    int32_t h = vb_view_alloc(v, 4 * KiB);
    vb_thread_view_held(t)[h & VB_HANDLE_PAGE_MASK] = 1;
    vb_thread_view_held(t)[h & VB_HANDLE_PAGE_MASK] = 0;
    vb_view_free(v, h);
    j->rc = vb_thread_view_detach(t);
    return 0;
}

static void *idle(void *arg) {
    (void)arg;
    return 0;
}

static void threads_exit_after_detach(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(256 * KiB, 0, 0, 0, &p) == 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    exit_job j = {.pool = p, .arena = share[0], .token = share[1]};
    uint32_t exits = vb_thread_exits();
    pthread_t th;
    REQUIRE(pthread_create(&th, 0, tidy, &j) == 0);
    pthread_join(th, 0);
    CHECK(j.rc == 0);
    CHECK(vb_thread_exits() == exits + 1); /* armed by the tracking */
    REQUIRE(pthread_create(&th, 0, idle, 0) == 0);
    pthread_join(th, 0);
    CHECK(vb_thread_exits() == exits + 1);
    CHECK(vb_pool_check(p) == 0);
    CHECK(vb_pool_destroy(p) == 0);
}

/* Many buffers of other arenas marked and unmarked (the hash set grows,
 * fills with tombstones and is rebuilt): only the still-marked ones are
 * freed at thread end. */
static void *churn(void *arg) {
    exit_job *j = arg;
    vb_view *v;
    if ((j->rc = vb_view_attach(j->pool, j->arena, j->token, &v)) != 0) return 0;
    vb_thread_view *t = vb_thread_track_view(v);
    for (int round = 0; round < 50; round++)
        for (uint32_t i = 0; i < j->nforeign; i++)
            vb_thread_view_hold(t, j->foreign[i], (uint32_t)((i + (uint32_t)round) % 3 != 0));
    /* The final state: marked where (i + 49) % 3 != 0. */
    return 0;
}

static void threads_exit_many_foreign(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(4096 * KiB, 0, 0, 0, &p) == 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    static exit_job j;
    j = (exit_job){.pool = p, .arena = share[0], .token = share[1], .nforeign = 1000};
    for (uint32_t i = 0; i < 1000; i++) REQUIRE((j.foreign[i] = vb_pool_alloc(p, 4 * KiB)) >= 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, 0, churn, &j) == 0);
    pthread_join(th, 0);
    REQUIRE(j.rc == 0);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    uint32_t unmarked = 0;
    for (uint32_t i = 0; i < 1000; i++) unmarked += (i + 49) % 3 == 0;
    CHECK_MSG(s[VB_STAT_LIVE_BUFFERS] == unmarked, "live %g", s[VB_STAT_LIVE_BUFFERS]);
    CHECK(s[VB_STAT_ATTACHED] == 0);
    CHECK(s[VB_STAT_REMOTE_ERRORS] == 0);
    for (uint32_t i = 0; i < 1000; i++)
        if ((i + 49) % 3 == 0) CHECK(vb_pool_free(p, j.foreign[i]) == 0);
    CHECK(vb_pool_check(p) == 0);
    CHECK(vb_pool_destroy(p) == 0);
}


/* A thread with a ring whose read of a pipe is in flight (into a buffer of
 * its view's arena), and a helper parked in its waiter (Deno's blocking
 * pool thread), ends: the hook cancels and waits for the read, destroys the
 * ring, wakes the helper, then frees the buffer and detaches the view. */
typedef struct {
    exit_job job;
    int pipe_rd;
    vb_waiter *waiter;
    pthread_t helper;
    int helper_started;
    _Atomic int helper_rc;
} ring_job;

static void *park(void *arg) {
    ring_job *j = arg;
    atomic_store(&j->helper_rc, vb_waiter_wait(j->waiter));
    return 0;
}

static void *reader(void *arg) {
    ring_job *j = arg;
    vb_view *v;
    if ((j->job.rc = vb_view_attach(j->job.pool, j->job.arena, j->job.token, &v)) != 0) return 0;
    vb_thread_view *t = vb_thread_track_view(v);
    vb_ring *r;
    if ((j->job.rc = vb_ring_create(8, 0, 0, &r)) != 0) return 0;
    if ((j->job.rc = vb_thread_waiter(&j->waiter)) != 0) return 0;
    if ((j->job.rc = vb_ring_set_waiter(r, j->waiter)) != 0) return 0;
    int32_t h = vb_view_alloc(v, 4 * KiB);
    vb_thread_view_held(t)[h & VB_HANDLE_PAGE_MASK] = 1;
    uint8_t *buf = (uint8_t *)vb_view_base(v) + (uint64_t)(h & VB_HANDLE_PAGE_MASK) * VB_PAGE_SIZE;
    if ((j->job.rc = vb_ring_prep(r, VB_OP_READ, j->pipe_rd, buf, 4096, -1, -1, 7)) != 0) return 0;
    if (vb_ring_submit(r) != 1) j->job.rc = -1;
    vb_waiter_arm(j->waiter);
    j->helper_started = pthread_create(&j->helper, 0, park, j) == 0;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, 0); /* the helper parks in poll */
    return 0; /* ends with the read in flight */
}

static void threads_exit_ring_in_flight(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(256 * KiB, 0, 0, 0, &p) == 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    static ring_job j;
    j = (ring_job){.job = {.pool = p, .arena = share[0], .token = share[1]}, .pipe_rd = fds[0]};
    atomic_store(&j.helper_rc, -999);
    uint32_t exits = vb_thread_exits();
    pthread_t th;
    REQUIRE(pthread_create(&th, 0, reader, &j) == 0);
    pthread_join(th, 0);
    REQUIRE(j.job.rc == 0);
    REQUIRE(j.helper_started);
    CHECK(vb_thread_exits() == exits + 1);
    /* The helper was woken (closing) and left: a bounded join. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    REQUIRE(pthread_timedjoin_np(j.helper, 0, &dl) == 0);
    CHECK_MSG(atomic_load(&j.helper_rc) == 1, "helper returned %d", atomic_load(&j.helper_rc));
    /* The read is gone: bytes written now stay in the pipe. */
    CHECK(write(fds[1], "0123456789abcdef", 16) == 16);
    char got[32];
    CHECK(read(fds[0], got, sizeof got) == 16);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK(s[VB_STAT_ATTACHED] == 0);
    CHECK_MSG(s[VB_STAT_LIVE_BUFFERS] == 0, "live %g", s[VB_STAT_LIVE_BUFFERS]);
    CHECK(vb_pool_check(p) == 0);
    CHECK(vb_pool_destroy(p) == 0);
    close(fds[0]);
    close(fds[1]);
}

/* Sockets a thread made and never closed are closed by its exit hook; the
 * ones it closed (directly or handed to a ring's close) are left alone. */
typedef struct {
    int32_t left, closed, given, listen;
    uint32_t port;
} sock_job;

static void *sockets(void *arg) {
    sock_job *j = arg;
    j->left = vb_net_socket(4);
    j->closed = vb_net_socket(4);
    int32_t out[2];
    j->listen = vb_net_listen("127.0.0.1", 0, 8, 0, out);
    j->port = (uint32_t)out[0];
    if (j->closed >= 0) vb_net_close_now(j->closed);
    /* An fd recorded and then forgotten (as vb_net_prep_close does) is no
     * longer the thread's: it stays open. */
    j->given = vb_net_socket(4);
    vb_thread_disown_fd(j->given);
    return 0;
}

static void threads_exit_closes_sockets(void) {
    sock_job j = {0};
    uint32_t exits = vb_thread_exits();
    pthread_t th;
    REQUIRE(pthread_create(&th, 0, sockets, &j) == 0);
    pthread_join(th, 0);
    REQUIRE(j.left >= 0 && j.closed >= 0 && j.given >= 0 && j.listen >= 0);
    CHECK(vb_thread_exits() == exits + 1);
    CHECK(fcntl(j.left, F_GETFD) < 0 && errno == EBADF);
    CHECK(fcntl(j.listen, F_GETFD) < 0 && errno == EBADF);
    CHECK(fcntl(j.given, F_GETFD) >= 0);
    close(j.given);
    /* The listener's port is free again. */
    int32_t out[2];
    int32_t again = vb_net_listen("127.0.0.1", j.port, 8, 0, out);
    CHECK_MSG(again >= 0, "port %u still bound: %d", j.port, again);
    if (again >= 0) vb_net_close_now(again);
}

const test_case thread_exit_tests[] = {
    TEST(threads_exit_closes_sockets),
    TEST(threads_exit_ring_in_flight),
    TEST(threads_exit_reclaims_views),
    TEST(threads_exit_after_detach),
    TEST(threads_exit_many_foreign),
    TEST_END,
};

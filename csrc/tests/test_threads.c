/*
 * test_threads.c - one pool, several threads: each thread attaches a view,
 * allocates and fills buffers, and hands them to the next thread, which
 * checks and frees them (a free from a thread that does not own the arena:
 * the remote path).  The owner thread takes part too.  At the end no buffer
 * is live, the pool is consistent, and every arena is allocatable whole.
 * Built plain here; scripts/hardening.sh also runs it under ThreadSanitizer.
 */
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define KiB 1024u
#define NTHREADS 4
#define PER_THREAD_DEFAULT 250000u /* 4 x 250k = 1M buffers handed over */

/* A bounded queue of handles between two threads. */
typedef struct handoff {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int32_t items[256];
    uint32_t head, count;
    int closed;
} handoff;

static void handoff_put(handoff *q, int32_t h) {
    pthread_mutex_lock(&q->lock);
    while (q->count == 256) pthread_cond_wait(&q->cond, &q->lock);
    q->items[(q->head + q->count++) % 256] = h;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

/* The next handle, or -1 once the queue is closed and empty (or, with
 * wait == 0, when it is empty now). */
static int32_t handoff_take(handoff *q, int wait) {
    pthread_mutex_lock(&q->lock);
    while (wait && q->count == 0 && !q->closed) pthread_cond_wait(&q->cond, &q->lock);
    int32_t h = -1;
    if (q->count) {
        h = q->items[q->head];
        q->head = (q->head + 1) % 256;
        q->count--;
        pthread_cond_broadcast(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
    return h;
}

static int32_t handoff_get(handoff *q) { return handoff_take(q, 1); }

static void handoff_close(handoff *q) {
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

typedef struct worker {
    vb_pool *pool;
    uint32_t arena, token, n;
    handoff *out; /* to the next thread */
    handoff *in;  /* from the previous one */
    uint64_t made, checked, bad;
    pthread_t thread;
} worker;

/* Buffer contents: the handle, repeated, so a receiver can tell. */
static void stamp(uint8_t *p, int32_t h) {
    memcpy(p, &h, 4);
    memcpy(p + 4092, &h, 4);
}

static int stamped(const uint8_t *p, int32_t h) {
    int32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4092, 4);
    return a == h && b == h;
}

/* Every worker has attached its view (main then tests destroy). */
static pthread_barrier_t attached;

/* Each view's arena base: read by the receivers of its buffers. */
static uint8_t *arena_base[VB_MAX_ARENAS];

static uint8_t *addr(int32_t h) {
    return arena_base[(uint32_t)h >> VB_HANDLE_PAGE_BITS] + (uint64_t)(h & VB_HANDLE_PAGE_MASK) * VB_PAGE_SIZE;
}

/* Receives and frees what the previous thread sends until it closes. */
static void drain_in(worker *w, vb_view *v) {
    for (int32_t h; (h = handoff_get(w->in)) >= 0;) {
        if (stamped(addr(h), h)) w->checked++;
        else w->bad++;
        if (vb_view_free(v, h) != 0) w->bad++;
    }
}

static void *run_worker(void *arg) {
    worker *w = arg;
    vb_view *v;
    int rc = vb_view_attach(w->pool, w->arena, w->token, &v);
    pthread_barrier_wait(&attached);
    if (rc != 0) {
        w->bad++;
        handoff_close(w->out);
        return 0;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        int32_t h;
        while ((h = vb_view_alloc(v, 4096)) == VB_ENOMEM) {
            /* Full: our buffers wait in the next thread's queue.  Free what
             * the previous thread sent meanwhile, so that the ring of
             * threads keeps moving, and let the others run. */
            int32_t r = handoff_take(w->in, 0);
            if (r < 0) {
                sched_yield();
                continue;
            }
            if (stamped(addr(r), r)) w->checked++;
            else w->bad++;
            if (vb_view_free(v, r) != 0) w->bad++;
        }
        if (h < 0) {
            w->bad++;
            break;
        }
        stamp(addr(h), h);
        w->made++;
        handoff_put(w->out, h);
    }
    handoff_close(w->out);
    drain_in(w, v);
    vb_view_detach(v);
    return 0;
}

static void threads_hand_buffers_around(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(256 * KiB, 8, 6, 0, &p) == 0);
    uint32_t per = PER_THREAD_DEFAULT;
    const char *env = getenv("VB_THREAD_BUFFERS");
    if (env) per = (uint32_t)strtoul(env, 0, 10);
    handoff q[NTHREADS];
    worker w[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        pthread_mutex_init(&q[i].lock, 0);
        pthread_cond_init(&q[i].cond, 0);
        q[i].head = q[i].count = 0;
        q[i].closed = 0;
        uint32_t share[2];
        REQUIRE(vb_pool_share(p, share) == 0);
        w[i].pool = p;
        w[i].arena = share[0];
        w[i].token = share[1];
        w[i].n = per;
        uint32_t a = share[0] & VB_SHARE_ARENA_MASK; /* share[0] is the reservation */
        arena_base[a] = vb_pool_region_base(p, a);
    }
    for (int i = 0; i < NTHREADS; i++) {
        w[i].out = &q[i];
        w[i].in = &q[(i + NTHREADS - 1) % NTHREADS];
    }
    pthread_barrier_init(&attached, 0, NTHREADS + 1);
    for (int i = 0; i < NTHREADS; i++) REQUIRE(pthread_create(&w[i].thread, 0, run_worker, &w[i]) == 0);
    pthread_barrier_wait(&attached);
    /* Meanwhile the owner thread keeps allocating and freeing too. */
    for (int k = 0; k < 10000; k++) {
        int32_t h = vb_pool_alloc(p, 8192);
        CHECK(h >= 0);
        CHECK_RC(vb_pool_free(p, h), 0);
    }
    CHECK_RC(vb_pool_destroy(p), VB_EATTACHED); /* views are attached */
    uint64_t made = 0, checked = 0, bad = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(w[i].thread, 0);
        made += w[i].made, checked += w[i].checked, bad += w[i].bad;
    }
    test_note("%llu buffers handed over", (unsigned long long)made);
    CHECK_EQ(bad, 0);
    CHECK_EQ(made, (uint64_t)per * NTHREADS);
    CHECK_EQ(checked, made);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 0);
    CHECK_EQ(s[VB_STAT_ATTACHED], 0);
    CHECK_EQ(s[VB_STAT_REMOTE_ERRORS], 0);
    CHECK_POOL(p);
    /* Every arena is allocatable whole again: given room to grow, the owner
     * adopts the arenas the views gave back instead of mapping new ones. */
    CHECK_RC(vb_pool_set_max_arenas(p, NTHREADS + 1), 0);
    int32_t whole[NTHREADS + 1];
    for (int i = 0; i <= NTHREADS; i++) {
        whole[i] = vb_pool_alloc(p, 256 * KiB);
        CHECK(whole[i] >= 0);
    }
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_ARENAS], NTHREADS + 1);
    FREE_ALL(p, whole, NTHREADS + 1);
    CHECK_RC(vb_pool_destroy(p), 0);
    pthread_barrier_destroy(&attached);
    for (int i = 0; i < NTHREADS; i++) {
        pthread_mutex_destroy(&q[i].lock);
        pthread_cond_destroy(&q[i].cond);
    }
}

/* The owner frees a view's buffer (remote) and the view takes it back when
 * it runs short; a stale share handle is refused. */
static void threads_share_lifecycle(void) {
    uint32_t sizes[] = {4096}, counts[] = {1};
    vb_pool *p;
    REQUIRE(vb_hybrid_create(sizes, counts, 1, 0, &p) == 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    vb_view *v;
    CHECK_RC(vb_view_attach(p, share[0], share[1] ^ 2, &v), VB_ESTALE);
    REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
    vb_view *again;
    CHECK_RC(vb_view_attach(p, share[0], share[1], &again), VB_EBUSY);
    int32_t h = vb_view_alloc(v, 4096);
    REQUIRE(h >= 0);
    CHECK_RC(vb_view_alloc(v, 4096), VB_ENOMEM); /* one block only */
    CHECK_RC(vb_pool_free(p, h), 0);              /* the owner frees it: remote */
    CHECK_EQ(vb_view_live(v), 0);                 /* the view took it back */
    int32_t again_h = vb_view_alloc(v, 4096);
    CHECK_EQ(again_h, h);
    CHECK_RC(vb_view_free(v, again_h), 0);
    CHECK_RC(vb_view_free(v, again_h), VB_EDOUBLEFREE);
    CHECK_RC(vb_pool_destroy(p), VB_EATTACHED);
    CHECK_RC(vb_view_detach(v), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

const test_case thread_tests[] = {
    TEST(threads_share_lifecycle),
    TEST(threads_hand_buffers_around),
    TEST_END,
};

/*
 * test_shared_stress.c - a multi-threaded stress and fuzz of the shared
 * paths against a model (issue 12).
 *
 * One pool, its owner (the test's thread) and WORKERS threads, in rounds.
 * Before each round the owner, at a quiescent point (every thread waits on a
 * barrier), draws every thread's script from the seed: share, unshare,
 * attach, alloc (one and many), local and remote frees (immediate and
 * deferred), bad frees (foreign, out of range, into a reservation nobody
 * attached), detach, register and unregister on a ring, destroy attempts
 * that must be refused, checks and stats.  The threads then run their
 * scripts at the same time (the interleaving is the machine's).  At the
 * next quiescent point the model is checked: no two live buffers overlap,
 * every live buffer still holds its pattern, every view's live count and
 * the owner's count of its arenas are exactly the buffers the model holds
 * there, the attached count, the remote-error count (every bad free counts
 * once, whoever finds it), each view's registered index, vb_pool_check.
 * Then buffers change hands: the next round frees them from another thread.
 * The last round races destroy against attach + alloc + detach (issue 12
 * item 1): destroy may only succeed if no view got in.
 *
 * Seeded: VB_SEED=n replays the scripts (the interleaving differs run to
 * run; every check holds for any interleaving).  VB_STRESS_ROUNDS sets the
 * length (default 300; fewer under the sanitizers).  Run plain, under ASan
 * and under TSan (scripts/hardening.sh).
 */
#include "test.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKERS 4
#define NTHREADS (WORKERS + 1) /* thread 0 is the owner */
#define MAXHELD 4096
#define MAXNEW 64
#define MAXSPARE 8
#define PAGE VB_PAGE_SIZE

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STRESS_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STRESS_SANITIZED 1
#endif

/* A live buffer the model knows. */
typedef struct held {
    int32_t handle;
    uint32_t cap;
    uint8_t *ptr;
    uint64_t stamp;
    int holder; /* thread index; only that thread touches it during a round */
} held;

/* One thread's script for a round. */
typedef struct script {
    int attach;          /* attach share (arena, token) first */
    uint32_t arena, token;
    uint32_t nalloc, nmany;
    uint32_t free_pct;   /* of the buffers it holds */
    uint32_t defer_pct;  /* of those frees, queued instead of called */
    uint32_t nfault;     /* bad frees that must be refused at once (VB_EFAULT) */
    uint32_t nspare;     /* bad frees into spare reservations (counted) */
    uint32_t spare[MAXSPARE], nspares;
    int detach;          /* at the end of the round */
    /* owner only */
    uint32_t nshare, unshare_spare, toggle_reg, ncheck, try_destroy;
    uint64_t seed;
} script;

/* What a thread reports at the quiescent point. */
typedef struct report {
    held fresh[MAXNEW * 2 + 64];
    uint32_t nfresh;
    uint32_t view_live;
    int32_t view_reg;
    uint64_t errors; /* unexpected results */
    char first[160];
    uint32_t bad_frees; /* counted bad frees it made */
} report;

typedef struct stress {
    vb_pool *pool;
    vb_ring *ring;
    int registered;
    uint32_t npages; /* per arena */
    uint32_t max_size;
    held live[MAXHELD];
    uint32_t nlive;
    uint64_t stamps;
    /* per worker */
    vb_view *view[NTHREADS];
    uint32_t arena[NTHREADS]; /* the view's arena (attached) */
    uint32_t pending_arena[NTHREADS], pending_token[NTHREADS];
    int has_pending[NTHREADS];
    uint32_t spare[MAXSPARE], nspare; /* reservations no worker gets */
    uint32_t queue[NTHREADS][VB_OUT_QUEUE_CAP];
    uint64_t remote_errors; /* expected VB_STAT_REMOTE_ERRORS */
    script sc[NTHREADS];
    report rep[NTHREADS];
    pthread_barrier_t start, done;
    _Atomic int quit;
    uint64_t seed;
    uint32_t round;
} stress;

static stress S;

/* What the run did, for its result line. */
static _Atomic uint64_t n_alloc, n_free, n_remote, n_attach, n_detach;

static void rfail(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rfail(report *r, const char *fmt, ...) {
    if (r->errors++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first, sizeof r->first, fmt, ap);
        va_end(ap);
    }
}

/* --- patterns: a stamp at the start and end of every page --------------------- */

static void fill(const held *b) {
    for (uint32_t off = 0; off < b->cap; off += PAGE) {
        uint64_t v = b->stamp ^ off;
        memcpy(b->ptr + off, &v, 8);
        memcpy(b->ptr + off + PAGE - 8, &v, 8);
    }
}

static int intact(const held *b) {
    for (uint32_t off = 0; off < b->cap; off += PAGE) {
        uint64_t v, w;
        memcpy(&v, b->ptr + off, 8);
        memcpy(&w, b->ptr + off + PAGE - 8, 8);
        if (v != (b->stamp ^ off) || w != (b->stamp ^ off)) return 0;
    }
    return 1;
}

/* --- one thread's round --------------------------------------------------------- */

static void new_buffer(int t, report *r, int32_t h, uint32_t cap, uint8_t *base) {
    if (r->nfresh >= sizeof r->fresh / sizeof r->fresh[0]) {
        rfail(r, "too many new buffers");
        return;
    }
    held *b = &r->fresh[r->nfresh++];
    b->handle = h;
    b->cap = cap;
    b->ptr = base + (uint64_t)(h & VB_HANDLE_PAGE_MASK) * PAGE;
    b->stamp = ((uint64_t)t << 56) ^ ((uint64_t)S.round << 32) ^ (uint64_t)(uint32_t)h ^ r->nfresh * 0x9E37u;
    b->holder = t;
    fill(b);
    atomic_fetch_add(&n_alloc, 1);
}

/* Frees a buffer this thread holds: a view frees through its view, the
 * owner through the pool; deferred ones go through the out queue. */
static void free_held(int t, report *r, held *b, int defer, uint32_t *queued) {
    if (!intact(b)) rfail(r, "buffer %d damaged before its free (thread %d)", b->handle, t);
    uint32_t *out = t == 0 ? vb_pool_out(S.pool) : vb_view_out(S.view[t]);
    uint32_t q = out[VB_OUT_QUEUED]; /* an alloc may have flushed it */
    if (defer && q < VB_OUT_QUEUE_CAP - 1) {
        out[VB_OUT_QUEUE + q] = (uint32_t)b->handle;
        out[VB_OUT_QUEUED] = q + 1;
        (*queued)++;
    } else {
        int32_t rc = t == 0 ? vb_pool_free(S.pool, b->handle) : vb_view_free(S.view[t], b->handle);
        if (rc != 0) rfail(r, "thread %d: free(%d) = %d", t, b->handle, rc);
    }
    uint32_t a = (uint32_t)b->handle >> VB_HANDLE_PAGE_BITS;
    atomic_fetch_add(&n_free, 1);
    if (t == 0 ? a != 0 && a != VB_HANDLE_FALLBACK_ARENA : a != S.arena[t]) atomic_fetch_add(&n_remote, 1);
    b->handle = -1; /* gone from the model */
}

static void run_round(int t) {
    script *sc = &S.sc[t];
    report *r = &S.rep[t];
    test_rng rng = rng_seeded(sc->seed);
    vb_pool *p = S.pool;
    memset(r, 0, sizeof *r);
    r->view_reg = -2;
    if (t != 0 && sc->attach) {
        int32_t rc = vb_view_attach(p, sc->arena, sc->token, &S.view[t]);
        if (rc != 0) rfail(r, "attach arena %u: %d", sc->arena, rc);
        else S.arena[t] = vb_view_arena(S.view[t]), atomic_fetch_add(&n_attach, 1);
    }
    vb_view *v = t ? S.view[t] : 0;
    int can = t == 0 || v; /* a thread with no view holds buffers but cannot free */
    uint32_t queued = 0;
    uint32_t *out = t == 0 ? vb_pool_out(p) : v ? vb_view_out(v) : 0;
    uint32_t queue_errors0 = out ? out[VB_OUT_QUEUE_ERRORS] : 0;
    /* Frees of what it holds (from the last quiescent point). */
    if (can)
        for (uint32_t i = 0; i < S.nlive; i++) {
            held *b = &S.live[i];
            if (b->holder != t || rng_below(&rng, 100) >= sc->free_pct) continue;
            free_held(t, r, b, rng_below(&rng, 100) < sc->defer_pct, &queued);
        }
    for (uint32_t k = 0; k < sc->nalloc; k++) {
        uint32_t size = 1 + rng_below(&rng, S.max_size);
        if (t == 0 && rng_below(&rng, 16) == 0) size = S.max_size * 2; /* hybrid: fallback */
        int32_t h = t ? (v ? vb_view_alloc(v, size) : VB_EINVAL) : vb_pool_alloc(p, size);
        if (h == VB_ENOMEM || (t && !v)) continue; /* full: fine, others hold it */
        if (h == VB_ERANGE && t == 0) continue;      /* buddy: above its largest block */
        if (h < 0) {
            rfail(r, "thread %d: alloc(%u) = %d", t, size, h);
            continue;
        }
        uint32_t cap = out[VB_OUT_CAPACITY];
        uint8_t *base = t ? vb_view_base(v) : 0;
        if (t == 0) {
            uint8_t *ptr = vb_pool_ptr(p, h);
            if (!ptr) {
                rfail(r, "owner: no address for its new buffer %d", h);
                continue;
            }
            base = ptr - (uint64_t)(h & VB_HANDLE_PAGE_MASK) * PAGE;
            if (vb_pool_capacity(p, h) != cap) rfail(r, "owner: capacity of %d", h);
        }
        if (t && (uint32_t)h >> VB_HANDLE_PAGE_BITS != S.arena[t]) rfail(r, "view alloc %d outside its arena", h);
        new_buffer(t, r, h, cap, base);
    }
    if (t == 0 && sc->nmany) {
        int32_t many[3 * 8];
        uint32_t n = 1 + rng_below(&rng, 8), size = 1 + rng_below(&rng, S.max_size);
        int32_t rc = vb_pool_alloc_many(p, size, n, many);
        if (rc == (int32_t)n) {
            for (uint32_t i = 0; i < n; i++) {
                uint8_t *ptr = vb_pool_ptr(p, many[3 * i]);
                if (!ptr || (uint32_t)many[3 * i + 2] != vb_pool_capacity(p, many[3 * i])) {
                    rfail(r, "alloc_many: buffer %d", many[3 * i]);
                    continue;
                }
                new_buffer(0, r, many[3 * i], (uint32_t)many[3 * i + 2],
                           ptr - (uint64_t)(many[3 * i] & VB_HANDLE_PAGE_MASK) * PAGE);
            }
        } else if (rc != VB_ENOMEM && rc != VB_ERANGE) {
            rfail(r, "alloc_many(%u, %u) = %d", size, n, rc);
        }
    }
    /* Some of this round's buffers go again at once. */
    if (can)
        for (uint32_t i = 0; i < r->nfresh; i++)
            if (rng_below(&rng, 100) < sc->free_pct / 2) free_held(t, r, &r->fresh[i], rng_below(&rng, 2), &queued);
    /* Bad frees: refused at once. */
    for (uint32_t k = 0; can && k < sc->nfault; k++) {
        int32_t h;
        switch (rng_below(&rng, 3)) {
        case 0: h = -1 - (int32_t)rng_below(&rng, 100); break;
        case 1: h = (int32_t)((VB_MAX_ARENAS - 1) << VB_HANDLE_PAGE_BITS); break; /* a slot never used */
        default: h = (int32_t)(rng_below(&rng, 3) << VB_HANDLE_PAGE_BITS | (S.npages + rng_below(&rng, 8))); break;
        }
        int32_t rc = t ? vb_view_free(v, h) : vb_pool_free(p, h);
        if (rc != VB_EFAULT) rfail(r, "thread %d: bad free(%d) = %d, expected VB_EFAULT", t, h, rc);
    }
    /* Bad frees into reservations nobody attaches: counted once each. */
    for (uint32_t k = 0; can && k < sc->nspare && sc->nspares; k++) {
        uint32_t a = sc->spare[rng_below(&rng, sc->nspares)] & VB_SHARE_ARENA_MASK; /* a reservation's arena */
        int32_t h = (int32_t)(a << VB_HANDLE_PAGE_BITS | rng_below(&rng, S.npages));
        int32_t rc = t ? vb_view_free(v, h) : vb_pool_free(p, h);
        if (rc != 0 && rc != VB_EDOUBLEFREE) rfail(r, "thread %d: free into reservation %d = %d", t, h, rc);
        if (rc == 0) r->bad_frees++; /* a refusal at once is the caller's to count */
    }
    if (t == 0) {
        for (uint32_t k = 0; k < sc->ncheck; k++) {
            int32_t rc = vb_pool_check(p);
            if (rc != 0) rfail(r, "vb_pool_check during the round: %s", vb_pool_last_error(p));
            double st[VB_STAT_LEN];
            vb_pool_stats(p, st);
        }
        if (sc->try_destroy) { /* a buffer of its own keeps the pool busy */
            int32_t guard = vb_pool_alloc(p, 1);
            if (guard >= 0) {
                int32_t rc = vb_pool_destroy(p);
                if (rc != VB_EBUSY && rc != VB_EATTACHED) rfail(r, "destroy while busy: %d", rc);
                if (vb_pool_free(p, guard) != 0) rfail(r, "guard free");
            }
        }
        if (sc->toggle_reg && S.ring) {
            if (S.registered) {
                if (vb_pool_unregister(p) != 0) rfail(r, "unregister");
                S.registered = 0;
            } else {
                int32_t rc = vb_pool_register(p, S.ring);
                if (rc < 0) rfail(r, "register: %d", rc);
                else S.registered = 1;
            }
        }
    }
    if (out && queued) {
        int32_t bad = t ? vb_view_flush(v) : vb_pool_flush(p);
        if (bad != 0) rfail(r, "thread %d: flush refused %d deferred frees", t, bad);
    }
    if (out && out[VB_OUT_QUEUE_ERRORS] != queue_errors0) rfail(r, "thread %d: queue errors", t);
    if (t != 0 && v && sc->detach) {
        if (vb_view_detach(v) != 0) rfail(r, "detach");
        atomic_fetch_add(&n_detach, 1);
        S.view[t] = 0;
    }
}

/* A worker: a round per start barrier; then reports at the done barrier. */
static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    for (;;) {
        pthread_barrier_wait(&S.start);
        if (atomic_load(&S.quit)) return 0;
        run_round(t);
        pthread_barrier_wait(&S.done);
        /* Quiescent: take what others gave back, say what is live. */
        if (S.view[t]) {
            vb_view_flush(S.view[t]);
            S.rep[t].view_live = vb_view_live(S.view[t]);
            S.rep[t].view_reg = vb_view_reg(S.view[t]);
        }
        pthread_barrier_wait(&S.done);
    }
}

/* --- the model at a quiescent point ----------------------------------------------- */

static int cmp_ptr(const void *a, const void *b) {
    const held *x = a, *y = b;
    return x->ptr < y->ptr ? -1 : x->ptr > y->ptr;
}

/* Owner of arena a now, in the model: the worker whose view has it, or 0. */
static int model_owner(uint32_t a) {
    for (int t = 1; t < NTHREADS; t++)
        if (S.view[t] && S.arena[t] == a) return t;
    return 0;
}

static void merge_and_check(void) {
    /* Freed ones leave, new ones come in. */
    uint32_t n = 0;
    for (uint32_t i = 0; i < S.nlive; i++)
        if (S.live[i].handle >= 0) S.live[n++] = S.live[i];
    S.nlive = n;
    for (int t = 0; t < NTHREADS; t++) {
        report *r = &S.rep[t];
        CHECK_MSG(r->errors == 0, "round %u thread %d: %llu unexpected results, first: %s", S.round, t,
                  (unsigned long long)r->errors, r->first);
        for (uint32_t i = 0; i < r->nfresh; i++)
            if (r->fresh[i].handle >= 0 && S.nlive < MAXHELD) S.live[S.nlive++] = r->fresh[i];
        S.remote_errors += r->bad_frees;
    }
    /* No overlap, contents intact. */
    held *sorted = malloc(S.nlive * sizeof *sorted + 1);
    REQUIRE(sorted);
    memcpy(sorted, S.live, S.nlive * sizeof *sorted);
    qsort(sorted, S.nlive, sizeof *sorted, cmp_ptr);
    for (uint32_t i = 0; i < S.nlive; i++) {
        CHECK_MSG(intact(&sorted[i]), "round %u: buffer %d (held by %d) overwritten", S.round, sorted[i].handle,
                  sorted[i].holder);
        if (i) CHECK_MSG(sorted[i - 1].ptr + sorted[i - 1].cap <= sorted[i].ptr, "round %u: buffers %d and %d overlap",
                         S.round, sorted[i - 1].handle, sorted[i].handle);
    }
    free(sorted);
    /* Counts: each view's arena, then everything the owner sees. */
    uint32_t owner_live = 0, per[NTHREADS] = {0}, attached = 0;
    for (uint32_t i = 0; i < S.nlive; i++) {
        int o = (uint32_t)S.live[i].handle >> VB_HANDLE_PAGE_BITS == VB_HANDLE_FALLBACK_ARENA
                    ? 0
                    : model_owner((uint32_t)S.live[i].handle >> VB_HANDLE_PAGE_BITS);
        if (o) per[o]++;
        else owner_live++;
    }
    for (int t = 1; t < NTHREADS; t++) {
        if (!S.view[t]) continue;
        attached++;
        CHECK_MSG(S.rep[t].view_live == per[t], "round %u: view %d has %u live, the model %u", S.round, t,
                  S.rep[t].view_live, per[t]);
        int32_t want = S.registered ? vb_pool_region_reg_index(S.pool, S.arena[t]) : -1;
        CHECK_MSG(S.rep[t].view_reg == want, "round %u: view %d reg %d, expected %d", S.round, t, S.rep[t].view_reg,
                  want);
    }
    double st[VB_STAT_LEN];
    vb_pool_stats(S.pool, st);
    CHECK_MSG(st[VB_STAT_LIVE_BUFFERS] == owner_live, "round %u: owner sees %.0f live, the model %u", S.round,
              st[VB_STAT_LIVE_BUFFERS], owner_live);
    CHECK_EQ(st[VB_STAT_ATTACHED], attached);
    CHECK_MSG(st[VB_STAT_REMOTE_ERRORS] == (double)S.remote_errors, "round %u: %.0f remote errors, expected %llu",
              S.round, st[VB_STAT_REMOTE_ERRORS], (unsigned long long)S.remote_errors);
    CHECK_POOL(S.pool);
}

/* --- drawing the next round -------------------------------------------------------- */

static void draw_round(test_rng *rng) {
    memset(S.sc, 0, sizeof S.sc);
    /* Hand some buffers to another thread: it frees them next time. */
    for (uint32_t i = 0; i < S.nlive; i++)
        if (rng_below(rng, 4) == 0) S.live[i].holder = (int)rng_below(rng, NTHREADS);
    uint32_t targeted = (uint32_t)-1; /* the spare unshared this round is no target */
    script *o = &S.sc[0];
    o->nalloc = rng_below(rng, 12);
    o->nmany = rng_below(rng, 4) == 0;
    o->free_pct = rng_below(rng, 80);
    o->defer_pct = rng_below(rng, 60);
    o->nfault = rng_below(rng, 3);
    o->ncheck = rng_below(rng, 3);
    o->try_destroy = rng_below(rng, 8) == 0;
    o->toggle_reg = S.ring && rng_below(rng, 10) == 0;
    /* Shares for workers with no view, and now and then a spare. */
    for (int t = 1; t < NTHREADS; t++) {
        if (S.view[t] || S.has_pending[t] || rng_below(rng, 2)) continue;
        uint32_t share[2];
        int32_t rc = vb_pool_share(S.pool, share);
        CHECK_MSG(rc == 0, "round %u: share: %d", S.round, rc);
        if (rc) continue;
        S.pending_arena[t] = share[0], S.pending_token[t] = share[1], S.has_pending[t] = 1;
    }
    if (S.nspare < MAXSPARE && rng_below(rng, 6) == 0) {
        uint32_t share[2];
        if (vb_pool_share(S.pool, share) == 0) S.spare[S.nspare++] = share[0];
    } else if (S.nspare && rng_below(rng, 6) == 0) {
        /* Cancelled now, at the quiescent point: nobody frees into it later. */
        uint32_t k = rng_below(rng, S.nspare);
        CHECK_RC(vb_pool_unshare(S.pool, S.spare[k]), 0);
        S.spare[k] = S.spare[--S.nspare];
    }
    (void)targeted;
    for (int t = 0; t < NTHREADS; t++) {
        script *sc = &S.sc[t];
        sc->seed = rng_next(rng);
        memcpy(sc->spare, S.spare, sizeof S.spare);
        sc->nspares = S.nspare;
        sc->nspare = S.nspare ? rng_below(rng, 3) : 0;
        if (t == 0) continue;
        if (!S.view[t] && S.has_pending[t] && rng_below(rng, 3)) {
            sc->attach = 1, sc->arena = S.pending_arena[t], sc->token = S.pending_token[t];
            S.has_pending[t] = 0;
        }
        sc->nalloc = rng_below(rng, 16);
        sc->free_pct = rng_below(rng, 90);
        sc->defer_pct = rng_below(rng, 60);
        sc->nfault = rng_below(rng, 3);
        sc->detach = rng_below(rng, 8) == 0;
    }
}

/* --- the last round: destroy against attach + alloc + detach ------------------------ */

typedef struct racer {
    uint32_t arena, token;
    int32_t attach_rc, handle;
    pthread_barrier_t *go;
} racer;

static void *race_attach(void *arg) {
    racer *r = arg;
    vb_view *v;
    pthread_barrier_wait(r->go);
    r->attach_rc = vb_view_attach(S.pool, r->arena, r->token, &v);
    if (r->attach_rc == 0) {
        r->handle = vb_view_alloc(v, PAGE);
        vb_view_detach(v);
    }
    return 0;
}

/* Every thread gives back what it holds; then destroy races a newcomer. */
static void finish(void) {
    for (uint32_t i = 0; i < S.nlive; i++) S.live[i].holder = 0; /* the owner frees it all */
    memset(S.sc, 0, sizeof S.sc);
    S.sc[0].free_pct = 100;
    for (int t = 1; t < NTHREADS; t++) S.sc[t].detach = 1;
    S.round++;
    pthread_barrier_wait(&S.start);
    run_round(0);
    pthread_barrier_wait(&S.done);
    pthread_barrier_wait(&S.done);
    merge_and_check();
    CHECK_EQ(S.nlive, 0);
    for (uint32_t k = 0; k < S.nspare; k++) CHECK_RC(vb_pool_unshare(S.pool, S.spare[k]), 0);
    atomic_store(&S.quit, 1);
    pthread_barrier_wait(&S.start);

    uint32_t share[2];
    REQUIRE(vb_pool_share(S.pool, share) == 0);
    pthread_barrier_t go;
    pthread_barrier_init(&go, 0, 2);
    racer r = {share[0], share[1], 0, -1, &go};
    pthread_t th;
    REQUIRE(pthread_create(&th, 0, race_attach, &r) == 0);
    pthread_barrier_wait(&go);
    int32_t rc;
    int tries = 0;
    do rc = vb_pool_destroy(S.pool);
    while (rc == VB_EATTACHED && ++tries < 1000000);
    pthread_join(th, 0);
    pthread_barrier_destroy(&go);
    if (rc == 0) {
        CHECK_MSG(r.attach_rc != 0, "destroy succeeded while a view's buffer was live");
        CHECK_EQ(r.attach_rc, VB_ESTALE);
    } else {
        CHECK_EQ(rc, VB_EBUSY);
        CHECK(r.attach_rc == 0 && r.handle >= 0);
        CHECK_RC(vb_pool_free(S.pool, r.handle), 0);
        CHECK_POOL(S.pool);
        CHECK_RC(vb_pool_destroy(S.pool), 0);
    }
    S.pool = 0;
}

static void stress_run(int hybrid) {
    memset(&S, 0, sizeof S);
    const char *env = getenv("VB_SEED");
    S.seed = env ? strtoull(env, 0, 10) : (uint64_t)time(0) * 2654435761u ^ (uint64_t)clock();
    uint32_t rounds = 2000;
#ifdef STRESS_SANITIZED
    rounds = 1000;
#endif
    if ((env = getenv("VB_STRESS_ROUNDS"))) rounds = (uint32_t)strtoul(env, 0, 10);
    test_note("VB_SEED=%llu rounds %u", (unsigned long long)S.seed, rounds);
    test_rng rng = rng_seeded(S.seed ^ (uint64_t)hybrid);
    uint32_t flags = rng_below(&rng, 2) ? VB_FLAG_RELEASE_EMPTY_ARENAS : 0;
    if (rng_below(&rng, 4) == 0) flags |= VB_FLAG_POISON;
    if (hybrid) {
        uint32_t sizes[] = {PAGE, 2 * PAGE, 4 * PAGE}, counts[] = {6, 3, 2};
        REQUIRE(vb_hybrid_create(sizes, counts, 3, flags, &S.pool) == 0);
        S.npages = 6 + 6 + 8;
        S.max_size = 4 * PAGE;
    } else {
        REQUIRE(vb_buddy_create(16 * PAGE, rng_below(&rng, 5), 3, flags, &S.pool) == 0);
        S.npages = 16;
        S.max_size = 4 * PAGE;
    }
    CHECK_RC(vb_pool_set_max_arenas(S.pool, 3), 0);
    if (vb_ring_create(8, 256, 0, &S.ring) != 0) S.ring = 0;
    pthread_barrier_init(&S.start, 0, NTHREADS);
    pthread_barrier_init(&S.done, 0, NTHREADS);
    pthread_t th[NTHREADS];
    for (int t = 1; t < NTHREADS; t++) REQUIRE(pthread_create(&th[t], 0, worker, (void *)(intptr_t)t) == 0);
    for (S.round = 0; S.round < rounds && test_failures() == 0; S.round++) {
        draw_round(&rng);
        pthread_barrier_wait(&S.start);
        run_round(0);
        pthread_barrier_wait(&S.done);
        pthread_barrier_wait(&S.done); /* the workers reported */
        merge_and_check();
    }
    if (test_failures() == 0) {
        finish();
    } else { /* stop the workers; leave the pool (the test failed) */
        atomic_store(&S.quit, 1);
        pthread_barrier_wait(&S.start);
    }
    for (int t = 1; t < NTHREADS; t++) pthread_join(th[t], 0);
    test_note("VB_SEED=%llu: %u rounds, %llu allocs, %llu frees (%llu remote), %llu attaches, %llu detaches",
              (unsigned long long)S.seed, S.round, (unsigned long long)n_alloc, (unsigned long long)n_free,
              (unsigned long long)n_remote, (unsigned long long)n_attach, (unsigned long long)n_detach);
    pthread_barrier_destroy(&S.start);
    pthread_barrier_destroy(&S.done);
    if (S.ring) CHECK_RC(vb_ring_destroy(S.ring), 0);
    if (S.pool) { /* failed: free what we can so the leak check is about the bug */
        for (uint32_t i = 0; i < S.nlive; i++) vb_pool_free(S.pool, S.live[i].handle);
        for (int t = 1; t < NTHREADS; t++)
            if (S.view[t]) vb_view_detach(S.view[t]);
        vb_pool_destroy(S.pool);
    }
}

static void shared_stress_buddy(void) { stress_run(0); }
static void shared_stress_hybrid(void) { stress_run(1); }

const test_case shared_stress_tests[] = {
    TEST(shared_stress_buddy),
    TEST(shared_stress_hybrid),
    TEST_END,
};

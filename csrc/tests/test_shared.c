/*
 * test_shared.c - regression tests of issue 12 (share, attach, detach and
 * destroy across threads; remote frees).  Each names the item it covers.
 * The racing ones repeat a short race many times; all are bounded.
 */
#include "test.h"

#include "pool_internal.h" /* white-box: a slot's owner field (item 8) */

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define KiB 1024u

/* Repetitions of a race: fewer under the sanitizers (5-15x slower), where
 * TSan sees the unsynchronized accesses themselves. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VB_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VB_SANITIZED 1
#endif
#ifdef VB_SANITIZED
#define RACE_TRIALS(n) ((n) / 8)
#else
/* Valgrind runs every thread on one lock, ~50x slower: a few trials only. */
#define RACE_TRIALS(n) (test_under_valgrind() ? (n) / 50 + 1 : (n))
#endif

/* --- item 1: destroy never succeeds while a buffer a view handed out lives -- */

typedef struct racer {
    vb_pool *pool;
    uint32_t arena, token;
    pthread_barrier_t *go;
    int32_t attach_rc, handle;
} racer;

/* Attaches, allocates one buffer, detaches (the buffer stays live). */
static void *attach_alloc_detach(void *arg) {
    racer *r = arg;
    vb_view *v;
    pthread_barrier_wait(r->go);
    r->handle = -1;
    r->attach_rc = vb_view_attach(r->pool, r->arena, r->token, &v);
    if (r->attach_rc == 0) {
        r->handle = vb_view_alloc(v, 4096);
        vb_view_detach(v);
    }
    return 0;
}

static void shared_destroy_sees_detached_buffers(void) {
    int wrong = 0, raced = 0;
    for (int trial = 0; trial < RACE_TRIALS(400) && !wrong; trial++) {
        vb_pool *p;
        uint32_t sizes[16], counts[16];
        for (int k = 0; k < 16; k++) sizes[k] = 4096u * (k + 1), counts[k] = 1;
        REQUIRE(vb_hybrid_create(sizes, counts, 16, 0, &p) == 0);
        uint32_t share[2], extra[2];
        REQUIRE(vb_pool_share(p, share) == 0);
        /* More arenas: destroy's walk takes longer, the race is wider. */
        for (int k = 0; k < 400; k++) REQUIRE(vb_pool_share(p, extra) == 0);
        pthread_barrier_t go;
        pthread_barrier_init(&go, 0, 2);
        racer r = {p, share[0], share[1], &go, 0, -1};
        pthread_t t;
        REQUIRE(pthread_create(&t, 0, attach_alloc_detach, &r) == 0);
        pthread_barrier_wait(&go);
        int32_t rc;
        int tries = 0;
        do rc = vb_pool_destroy(p);
        while (rc == VB_EATTACHED && ++tries < 100000);
        pthread_join(t, 0);
        pthread_barrier_destroy(&go);
        if (rc == 0) {
            /* Only fine if the view never got in. */
            if (r.attach_rc == 0) wrong++;
            continue;
        }
        raced += r.attach_rc == 0 && rc == VB_EBUSY;
        CHECK_MSG(rc == VB_EBUSY || rc == VB_EATTACHED, "destroy returned %d", rc);
        CHECK(r.attach_rc == 0 && r.handle >= 0);
        CHECK_RC(vb_pool_free(p, r.handle), 0);
        CHECK_POOL(p);
        CHECK_RC(vb_pool_destroy(p), 0);
    }
    CHECK_MSG(!wrong, "destroy returned 0 while a view's buffer was live (trial %d)", raced);
    test_note("%d trials where destroy saw the detached buffer", raced);
}

/* --- item 2: the owner never walks an arena a view may attach ---------------- */

typedef struct churner {
    vb_pool *pool;
    uint32_t arena, token;
    pthread_barrier_t *go;
    int bad;
} churner;

/* Attaches to a fresh reservation and changes its arena at once. */
static void *attach_churn(void *arg) {
    churner *c = arg;
    vb_view *v;
    pthread_barrier_wait(c->go);
    if (vb_view_attach(c->pool, c->arena, c->token, &v) != 0) {
        c->bad++;
        return 0;
    }
    int32_t h[16];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 16; i++) h[i] = vb_view_alloc(v, 4096u << (i % 4));
        for (int i = 0; i < 16; i++)
            if (h[i] >= 0 && vb_view_free(v, h[i]) != 0) c->bad++;
    }
    vb_view_detach(v);
    return 0;
}

static void shared_check_races_attach(void) {
    int spurious = 0;
    char first[256] = "";
    vb_pool *p;
    REQUIRE(vb_buddy_create(16384 * KiB, 0, 0, 0, &p) == 0);
    for (int trial = 0; trial < RACE_TRIALS(300); trial++) {
        churner c[3];
        pthread_t t[3];
        pthread_barrier_t go;
        pthread_barrier_init(&go, 0, 4);
        for (int i = 0; i < 3; i++) {
            uint32_t share[2];
            REQUIRE(vb_pool_share(p, share) == 0);
            c[i] = (churner){p, share[0], share[1], &go, 0};
        }
        for (int i = 0; i < 3; i++) REQUIRE(pthread_create(&t[i], 0, attach_churn, &c[i]) == 0);
        pthread_barrier_wait(&go);
        for (int k = 0; k < 10; k++) {
            if (vb_pool_check(p) != 0 && spurious++ == 0) snprintf(first, sizeof first, "%s", vb_pool_last_error(p));
            double s[VB_STAT_LEN];
            vb_pool_stats(p, s);
        }
        for (int i = 0; i < 3; i++) {
            pthread_join(t[i], 0);
            CHECK_EQ(c[i].bad, 0);
        }
        pthread_barrier_destroy(&go);
    }
    CHECK_MSG(spurious == 0, "vb_pool_check failed %d times while views attached: %s", spurious, first);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* --- item 4: arenas views give back are reused or returned ---------------------- */

static void share_cycles(uint32_t flags, uint32_t *max_arenas) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(16 * KiB, 0, 0, flags, &p) == 0);
    *max_arenas = 0;
    for (int i = 0; i < 1100; i++) {
        uint32_t share[2];
        int32_t rc = vb_pool_share(p, share);
        if (rc != 0) {
            CHECK_MSG(0, "share %d failed: %d", i, rc);
            break;
        }
        vb_view *v;
        REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
        int32_t h = vb_view_alloc(v, 4096);
        CHECK(h >= 0);
        CHECK_RC(vb_view_free(v, h), 0);
        CHECK_RC(vb_view_detach(v), 0);
        double s[VB_STAT_LEN];
        vb_pool_stats(p, s);
        if (s[VB_STAT_ARENAS] > *max_arenas) *max_arenas = (uint32_t)s[VB_STAT_ARENAS];
    }
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

static void shared_detached_arenas_come_back(void) {
    uint32_t most;
    share_cycles(VB_FLAG_RELEASE_EMPTY_ARENAS, &most);
    CHECK_EQ(most, 1); /* returned at once */
    share_cycles(0, &most);
    CHECK_EQ(most, 2); /* the one given back is shared again */
}

/* --- item 6: a failed share leaves nothing behind ------------------------------- */

static void shared_failed_share_leaves_no_region(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 2, 0, &r) == 0);
    vb_pool *p, *other;
    REQUIRE(vb_buddy_create(16 * KiB, 0, 0, VB_FLAG_RELEASE_EMPTY_ARENAS, &p) == 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 2), 0);
    CHECK_RC(vb_pool_register(p, r), 0);
    int32_t a = vb_pool_alloc(p, 16 * KiB), b = vb_pool_alloc(p, 4096); /* grows: arena 1, slot 1 */
    REQUIRE(a >= 0 && b >= 0);
    CHECK_RC(vb_pool_free(p, b), 0); /* arena 1 returned */
    REQUIRE(vb_buddy_create(4096, 0, 0, 0, &other) == 0);
    CHECK_RC(vb_pool_register(other, r), 1); /* ring slot 1 taken */
    uint32_t share[2];
    CHECK_RC(vb_pool_share(p, share), VB_ENOSLOTS);
    CHECK_EQ(vb_pool_region_count(p), 2);
    CHECK(vb_pool_region_base(p, 1) == 0);
    CHECK_EQ(vb_pool_region_size(p, 1), 0);
    CHECK_EQ(vb_pool_region_reg_index(p, 1), -1);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_ARENAS], 1);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_free(p, a), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
    CHECK_RC(vb_pool_destroy(other), 0);
    CHECK_RC(vb_ring_destroy(r), 0);
}

/* --- item 7: a remote free needs no memory ------------------------------------------ */

/* The data segment's size now (VmData, bytes), or 0. */
__attribute__((unused)) static uint64_t vm_data(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmData: %lu kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

static void shared_remote_free_needs_no_memory(void) {
#ifdef VB_SANITIZED
    test_note("skipped: the sanitizers' allocators need the address space");
    return;
#else
    const char *vg = getenv("LD_PRELOAD");
    if (vg && strstr(vg, "vgpreload")) {
        test_note("skipped under valgrind (its own allocator)");
        return;
    }
    enum { N = 64 };
    vb_pool *p;
    REQUIRE(vb_buddy_create(N * 4096, 0, 0, 0, &p) == 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    vb_view *v;
    REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
    int32_t h[N];
    for (int i = 0; i < N; i++) REQUIRE((h[i] = vb_pool_alloc(p, 4096)) >= 0);
    /* No memory left for malloc: the data limit at what is mapped now, and
     * the heap's free space used up. */
    struct rlimit old, tight;
    REQUIRE(getrlimit(RLIMIT_DATA, &old) == 0);
    tight = old;
    tight.rlim_cur = vm_data() + 64 * 1024;
    REQUIRE(setrlimit(RLIMIT_DATA, &tight) == 0);
    void *hog = 0, *n;
    uint64_t hogged = 0;
    for (size_t sz = 1 << 20; sz >= 16; sz /= 2)
        while ((n = malloc(sz)) != 0) { /* a chain, to give it all back */
            *(void **)n = hog;
            hog = n;
            hogged += sz;
        }
    int32_t rc[N];
    for (int i = 0; i < N; i++) rc[i] = vb_view_free(v, h[i]); /* the owner's arena: remote */
    setrlimit(RLIMIT_DATA, &old);
    while (hog) {
        n = *(void **)hog;
        free(hog);
        hog = n;
    }
    for (int i = 0; i < N; i++) CHECK_RC(rc[i], 0);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 0); /* every release arrived */
    CHECK_EQ(s[VB_STAT_REMOTE_ERRORS], 0);
    test_note("malloc refused after %llu bytes", (unsigned long long)hogged);
    CHECK_RC(vb_view_detach(v), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
#endif
}

/* --- item 8: frees left on a returned arena's list are counted, not leaked ------ */

static void shared_late_remote_free_is_counted(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(16 * KiB, 0, 0, VB_FLAG_RELEASE_EMPTY_ARENAS, &p) == 0);
    CHECK_RC(vb_pool_set_max_arenas(p, 2), 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0); /* arena 1: the view's */
    vb_view *v;
    REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
    int32_t a = vb_pool_alloc(p, 16 * KiB), b = vb_pool_alloc(p, 4096); /* grows: arena 2 */
    REQUIRE(a >= 0 && b >= 0 && (uint32_t)b >> VB_HANDLE_PAGE_BITS == 2);
    CHECK_RC(vb_pool_free(p, b), 0); /* arena 2 returned */
    REQUIRE(vb_pool_region_size(p, 2) == 0);
    /* White-box: a free from the view that read the arena's owner just
     * before its return and pushes just after it. */
    atomic_store(&p->arenas[2].owner, VB_OWNER_MAIN);
    vb_view_free(v, b);
    atomic_store(&p->arenas[2].owner, VB_OWNER_NONE);
    b = vb_pool_alloc(p, 4096); /* grows into slot 2 again */
    REQUIRE(b >= 0 && (uint32_t)b >> VB_HANDLE_PAGE_BITS == 2);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_REMOTE_ERRORS], 1);
    CHECK_EQ(s[VB_STAT_LIVE_BUFFERS], 2); /* a and the new b: the late free freed nothing */
    CHECK(vb_pool_ptr(p, b) != 0);
    CHECK_RC(vb_pool_free(p, b), 0);
    CHECK_RC(vb_pool_free(p, a), 0);
    CHECK_RC(vb_view_detach(v), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

/* --- item 9: no spurious VB_EATTACHED ----------------------------------------------- */

typedef struct prober {
    vb_pool *pool;
    uint32_t token;
    _Atomic int *stop;
    pthread_barrier_t *go;
} prober;

/* Attaches to an arena that was never shared, until told to stop. */
static void *probe_attach(void *arg) {
    prober *r = arg;
    pthread_barrier_wait(r->go);
    for (int i = 0; i < 20000 && !atomic_load(r->stop); i++) {
        vb_view *v;
        if (vb_view_attach(r->pool, 2, r->token, &v) == 0) vb_view_detach(v);
    }
    return 0;
}

static void shared_no_spurious_attached(void) {
    int spurious = 0;
    for (int trial = 0; trial < RACE_TRIALS(300); trial++) {
        vb_pool *p;
        REQUIRE(vb_buddy_create(16 * KiB, 0, 0, 0, &p) == 0);
        uint32_t share[2];
        REQUIRE(vb_pool_share(p, share) == 0); /* arena 1 reserved; arena 2 never */
        _Atomic int stop = 0;
        pthread_barrier_t go;
        pthread_barrier_init(&go, 0, 2);
        prober r = {p, vb_pool_token(p), &stop, &go};
        pthread_t t;
        REQUIRE(pthread_create(&t, 0, probe_attach, &r) == 0);
        pthread_barrier_wait(&go);
        for (int k = 0; k < 20; k++) sched_yield();
        int32_t rc = vb_pool_destroy(p); /* nobody ever attached */
        if (rc == VB_EATTACHED) spurious++;
        atomic_store(&stop, 1);
        pthread_join(t, 0);
        pthread_barrier_destroy(&go);
        if (rc != 0) CHECK_RC(vb_pool_destroy(p), 0);
    }
    CHECK_MSG(spurious == 0, "destroy said VB_EATTACHED %d times with no view", spurious);
}

/* --- item 5: a view's buffers carry the registered index there is now ------------ */

static void shared_view_follows_registration(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 8, 0, &r) == 0);
    vb_pool *p;
    REQUIRE(vb_buddy_create(16 * KiB, 0, 0, 0, &p) == 0);
    CHECK_RC(vb_pool_register(p, r), 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    vb_view *v;
    REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
    uint32_t *out = vb_view_out(v);
    int32_t h = vb_view_alloc(v, 4096);
    CHECK((int32_t)out[VB_OUT_BUF_INDEX] == 1 && vb_view_reg(v) == 1);
    CHECK_RC(vb_view_free(v, h), 0);
    CHECK_RC(vb_pool_unregister(p), 0);
    h = vb_view_alloc(v, 4096);
    CHECK_EQ((int32_t)out[VB_OUT_BUF_INDEX], -1);
    CHECK_EQ(vb_view_reg(v), -1);
    CHECK_RC(vb_view_free(v, h), 0);
    vb_pool *other;
    REQUIRE(vb_buddy_create(4096, 0, 0, 0, &other) == 0);
    CHECK_RC(vb_pool_register(other, r), 0); /* takes slot 0 */
    CHECK_RC(vb_pool_register(p, r), 1);     /* arena 0 at 1, the view's at 2 */
    h = vb_view_alloc(v, 4096);
    CHECK_EQ((int32_t)out[VB_OUT_BUF_INDEX], 2);
    CHECK_EQ(vb_view_reg(v), 2);
    CHECK_RC(vb_view_free(v, h), 0);
    CHECK_RC(vb_ring_destroy(r), 0); /* its pools go on unregistered */
    h = vb_view_alloc(v, 4096);
    CHECK_EQ((int32_t)out[VB_OUT_BUF_INDEX], -1);
    CHECK_EQ(vb_view_reg(v), -1);
    CHECK_RC(vb_view_free(v, h), 0);
    CHECK_RC(vb_view_detach(v), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
    CHECK_RC(vb_pool_destroy(other), 0);
}

/* --- item 12: a share can be cancelled; bad releases land in the pool's count ---- */

static void shared_unshare(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(16 * KiB, 0, 0, VB_FLAG_RELEASE_EMPTY_ARENAS, &p) == 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    CHECK_RC(vb_pool_unshare(p, share[0]), 0);
    CHECK_RC(vb_pool_unshare(p, share[0]), VB_EINVAL);
    CHECK_RC(vb_pool_unshare(p, 0), VB_EINVAL);
    vb_view *v;
    CHECK_RC(vb_view_attach(p, share[0], share[1], &v), VB_ESTALE);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_ARENAS], 1); /* returned at once */
    uint32_t again[2];
    REQUIRE(vb_pool_share(p, again) == 0);
    REQUIRE(vb_view_attach(p, again[0], again[1], &v) == 0);
    vb_view *second;
    CHECK_RC(vb_view_attach(p, again[0], again[1], &second), VB_EBUSY);
    CHECK_RC(vb_pool_unshare(p, again[0]), VB_EBUSY);
    CHECK_RC(vb_pool_destroy(p), VB_EATTACHED);
    CHECK_RC(vb_view_detach(v), 0);
    CHECK_RC(vb_view_attach(p, again[0], again[1], &second), VB_EBUSY); /* used once */
    /* A reservation never attached does not keep the pool alive. */
    REQUIRE(vb_pool_share(p, again) == 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

static void shared_bad_release_counted_by_pool(void) {
    vb_pool *p;
    REQUIRE(vb_buddy_create(16 * KiB, 0, 0, 0, &p) == 0);
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    vb_view *v;
    REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
    int32_t h = vb_view_alloc(v, 4096);
    REQUIRE(h >= 0);
    CHECK_RC(vb_pool_free(p, h), 0);     /* the owner releases the view's buffer: remote */
    CHECK_RC(vb_pool_free(p, h + 1), 0); /* and a page inside no buffer: counted when seen */
    CHECK_RC(vb_view_flush(v), 0);       /* the view's own releases were all fine */
    CHECK_EQ(vb_view_out(v)[VB_OUT_QUEUE_ERRORS], 0);
    CHECK_EQ(vb_view_live(v), 0);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_REMOTE_ERRORS], 1); /* the owner sees its bad release */
    /* The same page queued twice before the owner looks: refused at once. */
    h = vb_view_alloc(v, 4096);
    CHECK_RC(vb_pool_free(p, h), 0);
    CHECK_RC(vb_pool_free(p, h), VB_EDOUBLEFREE);
    CHECK_EQ(vb_view_live(v), 0);
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_REMOTE_ERRORS], 1); /* the refused one was the caller's to count */
    CHECK_RC(vb_view_detach(v), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
}

const test_case shared_tests[] = {
    TEST(shared_destroy_sees_detached_buffers),
    TEST(shared_check_races_attach),
    TEST(shared_detached_arenas_come_back),
    TEST(shared_failed_share_leaves_no_region),
    TEST(shared_remote_free_needs_no_memory),
    TEST(shared_late_remote_free_is_counted),
    TEST(shared_no_spurious_attached),
    TEST(shared_view_follows_registration),
    TEST(shared_unshare),
    TEST(shared_bad_release_counted_by_pool),
    TEST_END,
};

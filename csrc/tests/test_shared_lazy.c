/*
 * test_shared_lazy.c - lazy shares (issue 13 item 6, review 13 D8): a share
 * maps and pins nothing; its view's first allocation maps the arena and
 * registers it at the indexes the share reserved, from the view's thread,
 * while the owner may destroy the ring, unregister, re-register or close
 * the pool.  The races run under TSan too (scripts/hardening.sh tsan: the
 * "shared" filter takes them).
 */
#define _GNU_SOURCE
#include "test.h"

#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define KiB 1024u
#define MiB (1024u * KiB)

/* A field of /proc/self/status in bytes ("VmRSS", "VmPin"), or 0. */
static uint64_t status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kb = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            sscanf(line + n + 1, " %lu", &kb);
            break;
        }
    if (f) fclose(f);
    return kb * 1024;
}

/* --- a share costs no memory --------------------------------------------------- */

static void shared_lazy_share_maps_and_pins_nothing(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 64, 0, &r) == 0);
    vb_pool *p;
    /* Pre-faulted: an eager share would fault in every page at once. */
    REQUIRE(vb_buddy_create(8 * MiB, 0, 0, VB_FLAG_POPULATE, &p) == 0);
    CHECK_RC(vb_pool_register(p, r), 0);
    double pinned = vb_pinned_bytes();
    uint64_t rss = status_bytes("VmRSS"), pin = status_bytes("VmPin");
    uint32_t share[8][2];
    for (int k = 0; k < 8; k++) CHECK_RC(vb_pool_share(p, share[k]), 0);
    uint64_t rss2 = status_bytes("VmRSS"), pin2 = status_bytes("VmPin");
    CHECK_MSG(rss2 < rss + 2 * MiB, "8 shares of 8 MiB: VmRSS %lu -> %lu", (unsigned long)rss, (unsigned long)rss2);
    CHECK_MSG(pin2 == pin, "8 shares: VmPin %lu -> %lu", (unsigned long)pin, (unsigned long)pin2);
    CHECK(vb_pinned_bytes() == pinned);
    /* Their indexes are taken (1..8) but name nothing yet. */
    for (uint32_t i = 1; i <= 8; i++) CHECK_EQ(vb_pool_region_reg_index(p, i), -1);
    vb_pool *other;
    REQUIRE(vb_buddy_create(4096, 0, 0, 0, &other) == 0);
    CHECK_RC(vb_pool_register(other, r), 9);
    CHECK_POOL(p);
    for (int k = 0; k < 8; k++) CHECK_RC(vb_pool_unshare(p, share[k][0]), 0);
    double s[VB_STAT_LEN];
    vb_pool_stats(p, s);
    CHECK_EQ(s[VB_STAT_ARENAS], 1); /* cancelled: nothing kept */
    CHECK_RC(vb_pool_destroy(other), 0);
    /* The cancelled shares' indexes are free again. */
    REQUIRE(vb_buddy_create(4096, 0, 0, 0, &other) == 0);
    CHECK_RC(vb_pool_register(other, r), 1);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(other), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
    CHECK_RC(vb_ring_destroy(r), 0);
}

/* --- the first allocation maps and registers ------------------------------------- */

/* A ring, a pool of `arena` bytes registered with it (or not), and a view
 * attached to a fresh share of it. */
typedef struct lazy_setup {
    vb_ring *ring;
    vb_pool *pool;
    vb_view *view;
} lazy_setup;

static int lazy_setup_make(lazy_setup *x, uint64_t arena, int registered, uint32_t flags) {
    uint32_t share[2];
    memset(x, 0, sizeof *x);
    if (vb_ring_create(8, 16, 0, &x->ring) != 0) return -1;
    if (vb_buddy_create(arena, 0, 0, flags, &x->pool) != 0) return -1;
    if (registered && vb_pool_register(x->pool, x->ring) != 0) return -1;
    if (vb_pool_share(x->pool, share) != 0) return -1;
    return vb_view_attach(x->pool, share[0], share[1], &x->view);
}

/* Detaches, checks and destroys what lazy_setup_make made. */
static void lazy_setup_end(lazy_setup *x) {
    CHECK_RC(vb_view_detach(x->view), 0);
    CHECK_POOL(x->pool);
    CHECK_RC(vb_pool_destroy(x->pool), 0);
    CHECK_RC(vb_ring_destroy(x->ring), 0);
}

static void shared_lazy_first_alloc_registers(void) {
    lazy_setup x;
    REQUIRE(lazy_setup_make(&x, 64 * KiB, 1, 0) == 0);
    vb_ring *r = x.ring;
    vb_pool *p = x.pool;
    vb_view *v = x.view;
    int fd = scratch_file(16 * KiB, 5);
    REQUIRE(fd >= 0);
    /* Reserved, not registered: the kernel has nothing at index 1. */
    CHECK_EQ(vb_view_reg(v), -1);
    static uint8_t plain[4096] __attribute__((aligned(4096)));
    CHECK_EQ(read_one(r, fd, plain, 4096, 1), -EFAULT);
    double pinned = vb_pinned_bytes();
    int32_t h = vb_view_alloc(v, 16 * KiB);
    REQUIRE(h >= 0);
    CHECK_EQ((int32_t)vb_view_out(v)[VB_OUT_BUF_INDEX], 1);
    CHECK_EQ(vb_view_reg(v), 1);
    CHECK_EQ(vb_pool_region_reg_index(p, 1), 1);
    CHECK(vb_pinned_bytes() == pinned + 64 * KiB);
    /* READ_FIXED into the view's buffer at its index. */
    uint8_t *buf = (uint8_t *)vb_view_base(v) + (uint64_t)((uint32_t)h & VB_HANDLE_PAGE_MASK) * 4096;
    CHECK_EQ(read_one(r, fd, buf, 16 * KiB, 1), 16 * KiB);
    CHECK_EQ(pattern_mismatch(buf, 16 * KiB, 5), 16 * KiB);
    CHECK_RC(vb_view_free(v, h), 0);
    lazy_setup_end(&x);
    CHECK(vb_pinned_bytes() == pinned - 64 * KiB); /* both arenas unpinned */
    close(fd);
}

/* A view that never allocates: its arena and indexes come back unmapped. */
static void shared_lazy_view_leaves_without_alloc(void) {
    lazy_setup x;
    REQUIRE(lazy_setup_make(&x, 64 * KiB, 1, 0) == 0);
    vb_ring *r = x.ring;
    vb_pool *p = x.pool;
    vb_view *v = x.view;
    double s[VB_STAT_LEN];
    vb_view_stats(v, s);
    CHECK_EQ(s[VB_STAT_CAPACITY_BYTES], 64 * KiB); /* what it can serve */
    CHECK_RC(vb_view_detach(v), 0);
    vb_pool_stats(p, s); /* takes the returned arena back: never mapped, it goes */
    CHECK_EQ(s[VB_STAT_ARENAS], 1);
    CHECK(vb_pool_region_base(p, 1) == 0);
    vb_pool *other;
    REQUIRE(vb_buddy_create(4096, 0, 0, 0, &other) == 0);
    CHECK_RC(vb_pool_register(other, r), 1); /* its index is free again */
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(other), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
    CHECK_RC(vb_ring_destroy(r), 0);
}

/* The pool registered after the share, and unregistered under the view. */
static void shared_lazy_follows_registration(void) {
    lazy_setup x;
    REQUIRE(lazy_setup_make(&x, 64 * KiB, 0, 0) == 0); /* unregistered at the share */
    vb_ring *r = x.ring;
    vb_pool *p = x.pool;
    vb_view *v = x.view;
    CHECK_RC(vb_pool_register(p, r), 0); /* arena 0 at 0, the view's reserved at 1 */
    CHECK_EQ(vb_view_reg(v), -1);
    CHECK_EQ(vb_pool_reg_mode(p, r), 1);
    int32_t h = vb_view_alloc(v, 4096);
    REQUIRE(h >= 0);
    CHECK_EQ((int32_t)vb_view_out(v)[VB_OUT_BUF_INDEX], 1);
    CHECK_RC(vb_pool_unregister(p), 0);
    CHECK_EQ(vb_view_reg(v), -1);
    CHECK_RC(vb_pool_register(p, r), 0); /* mapped now: registered at once */
    CHECK_EQ(vb_view_reg(v), 1);
    CHECK_RC(vb_view_free(v, h), 0);
    lazy_setup_end(&x);
}

/* A refused registration (RLIMIT_MEMLOCK, checked before pinning) leaves
 * the arena unmapped and the alloc refused; it succeeds once it fits. */
/* Sets or clears CAP_IPC_LOCK in this (forked test) process's effective set. */
static int set_ipc_lock(int on) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0) return -1;
    uint32_t bit = 1u << (CAP_IPC_LOCK % 32);
    if (on) data[CAP_IPC_LOCK / 32].effective |= bit & data[CAP_IPC_LOCK / 32].permitted;
    else data[CAP_IPC_LOCK / 32].effective &= ~bit;
    return (int)syscall(SYS_capset, &hdr, data);
}

static void shared_lazy_refused_registration_unmaps(void) {
    int had_cap = vb_has_ipc_lock();
    if (had_cap && set_ipc_lock(0) != 0) {
        test_note("skipped: cannot drop CAP_IPC_LOCK");
        return;
    }
    lazy_setup x;
    /* Pre-faulted: the refused map must give the faulted pages back. */
    REQUIRE(lazy_setup_make(&x, 1 * MiB, 1, VB_FLAG_POPULATE) == 0);
    vb_view *v = x.view;
    struct rlimit old, low;
    REQUIRE(getrlimit(RLIMIT_MEMLOCK, &old) == 0);
    low.rlim_cur = (rlim_t)vb_pinned_bytes() + 512 * KiB;
    low.rlim_max = old.rlim_max;
    REQUIRE(setrlimit(RLIMIT_MEMLOCK, &low) == 0);
    uint64_t rss = status_bytes("VmRSS");
    CHECK_RC(vb_view_alloc(v, 4096), VB_EMEMLOCK);
    CHECK_EQ(vb_view_reg(v), -1);
    /* (Valgrind's own memory moves VmRSS.) */
    CHECK_MSG(test_under_valgrind() || status_bytes("VmRSS") < rss + 512 * KiB, "a refused first alloc kept its memory");
    REQUIRE(setrlimit(RLIMIT_MEMLOCK, &old) == 0);
    if (had_cap) set_ipc_lock(1);
    int32_t h = vb_view_alloc(v, 4096);
    CHECK(h >= 0);
    CHECK_EQ(vb_view_reg(v), 1);
    if (h >= 0) CHECK_RC(vb_view_free(v, h), 0);
    lazy_setup_end(&x);
}

/* A pool registered with two rings: the view's arena is registered (pinned)
 * in both at the reserved index, reads work through either, and closing one
 * ring leaves the other's registration and the pin count right. */
static void shared_lazy_two_rings(void) {
    vb_ring *rings[2];
    REQUIRE(vb_ring_create(8, 16, 0, &rings[0]) == 0);
    REQUIRE(vb_ring_create(8, 16, 0, &rings[1]) == 0);
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * KiB, 0, 0, 0, &p) == 0);
    double base = vb_pinned_bytes();
    CHECK_RC(vb_pool_register_rings(p, rings, 2), 0);
    double with_pool = vb_pinned_bytes();
    uint32_t share[2];
    REQUIRE(vb_pool_share(p, share) == 0);
    vb_view *v;
    REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
    CHECK(vb_pinned_bytes() == with_pool);
    int fd = scratch_file(16 * KiB, 21);
    REQUIRE(fd >= 0);
    int32_t h = vb_view_alloc(v, 16 * KiB);
    REQUIRE(h >= 0);
    CHECK_EQ((int32_t)vb_view_out(v)[VB_OUT_BUF_INDEX], 1);
    CHECK(vb_pinned_bytes() == with_pool + 2 * 64 * KiB); /* pinned in each ring */
    uint8_t *buf = (uint8_t *)vb_view_base(v) + (uint64_t)((uint32_t)h & VB_HANDLE_PAGE_MASK) * 4096;
    for (int k = 0; k < 2; k++) {
        memset(buf, 0, 16 * KiB);
        CHECK_EQ(read_one(rings[k], fd, buf, 16 * KiB, 1), 16 * KiB);
        CHECK_EQ(pattern_mismatch(buf, 16 * KiB, 21), 16 * KiB);
    }
    /* Ring 0 goes: the view's arena was pinned in it (and in ring 1: that
     * pin stays); arena 0's pin moves to ring 1 where ring 1 cloned it. */
    int cloned = vb_pool_reg_mode(p, rings[1]) & 2;
    double before = vb_pinned_bytes();
    CHECK_RC(vb_ring_destroy(rings[0]), 0);
    CHECK_EQ(vb_view_reg(v), 1); /* still registered in the other ring */
    CHECK(vb_pinned_bytes() == before - 64 * KiB - (cloned ? 0 : 64 * KiB));
    memset(buf, 0, 16 * KiB);
    CHECK_EQ(read_one(rings[1], fd, buf, 16 * KiB, 1), 16 * KiB);
    CHECK_EQ(pattern_mismatch(buf, 16 * KiB, 21), 16 * KiB);
    CHECK_RC(vb_view_free(v, h), 0);
    CHECK_RC(vb_view_detach(v), 0);
    CHECK_POOL(p);
    CHECK_RC(vb_pool_destroy(p), 0);
    CHECK(vb_pinned_bytes() == base);
    CHECK_RC(vb_ring_destroy(rings[1]), 0);
    close(fd);
}

/* Hybrid pools and huge-page pools map lazily too: the arena is writable
 * after the first alloc (THP advice for huge pages), untouched before. */
static void shared_lazy_hybrid_and_huge(void) {
    uint32_t sizes[2] = {4096, 64 * KiB}, counts[2] = {64, 16};
    for (int kind = 0; kind < 2 && !test_failures(); kind++) {
        vb_pool *p;
        if (kind == 0) REQUIRE(vb_hybrid_create(sizes, counts, 2, VB_FLAG_POPULATE, &p) == 0);
        else REQUIRE(vb_buddy_create(4 * MiB, 0, 0, VB_FLAG_HUGE_PAGES | VB_FLAG_POPULATE, &p) == 0);
        uint64_t rss = status_bytes("VmRSS");
        uint32_t share[2];
        REQUIRE(vb_pool_share(p, share) == 0);
        vb_view *v;
        REQUIRE(vb_view_attach(p, share[0], share[1], &v) == 0);
        CHECK_MSG(test_under_valgrind() || status_bytes("VmRSS") < rss + 512 * KiB, "kind %d: the share faulted pages in", kind);
        int32_t h = vb_view_alloc(v, 64 * KiB);
        REQUIRE(h >= 0);
        uint8_t *b = (uint8_t *)vb_view_base(v) + (uint64_t)((uint32_t)h & VB_HANDLE_PAGE_MASK) * 4096;
        fill_pattern(b, 64 * KiB, 11);
        CHECK_EQ(pattern_mismatch(b, 64 * KiB, 11), 64 * KiB);
        double s[VB_STAT_LEN];
        vb_view_stats(v, s);
        if (kind == 1) CHECK_EQ(s[VB_STAT_HUGE_ARENAS] + s[VB_STAT_THP_ARENAS], 1);
        CHECK_RC(vb_view_free(v, h), 0);
        CHECK_RC(vb_view_detach(v), 0);
        CHECK_POOL(p);
        CHECK_RC(vb_pool_destroy(p), 0);
    }
}

/* --- races: the owner changes registration while the view maps ------------------ */

typedef struct race {
    vb_pool *pool;
    uint32_t share[2];
    _Atomic int go, attached;
    int32_t handle, index, attach_rc;
    int fd;
} race;

/* The view's thread: attach, first alloc (maps and registers), a read
 * through the kernel into it would need the owner's ring: we check the
 * bytes are ours to write instead, then free and detach. */
static void *race_view(void *arg) {
    race *x = arg;
    vb_view *v;
    while (!atomic_load_explicit(&x->go, memory_order_acquire)) {
    }
    x->attach_rc = vb_view_attach(x->pool, x->share[0], x->share[1], &v);
    atomic_store_explicit(&x->attached, 1, memory_order_release);
    if (x->attach_rc) return 0;
    x->handle = vb_view_alloc(v, 4096);
    x->index = (int32_t)vb_view_out(v)[VB_OUT_BUF_INDEX];
    if (x->handle >= 0) {
        uint8_t *b = (uint8_t *)vb_view_base(v) + (uint64_t)((uint32_t)x->handle & VB_HANDLE_PAGE_MASK) * 4096;
        memset(b, 0xA5, 4096); /* mapped: writable */
        vb_view_free(v, x->handle);
    }
    vb_view_detach(v);
    return 0;
}

/* What the owner does while the view maps: 0 destroys the ring, 1
 * unregisters, 2 unregisters and registers again, 3 closes the pool
 * (refused while the view is attached, done once it left). */
/* How often the view registered before the owner acted (index 1) and
 * after (index -1), per action: both orders must show up. */
static uint32_t seen_before[4], seen_after[4];

static void race_round(test_rng *rng, int what) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 16, 0, &r) == 0);
    race x = {0};
    x.handle = x.index = -99;
    REQUIRE(vb_buddy_create(64 * KiB, 0, 0, 0, &x.pool) == 0);
    CHECK_RC(vb_pool_register(x.pool, r), 0);
    REQUIRE(vb_pool_share(x.pool, x.share) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, 0, race_view, &x) == 0);
    atomic_store_explicit(&x.go, 1, memory_order_release);
    /* Mostly from the view's attach on (its first alloc is what races), a
     * random delay into it; a closing pool sometimes before it. */
    if (what != 3 || rng_below(rng, 2))
        while (!atomic_load_explicit(&x.attached, memory_order_acquire)) {
        }
    for (uint32_t spin = rng_below(rng, 60000); spin; spin--) __asm__ volatile("" ::: "memory");
    int ring_gone = 0, pool_gone = 0;
    switch (what) {
    case 0:
        CHECK_RC(vb_ring_destroy(r), 0);
        ring_gone = 1;
        break;
    case 1:
        CHECK_RC(vb_pool_unregister(x.pool), 0);
        break;
    case 2:
        CHECK_RC(vb_pool_unregister(x.pool), 0);
        CHECK(vb_pool_register(x.pool, r) >= 0);
        break;
    default:
        for (;;) {
            int32_t rc = vb_pool_destroy(x.pool);
            if (rc == 0) break;
            CHECK_RC(rc, VB_EATTACHED);
            if (rc != VB_EATTACHED) break;
            sched_yield();
        }
        pool_gone = 1;
    }
    pthread_join(t, 0);
    if (pool_gone) {
        /* Destroyed after the view left, or before it attached. */
        CHECK(x.attach_rc == 0 || x.attach_rc == VB_ESTALE);
    } else {
        CHECK_RC(x.attach_rc, 0);
        CHECK_MSG(x.handle >= 0, "first alloc: %d", x.handle);
        CHECK_MSG(x.index == 1 || x.index == -1, "index %d", x.index);
        if (x.index == 1) seen_before[what]++;
        else seen_after[what]++;
        CHECK_POOL(x.pool);
        CHECK_RC(vb_pool_destroy(x.pool), 0);
    }
    if (!ring_gone) CHECK_RC(vb_ring_destroy(r), 0);
}

static void shared_lazy_races_owner(void) {
    uint64_t seed = (uint64_t)time(0);
    const char *e = getenv("VB_SEED");
    if (e) seed = strtoull(e, 0, 10);
    test_rng rng = rng_seeded(seed);
    double pinned = vb_pinned_bytes();
    /* Under valgrind the threads run one at a time and the owner's spin
     * waits for the view take a scheduler slice each: a few rounds only
     * (400 took over the runner's 120 s timeout on a loaded machine). */
    int rounds = test_under_valgrind() ? 12 : 400;
    for (int i = 0; i < rounds && !test_failures(); i++) race_round(&rng, i % 4);
    CHECK(vb_pinned_bytes() == pinned); /* every pin was undone */
    test_note("VB_SEED=%llu; index 1/-1: ring destroy %u/%u, unregister %u/%u, re-register %u/%u",
              (unsigned long long)seed, seen_before[0], seen_after[0], seen_before[1], seen_after[1],
              seen_before[2], seen_after[2]);
}

const test_case shared_lazy_tests[] = {
    TEST(shared_lazy_share_maps_and_pins_nothing),
    TEST(shared_lazy_first_alloc_registers),
    TEST(shared_lazy_view_leaves_without_alloc),
    TEST(shared_lazy_follows_registration),
    TEST(shared_lazy_refused_registration_unmaps),
    TEST(shared_lazy_hybrid_and_huge),
    TEST(shared_lazy_two_rings),
    TEST(shared_lazy_races_owner),
    TEST_END,
};

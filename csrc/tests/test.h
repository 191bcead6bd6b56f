/*
 * test.h - a tiny test framework for the C core, plus the few helpers every
 * suite needs.
 *
 * A test is a `void name(void)` function.  The CHECK macros record a failure
 * (file:line and a message) and let the test go on, so one run reports every
 * broken test; REQUIRE also returns from the test, for when going on could
 * only crash (no pool to work with, say).  Each suite file exports a table of
 * its tests (TEST(fn) entries, ending with TEST_END); test_main.c runs them,
 * each in its own child process, and prints one line per test:
 *
 *   ok   name
 *   FAIL name: file:line: message
 *
 * and last "N passed, N failed".  Only the first failure of a test is shown
 * (with a count of the rest): later ones usually follow from it.
 */
#ifndef VB_TEST_H
#define VB_TEST_H

#include "veloq_buffer.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

#define TEST(fn) {#fn, fn}
#define TEST_END {0, 0}

/* The suites (one table per file). */
extern const test_case buddy_tests[];
extern const test_case hybrid_tests[];
extern const test_case model_tests[];
extern const test_case growth_tests[];
extern const test_case ring_tests[];
extern const test_case thread_tests[];
extern const test_case ring_ops_tests[];
extern const test_case thread_exit_tests[];
extern const test_case shared_tests[];
extern const test_case waiter_tests[];
extern const test_case edge_tests[];
extern const test_case shared_stress_tests[];
extern const test_case shared_review_tests[];
extern const test_case shared_lazy_tests[];
extern const test_case shared_pin_lock_tests[];
extern const test_case net_tests[];

/* --- recording ------------------------------------------------------------- */

/* Records a failure of the running test. */
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Failures the running test has recorded so far (long loops stop early). */
int test_failures(void);
/* Text appended to the test's result line (a random seed, say). */
void test_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Valgrind 3.19 keeps its one big lock while a thread blocks in
 * io_uring_enter, so a test in which one thread waits in the kernel for a
 * completion another thread must make deadlocks under it (checked: two
 * threads, a GETEVENTS wait and a NOP, with liburing's own wait too).
 * scripts/hardening.sh valgrind sets VB_UNDER_VALGRIND=1; such tests say
 * so and return (they still run in every other stage, TSan and ASan too). */
static inline int test_under_valgrind(void) {
    const char *v = getenv("VB_UNDER_VALGRIND");
    return v && v[0] == '1';
}
#define SKIP_UNDER_VALGRIND()                                                          \
    do {                                                                               \
        if (test_under_valgrind()) {                                                   \
            test_note("skipped under valgrind (a thread blocked in io_uring_enter)"); \
            return;                                                                    \
        }                                                                              \
    } while (0)

/* Where the running test last checked something.  Lives in memory shared
 * with the runner, so a test that crashes is reported with the place it got
 * to instead of just "signal 11". */
typedef struct test_place {
    const char *file;
    int line;
} test_place;
extern volatile test_place *test_last_check;

#define TEST_MARK() (test_last_check->file = __FILE__, test_last_check->line = __LINE__)

#define CHECK_MSG(cond, ...)                                                    \
    do {                                                                        \
        TEST_MARK();                                                            \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);                \
    } while (0)

#define CHECK(cond) CHECK_MSG(cond, "CHECK(%s) failed", #cond)

/* Like CHECK, but ends the test on failure. */
#define REQUIRE(cond)                                                           \
    do {                                                                        \
        TEST_MARK();                                                            \
        if (!(cond)) {                                                          \
            test_fail(__FILE__, __LINE__, "REQUIRE(%s) failed", #cond);         \
            return;                                                             \
        }                                                                       \
    } while (0)

/* Integers (and stats, which are exact doubles) compared as long long. */
#define CHECK_EQ(actual, expected)                                              \
    do {                                                                        \
        long long chk_a_ = (long long)(actual), chk_e_ = (long long)(expected); \
        CHECK_MSG(chk_a_ == chk_e_, "%s is %lld, expected %lld", #actual,       \
                  chk_a_, chk_e_);                                              \
    } while (0)

/* An error code, named in the message. */
#define CHECK_RC(call, expected)                                                \
    do {                                                                        \
        int32_t chk_rc_ = (call), chk_want_ = (expected);                       \
        CHECK_MSG(chk_rc_ == chk_want_, "%s returned %d (%s), expected %d (%s)", \
                  #call, chk_rc_, vb_strerror(chk_rc_), chk_want_,              \
                  vb_strerror(chk_want_));                                      \
    } while (0)

/* vb_pool_check passes; its diagnostic goes in the message when not. */
#define CHECK_POOL(pool)                                                        \
    do {                                                                        \
        int32_t chk_rc_ = vb_pool_check(pool);                                  \
        CHECK_MSG(chk_rc_ == 0, "vb_pool_check: %d: %s", chk_rc_,               \
                  vb_pool_last_error(pool));                                    \
    } while (0)

/* vb_pool_check fails, and says why in a message that contains `needle`.
 * For the white-box tests that break an invariant on purpose. */
#define CHECK_CORRUPT(pool, needle)                                             \
    do {                                                                        \
        CHECK_RC(vb_pool_check(pool), VB_ECORRUPT);                             \
        const char *chk_msg_ = vb_pool_last_error(pool);                        \
        CHECK_MSG(strstr(chk_msg_, needle), "last error \"%s\" lacks \"%s\"",    \
                  chk_msg_, needle);                                            \
    } while (0)

/*
 * `call` must fail with `expected` and leave the pool exactly as it was:
 * vb_pool_check still passes and every statistic is unchanged.  This is the
 * contract of every refused free (and of allocations that are never
 * servable), so the suites use it for all of them.
 */
#define EXPECT_REFUSED(pool, call, expected)                                    \
    do {                                                                        \
        double chk_before_[VB_STAT_LEN];                                        \
        vb_pool_stats(pool, chk_before_);                                       \
        int32_t chk_rc_ = (call);                                               \
        TEST_MARK();                                                            \
        check_refused(__FILE__, __LINE__, #call, pool, chk_before_, chk_rc_,    \
                      expected);                                                \
    } while (0)

void check_refused(const char *file, int line, const char *call, vb_pool *pool,
                   const double *before, int32_t rc, int32_t expected);

/* --- helpers ----------------------------------------------------------------- */

/* xorshift64: tiny, fast, and the same sequence for the same seed
 * everywhere, which is all the randomized tests need to be replayable. */
typedef struct test_rng {
    uint64_t s;
} test_rng;

/* The seed goes through splitmix64 first, so that small seeds (1, 2, 3...)
 * start far apart instead of with a run of tiny numbers. */
static inline test_rng rng_seeded(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    test_rng r = {z ? z : 1}; /* 0 is xorshift's fixed point */
    return r;
}

static inline uint64_t rng_next(test_rng *r) {
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return r->s = x;
}

/* Uniform enough in [0, n) for n far below 2^64. */
static inline uint32_t rng_below(test_rng *r, uint32_t n) { return (uint32_t)(rng_next(r) % n); }

/* Fisher-Yates shuffle. */
void shuffle_handles(test_rng *r, int32_t *h, size_t n);

/* Fills n bytes with a pattern derived from `seed`; pattern_mismatch tells where
 * the first byte differs from it (n when none does). */
void fill_pattern(void *p, size_t n, uint32_t seed);
size_t pattern_mismatch(const void *p, size_t n, uint32_t seed);

/* A scratch file of `size` patterned bytes (fill_pattern); returns its fd
 * (unlinked), or -1. */
int scratch_file(size_t size, uint32_t seed);
/* Queues one read on the ring (READ_FIXED with `index` >= 0), submits it
 * and waits for it (5 s at most): its result, or a negative error. */
int32_t read_one(vb_ring *r, int fd, void *buf, uint32_t len, int32_t index);

/* Every VB_STAT_* field equals want[]; `when` names the moment. */
#define CHECK_STATS(pool, want, when)                                           \
    do {                                                                        \
        TEST_MARK();                                                            \
        check_stats(__FILE__, __LINE__, pool, want, when);                      \
    } while (0)
void check_stats(const char *file, int line, vb_pool *pool, const double *want, const char *when);

/* Buffers never share memory: allocates n buffers of 1..max_size bytes,
 * fills each whole capacity with its own pattern, replaces half of them
 * (twice, so freed memory gets reused) and verifies every live one each
 * time.  The pool must have room for n buffers. */
void check_buffers_independent(vb_pool *pool, uint64_t seed, uint32_t max_size, uint32_t n);

/* Frees every handle and checks each free succeeds. */
#define FREE_ALL(pool, handles, n)                                              \
    do {                                                                        \
        for (size_t chk_i_ = 0; chk_i_ < (size_t)(n); chk_i_++)                 \
            CHECK_RC(vb_pool_free(pool, (handles)[chk_i_]), 0);                 \
    } while (0)

#endif /* VB_TEST_H */

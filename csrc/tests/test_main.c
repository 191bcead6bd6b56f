/*
 * test_main.c - runs the C test suites (see test.h for the framework).
 *
 *   vb_tests [FILTER...]     run the tests whose name contains a FILTER
 *                            (all tests without one)
 *
 * Each test runs in a forked child, so a test that crashes or trips a
 * UBSan trap (the suite is built ReleaseSafe) fails alone instead of ending
 * the run, and a test cannot leak state into the next one.  The child writes
 * its result into a shared mapping; the parent prints every line.
 * VB_TEST_NOFORK=1 runs the tests in-process instead (for a debugger).
 *
 * Exit status: 0 iff no test failed.
 */
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What the running test reported. */
typedef struct test_result {
    test_place last_check;
    int failures;
    char first[512]; /* "file:line: message" of the first failure */
    char note[192];
} test_result;

static test_result *result; /* MAP_SHARED: written by the child, read by us */
volatile test_place *test_last_check;

/* --- recording ---------------------------------------------------------------- */

/* Paths as the compiler saw them can be absolute; keep them repo-relative. */
static const char *short_path(const char *file) {
    const char *s = strstr(file, "csrc/");
    return s ? s : file;
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    if (result->failures++ > 0) return;
    int n = snprintf(result->first, sizeof result->first, "%s:%d: ", short_path(file), line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(result->first + n, sizeof result->first - (size_t)n, fmt, ap);
    va_end(ap);
}

int test_failures(void) { return result->failures; }

void test_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(result->note, sizeof result->note, fmt, ap);
    va_end(ap);
}

/* --- helpers shared by the suites (see test.h) ------------------------------ */

/* A scratch file of `size` patterned bytes; returns its fd (unlinked). */
int scratch_file(size_t size, uint32_t seed) {
    char path[] = "/tmp/vb_test_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    unlink(path);
    uint8_t *data = malloc(size);
    fill_pattern(data, size, seed);
    ssize_t n = pwrite(fd, data, size, 0);
    free(data);
    return n == (ssize_t)size ? fd : -1;
}

/* Queues one read, submits it and waits for its result. */
int32_t read_one(vb_ring *r, int fd, void *buf, uint32_t len, int32_t index) {
    int32_t rc = vb_ring_prep(r, VB_OP_READ, fd, buf, len, 0, index, 7);
    if (rc) return rc;
    if (vb_ring_submit(r) != 1) return -EIO;
    if (vb_ring_reap(r, 5000) != 1) return -EIO;
    int32_t *c = vb_ring_completions(r);
    return c[0] == 7 ? c[1] : -EIO;
}


void check_refused(const char *file, int line, const char *call, vb_pool *pool,
                   const double *before, int32_t rc, int32_t expected) {
    if (rc != expected) {
        test_fail(file, line, "%s returned %d (%s), expected %d (%s)", call, rc, vb_strerror(rc),
                  expected, vb_strerror(expected));
        return;
    }
    int32_t crc = vb_pool_check(pool);
    if (crc != 0) {
        test_fail(file, line, "after %s: vb_pool_check: %s", call, vb_pool_last_error(pool));
        return;
    }
    double after[VB_STAT_LEN];
    vb_pool_stats(pool, after);
    for (int i = 0; i < VB_STAT_LEN; i++)
        if (after[i] != before[i]) {
            test_fail(file, line, "after %s: stat %d changed from %.0f to %.0f", call, i, before[i],
                      after[i]);
            return;
        }
}

void shuffle_handles(test_rng *r, int32_t *h, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(r, (uint32_t)i);
        int32_t t = h[i - 1];
        h[i - 1] = h[j];
        h[j] = t;
    }
}

/* Byte i of the pattern: varies along the buffer (so a shifted copy shows)
 * and with the seed (so two buffers differ). */
static inline uint8_t pattern_byte(size_t i, uint32_t seed) {
    return (uint8_t)((i * 131u + (i >> 8) * 7u + seed * 2654435761u) >> 3);
}

void fill_pattern(void *p, size_t n, uint32_t seed) {
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) b[i] = pattern_byte(i, seed);
}

size_t pattern_mismatch(const void *p, size_t n, uint32_t seed) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(i, seed)) return i;
    return n;
}

void check_stats(const char *file, int line, vb_pool *pool, const double *want, const char *when) {
    double s[VB_STAT_LEN];
    vb_pool_stats(pool, s);
    for (int i = 0; i < VB_STAT_LEN; i++)
        if (s[i] != want[i])
            test_fail(file, line, "%s: stat %d is %.0f, expected %.0f", when, i, s[i], want[i]);
}

void check_buffers_independent(vb_pool *p, uint64_t seed, uint32_t max_size, uint32_t n) {
    test_rng rng = rng_seeded(seed);
    int32_t *h = calloc(n, sizeof *h);
    uint32_t *pattern = calloc(n, sizeof *pattern);
    if (!h || !pattern) {
        test_fail(__FILE__, __LINE__, "out of memory");
        goto out;
    }
    for (uint32_t round = 0; round < 3; round++) {
        for (uint32_t i = round ? n / 2 : 0; i < n; i++) { /* later rounds replace the upper half */
            h[i] = vb_pool_alloc(p, 1 + rng_below(&rng, max_size));
            if (h[i] < 0) {
                test_fail(__FILE__, __LINE__, "round %u: alloc %u: %s", round, i, vb_strerror(h[i]));
                goto out;
            }
            pattern[i] = round * n + i;
            fill_pattern(vb_pool_ptr(p, h[i]), vb_pool_capacity(p, h[i]), pattern[i]);
        }
        for (uint32_t i = 0; i < n; i++) {
            size_t cap = vb_pool_capacity(p, h[i]);
            size_t bad = pattern_mismatch(vb_pool_ptr(p, h[i]), cap, pattern[i]);
            if (bad != cap)
                test_fail(__FILE__, __LINE__, "round %u: buffer %u overwritten at byte %zu", round, i, bad);
        }
        for (uint32_t i = n / 2; i < n; i++) CHECK_RC(vb_pool_free(p, h[i]), 0);
    }
    for (uint32_t i = 0; i < n / 2; i++) CHECK_RC(vb_pool_free(p, h[i]), 0);
out:
    free(h);
    free(pattern);
}

/* --- running ---------------------------------------------------------------- */

/* The test body plus the checks every test gets for free. */
static void run_here(const test_case *t) {
    uint32_t pools = vb_live_pools();
    t->fn();
    if (vb_live_pools() != pools)
        test_fail(__FILE__, __LINE__, "%s left %u pool(s) undestroyed", t->name,
                  vb_live_pools() - pools);
}

/* LeakSanitizer (scripts/hardening.sh asan) looks for leaks in exit(), which
 * a forked test never calls (_exit): it is asked here instead, so a test that
 * leaks fails (the report goes to stderr).  NULL in builds without it. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void run_forked(const test_case *t) {
    fflush(stdout); /* or the child would print our buffered lines again */
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        run_here(t);
        return;
    }
    if (pid == 0) {
        run_here(t);
        if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check())
            test_fail(__FILE__, __LINE__, "LeakSanitizer: %s leaked memory (report above)", t->name);
        _exit(0);
    }
    /* A hung test must fail, not hang the suite: after VB_TEST_TIMEOUT
     * seconds (default 300) the child is killed and the test fails. */
    const char *limit_env = getenv("VB_TEST_TIMEOUT");
    long limit_ms = (limit_env && atol(limit_env) > 0 ? atol(limit_env) : 300) * 1000L;
    int status = 0;
    long waited_ms = 0;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) break;
        if (got < 0 && errno != EINTR) break;
        if (waited_ms >= limit_ms) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            test_fail(short_path(__FILE__), __LINE__, "timed out after %ld s (VB_TEST_TIMEOUT)",
                      limit_ms / 1000);
            return;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, 0);
        waited_ms += 10;
    }
    const char *where = result->last_check.file ? short_path(result->last_check.file) : "?";
    if (WIFSIGNALED(status))
        test_fail(where, result->last_check.line, "killed by signal %d (%s) after this check",
                  WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WEXITSTATUS(status) != 0)
        test_fail(where, result->last_check.line, "exited with status %d after this check",
                  WEXITSTATUS(status));
}

/* Runs one test and prints its line; returns 1 if it passed. */
static int run_test(const test_case *t, int forked) {
    memset(result, 0, sizeof *result);
    if (forked) run_forked(t);
    else run_here(t);
    const char *sep = result->note[0] ? "  " : "";
    if (result->failures == 0) {
        printf("ok   %s%s%s\n", t->name, sep, result->note);
        return 1;
    }
    char more[48] = "";
    if (result->failures > 1) snprintf(more, sizeof more, " (+%d more)", result->failures - 1);
    printf("FAIL %s: %s%s%s%s\n", t->name, result->first, more, sep, result->note);
    return 0;
}

static int selected(const char *name, int argc, char **argv) {
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i])) return 1;
    return 0;
}

int main(int argc, char **argv) {
    static const test_case *const suites[] = {buddy_tests, hybrid_tests, growth_tests, ring_tests, waiter_tests, thread_tests,
                                                 ring_ops_tests, thread_exit_tests, shared_tests, shared_review_tests, shared_lazy_tests, shared_pin_lock_tests, edge_tests, shared_stress_tests, net_tests,
                                                 model_tests};
    result = mmap(0, sizeof *result, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (result == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    test_last_check = &result->last_check;
    const char *nofork = getenv("VB_TEST_NOFORK");
    int forked = !(nofork && nofork[0] && strcmp(nofork, "0") != 0);

    int passed = 0, failed = 0;
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++)
        for (const test_case *t = suites[s]; t->name; t++) {
            if (!selected(t->name, argc, argv)) continue;
            if (run_test(t, forked)) passed++;
            else failed++;
            fflush(stdout);
        }
    if (passed + failed == 0) printf("no test name contains the filter\n");
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}

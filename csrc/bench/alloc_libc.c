/*
 * alloc_libc.c - posix_memalign(&p, 4096, n) / free(p), whoever serves it:
 * two rows with the same code.  The glibc row runs in a plain child
 * process, the jemalloc row in one with LD_PRELOAD=libjemalloc.so.2
 * (Debian's jemalloc replaces malloc and friends; it has no prefixed API).
 * malloc_owner() says who really answered, and the child refuses to
 * measure when that is not the row's allocator: a stray preload, or a
 * linked libmimalloc.so (it exports malloc too), cannot mislabel a row.
 */
#define _GNU_SOURCE
#include "workloads.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline tok_t pm_alloc(void *ctx, uint32_t size) {
    (void)ctx;
    void *p;
    int rc = posix_memalign(&p, 4096, size);
    if (__builtin_expect(rc != 0, 0)) die("posix_memalign(4096, %u) failed: %d", size, rc);
    return (tok_t)p;
}

static inline void pm_free(void *ctx, tok_t t) {
    (void)ctx;
    free((void *)t);
}

static double libc_run(const workload *w) { return wl_run(0, w, pm_alloc, pm_free); }

/* --- who is malloc? -------------------------------------------------------- */

/* jemalloc's version when jemalloc serves malloc here, else NULL. */
static const char *jemalloc_version(void) {
    /* jemalloc exports mallctl(); glibc and mimalloc do not. */
    typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
    mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (!mallctl) return 0;
    const char *v = "?";
    size_t len = sizeof v;
    mallctl("version", &v, &len, 0, 0);
    return v;
}

/* "glibc 2.36", "jemalloc 5.3.0-...", or "mimalloc (...)". */
static const char *malloc_owner(void) {
    static char owner[96];
    const char *je = jemalloc_version();
    if (je) {
        snprintf(owner, sizeof owner, "jemalloc %s", je);
        return owner;
    }
    void *p = (void *)pm_alloc(0, 4096);
    int mi = mimalloc_owns(p);
    free(p);
    if (mi) return "mimalloc (it interposes malloc!)";
    char libc[32] = "?";
    confstr(_CS_GNU_LIBC_VERSION, libc, sizeof libc); /* "glibc 2.36" */
    snprintf(owner, sizeof owner, "%s", libc);
    return owner;
}

const allocator libc_allocator = {.name = "glibc",
                                  .calls = "posix_memalign / free",
                                  .max_size = UINT32_MAX,
                                  .run = libc_run,
                                  .owner = malloc_owner,
                                  .key = "glibc"};
const allocator jemalloc_allocator = {.name = "jemalloc (LD_PRELOAD)",
                                      .calls = "posix_memalign / free",
                                      .max_size = UINT32_MAX,
                                      .run = libc_run,
                                      .owner = malloc_owner,
                                      .key = "jemalloc"};

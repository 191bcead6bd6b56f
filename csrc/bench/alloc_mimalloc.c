/*
 * alloc_mimalloc.c - mi_malloc_aligned(n, 4096) / mi_free(p), from the
 * system's mimalloc (Debian libmimalloc2.0 / libmimalloc-dev).
 *
 * The library is dlopen()ed with RTLD_LOCAL, not linked: Debian builds it
 * to override malloc (it exports malloc, free, posix_memalign and even
 * __libc_malloc), and as a DT_NEEDED entry ahead of libc.so.6 it would
 * silently turn the "glibc" row into a second mimalloc row.  Loaded
 * locally, only the mi_* entry points we look up ever reach it.  A call
 * through the looked-up pointer costs what a linked call through the PLT
 * would.
 */
#define _GNU_SOURCE
#include "workloads.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>

/* The four functions we use, as <mimalloc.h> (2.x) declares them. */
static struct {
    void *(*malloc_aligned)(size_t size, size_t alignment);
    void (*free)(void *p);
    int (*version)(void);
    bool (*is_in_heap_region)(const void *p);
} mi;

static void *lookup(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    if (!f) die("libmimalloc.so.2 has no %s", name);
    return f;
}

/* Loads mimalloc once; dies when it is not installed. */
static void mi_load(void) {
    if (mi.free) return;
    void *lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) die("cannot load mimalloc (apt-get install libmimalloc-dev): %s", dlerror());
    mi.malloc_aligned = (void *(*)(size_t, size_t))lookup(lib, "mi_malloc_aligned");
    mi.version = (int (*)(void))lookup(lib, "mi_version");
    mi.is_in_heap_region = (bool (*)(const void *))lookup(lib, "mi_is_in_heap_region");
    mi.free = (void (*)(void *))lookup(lib, "mi_free");
}

static inline tok_t mi_alloc(void *ctx, uint32_t size) {
    (void)ctx;
    void *p = mi.malloc_aligned(size, 4096);
    if (__builtin_expect(p == 0, 0)) die("mi_malloc_aligned(%u, 4096) failed", size);
    return (tok_t)p;
}

static inline void mi_release(void *ctx, tok_t t) {
    (void)ctx;
    mi.free((void *)t);
}

static double mimalloc_run(const workload *w) {
    mi_load();
    return wl_run(0, w, mi_alloc, mi_release);
}

/* "mimalloc 2.0.9" */
static const char *mimalloc_owner(void) {
    static char v[32];
    mi_load();
    int n = mi.version(); /* 209 for 2.0.9 */
    snprintf(v, sizeof v, "mimalloc %d.%d.%d", n / 100, n / 10 % 10, n % 10);
    return v;
}

int mimalloc_owns(const void *p) {
    mi_load();
    return mi.is_in_heap_region(p);
}

const allocator mimalloc_allocator = {.name = "mimalloc",
                                      .calls = "mi_malloc_aligned / mi_free",
                                      .max_size = UINT32_MAX,
                                      .run = mimalloc_run,
                                      .owner = mimalloc_owner,
                                      .key = "mimalloc"};

/*
 * resident.c - the library is never unloaded once loaded.
 *
 * Threads outside the loader's control run our code: a binding's helper
 * thread sleeps in vb_ring_wait, and thread-exit hooks (thread_exit.c) run
 * when a thread ends.  A Deno Worker that ends drops its handle of the
 * library (dlclose) while its helper thread may still be inside the
 * library, and before its own thread-exit hooks run.  If that dlclose
 * unmapped the code, those threads would return into unmapped memory
 * (SIGSEGV).  So, once loaded, the library stays resident until the
 * process ends: on load it opens itself once more with RTLD_NODELETE (the
 * effect of linking with `-z nodelete`, which zig's build system cannot
 * pass), so no later dlclose unmaps it.  Handles still count: every
 * dlopen/dlclose pair works as before, only the unmapping is gone.
 *
 * Cost: one dlopen of an already-loaded object at load time.
 */
#define _GNU_SOURCE
#include "veloq_buffer.h"

#include <dlfcn.h>
#include <stdatomic.h>

static _Atomic int resident;

__attribute__((constructor)) static void pin_library(void) {
    Dl_info info;
    /* The path this copy was loaded from (dladdr of one of our own
     * functions), opened again: RTLD_NOLOAD finds the loaded object (never a
     * second copy) and RTLD_NODELETE marks it never to be unloaded.  The
     * handle is deliberately never closed. */
    if (!dladdr((void *)&vb_library_resident, &info) || !info.dli_fname) return;
    void *self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    if (self) atomic_store_explicit(&resident, 1, memory_order_relaxed);
}

int32_t vb_library_resident(void) { return atomic_load_explicit(&resident, memory_order_relaxed); }

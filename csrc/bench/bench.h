/*
 * bench.h - vb_bench, the C allocation benchmark: its shared vocabulary.
 *
 * vb_bench times page-aligned allocators on the same workloads, with the
 * same deterministic request sequences, and reports nanoseconds per
 * alloc+free PAIR (one allocation plus one free; a mixed-workload step,
 * which frees one buffer and allocates another, is also one pair).
 *
 * One concept per file:
 *   main.c            options, the measurement rounds, the output
 *   script.c          the workloads and their PRNG request sequences
 *   workloads.h       the timed loops, inlined into each allocator's file
 *   alloc_pool.c      BuddyPool / HybridPool through the public ABI
 *   alloc_libc.c      posix_memalign/free: glibc, or jemalloc when preloaded
 *   alloc_mimalloc.c  mi_malloc_aligned/mi_free (dlopen, RTLD_LOCAL)
 *   child.c           peers measured in fresh child processes (jemalloc
 *                     under LD_PRELOAD)
 *   frag.c            BuddyPool fragmentation after the mixed workload
 *   report.c          medians, the table, the JSON file
 */
#ifndef VB_BENCH_H
#define VB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* --- workloads (script.c) ---------------------------------------------------- */

typedef enum {
    WL_LIFO,  /* alloc `size` then free it at once, `pairs` times */
    WL_MIXED, /* `live` buffers stay live; each step frees a random one and
               * allocates a random size in its place */
    WL_BURST, /* alloc `live` buffers of `size`, then free them oldest first */
} wl_kind;

typedef struct workload {
    const char *name;       /* key in the table and the JSON, e.g. "lifo_4k" */
    const char *what;       /* one line for the table */
    wl_kind kind;
    uint32_t size;          /* LIFO and BURST: the request size */
    uint32_t max_size;      /* largest request made (allocators serving less skip it) */
    uint64_t pairs;         /* timed alloc+free pairs */
    uint64_t warmup;        /* untimed pairs first (BURST: untimed bursts) */
    uint32_t live;          /* MIXED: working set; BURST: N, the burst length */
    uint32_t len;           /* MIXED: script length, a power of two, cycled */
    const uint32_t *sizes;  /* MIXED: [len] request sizes (the first `live` fill the set) */
    const uint16_t *victim; /* MIXED: [len] the live slot each step frees */
} workload;

/* The largest working set or burst a workload may use. */
#define BENCH_MAX_LIVE 4096u

enum { W_LIFO_4K, W_MIXED_128K, W_MIXED_64K, W_BURST_4K, W_COUNT };

/* Fills all[W_COUNT].  `scale` divides the pair counts (1: full run); the
 * request sequences do not depend on it. */
void bench_workloads(workload *all, uint32_t scale);

/* --- allocators -------------------------------------------------------------- */

typedef struct allocator {
    const char *name;  /* row label */
    const char *calls; /* what one pair calls */
    uint32_t max_size; /* largest request served from its own memory */
    /* One timed measurement of `w` (setup and teardown untimed): ns per
     * pair. */
    double (*run)(const workload *w);
    /* Peers only (NULL for pools): who serves the calls in this process,
     * e.g. "glibc 2.36"; it must start with `key`.  Peers are measured in
     * a fresh child process each time (child.c). */
    const char *(*owner)(void);
    const char *key; /* "glibc", "mimalloc", "jemalloc" */
} allocator;

extern const allocator buddy_handle_allocator; /* alloc_pool.c */
extern const allocator buddy_ptr_allocator;
extern const allocator hybrid_handle_allocator;
extern const allocator hybrid_ptr_allocator;
extern const allocator hybrid_nobitset_allocator;
extern const allocator libc_allocator;     /* alloc_libc.c */
extern const allocator jemalloc_allocator; /* alloc_libc.c, run under LD_PRELOAD */
extern const allocator mimalloc_allocator; /* alloc_mimalloc.c */

/* BuddyPool with the seed's defaults: 32 MiB arena, cache depth 64,
 * 6 cached orders (4K-128K).  Dies on failure. */
struct vb_pool *bench_buddy_create(void);

/* Whether mimalloc owns p (alloc_mimalloc.c). */
int mimalloc_owns(const void *p);

/* --- peers in child processes (child.c) -------------------------------------- */

/* Measures peer `a` on w once, in a fresh process: this program again,
 * with LD_PRELOAD=`preload` when not NULL.  Stores who served the calls in
 * owner[]; returns ns per pair, or NAN after printing why. */
double peer_measure(const allocator *a, const workload *w, uint32_t scale, const char *preload,
                    char *owner, size_t owner_len);
/* The child's side (options --peer KEY --workload NAME): checks the owner,
 * measures, prints.  The exit status. */
int peer_child_main(const char *key, const char *workload_name, uint32_t scale);

/* --- fragmentation (frag.c) -------------------------------------------------- */

typedef struct frag_result {
    double live_buffers, bytes_in_use, free_bytes, cached_buffers;
    double largest_stat;     /* VB_STAT_LARGEST_FREE */
    double largest_servable; /* largest power of two vb_pool_alloc still serves */
} frag_result;

/* Runs workload w (MIXED) on a fresh BuddyPool, untimed, and measures it
 * with the working set still live. */
void frag_buddy(const workload *w, frag_result *out);

/* --- results (report.c) ----------------------------------------------------- */

#define BENCH_MAX_ROWS 8
#define BENCH_MAX_RUNS 31

typedef struct results {
    workload w[W_COUNT];
    const allocator *rows[BENCH_MAX_ROWS];
    int nrows;
    int runs;
    uint32_t scale;
    /* ns per pair of each run; NAN where a row skips a workload (or its
     * child failed). */
    double ns[W_COUNT][BENCH_MAX_ROWS][BENCH_MAX_RUNS];
    char owner[BENCH_MAX_ROWS][96]; /* peers: who served the calls */
    frag_result frag;               /* after W_MIXED_128K */
} results;

/* The table, the bitset cost, the targets and the fragmentation figure,
 * on stdout. */
void report_table(const results *r);
/* The same as JSON; 0, or -1 after printing why. */
int report_json(const results *r, const char *path);

/* --- helpers ----------------------------------------------------------------- */

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Prints "vb_bench: message" to stderr and exits 1. */
__attribute__((noreturn, cold, format(printf, 1, 2))) void die(const char *fmt, ...);

#endif /* VB_BENCH_H */

/*
 * main.c - vb_bench: the C allocation benchmark (`zig build bench`).
 *
 *   vb_bench [--runs N] [--json PATH] [--quick] [--no-jemalloc] [--jemalloc LIB]
 *
 *   --runs N        measurements per figure, the median is shown (default 5)
 *   --json PATH     also write every figure to PATH
 *   --quick         1/16 of the pairs per run (a smoke test, noisier)
 *   --no-jemalloc   skip the jemalloc rows
 *   --jemalloc LIB  the library to preload for them (default libjemalloc.so.2)
 *
 * Each run measures every row on every workload once, rows in a rotated
 * order; so the runs are interleaved and the machine's noise spreads over
 * all rows alike.  Pools get a fresh pool per measurement, peers a fresh
 * process (child.c).  On a shared VM the absolute figures move between
 * invocations: compare ratios within one invocation.
 */
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vb_bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

typedef struct options {
    int runs;
    uint32_t scale;
    const char *json;
    const char *jemalloc; /* the preload; NULL: no jemalloc row */
    const char *peer;     /* child mode (child.c): --peer KEY --workload NAME */
    const char *workload;
} options;

static void usage(void) {
    fprintf(stderr, "usage: vb_bench [--runs N] [--json PATH] [--quick] [--no-jemalloc] [--jemalloc LIB]\n");
    exit(2);
}

static options parse(int argc, char **argv) {
    options o = {.runs = 5, .scale = 1, .jemalloc = "libjemalloc.so.2"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : 0;
        if (strcmp(a, "--runs") == 0 && next) o.runs = atoi(argv[++i]);
        else if (strcmp(a, "--json") == 0 && next) o.json = argv[++i];
        else if (strcmp(a, "--quick") == 0) o.scale = 16;
        else if (strcmp(a, "--scale") == 0 && next) o.scale = (uint32_t)atoi(argv[++i]);
        else if (strcmp(a, "--no-jemalloc") == 0) o.jemalloc = 0;
        else if (strcmp(a, "--jemalloc") == 0 && next) o.jemalloc = argv[++i];
        else if (strcmp(a, "--peer") == 0 && next) o.peer = argv[++i];
        else if (strcmp(a, "--workload") == 0 && next) o.workload = argv[++i];
        else usage();
    }
    if (o.runs < 1 || o.runs > BENCH_MAX_RUNS) die("--runs must be 1..%d", BENCH_MAX_RUNS);
    if (o.scale < 1 || o.scale > 256) die("--scale must be 1..256");
    return o;
}

/* One measurement of every row on every workload it fits. */
static void run_round(results *r, int run, const options *o) {
    for (int wi = 0; wi < W_COUNT; wi++) {
        const workload *w = &r->w[wi];
        for (int k = 0; k < r->nrows; k++) {
            int ri = (k + run) % r->nrows;
            const allocator *a = r->rows[ri];
            if (a->max_size < w->max_size) continue;
            if (!a->owner) r->ns[wi][ri][run] = a->run(w);
            else
                r->ns[wi][ri][run] = peer_measure(a, w, o->scale, a == &jemalloc_allocator ? o->jemalloc : 0,
                                                  r->owner[ri], sizeof r->owner[ri]);
        }
    }
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    if (o.peer) return peer_child_main(o.peer, o.workload ? o.workload : "", o.scale);

    static results r; /* large: kept off the stack */
    r.runs = o.runs;
    r.scale = o.scale;
    bench_workloads(r.w, o.scale);
    const allocator *rows[] = {
        &buddy_handle_allocator, &buddy_ptr_allocator,       &hybrid_handle_allocator,
        &hybrid_ptr_allocator,   &hybrid_nobitset_allocator, &libc_allocator,
        &mimalloc_allocator,     &jemalloc_allocator, /* last, so --no-jemalloc can drop it */
    };
    r.nrows = (int)(sizeof rows / sizeof *rows) - (o.jemalloc ? 0 : 1);
    memcpy(r.rows, rows, sizeof rows);
    for (int wi = 0; wi < W_COUNT; wi++)
        for (int ri = 0; ri < BENCH_MAX_ROWS; ri++)
            for (int k = 0; k < BENCH_MAX_RUNS; k++) r.ns[wi][ri][k] = NAN;

    for (int run = 0; run < o.runs; run++) {
        fprintf(stderr, "vb_bench: run %d of %d\n", run + 1, o.runs);
        run_round(&r, run, &o);
    }
    frag_buddy(&r.w[W_MIXED_128K], &r.frag);

    report_table(&r);
    if (o.json && report_json(&r, o.json)) return 1;
    return 0;
}

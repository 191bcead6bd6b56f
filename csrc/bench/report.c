/*
 * report.c - what vb_bench prints: per workload, the median ns per pair of
 * every row with its min..max over the runs and its ratio to glibc and to
 * mimalloc (both measured in the same run; lower is faster); then the cost
 * of HybridPool's double-free bitset, the targets, and BuddyPool's
 * fragmentation.  report_json() writes the same figures.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* One row on one workload, over the runs. */
typedef struct cell {
    int n; /* runs measured (0: skipped) */
    double med, min, max;
} cell;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of v[0..n) (sorts v). */
static cell summarize(double *v, int n) {
    cell c = {n, NAN, NAN, NAN};
    if (n == 0) return c;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    c.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    c.min = v[0];
    c.max = v[n - 1];
    return c;
}

static cell cell_of(const results *r, int wi, int ri) {
    double v[BENCH_MAX_RUNS];
    int n = 0;
    for (int k = 0; ri >= 0 && k < r->runs; k++)
        if (!isnan(r->ns[wi][ri][k])) v[n++] = r->ns[wi][ri][k];
    return summarize(v, n);
}

static int row_of(const results *r, const allocator *a) {
    for (int i = 0; i < r->nrows; i++)
        if (r->rows[i] == a) return i;
    return -1;
}

/* A pool row (as opposed to a peer). */
static int is_pool(const allocator *a) { return a->owner == 0; }

static void cpu_model(char *out, size_t n) {
    snprintf(out, n, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(out, n, "%s", colon + 2);
            out[strcspn(out, "\n")] = 0;
            break;
        }
    }
    if (f) fclose(f);
}

/* --- the table --------------------------------------------------------------- */

static void print_header(const results *r) {
    char cpu[128];
    struct utsname u;
    cpu_model(cpu, sizeof cpu);
    uname(&u);
    printf("vb_bench: %s x%ld, Linux %s; %d runs per figure%s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
           u.release, r->runs, r->scale > 1 ? " (quick: fewer pairs per run)" : "");
    printf("peers (each measurement in a fresh process):");
    for (int ri = 0, n = 0; ri < r->nrows; ri++)
        if (!is_pool(r->rows[ri])) printf("%s %s", n++ ? "," : "", r->owner[ri][0] ? r->owner[ri] : "?");
    printf("\n");
    printf("ns/pair = nanoseconds per alloc+free pair (median over runs); "
           "/glibc and /mimalloc = ns/pair divided by theirs (lower is faster)\n");
}

static void print_workload(const results *r, int wi) {
    const workload *w = &r->w[wi];
    cell g = cell_of(r, wi, row_of(r, &libc_allocator));
    cell m = cell_of(r, wi, row_of(r, &mimalloc_allocator));
    printf("\n%s: %s; %llu pairs per run\n", w->name, w->what, (unsigned long long)w->pairs);
    printf("  %-22s %-32s %8s %15s %7s %9s\n", "allocator", "calls", "ns/pair", "min..max", "/glibc", "/mimalloc");
    for (int ri = 0; ri < r->nrows; ri++) {
        const allocator *a = r->rows[ri];
        cell c = cell_of(r, wi, ri);
        if (c.n == 0) {
            printf("  %-22s %-32s %8s  %s\n", a->name, a->calls, "-",
                   a->max_size < w->max_size ? "(requests above its largest class)" : "(not measured)");
            continue;
        }
        char range[32];
        snprintf(range, sizeof range, "%.2f..%.2f", c.min, c.max);
        printf("  %-22s %-32s %8.2f %15s %7.3f %9.3f\n", a->name, a->calls, c.med, range, c.med / g.med,
               c.med / m.med);
    }
}

/* HybridPool with the bitset minus HybridPool without it, by handle: the
 * median of the per-run differences (both rows are measured close together
 * in each run, so slow drift of the machine cancels out). */
static void print_bitset_cost(const results *r) {
    int with = row_of(r, &hybrid_handle_allocator), without = row_of(r, &hybrid_nobitset_allocator);
    printf("\nHybridPool double-free bitset cost (with - without VB_FLAG_NO_DOUBLE_FREE_BITSET, by handle;\n"
           "median and range of the per-run differences):\n");
    for (int wi = 0; wi < W_COUNT; wi++) {
        double d[BENCH_MAX_RUNS];
        int n = 0;
        for (int k = 0; k < r->runs; k++) {
            double a = r->ns[wi][with][k], b = r->ns[wi][without][k];
            if (!isnan(a) && !isnan(b)) d[n++] = a - b;
        }
        cell c = summarize(d, n), b = cell_of(r, wi, without);
        if (n)
            printf("  %-11s %+6.2f ns/pair (%+.2f..%+.2f), %+.0f%% over %.2f ns without\n", r->w[wi].name, c.med,
                   c.min, c.max, c.med / b.med * 100, b.med);
    }
}

static void print_targets(const results *r) {
    printf("\nTargets: pool fast paths (lifo, mixed) >= 2x faster than glibc posix_memalign;\n"
           "         not slower than mimalloc aligned on lifo_4k\n");
    const int ws[] = {W_LIFO_4K, W_MIXED_128K, W_MIXED_64K};
    for (size_t k = 0; k < sizeof ws / sizeof *ws; k++) {
        int wi = ws[k];
        cell g = cell_of(r, wi, row_of(r, &libc_allocator));
        cell m = cell_of(r, wi, row_of(r, &mimalloc_allocator));
        for (int ri = 0; ri < r->nrows; ri++) {
            cell c = cell_of(r, wi, ri);
            if (!is_pool(r->rows[ri]) || c.n == 0) continue;
            double vs_g = g.med / c.med, vs_m = m.med / c.med;
            printf("  %-11s %-20s %-32s %5.1fx glibc %s", r->w[wi].name, r->rows[ri]->name, r->rows[ri]->calls,
                   vs_g, vs_g >= 2 ? "met" : "MISSED");
            if (wi == W_LIFO_4K) printf("%s %5.2fx mimalloc %s", vs_g >= 2 ? "   " : "", vs_m, vs_m >= 1 ? "met" : "MISSED");
            printf("\n");
        }
    }
}

static void print_frag(const results *r) {
    const frag_result *f = &r->frag;
    const double mib = 1024.0 * 1024.0;
    printf("\nBuddyPool fragmentation after %s, working set still live:\n", r->w[W_MIXED_128K].name);
    printf("  in use %.2f MiB in %.0f buffers; free %.2f MiB (%.0f blocks parked in L0 caches)\n",
           f->bytes_in_use / mib, f->live_buffers, f->free_bytes / mib, f->cached_buffers);
    printf("  largest free block: VB_STAT_LARGEST_FREE %.0f KiB; servable by probe (L0 drained) %.0f KiB\n",
           f->largest_stat / 1024, f->largest_servable / 1024);
    printf("  largest servable / free bytes = %.1f%%\n", f->largest_servable / f->free_bytes * 100);
}

void report_table(const results *r) {
    print_header(r);
    for (int wi = 0; wi < W_COUNT; wi++) print_workload(r, wi);
    print_bitset_cost(r);
    print_targets(r);
    print_frag(r);
}

/* --- JSON -------------------------------------------------------------------- */

/* A number, or null for NAN (JSON has no NaN). */
static void json_num(FILE *f, double v) {
    if (isnan(v)) fprintf(f, "null");
    else fprintf(f, "%.4f", v);
}

static void json_row(FILE *f, const results *r, int wi, int ri, cell g, cell m) {
    const allocator *a = r->rows[ri];
    cell c = cell_of(r, wi, ri);
    fprintf(f, "        {\"allocator\": \"%s\", \"calls\": \"%s\", \"median_ns\": ", a->name, a->calls);
    json_num(f, c.med);
    fprintf(f, ", \"min_ns\": ");
    json_num(f, c.min);
    fprintf(f, ", \"max_ns\": ");
    json_num(f, c.max);
    fprintf(f, ", \"ratio_glibc\": ");
    json_num(f, c.med / g.med);
    fprintf(f, ", \"ratio_mimalloc\": ");
    json_num(f, c.med / m.med);
    fprintf(f, ", \"runs_ns\": [");
    for (int k = 0; k < r->runs; k++) {
        if (k) fprintf(f, ", ");
        json_num(f, r->ns[wi][ri][k]);
    }
    fprintf(f, "]}%s\n", ri + 1 < r->nrows ? "," : "");
}

int report_json(const results *r, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    char cpu[128];
    cpu_model(cpu, sizeof cpu);
    fprintf(f, "{\n  \"unit\": \"ns per alloc+free pair\",\n  \"runs\": %d,\n  \"quick\": %s,\n", r->runs,
            r->scale > 1 ? "true" : "false");
    fprintf(f, "  \"cpu\": \"%s\",\n  \"cpus\": %ld,\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(f, "  \"peers\": {");
    for (int ri = 0, n = 0; ri < r->nrows; ri++)
        if (!is_pool(r->rows[ri])) fprintf(f, "%s\"%s\": \"%s\"", n++ ? ", " : "", r->rows[ri]->key, r->owner[ri]);
    fprintf(f, "},\n");
    fprintf(f, "  \"workloads\": [\n");
    for (int wi = 0; wi < W_COUNT; wi++) {
        const workload *w = &r->w[wi];
        cell g = cell_of(r, wi, row_of(r, &libc_allocator));
        cell m = cell_of(r, wi, row_of(r, &mimalloc_allocator));
        fprintf(f, "    {\"name\": \"%s\", \"what\": \"%s\", \"pairs\": %llu, \"rows\": [\n", w->name, w->what,
                (unsigned long long)w->pairs);
        for (int ri = 0; ri < r->nrows; ri++) json_row(f, r, wi, ri, g, m);
        fprintf(f, "    ]}%s\n", wi + 1 < W_COUNT ? "," : "");
    }
    const frag_result *fr = &r->frag;
    fprintf(f, "  ],\n  \"buddy_fragmentation\": {\"after\": \"%s\", \"live_buffers\": %.0f, \"bytes_in_use\": %.0f, "
               "\"free_bytes\": %.0f, \"cached_buffers\": %.0f, \"largest_free_stat\": %.0f, "
               "\"largest_servable\": %.0f}\n}\n",
            r->w[W_MIXED_128K].name, fr->live_buffers, fr->bytes_in_use, fr->free_bytes, fr->cached_buffers,
            fr->largest_stat, fr->largest_servable);
    if (fclose(f)) {
        perror(path);
        return -1;
    }
    return 0;
}

/*
 * script.c - the workloads, and the request sequences of the mixed ones.
 *
 * The sequences come from splitmix64 with a fixed seed, generated once per
 * process, so every allocator (and the jemalloc child, which regenerates
 * them) sees exactly the same requests in the same order.  A mixed script
 * is SCRIPT_LEN steps long and is cycled: it stays in cache, so reading it
 * costs every allocator the same couple of loads per step.
 */
#include "bench.h"

#define SEED 0x76656c6f71ull /* "veloq" */
#define SCRIPT_LEN (1u << 16)

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n): the top 32 bits scaled (Lemire), no modulo bias worth
 * mentioning. */
static uint32_t below(uint64_t *s, uint32_t n) {
    return (uint32_t)(((splitmix64(s) >> 32) * n) >> 32);
}

/* A mixed script: `classes` power-of-two sizes from 4 KiB up, each equally
 * likely; victims uniform over `live` slots. */
static void make_script(uint32_t *sizes, uint16_t *victim, uint32_t classes, uint32_t live,
                        uint64_t seed) {
    uint64_t s = seed;
    for (uint32_t i = 0; i < SCRIPT_LEN; i++) {
        sizes[i] = 4096u << below(&s, classes);
        victim[i] = (uint16_t)below(&s, live);
    }
}

/* A mixed workload over its own script (the arrays, SCRIPT_LEN long). */
static workload mixed(const char *name, const char *what, uint32_t classes, uint32_t live, uint64_t seed,
                      uint32_t *sizes, uint16_t *victim, uint32_t scale) {
    make_script(sizes, victim, classes, live, seed);
    return (workload){
        .name = name,
        .what = what,
        .kind = WL_MIXED,
        .max_size = 4096u << (classes - 1),
        .pairs = (1u << 21) / scale,
        .warmup = 1u << 16,
        .live = live,
        .len = SCRIPT_LEN,
        .sizes = sizes,
        .victim = victim,
    };
}

static uint32_t sizes_128k[SCRIPT_LEN], sizes_64k[SCRIPT_LEN];
static uint16_t victim_128k[SCRIPT_LEN], victim_64k[SCRIPT_LEN];

void bench_workloads(workload *all, uint32_t scale) {
    all[W_LIFO_4K] = (workload){
        .name = "lifo_4k",
        .what = "4 KiB alloc, then free at once (LIFO)",
        .kind = WL_LIFO,
        .size = 4096,
        .max_size = 4096,
        .pairs = (1u << 22) / scale,
        .warmup = 1u << 16,
    };
    /* 256 live buffers of 4K-128K: about 10.5 MiB live on average, well
     * inside BuddyPool's 32 MiB. */
    all[W_MIXED_128K] = mixed("mixed_128k", "256 live, 4K-128K (powers of 2), random victim freed per step", 6,
                              256, SEED, sizes_128k, victim_128k, scale);
    /* HybridPool's classes hold 64 blocks of 32K and of 64K: with 128 live
     * and each class equally likely, a class holds 25.6 on average (sd 4.5),
     * so 64 is never reached.  256 live would overflow them now and then. */
    all[W_MIXED_64K] = mixed("mixed_64k", "128 live, 4K-64K (HybridPool's classes), random victim freed per step",
                             5, 128, SEED + 1, sizes_64k, victim_64k, scale);
    /* N = 1024 fits every pool: it is exactly HybridPool's 4K class, and
     * far beyond BuddyPool's L0 depth (64), so most of its pairs take the
     * L1 split/merge path. */
    all[W_BURST_4K] = (workload){
        .name = "burst_4k",
        .what = "1024 x 4 KiB allocs, then 1024 frees oldest first",
        .kind = WL_BURST,
        .size = 4096,
        .max_size = 4096,
        .pairs = (uint64_t)1024 * (2048 / scale),
        .warmup = 16,
        .live = 1024,
    };
}

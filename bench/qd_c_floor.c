/*
 * qd_c_floor.c - random O_DIRECT reads through the library's own ring, from
 * C: the same ring setup as Ring (COOP_TASKRUN, the thread's eventfd
 * registered, a registered HybridPool, READ_FIXED), the same loop as the
 * JS "sync floor" of bench/io_qd_bench.ts (a blocking reap, then prep and
 * submit each next request at once, as fio and the Ring's default policy
 * for O_DIRECT files do), with no JavaScript at all. Beside fio it tells what the ring setup costs;
 * beside the JS floor, what Deno's FFI and runtime cost.
 *
 *   qd_c_floor FILE SIZE_BYTES BLOCK QD OPS   -> {"iops": N}
 */
#include "veloq_buffer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s FILE SIZE BLOCK QD OPS\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    uint64_t size = strtoull(argv[2], 0, 10);
    uint32_t bs = (uint32_t)atoi(argv[3]), qd = (uint32_t)atoi(argv[4]);
    uint64_t ops = strtoull(argv[5], 0, 10);
    vb_ring *ring;
    vb_waiter *w;
    vb_pool *pool;
    if (vb_ring_create(qd * 2 > 64 ? qd * 2 : 64, 16, 0, &ring) || vb_thread_waiter(&w) ||
        vb_ring_set_waiter(ring, w)) {
        fprintf(stderr, "ring setup failed\n");
        return 1;
    }
    uint32_t count = qd;
    if (vb_hybrid_create(&bs, &count, 1, 0, &pool) || vb_pool_register(pool, ring) < 0) {
        fprintf(stderr, "pool setup failed\n");
        return 1;
    }
    int32_t fd = vb_file_open(path, VB_FILE_READ | VB_FILE_DIRECT, 0);
    if (fd < 0) {
        fprintf(stderr, "open %s: %d\n", path, fd);
        return 1;
    }
    uint8_t **bufs = calloc(qd, sizeof *bufs);
    int32_t *idx = calloc(qd, sizeof *idx);
    for (uint32_t i = 0; i < qd; i++) {
        int32_t h = vb_pool_alloc(pool, bs);
        if (h < 0) return 1;
        bufs[i] = vb_pool_ptr(pool, h);
        idx[i] = (int32_t)vb_pool_out(pool)[VB_OUT_BUF_INDEX];
    }
    uint64_t blocks = size / bs, issued = 0, done = 0;
    uint32_t x = 0x2545f491;
    int32_t *cq = vb_ring_completions(ring);
    double t0 = now_s();
    for (uint32_t i = 0; i < qd && issued < ops; i++, issued++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        vb_ring_prep(ring, VB_OP_READ, fd, bufs[i], bs, (double)((x % blocks) * bs), idx[i], i);
        vb_ring_submit(ring);
    }
    while (done < ops) {
        int32_t n = vb_ring_reap(ring, 1000);
        if (n < 0) {
            fprintf(stderr, "reap %d\n", n);
            return 1;
        }
        for (int32_t k = 0; k < n; k++) {
            if (cq[3 * k + 1] != (int32_t)bs) {
                fprintf(stderr, "read returned %d\n", cq[3 * k + 1]);
                return 1;
            }
            done++;
            if (issued < ops) {
                uint32_t b = (uint32_t)cq[3 * k];
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                vb_ring_prep(ring, VB_OP_READ, fd, bufs[b], bs, (double)((x % blocks) * bs), idx[b], b);
                vb_ring_submit(ring);
                issued++;
            }
        }
    }
    double secs = now_s() - t0;
    printf("{\"iops\": %.1f}\n", (double)ops / secs);
    return 0;
}

/*
 * frag.c - how fragmented BuddyPool is after the mixed workload.
 *
 * The workload runs untimed on a fresh pool, exactly as in the timed
 * measurement; then, with the working set still live, we read
 * vb_pool_stats and probe.  Blocks parked in the L0 stacks cannot merge
 * with their buddies until they are drained; VB_STAT_LARGEST_FREE computes
 * what a drain would give (earlier versions ignored it).  The probe checks
 * that figure for real: it asks vb_pool_alloc for decreasing powers of two
 * (freeing what it gets), and the first, failing requests make the pool
 * drain every L0 stack into L1 and retry (buddy.c, alloc_from_l1), so the
 * first success is the largest block the pool can really still serve.
 */
#include "bench.h"
#include "veloq_buffer.h"

static int32_t alloc_or_die(vb_pool *pool, uint32_t size) {
    int32_t h = vb_pool_alloc(pool, size);
    if (h < 0) die("fragmentation run: vb_pool_alloc(%u): %s", size, vb_strerror(h));
    return h;
}

static void free_or_die(vb_pool *pool, int32_t h) {
    int32_t rc = vb_pool_free(pool, h);
    if (rc) die("fragmentation run: vb_pool_free: %s", vb_strerror(rc));
}

void frag_buddy(const workload *w, frag_result *out) {
    vb_pool *pool = bench_buddy_create();
    int32_t set[BENCH_MAX_LIVE];
    for (uint32_t i = 0; i < w->live; i++) set[i] = alloc_or_die(pool, w->sizes[i]);
    for (uint64_t k = 0; k < w->warmup + w->pairs; k++) {
        uint32_t i = (uint32_t)(k & (w->len - 1));
        free_or_die(pool, set[w->victim[i]]);
        set[w->victim[i]] = alloc_or_die(pool, w->sizes[i]);
    }

    double st[VB_STAT_LEN];
    vb_pool_stats(pool, st);
    out->live_buffers = st[VB_STAT_LIVE_BUFFERS];
    out->bytes_in_use = st[VB_STAT_BYTES_IN_USE];
    out->free_bytes = st[VB_STAT_FREE_BYTES];
    out->cached_buffers = st[VB_STAT_CACHED_BUFFERS];
    out->largest_stat = st[VB_STAT_LARGEST_FREE];
    out->largest_servable = 0;
    for (uint64_t size = vb_pool_region_size(pool, 0); size >= VB_PAGE_SIZE; size >>= 1) {
        int32_t h = vb_pool_alloc(pool, (uint32_t)size);
        if (h >= 0) {
            out->largest_servable = (double)size;
            free_or_die(pool, h);
            break;
        }
    }

    for (uint32_t i = 0; i < w->live; i++) free_or_die(pool, set[i]);
    if (vb_pool_check(pool)) die("fragmentation run: %s", vb_pool_last_error(pool));
    if (vb_pool_destroy(pool)) die("fragmentation run: vb_pool_destroy failed");
}

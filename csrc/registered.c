/*
 * registered.c - the seed's RegisteredPool: binds a pool to a registrar.
 *
 * Registering hands the pool's regions (split at the kernel's 1 GiB limit
 * per buffer) to the registrar and stores the first index in the pool; from
 * then on vb_pool_alloc stamps every arena buffer with
 * first + (page >> VB_REG_PAGE_SHIFT).  Neither the pool nor the registrar
 * learns how the other works.
 *
 * Pinned memory is charged to RLIMIT_MEMLOCK by the kernel (unless the
 * process has CAP_IPC_LOCK).  Over the limit the kernel answers a bare
 * ENOMEM, which users cannot act on, so we compare first and fail with
 * VB_EMEMLOCK; the binding then says how many bytes are needed.
 */
#include "pool_internal.h"
#include "registrar.h"
#include "ring_internal.h"

#include <linux/capability.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct vb_registration {
    vb_pool *pool;
    vb_registrar *registrar;
    uint32_t first; /* first index */
    uint32_t n;     /* indexes taken */
    uint64_t bytes; /* pinned */
    vb_registration *next;
};

/* Bytes this process pinned through us: the kernel's per-user count also
 * holds other processes' pins, which we cannot see. */
static _Atomic uint64_t pinned_bytes;

double vb_memlock_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
    return (double)rl.rlim_cur;
}

int32_t vb_has_ipc_lock(void) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    if (syscall(SYS_capget, &hdr, data) != 0) return 0;
    return (data[CAP_IPC_LOCK / 32].effective >> (CAP_IPC_LOCK % 32)) & 1;
}

double vb_pinned_bytes(void) {
    return (double)atomic_load_explicit(&pinned_bytes, memory_order_relaxed);
}

/* VB_EMEMLOCK when pinning `bytes` more would pass RLIMIT_MEMLOCK. */
static int32_t memlock_check(uint64_t bytes) {
    if (vb_has_ipc_lock()) return 0;
    double limit = vb_memlock_limit();
    if (limit < 0) return 0;
    return vb_pinned_bytes() + (double)bytes > limit ? VB_EMEMLOCK : 0;
}

/* Drops a registration's bookkeeping (not the kernel's table entries). */
static void forget(vb_registration *reg) {
    vb_registration **link = &reg->registrar->regs;
    while (*link != reg) link = &(*link)->next;
    *link = reg->next;
    vb_pool *p = reg->pool;
    p->reg_index = -1;
    p->registration = 0;
    p->on_destroy = 0;
    p->out[VB_OUT_BUF_INDEX] = (uint32_t)-1;
    atomic_fetch_sub_explicit(&pinned_bytes, reg->bytes, memory_order_relaxed);
    free(reg);
}

int32_t vb_pool_unregister(vb_pool *p) {
    if (!p) return VB_EINVAL;
    vb_registration *reg = p->registration;
    if (!reg) return 0;
    int32_t rc = reg->registrar->ops->unregister(reg->registrar->self, reg->first, reg->n);
    forget(reg);
    return rc;
}

/* pool.c calls this before freeing a registered pool. */
static int32_t unregister_on_destroy(vb_pool *p) {
    vb_pool_unregister(p);
    return 0; /* the slots are free for reuse either way */
}

int32_t vb_pool_register(vb_pool *p, vb_ring *ring) {
    if (!p || !ring) return VB_EINVAL;
    if (p->registration) return VB_EBUSY;
    vb_registrar *r = &ring->registrar;

    /* Split every region at 1 GiB: arenas are page-aligned and blocks never
     * cross a 1 GiB line (buddy's largest order is 1 GiB), so each buffer
     * lies inside one registered buffer. */
    uint32_t nregions = vb_pool_region_count(p), n = 0;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < nregions; i++) {
        uint64_t size = vb_pool_region_size(p, i);
        n += (uint32_t)((size + VB_MAX_REG_BUFFER_SIZE - 1) / VB_MAX_REG_BUFFER_SIZE);
        bytes += size;
    }
    if (n == 0 || n > VB_MAX_REG_BUFFERS) return VB_ENOSLOTS;
    if (!r->no_memlock_precheck) {
        int32_t rc = memlock_check(bytes);
        if (rc) {
            snprintf(p->msg, sizeof p->msg,
                     "registering %llu bytes would pass RLIMIT_MEMLOCK (%.0f bytes, %.0f already "
                     "pinned by this process)",
                     (unsigned long long)bytes, vb_memlock_limit(), vb_pinned_bytes());
            return rc;
        }
    }
    struct iovec *iov = calloc(n, sizeof *iov);
    vb_registration *reg = calloc(1, sizeof *reg);
    if (!iov || !reg) {
        free(iov);
        free(reg);
        return VB_ENOMEM;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < nregions; i++) {
        uint8_t *base = vb_pool_region_base(p, i);
        uint64_t size = vb_pool_region_size(p, i);
        for (uint64_t off = 0; off < size; off += VB_MAX_REG_BUFFER_SIZE, k++) {
            uint64_t len = size - off;
            iov[k].iov_base = base + off;
            iov[k].iov_len = len < VB_MAX_REG_BUFFER_SIZE ? len : VB_MAX_REG_BUFFER_SIZE;
        }
    }
    int32_t first = r->ops->register_regions(r->self, iov, n);
    free(iov);
    if (first < 0) {
        free(reg);
        return first;
    }
    reg->pool = p;
    reg->registrar = r;
    reg->first = (uint32_t)first;
    reg->n = n;
    reg->bytes = bytes;
    reg->next = r->regs;
    r->regs = reg;
    atomic_fetch_add_explicit(&pinned_bytes, bytes, memory_order_relaxed);
    p->registration = reg;
    p->on_destroy = unregister_on_destroy;
    p->reg_index = first;
    return first;
}

int32_t vb_pool_reg_index(vb_pool *p) { return p ? p->reg_index : -1; }

void vb_registrations_detach(vb_registrar *r) {
    while (r->regs) forget(r->regs);
}

/*
 * registered.c - the seed's RegisteredPool: binds a pool to a registrar.
 *
 * Registering hands each arena of the pool (split at the kernel's 1 GiB
 * limit per buffer) to the registrar and stores the first index in the
 * arena's slot; from then on vb_pool_alloc stamps every buffer with
 * first + (page >> VB_REG_PAGE_SHIFT).  An arena added by growth is
 * registered on its own (the ring's sparse table takes it in free slots),
 * so buffers already handed out keep their indexes.  Neither the pool nor
 * the registrar learns how the other works.
 *
 * Pinned memory is charged to RLIMIT_MEMLOCK by the kernel (unless the
 * process has CAP_IPC_LOCK).  Over the limit the kernel answers a bare
 * ENOMEM, which users cannot act on, so we compare first and fail with
 * VB_EMEMLOCK (the binding then says how many bytes are needed), and turn
 * the kernel's ENOMEM into VB_EKMEMLOCK so it is not mistaken for an
 * exhausted pool.
 */
#include "pool_internal.h"
#include "registrar.h"
#include "ring_internal.h"

#include <errno.h>
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
    uint64_t bytes; /* pinned for this pool, all arenas */
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
static int32_t memlock_check(vb_pool *p, uint64_t bytes) {
    if (vb_has_ipc_lock()) return 0;
    double limit = vb_memlock_limit();
    if (limit < 0 || vb_pinned_bytes() + (double)bytes <= limit) return 0;
    snprintf(p->msg, sizeof p->msg,
             "registering %llu bytes would pass RLIMIT_MEMLOCK (%.0f bytes, %.0f already pinned "
             "by this process)",
             (unsigned long long)bytes, limit, vb_pinned_bytes());
    return VB_EMEMLOCK;
}

/* Registers one arena: its 1 GiB pieces under consecutive indexes.  Arenas
 * are page-aligned and no block crosses a 1 GiB line (buddy's largest order
 * is 1 GiB; a hybrid arena is at most 1 GiB), so every buffer lies inside
 * one registered buffer. */
static int32_t register_arena(vb_registration *reg, vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    vb_registrar *r = reg->registrar;
    uint32_t n = (uint32_t)((s->size + VB_MAX_REG_BUFFER_SIZE - 1) / VB_MAX_REG_BUFFER_SIZE);
    if (!r->no_memlock_precheck) {
        int32_t rc = memlock_check(p, s->size);
        if (rc) return rc;
    }
    struct iovec iov[VB_MAX_ARENA_SIZE / VB_MAX_REG_BUFFER_SIZE + 1];
    for (uint32_t k = 0; k < n; k++) {
        uint64_t off = (uint64_t)k * VB_MAX_REG_BUFFER_SIZE, len = s->size - off;
        iov[k].iov_base = s->base + off;
        iov[k].iov_len = len < VB_MAX_REG_BUFFER_SIZE ? len : VB_MAX_REG_BUFFER_SIZE;
    }
    int32_t first = r->ops->register_regions(r->self, iov, n);
    if (first < 0) return first == -ENOMEM ? VB_EKMEMLOCK : first;
    s->reg_index = first;
    s->reg_count = n;
    if (p->cur_arena == i) p->cur_reg = first;
    reg->bytes += s->size;
    atomic_fetch_add_explicit(&pinned_bytes, s->size, memory_order_relaxed);
    return 0;
}

/* Forgets an arena's indexes (the registrar has already dropped them). */
static void forget_arena(vb_registration *reg, vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    if (s->reg_index < 0) return;
    s->reg_index = -1;
    s->reg_count = 0;
    if (p->cur_arena == i) p->cur_reg = -1;
    reg->bytes -= s->size;
    atomic_fetch_sub_explicit(&pinned_bytes, s->size, memory_order_relaxed);
}

static void unregister_arena(vb_registration *reg, vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    if (s->reg_index < 0) return;
    reg->registrar->ops->unregister(reg->registrar->self, (uint32_t)s->reg_index, s->reg_count);
    forget_arena(reg, p, i);
}

int32_t vb_registration_add_arena(vb_pool *p, uint32_t i) {
    return register_arena(p->registration, p, i);
}

void vb_registration_remove_arena(vb_pool *p, uint32_t i) {
    unregister_arena(p->registration, p, i);
}

/* Drops a registration's bookkeeping: the pool goes on unregistered. */
static void forget(vb_registration *reg) {
    vb_registration **link = &reg->registrar->regs;
    while (*link != reg) link = &(*link)->next;
    *link = reg->next;
    vb_pool *p = reg->pool;
    for (uint32_t i = 0; i < p->narenas; i++) forget_arena(reg, p, i);
    p->registration = 0;
    p->out[VB_OUT_BUF_INDEX] = (uint32_t)-1;
    free(reg);
}

int32_t vb_pool_unregister(vb_pool *p) {
    if (!p) return VB_EINVAL;
    vb_registration *reg = p->registration;
    if (!reg) return 0;
    for (uint32_t i = 0; i < p->narenas; i++) unregister_arena(reg, p, i);
    forget(reg);
    return 0;
}

int32_t vb_pool_register(vb_pool *p, vb_ring *ring) {
    if (!p || !ring) return VB_EINVAL;
    if (p->registration) return VB_EBUSY;
    vb_registration *reg = calloc(1, sizeof *reg);
    if (!reg) return VB_ENOMEM;
    reg->pool = p;
    reg->registrar = &ring->registrar;
    reg->next = reg->registrar->regs;
    reg->registrar->regs = reg;
    p->registration = reg;
    for (uint32_t i = 0; i < p->narenas; i++) {
        if (!p->arenas[i].backing) continue;
        int32_t rc = register_arena(reg, p, i);
        if (rc) {
            vb_pool_unregister(p); /* all or nothing */
            return rc;
        }
    }
    return p->arenas[0].reg_index;
}

int32_t vb_pool_reg_index(vb_pool *p) { return p ? p->arenas[0].reg_index : -1; }

void vb_registrations_detach(vb_registrar *r) {
    while (r->regs) forget(r->regs);
}

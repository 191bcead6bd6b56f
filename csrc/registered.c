/*
 * registered.c - the seed's RegisteredPool: binds a pool to registrars.
 *
 * Registering hands each arena of the pool (split at the kernel's 1 GiB
 * limit per buffer) to the registrar and stores the first index in the
 * arena's slot; from then on vb_pool_alloc stamps every buffer with
 * first + (page >> VB_REG_PAGE_SHIFT).  An arena added by growth is
 * registered on its own (the ring's sparse table takes it in free slots),
 * so buffers already handed out keep their indexes.  Neither the pool nor
 * the registrar learns how the other works.
 *
 * A pool may be registered with several rings.  Its arenas then take the
 * same indexes in every ring (a buffer carries one index), found free in all
 * of them; the first ring pins the memory and the others clone its entries
 * (no second pin, no second memlock charge) or, on kernels that cannot
 * clone a range, register the same memory again.
 *
 * Pinned memory is charged to RLIMIT_MEMLOCK by the kernel (unless the
 * process has CAP_IPC_LOCK).  Over the limit the kernel answers a bare
 * ENOMEM, which users cannot act on, so we compare first and fail with
 * VB_EMEMLOCK (the binding then says how many bytes are needed), and turn
 * the kernel's ENOMEM into VB_EKMEMLOCK so it is not mistaken for an
 * exhausted pool.
 *
 * --- Lazy shares: registering from the view's thread ---------------------------
 *
 * vb_pool_share reserves an arena as address space only (nothing mapped,
 * nothing pinned) and, for a registered pool, takes its indexes in every
 * ring's table (HELD_RESERVED: marked used, nothing in the kernel).  The
 * view maps it at its first allocation and registers it at those very
 * indexes, from its own thread, while the owner thread may at the same time
 * destroy a ring (vb_registrations_detach), unregister or register the
 * pool, or grow it.  The rule that makes this safe: everything the view's
 * registration reads or writes is, for a slot some view may own, changed by
 * the owner only under the pool's reg_lock, and the view does it under the
 * same lock.  Not under the process-wide share lock: pinning a large arena
 * takes the kernel seconds, and every other pool's create, close, share
 * and every ring's close would wait that long (review 13b #3).
 *
 *  - the pool's registration list and each registration's held[] entry of
 *    a view's slot: vb_pool_register_rings, vb_pool_unregister,
 *    vb_registrations_detach and vb_pool_reg_mode take reg_lock (the first
 *    three also the share lock, after it, for the registrars' lists, which
 *    several pools share);
 *  - the slot's reg_index/reg_count and `mapped`: set by the share (before
 *    the slot is published) and changed only by those same locked paths
 *    and by the view under reg_lock;
 *  - the ring: a registration exists only while its ring does (detach
 *    unlinks it, holding reg_lock, before vb_ring_destroy closes the fd),
 *    so a view that finds the registration under reg_lock calls the
 *    kernel on a live ring fd, never on a closed or reused one: a ring
 *    destroyed while a view of one of its pools pins waits for that pin
 *    (only that ring's destroy waits, and it holds no lock meanwhile);
 *  - lock order: reg_lock, then the share lock.  vb_registrations_detach
 *    needs the share lock first (to find the pools in the registrar's list,
 *    alive while listed) and so only tries reg_lock; when a view holds it,
 *    detach lets the share lock go and tries again shortly: no thread ever
 *    blocks on reg_lock while holding the share lock, so no deadlock, and
 *    the view's pin needs no lock that detach holds while it waits;
 *  - the pool's destroy takes no reg_lock under the share lock: once it
 *    found attached == 0 there no view exists, so none can hold it, and its
 *    vb_pool_unregister runs after it let the share lock go;
 *  - the ring's own bookkeeping (the table's `used` map, find_free, grow's
 *    registrations of new arenas): the view never touches it, it only asks
 *    the kernel to fill indexes reserved for it (fill_reserved), so the
 *    owner's unlocked growth and the view never share a byte.  The kernel
 *    serializes two threads' io_uring_register calls on one ring itself.
 *
 * A view whose ring went away before its first allocation finds no
 * registration and stays unregistered (index -1), as after a ring close.
 * The owner's pool.close() cannot run under a view at all (attached views
 * make destroy VB_EATTACHED, decided under the same lock).  A reserved
 * arena is registered by pinning it in each ring (no clone: cloning would
 * read the destination ring's `used` map, which is not the view's to read).
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
#include <time.h>
#include <unistd.h>

/* How one arena is held in one ring.  RESERVED: a lazy share's arena, not
 * mapped yet: its indexes are taken in the ring's table, nothing is
 * registered there (see "Lazy shares" below). */
enum { HELD_NOT = 0, HELD_PINNED = 1, HELD_CLONED = 2, HELD_RESERVED = 4 };

/* One pool in one registrar. */
struct vb_registration {
    vb_pool *pool;
    vb_registrar *registrar;
    vb_registration *next;      /* in the registrar's list */
    vb_registration *next_pool; /* in the pool's list */
    uint8_t held[VB_MAX_ARENAS]; /* HELD_* per arena */
};

/* Bytes this process pinned through us: the kernel's per-user count also
 * holds other processes' pins, which we cannot see. */
static _Atomic uint64_t pinned_bytes;

static void pinned_add(uint64_t n) { atomic_fetch_add_explicit(&pinned_bytes, n, memory_order_relaxed); }
static void pinned_sub(uint64_t n) { atomic_fetch_sub_explicit(&pinned_bytes, n, memory_order_relaxed); }

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

/* The first index where n slots are free in every ring of the pool. */
static int64_t common_free_run(const vb_pool *p, uint32_t n) {
    int64_t at = 0;
    for (;;) {
        int moved = 0;
        for (const vb_registration *r = p->registration; r; r = r->next_pool) {
            int64_t f = r->registrar->ops->find_free(r->registrar->self, (uint32_t)at, n);
            if (f < 0) return -1;
            if (f != at) at = f, moved = 1;
        }
        if (!moved) return at;
    }
}

/* Drops arena i from one ring. */
static void release_arena(vb_registration *r, vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    if (r->held[i] == HELD_NOT) return;
    if (r->held[i] == HELD_RESERVED) { /* nothing in the kernel */
        r->registrar->ops->unreserve(r->registrar->self, (uint32_t)s->reg_index, s->reg_count);
        r->held[i] = HELD_NOT;
        return;
    }
    r->registrar->ops->unregister(r->registrar->self, (uint32_t)s->reg_index, s->reg_count);
    if (r->held[i] == HELD_PINNED) {
        /* A clone elsewhere keeps the pages pinned: it holds the pin now. */
        vb_registration *heir = p->registration;
        while (heir && heir->held[i] != HELD_CLONED) heir = heir->next_pool;
        if (heir) heir->held[i] = HELD_PINNED;
        else pinned_sub(s->size);
    }
    r->held[i] = HELD_NOT;
}

/* What a view of arena i stamps on its buffers (relaxed is not enough for
 * a new index: release, so a view that reads it sees the registration
 * done; -1 is stored BEFORE the kernel drops the buffers, so no view stamps
 * an index being unregistered).  [issue 12 item 5] */
static void publish_view_reg(vb_pool *p, uint32_t i, int32_t index) {
    atomic_store_explicit(&p->arenas[i].view_reg, index, memory_order_release);
}

/* Forgets arena i's indexes once no ring holds it. */
static void forget_indexes(vb_pool *p, uint32_t i) {
    publish_view_reg(p, i, -1);
    p->arenas[i].reg_index = -1;
    p->arenas[i].reg_count = 0;
    if (p->cur_arena == i) p->cur_reg = -1;
}

/* Registers arena i in every ring of the pool, at the same indexes in
 * each.  Arenas are page-aligned and no block crosses a 1 GiB line (buddy's
 * largest order is 1 GiB; a hybrid arena is at most 1 GiB), so every buffer
 * lies inside one registered buffer.  All or nothing. */
#define VB_MAX_ARENA_IOVS (VB_MAX_ARENA_SIZE / VB_MAX_REG_BUFFER_SIZE + 1)

/* Arena i as the regions the kernel takes (at most 1 GiB each); their count. */
static uint32_t arena_iovs(const vb_arena_slot *s, struct iovec *iov) {
    uint32_t n = (uint32_t)((s->size + VB_MAX_REG_BUFFER_SIZE - 1) / VB_MAX_REG_BUFFER_SIZE);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t off = (uint64_t)k * VB_MAX_REG_BUFFER_SIZE, len = s->size - off;
        iov[k].iov_base = s->base + off;
        iov[k].iov_len = len < VB_MAX_REG_BUFFER_SIZE ? len : VB_MAX_REG_BUFFER_SIZE;
    }
    return n;
}

static int32_t register_arena(vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    struct iovec iov[VB_MAX_ARENA_IOVS];
    uint32_t n = arena_iovs(s, iov);
    int64_t first = common_free_run(p, n);
    if (first < 0) return VB_ENOSLOTS;
    s->reg_index = (int32_t)first;
    s->reg_count = n;
    if (!atomic_load_explicit(&s->mapped, memory_order_acquire)) {
        /* A lazy share not mapped yet: take the indexes, register nothing;
         * its view fills them when it maps the arena.  view_reg stays -1. */
        for (vb_registration *r = p->registration; r; r = r->next_pool) {
            r->registrar->ops->reserve(r->registrar->self, (uint32_t)first, n);
            r->held[i] = HELD_RESERVED;
        }
        return 0;
    }
    const vb_registration *pinned_in = 0;
    int32_t rc = 0;
    for (vb_registration *r = p->registration; r && !rc; r = r->next_pool) {
        const vb_registrar_ops *ops = r->registrar->ops;
        if (pinned_in && ops->clone_from(r->registrar->self, pinned_in->registrar->self,
                                         (uint32_t)first, n) == 0) {
            r->held[i] = HELD_CLONED;
            continue;
        }
        if (!r->registrar->no_memlock_precheck && (rc = memlock_check(p, s->size)) != 0) break;
        rc = ops->register_at(r->registrar->self, (uint32_t)first, iov, n);
        if (rc) {
            if (rc == -ENOMEM) rc = VB_EKMEMLOCK;
            break;
        }
        r->held[i] = HELD_PINNED;
        pinned_add(s->size);
        if (!pinned_in) pinned_in = r;
    }
    if (rc) {
        for (vb_registration *r = p->registration; r; r = r->next_pool) release_arena(r, p, i);
        forget_indexes(p, i);
        return rc;
    }
    if (p->cur_arena == i) p->cur_reg = (int32_t)first;
    publish_view_reg(p, i, (int32_t)first);
    return 0;
}

int32_t vb_registration_add_arena(vb_pool *p, uint32_t i) { return register_arena(p, i); }

/* The pre-check as for the owner's registrations, without the owner's
 * message buffer (not ours to write): the binding says it. */
static int memlock_allows(const vb_registration *r, uint64_t bytes) {
    if (r->registrar->no_memlock_precheck || vb_has_ipc_lock()) return 1;
    double limit = vb_memlock_limit();
    return limit < 0 || vb_pinned_bytes() + (double)bytes <= limit;
}

/* Faults the arena in from user space before the kernel pins it.  Pinning
 * pages that are not there yet makes the kernel fault them in itself with
 * the process's mmap lock held for the whole arena, so every other
 * thread's mmap, munmap or mprotect (any pool's create or close) waits
 * for the pin; our own faults take it per page at most (per-VMA locks
 * since 6.4: not at all), and the pin then finds every page present.
 * The arena was just mapped (first mapping, or zeroed by a decommit):
 * every byte is 0, so writing 0 changes nothing but the page tables. */
static void prefault(const vb_arena_slot *s) {
    for (uint64_t off = 0; off < s->size; off += VB_PAGE_SIZE) ((volatile uint8_t *)s->base)[off] = 0;
}

int32_t vb_registration_map_view_locked(vb_pool *p, uint32_t i) {
    vb_arena_slot *s = &p->arenas[i];
    if (!p->registration || s->reg_index < 0) return 0; /* unregistered: nothing to fill */
    struct iovec iov[VB_MAX_ARENA_IOVS];
    uint32_t n = arena_iovs(s, iov);
    if (n != s->reg_count) return VB_EINVAL; /* cannot happen: one shape */
    int32_t rc = 0;
    vb_registration *r;
    /* Fault it in only for a pin that may happen (a refused one would
     * leave nothing but the faults to undo). */
    int pin = 0;
    for (r = p->registration; r; r = r->next_pool) {
        if (r->held[i] != HELD_RESERVED) continue;
        if (!memlock_allows(r, s->size)) return VB_EMEMLOCK; /* nothing filled yet */
        pin = 1;
    }
    if (pin) prefault(s);
    for (r = p->registration; r; r = r->next_pool) {
        if (r->held[i] != HELD_RESERVED) continue;
        if (!memlock_allows(r, s->size)) {
            rc = VB_EMEMLOCK;
            break;
        }
        rc = r->registrar->ops->fill_reserved(r->registrar->self, (uint32_t)s->reg_index, iov, n);
        if (rc) {
            if (rc == -ENOMEM) rc = VB_EKMEMLOCK;
            break;
        }
        r->held[i] = HELD_PINNED;
        pinned_add(s->size);
    }
    if (rc) { /* all or nothing: the ones filled above go back to reserved */
        for (vb_registration *u = p->registration; u != r; u = u->next_pool) {
            if (u->held[i] != HELD_PINNED) continue;
            u->registrar->ops->empty_reserved(u->registrar->self, (uint32_t)s->reg_index, n);
            u->held[i] = HELD_RESERVED;
            pinned_sub(s->size);
        }
        return rc;
    }
    publish_view_reg(p, i, s->reg_index);
    return 0;
}

void vb_registration_remove_arena(vb_pool *p, uint32_t i) {
    publish_view_reg(p, i, -1);
    for (vb_registration *r = p->registration; r; r = r->next_pool) release_arena(r, p, i);
    forget_indexes(p, i);
}

/* Unlinks a registration from its registrar and its pool and frees it
 * (its arenas must be released first).  The pool forgets its indexes when
 * no ring is left. */
static void unlink_registration(vb_registration *reg) {
    vb_registration **link = &reg->registrar->regs;
    while (*link != reg) link = &(*link)->next;
    *link = reg->next;
    vb_pool *p = reg->pool;
    for (link = &p->registration; *link != reg;) link = &(*link)->next_pool;
    *link = reg->next_pool;
    if (!p->registration) {
        for (uint32_t i = 0; i < p->narenas; i++) forget_indexes(p, i);
        p->out[VB_OUT_BUF_INDEX] = (uint32_t)-1;
    }
    free(reg);
}

/* reg_lock and the share lock held (see "Lazy shares"). */
static void unregister_locked(vb_pool *p) {
    for (uint32_t i = 0; i < p->narenas; i++) publish_view_reg(p, i, -1);
    while (p->registration) {
        vb_registration *r = p->registration;
        for (uint32_t i = 0; i < p->narenas; i++) release_arena(r, p, i);
        unlink_registration(r);
    }
}

int32_t vb_pool_unregister(vb_pool *p) {
    if (!p) return VB_EINVAL;
    pthread_mutex_lock(&p->reg_lock); /* a view may be filling its reserved indexes */
    vb_share_lock();                  /* the registrars' lists */
    unregister_locked(p);
    vb_share_unlock();
    pthread_mutex_unlock(&p->reg_lock);
    return 0;
}

static int32_t register_rings_locked(vb_pool *p, vb_ring *const *rings, uint32_t n);

int32_t vb_pool_register_rings(vb_pool *p, vb_ring *const *rings, uint32_t n) {
    if (!p || !rings || n == 0 || n > VB_MAX_POOL_RINGS) return VB_EINVAL;
    /* Locked throughout: the list and a view's slot change under reg_lock
     * only (see "Lazy shares"); the share lock for the registrars' lists.
     * (The owner pinning its own arenas under the share lock is as before
     * lazy shares: its own synchronous call, at pool creation.) */
    pthread_mutex_lock(&p->reg_lock);
    vb_share_lock();
    int32_t rc = register_rings_locked(p, rings, n);
    vb_share_unlock();
    pthread_mutex_unlock(&p->reg_lock);
    return rc;
}

static int32_t register_rings_locked(vb_pool *p, vb_ring *const *rings, uint32_t n) {
    if (p->registration) return VB_EBUSY;
    for (uint32_t k = 0; k < n; k++) {
        if (!rings[k]) return VB_EINVAL;
        for (uint32_t j = 0; j < k; j++)
            if (rings[j] == rings[k]) return VB_EINVAL;
    }
    for (uint32_t k = n; k-- > 0;) { /* pool list in the given order */
        vb_registration *r = calloc(1, sizeof *r);
        if (!r) {
            unregister_locked(p);
            return VB_ENOMEM;
        }
        r->pool = p;
        r->registrar = &rings[k]->registrar;
        r->next = r->registrar->regs;
        r->registrar->regs = r;
        r->next_pool = p->registration;
        p->registration = r;
    }
    for (uint32_t i = 0; i < p->narenas; i++) {
        if (!p->arenas[i].backing) continue;
        int32_t rc = register_arena(p, i);
        if (rc) {
            unregister_locked(p); /* all or nothing */
            return rc;
        }
    }
    return p->arenas[0].reg_index;
}

int32_t vb_pool_register(vb_pool *p, vb_ring *ring) { return vb_pool_register_rings(p, &ring, 1); }

int32_t vb_pool_reg_index(vb_pool *p) { return p ? p->arenas[0].reg_index : -1; }

int32_t vb_pool_reg_mode(vb_pool *p, vb_ring *ring) {
    if (!p || !ring) return VB_EINVAL;
    int32_t mode = 0;
    pthread_mutex_lock(&p->reg_lock); /* a view writes its slot's held[] entry under it */
    for (const vb_registration *r = p->registration; r; r = r->next_pool) {
        if (r->registrar != &ring->registrar) continue;
        for (uint32_t i = 0; i < p->narenas; i++) mode |= r->held[i] & (HELD_PINNED | HELD_CLONED);
        break;
    }
    pthread_mutex_unlock(&p->reg_lock);
    return mode;
}

/* The registrar goes away (its ring is destroyed, which empties its table
 * in the kernel anyway): every pool in it goes on without it. */
void vb_registrations_detach(vb_registrar *r) {
    /* One pool at a time, each under its reg_lock: once a registration is
     * unlinked no view can find this registrar, so the ring's fd may close
     * when the list is empty (see "Lazy shares").  The share lock keeps
     * the list and its pools alive while we look; reg_lock is only tried
     * under it (lock order), and a view pinning holds it: then wait for
     * the pin with no lock held and look again. */
    for (;;) {
        vb_share_lock();
        vb_registration *reg = r->regs;
        if (!reg) {
            vb_share_unlock();
            return;
        }
        vb_pool *p = reg->pool;
        if (pthread_mutex_trylock(&p->reg_lock) != 0) {
            vb_share_unlock();
            nanosleep(&(struct timespec){0, 200 * 1000}, 0); /* a pin takes ms to s */
            continue;
        }
        if (p->registration == reg && !reg->next_pool) /* its last ring: views stop stamping first */
            for (uint32_t i = 0; i < p->narenas; i++) publish_view_reg(p, i, -1);
        for (uint32_t i = 0; i < p->narenas; i++) release_arena(reg, p, i);
        unlink_registration(reg);
        pthread_mutex_unlock(&p->reg_lock);
        vb_share_unlock();
    }
}

/*
 * veloq_buffer.h - the whole public ABI of libveloq_buffer.
 *
 * Page-aligned, address-stable buffer pools whose arenas can be registered
 * with io_uring.  Everything here is plain C with opaque handles so that any
 * FFI (Deno.dlopen in our case) can bind it:
 *
 *   - every function is prefixed vb_;
 *   - no struct is passed or returned by value;
 *   - errors are negative integers (errno values, plus the VB_E* codes below);
 *     vb_strerror() names them;
 *   - hot-path functions (vb_pool_alloc, vb_pool_free) take and return only
 *     integers and pointers, so JIT-ed FFI callers can use fast calls.  Their
 *     extra outputs go to a small per-pool "out" array (vb_pool_out) that the
 *     caller maps once;
 *   - the same array carries a queue of deferred frees: a binding may append
 *     handles there instead of calling vb_pool_free, and the pool frees them
 *     at its next alloc (or vb_pool_flush).  A release then costs no call.
 *
 * A buffer is named by a *handle*: a non-negative int32 that encodes the
 * arena it lives in and its first page inside that arena (see VB_HANDLE_*).
 * Its address is arena_base(arena) + page * VB_PAGE_SIZE, so a binding can
 * keep one view over each arena and slice it without another call.
 */
#ifndef VELOQ_BUFFER_H
#define VELOQ_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VB_API __attribute__((visibility("default")))
#else
#define VB_API
#endif

/* Bumped whenever a signature or a layout below changes. */
#define VB_ABI_VERSION 25u

#define VB_PAGE_SIZE 4096u
#define VB_PAGE_SHIFT 12u

/* Handle layout: [arena:11][page:20].  Arena VB_HANDLE_FALLBACK_ARENA marks a
 * buffer served by the global allocator (no arena, never registered); its
 * "page" bits are then a slot number. */
#define VB_HANDLE_PAGE_BITS 20u
#define VB_HANDLE_PAGE_MASK ((1u << VB_HANDLE_PAGE_BITS) - 1u)
#define VB_HANDLE_FALLBACK_ARENA 0x7FFu
#define VB_MAX_ARENAS 1024u
/* An arena holds at most 2^20 pages (4 GiB). */
#define VB_MAX_ARENA_SIZE ((uint64_t)VB_HANDLE_PAGE_MASK * VB_PAGE_SIZE + VB_PAGE_SIZE)

/* Error codes.  errno values keep their usual meaning; the VB_E* values
 * above 4000 have no errno equivalent. */
enum {
    VB_OK = 0,
    VB_ENOMEM = -12,         /* pool exhausted (or no memory for metadata) */
    VB_EFAULT = -14,         /* pointer/handle does not belong to this pool */
    VB_EBUSY = -16,          /* pool still has live buffers */
    VB_EINVAL = -22,         /* invalid argument */
    VB_ERANGE = -34,         /* size larger than this pool can ever serve */
    VB_EDOUBLEFREE = -4001,  /* buffer already free */
    VB_EINTERIOR = -4002,    /* inside the pool but not the start of a buffer */
    VB_ECORRUPT = -4003,     /* vb_pool_check found a broken invariant */
    VB_EMEMLOCK = -4004,     /* registering would pin more than RLIMIT_MEMLOCK allows */
    VB_ENOSLOTS = -4005,     /* the ring's registered-buffer table is full */
    VB_EKMEMLOCK = -4006,    /* the kernel refused to pin the memory (ENOMEM: RLIMIT_MEMLOCK) */
    VB_EATTACHED = -4007,    /* other threads still have the pool attached */
    VB_ESTALE = -4008,       /* a share handle of a pool that is closed (or not this one) */
    VB_EMAP = -4009,         /* the kernel refused to map an arena's memory (mprotect: ENOMEM) */
};

/* Offsets into the array returned by vb_pool_out() (uint32 slots). */
enum {
    VB_OUT_CAPACITY = 0,    /* capacity in bytes of the last allocated buffer */
    VB_OUT_BUF_INDEX = 1,   /* its registered index, or -1 (as int32) */
    VB_OUT_QUEUED = 2,      /* deferred frees waiting in VB_OUT_QUEUE.. */
    VB_OUT_QUEUE_ERRORS = 3,/* deferred frees the pool refused (bad handles) */
    VB_OUT_ARENA_EPOCH = 4, /* bumped whenever an arena is mapped or returned */
    VB_OUT_QUEUE = 5,       /* first slot of the deferred-free queue */
    VB_OUT_QUEUE_CAP = 59,  /* its capacity: flush when full */
    VB_OUT_LEN = VB_OUT_QUEUE + VB_OUT_QUEUE_CAP,
};

/* Offsets into the array filled by vb_pool_stats(). */
enum {
    VB_STAT_LIVE_BUFFERS = 0,    /* buffers handed out and not freed */
    VB_STAT_BYTES_IN_USE,        /* capacity bytes of those buffers */
    VB_STAT_CAPACITY_BYTES,      /* bytes of all arenas */
    VB_STAT_FREE_BYTES,          /* arena bytes not in use (incl. cached) */
    VB_STAT_CACHED_BUFFERS,      /* blocks parked in per-size caches */
    VB_STAT_LARGEST_FREE,        /* largest buffer a request could get now */
    VB_STAT_FALLBACK_BUFFERS,    /* live buffers from the global allocator */
    VB_STAT_FALLBACK_BYTES,      /* their bytes */
    VB_STAT_ALLOCS,              /* successful allocations, ever */
    VB_STAT_FREES,               /* successful frees, ever */
    VB_STAT_FAILED_ALLOCS,       /* allocations refused for lack of space */
    VB_STAT_ARENAS,              /* number of arenas mapped */
    VB_STAT_CLASSES,             /* number of size classes (0 for buddy) */
    VB_STAT_MAX_ARENAS,          /* growth limit (1: no growth) */
    VB_STAT_GROWS,               /* arenas mapped after the first, ever */
    VB_STAT_HUGE_ARENAS,         /* arenas backed by 2 MiB pages (hugetlbfs) */
    VB_STAT_THP_ARENAS,          /* arenas 2 MiB aligned with MADV_HUGEPAGE */
    VB_STAT_ATTACHED,            /* views attached in other threads now */
    VB_STAT_REMOTE_ERRORS,       /* frees from other threads that named no live buffer */
    VB_STAT_QUEUE_ERRORS,        /* deferred frees refused, ever (reported once by vb_pool_check) */
    VB_STAT_LEN
};

/* Offsets into the array filled by vb_pool_class_stats(). */
enum {
    VB_CLASS_STAT_SIZE = 0,
    VB_CLASS_STAT_TOTAL,
    VB_CLASS_STAT_FREE,
    VB_CLASS_STAT_LEN
};

/* Pool creation flags. */
enum {
    VB_FLAG_FALLBACK_ON_EXHAUSTED = 1u << 0, /* serve from the global allocator when full */
    VB_FLAG_POPULATE = 1u << 1,              /* pre-fault arena pages (MAP_POPULATE) */
    VB_FLAG_NO_DOUBLE_FREE_BITSET = 1u << 2, /* hybrid: skip the allocation bitset (bench only) */
    VB_FLAG_RELEASE_EMPTY_ARENAS = 1u << 3,  /* unmap extra arenas once empty (never the first) */
    /* 2 MiB huge pages: hugetlbfs pages when reserved, else a 2 MiB-aligned
     * arena advised MADV_HUGEPAGE (transparent huge pages).  The mapping is
     * rounded up to whole huge pages. */
    VB_FLAG_HUGE_PAGES = 1u << 4,
    /* Checked mode: every freed buffer is filled with VB_POISON_BYTE, so a
     * use after free reads garbage instead of plausible old data. */
    VB_FLAG_POISON = 1u << 5,
};

#define VB_POISON_BYTE 0xDEu

typedef struct vb_pool vb_pool;

/* --- library -------------------------------------------------------------- */

VB_API uint32_t vb_abi_version(void);
/* A static, human-readable description of an error code. */
VB_API const char *vb_strerror(int32_t code);
/* Pools created and not yet destroyed, process-wide (leak checks in tests). */
VB_API uint32_t vb_live_pools(void);
/* Does nothing; lets a binding measure its own call overhead. */
VB_API void vb_noop(void);
/* 1 once the library pinned itself in memory at load (RTLD_NODELETE): no
 * dlclose unmaps it while helper threads or thread-exit hooks may still run
 * its code.  0 if that failed (then keep one handle open for good). */
VB_API int32_t vb_library_resident(void);

/* --- pools ---------------------------------------------------------------- */

/*
 * BuddyPool: a binary buddy allocator over one arena (L1) with per-order
 * stacks of recently freed blocks in front of it (L0).  Requests are rounded
 * up to a power-of-two number of pages.
 *   arena_size    bytes, a multiple of VB_PAGE_SIZE, at most VB_MAX_ARENA_SIZE
 *   cache_depth   blocks kept per cached order (0 disables the L0 cache)
 *   cached_orders orders 0..cached_orders-1 are cached (the seed: 6, 4K-128K)
 * On success stores the pool in *out and returns 0.
 */
VB_API int32_t vb_buddy_create(uint64_t arena_size, uint32_t cache_depth,
                               uint32_t cached_orders, uint32_t flags, vb_pool **out);

/*
 * HybridPool: one arena laid out as one slab per size class.
 *   sizes   nclasses class sizes, ascending, each a multiple of VB_PAGE_SIZE
 *   counts  blocks per class (>= 1)
 * Requests above the largest class are served by the global allocator.
 */
VB_API int32_t vb_hybrid_create(const uint32_t *sizes, const uint32_t *counts,
                                uint32_t nclasses, uint32_t flags, vb_pool **out);

/* Lets the pool grow to max_arenas arenas of its shape (1..VB_MAX_ARENAS;
 * 1 = no growth, the default).  When every arena is full, alloc maps (and,
 * for a registered pool, registers) one more instead of failing. */
VB_API int32_t vb_pool_set_max_arenas(vb_pool *pool, uint32_t max_arenas);

/* Frees everything.  Refuses with VB_EBUSY (and changes nothing) while
 * buffers are live. */
VB_API int32_t vb_pool_destroy(vb_pool *pool);

/* Hot path.  Returns a handle (>= 0) and fills vb_pool_out(), or an error:
 * VB_ENOMEM (exhausted), VB_ERANGE (never servable), VB_EINVAL (size 0). */
VB_API int32_t vb_pool_alloc(vb_pool *pool, uint32_t size);
/* n buffers of `size` bytes in one call, all or none: fills out[3i] with a
 * handle, out[3i+1] with its registered index (or -1) and out[3i+2] with
 * its capacity.  Returns n, or the error of the first alloc that failed
 * (the buffers it had got are freed again). */
VB_API int32_t vb_pool_alloc_many(vb_pool *pool, uint32_t size, uint32_t n, int32_t *out);
/* Hot path.  Returns 0, or VB_EDOUBLEFREE / VB_EINTERIOR / VB_EFAULT with the
 * pool left unchanged. */
VB_API int32_t vb_pool_free(vb_pool *pool, int32_t handle);
/* Frees every handle queued in the out array (see VB_OUT_QUEUE); returns
 * how many the pool refused (counted in VB_OUT_QUEUE_ERRORS too). */
VB_API int32_t vb_pool_flush(vb_pool *pool);
/* Free by address, for C callers.  Same errors as vb_pool_free. */
VB_API int32_t vb_pool_free_ptr(vb_pool *pool, const void *ptr);

/* The pool's out array (VB_OUT_LEN uint32 values), stable for its lifetime. */
VB_API uint32_t *vb_pool_out(vb_pool *pool);
/* Address of a live buffer, or NULL when the handle is not live. */
VB_API void *vb_pool_ptr(vb_pool *pool, int32_t handle);
/* Capacity of a live buffer, or 0. */
VB_API uint32_t vb_pool_capacity(vb_pool *pool, int32_t handle);

/* Regions: the arenas by arena number (the handle's arena bits).  A
 * returned extra arena reads as base NULL, size 0. */
VB_API uint32_t vb_pool_region_count(vb_pool *pool);
VB_API void *vb_pool_region_base(vb_pool *pool, uint32_t index);
VB_API uint64_t vb_pool_region_size(vb_pool *pool, uint32_t index);
/* First registered index of a region, or -1 (also for a share's arena
 * its view has not mapped yet: its indexes are reserved, not registered). */
VB_API int32_t vb_pool_region_reg_index(vb_pool *pool, uint32_t index);
/* 1 when a region is memory now, 0 when it is address space only (a
 * share's arena its view has not mapped yet: touching it faults) or was
 * returned.  A snapshot: the view may map it just after. */
VB_API int32_t vb_pool_region_mapped(vb_pool *pool, uint32_t index);

/* Fills out[0..VB_STAT_LEN) (doubles: exact below 2^53). */
VB_API void vb_pool_stats(vb_pool *pool, double *out);
/* Fills out[0..VB_CLASS_STAT_LEN) for one size class; VB_EINVAL if none. */
VB_API int32_t vb_pool_class_stats(vb_pool *pool, uint32_t cls, double *out);
/* Walks the whole pool and verifies every invariant.  0 or VB_ECORRUPT;
 * vb_pool_last_error() then says which invariant broke. */
VB_API int32_t vb_pool_check(vb_pool *pool);
/* The pool's last diagnostic message ("" when none). */
VB_API const char *vb_pool_last_error(vb_pool *pool);
/* "buddy" or "hybrid". */
VB_API const char *vb_pool_kind(vb_pool *pool);

/* --- other threads (Deno Workers): shares and views ---------------------------
 *
 * A pool belongs to the thread that created it: every vb_pool_* call above
 * is for that thread.  Other threads use it through a *view*:
 *
 *   owner:  vb_pool_share(pool, out)      reserves one arena (address space
 *                                         and registered indexes only: the
 *                                         view's first alloc maps it; or an
 *                                         empty one an earlier view gave back);
 *                                         out = (reservation, token)
 *           vb_pool_unshare(pool, out[0]) cancels a reservation no view took
 *   other:  vb_view_attach(pool, arena, token, &view)
 *           vb_view_alloc / vb_view_free / vb_view_flush (its own out array)
 *           vb_view_detach(view)
 *
 * A view allocates from its own arena with no lock.  Any thread may free
 * any buffer of the pool: a free of a buffer from an arena the calling
 * thread does not own is pushed on that arena's lock-free remote list (no
 * memory is allocated: a release cannot fail for lack of it), and the
 * arena's owner frees it when it runs short, flushes or reads stats.  A
 * remote free that names no live buffer is counted in
 * VB_STAT_REMOTE_ERRORS (the pool's, whichever thread finds it); one
 * already waiting on a list is refused at once (VB_EDOUBLEFREE) and counted
 * only by its caller (a deferred free as a queue error), never twice.
 *
 * Share, unshare, attach, detach and destroy take one process-wide lock:
 * destroying a pool while views are attached is refused (VB_EATTACHED),
 * and so is destroying it while a buffer a view handed out is still live
 * (VB_EBUSY); attaching to a destroyed pool is refused (VB_ESTALE), never
 * a use after free.  The owner thread never reads a view's arena: stats,
 * vb_pool_check, vb_pool_ptr and vb_pool_capacity cover the arenas it owns
 * (and the fallback buffers); VB_STAT_ARENAS counts all.
 */
typedef struct vb_view vb_view;

/* A reservation (out[0] of vb_pool_share): the arena in the low bits, the
 * slot's reservation generation above, so that every reservation's handle
 * differs from every earlier one of the same slot (a cancelled or used
 * handle never takes a later reservation). */
#define VB_SHARE_ARENA_MASK (VB_MAX_ARENAS - 1u)
#define VB_SHARE_GEN_SHIFT 10u

/* Owner thread: reserves an arena of the pool's shape for one view.  It
 * maps and pins nothing: the arena is address space, and for a registered
 * pool its indexes are taken in every ring's table with nothing registered
 * there; the view's first vb_view_alloc maps it and registers it at those
 * indexes (from the view's thread).  An arena its view gave back without
 * ever allocating is dropped (nothing to keep).  Fills
 * out[0] = the reservation (arena | generation << VB_SHARE_GEN_SHIFT),
 * out[1] = the pool's token.  0 or an error
 * (VB_ENOMEM: no slot; a registration error, and then nothing of the arena
 * is left). */
VB_API int32_t vb_pool_share(vb_pool *pool, uint32_t *out);
/* Owner thread: cancels a reservation no view has attached: its handle is
 * stale from now on and the arena is the owner's again (returned at once
 * with VB_FLAG_RELEASE_EMPTY_ARENAS).  `reservation` is out[0] of the
 * share.  0, VB_EBUSY when a view attached it, VB_EINVAL when it names no
 * pending reservation (cancelled already, or a later one took the slot). */
VB_API int32_t vb_pool_unshare(vb_pool *pool, uint32_t reservation);
/* The pool's token (what share handles carry), for handing buffers over. */
VB_API uint32_t vb_pool_token(vb_pool *pool);
/* Any thread: attaches to the arena a share reserved (`reservation` and
 * `token`: out[0] and out[1] of the share).  VB_ESTALE when the pool is
 * gone, the token is wrong, or the reservation was cancelled or is not the
 * slot's latest, VB_EBUSY when it was attached already (a handle is for one
 * attach). */
VB_API int32_t vb_view_attach(vb_pool *pool, uint32_t reservation, uint32_t token, vb_view **out);
/* Hands the view's arena back to the pool's owner thread (buffers still
 * live in other threads stay valid; the owner takes the arena over at its
 * next flush, alloc that runs short, stats, check or share) and frees the
 * view. */
VB_API int32_t vb_view_detach(vb_view *view);
/* Like vb_pool_alloc / vb_pool_free / vb_pool_flush, for the view's thread.
 * A view has no fallback: VB_ENOMEM when its arena is full, VB_ERANGE above
 * the largest block.  The first vb_view_alloc maps the arena (VB_EMAP when
 * the kernel refuses the memory: RLIMIT_DATA, RLIMIT_AS, overcommit; a
 * later alloc tries again) and registers it with the pool's rings: VB_EMEMLOCK /
 * VB_EKMEMLOCK when that registration is refused (the arena is unmapped
 * again; a later alloc tries again).  vb_view_flush returns (and adds to the view's
 * VB_OUT_QUEUE_ERRORS) the refusals of its own queue only. */
VB_API int32_t vb_view_alloc(vb_view *view, uint32_t size);
VB_API int32_t vb_view_free(vb_view *view, int32_t handle);
VB_API int32_t vb_view_flush(vb_view *view);
VB_API uint32_t *vb_view_out(vb_view *view);
/* Buffers of the view's arena handed out and not freed (its thread only). */
VB_API uint32_t vb_view_live(vb_view *view);
/* The view's arena in the layout of vb_pool_stats (its thread only):
 * live buffers, bytes, allocs/frees of the arena, cached blocks, largest
 * free block; ATTACHED and REMOTE_ERRORS are the pool's; ARENAS 1. */
VB_API void vb_view_stats(vb_view *view, double *out);
/* Like vb_pool_class_stats, for the view's arena. */
VB_API int32_t vb_view_class_stats(vb_view *view, uint32_t cls, double *out);
/* The view's arena: its number, base address and size. */
VB_API uint32_t vb_view_arena(vb_view *view);
VB_API void *vb_view_base(vb_view *view);
VB_API uint64_t vb_view_size(vb_view *view);
/* The first registered index of the view's arena now, or -1 (it follows
 * the owner's vb_pool_register / vb_pool_unregister and ring destroys). */
VB_API int32_t vb_view_reg(vb_view *view);
/* The same for any arena of the view's pool (a buffer another thread
 * handed over): its first registered index now, or -1 (not registered,
 * every ring closed, an arena number out of range or the fallback's). */
VB_API int32_t vb_view_arena_reg(vb_view *view, uint32_t arena);
/* 1 once the view's arena is memory (its first allocation mapped it, or
 * it was mapped before this view attached), 0 while it is address space. */
VB_API int32_t vb_view_mapped(vb_view *view);

/* --- threads ending (binding support) -----------------------------------------
 *
 * A thread may end at any moment (a Deno Worker is terminated): what it
 * leaves behind is reclaimed on that thread when it ends (a pthread key
 * destructor; never for the process's main thread).  Views attached by a
 * thread are tracked with vb_thread_track_view; at thread end every buffer
 * the thread still held is freed and the view is detached, so the pool's
 * owner can close the pool.  The library itself stays loaded for good once
 * loaded (vb_library_resident), so the hook's code is never unmapped.
 */
typedef struct vb_thread_view vb_thread_view;

/* Arms the calling thread's exit hook (done by the calls below). 0 or VB_ENOMEM. */
VB_API int32_t vb_thread_exit_arm(void);
/* Exit hooks that ran, process-wide (tests: a thread really ended). */
VB_API uint32_t vb_thread_exits(void);
/* Records a socket of the calling thread (vb_net_socket and vb_net_listen
 * do it themselves; the binding does it for accepted fds): the thread's
 * exit hook closes it if still open.  vb_net_close_now and
 * vb_net_prep_close forget it.  0, VB_EINVAL or VB_ENOMEM. */
VB_API int32_t vb_thread_own_fd(int32_t fd);
/* Forgets a socket recorded by vb_thread_own_fd (no-op if not recorded). */
VB_API void vb_thread_disown_fd(int32_t fd);
/* Ties a view attached by the calling thread to its end; NULL on ENOMEM.
 * The record's held map (vb_thread_view_held: one byte per page of the
 * view's arena) is the binding's to keep: 1 at the first page of each
 * block of that arena the thread holds, 0 once it let go (released, or
 * handed to another thread).  Buffers of other arenas it holds are marked
 * with vb_thread_view_hold. */
VB_API vb_thread_view *vb_thread_track_view(vb_view *view);
VB_API uint8_t *vb_thread_view_held(vb_thread_view *t);
/* Marks (held != 0) or unmarks one buffer the thread holds; for the view's
 * own arena the same as writing the held map.  0, VB_EINVAL or VB_ENOMEM. */
VB_API int32_t vb_thread_view_hold(vb_thread_view *t, int32_t handle, uint32_t held);
/* Forgets the record and detaches its view (vb_view_detach): how a tracked
 * view is detached before its thread ends. */
VB_API int32_t vb_thread_view_detach(vb_thread_view *t);
/* Ties a pool the calling thread created to its end: if the thread ends
 * with the pool not destroyed and no other thread has it attached, it is
 * destroyed then, live buffers and all (they were the thread's).  Untrack
 * it before vb_pool_destroy.  0, VB_EINVAL or VB_ENOMEM. */
VB_API int32_t vb_thread_track_pool(vb_pool *pool);
VB_API int32_t vb_thread_untrack_pool(vb_pool *pool);

/* --- rings: one io_uring instance each ------------------------------------ */

typedef struct vb_ring vb_ring;

/* Operations for vb_ring_prep. */
enum { VB_OP_READ = 0, VB_OP_WRITE = 1 };

/* user_data values at or above this are the ring's own (wake-ups, cancels)
 * and never reach vb_ring_completions. */
#define VB_RING_INTERNAL_DATA 0xFFFFFFF0u
/* user_data for internal SQEs that settle nothing (a cancel, a linked
 * timeout): vb_ring_reap consumes their CQEs without reporting them. */
#define VB_RING_UD_IGNORE 0xFFFFFFF1u

/*
 * Creates an io_uring instance with `entries` SQEs (CQ twice that) and a
 * sparse registered-buffer table of `buf_slots` slots (0..16384; pools take
 * slots with vb_pool_register without re-registering anything).  Returns 0,
 * or -ENOSYS / -EPERM when io_uring is unavailable (old kernel, seccomp,
 * kernel.io_uring_disabled), -ENOMEM, -EINVAL.
 */
VB_API int32_t vb_ring_create(uint32_t entries, uint32_t buf_slots, uint32_t flags, vb_ring **out);
/* vb_ring_create flags. */
enum {
    /* Do not compare registrations with RLIMIT_MEMLOCK first: let the kernel
     * refuse (ENOMEM).  For tests of the kernel's own check. */
    VB_RING_NO_MEMLOCK_PRECHECK = 1u << 0,
    /* IORING_SETUP_SQPOLL: a kernel thread submits; its idle time in ms is
     * flags >> 16 (0: 10 ms). */
    VB_RING_SQPOLL = 1u << 1,
    /* IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN (6.1+; silently without
     * them on an older kernel or with VB_RING_SQPOLL: see
     * vb_ring_setup_flags): completion work runs only when the creating
     * thread enters the ring (its reaps and waits), batched, never
     * interrupting it.  Only that thread may submit, wait in the ring or
     * register with it: vb_ring_wait from another thread and a shared
     * pool's registration from another thread are refused (-EEXIST). */
    VB_RING_SINGLE_ISSUER = 1u << 2,
};
/* The io_uring_setup flags the kernel took for this ring (IORING_SETUP_*):
 * what the fallbacks of vb_ring_create left. */
VB_API uint32_t vb_ring_setup_flags(vb_ring *ring);
/* Closes the ring: waits for a thread inside vb_ring_wait to leave it,
 * detaches registered pools (their new buffers get index -1).  Requests
 * prepared but not submitted are dropped (they never run).  Requests in
 * flight must have been reaped first (see vb_ring_cancel_all). */
VB_API int32_t vb_ring_destroy(vb_ring *ring);

/* Queues one read or write.  buf_index >= 0 makes it READ_FIXED /
 * WRITE_FIXED on that registered buffer; offset -1 means the file
 * position, else a whole number below 2^64 (VB_EINVAL otherwise: NaN,
 * other negatives, fractions).  0 or -errno. */
VB_API int32_t vb_ring_prep(vb_ring *ring, uint32_t op, int32_t fd, uint8_t *buf, uint32_t len,
                            double offset, int32_t buf_index, uint32_t user_data);
/* Submits queued SQEs; the number submitted or -errno.  Every submitted
 * request completes (a refused one with its error). */
VB_API int32_t vb_ring_submit(vb_ring *ring);
/* Requests prepared and not yet submitted. */
VB_API uint32_t vb_ring_sq_ready(vb_ring *ring);
/* io_uring_submit calls the C side made by itself because the SQ was full
 * (inside a prep), for the ring's submit-call statistics. */
VB_API uint32_t vb_ring_auto_submits(vb_ring *ring);
/* Announces one coming vb_ring_wait call (call it on the submitting thread,
 * before handing the wait to another thread) so destroy can wait for it. */
VB_API void vb_ring_arm(vb_ring *ring);
/* Blocks until at least one completion is ready or the ring is closing.
 * Meant for a helper thread.  Each call must follow one vb_ring_arm. */
VB_API int32_t vb_ring_wait(vb_ring *ring);
/* Moves ready completions into the completions array as (user_data, res,
 * flags) int32 triples (flags are the CQE's: IORING_CQE_F_MORE, F_BUFFER,
 * F_NOTIF...); returns how many (at most vb_ring_completions_cap).  With
 * wait_ms != 0 it first blocks until one is ready, at most wait_ms
 * milliseconds (-ETIME then; the closing path).  A CQ overflow held back by
 * the kernel is flushed into the CQ when the CQ runs empty. */
VB_API int32_t vb_ring_reap(vb_ring *ring, uint32_t wait_ms);
VB_API int32_t *vb_ring_completions(vb_ring *ring);
VB_API uint32_t vb_ring_completions_cap(vb_ring *ring);
/* Asks the kernel to cancel every request in flight (they complete with
 * -ECANCELED, or normally if already past cancellation).  Requests prepared
 * and not submitted yet are dropped (they never run, and post no CQE). */
VB_API int32_t vb_ring_cancel_all(vb_ring *ring);
/* Slots of the registered-buffer table. */
VB_API uint32_t vb_ring_buf_slots(vb_ring *ring);
/* SQEs the kernel took whose last CQE was not reaped yet. */
VB_API uint32_t vb_ring_outstanding(vb_ring *ring);
/* Cancels everything in flight and reaps (discarding the completions)
 * until the kernel holds nothing of this ring, at most timeout_ms: after 0
 * no request of the ring can touch memory any more.  -ETIME otherwise.  For
 * a thread that ends with requests in flight (no binding left to settle
 * them). */
VB_API int32_t vb_ring_quiesce(vb_ring *ring, uint32_t timeout_ms);
/* Queues a poll for `events` (POLLIN...) on fd; multishot != 0 keeps it
 * armed (each CQE then carries IORING_CQE_F_MORE until the last).  0 or
 * -errno. */
VB_API int32_t vb_ring_prep_poll(vb_ring *ring, int32_t fd, uint32_t events, uint32_t multishot,
                                 uint32_t user_data);

/* --- waiters: one blocking wait per thread for all its rings --------------
 *
 * A waiter is an eventfd registered with every ring attached to it
 * (io_uring_register_eventfd): the kernel signals it whenever a CQE is
 * posted in any of them, so one helper thread blocked in vb_waiter_wait
 * serves any number of rings (Deno's blocking pool has 32 threads; one
 * parked call per ring would starve it).  Only the owning thread prepares,
 * submits and reaps; the helper only reads CQ indexes under the waiter's
 * lock, and destroying a ring unlinks it under that lock, so a ring can be
 * destroyed while the helper is parked without waiting for it. */
typedef struct vb_waiter vb_waiter;
/* The calling thread's waiter, made on first use (a thread-local). */
VB_API int32_t vb_thread_waiter(vb_waiter **out);
/* Another waiter owned by the calling thread (one per binding instance:
 * two copies of a binding in one thread must not share an eventfd).  Shut
 * down with the thread's others at its exit (vb_thread_shutdown). */
VB_API int32_t vb_waiter_create(vb_waiter **out);
/* Attaches a ring to a waiter (once, before its first request). */
VB_API int32_t vb_ring_set_waiter(vb_ring *ring, vb_waiter *waiter);
/* Announces one coming vb_waiter_wait (on the owning thread), so that
 * vb_waiter_shutdown can wait for the helper to leave. */
VB_API void vb_waiter_arm(vb_waiter *waiter);
/* Blocks until a ring of the waiter has a completion ready (or its CQ
 * overflowed), vb_waiter_wake was called, or the waiter shuts down.  For a
 * helper thread; each call follows one vb_waiter_arm.  0, 1 when woken by
 * vb_waiter_wake / shutdown, or -errno. */
VB_API int32_t vb_waiter_wait(vb_waiter *waiter);
/* On the owning thread: polls the attached rings (no syscall) for up to
 * max_us microseconds; 1 as soon as one has a completion ready, else 0.
 * Cheaper than a parked wait when completions are due within microseconds. */
VB_API int32_t vb_waiter_spin(vb_waiter *waiter, uint32_t max_us);
/* On the owning thread, while no vb_waiter_wait is parked: blocks in the
 * kernel (io_uring_enter on its only ring, else ppoll on the eventfd; at
 * most max_us microseconds, signals or not) until one of
 * the attached rings has a completion; 1 then, 0 on timeout, or -errno.
 * The kernel wakes this thread itself, which saves the hand-over a parked
 * wait's result takes to reach the thread (Deno: ~20-100 us per wake-up);
 * the price is that the thread does nothing else meanwhile, so the binding
 * uses it only while waits are short and bounds it per event-loop turn. */
VB_API int32_t vb_waiter_block(vb_waiter *waiter, uint32_t max_us);
/* CLOCK_MONOTONIC now, and when the last vb_waiter_wait returned, in ns:
 * their difference at the binding's wake-up handler is the cost of
 * delivering the wait's result to it (a statistic of the completion path). */
VB_API double vb_now_ns(void);
VB_API double vb_waiter_woke_ns(vb_waiter *waiter);
/* Makes a parked (or the next) vb_waiter_wait return at once. */
VB_API void vb_waiter_wake(vb_waiter *waiter);
/* Rings attached now. */
VB_API uint32_t vb_waiter_rings(vb_waiter *waiter);
/* Thread exit (e.g. a terminated Worker), from any thread: wakes the
 * helper and waits for it to leave vb_waiter_wait, destroys every ring still
 * attached (requests in flight are cancelled by the kernel), then frees the
 * waiter.  When it is the calling thread's waiter, that thread gets a new
 * one on its next vb_thread_waiter. */
VB_API int32_t vb_waiter_shutdown(vb_waiter *waiter);
/* vb_waiter_shutdown of every waiter the calling thread made, for the
 * thread's end (its exit hook): its rings' queued, never submitted socket
 * closes still run, and connections their accepts bring meanwhile are
 * closed (no JavaScript is left to adopt them). */
VB_API int32_t vb_thread_shutdown(void);
/* /proc/sys/kernel/io_uring_disabled (0, 1 or 2), or -1 when unreadable. */
VB_API int32_t vb_io_uring_disabled(void);

/* --- file operations beyond read/write (csrc/ring_ops.c) --------------------
 * Each vb_op_* queues one SQE with `user_data` and never submits: 0 (or 1,
 * see vb_op_vec) or -errno; -EBUSY when the SQ is full (submit, retry).
 * SQEs that must reach the kernel in one submit (a linked chain, an op and
 * its link timeout) need vb_ring_sq_space first. */

/* 1 if the kernel supports io_uring opcode `opcode` (IORING_OP_*), else 0
 * (io_uring_get_probe_ring, asked once per process). */
VB_API int32_t vb_ring_op_supported(vb_ring *ring, uint32_t opcode);
/* SQEs free in the SQ now. */
VB_API uint32_t vb_ring_sq_space(vb_ring *ring);
/* ORs IOSQE_IO_LINK (4) or IOSQE_IO_HARDLINK (8) into the last queued SQE:
 * the next SQE runs only after it succeeds.  -ENOENT when none is queued. */
VB_API int32_t vb_ring_link_last(vb_ring *ring, uint32_t sqe_flags);
/* IORING_OP_FSYNC; datasync != 0 adds IORING_FSYNC_DATASYNC (fdatasync). */
VB_API int32_t vb_op_fsync(vb_ring *ring, int32_t fd, uint32_t datasync, uint32_t user_data);
/* READV / WRITEV (op VB_OP_READ / VB_OP_WRITE) over `nr` struct iovec at
 * `iov`, kept alive by the caller until the request completes.  With
 * buf_index >= 0 (every iovec inside that registered buffer) and a kernel
 * with READV_FIXED/WRITEV_FIXED (6.15) it queues the fixed variant and
 * returns 1; else the plain one and returns 0. */
VB_API int32_t vb_op_vec(vb_ring *ring, uint32_t op, int32_t fd, const void *iov, uint32_t nr,
                         double offset, int32_t buf_index, uint32_t user_data);
/* vb_op_fallocate flags. */
enum {
    VB_FALLOC_KEEP_SIZE = 1u << 0,  /* FALLOC_FL_KEEP_SIZE: allocate, size unchanged */
    VB_FALLOC_PUNCH_HOLE = 1u << 1, /* FALLOC_FL_PUNCH_HOLE (implies KEEP_SIZE) */
};
/* IORING_OP_FALLOCATE over [offset, offset + len), len > 0. */
VB_API int32_t vb_op_fallocate(vb_ring *ring, int32_t fd, uint32_t flags, double offset, double len,
                               uint32_t user_data);
/* IORING_OP_FTRUNCATE (Linux 6.9+); -EOPNOTSUPP on older kernels (then
 * vb_file_truncate is the fallback). */
VB_API int32_t vb_op_ftruncate(vb_ring *ring, int32_t fd, double len, uint32_t user_data);
/* IORING_OP_ASYNC_CANCEL of the request whose user_data is `target`. */
VB_API int32_t vb_op_cancel(vb_ring *ring, uint32_t target, uint32_t user_data);
/* IORING_OP_LINK_TIMEOUT of `ms` milliseconds on the SQE queued just before
 * (which gets IOSQE_IO_LINK): on expiry the kernel cancels that request and
 * this one completes with -ETIME.  `ts` (two int64: seconds, nanoseconds) is
 * filled here and must stay alive until submitted.  -ENOENT when no SQE is
 * queued. */
VB_API int32_t vb_op_link_timeout(vb_ring *ring, int64_t *ts, double ms, uint32_t user_data);
/* ftruncate(2), for kernels without IORING_OP_FTRUNCATE.  0 or -errno. */
VB_API int32_t vb_file_truncate(int32_t fd, double len);

/* --- registration (the seed's RegisteredPool) ------------------------------- */

/*
 * Registers every region of `pool` in `ring`'s buffer table (regions over
 * 1 GiB take one slot per GiB).  From then on each buffer the pool hands out
 * carries its registered index (VB_OUT_BUF_INDEX).  Returns the first index,
 * or VB_EBUSY (already registered), VB_ENOSLOTS, VB_EMEMLOCK (checked before
 * asking the kernel), VB_EKMEMLOCK (the kernel's ENOMEM), or -errno.
 */
VB_API int32_t vb_pool_register(vb_pool *pool, vb_ring *ring);
/* Most rings one pool may be registered with. */
#define VB_MAX_POOL_RINGS 8u
/*
 * Registers the pool with n rings at once, at the same indexes in each.
 * The first ring pins the memory; the others share its entries through
 * IORING_REGISTER_CLONE_BUFFERS (Linux 6.13+: no second pin, no second
 * memlock charge) or, where the kernel cannot, register it again.  Growth
 * registers new arenas the same way.  Same results as vb_pool_register.
 */
VB_API int32_t vb_pool_register_rings(vb_pool *pool, vb_ring *const *rings, uint32_t n);
/* How the pool is held in `ring`: 0 not at all, bit 0 pinned there, bit 1
 * cloned from another ring. */
VB_API int32_t vb_pool_reg_mode(vb_pool *pool, vb_ring *ring);
/* Drops the pool's registration (also done by vb_pool_destroy). */
VB_API int32_t vb_pool_unregister(vb_pool *pool);
/* First registered index of the pool, or -1. */
VB_API int32_t vb_pool_reg_index(vb_pool *pool);

/* RLIMIT_MEMLOCK soft limit in bytes (-1: unlimited). */
VB_API double vb_memlock_limit(void);
/* 1 if this process has CAP_IPC_LOCK (no memlock accounting), else 0. */
VB_API int32_t vb_has_ipc_lock(void);
/* Bytes this process pins through registrations now. */
VB_API double vb_pinned_bytes(void);

/* --- files ------------------------------------------------------------------ */

enum {
    VB_FILE_READ = 1u << 0,
    VB_FILE_WRITE = 1u << 1,
    VB_FILE_CREATE = 1u << 2,
    VB_FILE_TRUNCATE = 1u << 3,
    VB_FILE_DIRECT = 1u << 4, /* O_DIRECT: offsets, lengths, addresses aligned */
    VB_FILE_EXCLUSIVE = 1u << 5, /* O_EXCL (with CREATE): fail if the file exists */
    VB_FILE_APPEND = 1u << 6,    /* O_APPEND: every write goes to the end */
    VB_FILE_DSYNC = 1u << 7,     /* O_DSYNC: each write durable (data) on return */
    VB_FILE_SYNC = 1u << 8,      /* O_SYNC: each write durable (data and metadata) */
};

/* open(2) with the VB_FILE_* flags; a file descriptor or -errno. */
VB_API int32_t vb_file_open(const char *path, uint32_t flags, uint32_t mode);
VB_API int32_t vb_file_close(int32_t fd);
/* The file's O_DIRECT offset alignment (statx), or 512 when unknown. */
VB_API int32_t vb_file_dio_align(int32_t fd);
/* The file's size in bytes, or -errno. */
VB_API double vb_file_size(int32_t fd);

/* --- network (csrc/net.c; owner w16) ---------------------------------------
 * Sockets are made here with plain syscalls (socket, setsockopt, bind,
 * listen: the io_uring BIND/LISTEN ops only exist from 6.11); accept,
 * connect, recv, send, shutdown and close go through the ring.  Addresses
 * are resolved with getaddrinfo into a caller-owned 128-byte buffer, which
 * must stay alive until a connect using it completes (cancel with
 * vb_op_cancel).  Every vb_net_prep_*
 * queues one SQE with `user_data` (below VB_RING_INTERNAL_DATA) and returns
 * 0, or -EBUSY when the SQ stays full; the ring's usual submit sends it. */

/* vb_net_listen flags. */
enum {
    VB_NET_REUSE_PORT = 1u << 0, /* SO_REUSEPORT: several listeners, one port */
    VB_NET_V6_ONLY = 1u << 1,    /* IPV6_V6ONLY on an IPv6 listener */
};
/* Resolution failed (getaddrinfo: no such host / no address of that kind). */
#define VB_ENORESOLVE (-4020)
/* Size of the address buffer vb_net_resolve fills. */
#define VB_NET_ADDR_LEN 128u

/* A listening TCP socket on host:port ("" or NULL host: 0.0.0.0), with
 * SO_REUSEADDR, TCP_NODELAY (accepted sockets inherit it) and CLOEXEC.
 * Returns the fd or -errno (-EADDRINUSE, -EACCES, VB_ENORESOLVE...);
 * out[0] = the bound port (port 0 picks one), out[1] = 4 or 6. */
VB_API int32_t vb_net_listen(const char *host, uint32_t port, uint32_t backlog, uint32_t flags,
                             int32_t *out);
/* Resolves host:port for connect: the index-th IPv4/IPv6 address (in
 * getaddrinfo's order) into addr (VB_NET_ADDR_LEN bytes).  Returns the
 * address length, or -errno / VB_ENORESOLVE (also past the last one);
 * out[0] = 4 or 6. */
VB_API int32_t vb_net_resolve(const char *host, uint32_t port, uint32_t index, uint8_t *addr,
                              int32_t *out);
/* A TCP socket of family 4 or 6, CLOEXEC, TCP_NODELAY on.  fd or -errno. */
VB_API int32_t vb_net_socket(uint32_t family);
/* The socket's own (peer = 0) or its peer's (peer = 1) address as text
 * into text (cap bytes, NUL-terminated); returns the port, or -errno.
 * out[0] = 4 or 6. */
VB_API int32_t vb_net_addr(int32_t fd, uint32_t peer, uint8_t *text, uint32_t cap, int32_t *out);
/* setsockopt(TCP_NODELAY) / getsockopt: 0 or 1, or -errno. */
VB_API int32_t vb_net_set_nodelay(int32_t fd, uint32_t on);
VB_API int32_t vb_net_get_nodelay(int32_t fd);
/* close(2) for a socket the ring never saw (error paths). */
VB_API int32_t vb_net_close_now(int32_t fd);

/* Operations through the ring. */
VB_API int32_t vb_net_prep_accept(vb_ring *ring, int32_t fd, uint32_t multishot,
                                  uint32_t user_data);
VB_API int32_t vb_net_prep_connect(vb_ring *ring, int32_t fd, const uint8_t *addr,
                                   uint32_t addrlen, uint32_t user_data);
/* recv into [buf, buf+len). */
VB_API int32_t vb_net_prep_recv(vb_ring *ring, int32_t fd, uint8_t *buf, uint32_t len,
                                uint32_t user_data);
/* recv into a block the kernel picks from buffer group `bgid`; multishot
 * (6.0+) keeps going while blocks are there (CQE_F_MORE). */
VB_API int32_t vb_net_prep_recv_select(vb_ring *ring, int32_t fd, uint32_t bgid,
                                       uint32_t multishot, uint32_t user_data);
/* send with MSG_NOSIGNAL (EPIPE, never SIGPIPE).  zero_copy: SEND_ZC, and
 * with buf_index >= 0 the registered buffer (IORING_RECVSEND_FIXED_BUF);
 * it posts a result CQE with F_MORE, then a notification (F_NOTIF) once
 * the kernel no longer reads the memory. */
VB_API int32_t vb_net_prep_send(vb_ring *ring, int32_t fd, const uint8_t *buf, uint32_t len,
                                uint32_t zero_copy, int32_t buf_index, uint32_t user_data);
VB_API int32_t vb_net_prep_shutdown(vb_ring *ring, int32_t fd, uint32_t how, uint32_t user_data);
VB_API int32_t vb_net_prep_close(vb_ring *ring, int32_t fd, uint32_t user_data);

/* What the kernel offers (vb_net_features bits). */
enum {
    VB_NET_F_PBUF_RING = 1u << 0,       /* IORING_REGISTER_PBUF_RING (5.19) */
    VB_NET_F_MULTISHOT_ACCEPT = 1u << 1,/* 5.19 */
    VB_NET_F_MULTISHOT_RECV = 1u << 2,  /* 6.0 */
    VB_NET_F_SEND_ZC = 1u << 3,         /* IORING_OP_SEND_ZC (6.0), from the probe */
    VB_NET_F_CANCEL_FD = 1u << 4,       /* 5.19 */
};
VB_API int32_t vb_net_features(vb_ring *ring);

/* A provided buffer ring: `entries` (a power of two <= 32768) blocks of
 * `size` bytes at the addresses in addrs (block i has buffer id i), in
 * group `bgid` of `ring`.  The ring memory is mmap'd here and registered
 * with IORING_REGISTER_PBUF_RING (liburing 2.3 has no setup helper).  All
 * blocks start in the kernel's hands.  -EINVAL for bad sizes, -EEXIST for a
 * bgid in use, the kernel's error on older kernels (EINVAL before 5.19). */
typedef struct vb_buf_group vb_buf_group;
VB_API int32_t vb_buf_group_create(vb_ring *ring, uint32_t bgid, uint32_t entries, uint32_t size,
                                   const uint64_t *addrs, vb_buf_group **out);
/* Gives n blocks (by id) back to the kernel with one tail update. */
VB_API int32_t vb_buf_group_recycle(vb_buf_group *group, const uint32_t *bids, uint32_t n);
/* Unregisters (when ring is not NULL: pass NULL once the ring is gone) and
 * unmaps the ring memory.  The blocks' memory is the caller's. */
VB_API int32_t vb_buf_group_destroy(vb_buf_group *group, vb_ring *ring);

#ifdef __cplusplus
}
#endif
#endif /* VELOQ_BUFFER_H */

/*
 * ring_ops.c - the file operations beyond read/write on a vb_ring: fsync,
 * vectored read/write, fallocate, ftruncate, and the two helpers that make
 * request options possible: ASYNC_CANCEL (abort one request) and
 * LINK_TIMEOUT (bound one request's time), plus IOSQE_IO_LINK on the last
 * queued SQE (the next request runs only after this one succeeds).
 *
 * Each vb_op_* queues ONE SQE (never submits) and returns 0 or -errno;
 * the binding submits with vb_ring_submit, as for vb_ring_prep.  Requests
 * that must go to the kernel together (a linked chain, an op and its link
 * timeout) need their SQEs in one submit: the binding checks
 * vb_ring_sq_space first, because an SQ that fills up is submitted early
 * and a chain cut in two runs unlinked.
 *
 * liburing 2.3 (Debian 12) has no helper for FTRUNCATE (Linux 6.9) or
 * READV_FIXED/WRITEV_FIXED (6.15), so those SQEs are written field by
 * field, with opcodes this header does not know; vb_ring_op_supported asks
 * the kernel (io_uring_get_probe_ring) before any of them is used.
 *
 * Threads: like vb_ring_prep, only the ring's submitting thread calls
 * these (the SQ has one producer).  The probe cache is process-wide and
 * idempotent: two threads probing at once store the same bits.
 */
#define _GNU_SOURCE /* fallocate modes */
#include "ring_internal.h"

#include "veloq_buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* Opcodes newer than liburing 2.3's header (whose IORING_OP_LAST is 49), as
 * numbered in the kernel's include/uapi/linux/io_uring.h. */
#define OP_FTRUNCATE 55    /* Linux 6.9 */
#define OP_READV_FIXED 60  /* Linux 6.15 */
#define OP_WRITEV_FIXED 61 /* Linux 6.15 */
#define PROBE_OPS 64u
#define MAX_IOVECS 1024u /* UIO_MAXIOV: the kernel refuses more */

/* Bit n set: opcode n is supported.  Bit 63 set: probed (a kernel that
 * answers at all supports NOP, so the set is never empty after a probe).
 * Relaxed atomics: the value is the same whoever computes it, and nothing
 * else is published through it. */
static _Atomic uint64_t probed_ops;

static uint64_t probe(vb_ring *r) {
    uint64_t bits = atomic_load_explicit(&probed_ops, memory_order_relaxed);
    if (bits) return bits;
    struct io_uring_probe *p = io_uring_get_probe_ring(&r->uring);
    bits = 1ull << 63;
    if (p) {
        for (unsigned i = 0; i < p->ops_len && i < PROBE_OPS - 1; i++)
            if (p->ops[i].flags & IO_URING_OP_SUPPORTED) bits |= 1ull << p->ops[i].op;
        io_uring_free_probe(p);
    }
    atomic_store_explicit(&probed_ops, bits, memory_order_relaxed);
    return bits;
}

int32_t vb_ring_op_supported(vb_ring *r, uint32_t opcode) {
    if (!r || opcode >= PROBE_OPS - 1) return 0;
    return (probe(r) >> opcode) & 1;
}

uint32_t vb_ring_sq_space(vb_ring *r) { return io_uring_sq_space_left(&r->uring); }

int32_t vb_ring_link_last(vb_ring *r, uint32_t sqe_flags) {
    struct io_uring_sq *sq = &r->uring.sq;
    /* Only IO_LINK / IO_HARDLINK: the other flags change what the op is. */
    if (sqe_flags & ~(uint32_t)(IOSQE_IO_LINK | IOSQE_IO_HARDLINK)) return VB_EINVAL;
    if (sq->sqe_tail == sq->sqe_head) return -ENOENT; /* nothing queued */
    sq->sqes[(sq->sqe_tail - 1) & *sq->kring_mask].flags |= (uint8_t)sqe_flags;
    return 0;
}

/* One SQE, or NULL when the SQ is full: the caller submits and retries
 * (never here: an SQE of an open chain may be queued). */
static struct io_uring_sqe *get_sqe(vb_ring *r) { return io_uring_get_sqe(&r->uring); }

/* A u64 file offset or length from a double (exact below 2^53). */
static int to_u64(double v, uint64_t *out) {
    if (!(v >= 0) || v > 9007199254740991.0) return -1;
    *out = (uint64_t)v;
    return 0;
}

int32_t vb_op_fsync(vb_ring *r, int32_t fd, uint32_t datasync, uint32_t user_data) {
    if (!r || fd < 0 || user_data >= VB_RING_INTERNAL_DATA) return VB_EINVAL;
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int32_t vb_op_vec(vb_ring *r, uint32_t op, int32_t fd, const void *iov, uint32_t nr,
                  double offset, int32_t buf_index, uint32_t user_data) {
    if (!r || !iov || nr == 0 || nr > MAX_IOVECS || op > VB_OP_WRITE) return VB_EINVAL;
    if (user_data >= VB_RING_INTERNAL_DATA) return VB_EINVAL;
    if (buf_index >= (int32_t)r->table.slots) return VB_EINVAL;
    uint64_t off;
    if (to_u64(offset, &off)) return VB_EINVAL;
    uint32_t fixed_op = op == VB_OP_READ ? OP_READV_FIXED : OP_WRITEV_FIXED;
    if (buf_index >= 0 && !vb_ring_op_supported(r, fixed_op)) buf_index = -1;
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    const struct iovec *v = iov;
    if (op == VB_OP_READ) io_uring_prep_readv(sqe, fd, v, nr, off);
    else io_uring_prep_writev(sqe, fd, v, nr, off);
    if (buf_index >= 0) { /* every iovec lies inside this registered buffer */
        sqe->opcode = (uint8_t)fixed_op;
        sqe->buf_index = (uint16_t)buf_index;
    }
    io_uring_sqe_set_data64(sqe, user_data);
    return buf_index >= 0 ? 1 : 0; /* 1: the fixed variant */
}

int32_t vb_op_fallocate(vb_ring *r, int32_t fd, uint32_t flags, double offset, double len,
                        uint32_t user_data) {
    if (!r || fd < 0 || (flags & ~(uint32_t)(VB_FALLOC_KEEP_SIZE | VB_FALLOC_PUNCH_HOLE)))
        return VB_EINVAL;
    if (user_data >= VB_RING_INTERNAL_DATA) return VB_EINVAL;
    uint64_t off, n;
    if (to_u64(offset, &off) || to_u64(len, &n) || n == 0) return VB_EINVAL;
    int mode = 0;
    if (flags & VB_FALLOC_KEEP_SIZE) mode |= FALLOC_FL_KEEP_SIZE;
    /* The kernel refuses a hole punch without KEEP_SIZE (EOPNOTSUPP). */
    if (flags & VB_FALLOC_PUNCH_HOLE) mode |= FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_fallocate(sqe, fd, mode, (off_t)off, (off_t)n);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int32_t vb_op_ftruncate(vb_ring *r, int32_t fd, double len, uint32_t user_data) {
    if (!r || fd < 0 || user_data >= VB_RING_INTERNAL_DATA) return VB_EINVAL;
    uint64_t n;
    if (to_u64(len, &n)) return VB_EINVAL;
    if (!vb_ring_op_supported(r, OP_FTRUNCATE)) return -EOPNOTSUPP;
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    /* io_ftruncate_prep: only fd and off; every other field must be 0. */
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = OP_FTRUNCATE;
    sqe->fd = fd;
    sqe->off = n;
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int32_t vb_op_cancel(vb_ring *r, uint32_t target, uint32_t user_data) {
    if (!r) return VB_EINVAL;
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int32_t vb_op_link_timeout(vb_ring *r, int64_t *ts, double ms, uint32_t user_data) {
    if (!r || !ts || !(ms >= 0) || ms > 1e12) return VB_EINVAL;
    /* The kernel reads *ts when the SQE is submitted: the caller keeps it
     * alive until then (the binding holds it with the request). */
    struct __kernel_timespec *kts = (struct __kernel_timespec *)ts;
    double ns = ms * 1e6;
    kts->tv_sec = (int64_t)(ns / 1e9);
    kts->tv_nsec = (long long)(ns - (double)kts->tv_sec * 1e9);
    struct io_uring_sq *sq = &r->uring.sq;
    if (sq->sqe_tail == sq->sqe_head) return -ENOENT; /* it times the SQE before it */
    struct io_uring_sqe *prev = &sq->sqes[(sq->sqe_tail - 1) & *sq->kring_mask];
    struct io_uring_sqe *sqe = get_sqe(r);
    if (!sqe) return -EBUSY;
    io_uring_prep_link_timeout(sqe, kts, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    prev->flags |= IOSQE_IO_LINK;
    return 0;
}

int32_t vb_file_truncate(int32_t fd, double len) {
    uint64_t n;
    if (to_u64(len, &n)) return VB_EINVAL;
    int rc;
    do rc = ftruncate(fd, (off_t)n);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

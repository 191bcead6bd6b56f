/*
 * test_ring_ops.c - the ops of ring_ops.c against the real kernel: fsync,
 * vectored I/O with real data, fallocate and hole punching, ftruncate,
 * cancel of a request that really waits (a read on an empty pipe), a link
 * timeout that fires, a linked write + fdatasync, and a failure that
 * cancels the rest of its chain.
 *
 * Completions are read straight from the liburing ring (ring_internal.h),
 * so these tests do not depend on the binding's completion format.
 */
#include "test.h"

#include "ring_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define KiB 1024u

/* An unlinked scratch file in the working directory (a real file system,
 * for fallocate). */
static int scratch(void) {
    char path[] = "vb_test_ops_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) unlink(path);
    return fd;
}

/* Submits what is queued, then collects `n` completions into ud[]/res[]
 * in arrival order. */
static int collect(vb_ring *r, int n, uint64_t *ud, int32_t *res) {
    if (vb_ring_submit(r) < 0) return -1;
    for (int i = 0; i < n; i++) {
        struct io_uring_cqe *cqe;
        int rc;
        do rc = io_uring_wait_cqe(&r->uring, &cqe);
        while (rc == -EINTR);
        if (rc < 0) return -1;
        ud[i] = cqe->user_data;
        res[i] = cqe->res;
        io_uring_cqe_seen(&r->uring, cqe);
    }
    return 0;
}

/* The result of the completion with user_data `want` among n. */
static int32_t res_of(int n, const uint64_t *ud, const int32_t *res, uint64_t want) {
    for (int i = 0; i < n; i++)
        if (ud[i] == want) return res[i];
    return -99999;
}

static void ops_fsync_and_datasync(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    int fd = scratch();
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, "hello", 5, 0) == 5);
    CHECK_RC(vb_op_fsync(r, fd, 0, 1), 0);
    CHECK_RC(vb_op_fsync(r, fd, 1, 2), 0);
    uint64_t ud[2];
    int32_t res[2];
    REQUIRE(collect(r, 2, ud, res) == 0);
    CHECK_EQ(res_of(2, ud, res, 1), 0);
    CHECK_EQ(res_of(2, ud, res, 2), 0);
    /* A bad descriptor is the kernel's EBADF, in the completion. */
    CHECK_RC(vb_op_fsync(r, 1000000, 1, 3), 0);
    REQUIRE(collect(r, 1, ud, res) == 0);
    CHECK_EQ(res[0], -EBADF);
    close(fd);
    CHECK_RC(vb_ring_destroy(r), 0);
}

static void ops_writev_readv_data(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    int fd = scratch();
    REQUIRE(fd >= 0);
    uint8_t a[4096], b[8192], c[4096], ra[4096], rb[8192], rc_[4096];
    fill_pattern(a, sizeof a, 1);
    fill_pattern(b, sizeof b, 2);
    fill_pattern(c, sizeof c, 3);
    struct iovec w[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
    CHECK_RC(vb_op_vec(r, VB_OP_WRITE, fd, w, 3, 4096, -1, 1), 0);
    uint64_t ud[1];
    int32_t res[1];
    REQUIRE(collect(r, 1, ud, res) == 0);
    CHECK_EQ(res[0], 16384);
    /* Defined before the kernel fills them (valgrind cannot see io_uring
     * writing memory). */
    memset(ra, 0, sizeof ra);
    memset(rb, 0, sizeof rb);
    memset(rc_, 0, sizeof rc_);
    struct iovec rv[3] = {{ra, sizeof ra}, {rb, sizeof rb}, {rc_, sizeof rc_}};
    CHECK_RC(vb_op_vec(r, VB_OP_READ, fd, rv, 3, 4096, -1, 2), 0);
    REQUIRE(collect(r, 1, ud, res) == 0);
    CHECK_EQ(res[0], 16384);
    CHECK(memcmp(a, ra, sizeof a) == 0);
    CHECK(memcmp(b, rb, sizeof b) == 0);
    CHECK(memcmp(c, rc_, sizeof c) == 0);
    /* The file holds them in order, after a 4 KiB hole. */
    uint8_t whole[16384];
    CHECK_EQ(pread(fd, whole, sizeof whole, 4096), 16384);
    CHECK(memcmp(whole + 4096, b, sizeof b) == 0);
    CHECK_RC(vb_op_vec(r, VB_OP_READ, fd, rv, 0, 0, -1, 3), VB_EINVAL);
    close(fd);
    CHECK_RC(vb_ring_destroy(r), 0);
}

/* With registered memory and a kernel that has WRITEV_FIXED, the fixed
 * variant is used and the kernel checks every iovec against the buffer. */
static void ops_vec_fixed(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 4, 0, &r) == 0);
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * KiB, 0, 0, 0, &p) == 0);
    CHECK_RC(vb_pool_register(p, r), 0);
    int32_t h1 = vb_pool_alloc(p, 4096), h2 = vb_pool_alloc(p, 4096);
    REQUIRE(h1 >= 0 && h2 >= 0);
    uint8_t *m1 = vb_pool_ptr(p, h1), *m2 = vb_pool_ptr(p, h2);
    fill_pattern(m1, 4096, 7);
    fill_pattern(m2, 4096, 8);
    int fd = scratch();
    REQUIRE(fd >= 0);
    struct iovec w[2] = {{m1, 4096}, {m2, 4096}};
    int32_t fixed = vb_op_vec(r, VB_OP_WRITE, fd, w, 2, 0, vb_pool_region_reg_index(p, 0), 1);
    CHECK(fixed == 0 || fixed == 1);
    CHECK_EQ(fixed, vb_ring_op_supported(r, 61));
    uint64_t ud[1];
    int32_t res[1];
    REQUIRE(collect(r, 1, ud, res) == 0);
    CHECK_EQ(res[0], 8192);
    uint8_t back[8192];
    CHECK_EQ(pread(fd, back, sizeof back, 0), 8192);
    CHECK(memcmp(back, m1, 4096) == 0 && memcmp(back + 4096, m2, 4096) == 0);
    if (fixed == 1) { /* memory outside the registered buffer: EFAULT */
        static uint8_t outside[4096];
        struct iovec bad[2] = {{m1, 4096}, {outside, 4096}};
        CHECK_RC(vb_op_vec(r, VB_OP_WRITE, fd, bad, 2, 0, vb_pool_region_reg_index(p, 0), 2), 1);
        REQUIRE(collect(r, 1, ud, res) == 0);
        CHECK_EQ(res[0], -EFAULT);
    }
    close(fd);
    CHECK_RC(vb_pool_free(p, h1), 0);
    CHECK_RC(vb_pool_free(p, h2), 0);
    CHECK_RC(vb_pool_destroy(p), 0);
    CHECK_RC(vb_ring_destroy(r), 0);
}

static void ops_fallocate_and_truncate(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    int fd = scratch();
    REQUIRE(fd >= 0);
    uint64_t ud[1];
    int32_t res[1];
    struct stat st;
    /* Plain: allocates and grows the file. */
    CHECK_RC(vb_op_fallocate(r, fd, 0, 0, 64 * KiB, 1), 0);
    REQUIRE(collect(r, 1, ud, res) == 0);
    CHECK_EQ(res[0], 0);
    REQUIRE(fstat(fd, &st) == 0);
    CHECK_EQ(st.st_size, 64 * KiB);
    /* KEEP_SIZE: blocks past the end, size unchanged. */
    CHECK_RC(vb_op_fallocate(r, fd, VB_FALLOC_KEEP_SIZE, 64 * KiB, 64 * KiB, 2), 0);
    REQUIRE(collect(r, 1, ud, res) == 0);
    CHECK_EQ(res[0], 0);
    REQUIRE(fstat(fd, &st) == 0);
    CHECK_EQ(st.st_size, 64 * KiB);
    CHECK(st.st_blocks * 512 >= 128 * KiB);
    /* PUNCH_HOLE: data reads back as zeros, size unchanged. */
    uint8_t data[8192];
    memset(data, 0xab, sizeof data);
    REQUIRE(pwrite(fd, data, sizeof data, 0) == (ssize_t)sizeof data);
    CHECK_RC(vb_op_fallocate(r, fd, VB_FALLOC_PUNCH_HOLE, 0, 4096, 3), 0);
    REQUIRE(collect(r, 1, ud, res) == 0);
    CHECK_EQ(res[0], 0);
    REQUIRE(pread(fd, data, sizeof data, 0) == (ssize_t)sizeof data);
    CHECK_EQ(data[0], 0);
    CHECK_EQ(data[4095], 0);
    CHECK_EQ(data[4096], 0xab);
    CHECK_RC(vb_op_fallocate(r, fd, 0, 0, 0, 4), VB_EINVAL); /* empty range */
    CHECK_RC(vb_op_fallocate(r, fd, 1u << 5, 0, 4096, 4), VB_EINVAL);
    /* Truncate: the io_uring op where the kernel has it, else the syscall. */
    if (vb_ring_op_supported(r, 55)) {
        CHECK_RC(vb_op_ftruncate(r, fd, 5000, 5), 0);
        REQUIRE(collect(r, 1, ud, res) == 0);
        CHECK_EQ(res[0], 0);
    } else {
        CHECK_RC(vb_op_ftruncate(r, fd, 5000, 5), -EOPNOTSUPP);
        CHECK_RC(vb_file_truncate(fd, 5000), 0);
    }
    REQUIRE(fstat(fd, &st) == 0);
    CHECK_EQ(st.st_size, 5000);
    CHECK_RC(vb_file_truncate(fd, 100), 0);
    REQUIRE(fstat(fd, &st) == 0);
    CHECK_EQ(st.st_size, 100);
    CHECK_RC(vb_file_truncate(fd, -1), VB_EINVAL);
    close(fd);
    CHECK_RC(vb_ring_destroy(r), 0);
}

/* A read on an empty pipe waits for ever; ASYNC_CANCEL ends it. */
static void ops_cancel_pending_read(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    uint8_t buf[64];
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, pfd[0], buf, sizeof buf, -1, -1, 1), 0);
    REQUIRE(vb_ring_submit(r) == 1);
    CHECK_EQ(io_uring_cq_ready(&r->uring), 0); /* really waiting */
    CHECK_RC(vb_op_cancel(r, 1, 2), 0);
    uint64_t ud[2];
    int32_t res[2];
    REQUIRE(collect(r, 2, ud, res) == 0);
    CHECK_EQ(res_of(2, ud, res, 1), -ECANCELED);
    CHECK_EQ(res_of(2, ud, res, 2), 0); /* the cancel found it */
    close(pfd[0]);
    close(pfd[1]);
    CHECK_RC(vb_ring_destroy(r), 0);
}

/* A link timeout on a waiting read: the read is cancelled, the timeout
 * completes with -ETIME.  On a read that completes in time, the timeout
 * is the one cancelled. */
static void ops_link_timeout(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    uint8_t buf[64];
    int64_t ts[2];
    CHECK_RC(vb_op_link_timeout(r, ts, 10, 9), -ENOENT); /* nothing to time */
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, pfd[0], buf, sizeof buf, -1, -1, 1), 0);
    CHECK_RC(vb_op_link_timeout(r, ts, 20, 2), 0);
    CHECK_EQ(ts[0], 0);
    CHECK_EQ(ts[1], 20000000);
    uint64_t ud[2];
    int32_t res[2];
    REQUIRE(collect(r, 2, ud, res) == 0);
    CHECK_EQ(res_of(2, ud, res, 1), -ECANCELED);
    CHECK_EQ(res_of(2, ud, res, 2), -ETIME);
    REQUIRE(write(pfd[1], "abc", 3) == 3);
    CHECK_RC(vb_ring_prep(r, VB_OP_READ, pfd[0], buf, sizeof buf, -1, -1, 3), 0);
    CHECK_RC(vb_op_link_timeout(r, ts, 5000, 4), 0);
    REQUIRE(collect(r, 2, ud, res) == 0);
    CHECK_EQ(res_of(2, ud, res, 3), 3);
    CHECK_EQ(res_of(2, ud, res, 4), -ECANCELED);
    close(pfd[0]);
    close(pfd[1]);
    CHECK_RC(vb_ring_destroy(r), 0);
}

/* write -> fdatasync linked; a failed write cancels the sync; a timed
 * request can still link on (op, timeout, next). */
static void ops_linked_chains(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    int fd = scratch();
    REQUIRE(fd >= 0);
    uint8_t data[4096];
    fill_pattern(data, sizeof data, 5);
    uint64_t ud[3];
    int32_t res[3];
    CHECK_RC(vb_ring_link_last(r, IOSQE_IO_LINK), -ENOENT);
    CHECK_RC(vb_ring_prep(r, VB_OP_WRITE, fd, data, sizeof data, 0, -1, 1), 0);
    CHECK_RC(vb_ring_link_last(r, IOSQE_IO_LINK), 0);
    CHECK_RC(vb_ring_link_last(r, IOSQE_ASYNC), VB_EINVAL);
    CHECK_RC(vb_op_fsync(r, fd, 1, 2), 0);
    REQUIRE(collect(r, 2, ud, res) == 0);
    CHECK_EQ(res_of(2, ud, res, 1), 4096);
    CHECK_EQ(res_of(2, ud, res, 2), 0);
    /* The write fails (fd open read-only): the linked sync is cancelled. */
    char ro_path[] = "vb_test_ops_ro_XXXXXX";
    int ro_tmp = mkstemp(ro_path);
    REQUIRE(ro_tmp >= 0);
    int ro = open(ro_path, O_RDONLY);
    unlink(ro_path);
    close(ro_tmp);
    REQUIRE(ro >= 0);
    CHECK_RC(vb_ring_prep(r, VB_OP_WRITE, ro, data, sizeof data, 0, -1, 3), 0);
    CHECK_RC(vb_ring_link_last(r, IOSQE_IO_LINK), 0);
    CHECK_RC(vb_op_fsync(r, fd, 1, 4), 0);
    REQUIRE(collect(r, 2, ud, res) == 0);
    CHECK_EQ(res_of(2, ud, res, 3), -EBADF);
    CHECK_EQ(res_of(2, ud, res, 4), -ECANCELED);
    /* op + link timeout + next: the timeout is not in the way. */
    CHECK_RC(vb_ring_prep(r, VB_OP_WRITE, fd, data, sizeof data, 4096, -1, 5), 0);
    CHECK_RC(vb_op_link_timeout(r, (int64_t[2]){0}, 5000, 6), 0);
    CHECK_RC(vb_ring_link_last(r, IOSQE_IO_LINK), 0);
    CHECK_RC(vb_op_fsync(r, fd, 1, 7), 0);
    REQUIRE(collect(r, 3, ud, res) == 0);
    CHECK_EQ(res_of(3, ud, res, 5), 4096);
    CHECK_EQ(res_of(3, ud, res, 6), -ECANCELED);
    CHECK_EQ(res_of(3, ud, res, 7), 0);
    close(ro);
    close(fd);
    CHECK_RC(vb_ring_destroy(r), 0);
}

static void ops_probe(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(4, 0, 0, &r) == 0);
    CHECK_EQ(vb_ring_op_supported(r, IORING_OP_NOP), 1);
    CHECK_EQ(vb_ring_op_supported(r, IORING_OP_FSYNC), 1);
    CHECK_EQ(vb_ring_op_supported(r, IORING_OP_LINK_TIMEOUT), 1);
    CHECK_EQ(vb_ring_op_supported(r, 63), 0);
    CHECK_EQ(vb_ring_op_supported(r, 1000), 0);
    CHECK_EQ(vb_ring_sq_space(r), 4);
    CHECK_RC(vb_op_fsync(r, 0, 0, 1), 0);
    CHECK_EQ(vb_ring_sq_space(r), 3);
    CHECK_RC(vb_op_fsync(r, 0, 0, VB_RING_INTERNAL_DATA), VB_EINVAL);
    CHECK_RC(vb_ring_destroy(r), 0);
}

const test_case ring_ops_tests[] = {
    TEST(ops_probe),
    TEST(ops_fsync_and_datasync),
    TEST(ops_writev_readv_data),
    TEST(ops_vec_fixed),
    TEST(ops_fallocate_and_truncate),
    TEST(ops_cancel_pending_read),
    TEST(ops_link_timeout),
    TEST(ops_linked_chains),
    TEST_END,
};

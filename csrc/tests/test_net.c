/*
 * test_net.c - sockets and provided buffer rings at the C level, on
 * 127.0.0.1 / ::1 with port 0 only: listen/connect/accept through the ring,
 * recv and send (plain and SEND_ZC with its notification), a provided
 * buffer ring that runs dry (ENOBUFS ends the multishot recv) and is
 * refilled, TCP_NODELAY on accepted sockets, address in use.
 */
#include "test.h"

#include "ring_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct cqe3 {
    uint64_t ud;
    int32_t res;
    uint32_t flags;
} cqe3;

/* Submits what is queued and waits (at most ~2 s) for one completion,
 * internal ones (cancels) skipped. */
static int next_cqe(vb_ring *r, cqe3 *out) {
    io_uring_submit(&r->uring);
    for (;;) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {2, 0};
        int rc = io_uring_wait_cqe_timeout(&r->uring, &cqe, &ts);
        if (rc < 0) return rc;
        out->ud = cqe->user_data;
        out->res = cqe->res;
        out->flags = cqe->flags;
        io_uring_cqe_seen(&r->uring, cqe);
        if (out->ud < VB_RING_INTERNAL_DATA) return 0;
    }
}

/* A connected pair through the ring: *srv accepted, *cli connected. */
static int pair(vb_ring *r, const char *host, int *lfd, int *srv, int *cli) {
    int32_t out[2];
    *lfd = vb_net_listen(host, 0, 16, 0, out);
    if (*lfd < 0) return *lfd;
    uint8_t addr[VB_NET_ADDR_LEN];
    int32_t fam[1];
    int32_t alen = vb_net_resolve(host, (uint32_t)out[0], 0, addr, fam);
    if (alen < 0) return alen;
    *cli = vb_net_socket((uint32_t)fam[0]);
    if (*cli < 0) return *cli;
    if (vb_net_prep_accept(r, *lfd, 0, 1) || vb_net_prep_connect(r, *cli, addr, (uint32_t)alen, 2))
        return -EIO;
    *srv = -1;
    int connected = 0;
    for (int i = 0; i < 2; i++) {
        cqe3 c;
        if (next_cqe(r, &c) < 0) return -ETIMEDOUT;
        if (c.ud == 1) *srv = c.res;
        if (c.ud == 2) connected = c.res == 0;
    }
    return *srv >= 0 && connected ? 0 : -EIO;
}

static void net_echo_v4_v6(void) {
    static const char *hosts[] = {"127.0.0.1", "::1"};
    for (int h = 0; h < 2; h++) {
        vb_ring *r;
        REQUIRE(vb_ring_create(32, 0, 0, &r) == 0);
        int lfd, srv, cli;
        int32_t rc = pair(r, hosts[h], &lfd, &srv, &cli);
        if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) { /* no IPv6 here */
            vb_ring_destroy(r);
            continue;
        }
        CHECK_RC(rc, 0);
        CHECK_EQ(vb_net_get_nodelay(srv), 1); /* inherited from the listener */
        CHECK_EQ(vb_net_get_nodelay(cli), 1);
        uint8_t text[64];
        int32_t fam[1];
        int32_t port = vb_net_addr(srv, 1, text, sizeof text, fam);
        CHECK(port > 0);
        CHECK_EQ(fam[0], h == 0 ? 4 : 6);
        CHECK(strcmp((char *)text, hosts[h]) == 0);
        char msg[] = "hello over io_uring";
        char got[64] = {0};
        CHECK_RC(vb_net_prep_send(r, cli, (uint8_t *)msg, sizeof msg, 0, -1, 3), 0);
        CHECK_RC(vb_net_prep_recv(r, srv, (uint8_t *)got, sizeof got, 4), 0);
        for (int i = 0; i < 2; i++) {
            cqe3 c;
            REQUIRE(next_cqe(r, &c) == 0);
            CHECK_EQ(c.res, (int32_t)sizeof msg);
        }
        CHECK(memcmp(got, msg, sizeof msg) == 0);
        /* shutdown(WR): the peer reads 0. */
        CHECK_RC(vb_net_prep_shutdown(r, cli, SHUT_WR, 5), 0);
        CHECK_RC(vb_net_prep_recv(r, srv, (uint8_t *)got, sizeof got, 6), 0);
        for (int i = 0; i < 2; i++) {
            cqe3 c;
            REQUIRE(next_cqe(r, &c) == 0);
            CHECK_EQ(c.res, 0);
        }
        CHECK_RC(vb_net_prep_close(r, srv, 7), 0);
        CHECK_RC(vb_net_prep_close(r, cli, 8), 0);
        CHECK_RC(vb_net_prep_close(r, lfd, 9), 0);
        for (int i = 0; i < 3; i++) {
            cqe3 c;
            REQUIRE(next_cqe(r, &c) == 0);
            CHECK_EQ(c.res, 0);
        }
        vb_ring_destroy(r);
    }
}

static void net_addr_in_use_and_resolve(void) {
    int32_t out[2];
    int a = vb_net_listen("127.0.0.1", 0, 4, 0, out);
    REQUIRE(a >= 0);
    int32_t out2[2];
    CHECK_RC(vb_net_listen("127.0.0.1", (uint32_t)out[0], 4, 0, out2), -EADDRINUSE);
    /* With SO_REUSEPORT on both, a second listener shares the port. */
    int b = vb_net_listen("127.0.0.1", 0, 4, VB_NET_REUSE_PORT, out);
    REQUIRE(b >= 0);
    int c = vb_net_listen("127.0.0.1", (uint32_t)out[0], 4, VB_NET_REUSE_PORT, out2);
    CHECK(c >= 0);
    CHECK_EQ(out2[0], out[0]);
    uint8_t addr[VB_NET_ADDR_LEN];
    CHECK_RC(vb_net_resolve("no-such-host.invalid", 80, 0, addr, out), VB_ENORESOLVE);
    CHECK_RC(vb_net_resolve("127.0.0.1", 80, 1, addr, out), VB_ENORESOLVE); /* only one */
    CHECK_RC(vb_net_listen("127.0.0.1", 70000, 4, 0, out), VB_EINVAL);
    close(a);
    close(b);
    if (c >= 0) close(c);
}

static void net_connect_refused(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    int32_t out[2];
    int lfd = vb_net_listen("127.0.0.1", 0, 4, 0, out);
    REQUIRE(lfd >= 0);
    close(lfd); /* nobody listens on that port now */
    uint8_t addr[VB_NET_ADDR_LEN];
    int32_t alen = vb_net_resolve("127.0.0.1", (uint32_t)out[0], 0, addr, out + 1);
    REQUIRE(alen > 0);
    int cli = vb_net_socket(4);
    REQUIRE(cli >= 0);
    CHECK_RC(vb_net_prep_connect(r, cli, addr, (uint32_t)alen, 1), 0);
    cqe3 c;
    REQUIRE(next_cqe(r, &c) == 0);
    CHECK_EQ(c.res, -ECONNREFUSED);
    close(cli);
    vb_ring_destroy(r);
}

/* A group of 2 blocks: the multishot recv fills both, ends with ENOBUFS
 * (no F_MORE), and works again once the blocks are recycled. */
static void net_buf_group_enobufs_and_recycle(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(32, 0, 0, &r) == 0);
    int f = vb_net_features(r);
    if (!(f & VB_NET_F_PBUF_RING) || !(f & VB_NET_F_MULTISHOT_RECV)) {
        test_note("skipped: kernel without multishot recv");
        vb_ring_destroy(r);
        return;
    }
    int lfd, srv, cli;
    REQUIRE(pair(r, "127.0.0.1", &lfd, &srv, &cli) == 0);
    enum { BLOCK = 4096 };
    uint8_t *mem = aligned_alloc(4096, 2 * BLOCK);
    REQUIRE(mem);
    memset(mem, 0, 2 * BLOCK); /* valgrind cannot see the kernel's writes */
    uint64_t addrs[2] = {(uint64_t)(uintptr_t)mem, (uint64_t)(uintptr_t)(mem + BLOCK)};
    vb_buf_group *g;
    CHECK_RC(vb_buf_group_create(r, 7, 3, BLOCK, addrs, &g), VB_EINVAL); /* not a power of 2 */
    REQUIRE(vb_buf_group_create(r, 7, 2, BLOCK, addrs, &g) == 0);
    vb_buf_group *dup;
    CHECK_RC(vb_buf_group_create(r, 7, 2, BLOCK, addrs, &dup), -EEXIST);
    uint8_t data[3 * BLOCK];
    for (unsigned i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7 + 1);
    /* Send 3 blocks' worth: 2 land in the group, then ENOBUFS. */
    ssize_t sent = send(cli, data, sizeof data, 0);
    REQUIRE(sent == (ssize_t)sizeof data);
    usleep(20 * 1000);
    CHECK_RC(vb_net_prep_recv_select(r, srv, 7, 1, 10), 0);
    size_t got = 0;
    int ended = 0;
    uint32_t bids[2];
    int nb = 0;
    for (int i = 0; i < 4 && !ended; i++) {
        cqe3 c;
        REQUIRE(next_cqe(r, &c) == 0);
        if (c.res == -ENOBUFS) {
            CHECK(!(c.flags & IORING_CQE_F_MORE));
            ended = 1;
            break;
        }
        REQUIRE(c.res > 0);
        REQUIRE(c.flags & IORING_CQE_F_BUFFER);
        uint32_t bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
        REQUIRE(bid < 2);
        CHECK(memcmp(mem + bid * BLOCK, data + got, (size_t)c.res) == 0);
        got += (size_t)c.res;
        bids[nb++] = bid;
        if (!(c.flags & IORING_CQE_F_MORE)) ended = 1;
    }
    CHECK(ended);
    CHECK_EQ(got, 2 * BLOCK);
    /* Recycle and re-arm: the rest arrives. */
    CHECK_RC(vb_buf_group_recycle(g, bids, (uint32_t)nb), nb);
    CHECK_RC(vb_net_prep_recv_select(r, srv, 7, 1, 11), 0);
    cqe3 c;
    REQUIRE(next_cqe(r, &c) == 0);
    CHECK_EQ(c.res, BLOCK);
    CHECK(c.flags & IORING_CQE_F_MORE);
    uint32_t bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
    CHECK(memcmp(mem + bid * BLOCK, data + got, BLOCK) == 0);
    /* EOF ends the multishot recv with 0. */
    shutdown(cli, SHUT_WR);
    REQUIRE(next_cqe(r, &c) == 0);
    CHECK_EQ(c.res, 0);
    CHECK(!(c.flags & IORING_CQE_F_MORE));
    CHECK_RC(vb_buf_group_destroy(g, r), 0);
    close(srv);
    close(cli);
    close(lfd);
    free(mem);
    vb_ring_destroy(r);
}

/* SEND_ZC from a registered buffer: a result CQE with F_MORE, then the
 * notification (F_NOTIF) for the same user_data. */
static void net_send_zc_fixed(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(32, 16, 0, &r) == 0);
    if (!(vb_net_features(r) & VB_NET_F_SEND_ZC)) {
        test_note("skipped: no SEND_ZC");
        vb_ring_destroy(r);
        return;
    }
    vb_pool *p;
    REQUIRE(vb_buddy_create(64 * 1024, 4, 6, 0, &p) == 0);
    REQUIRE(vb_pool_register(p, r) == 0);
    int32_t h = vb_pool_alloc(p, 16 * 1024);
    REQUIRE(h >= 0);
    int32_t idx = (int32_t)vb_pool_out(p)[VB_OUT_BUF_INDEX];
    uint8_t *buf = vb_pool_ptr(p, h);
    for (int i = 0; i < 16 * 1024; i++) buf[i] = (uint8_t)i;
    int lfd, srv, cli;
    REQUIRE(pair(r, "127.0.0.1", &lfd, &srv, &cli) == 0);
    CHECK_RC(vb_net_prep_send(r, cli, buf, 16 * 1024, 1, idx, 20), 0);
    int result = 0, notif = 0;
    for (int i = 0; i < 2; i++) {
        cqe3 c;
        REQUIRE(next_cqe(r, &c) == 0);
        CHECK_EQ(c.ud, 20);
        if (c.flags & IORING_CQE_F_NOTIF) notif++;
        else {
            CHECK_EQ(c.res, 16 * 1024);
            CHECK(c.flags & IORING_CQE_F_MORE);
            result++;
        }
    }
    CHECK_EQ(result, 1);
    CHECK_EQ(notif, 1);
    uint8_t got[16 * 1024];
    size_t n = 0;
    while (n < sizeof got) {
        ssize_t k = recv(srv, got + n, sizeof got - n, 0);
        REQUIRE(k > 0);
        n += (size_t)k;
    }
    CHECK(memcmp(got, buf, sizeof got) == 0);
    /* A send to a peer that is gone: EPIPE (never SIGPIPE). */
    close(srv);
    usleep(10 * 1000);
    int32_t last = 0;
    for (int i = 0; i < 3 && last >= 0; i++) {
        CHECK_RC(vb_net_prep_send(r, cli, buf, 16 * 1024, 0, -1, 21), 0);
        cqe3 c;
        REQUIRE(next_cqe(r, &c) == 0);
        last = c.res;
    }
    CHECK(last == -EPIPE || last == -ECONNRESET);
    close(cli);
    close(lfd);
    vb_pool_free(p, h);
    vb_ring_destroy(r);
    vb_pool_destroy(p);
}

/* A cancelled accept completes with ECANCELED. */
static void net_cancel_accept(void) {
    vb_ring *r;
    REQUIRE(vb_ring_create(8, 0, 0, &r) == 0);
    int32_t out[2];
    int lfd = vb_net_listen("127.0.0.1", 0, 4, 0, out);
    REQUIRE(lfd >= 0);
    CHECK_RC(vb_net_prep_accept(r, lfd, 1, 30), 0);
    io_uring_submit(&r->uring);
    CHECK_RC(vb_op_cancel(r, 30, 31), 0);
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        cqe3 c;
        REQUIRE(next_cqe(r, &c) == 0);
        if (c.ud == 30) CHECK_EQ(c.res, -ECANCELED);
        else CHECK_EQ(c.res, 0); /* the cancel found it */
        seen |= c.ud == 30 ? 1 : 2;
    }
    CHECK_EQ(seen, 3);
    close(lfd);
    vb_ring_destroy(r);
}

const test_case net_tests[] = {
    TEST(net_echo_v4_v6),
    TEST(net_addr_in_use_and_resolve),
    TEST(net_connect_refused),
    TEST(net_buf_group_enobufs_and_recycle),
    TEST(net_send_zc_fixed),
    TEST(net_cancel_accept),
    TEST_END,
};

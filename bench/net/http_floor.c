/*
 * http_floor.c - the C floor for deno task bench:net: the keep-alive
 * fixed-response HTTP server of examples/http_server.ts written straight on
 * liburing, with no JS and no library in between.  What it reaches on a
 * machine is what any io_uring server of this shape can reach there, so the
 * Ring server is measured as a share of it, and a goal above it (issue 16:
 * 1.5x Deno.listen) is shown to be out of reach of the method itself.
 *
 * One thread, one ring: a multishot accept; per connection one multishot
 * recv into a provided buffer ring of 1024 4 KiB blocks (the block goes
 * back at once: the request is answered, not read), re-armed when the
 * kernel ends it; one send of the fixed response per receive.  Setup flags
 * as fio uses (SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them).
 * Like the Ring (vb_waiter_spin) it polls for up to 100 us before it
 * sleeps: a sleeping thread's wake-up costs 50-100 us on a VM, which would
 * make the floor slower than the Ring at one connection.
 *
 *   http_floor [PORT]      prints "http server on 127.0.0.1:PORT"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BLOCKS 1024
#define BLOCK 4096
#define GROUP 0

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };
/* user_data: op in the low byte, fd above it. */
#define UD(op, fd) (((unsigned long long)(fd) << 8) | (op))

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello World\n";
static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *blocks;

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_recv(int fd) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = GROUP;
    io_uring_sqe_set_data64(sqe, UD(OP_RECV, fd));
}

static long long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

/* Submits, then waits for a CQE: polls (running deferred task work) for up
 * to 100 us, then sleeps in the kernel. */
static int submit_and_wait(void) {
    int rc = io_uring_submit(&ring);
    if (rc < 0 || io_uring_cq_ready(&ring)) return rc;
    long long t0 = now_us();
    do {
        rc = io_uring_get_events(&ring);
        if (rc < 0 || io_uring_cq_ready(&ring)) return rc;
    } while (now_us() - t0 < 100);
    return io_uring_submit_and_wait(&ring, 1);
}

static void give_back(unsigned bid) {
    io_uring_buf_ring_add(br, blocks + (size_t)bid * BLOCK, BLOCK, (unsigned short)bid,
                          io_uring_buf_ring_mask(BLOCKS), 0);
    io_uring_buf_ring_advance(br, 1);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    if (io_uring_queue_init_params(1024, &ring, &p) < 0) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_COOP_TASKRUN;
        int rc = io_uring_queue_init_params(1024, &ring, &p);
        if (rc < 0) { fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-rc)); return 1; }
    }
    br = mmap(NULL, BLOCKS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
              MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    blocks = aligned_alloc(4096, (size_t)BLOCKS * BLOCK);
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = BLOCKS,
                                   .bgid = GROUP};
    int rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc < 0) { fprintf(stderr, "register_buf_ring: %s\n", strerror(-rc)); return 1; }
    io_uring_buf_ring_init(br);
    for (unsigned i = 0; i < BLOCKS; i++) give_back(i);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1024) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
        perror("listen");
        return 1;
    }
    printf("http server on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);

    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, lfd));

    for (;;) {
        rc = submit_and_wait();
        if (rc < 0 && rc != -EINTR) { fprintf(stderr, "submit_and_wait: %s\n", strerror(-rc)); return 1; }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            unsigned long long ud = io_uring_cqe_get_data64(cqe);
            int op = (int)(ud & 0xff), fd = (int)(ud >> 8), res = cqe->res;
            int more = cqe->flags & IORING_CQE_F_MORE;
            if (op == OP_ACCEPT) {
                if (res >= 0) {
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    arm_recv(res);
                }
                if (!more) {
                    sqe = sqe_get();
                    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
                    io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, lfd));
                }
            } else if (op == OP_RECV) {
                if (res > 0) {
                    give_back(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                    sqe = sqe_get();
                    io_uring_prep_send(sqe, fd, response, sizeof response - 1, 0);
                    io_uring_sqe_set_data64(sqe, UD(OP_SEND, fd));
                    if (!more) arm_recv(fd);
                } else if (res == -ENOBUFS) {
                    if (!more) arm_recv(fd);
                } else if (!more) {
                    close(fd); /* EOF or error: the client is gone */
                }
            }
            /* OP_SEND: a short send of 52 bytes to loopback does not happen. */
        }
        io_uring_cq_advance(&ring, seen);
    }
}

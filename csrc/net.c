/*
 * net.c - TCP sockets for the ring: made with plain syscalls, driven
 * through io_uring (accept, connect, recv, send, shutdown, close), plus
 * provided buffer rings (the kernel picks a free block when data arrives).
 *
 * Threading: like ring.c, every function here runs on the thread that owns
 * the ring's SQ (the submitting thread); nothing here is touched by the
 * helper thread that sleeps in vb_ring_wait.  A buffer ring's tail is the
 * one word the kernel reads concurrently: it is published with a release
 * store (io_uring_buf_ring_advance) after the entries are written.
 */
#include "ring_internal.h"

#include "veloq_buffer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

/* --- sockets (syscalls) ------------------------------------------------------ */

static int family_of(const struct sockaddr *sa) { return sa->sa_family == AF_INET6 ? 6 : 4; }

/* getaddrinfo for a numeric port; *res is freed by the caller. */
static int32_t resolve(const char *host, uint32_t port, int passive, struct addrinfo **res) {
    if (port > 65535) return VB_EINVAL;
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (host && !*host) host = 0;
    if (!host && passive) host = "0.0.0.0"; /* like Deno.listen */
    int rc = getaddrinfo(host, service, &hints, res);
    if (rc == EAI_SYSTEM) return errno ? -errno : VB_ENORESOLVE;
    if (rc == EAI_MEMORY) return VB_ENOMEM;
    return rc ? VB_ENORESOLVE : 0;
}

static int32_t set_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

int32_t vb_net_socket(uint32_t family) {
    if (family != 4 && family != 6) return VB_EINVAL;
    int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int32_t rc = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    vb_thread_own_fd(fd); /* closed at the thread's end if still open (thread_exit.c) */
    return fd;
}

int32_t vb_net_listen(const char *host, uint32_t port, uint32_t backlog, uint32_t flags,
                      int32_t *out) {
    if (!out) return VB_EINVAL;
    struct addrinfo *res;
    int32_t rc = resolve(host, port, 1, &res);
    if (rc < 0) return rc;
    /* The first address that binds (getaddrinfo's order). */
    int32_t fd = VB_ENORESOLVE;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
            fd = -errno;
            continue;
        }
        rc = set_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
        if (!rc && (flags & VB_NET_REUSE_PORT)) rc = set_int(s, SOL_SOCKET, SO_REUSEPORT, 1);
        if (!rc && ai->ai_family == AF_INET6 && (flags & VB_NET_V6_ONLY))
            rc = set_int(s, IPPROTO_IPV6, IPV6_V6ONLY, 1);
        if (!rc) rc = set_int(s, IPPROTO_TCP, TCP_NODELAY, 1);
        if (!rc && bind(s, ai->ai_addr, ai->ai_addrlen) < 0) rc = -errno;
        if (!rc && listen(s, backlog ? (int)backlog : 511) < 0) rc = -errno;
        if (rc < 0) {
            close(s);
            fd = rc;
            continue;
        }
        fd = s;
        break;
    }
    freeaddrinfo(res);
    if (fd < 0) return fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    out[1] = family_of((struct sockaddr *)&ss);
    out[0] = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    vb_thread_own_fd(fd); /* closed at the thread's end if still open (thread_exit.c) */
    return fd;
}

int32_t vb_net_resolve(const char *host, uint32_t port, uint32_t index, uint8_t *addr,
                       int32_t *out) {
    if (!addr || !out || !host || !*host) return VB_EINVAL;
    struct addrinfo *res;
    int32_t rc = resolve(host, port, 0, &res);
    if (rc < 0) return rc;
    rc = VB_ENORESOLVE;
    uint32_t seen = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        if (ai->ai_addrlen > VB_NET_ADDR_LEN) continue;
        if (seen++ < index) continue;
        memcpy(addr, ai->ai_addr, ai->ai_addrlen);
        out[0] = family_of(ai->ai_addr);
        rc = (int32_t)ai->ai_addrlen;
        break;
    }
    freeaddrinfo(res);
    return rc;
}

int32_t vb_net_addr(int32_t fd, uint32_t peer, uint8_t *text, uint32_t cap, int32_t *out) {
    if (!text || !out || cap < INET6_ADDRSTRLEN) return VB_EINVAL;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                  : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (rc < 0) return -errno;
    const void *ip;
    uint16_t port;
    if (ss.ss_family == AF_INET6) {
        ip = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        port = ((struct sockaddr_in6 *)&ss)->sin6_port;
    } else if (ss.ss_family == AF_INET) {
        ip = &((struct sockaddr_in *)&ss)->sin_addr;
        port = ((struct sockaddr_in *)&ss)->sin_port;
    } else {
        return VB_EINVAL;
    }
    if (!inet_ntop(ss.ss_family, ip, (char *)text, cap)) return -errno;
    out[0] = family_of((struct sockaddr *)&ss);
    return ntohs(port);
}

int32_t vb_net_set_nodelay(int32_t fd, uint32_t on) {
    return set_int(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

int32_t vb_net_get_nodelay(int32_t fd) {
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) < 0) return -errno;
    return v ? 1 : 0;
}

int32_t vb_net_close_now(int32_t fd) {
    vb_thread_disown_fd(fd);
    return close(fd) < 0 ? -errno : 0;
}

/* --- operations through the ring --------------------------------------------- */

#define NET_PREP(r, ud)                                                                            \
    if (!(r) || (ud) >= VB_RING_INTERNAL_DATA) return VB_EINVAL;                                   \
    struct io_uring_sqe *sqe = vb_ring_sqe(r); /* submits when the SQ is full */                                                         \
    if (!sqe) return -EBUSY

int32_t vb_net_prep_accept(vb_ring *r, int32_t fd, uint32_t multishot, uint32_t ud) {
    NET_PREP(r, ud);
    if (multishot) io_uring_prep_multishot_accept(sqe, fd, 0, 0, SOCK_CLOEXEC);
    else io_uring_prep_accept(sqe, fd, 0, 0, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud);
    /* So that a connection accepted while the thread ends is closed, not
     * leaked (ring.c reaped_accept). Best effort: without memory for the
     * note the accept still runs. */
    vb_ring_note_accept(r, ud);
    return 0;
}

int32_t vb_net_prep_connect(vb_ring *r, int32_t fd, const uint8_t *addr, uint32_t addrlen,
                            uint32_t ud) {
    if (!addr || addrlen > VB_NET_ADDR_LEN) return VB_EINVAL;
    NET_PREP(r, ud);
    io_uring_prep_connect(sqe, fd, (const struct sockaddr *)addr, addrlen);
    io_uring_sqe_set_data64(sqe, ud);
    return 0;
}

int32_t vb_net_prep_recv(vb_ring *r, int32_t fd, uint8_t *buf, uint32_t len, uint32_t ud) {
    if (!buf) return VB_EINVAL;
    NET_PREP(r, ud);
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    io_uring_sqe_set_data64(sqe, ud);
    return 0;
}

int32_t vb_net_prep_recv_select(vb_ring *r, int32_t fd, uint32_t bgid, uint32_t multishot,
                                uint32_t ud) {
    if (bgid > 0xFFFF) return VB_EINVAL;
    NET_PREP(r, ud);
    if (multishot) io_uring_prep_recv_multishot(sqe, fd, 0, 0, 0);
    else io_uring_prep_recv(sqe, fd, 0, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = (uint16_t)bgid;
    io_uring_sqe_set_data64(sqe, ud);
    return 0;
}

int32_t vb_net_prep_send(vb_ring *r, int32_t fd, const uint8_t *buf, uint32_t len,
                         uint32_t zero_copy, int32_t buf_index, uint32_t ud) {
    if (!buf) return VB_EINVAL;
    if (buf_index >= 0 && (uint32_t)buf_index >= r->table.slots) return VB_EINVAL;
    NET_PREP(r, ud);
    if (!zero_copy) io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    else if (buf_index >= 0)
        io_uring_prep_send_zc_fixed(sqe, fd, buf, len, MSG_NOSIGNAL, 0, (unsigned)buf_index);
    else io_uring_prep_send_zc(sqe, fd, buf, len, MSG_NOSIGNAL, 0);
    io_uring_sqe_set_data64(sqe, ud);
    return 0;
}

int32_t vb_net_prep_shutdown(vb_ring *r, int32_t fd, uint32_t how, uint32_t ud) {
    if (how > SHUT_RDWR) return VB_EINVAL;
    NET_PREP(r, ud);
    io_uring_prep_shutdown(sqe, fd, (int)how);
    io_uring_sqe_set_data64(sqe, ud);
    return 0;
}

int32_t vb_net_prep_close(vb_ring *r, int32_t fd, uint32_t ud) {
    NET_PREP(r, ud);
    /* From here the close is the ring's: the thread's exit hook must not
     * close the number again (it may be reused at once). */
    vb_thread_disown_fd(fd);
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, ud);
    return 0;
}

/* --- feature detection ---------------------------------------------------------- */

/* Kernel version as major*1000 + minor, from uname (0 when unreadable). */
static int kernel_version(void) {
    struct utsname u;
    if (uname(&u) < 0) return 0;
    int major = 0, minor = 0;
    if (sscanf(u.release, "%d.%d", &major, &minor) != 2) return 0;
    return major * 1000 + minor;
}

int32_t vb_net_features(vb_ring *r) {
    if (!r) return VB_EINVAL;
    int32_t f = 0;
    int v = kernel_version();
    /* The probe says which opcodes exist; flags of existing ops (multishot
     * accept and recv) only by version. */
    struct io_uring_probe *probe = io_uring_get_probe_ring(&r->uring);
    if (probe) {
        if (io_uring_opcode_supported(probe, IORING_OP_SEND_ZC)) f |= VB_NET_F_SEND_ZC;
        io_uring_free_probe(probe);
    }
    if (v >= 5019) f |= VB_NET_F_PBUF_RING | VB_NET_F_MULTISHOT_ACCEPT | VB_NET_F_CANCEL_FD;
    if (v >= 6000) f |= VB_NET_F_MULTISHOT_RECV;
    return f;
}

/* --- provided buffer rings -------------------------------------------------------- */

struct vb_buf_group {
    struct io_uring_buf_ring *br; /* mmap'd, shared with the kernel */
    size_t map_len;
    uint32_t entries, mask, size, bgid;
    uint64_t *addrs; /* block address by buffer id */
};

int32_t vb_buf_group_create(vb_ring *r, uint32_t bgid, uint32_t entries, uint32_t size,
                            const uint64_t *addrs, vb_buf_group **out) {
    if (!r || !out || !addrs || bgid > 0xFFFF || entries == 0 || entries > 32768 ||
        (entries & (entries - 1)) || size == 0)
        return VB_EINVAL;
    *out = 0;
    vb_buf_group *g = calloc(1, sizeof *g);
    if (!g) return VB_ENOMEM;
    g->addrs = malloc(entries * sizeof *g->addrs);
    if (!g->addrs) {
        free(g);
        return VB_ENOMEM;
    }
    memcpy(g->addrs, addrs, entries * sizeof *g->addrs);
    /* The ring memory: page-aligned (mmap), entries * 16 bytes. */
    g->map_len = ((size_t)entries * sizeof(struct io_uring_buf) + VB_PAGE_SIZE - 1) &
                 ~(size_t)(VB_PAGE_SIZE - 1);
    void *mem = mmap(0, g->map_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        free(g->addrs);
        free(g);
        return VB_ENOMEM;
    }
    g->br = mem;
    g->entries = entries;
    g->mask = (uint32_t)io_uring_buf_ring_mask(entries);
    g->size = size;
    g->bgid = bgid;
    io_uring_buf_ring_init(g->br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = entries;
    reg.bgid = (uint16_t)bgid;
    int rc = io_uring_register_buf_ring(&r->uring, &reg, 0);
    if (rc < 0) {
        munmap(mem, g->map_len);
        free(g->addrs);
        free(g);
        return rc;
    }
    for (uint32_t i = 0; i < entries; i++)
        io_uring_buf_ring_add(g->br, (void *)(uintptr_t)g->addrs[i], size, (unsigned short)i,
                              (int)g->mask, (int)i);
    io_uring_buf_ring_advance(g->br, (int)entries);
    *out = g;
    return 0;
}

int32_t vb_buf_group_recycle(vb_buf_group *g, const uint32_t *bids, uint32_t n) {
    if (!g || (!bids && n) || n > g->entries) return VB_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if (bids[i] >= g->entries) return VB_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        io_uring_buf_ring_add(g->br, (void *)(uintptr_t)g->addrs[bids[i]], g->size,
                              (unsigned short)bids[i], (int)g->mask, (int)i);
    io_uring_buf_ring_advance(g->br, (int)n); /* release store of the tail */
    return (int32_t)n;
}

int32_t vb_buf_group_destroy(vb_buf_group *g, vb_ring *r) {
    if (!g) return VB_EINVAL;
    int32_t rc = 0;
    if (r) rc = io_uring_unregister_buf_ring(&r->uring, (int)g->bgid);
    munmap(g->br, g->map_len);
    free(g->addrs);
    free(g);
    return rc < 0 ? rc : 0;
}

/*
 * echo_floor.c - the C floor for the bulk echo of deno task bench:net: a
 * plain blocking recv/send loop in 64 KiB blocks, one connection at a time,
 * no io_uring, no JS.  Every byte costs this server what it costs any echo
 * server (one copy in, one copy out, on the server's core), so what it
 * reaches with bench/net/echo_client.c is the echo ceiling of the machine,
 * the right one beside iperf3's one-way figure (where each core copies each
 * byte once, not twice).
 *
 *   echo_floor [PORT]      prints "echo server on 127.0.0.1:PORT"
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define BLOCK (64 * 1024)

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0, one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 64) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
        perror("listen");
        return 1;
    }
    printf("echo server on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    static char buf[BLOCK];
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            for (ssize_t off = 0; off < n;) {
                ssize_t k = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
                if (k <= 0) { n = -1; break; }
                off += k;
            }
            if (n < 0) break;
        }
        close(fd);
    }
}

/*
 * echo_client.c - the bulk echo load for deno task bench:net: sends
 * `total` bytes to 127.0.0.1:port in 64 KiB writes from one thread while
 * another reads the echo back; prints one JSON line with the echoed
 * MiB/s (bytes that made the round trip / wall time).  The same client
 * drives every server, so the servers are what differs.
 *
 *   echo_client PORT TOTAL_MIB [CONNS]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (64 * 1024)

static long long total;

static void *sender(void *arg) {
    int fd = *(int *)arg;
    static char buf[BLOCK];
    memset(buf, 'x', sizeof buf);
    long long sent = 0;
    while (sent < total) {
        size_t n = total - sent < BLOCK ? (size_t)(total - sent) : BLOCK;
        ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
        if (k <= 0) { perror("send"); exit(1); }
        sent += k;
    }
    shutdown(fd, SHUT_WR);
    return 0;
}

static void *receiver(void *arg) {
    int fd = *(int *)arg;
    static __thread char buf[BLOCK];
    long long got = 0;
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k < 0) { perror("recv"); exit(1); }
        if (k == 0) break;
        got += k;
    }
    if (got != total) { fprintf(stderr, "echoed %lld of %lld bytes\n", got, total); exit(1); }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: echo_client PORT TOTAL_MIB [CONNS]\n"); return 2; }
    int port = atoi(argv[1]);
    int conns = argc > 3 ? atoi(argv[3]) : 1;
    total = atoll(argv[2]) * 1024 * 1024 / conns;
    int fds[64];
    pthread_t th[128];
    struct timespec t0, t1;
    if (conns < 1 || conns > 64) return 2;
    for (int i = 0; i < conns; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fds[i], (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < conns; i++) {
        pthread_create(&th[2 * i], 0, sender, &fds[i]);
        pthread_create(&th[2 * i + 1], 0, receiver, &fds[i]);
    }
    for (int i = 0; i < 2 * conns; i++) pthread_join(th[i], 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    double mib = (double)(total * conns) / (1024.0 * 1024.0);
    printf("{\"mib\": %.0f, \"seconds\": %.4f, \"mibPerSec\": %.1f}\n", mib, s, mib / s);
    return 0;
}

/*
 * child.c - the peers (glibc, mimalloc, jemalloc), each measurement in a
 * fresh process.
 *
 * Why: a malloc's speed depends on its heap's history.  glibc's 4 KiB
 * posix_memalign/free pair, for one, measured ~16 ns on a fresh heap and
 * ~48 ns in the same process after the mixed and burst workloads had run.
 * The pools get a fresh pool for every measurement, so each peer gets a
 * fresh heap: this program again, with the hidden options
 *
 *   --peer KEY --workload NAME --scale S
 *
 * (and LD_PRELOAD=libjemalloc.so.2 for jemalloc, whose Debian build has no
 * prefixed API: it replaces malloc).  The child checks that KEY's allocator
 * really serves the calls, measures once and prints:
 *
 *   owner jemalloc 5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c
 *   result 10.612345
 */
#define _GNU_SOURCE
#include "bench.h"

#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const allocator *const peers[] = {&libc_allocator, &mimalloc_allocator, &jemalloc_allocator};

/* The environment without LD_PRELOAD, plus `entry` when not NULL. */
static char **child_env(char *entry) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env) die("out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
    env[k] = entry;
    return env;
}

/* Spawns the child with its stdout on a pipe; returns the read end. */
static int spawn_child(char **argv, char **env, pid_t *pid) {
    int fd[2];
    if (pipe(fd)) die("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    int rc = posix_spawn(pid, argv[0], &fa, 0, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (rc) die("cannot run %s: %s", argv[0], strerror(rc));
    return fd[0];
}

double peer_measure(const allocator *a, const workload *w, uint32_t scale, const char *preload,
                    char *owner, size_t owner_len) {
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len < 0) die("readlink /proc/self/exe failed");
    exe[len] = 0;
    char scale_arg[16], preload_entry[4200];
    snprintf(scale_arg, sizeof scale_arg, "%u", scale);
    snprintf(preload_entry, sizeof preload_entry, "LD_PRELOAD=%s", preload ? preload : "");
    char *argv[] = {exe, "--peer", (char *)a->key, "--workload", (char *)w->name, "--scale", scale_arg, 0};
    char **env = child_env(preload ? preload_entry : 0);
    pid_t pid;
    int fd = spawn_child(argv, env, &pid);
    free(env);

    double ns = NAN;
    FILE *f = fdopen(fd, "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "owner ", 6) == 0) {
            line[strcspn(line, "\n")] = 0;
            snprintf(owner, owner_len, "%s", line + 6);
        } else {
            sscanf(line, "result %lf", &ns);
        }
    }
    if (f) fclose(f);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || isnan(ns)) {
        fprintf(stderr, "vb_bench: the %s child for %s failed (exit status %d)\n", a->key, w->name,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return NAN;
    }
    return ns;
}

int peer_child_main(const char *key, const char *workload_name, uint32_t scale) {
    const allocator *a = 0;
    for (size_t i = 0; i < sizeof peers / sizeof *peers; i++)
        if (strcmp(peers[i]->key, key) == 0) a = peers[i];
    workload all[W_COUNT];
    bench_workloads(all, scale);
    const workload *w = 0;
    for (int i = 0; i < W_COUNT; i++)
        if (strcmp(all[i].name, workload_name) == 0) w = &all[i];
    if (!a || !w) die("no peer %s or workload %s", key, workload_name);

    const char *owner = a->owner();
    if (strncmp(owner, key, strlen(key)) != 0)
        die("the %s row would measure %s (LD_PRELOAD missing or stray?)", key, owner);
    printf("owner %s\n", owner);
    printf("result %.6f\n", a->run(w));
    return 0;
}

/*
 * file.c - opening files for direct I/O.
 *
 * Deno.open cannot pass O_DIRECT, and its FsFile does not expose a file
 * descriptor, so the package opens the files it does I/O on itself.
 */
#define _GNU_SOURCE /* O_DIRECT, statx */
#include "veloq_buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U /* Linux 6.1; older headers lack it */
#endif

int32_t vb_file_open(const char *path, uint32_t flags, uint32_t mode) {
    if (!path) return VB_EINVAL;
    int oflags = O_CLOEXEC;
    uint32_t rw = flags & (VB_FILE_READ | VB_FILE_WRITE);
    if (rw == (VB_FILE_READ | VB_FILE_WRITE)) oflags |= O_RDWR;
    else if (rw == VB_FILE_WRITE) oflags |= O_WRONLY;
    else if (rw == VB_FILE_READ) oflags |= O_RDONLY;
    else return VB_EINVAL;
    if (flags & VB_FILE_CREATE) oflags |= O_CREAT;
    if (flags & VB_FILE_TRUNCATE) oflags |= O_TRUNC;
    if (flags & VB_FILE_DIRECT) oflags |= O_DIRECT;
    if (flags & VB_FILE_EXCLUSIVE) oflags |= O_EXCL;
    if (flags & VB_FILE_APPEND) oflags |= O_APPEND;
    /* O_SYNC includes O_DSYNC's bits (__O_SYNC | O_DSYNC): either alone works. */
    if (flags & VB_FILE_DSYNC) oflags |= O_DSYNC;
    if (flags & VB_FILE_SYNC) oflags |= O_SYNC;
    int fd = open(path, oflags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

int32_t vb_file_close(int32_t fd) { return close(fd) == 0 ? 0 : -errno; }

int32_t vb_file_dio_align(int32_t fd) {
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
        sx.stx_dio_offset_align)
        return (int32_t)sx.stx_dio_offset_align;
    return 512;
}

double vb_file_size(int32_t fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? (double)st.st_size : (double)-errno;
}

/* errors.c - ABI version and error names. */
#include "veloq_buffer.h"

#include <string.h>

uint32_t vb_abi_version(void) { return VB_ABI_VERSION; }

void vb_noop(void) {}

const char *vb_strerror(int32_t code) {
    switch (code) {
    case VB_OK: return "success";
    case VB_ENOMEM: return "pool exhausted: no free block fits the request";
    case VB_EFAULT: return "not a buffer of this pool";
    case VB_EBUSY: return "pool still has live buffers";
    case VB_EINVAL: return "invalid argument";
    case VB_ERANGE: return "request larger than this pool can ever serve";
    case VB_EDOUBLEFREE: return "buffer is already free (double free)";
    case VB_EINTERIOR: return "address inside the pool but not the start of a buffer";
    case VB_ECORRUPT: return "pool invariant broken";
    case VB_EMEMLOCK: return "registration would pass RLIMIT_MEMLOCK";
    case VB_ENOSLOTS: return "the ring's registered-buffer table has no free slots";
    case VB_EKMEMLOCK: return "the kernel refused to pin the memory (RLIMIT_MEMLOCK)";
    case VB_EATTACHED: return "the pool is still attached in other threads";
    case VB_ESTALE: return "the pool of this share handle is closed";
    case VB_EMAP: return "the kernel refused to map the arena's memory";
    case VB_ENORESOLVE: return "the host name does not resolve to an IPv4 or IPv6 address";
    default: return code < 0 && code > -4096 ? strerror(-code) : "unknown error";
    }
}

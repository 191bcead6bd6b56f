/* fallback.c - see fallback.h. */
#include "fallback.h"

#include "pool_impl.h"
#include "veloq_buffer.h"

#include <stdlib.h>

#define NO_SLOT 0xFFFFFFFFu

int32_t vb_fallback_alloc(vb_fallback *fb, uint32_t size, uint32_t *capacity) {
    if (fb->free_head == NO_SLOT || fb->nslots == 0) {
        if (fb->nslots == 0) fb->free_head = NO_SLOT;
        uint32_t n = fb->nslots ? fb->nslots * 2 : 16;
        if (n > VB_HANDLE_PAGE_MASK + 1) n = VB_HANDLE_PAGE_MASK + 1;
        if (n == fb->nslots) return VB_ENOMEM;
        vb_fallback_slot *s = realloc(fb->slots, n * sizeof *s);
        if (!s) return VB_ENOMEM;
        for (uint32_t i = n; i-- > fb->nslots;) { /* chain new slots, lowest first */
            s[i].ptr = 0;
            s[i].capacity = 0;
            s[i].next_free = fb->free_head;
            fb->free_head = i;
        }
        fb->slots = s;
        fb->nslots = n;
    }
    uint64_t cap = ((uint64_t)size + VB_PAGE_SIZE - 1) & ~(uint64_t)(VB_PAGE_SIZE - 1);
    if (cap > INT32_MAX) return VB_ERANGE; /* capacity must fit vb_fallback_free's int32 */
    void *p = 0;
    if (posix_memalign(&p, VB_PAGE_SIZE, (size_t)cap) != 0) return VB_ENOMEM;
    uint32_t slot = fb->free_head;
    fb->free_head = fb->slots[slot].next_free;
    fb->slots[slot].ptr = p;
    fb->slots[slot].capacity = (uint32_t)cap;
    fb->live++;
    fb->live_bytes += cap;
    *capacity = (uint32_t)cap;
    return (int32_t)slot;
}

int32_t vb_fallback_free(vb_fallback *fb, uint32_t slot) {
    if (slot >= fb->nslots) return VB_EFAULT;
    vb_fallback_slot *s = &fb->slots[slot];
    if (!s->ptr) return VB_EDOUBLEFREE;
    uint32_t cap = s->capacity;
    free(s->ptr);
    s->ptr = 0;
    s->next_free = fb->free_head;
    fb->free_head = slot;
    fb->live--;
    fb->live_bytes -= cap;
    return (int32_t)cap;
}

void *vb_fallback_ptr(const vb_fallback *fb, uint32_t slot) {
    return slot < fb->nslots ? fb->slots[slot].ptr : 0;
}

int32_t vb_fallback_find(const vb_fallback *fb, const void *ptr) {
    const char *p = ptr;
    for (uint32_t i = 0; i < fb->nslots; i++) {
        const char *b = fb->slots[i].ptr;
        if (!b) continue;
        if (p == b) return (int32_t)i;
        if (p > b && p < b + fb->slots[i].capacity) return VB_EINTERIOR;
    }
    return VB_EFAULT;
}

int32_t vb_fallback_check(const vb_fallback *fb, char *msg, size_t n) {
    uint32_t live = 0, chained = 0;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < fb->nslots; i++)
        if (fb->slots[i].ptr) live++, bytes += fb->slots[i].capacity;
    if (live != fb->live || bytes != fb->live_bytes)
        return vb_corrupt(msg, n, "fallback: %u live slots (%llu bytes) found, %u (%llu) counted", live,
                          (unsigned long long)bytes, fb->live, (unsigned long long)fb->live_bytes);
    if (fb->nslots == 0) return 0;
    /* Walk the chain: at most nslots - live steps, every slot on it free.
     * A live slot there would be handed out twice. [item 10] */
    for (uint32_t s = fb->free_head; s != NO_SLOT; s = fb->slots[s].next_free) {
        if (s >= fb->nslots || chained++ >= fb->nslots - live)
            return vb_corrupt(msg, n, "fallback: free chain is broken or cyclic");
        if (fb->slots[s].ptr) return vb_corrupt(msg, n, "fallback: live slot %u is on the free chain", s);
    }
    if (chained != fb->nslots - live)
        return vb_corrupt(msg, n, "fallback: free chain holds %u of %u free slots", chained, fb->nslots - live);
    return 0;
}

void vb_fallback_destroy(vb_fallback *fb) {
    free(fb->slots);
    fb->slots = 0;
    fb->nslots = 0;
}

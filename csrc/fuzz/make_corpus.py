#!/usr/bin/env python3
"""Writes the seed corpus of the pool fuzzers (csrc/fuzz/corpus/{buddy,hybrid}/).

Each seed is a configuration and a short scenario in the input format that
fuzz_pool.c reads (see run_op and pick_size there); libFuzzer mutates from
these.  Rerun after changing the format:  python3 csrc/fuzz/make_corpus.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# Pool flags byte (config_flags): bits 0-2, page mode in bits 3-5, max_arenas - 1 in bits 6-7.
FALLBACK, RELEASE, POISON, POPULATE, HUGE = 1, 2, 4, 0x30, 0x38


def flags(*bits, max_arenas=1):
    f = (max_arenas - 1) << 6
    for b in bits:
        f |= b
    return f


# Sizes (pick_size): a tag byte, a delta byte (0: -1, 1: 0, 2: +1), then arguments.
def size_zero():
    return [0, 1]


def size_tiny(n):  # 1 + n bytes
    return [1, 1, n]


def size_pages(pages, delta=0):  # pages * 4096 + delta
    return [2, delta + 1, pages]


def size_huge(i):  # 0xFFFFFFFF, 2^31, 0x7FFFF001, 0xFFFFF000, 0xFFFFF001, 0x80001000
    return [4, 1, i]


def size_max(delta=0):  # the largest request, +-1
    return [5, delta + 1]


def size_block(i, delta=0):  # buddy: 4096 << i; hybrid: class i
    return [6, delta + 1, i]


# Operations (run_op): opcode byte % 22 (0xFF: a raw configuration).
def alloc(size):
    return [0] + size


def free(i):  # the i-th live buffer, by handle
    return [4, i, 0]


def free_ptr(i):  # ... by address
    return [6, i, 0]


def bad_free(kind, *args):  # pick_handle: 1 freed, 2 interior, 3 past the end, 4 no such arena,
    return [7, kind] + list(args)  # 5 fallback slot, 6 negative, 7 foreign, 8 page 0xFFFFF


def bad_free_ptr(kind, *args):  # pick_ptr: 1 interior, 2 freed, 3 foreign, 4 NULL, 5 stack,
    return [8, kind] + list(args)  # 6 heap, 7 next to an arena, 9 last byte / one past


def queue(live_indexes, end, size=None):  # end: 0 alloc, 1 flush, 2 stats, 3 nothing
    ops = [9, len(live_indexes) - 1]
    for i in live_indexes:
        ops += [1, i, 0]  # a live buffer
    ops += [end]
    return ops + (size or [])


def queue_bad(end):  # one handle that names nothing (-1)
    return [9, 0, 0, 6, 0, 0, end]


def queue_overflow(with_alloc):
    return [11, 1, 7, 1 if with_alloc else 0] + (size_tiny(0) if with_alloc else [])


def set_max(n):  # 7: an invalid count (1025)
    return [12, n] + ([1] if n == 7 else [])


QUERY = [13, 0, 1, 0, 0]
DESTROY_BUSY = [14]


# Shares and views (opcodes 16-21; one view per slot 0-2, all in the harness's thread).
SHARE = [16]


def unshare(reserved_index):  # a reservation, by index among them
    return [17, 1, reserved_index]


def attach(reserved_index):
    return [18, reserved_index, 3]


def view_alloc(k, size):
    return [19, k, 0] + size


def view_free(k, i):  # the i-th live buffer (its own: local; another arena's: pushed)
    return [19, k, 2, i, 0]


def view_queue_flush(k, live_indexes):
    ops = [19, k, 4, len(live_indexes) - 1]
    for i in live_indexes:
        ops += [1, i, 0]
    return ops + [0]


def view_live(k):
    return [19, k, 5]


def view_detach(k):
    return [19, k, 6]


def alloc_many(size, n):
    return [21] + size + [n]


def raw_buddy(size_sel, depth_sel, orders):  # size from a table (odd first byte), depth from a table
    return [0xFF, 1, size_sel, 1, depth_sel, orders, 0]


def raw_hybrid(classes):  # [(size bytes tag, count)]
    out = [0xFF, len(classes)]
    for step, count in classes:
        out += [2, step, 1, count]  # size = previous + 4096 * step; count = count % 5
    return out + [0]


def seq(*parts):
    out = []
    for p in parts:
        out += p
    return bytes(out)


BUDDY = {
    # 12 pages (8 + 4), depth 2 for orders 0-2: splits, merges, boundaries, bad frees.
    "split_merge": seq(
        [11, 2 | 3 << 5, 0],
        alloc(size_tiny(0)), alloc(size_tiny(200)), alloc(size_pages(3, +1)), alloc(size_pages(4)),
        free(0), free(1), free_ptr(0), alloc(size_max()), alloc(size_max(+1)), alloc(size_zero()),
        bad_free(2, 0, 0, 1), bad_free(1, 0), bad_free(3, 0, 5), bad_free(5, 3), bad_free(8, 0, 0),
        bad_free_ptr(1, 0, 0, 9, 0), bad_free_ptr(7, 0, 0), free(0), alloc(size_block(3)),
    ),
    # 16 pages, growth to 4 arenas, empty extra arenas returned, freed memory poisoned.
    "growth_release_poison": seq(
        [15, 1, flags(RELEASE, POISON, max_arenas=4)],
        *[alloc(size_pages(16)) for _ in range(5)],
        free(1), free(0), alloc(size_pages(8)), free(2), free(0), free(0),
        set_max(2), set_max(7), alloc(size_pages(16)), alloc(size_pages(16)), free(0),
    ),
    # The deferred-free queue: the reuse fast path, several at once, a bad one, a count overflow.
    "queue": seq(
        [31, 3 | 6 << 5, 0],
        *[alloc(size_tiny(0)) for _ in range(6)],
        queue([0], 0, size_tiny(9)), queue([1, 2, 2], 0, size_pages(2)), queue([0], 1),
        queue_bad(2), queue([1], 3), queue_overflow(True), queue_overflow(False), DESTROY_BUSY,
    ),
    # 4 pages, 2 arenas, then the global allocator.
    "fallback_exhausted": seq(
        [3, 0, flags(FALLBACK, max_arenas=2)],
        *[alloc(size_pages(4)) for _ in range(4)],
        bad_free_ptr(9, 3, 0, 0), bad_free(5, 1), free(3), free(2), QUERY,
    ),
    # Shares and views: remote frees both ways, a view's queue, detach and reuse, unshare, batches.
    "views": seq(
        [15, 2 | 3 << 5, flags(RELEASE, POISON, max_arenas=2)],
        SHARE, attach(0), view_alloc(0, size_pages(1)), view_alloc(0, size_pages(2)), alloc(size_pages(1)),
        view_free(0, 2), free(0), view_queue_flush(0, [1, 1]), view_live(0), alloc_many(size_pages(1), 3),
        DESTROY_BUSY, view_detach(0), SHARE, attach(0), view_alloc(0, size_tiny(5)), SHARE, unshare(0),
        unshare(0), SHARE, attach(0), view_alloc(0, size_pages(16)), view_alloc(0, size_pages(8)), view_free(1, 0),
        alloc_many(size_pages(16), 4), alloc_many(size_zero(), 2),
    ),
    # Pool configurations from the input: invalid sizes, depths, orders.
    "raw_create": seq(
        [0, 0, 0], raw_buddy(4, 3, 5), raw_buddy(2, 5, 3), raw_buddy(0, 0, 19), raw_buddy(1, 1, 20),
    ),
}

HYBRID = {
    # 4 classes (1, 3, 6, 10 pages; 2, 4, 1, 8 blocks): every class and its boundaries,
    # oversize to the global allocator, huge sizes refused, interior frees.
    "classes": seq(
        [3, 0 | 1 << 2, 1 | 3 << 2, 2 | 0 << 2, 3 | 7 << 2, 0],
        alloc(size_block(0)), alloc(size_block(1, +1)), alloc(size_block(2, -1)), alloc(size_block(3)),
        alloc(size_max(+1)), alloc(size_huge(2)), alloc(size_huge(0)), alloc(size_zero()),
        bad_free(2, 1, 0, 1), bad_free(9, 0, 1, 0), bad_free_ptr(1, 1, 0, 5, 0), free(0), free(0),
        bad_free(1, 0), free_ptr(0), alloc(size_pages(2)),
    ),
    # One 2-page class of 2 blocks: growth to 4 arenas, returned, poisoned, then fallback.
    "growth_release_poison": seq(
        [0, 1 | 1 << 2, flags(FALLBACK, RELEASE, POISON, max_arenas=4)],
        *[alloc(size_pages(2)) for _ in range(9)],
        free(2), free(2), free(0), alloc(size_pages(1)), set_max(1), set_max(3), free(0), free(0),
    ),
    "queue": seq(
        [1, 0 | 7 << 2, 1 | 3 << 2, 0],
        *[alloc(size_tiny(0)) for _ in range(5)], alloc(size_pages(3)),
        queue([0], 0, size_tiny(1)), queue([1, 1], 0, size_pages(3)), queue([0, 2], 1),
        queue_bad(0) + size_tiny(3), queue_overflow(True), DESTROY_BUSY,
    ),
    "views": seq(
        [1, 0 | 3 << 2, 1 | 1 << 2, flags(FALLBACK, RELEASE, max_arenas=2)],
        SHARE, SHARE, attach(0), attach(0), view_alloc(0, size_block(0)), view_alloc(1, size_block(1)),
        alloc(size_max(+1)), view_free(0, 2), view_free(1, 0), free(0), view_queue_flush(1, [0, 0]),
        view_live(0), view_live(1), alloc_many(size_block(1), 5), DESTROY_BUSY, view_detach(0), view_detach(1),
        SHARE, unshare(0), alloc_many(size_block(0), 2),
    ),
    "raw_create": seq(
        [0, 0, 0], raw_hybrid([(1, 2), (1, 1), (2, 3)]), raw_hybrid([(0, 1)]), raw_hybrid([(1, 0)]),
    ),
}


def main():
    for kind, seeds in (("buddy", BUDDY), ("hybrid", HYBRID)):
        d = os.path.join(HERE, "corpus", kind)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()

/**
 * The one FFI symbol table of libveloq_buffer (csrc/include/veloq_buffer.h).
 * Every other module binds the library through this object.
 *
 * Hot-path functions use only i32/u32 and pointers so Deno can call them as
 * V8 fast calls; 64-bit values appear only on cold paths.
 *
 * @module
 */

/** The ABI version this binding was written against (VB_ABI_VERSION). */
export const ABI_VERSION = 25;

/** Symbols of libveloq_buffer, as Deno.dlopen expects them. */
export const symbols = {
  vb_abi_version: { parameters: [], result: "u32" },
  vb_strerror: { parameters: ["i32"], result: "pointer" },
  vb_live_pools: { parameters: [], result: "u32" },
  vb_noop: { parameters: [], result: "void" },

  vb_buddy_create: {
    parameters: ["u64", "u32", "u32", "u32", "buffer"],
    result: "i32",
  },
  vb_hybrid_create: {
    parameters: ["buffer", "buffer", "u32", "u32", "buffer"],
    result: "i32",
  },
  vb_pool_destroy: { parameters: ["pointer"], result: "i32" },
  vb_pool_set_max_arenas: { parameters: ["pointer", "u32"], result: "i32" },

  vb_pool_alloc: { parameters: ["pointer", "u32"], result: "i32" },
  vb_pool_alloc_many: { parameters: ["pointer", "u32", "u32", "buffer"], result: "i32" },
  vb_pool_free: { parameters: ["pointer", "i32"], result: "i32" },
  vb_pool_flush: { parameters: ["pointer"], result: "i32" },
  vb_pool_out: { parameters: ["pointer"], result: "pointer" },
  vb_pool_ptr: { parameters: ["pointer", "i32"], result: "pointer" },

  vb_pool_region_count: { parameters: ["pointer"], result: "u32" },
  vb_pool_region_base: { parameters: ["pointer", "u32"], result: "pointer" },
  vb_pool_region_mapped: { parameters: ["pointer", "u32"], result: "i32" },
  vb_pool_region_size: { parameters: ["pointer", "u32"], result: "u64" },
  vb_pool_region_reg_index: { parameters: ["pointer", "u32"], result: "i32" },
  vb_pool_stats: { parameters: ["pointer", "buffer"], result: "void" },
  vb_pool_class_stats: {
    parameters: ["pointer", "u32", "buffer"],
    result: "i32",
  },
  vb_pool_check: { parameters: ["pointer"], result: "i32" },
  vb_pool_last_error: { parameters: ["pointer"], result: "pointer" },

  vb_ring_create: { parameters: ["u32", "u32", "u32", "buffer"], result: "i32" },
  vb_ring_destroy: { parameters: ["pointer"], result: "i32" },
  // (ring, op, fd, buf, len, offset, buf_index, user_data): the memory as a
  // typed array (a FixedBuf's view)...
  vb_ring_prep: {
    parameters: ["pointer", "u32", "i32", "buffer", "u32", "f64", "i32", "u32"],
    result: "i32",
  },
  // ...or as a raw pointer (memory this package did not allocate).
  vb_ring_prep_ptr: {
    name: "vb_ring_prep",
    parameters: ["pointer", "u32", "i32", "pointer", "u32", "f64", "i32", "u32"],
    result: "i32",
  },
  vb_ring_submit: { parameters: ["pointer"], result: "i32" },
  vb_ring_sq_ready: { parameters: ["pointer"], result: "u32" },
  vb_ring_auto_submits: { parameters: ["pointer"], result: "u32" },
  vb_ring_arm: { parameters: ["pointer"], result: "void" },
  // The one blocking call: runs on a helper thread, at most one at a time.
  vb_ring_wait: { parameters: ["pointer"], result: "i32", nonblocking: true },
  // (ring, wait_ms): completions as (user_data, res, flags) int32 triples.
  vb_ring_reap: { parameters: ["pointer", "u32"], result: "i32" },
  vb_ring_completions: { parameters: ["pointer"], result: "pointer" },
  vb_ring_completions_cap: { parameters: ["pointer"], result: "u32" },
  vb_ring_cancel_all: { parameters: ["pointer"], result: "i32" },
  vb_ring_buf_slots: { parameters: ["pointer"], result: "u32" },
  vb_ring_setup_flags: { parameters: ["pointer"], result: "u32" },
  vb_io_uring_disabled: { parameters: [], result: "i32" },

  // --- completion path (w14): one waiter per thread for all its rings ---
  vb_ring_prep_poll: { parameters: ["pointer", "i32", "u32", "u32", "u32"], result: "i32" },
  vb_thread_waiter: { parameters: ["buffer"], result: "i32" },
  vb_waiter_create: { parameters: ["buffer"], result: "i32" },
  vb_ring_set_waiter: { parameters: ["pointer", "pointer"], result: "i32" },
  vb_waiter_arm: { parameters: ["pointer"], result: "void" },
  // The one blocking call per JS thread, however many rings it has.
  vb_waiter_wait: { parameters: ["pointer"], result: "i32", nonblocking: true },
  vb_waiter_wake: { parameters: ["pointer"], result: "void" },
  vb_waiter_spin: { parameters: ["pointer", "u32"], result: "i32" },
  // Blocks THIS thread (not a helper) for up to max_us: short waits only.
  vb_waiter_block: { parameters: ["pointer", "u32"], result: "i32" },
  vb_ring_outstanding: { parameters: ["pointer"], result: "u32" },
  vb_now_ns: { parameters: [], result: "f64" },
  vb_waiter_woke_ns: { parameters: ["pointer"], result: "f64" },
  vb_waiter_rings: { parameters: ["pointer"], result: "u32" },
  vb_waiter_shutdown: { parameters: ["pointer"], result: "i32" },
  vb_thread_shutdown: { parameters: [], result: "i32" },
  // --- end completion path ---

  vb_pool_register: { parameters: ["pointer", "pointer"], result: "i32" },
  // (pool, rings as a BigUint64Array of addresses, count)
  vb_pool_register_rings: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  vb_pool_reg_mode: { parameters: ["pointer", "pointer"], result: "i32" },
  vb_memlock_limit: { parameters: [], result: "f64" },
  vb_has_ipc_lock: { parameters: [], result: "i32" },
  vb_pinned_bytes: { parameters: [], result: "f64" },

  vb_pool_share: { parameters: ["pointer", "buffer"], result: "i32" },
  vb_pool_unshare: { parameters: ["pointer", "u32"], result: "i32" },
  vb_pool_token: { parameters: ["pointer"], result: "u32" },
  vb_view_attach: { parameters: ["pointer", "u32", "u32", "buffer"], result: "i32" },
  vb_view_detach: { parameters: ["pointer"], result: "i32" },
  vb_view_alloc: { parameters: ["pointer", "u32"], result: "i32" },
  vb_view_flush: { parameters: ["pointer"], result: "i32" },
  vb_view_out: { parameters: ["pointer"], result: "pointer" },
  vb_view_arena: { parameters: ["pointer"], result: "u32" },
  vb_view_base: { parameters: ["pointer"], result: "pointer" },
  vb_view_size: { parameters: ["pointer"], result: "u64" },
  vb_view_reg: { parameters: ["pointer"], result: "i32" },
  vb_view_arena_reg: { parameters: ["pointer", "u32"], result: "i32" },
  vb_view_mapped: { parameters: ["pointer"], result: "i32" },

  vb_file_open: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  vb_file_close: { parameters: ["i32"], result: "i32" },
  vb_file_dio_align: { parameters: ["i32"], result: "i32" },
  vb_file_size: { parameters: ["i32"], result: "f64" },

  // --- file operations beyond read/write (csrc/ring_ops.c, src/file_ops.ts) ---
  vb_ring_op_supported: { parameters: ["pointer", "u32"], result: "i32" },
  vb_ring_sq_space: { parameters: ["pointer"], result: "u32" },
  vb_ring_link_last: { parameters: ["pointer", "u32"], result: "i32" },
  // (ring, fd, datasync, user_data)
  vb_op_fsync: { parameters: ["pointer", "i32", "u32", "u32"], result: "i32" },
  // (ring, op, fd, iovecs as a BigUint64Array, count, offset, buf_index, user_data)
  vb_op_vec: {
    parameters: ["pointer", "u32", "i32", "buffer", "u32", "f64", "i32", "u32"],
    result: "i32",
  },
  // (ring, fd, flags, offset, length, user_data)
  vb_op_fallocate: { parameters: ["pointer", "i32", "u32", "f64", "f64", "u32"], result: "i32" },
  // (ring, fd, length, user_data)
  vb_op_ftruncate: { parameters: ["pointer", "i32", "f64", "u32"], result: "i32" },
  // (ring, target user_data, user_data)
  vb_op_cancel: { parameters: ["pointer", "u32", "u32"], result: "i32" },
  // (ring, timespec scratch as a BigInt64Array(2), milliseconds, user_data)
  vb_op_link_timeout: { parameters: ["pointer", "buffer", "f64", "u32"], result: "i32" },
  // ftruncate(2) on Deno's blocking pool, where the kernel has no FTRUNCATE op.
  vb_file_truncate: { parameters: ["i32", "f64"], result: "i32", nonblocking: true },

  // --- threads ending (w13b: csrc/resident.c, csrc/thread_exit.c) ---------
  vb_library_resident: { parameters: [], result: "i32" },
  vb_thread_exit_arm: { parameters: [], result: "i32" },
  vb_thread_exits: { parameters: [], result: "u32" },
  vb_thread_own_fd: { parameters: ["i32"], result: "i32" },
  vb_thread_disown_fd: { parameters: ["i32"], result: "void" },
  vb_thread_track_view: { parameters: ["pointer"], result: "pointer" },
  vb_thread_view_held: { parameters: ["pointer"], result: "pointer" },
  vb_thread_view_hold: { parameters: ["pointer", "i32", "u32"], result: "i32" },
  vb_thread_view_detach: { parameters: ["pointer"], result: "i32" },
  vb_thread_track_pool: { parameters: ["pointer"], result: "i32" },
  vb_thread_untrack_pool: { parameters: ["pointer"], result: "i32" },
  vb_view_stats: { parameters: ["pointer", "buffer"], result: "void" },
  vb_view_class_stats: { parameters: ["pointer", "u32", "buffer"], result: "i32" },

  // --- network (csrc/net.c; owner w16) -----------------------------------
  vb_net_listen: { parameters: ["buffer", "u32", "u32", "u32", "buffer"], result: "i32" },
  vb_net_resolve: { parameters: ["buffer", "u32", "u32", "buffer", "buffer"], result: "i32" },
  vb_net_socket: { parameters: ["u32"], result: "i32" },
  vb_net_addr: { parameters: ["i32", "u32", "buffer", "u32", "buffer"], result: "i32" },
  vb_net_set_nodelay: { parameters: ["i32", "u32"], result: "i32" },
  vb_net_get_nodelay: { parameters: ["i32"], result: "i32" },
  vb_net_close_now: { parameters: ["i32"], result: "i32" },
  vb_net_prep_accept: { parameters: ["pointer", "i32", "u32", "u32"], result: "i32" },
  vb_net_prep_connect: { parameters: ["pointer", "i32", "buffer", "u32", "u32"], result: "i32" },
  vb_net_prep_recv: { parameters: ["pointer", "i32", "buffer", "u32", "u32"], result: "i32" },
  vb_net_prep_recv_select: { parameters: ["pointer", "i32", "u32", "u32", "u32"], result: "i32" },
  // (ring, fd, buf, len, zero_copy, buf_index, user_data)
  vb_net_prep_send: {
    parameters: ["pointer", "i32", "buffer", "u32", "u32", "i32", "u32"],
    result: "i32",
  },
  vb_net_prep_shutdown: { parameters: ["pointer", "i32", "u32", "u32"], result: "i32" },
  vb_net_prep_close: { parameters: ["pointer", "i32", "u32"], result: "i32" },
  vb_net_features: { parameters: ["pointer"], result: "i32" },
  // (ring, bgid, entries, size, addrs as a BigUint64Array, out cell)
  vb_buf_group_create: {
    parameters: ["pointer", "u32", "u32", "u32", "buffer", "buffer"],
    result: "i32",
  },
  vb_buf_group_recycle: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  vb_buf_group_destroy: { parameters: ["pointer", "pointer"], result: "i32" },
  // --- end of network ------------------------------------------------------
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound library. */
export type VeloqLib = Deno.DynamicLibrary<typeof symbols>;

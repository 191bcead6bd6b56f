//! Builds libveloq_buffer (the C core in csrc/) with zig cc.
//!
//!   zig build              zig-out/lib/libveloq_buffer.so (ReleaseFast)
//!   zig build test         C tests (ReleaseSafe: UBSan traps stay on)
//!   zig build bench        C allocation benchmarks (ReleaseFast)
//!
//! Options: -Doptimize=Debug|ReleaseSafe|ReleaseFast|ReleaseSmall,
//!          -Dtarget=aarch64-linux-gnu (cross build; see -Dliburing-lib),
//!          -Dliburing-lib=/path/to/liburing.a, -Dliburing-include=/path,
//!          -Dstrip=true (release builds: see scripts/release.ts).
const std = @import("std");

/// Every C source of the library, in dependency order.
const lib_sources = [_][]const u8{
    "csrc/arena.c",
    "csrc/buddy.c",
    "csrc/hybrid.c",
    "csrc/fallback.c",
    "csrc/pool.c",
    "csrc/errors.c",
    "csrc/registrar_uring.c",
    "csrc/registered.c",
    "csrc/ring.c",
    "csrc/waiter.c",
    "csrc/file.c",
    "csrc/ring_ops.c",
    "csrc/shared.c",
    "csrc/resident.c",
    "csrc/thread_exit.c",
    "csrc/net.c",
};

const c_flags = [_][]const u8{
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Werror",
    "-fvisibility=hidden",
    // Calls between exported functions go direct, not through the PLT.
    "-fno-semantic-interposition",
    // Four instructions fewer in every hot function (alloc/free are ~20).
    "-fomit-frame-pointer",
};

pub fn build(b: *std.Build) void {
    // Baseline CPU by default: the library ships to other machines, and
    // valgrind cannot run AVX-512 code that -mcpu=native would emit.
    const target = b.standardTargetOptions(.{ .default_target = .{ .cpu_model = .baseline } });
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "Optimization mode (default ReleaseFast)") orelse .ReleaseFast;
    const uring = liburing(b, target);

    // The shared library Deno loads.
    // Release builds strip: no debug info (and no build paths) in the
    // shipped file, so the same sources give the same bytes anywhere.
    const strip = b.option(bool, "strip", "Strip the shared library (release builds)") orelse false;
    const lib_mod = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true, .strip = strip });
    addCore(b, lib_mod, uring);
    const lib = b.addLibrary(.{ .linkage = .dynamic, .name = "veloq_buffer", .root_module = lib_mod });
    lib.setVersionScript(b.path("csrc/veloq_buffer.map"));
    b.installArtifact(lib);

    // A test tool: runs a command with io_uring_setup refused by seccomp.
    const deny_mod = b.createModule(.{ .target = target, .optimize = .ReleaseSafe, .link_libc = true });
    deny_mod.addCSourceFiles(.{ .files = &.{"csrc/tools/deny_uring.c"}, .flags = &c_flags });
    b.installArtifact(b.addExecutable(.{ .name = "vb-deny-uring", .root_module = deny_mod }));

    // C tests: the library sources compiled into one test program.
    const test_mod = b.createModule(.{ .target = target, .optimize = .ReleaseSafe, .link_libc = true });
    addCore(b, test_mod, uring);
    test_mod.addCSourceFiles(.{
        .files = &.{
            "csrc/tests/test_main.c",
            "csrc/tests/test_buddy.c",
            "csrc/tests/test_hybrid.c",
            "csrc/tests/test_model.c",
            "csrc/tests/test_growth.c",
            "csrc/tests/test_ring.c",
            "csrc/tests/test_waiter.c",
            "csrc/tests/test_threads.c",
            "csrc/tests/test_thread_exit.c",
            "csrc/tests/test_ring_ops.c",
            "csrc/tests/test_shared.c",
            "csrc/tests/test_edges.c",
            "csrc/tests/test_shared_stress.c",
            "csrc/tests/test_shared_review.c",
            "csrc/tests/test_shared_lazy.c",
            "csrc/tests/test_shared_pin_lock.c",
            "csrc/tests/test_net.c",
        },
        .flags = &c_flags,
    });
    test_mod.addIncludePath(b.path("csrc"));
    const test_exe = b.addExecutable(.{ .name = "vb_tests", .root_module = test_mod });
    const run_tests = b.addRunArtifact(test_exe);
    if (b.args) |args| run_tests.addArgs(args);
    run_tests.has_side_effects = true;
    const test_step = b.step("test", "Run the C tests");
    test_step.dependOn(&run_tests.step);

    // --- C allocation benchmark (zig build bench) ---------------------------
    // vb_bench: the library sources plus csrc/bench/, always ReleaseFast,
    // beside glibc, mimalloc and jemalloc (Debian libmimalloc-dev and
    // libjemalloc-dev).  Neither is linked: Debian's libmimalloc.so exports
    // malloc itself and, linked, would replace glibc's in the whole program,
    // so vb_bench dlopen()s it RTLD_LOCAL; jemalloc replaces malloc anyway,
    // so vb_bench re-runs itself with LD_PRELOAD=libjemalloc.so.2.  Built
    // only by this step; installed as zig-out/bin/vb_bench for profiling.
    // Arguments after `--` go to it (--runs N, --json PATH, --quick).
    const bench_mod = b.createModule(.{ .target = target, .optimize = .ReleaseFast, .link_libc = true });
    addCore(b, bench_mod, uring);
    bench_mod.addCSourceFiles(.{
        .files = &.{
            "csrc/bench/main.c",
            "csrc/bench/script.c",
            "csrc/bench/alloc_pool.c",
            "csrc/bench/alloc_libc.c",
            "csrc/bench/alloc_mimalloc.c",
            "csrc/bench/child.c",
            "csrc/bench/frag.c",
            "csrc/bench/report.c",
        },
        .flags = &c_flags,
    });
    const bench_exe = b.addExecutable(.{ .name = "vb_bench", .root_module = bench_mod });
    const run_bench = b.addRunArtifact(bench_exe);
    if (b.args) |args| run_bench.addArgs(args);
    run_bench.has_side_effects = true;
    const bench_step = b.step("bench", "Run the C allocation benchmarks (ReleaseFast)");
    bench_step.dependOn(&b.addInstallArtifact(bench_exe, .{}).step);
    bench_step.dependOn(&run_bench.step);

    // vb_bench_threads: a release from another thread vs the owner's own.
    const xthread_mod = b.createModule(.{ .target = target, .optimize = .ReleaseFast, .link_libc = true });
    addCore(b, xthread_mod, uring);
    xthread_mod.addCSourceFiles(.{ .files = &.{"csrc/bench/xthread.c"}, .flags = &c_flags });
    const xthread_exe = b.addExecutable(.{ .name = "vb_bench_threads", .root_module = xthread_mod });
    const run_xthread = b.addRunArtifact(xthread_exe);
    run_xthread.has_side_effects = true;
    run_xthread.step.dependOn(&run_bench.step); // after, not beside: 2 cores
    bench_step.dependOn(&run_xthread.step);
}

/// Where liburing comes from: its static archive is linked INTO our .so, so
/// the shipped library needs no liburing at run time.
const Liburing = struct { include: std.Build.LazyPath, archive: std.Build.LazyPath };

/// Debian's liburing-dev by default (multiarch path for the target), or
/// -Dliburing-lib / -Dliburing-include.  Its headers are copied into a
/// directory of their own: adding /usr/include itself would put the
/// system's libc headers in front of the ones zig provides for the target.
fn liburing(b: *std.Build, target: std.Build.ResolvedTarget) Liburing {
    const arch = @tagName(target.result.cpu.arch);
    const default_lib = b.fmt("/usr/lib/{s}-linux-gnu/liburing.a", .{arch});
    const lib_path = b.option([]const u8, "liburing-lib", "liburing.a to link") orelse default_lib;
    const inc = b.option([]const u8, "liburing-include", "directory holding liburing.h") orelse "/usr/include";
    const headers = b.addWriteFiles();
    _ = headers.addCopyFile(.{ .cwd_relative = b.pathJoin(&.{ inc, "liburing.h" }) }, "liburing.h");
    for ([_][]const u8{ "io_uring.h", "compat.h", "barrier.h" }) |h| {
        _ = headers.addCopyFile(.{ .cwd_relative = b.pathJoin(&.{ inc, "liburing", h }) }, b.pathJoin(&.{ "liburing", h }));
    }
    return .{ .include = headers.getDirectory(), .archive = .{ .cwd_relative = lib_path } };
}

/// Adds the library's sources, headers and liburing to a module.
fn addCore(b: *std.Build, m: *std.Build.Module, uring: Liburing) void {
    m.addIncludePath(b.path("csrc/include"));
    m.addIncludePath(uring.include);
    m.addCSourceFiles(.{ .files = &lib_sources, .flags = &c_flags });
    m.addObjectFile(uring.archive);
    // dlopen/dladdr (resident.c): in libdl before glibc 2.34 (the release
    // builds target 2.28); a stub on newer glibc.
    m.linkSystemLibrary("dl", .{});
}

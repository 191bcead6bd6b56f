//! Builds libveloq_buffer (the C core in csrc/) with zig cc.
//!
//!   zig build              zig-out/lib/libveloq_buffer.so (ReleaseFast)
//!   zig build test         C tests (ReleaseSafe: UBSan traps stay on)
//!   zig build bench        C allocation benchmarks (ReleaseFast)
//!
//! Options: -Doptimize=Debug|ReleaseSafe|ReleaseFast|ReleaseSmall,
//!          -Dtarget=aarch64-linux-gnu (cross build; see -Dliburing-lib),
//!          -Dliburing-lib=/path/to/liburing.a, -Dliburing-include=/path.
const std = @import("std");

/// Every C source of the library, in dependency order.
const lib_sources = [_][]const u8{
    "csrc/arena.c",
    "csrc/buddy.c",
    "csrc/hybrid.c",
    "csrc/fallback.c",
    "csrc/pool.c",
    "csrc/errors.c",
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

    // The shared library Deno loads.
    const lib_mod = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true });
    addCore(b, lib_mod);
    const lib = b.addLibrary(.{ .linkage = .dynamic, .name = "veloq_buffer", .root_module = lib_mod });
    b.installArtifact(lib);

    // C tests: the library sources compiled into one test program.
    const test_mod = b.createModule(.{ .target = target, .optimize = .ReleaseSafe, .link_libc = true });
    addCore(b, test_mod);
    test_mod.addCSourceFiles(.{
        .files = &.{
            "csrc/tests/test_main.c",
            "csrc/tests/test_buddy.c",
            "csrc/tests/test_hybrid.c",
            "csrc/tests/test_model.c",
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
}

/// Adds the library's sources and headers to a module.
fn addCore(b: *std.Build, m: *std.Build.Module) void {
    m.addIncludePath(b.path("csrc/include"));
    m.addCSourceFiles(.{ .files = &lib_sources, .flags = &c_flags });
}

//! Builds libringcap.so for the host (zig-out/lib), and with -Dcross for every packaged
//! target (prebuilt/<arch>-linux/). The benchmark's native loops are a library of their own,
//! libringcap_bench.so, built for the host only: the package never carries it.
//! `zig build test` runs the Zig unit tests of both.
const std = @import("std");
const builtin = @import("builtin");

/// The one Zig version this project builds with; the Makefile installs exactly this one.
const zig_version_pinned = "0.17.1";

const cross_targets = [_][]const u8{ "x86_64-linux", "aarch64-linux" };

/// Each root sits in zig/ so that it may import every file below it.
const lib_root = "zig/lib.zig";
const bench_root = "zig/bench.zig";
/// Imports both roots, so a file they share has its tests run once.
const test_root = "zig/tests.zig";

pub fn build(b: *std.Build) void {
    const found = std.fmt.comptimePrint("{d}.{d}.{d}", .{ builtin.zig_version.major, builtin.zig_version.minor, builtin.zig_version.patch });
    if (!std.mem.eql(u8, found, zig_version_pinned)) {
        std.debug.print("ringcap needs Zig {s} exactly, found {s}: run `make zig` to install it\n", .{ zig_version_pinned, found });
        std.process.exit(1);
    }
    const target = b.standardTargetOptions(.{});
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "Optimization mode (default safe)") orelse .safe;
    const cross = b.option(bool, "cross", "Also build the packaged targets into prebuilt/") orelse false;

    b.installArtifact(library(b, "ringcap", lib_root, target, optimize));
    b.installArtifact(library(b, "ringcap_bench", bench_root, target, optimize));

    if (cross) {
        for (cross_targets) |triple| {
            const t = b.resolveTargetQuery(std.Target.Query.parse(.{ .arch_os_abi = triple }) catch unreachable);
            const lib = library(b, "ringcap", lib_root, t, optimize);
            // Packaged copies carry no debug info: they are ten times smaller.
            lib.root_module.strip = true;
            const install = b.addInstallArtifact(lib, .{ .dest_dir = .{ .override = .{ .custom = b.fmt("../prebuilt/{s}", .{triple}) } } });
            b.getInstallStep().dependOn(&install.step);
        }
    }

    const unit = b.addTest(.{ .root_module = b.createModule(.{
        .root_source_file = b.path(test_root),
        .target = target,
        .optimize = .debug,
    }) });
    const run_unit = b.addRunArtifact(unit);
    // Run every time, so the summary always counts the tests (a cached run reports no count).
    run_unit.has_side_effects = true;
    b.step("test", "Run the Zig unit tests").dependOn(&run_unit.step);
}

fn library(b: *std.Build, name: []const u8, root: []const u8, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode) *std.Build.Step.Compile {
    return b.addLibrary(.{
        .name = name,
        .linkage = .dynamic,
        .root_module = b.createModule(.{
            .root_source_file = b.path(root),
            .target = target,
            .optimize = optimize,
            .link_libc = false,
        }),
    });
}

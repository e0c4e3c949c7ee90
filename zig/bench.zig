//! libringcap_bench: the benchmark's native baselines, a library of its own that only bench/
//! loads (`zig build` installs it beside libringcap.so; the published package does not carry
//! it). A loop opens its own socket with the library's set-up code, compiled in here, and runs
//! the bench's per-packet work in Zig:
//!
//!   ringcap_bench_ring_open   a TPACKET_V3 ring, set up as `ringcap_capture_open` does
//!   ringcap_bench_recv_open   a plain socket read with recvmsg (batch 1) or recvmmsg
//!   ringcap_bench_loop_run    reads until a count, a time limit, or the wake fd
//!   ringcap_bench_loop_close  closes either kind
//!
//! Opening and running are separate calls so a caller can say "ready" in between. Every export
//! returns a status (`abi.Status`); the errno behind a failure travels in an out-field.

const std = @import("std");
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const ring = @import("ring.zig");
const loop = @import("bench/loop.zig");
const ring_loop = @import("bench/ring_loop.zig");
const recv_loop = @import("bench/recv_loop.zig");

pub const panic = sys.QuietPanic("libringcap_bench");

pub const LoopResult = loop.LoopResult;

/// Bumped whenever an export or a struct of this library changes.
pub const bench_version: u32 = 1;

/// An open loop: the socket it reads and how.
pub const Loop = union(enum) {
    ring: ring.Capture,
    recv: recv_loop.RecvSocket,

    fn create(value: Loop) abi.Error!*Loop {
        const self = std.heap.page_allocator.create(Loop) catch return error.OutOfMemory;
        self.* = value;
        return self;
    }

    fn destroy(self: *Loop) void {
        switch (self.*) {
            .ring => |*capture| capture.deinit(),
            .recv => |socket| sys.close(socket.fd),
        }
        std.heap.page_allocator.destroy(self);
    }

    fn run(self: *Loop, max_packets: u32, max_ms: u32, result: *LoopResult) abi.Error!void {
        switch (self.*) {
            .ring => |*capture| {
                defer result.errno = capture.errno.value;
                try ring_loop.run(capture, max_packets, max_ms, result);
            },
            .recv => |socket| {
                var err: sys.Errno = .{};
                defer result.errno = err.value;
                try recv_loop.run(socket, max_packets, max_ms, result, &err);
            },
        }
    }
};

/// The JSON `ringcap_bench_describe` returns: what bench/native.ts needs to call this library.
pub const description = blk: {
    @setEvalBranchQuota(1_000_000);
    const json = abi.json;
    break :blk json.object(&.{
        .{ "version", json.number(bench_version) },
        .{ "symbols", json.symbols(exports) },
        .{ "status", json.enumValues(abi.Status) },
        .{ "layout", json.layouts(&.{ .of(abi.CaptureConfig), .of(LoopResult) }) },
        .{ "flags", json.object(&.{.{ "capture", json.constants(abi.CaptureFlag) }}) },
        .{ "fanout_modes", json.constants(abi.FanoutMode) },
        .{ "constants", json.object(&.{
            .{ "ifname_size", json.number(abi.ifname_size) },
            .{ "netns_path_size", json.number(abi.netns_path_size) },
            .{ "recv_batch_max", json.number(recv_loop.batch_max) },
        }) },
    });
};

comptime {
    abi.exportAll(exports, "ringcap_bench_");
}

const invalid_argument = @backingInt(abi.Status.invalid_argument);

const exports = struct {
    pub fn version() callconv(.c) u32 {
        return bench_version;
    }

    /// Copies the description JSON into `buf` and returns its full length.
    pub fn describe(buf: ?[*]u8, len: u32) callconv(.c) u32 {
        return abi.copyOut(description, buf, len);
    }

    pub fn ring_open(cfg: ?*const abi.CaptureConfig, out_loop: ?*?*Loop, out_errno: ?*i32) callconv(.c) i32 {
        const c = cfg orelse return invalid_argument;
        const out = out_loop orelse return invalid_argument;
        const errno = out_errno orelse return invalid_argument;
        var err: sys.Errno = .{};
        defer errno.* = err.value;
        out.* = null;
        var capture = ring_loop.open(c, &err) catch |e| return abi.code(e);
        out.* = Loop.create(.{ .ring = capture }) catch |e| {
            capture.deinit();
            return abi.code(e);
        };
        return 0;
    }

    pub fn recv_open(cfg: ?*const abi.CaptureConfig, batch: u32, out_loop: ?*?*Loop, out_errno: ?*i32) callconv(.c) i32 {
        const c = cfg orelse return invalid_argument;
        const out = out_loop orelse return invalid_argument;
        const errno = out_errno orelse return invalid_argument;
        var err: sys.Errno = .{};
        defer errno.* = err.value;
        out.* = null;
        const socket = recv_loop.open(c, batch, &err) catch |e| return abi.code(e);
        out.* = Loop.create(.{ .recv = socket }) catch |e| {
            sys.close(socket.fd);
            return abi.code(e);
        };
        return 0;
    }

    /// Reads until `max_packets` were seen, `max_ms` passed, or the wake fd became readable.
    pub fn loop_run(l: ?*Loop, max_packets: u32, max_ms: u32, out: ?*LoopResult) callconv(.c) i32 {
        const self = l orelse return invalid_argument;
        const result = out orelse return invalid_argument;
        result.* = std.mem.zeroes(LoopResult);
        return abi.codeOf(self.run(max_packets, max_ms, result));
    }

    pub fn loop_close(l: ?*Loop) callconv(.c) void {
        if (l) |self| self.destroy();
    }
};

test "the bench description is JSON that names every export and the loop's result" {
    const parsed = try std.json.parseFromSlice(std.json.Value, std.testing.allocator, description, .{});
    defer parsed.deinit();
    const root = parsed.value.object;
    const symbols = root.get("symbols").?.object;
    inline for (@typeInfo(exports).@"struct".decl_names) |name| try std.testing.expect(symbols.get(name) != null);
    const result = root.get("layout").?.object.get("LoopResult").?.object;
    try std.testing.expectEqual(@as(i64, @sizeOf(LoopResult)), result.get("size").?.integer);
    try std.testing.expectEqual(@as(i64, @offsetOf(LoopResult, "errno")), result.get("errno").?.integer);
}

test "bench exports reject missing arguments with a status, and closing nothing is harmless" {
    var result: LoopResult = undefined;
    try std.testing.expectEqual(invalid_argument, exports.loop_run(null, 1, 1, &result));
    var l: ?*Loop = null;
    var errno: i32 = 0;
    try std.testing.expectEqual(invalid_argument, exports.ring_open(null, &l, &errno));
    var cfg = std.mem.zeroes(abi.CaptureConfig);
    @memcpy(cfg.ifname[0..2], "lo");
    try std.testing.expectEqual(invalid_argument, exports.recv_open(&cfg, 0, &l, &errno));
    try std.testing.expectEqual(invalid_argument, exports.recv_open(&cfg, recv_loop.batch_max + 1, &l, &errno));
    exports.loop_close(null);
}

test {
    _ = loop;
    _ = ring_loop;
    _ = recv_loop;
}

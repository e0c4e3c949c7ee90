//! libringcap: the exported C ABI. Each export is thin: check arguments, call the module that
//! does the work, and map its error to a status code through `abi.status`.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const ring = @import("ring.zig");
const gen = @import("gen.zig");
const native_loop = @import("native_loop.zig");
const recv_loop = @import("recv_loop.zig");

/// Bumped whenever an export or a struct that crosses the boundary changes.
pub const abi_version: u32 = 2;

/// A panic inside a host process must not pull in stack-trace machinery: say why and stop.
pub const panic = std.debug.FullPanic(panicHandler);

fn panicHandler(msg: []const u8, _: ?usize) noreturn {
    @branchHint(.cold);
    const prefix = "libringcap: internal error: ";
    _ = linux.write(2, prefix, prefix.len);
    _ = linux.write(2, msg.ptr, msg.len);
    _ = linux.write(2, "\n", 1);
    @trap();
}

fn code(result: abi.Error!void) i32 {
    result catch |err| return @intFromEnum(abi.status(err));
    return 0;
}

export fn ringcap_abi_version() callconv(.c) u32 {
    return abi_version;
}

/// Copies the layout JSON into `buf` and returns its full length (call again if it was larger).
export fn ringcap_layout_json(buf: ?[*]u8, len: u32) callconv(.c) u32 {
    const text = abi.layout_json;
    if (buf) |b| {
        const n = @min(len, text.len);
        @memcpy(b[0..n], text[0..n]);
    }
    return @intCast(text.len);
}

fn program(ptr: ?[*]const ring.SockFilter, len: u32) []const ring.SockFilter {
    return if (ptr) |p| p[0..len] else &.{};
}

export fn ringcap_capture_open(
    cfg: ?*const abi.CaptureConfig,
    filter: ?[*]const ring.SockFilter,
    filter_len: u32,
    fanout_prog: ?[*]const ring.SockFilter,
    fanout_prog_len: u32,
    info: ?*abi.CaptureInfo,
) callconv(.c) i32 {
    const c = cfg orelse return @intFromEnum(abi.Status.invalid_argument);
    const out = info orelse return @intFromEnum(abi.Status.invalid_argument);
    out.* = std.mem.zeroes(abi.CaptureInfo);
    if (filter == null and filter_len != 0) return @intFromEnum(abi.Status.invalid_argument);
    if (fanout_prog == null and fanout_prog_len != 0) return @intFromEnum(abi.Status.invalid_argument);
    return code(ring.open(c, program(filter, filter_len), program(fanout_prog, fanout_prog_len), out));
}

/// Returns the index of the block now held by the caller, or a negative status
/// (`timed_out`, `woken`, or an error). `timeout_ms` < 0 waits until a block or a wake-up.
export fn ringcap_capture_next_block(handle: u32, timeout_ms: i32, out: ?*abi.BlockInfo) callconv(.c) i32 {
    const capture = ring.table.get(handle) catch |err| return @intFromEnum(abi.status(err));
    const index = capture.nextBlock(timeout_ms, out) catch |err| return @intFromEnum(abi.status(err));
    return @intCast(index);
}

export fn ringcap_capture_release_block(handle: u32) callconv(.c) i32 {
    const capture = ring.table.get(handle) catch |err| return @intFromEnum(abi.status(err));
    return code(capture.releaseBlock());
}

export fn ringcap_capture_stats(handle: u32, out: ?*abi.CaptureStats) callconv(.c) i32 {
    const capture = ring.table.get(handle) catch |err| return @intFromEnum(abi.status(err));
    const stats = out orelse return @intFromEnum(abi.Status.invalid_argument);
    stats.* = capture.readStats() catch |err| return @intFromEnum(abi.status(err));
    return 0;
}

/// The errno behind the last failure on this capture (0 if none).
export fn ringcap_capture_errno(handle: u32) callconv(.c) i32 {
    const capture = ring.table.get(handle) catch return 0;
    return capture.errno.value;
}

/// Closes the socket and unmaps the ring. Unknown or already closed handles are ignored.
export fn ringcap_capture_close(handle: u32) callconv(.c) void {
    ring.close(handle);
}

/// A wake-up handle: an eventfd that a capture polls beside its ring (CaptureConfig.wake_fd).
/// Signalled, it stays readable until reset, so one signal ends every wait that watches it.
export fn ringcap_waker_open(out_fd: ?*i32) callconv(.c) i32 {
    const out = out_fd orelse return @intFromEnum(abi.Status.invalid_argument);
    const rc = linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
    switch (sys.errnoOf(rc)) {
        .SUCCESS => {
            out.* = @intCast(rc);
            return 0;
        },
        .MFILE, .NFILE, .NODEV => return @intFromEnum(abi.Status.system_resources),
        .NOMEM => return @intFromEnum(abi.Status.out_of_memory),
        else => return @intFromEnum(abi.Status.unexpected),
    }
}

export fn ringcap_waker_signal(fd: i32) callconv(.c) i32 {
    const one: u64 = 1;
    while (true) {
        switch (sys.errnoOf(linux.write(fd, std.mem.asBytes(&one), 8))) {
            .SUCCESS, .AGAIN => return 0, // AGAIN: the counter is saturated, so it is signalled.
            .INTR => continue,
            .BADF => return @intFromEnum(abi.Status.bad_handle),
            else => return @intFromEnum(abi.Status.unexpected),
        }
    }
}

export fn ringcap_waker_reset(fd: i32) callconv(.c) i32 {
    var value: u64 = 0;
    while (true) {
        switch (sys.errnoOf(linux.read(fd, std.mem.asBytes(&value), 8))) {
            .SUCCESS, .AGAIN => return 0,
            .INTR => continue,
            .BADF => return @intFromEnum(abi.Status.bad_handle),
            else => return @intFromEnum(abi.Status.unexpected),
        }
    }
}

export fn ringcap_waker_close(fd: i32) callconv(.c) void {
    if (fd >= 0) sys.close(fd);
}

export fn ringcap_gen_open(cfg: ?*const abi.GenConfig, out_handle: ?*u32, out_errno: ?*i32) callconv(.c) i32 {
    const c = cfg orelse return @intFromEnum(abi.Status.invalid_argument);
    const h = out_handle orelse return @intFromEnum(abi.Status.invalid_argument);
    const e = out_errno orelse return @intFromEnum(abi.Status.invalid_argument);
    e.* = 0;
    return code(gen.open(c, h, e));
}

export fn ringcap_gen_send(handle: u32, count: u32, max_ms: u32, out: ?*abi.GenResult) callconv(.c) i32 {
    const result = out orelse return @intFromEnum(abi.Status.invalid_argument);
    return code(gen.send(handle, count, max_ms, result));
}

export fn ringcap_gen_frame_length(handle: u32) callconv(.c) i32 {
    const len = gen.frameLength(handle) catch |err| return @intFromEnum(abi.status(err));
    return @intCast(len);
}

export fn ringcap_gen_close(handle: u32) callconv(.c) void {
    gen.close(handle);
}

comptime {
    _ = native_loop;
    _ = recv_loop;
}

test {
    _ = @import("handles.zig");
    _ = ring;
    _ = gen;
}

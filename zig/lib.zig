//! libringcap: the exported C ABI. `exports` is the one list of symbols: each of its functions is
//! exported as `ringcap_<name>` and described (arguments, return type) by `ringcap_describe`.
//! Each export is thin: check arguments, call the module that does the work, and map its error
//! to a status code through `abi.code`.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const ring = @import("ring.zig");
const gen = @import("gen.zig");
const watch = @import("watch.zig");
const flows = @import("flows.zig");

pub const panic = sys.QuietPanic("libringcap");

const invalid_argument = @backingInt(abi.Status.invalid_argument);

/// The JSON `ringcap_describe` returns: statuses, symbols, layouts, flags, all derived.
pub const description = abi.describe(exports);

comptime {
    abi.exportAll(exports, "ringcap_");
}

const exports = struct {
    pub fn abi_version() callconv(.c) u32 {
        return abi.version;
    }

    /// Copies the description JSON into `buf` and returns its full length (call again if it
    /// was larger than `len`).
    pub fn describe(buf: ?[*]u8, len: u32) callconv(.c) u32 {
        return abi.copyOut(description, buf, len);
    }

    pub fn capture_open(
        cfg: ?*const abi.CaptureConfig,
        filter: ?[*]const ring.SockFilter,
        filter_len: u32,
        fanout_prog: ?[*]const ring.SockFilter,
        fanout_prog_len: u32,
        info: ?*abi.CaptureInfo,
    ) callconv(.c) i32 {
        const c = cfg orelse return invalid_argument;
        const out = info orelse return invalid_argument;
        out.* = std.mem.zeroes(abi.CaptureInfo);
        if (filter == null and filter_len != 0) return invalid_argument;
        if (fanout_prog == null and fanout_prog_len != 0) return invalid_argument;
        return abi.codeOf(ring.open(c, program(filter, filter_len), program(fanout_prog, fanout_prog_len), out));
    }

    /// Returns the index of the block now held by the caller, or a negative status
    /// (`timed_out`, `woken`, or an error). `timeout_ms` < 0 waits until a block or a wake-up.
    pub fn capture_next_block(handle: u32, timeout_ms: i32, out: ?*abi.BlockInfo) callconv(.c) i32 {
        const capture = ring.table.get(handle) catch |err| return abi.code(err);
        const index = capture.nextBlock(timeout_ms, out) catch |err| return abi.code(err);
        return @intCast(index);
    }

    /// Copies the name of interface `ifindex` in the capture's namespace into `buf` (as much as
    /// fits in `len`) and returns its length, or a negative status (`no_such_interface`).
    pub fn capture_interface_name(handle: u32, ifindex: i32, buf: ?[*]u8, len: u32) callconv(.c) i32 {
        const capture = ring.table.get(handle) catch |err| return abi.code(err);
        var name: [abi.ifname_size]u8 = undefined;
        const text = capture.interfaceName(ifindex, &name) catch |err| return abi.code(err);
        return @intCast(abi.copyOut(text, buf, len));
    }

    pub fn capture_release_block(handle: u32) callconv(.c) i32 {
        const capture = ring.table.get(handle) catch |err| return abi.code(err);
        return abi.codeOf(capture.releaseBlock());
    }

    pub fn capture_stats(handle: u32, out: ?*abi.CaptureStats) callconv(.c) i32 {
        const capture = ring.table.get(handle) catch |err| return abi.code(err);
        const stats = out orelse return invalid_argument;
        stats.* = capture.readStats() catch |err| return abi.code(err);
        return 0;
    }

    /// The errno behind the last failure on this capture (0 if none).
    pub fn capture_errno(handle: u32) callconv(.c) i32 {
        const capture = ring.table.get(handle) catch return 0;
        return capture.errno.value;
    }

    /// Closes the socket and unmaps the ring. Unknown or already closed handles are ignored.
    pub fn capture_close(handle: u32) callconv(.c) void {
        ring.close(handle);
    }

    /// Starts the capture's watcher thread (once) and puts the read end of its pipe in
    /// `out_fd`: after `capture_arm` returns 0, one byte arrives there when a block may be ready.
    pub fn capture_watch(handle: u32, out_fd: ?*i32) callconv(.c) i32 {
        const out = out_fd orelse return invalid_argument;
        const capture = ring.table.get(handle) catch |err| return abi.code(err);
        out.* = capture.watchStart() catch |err| return abi.code(err);
        return 0;
    }

    /// 1: a block is ready now (take it with `capture_next_block(handle, 0, ...)`); 0: the
    /// watcher is armed and writes a byte when one may be; or a negative status.
    pub fn capture_arm(handle: u32) callconv(.c) i32 {
        const capture = ring.table.get(handle) catch |err| return abi.code(err);
        const ready = capture.watchArm() catch |err| return abi.code(err);
        return @intFromBool(ready);
    }

    /// Stops the watcher thread; its reader sees end-of-file. Nothing happens without one.
    pub fn capture_unwatch(handle: u32) callconv(.c) void {
        const capture = ring.table.get(handle) catch return;
        capture.watchStop();
    }

    /// Closes the read end of a watcher's pipe, once the reader no longer watches it.
    pub fn watch_close_reader(fd: i32) callconv(.c) void {
        watch.closeReader(fd);
    }

    /// A wake-up handle: an eventfd that a capture polls beside its ring (CaptureConfig.wake_fd).
    /// Signalled, it stays readable until reset, so one signal ends every wait that watches it.
    pub fn waker_open(out_fd: ?*i32) callconv(.c) i32 {
        const out = out_fd orelse return invalid_argument;
        const rc = linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
        switch (sys.errnoOf(rc)) {
            .SUCCESS => {
                out.* = @intCast(rc);
                return 0;
            },
            .MFILE, .NFILE, .NODEV => return abi.code(error.SystemResources),
            .NOMEM => return abi.code(error.OutOfMemory),
            else => return abi.code(error.Unexpected),
        }
    }

    pub fn waker_signal(fd: i32) callconv(.c) i32 {
        const one: u64 = 1;
        return switch (sys.errnoOf(sys.retry(linux.write, .{ fd, std.mem.asBytes(&one), 8 }))) {
            .SUCCESS, .AGAIN => 0, // AGAIN: the counter is saturated, so it is signalled.
            .BADF => abi.code(error.BadHandle),
            else => abi.code(error.Unexpected),
        };
    }

    pub fn waker_reset(fd: i32) callconv(.c) i32 {
        var value: u64 = 0;
        return switch (sys.errnoOf(sys.retry(linux.read, .{ fd, std.mem.asBytes(&value), 8 }))) {
            .SUCCESS, .AGAIN => 0,
            .BADF => abi.code(error.BadHandle),
            else => abi.code(error.Unexpected),
        };
    }

    pub fn waker_close(fd: i32) callconv(.c) void {
        if (fd >= 0) sys.close(fd);
    }

    /// Opens a generator; `info` gets its handle, or on failure the errno (and, for
    /// `frame_too_large`, the interface's MTU and the longest frame it takes).
    /// The timestamp types the interface of `cfg.ifname` (in `cfg.netns_path`) offers, as bits
    /// `1 << TimestampType` (host is always one), or a negative status; the rest of `cfg` is unused.
    pub fn timestamp_types(cfg: ?*const abi.CaptureConfig) callconv(.c) i32 {
        const c = cfg orelse return invalid_argument;
        const bits = ring.timestampTypes(c) catch |err| return abi.code(err);
        return @intCast(bits);
    }

    pub fn gen_open(cfg: ?*const abi.GenConfig, info: ?*abi.GenInfo) callconv(.c) i32 {
        const c = cfg orelse return invalid_argument;
        const out = info orelse return invalid_argument;
        out.* = std.mem.zeroes(abi.GenInfo);
        return abi.codeOf(gen.open(c, out));
    }

    pub fn gen_send(handle: u32, count: u32, max_ms: u32, out: ?*abi.GenResult) callconv(.c) i32 {
        const result = out orelse return invalid_argument;
        return abi.codeOf(gen.send(handle, count, max_ms, result));
    }

    pub fn gen_close(handle: u32) callconv(.c) void {
        gen.close(handle);
    }

    /// Opens a native flow cache (flows.zig); `out_handle` gets its handle.
    pub fn flows_open(cfg: ?*const abi.FlowConfig, out_handle: ?*u32) callconv(.c) i32 {
        const c = cfg orelse return invalid_argument;
        const out = out_handle orelse return invalid_argument;
        out.* = flows.open(c) catch |err| return abi.code(err);
        return 0;
    }

    /// Frees a flow cache. Unknown or already closed handles are ignored.
    pub fn flows_close(handle: u32) callconv(.c) void {
        flows.close(handle);
    }

    /// Counts every frame of the block that capture `capture` holds (index `block_index`):
    /// 0 when done, 1 when the record queue filled (take the records, then call again with the
    /// same block, which goes on where it stopped), or a negative status (`block_not_held`).
    pub fn flows_block(handle: u32, capture: u32, block_index: u32) callconv(.c) i32 {
        const cache = flows.table.get(handle) catch |err| return abi.code(err);
        const progress = flows.addHeldBlock(cache, capture, block_index) catch |err| return abi.code(err);
        return @intFromBool(progress == .more);
    }

    /// Ends idle flows and reports long ones at `now_ms` (null: the latest packet timestamp
    /// counted): 0 when done, 1 when the record queue filled (take, then call again).
    pub fn flows_expire(handle: u32, now_ms: ?*const f64) callconv(.c) i32 {
        const cache = flows.table.get(handle) catch |err| return abi.code(err);
        const now = if (now_ms) |n| n.* else cache.latest_ms;
        return @intFromBool(cache.expire(now) == .more);
    }

    /// Ends every flow: 0 when done, 1 when the record queue filled (take, then call again).
    pub fn flows_flush(handle: u32) callconv(.c) i32 {
        const cache = flows.table.get(handle) catch |err| return abi.code(err);
        return @intFromBool(cache.flush() == .more);
    }

    /// Moves up to `len` queued records into `out`, oldest first; returns how many.
    pub fn flows_take(handle: u32, out: ?[*]abi.FlowRecord, len: u32) callconv(.c) i32 {
        const cache = flows.table.get(handle) catch |err| return abi.code(err);
        const records = out orelse return if (len == 0) 0 else invalid_argument;
        return @intCast(cache.take(records[0..len]));
    }

    pub fn flows_stats(handle: u32, out: ?*abi.FlowStats) callconv(.c) i32 {
        const cache = flows.table.get(handle) catch |err| return abi.code(err);
        const stats = out orelse return invalid_argument;
        stats.* = cache.stats();
        return 0;
    }
};

fn program(ptr: ?[*]const ring.SockFilter, len: u32) []const ring.SockFilter {
    return if (ptr) |p| p[0..len] else &.{};
}

test "the description is JSON that names every export, status and layout" {
    const parsed = try std.json.parseFromSlice(std.json.Value, std.testing.allocator, description, .{});
    defer parsed.deinit();
    const root = parsed.value.object;
    try std.testing.expectEqual(@as(i64, abi.version), root.get("version").?.integer);
    const symbols = root.get("symbols").?.object;
    const names = @typeInfo(exports).@"struct".decl_names;
    try std.testing.expectEqual(names.len, symbols.count());
    inline for (names) |name| {
        const symbol = symbols.get(name) orelse return error.TestExpectedEqual;
        const params = @typeInfo(@TypeOf(@field(exports, name))).@"fn".param_types;
        try std.testing.expectEqual(params.len, symbol.object.get("args").?.array.items.len);
    }
    const open = symbols.get("capture_open").?.object;
    try std.testing.expectEqualStrings("i32", open.get("returns").?.string);
    try std.testing.expectEqualStrings("ptr", open.get("args").?.array.items[0].string);
    try std.testing.expectEqualStrings("u32", open.get("args").?.array.items[2].string);
    try std.testing.expectEqualStrings("void", symbols.get("capture_close").?.object.get("returns").?.string);

    const status = root.get("status").?.object;
    inline for (@typeInfo(abi.Status).@"enum".field_names) |name| {
        try std.testing.expectEqual(@as(i64, @backingInt(@field(abi.Status, name))), status.get(name).?.integer);
    }
    const layout = root.get("layout").?.object;
    const config = layout.get("CaptureConfig").?.object;
    try std.testing.expectEqual(@as(i64, @sizeOf(abi.CaptureConfig)), config.get("size").?.integer);
    try std.testing.expectEqual(@as(i64, @offsetOf(abi.CaptureConfig, "wake_fd")), config.get("wake_fd").?.integer);
    try std.testing.expectEqual(@as(i64, 28), layout.get("tpacket3_hdr").?.object.get("rxhash").?.integer);
    try std.testing.expectEqual(@as(i64, 24), layout.get("block_desc").?.object.get("seq_num").?.integer);
    try std.testing.expect(layout.get("GenResult").?.object.get("_reserved") == null);
    const flags = root.get("flags").?.object;
    try std.testing.expectEqual(@as(i64, 8), flags.get("capture").?.object.get("fanout").?.integer);
    try std.testing.expectEqual(@as(i64, 0x2000), flags.get("fanout").?.object.get("unique_id").?.integer);
    try std.testing.expectEqual(@as(i64, 7), root.get("fanout_modes").?.object.get("ebpf").?.integer);
}

test "describe copies what fits and always reports the full length" {
    var small: [8]u8 = undefined;
    const full = exports.describe(&small, small.len);
    try std.testing.expectEqual(@as(u32, description.len), full);
    try std.testing.expectEqualStrings(description[0..8], &small);
    try std.testing.expectEqual(full, exports.describe(null, 0));
}

test {
    _ = @import("handles.zig");
    _ = @import("ifdrops.zig");
    _ = abi;
    _ = sys;
    _ = ring;
    _ = gen;
    _ = watch;
    _ = @import("thread.zig");
}

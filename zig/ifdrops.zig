//! The interface's own receive drops: frames a NIC (or virtual interface) dropped before any
//! socket saw them, which PACKET_STATISTICS cannot count. Read from /proc/thread-self/net/dev,
//! opened once inside the capture's namespace at open time (a /proc/net file keeps the
//! namespace of the thread that opened it), re-read from offset 0 on every `read`. Its "drop"
//! column is rx_dropped plus rx_missed_errors, its "fifo" column rx_fifo_errors: the sum is the
//! three counters libpcap's PR #854 names (libpcap 1.10 itself reads only the last two, and only
//! for a promiscuous capture).
//!
//! Counts are deltas since the capture opened, kept per interface name: a counter that goes
//! back (the interface deleted and made again) counts from zero, an interface that appears after
//! the open counts whole (all of its drops are newer than the capture), and one that disappears
//! keeps what it had added. At most `tracked_max` interfaces are followed.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");

/// The most interfaces one capture follows (an "any" capture follows every interface of its
/// namespace, up to this many; later ones are not counted).
pub const tracked_max = 64;
/// /proc/net/dev is read into this much stack: about 120 bytes a line, two header lines.
const read_buf_bytes = 16 * 1024;

const Entry = struct { name: [abi.ifname_size]u8, last: u64 };

pub const InterfaceDrops = struct {
    /// /proc/thread-self/net/dev of the capture's namespace, or -1 when it could not be opened
    /// (no /proc): then the count stays 0.
    fd: i32 = -1,
    /// Every interface of the namespace ("any"), or only those in `entries` from the open.
    all: bool = false,
    entries: [tracked_max]Entry = undefined,
    count: usize = 0,
    total: u64 = 0,

    /// Opens the counters in the calling thread's namespace and takes the baseline. `names`
    /// are the capture's interfaces; `all` follows every interface instead.
    pub fn open(names: []const [:0]const u8, all: bool) InterfaceDrops {
        var self = InterfaceDrops{ .all = all };
        var err: sys.Errno = .{};
        self.fd = sys.openReadOnly("/proc/thread-self/net/dev", &err) catch -1;
        if (!all) for (names) |name| {
            if (self.count == tracked_max) break;
            self.entries[self.count] = .{ .name = fixed(name), .last = 0 };
            self.count += 1;
        };
        var buf: [read_buf_bytes]u8 = undefined;
        if (self.fetch(&buf)) |text| self.update(text, true);
        return self;
    }

    /// The drops since the open, re-read now (the last known figure if the read fails).
    pub fn read(self: *InterfaceDrops) u64 {
        var buf: [read_buf_bytes]u8 = undefined;
        if (self.fetch(&buf)) |text| self.update(text, false);
        return self.total;
    }

    pub fn deinit(self: *InterfaceDrops) void {
        if (self.fd >= 0) sys.close(self.fd);
        self.fd = -1;
    }

    fn fetch(self: *InterfaceDrops, buf: []u8) ?[]const u8 {
        if (self.fd < 0) return null;
        var n: usize = 0;
        while (n < buf.len) {
            const rc = sys.retry(linux.pread, .{ self.fd, buf[n..].ptr, buf.len - n, @as(i64, @intCast(n)) });
            if (sys.errnoOf(rc) != .SUCCESS) return null;
            if (rc == 0) break;
            n += rc;
        }
        return buf[0..n];
    }

    /// Adds each followed interface's increase since the last look (`baseline`: only records).
    fn update(self: *InterfaceDrops, text: []const u8, baseline: bool) void {
        var lines = std.mem.splitScalar(u8, text, '\n');
        while (lines.next()) |line| {
            const row = parseLine(line) orelse continue;
            const entry = self.find(row.name) orelse blk: {
                if (!self.all or self.count == tracked_max or row.name.len >= abi.ifname_size) continue;
                self.entries[self.count] = .{ .name = fixedSlice(row.name), .last = 0 };
                self.count += 1;
                // Seen at the open: its baseline. Seen later: it is newer than the capture.
                if (baseline) self.entries[self.count - 1].last = row.drops;
                break :blk &self.entries[self.count - 1];
            };
            if (!baseline) self.total += if (row.drops >= entry.last) row.drops - entry.last else row.drops;
            entry.last = row.drops;
        }
    }

    fn find(self: *InterfaceDrops, name: []const u8) ?*Entry {
        for (self.entries[0..self.count]) |*e| {
            const len = std.mem.indexOfScalar(u8, &e.name, 0) orelse e.name.len;
            if (std.mem.eql(u8, e.name[0..len], name)) return e;
        }
        return null;
    }
};

fn fixed(name: [:0]const u8) [abi.ifname_size]u8 {
    return fixedSlice(name);
}

fn fixedSlice(name: []const u8) [abi.ifname_size]u8 {
    var out: [abi.ifname_size]u8 = @splat(0);
    const n = @min(name.len, abi.ifname_size - 1);
    @memcpy(out[0..n], name[0..n]);
    return out;
}

const Row = struct { name: []const u8, drops: u64 };

/// One line of /proc/net/dev: "  name: bytes packets errs drop fifo frame ..." (the name may
/// touch its first number). Header lines have no number after their colon and give null.
fn parseLine(line: []const u8) ?Row {
    const colon = std.mem.indexOfScalar(u8, line, ':') orelse return null;
    const name = std.mem.trim(u8, line[0..colon], " \t");
    if (name.len == 0) return null;
    var fields = std.mem.tokenizeAny(u8, line[colon + 1 ..], " \t");
    var values: [5]u64 = undefined;
    for (&values) |*v| v.* = std.fmt.parseInt(u64, fields.next() orelse return null, 10) catch return null;
    return .{ .name = name, .drops = values[3] +| values[4] };
}

test "a /proc/net/dev line gives drop plus fifo; header lines give nothing" {
    try std.testing.expectEqual(@as(?Row, null), parseLine("Inter-|   Receive                                                |  Transmit"));
    try std.testing.expectEqual(@as(?Row, null), parseLine(" face |bytes    packets errs drop fifo frame compressed multicast|bytes"));
    const row = parseLine("  veth0: 1234      5    0    7    2    0          0         0     5678").?;
    try std.testing.expectEqualStrings("veth0", row.name);
    try std.testing.expectEqual(@as(u64, 9), row.drops);
    try std.testing.expectEqual(@as(u64, 3), parseLine("eth0:123456 9 0 1 2 0 0 0").?.drops);
}

test "drops are deltas per interface: new ones count whole, a counter that goes back restarts" {
    var d = InterfaceDrops{ .all = true };
    d.update("a: 0 0 0 5 0 0\nb: 0 0 0 1 1 0\n", true);
    try std.testing.expectEqual(@as(u64, 0), d.total);
    d.update("a: 0 0 0 8 0 0\nb: 0 0 0 1 1 0\nc: 0 0 0 4 0 0\n", false);
    try std.testing.expectEqual(@as(u64, 3 + 4), d.total);
    d.update("a: 0 0 0 1 0 0\nc: 0 0 0 4 0 0\n", false); // b gone, a made again
    try std.testing.expectEqual(@as(u64, 3 + 4 + 1), d.total);
    var named = InterfaceDrops{};
    named.entries[0] = .{ .name = fixed("b"), .last = 0 };
    named.count = 1;
    named.update("a: 0 0 0 5 0 0\nb: 0 0 0 1 1 0\n", true);
    named.update("a: 0 0 0 9 0 0\nb: 0 0 0 2 3 0\nc: 0 0 0 4 0 0\n", false);
    try std.testing.expectEqual(@as(u64, 3), named.total);
}

//! What every bench loop shares: the per-packet work (read the IPv4 source of each frame and
//! count packets per source, the same work the TypeScript readers do) and the result it reports.

const std = @import("std");

/// What one run of a loop saw.
pub const LoopResult = extern struct {
    packets: u64,
    bytes: u64,
    /// Reads that returned packets: ring blocks, or recv/recvmmsg calls.
    blocks: u64,
    /// Kernel drops (PACKET_STATISTICS) since the loop's socket opened.
    drops: u64,
    distinct_sources: u32,
    /// The errno behind a failed run, 0 if none.
    errno: i32,
};

/// Packets per IPv4 source. Small enough for a worker thread's stack; the bench uses far
/// fewer sources. A full table stops counting new sources rather than looping.
pub const SourceCounter = struct {
    const size = 1 << 12;
    keys: [size]u32 = @splat(0),
    counts: [size]u32 = @splat(0),
    distinct: u32 = 0,

    pub fn add(self: *SourceCounter, frame: []const u8) void {
        if (frame.len < 34 or frame[12] != 0x08 or frame[13] != 0x00) return;
        const src = std.mem.readInt(u32, frame[26..30], .big);
        var slot = (src *% 2654435761) >> (32 - 12);
        for (0..size) |_| {
            if (self.counts[slot] == 0) {
                self.keys[slot] = src;
                self.counts[slot] = 1;
                self.distinct += 1;
                return;
            }
            if (self.keys[slot] == src) {
                self.counts[slot] += 1;
                return;
            }
            slot = (slot + 1) & (size - 1);
        }
    }
};

/// How long a loop may wait in one call before it looks at the clock again, in ms.
pub fn waitMs(deadline_ns: u64, now_ns: u64) i32 {
    std.debug.assert(now_ns < deadline_ns);
    return @intCast(@min((deadline_ns - now_ns) / std.time.ns_per_ms + 1, 100));
}

test "the source counter counts IPv4 sources and skips other frames" {
    var counter: SourceCounter = .{};
    var frame: [60]u8 = @splat(0);
    frame[12] = 0x08;
    for ([_]u32{ 0xc6120001, 0xc6120002, 0xc6120001 }) |src| {
        std.mem.writeInt(u32, frame[26..30], src, .big);
        counter.add(&frame);
    }
    frame[12] = 0x86;
    frame[13] = 0xdd;
    counter.add(&frame);
    counter.add(frame[0..20]);
    try std.testing.expectEqual(@as(u32, 2), counter.distinct);
}

test "a full source table stops counting new sources" {
    var counter: SourceCounter = .{};
    var frame: [34]u8 = @splat(0);
    frame[12] = 0x08;
    for (0..SourceCounter.size + 10) |i| {
        std.mem.writeInt(u32, frame[26..30], @intCast(i + 1), .big);
        counter.add(&frame);
    }
    try std.testing.expectEqual(@as(u32, SourceCounter.size), counter.distinct);
}

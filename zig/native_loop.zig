//! A pure-Zig reader of the ring: the native ceiling that the benchmark compares ringcap's
//! TypeScript reader against. Per packet it does the same work the TypeScript bench does:
//! read the IPv4 source address and count packets per source in a small open-addressing table.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const ring = @import("ring.zig");

pub const LoopResult = extern struct {
    packets: u64,
    bytes: u64,
    blocks: u64,
    distinct_sources: u32,
    status: i32,
    /// Kernel drops (receive queue full), for the socket loops; ring loops use capture stats.
    drops: u64,
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

/// Reads until `max_packets` were seen, `max_ms` passed, or the capture's waker fired.
export fn ringcap_native_loop(handle: u32, max_packets: u32, max_ms: u32, out: ?*LoopResult) callconv(.c) i32 {
    const result = out orelse return @intFromEnum(abi.Status.invalid_argument);
    const capture = ring.table.get(handle) catch |err| return @intFromEnum(abi.status(err));
    result.* = std.mem.zeroes(LoopResult);
    var counter: SourceCounter = .{};
    const deadline = sys.monotonicNs() + @as(u64, max_ms) * std.time.ns_per_ms;
    while (result.packets < max_packets) {
        const now = sys.monotonicNs();
        if (now >= deadline) break;
        const wait_ms: i32 = @intCast(@min((deadline - now) / std.time.ns_per_ms + 1, 100));
        var info: abi.BlockInfo = undefined;
        _ = capture.nextBlock(wait_ms, &info) catch |err| switch (err) {
            error.TimedOut => continue,
            error.Woken => break,
            else => {
                result.status = @intFromEnum(abi.status(err));
                return result.status;
            },
        };
        const block = capture.ring + info.offset_bytes;
        const first_at = @offsetOf(linux.tpacket_block_desc, "hdr") + @offsetOf(linux.tpacket_hdr_v1, "offset_to_first_pkt");
        var offset: u32 = std.mem.readInt(u32, block[first_at..][0..4], .little);
        for (0..info.packet_count) |_| {
            const hdr: *const linux.tpacket3_hdr = @ptrCast(@alignCast(block + offset));
            result.bytes += hdr.len;
            counter.add((block + offset + hdr.mac)[0..hdr.snaplen]);
            offset += hdr.next_offset;
        }
        result.distinct_sources = counter.distinct;
        result.packets += info.packet_count;
        result.blocks += 1;
        capture.releaseBlock() catch unreachable; // We hold the block we were just handed.
    }
    return 0;
}

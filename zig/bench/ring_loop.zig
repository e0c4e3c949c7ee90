//! A pure-Zig reader of the ring: the native ceiling that the benchmark compares ringcap's
//! TypeScript reader against. Its ring is set up by the library's own code (`ring.openOwned`),
//! not through a handle, and per packet it does the work every bench reader does.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("../abi.zig");
const sys = @import("../sys.zig");
const ring = @import("../ring.zig");
const loop = @import("loop.zig");

/// Opens a ring as `ringcap_capture_open` would (no filter, no fanout program).
pub fn open(cfg: *const abi.CaptureConfig, err: *sys.Errno) abi.Error!ring.Capture {
    var info: abi.CaptureInfo = undefined;
    return ring.openOwned(cfg, &.{}, &.{}, &info, err);
}

const first_packet_at = @offsetOf(linux.tpacket_block_desc, "hdr") + @offsetOf(linux.tpacket_hdr_v1, "offset_to_first_pkt");

/// Reads until `max_packets` were seen, `max_ms` passed, or the capture's wake fd fired.
pub fn run(capture: *ring.Capture, max_packets: u32, max_ms: u32, result: *loop.LoopResult) abi.Error!void {
    var counter: loop.SourceCounter = .{};
    const deadline = sys.monotonicNs() + @as(u64, max_ms) * std.time.ns_per_ms;
    while (result.packets < max_packets) {
        const now = sys.monotonicNs();
        if (now >= deadline) break;
        var info: abi.BlockInfo = undefined;
        _ = capture.nextBlock(loop.waitMs(deadline, now), &info) catch |err| switch (err) {
            error.TimedOut => continue,
            error.Woken => break,
            else => return err,
        };
        const block = capture.ring + info.offset_bytes;
        var offset: u32 = std.mem.readInt(u32, block[first_packet_at..][0..4], .little);
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
    result.drops = (try capture.readStats()).drops;
}

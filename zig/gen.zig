//! The traffic generator used by tests, the benchmark and the demo: AF_PACKET TX with
//! `sendmmsg` batches, optional PACKET_QDISC_BYPASS, Ethernet/VLAN/QinQ, IPv4 or IPv6, UDP or TCP
//! with correct checksums, many flows, and a sequence number in every payload.
//!
//! Addresses come only from the benchmarking ranges: 198.18.0.0/15 and 2001:db8::/32.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const handles = @import("handles.zig");

const Error = abi.Error;

pub const batch_max = 256;
const frame_size_min = 60;
/// The largest frame we build: a 9000-byte jumbo payload plus Ethernet and two VLAN tags.
const frame_size_max = 9000 + 14 + 8;
const src_port_base: u16 = 10000;

const Generator = struct {
    fd: i32,
    cfg: abi.GenConfig,
    frames: []align(4096) u8,
    /// The frames' layout, worked out once from `cfg` when the generator opened.
    layout: Layout,
    batch: u32,
    seq_next: u64,
    sent_total: u64,
    start_ns: u64,
    errno: sys.Errno,
};

pub var table: handles.Table(Generator) = .{};

const Layout = struct {
    /// VLAN tags in the frame (0, 1 or 2).
    tags: u32,
    l2_len: u32,
    l3_len: u32,
    l4_len: u32,
    payload_len: u32,
    frame_len: u32,
};

fn layoutFor(cfg: *const abi.GenConfig) Error!Layout {
    const tags: u32 = if (cfg.flags & abi.GenFlag.qinq != 0) 2 else if (cfg.flags & abi.GenFlag.vlan != 0) 1 else 0;
    const l2: u32 = 14 + 4 * tags;
    const l3: u32 = if (cfg.flags & abi.GenFlag.ipv6 != 0) 40 else 20;
    const l4: u32 = if (cfg.flags & abi.GenFlag.tcp != 0) 20 else 8;
    const headers = l2 + l3 + l4;
    const wanted = @max(cfg.frame_size_bytes, frame_size_min);
    if (wanted > frame_size_max) return error.FrameTooLarge;
    const payload = @max(abi.payload_size_bytes, wanted -| headers);
    return .{ .tags = tags, .l2_len = l2, .l3_len = l3, .l4_len = l4, .payload_len = payload, .frame_len = @max(frame_size_min, headers + payload) };
}

/// Ones-complement sum of `bytes` folded into `acc` (RFC 1071); an odd tail is padded with zero.
fn sum16(acc: u32, bytes: []const u8) u32 {
    var s: u64 = acc;
    var i: usize = 0;
    while (i + 1 < bytes.len) : (i += 2) s += std.mem.readInt(u16, bytes[i..][0..2], .big);
    if (i < bytes.len) s += @as(u32, bytes[i]) << 8;
    while (s >> 16 != 0) s = (s & 0xffff) + (s >> 16);
    return @intCast(s);
}

fn finish(acc: u32) u16 {
    var s = acc;
    while (s >> 16 != 0) s = (s & 0xffff) + (s >> 16);
    return ~@as(u16, @intCast(s));
}

fn put16(buf: []u8, at: usize, v: u16) void {
    std.mem.writeInt(u16, buf[at..][0..2], v, .big);
}

fn put32(buf: []u8, at: usize, v: u32) void {
    std.mem.writeInt(u32, buf[at..][0..4], v, .big);
}

/// Writes frame `seq` into `frame`. Bytes past the payload header stay zero from the mapping,
/// and zeros add nothing to a ones-complement sum, so checksums cover only what we write.
pub fn buildFrame(cfg: *const abi.GenConfig, l: Layout, src_mac: [6]u8, seq: u64, frame: []u8) void {
    std.debug.assert(frame.len >= l.frame_len);
    const flows: u64 = @max(cfg.flows, 1);
    const flow: u32 = @intCast(seq % flows);
    const l3 = writeEthernet(cfg, src_mac, frame);
    std.debug.assert(l3 == l.l2_len);
    const l4 = l3 + l.l3_len;
    const segment: Segment = .{
        .at = l4,
        .len = l.l4_len + l.payload_len,
        .proto = if (cfg.flags & abi.GenFlag.tcp != 0) 6 else 17,
    };
    const pseudo = if (cfg.flags & abi.GenFlag.ipv6 != 0)
        writeIpv6(frame[l3..l4], segment, flow)
    else
        writeIpv4(frame[l3..l4], segment, seq, flow);
    writeTransport(cfg, frame, segment, l.l4_len, seq, flow, pseudo);
}

/// The L4 header and payload: where they start, their length and their IP protocol.
const Segment = struct { at: usize, len: u32, proto: u8 };

/// Addresses, the VLAN tags `cfg` asks for, and the ethertype; returns where L3 starts.
fn writeEthernet(cfg: *const abi.GenConfig, src_mac: [6]u8, frame: []u8) usize {
    @memcpy(frame[0..6], cfg.dst_mac[0..6]);
    @memcpy(frame[6..12], &src_mac);
    var at: usize = 12;
    const tci: u16 = (cfg.vlan_priority << 13) | (cfg.vlan_id & 0x0fff);
    if (cfg.flags & abi.GenFlag.qinq != 0) {
        put16(frame, at, if (cfg.vlan_tpid != 0) cfg.vlan_tpid else 0x88a8);
        put16(frame, at + 2, tci);
        put16(frame, at + 4, 0x8100);
        put16(frame, at + 6, cfg.inner_vlan_id & 0x0fff);
        at += 8;
    } else if (cfg.flags & abi.GenFlag.vlan != 0) {
        put16(frame, at, if (cfg.vlan_tpid != 0) cfg.vlan_tpid else 0x8100);
        put16(frame, at + 2, tci);
        at += 4;
    }
    put16(frame, at, if (cfg.flags & abi.GenFlag.ipv6 != 0) 0x86dd else 0x0800);
    return at + 2;
}

/// An IPv6 header from 2001:db8:0:1::<flow> to 2001:db8:0:2::1; returns the pseudo-header sum.
fn writeIpv6(ip: []u8, segment: Segment, flow: u32) u32 {
    put32(ip, 0, 0x6000_0000 | (flow & 0xfffff));
    put16(ip, 4, @intCast(segment.len));
    ip[6] = segment.proto;
    ip[7] = 64;
    @memset(ip[8..40], 0);
    put32(ip, 8, 0x20010db8);
    put32(ip, 12, 0x00000001);
    put32(ip, 20, flow);
    put32(ip, 24, 0x20010db8);
    put32(ip, 28, 0x00000002);
    put32(ip, 36, 1);
    return sum16(0, ip[8..40]) + segment.len + segment.proto;
}

/// An IPv4 header from 198.18.x.y (one per flow, 65536 before the port changes) to
/// 198.19.0.1, with its checksum; returns the pseudo-header sum.
fn writeIpv4(ip: []u8, segment: Segment, seq: u64, flow: u32) u32 {
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip, 2, @intCast(ip.len + segment.len));
    put16(ip, 4, @truncate(seq));
    put16(ip, 6, 0x4000);
    ip[8] = 64;
    ip[9] = segment.proto;
    put16(ip, 10, 0);
    put32(ip, 12, 0xc612_0000 | (flow & 0xffff));
    put32(ip, 16, 0xc613_0001);
    put16(ip, 10, finish(sum16(0, ip[0..20])));
    return sum16(0, ip[12..20]) + segment.len + segment.proto;
}

/// The UDP or TCP header, the payload header (magic, sequence, flow) and the L4 checksum.
fn writeTransport(cfg: *const abi.GenConfig, frame: []u8, segment: Segment, l4_len: u32, seq: u64, flow: u32, pseudo: u32) void {
    const tcp = segment.proto == 6;
    const l4 = segment.at;
    const src_port: u16 = src_port_base + @as(u16, @intCast((flow / 65536) % 50000));
    put16(frame, l4, src_port);
    put16(frame, l4 + 2, if (cfg.dst_port != 0) cfg.dst_port else 9);
    if (tcp) {
        put32(frame, l4 + 4, @truncate(seq));
        put32(frame, l4 + 8, 0);
        frame[l4 + 12] = 5 << 4;
        frame[l4 + 13] = if (cfg.tcp_flags != 0) @truncate(cfg.tcp_flags) else 0x18; // default PSH, ACK
        put16(frame, l4 + 14, 65535);
        put16(frame, l4 + 16, 0);
        put16(frame, l4 + 18, 0);
    } else {
        put16(frame, l4 + 4, @intCast(segment.len));
        put16(frame, l4 + 6, 0);
    }
    const payload = l4 + l4_len;
    put32(frame, payload, abi.payload_magic);
    std.mem.writeInt(u64, frame[payload + 4 ..][0..8], seq, .big);
    put32(frame, payload + 12, flow);

    const csum_at: usize = if (tcp) l4 + 16 else l4 + 6;
    var c = finish(sum16(pseudo, frame[l4 .. payload + abi.payload_size_bytes]));
    // UDP sends a computed zero as all ones (zero means "no checksum").
    if (!tcp and c == 0) c = 0xffff;
    put16(frame, csum_at, c);
}

pub fn open(cfg: *const abi.GenConfig, info: *abi.GenInfo) Error!void {
    var err: sys.Errno = .{};
    defer info.errno = err.value;
    const name = try sys.interfaceName(&cfg.ifname);
    const netns = try sys.netnsPath(&cfg.netns_path);
    const l = try layoutFor(cfg);
    info.frame_length_bytes = l.frame_len;
    const batch: u32 = if (cfg.batch == 0) 64 else @min(cfg.batch, batch_max);
    if (cfg.vlan_id > 4095 or cfg.inner_vlan_id > 4095 or cfg.vlan_priority > 7) return error.InvalidArgument;

    const index = try table.claim();
    errdefer table.release(index);
    const g = &table.items[index];
    g.* = .{
        .fd = -1,
        .cfg = cfg.*,
        .frames = &.{},
        .layout = l,
        .batch = batch,
        .seq_next = cfg.seq_start,
        .sent_total = 0,
        .start_ns = 0,
        .errno = .{},
    };
    g.fd = try sys.inNetns(netns, &err, openSocket, .{ g, name, l, info, &err });
    errdefer sys.close(g.fd);
    const slot = std.mem.alignForward(usize, l.frame_len, 64);
    g.frames = std.heap.page_allocator.alignedAlloc(u8, .fromByteUnits(4096), slot * batch) catch return error.OutOfMemory;
    @memset(g.frames, 0);
    info.handle = table.publish(index);
}

/// The longest frame an interface with this MTU sends: the kernel allows the MTU plus the
/// Ethernet header, and 4 bytes more for a frame that carries a VLAN tag (one tag's worth, also
/// for QinQ).
fn frameLengthMax(mtu: u32, tags: u32) u32 {
    return mtu +| 14 +| @as(u32, if (tags > 0) 4 else 0);
}

/// A sending socket on interface `name`: bound with protocol 0, so it receives nothing. Frames
/// longer than the interface takes are refused here, with its MTU in `info`, rather than by
/// every send.
fn openSocket(g: *Generator, name: [:0]const u8, l: Layout, info: *abi.GenInfo, err: *sys.Errno) Error!i32 {
    const sock = try sys.PacketSocket.open(0, name, err);
    errdefer sys.close(sock.fd);
    info.mtu = sock.iface.mtu;
    info.frame_length_max_bytes = frameLengthMax(sock.iface.mtu, l.tags);
    if (l.frame_len > info.frame_length_max_bytes) return error.FrameTooLarge;
    if (!sock.iface.up) return error.InterfaceDown;
    if (std.mem.allEqual(u8, g.cfg.src_mac[0..6], 0)) @memcpy(g.cfg.src_mac[0..6], sock.iface.mac[0..6]);
    if (g.cfg.flags & abi.GenFlag.qdisc_bypass != 0) {
        const one: u32 = 1;
        try sys.setsockopt(sock.fd, linux.SOL.PACKET, linux.PACKET.QDISC_BYPASS, std.mem.asBytes(&one), err);
    }
    try sock.bind(0, err);
    return sock.fd;
}

/// Sends up to `count` more frames, paced at the configured rate since the first call, and
/// returns after `max_ms` at the latest. `out.sent` counts frames the kernel accepted.
pub fn send(handle: u32, count: u64, max_ms: u32, out: *abi.GenResult) Error!void {
    const g = try table.get(handle);
    const l = g.layout;
    const call_start = sys.monotonicNs();
    if (g.start_ns == 0) g.start_ns = call_start;
    const deadline = call_start + @as(u64, max_ms) * std.time.ns_per_ms;
    var sent: u64 = 0;
    out.* = .{ .sent = 0, .elapsed_ns = 0, .errno = 0 };
    defer {
        out.sent = sent;
        out.elapsed_ns = sys.monotonicNs() - call_start;
        out.errno = g.errno.value;
    }
    // Bounded by `count` frames and by the deadline, whichever comes first.
    while (sent < count) {
        const now = sys.monotonicNs();
        if (now >= deadline) break;
        const n = framesDue(g, now, deadline, @min(g.batch, count - sent)) orelse continue;
        const done = try sendBatch(g, l, n, deadline);
        sent += done;
        g.sent_total += done;
        g.seq_next += done;
        // Frames built but not sent are rebuilt with the same sequence numbers next time.
        if (done < n) break;
    }
}

/// How many of `wanted` frames the rate allows now; null (after sleeping until the next one
/// is due, or the deadline) when none is.
fn framesDue(g: *Generator, now: u64, deadline: u64, wanted: u64) ?u64 {
    const rate: u64 = g.cfg.rate_pps;
    if (rate == 0) return wanted;
    const due: u64 = (now - g.start_ns) * rate / std.time.ns_per_s;
    if (due <= g.sent_total) {
        const next_ns = g.start_ns + (g.sent_total + 1) * std.time.ns_per_s / rate;
        sys.sleepNs(@min(next_ns -| now, deadline - now));
        return null;
    }
    return @min(wanted, due - g.sent_total);
}

/// Builds the next `n` frames and hands them to the kernel with sendmmsg; returns how many it
/// took (fewer than `n` only when the device queue stayed full until the deadline).
fn sendBatch(g: *Generator, l: Layout, n: u64, deadline: u64) Error!u64 {
    std.debug.assert(n <= batch_max);
    const slot = std.mem.alignForward(usize, l.frame_len, 64);
    var src_mac: [6]u8 = undefined;
    @memcpy(&src_mac, g.cfg.src_mac[0..6]);
    var iov: [batch_max]std.posix.iovec_const = undefined;
    var msgs: [batch_max]linux.mmsghdr = undefined;
    for (0..n) |i| {
        const frame = g.frames[i * slot ..][0..slot];
        buildFrame(&g.cfg, l, src_mac, g.seq_next + i, frame);
        iov[i] = .{ .base = frame.ptr, .len = l.frame_len };
        msgs[i] = .{ .hdr = .{ .name = null, .namelen = 0, .iov = @ptrCast(&iov[i]), .iovlen = 1, .control = null, .controllen = 0, .flags = 0 }, .len = 0 };
    }
    var done: u64 = 0;
    while (done < n) {
        const rc = sys.retry(linux.sendmmsg, .{ g.fd, msgs[done..].ptr, @as(u32, @intCast(n - done)), @as(u32, 0) });
        switch (sys.errnoOf(rc)) {
            .SUCCESS => done += rc,
            // The device queue is full: give it a moment, unless time is up.
            .NOBUFS, .AGAIN => {
                if (sys.monotonicNs() >= deadline) break;
                sys.sleepNs(20 * std.time.ns_per_us);
            },
            .MSGSIZE => |e| return g.errno.fail(e, error.FrameTooLarge),
            .NETDOWN, .NXIO, .NODEV => |e| return g.errno.fail(e, error.NetworkDown),
            else => |e| return g.errno.fail(e, error.Unexpected),
        }
    }
    return done;
}

pub fn close(handle: u32) void {
    const taken = table.retire(handle) orelse return;
    const g = taken.item;
    sys.close(g.fd);
    std.heap.page_allocator.free(g.frames);
    g.* = undefined;
    table.release(taken.index);
}

test "the longest frame is the MTU plus the Ethernet header, plus 4 bytes when tagged" {
    try std.testing.expectEqual(@as(u32, 1514), frameLengthMax(1500, 0));
    try std.testing.expectEqual(@as(u32, 1518), frameLengthMax(1500, 1));
    try std.testing.expectEqual(@as(u32, 1518), frameLengthMax(1500, 2));
    try std.testing.expectEqual(@as(u32, std.math.maxInt(u32)), frameLengthMax(std.math.maxInt(u32), 1));
}

test "a generated IPv4 UDP frame has valid checksums and carries its sequence number" {
    var cfg = std.mem.zeroes(abi.GenConfig);
    cfg.flows = 3;
    const l = try layoutFor(&cfg);
    try std.testing.expectEqual(@as(u32, 60), l.frame_len);
    var frame: [64]u8 = @splat(0);
    buildFrame(&cfg, l, .{ 2, 0, 0, 0, 0, 1 }, 7, &frame);
    try std.testing.expectEqual(@as(u16, 0), finish(sum16(0, frame[14..34])));
    // Pseudo header + UDP segment sums to all ones when the checksum is right.
    var pseudo = sum16(0, frame[26..34]);
    pseudo += 17 + 26; // UDP length: 8 + 18 bytes of payload, which fills the frame to 60.
    try std.testing.expectEqual(@as(u16, 0), finish(sum16(pseudo, frame[34..60])));
    try std.testing.expectEqual(@as(u64, 7), std.mem.readInt(u64, frame[46..54], .big));
    try std.testing.expectEqual(@as(u32, 1), std.mem.readInt(u32, frame[54..58], .big));
}

test "a generated IPv6 TCP frame behind a VLAN tag has a valid checksum and addresses from 2001:db8::/32" {
    var cfg = std.mem.zeroes(abi.GenConfig);
    cfg.flows = 5;
    cfg.flags = abi.GenFlag.ipv6 | abi.GenFlag.tcp | abi.GenFlag.vlan;
    cfg.vlan_id = 100;
    cfg.vlan_priority = 5;
    cfg.tcp_flags = 0x02;
    const l = try layoutFor(&cfg);
    try std.testing.expectEqual(@as(u32, 18), l.l2_len);
    var frame: [frame_size_max]u8 = @splat(0);
    buildFrame(&cfg, l, .{ 2, 0, 0, 0, 0, 1 }, 12, &frame);
    try std.testing.expectEqual(@as(u16, 0x8100), std.mem.readInt(u16, frame[12..14], .big));
    try std.testing.expectEqual(@as(u16, (5 << 13) | 100), std.mem.readInt(u16, frame[14..16], .big));
    try std.testing.expectEqual(@as(u16, 0x86dd), std.mem.readInt(u16, frame[16..18], .big));
    const ip = frame[18..];
    try std.testing.expectEqual(@as(u8, 6), ip[6]);
    // Source and destination both in the documentation range 2001:db8::/32.
    for ([_]usize{ 8, 24 }) |at| try std.testing.expectEqual(@as(u32, 0x20010db8), std.mem.readInt(u32, ip[at..][0..4], .big));
    const segment_len = l.l4_len + l.payload_len;
    try std.testing.expectEqual(segment_len, std.mem.readInt(u16, ip[4..6], .big));
    // Pseudo header (addresses, upper-layer length, next header) + segment sums to all ones.
    var pseudo = sum16(0, ip[8..40]);
    pseudo += segment_len + 6;
    const tcp = ip[40..][0..segment_len];
    try std.testing.expectEqual(@as(u16, 0), finish(sum16(pseudo, tcp)));
    try std.testing.expectEqual(@as(u8, 0x02), tcp[13]);
    try std.testing.expectEqual(@as(u64, 12), std.mem.readInt(u64, tcp[20 + 4 ..][0..8], .big));
    try std.testing.expectEqual(@as(u32, 12 % 5), std.mem.readInt(u32, tcp[20 + 12 ..][0..4], .big));
}

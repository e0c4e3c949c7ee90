//! The native flow cache (issue 14): what `src/export/records.ts`'s FlowTracker does per packet,
//! over a whole TPACKET_V3 block in one call. `parse` reads a frame as `src/decode.ts`'s
//! PacketDecoder does (the same link types a ring hands over, the same tags, IP headers and
//! ports, the same answers for truncated and malformed frames) down to the flow key, the IP
//! length and the TCP flags; `Cache` keeps the flows as FlowTracker does (the same key, hash,
//! open addressing, least recently seen list, timeouts and end reasons) and queues the records
//! it makes as `abi.FlowRecord`s for `take`. Every array is allocated once, when the cache opens.
//!
//! A call that makes records stops when the queue has no room for the next packet's (or flow's)
//! and says so (`Progress.more`); the caller takes the records and calls again, and the call
//! goes on where it stopped.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const handles = @import("handles.zig");
const ring = @import("ring.zig");

// ---------------------------------------------------------------------------------------------
// The frame parser: PacketDecoder's walk, down to what a flow needs.

/// The pcap link types a ring's frames come in (PacketDecoder's LINKTYPE values; capture.ts's
/// linkTypeFor and "any").
pub const LinkType = struct {
    pub const ethernet: u32 = 1;
    pub const raw: u32 = 101;
    pub const linux_sll2: u32 = 276;
};

/// Words of PacketDecoder's flow key (FLOW_KEY_WORDS).
pub const key_words = 10;
/// Words of a flow: the decoder's key, then VLAN and ICMP type/code, then the ifindex.
pub const slot_words = key_words + 2;

const ethertype_ipv4: u16 = 0x0800;
const ethertype_ipv6: u16 = 0x86dd;
const ethertype_vlan: u16 = 0x8100;
const ethertype_qinq: u16 = 0x88a8;
const ethertype_qinq_legacy: u16 = 0x9100;
const max_vlan_tags = 16;
const max_ipv6_extension_headers = 8;
const key_has_ports: u32 = 1;

const proto_icmp = 1;
const proto_tcp = 6;
const proto_udp = 17;
const proto_icmpv6 = 58;
const proto_none = 59;
const proto_sctp = 132;
const proto_udplite = 136;

pub const tcp_fin: u16 = 0x01;
pub const tcp_syn: u16 = 0x02;
pub const tcp_rst: u16 = 0x04;
pub const tcp_ack: u16 = 0x10;

/// What a flow needs of one packet.
pub const Packet = struct {
    /// The flow key (`slot_words`), as FlowTracker stores it.
    key: [slot_words]u32,
    /// The IP length (RFC 7012 octetDeltaCount).
    octets: u32,
    /// TCP flags (AE is 0x100), 0 for other protocols.
    flags: u16,
};

/// PacketDecoder's fields that a flow key is made of, as `decode` leaves them.
const Decoded = struct {
    b: []const u8,
    vlan_count: u32 = 0,
    vlan_id: i32 = -1,
    ip_version: u32 = 0,
    protocol: i32 = -1,
    addr_at: usize = 0,
    total: u32 = 0,
    src_port: i32 = -1,
    dst_port: i32 = -1,
    tcp_flags: i32 = -1,
    icmp_type: i32 = -1,
    icmp_code: i32 = -1,

    fn u16At(d: *const Decoded, at: usize) u16 {
        return std.mem.readInt(u16, d.b[at..][0..2], .big);
    }

    fn u32At(d: *const Decoded, at: usize) u32 {
        return std.mem.readInt(u32, d.b[at..][0..4], .big);
    }

    fn tag(d: *Decoded, tci: u32) void {
        d.vlan_count += 1;
        if (d.vlan_count == 1) d.vlan_id = @intCast(tci & 0x0fff);
    }

    fn isTag(t: u16) bool {
        return t == ethertype_vlan or t == ethertype_qinq or t == ethertype_qinq_legacy;
    }

    fn ethernet(d: *Decoded) void {
        const len = d.b.len;
        if (len < 14) return;
        var type_at: usize = 12;
        var t = d.u16At(type_at);
        while (isTag(t)) {
            if (d.vlan_count >= max_vlan_tags) return;
            if (type_at + 6 > len) return;
            d.tag(d.u16At(type_at + 2));
            type_at += 4;
            t = d.u16At(type_at);
        }
        if (t < 0x0600) return;
        d.network(t, type_at + 2);
    }

    fn sll2(d: *Decoded) void {
        const len = d.b.len;
        if (len < 20) return;
        var t = d.u16At(0);
        var l3: usize = 20;
        while (isTag(t)) {
            if (d.vlan_count >= max_vlan_tags) return;
            if (l3 + 4 > len) return;
            d.tag(d.u16At(l3));
            t = d.u16At(l3 + 2);
            l3 += 4;
        }
        d.network(t, l3);
    }

    fn raw(d: *Decoded) void {
        if (d.b.len < 1) return;
        switch (d.b[0] >> 4) {
            4 => d.ipv4(0),
            6 => d.ipv6(0),
            else => {},
        }
    }

    fn network(d: *Decoded, t: u16, l3: usize) void {
        if (t == ethertype_ipv4) d.ipv4(l3) else if (t == ethertype_ipv6) d.ipv6(l3);
    }

    fn ipv4(d: *Decoded, l3: usize) void {
        const len = d.b.len;
        if (l3 + 20 > len) return;
        const version_ihl = d.b[l3];
        const ihl: usize = @as(usize, version_ihl & 0x0f) * 4;
        var total: usize = d.u16At(l3 + 2);
        // A zero total length is how Linux marks IPv4 BIG TCP packets.
        if (total == 0) total = len - l3;
        if (version_ihl >> 4 != 4 or ihl < 20 or total < ihl) return;
        d.ip_version = 4;
        d.total = @intCast(total);
        d.protocol = d.b[l3 + 9];
        d.addr_at = l3 + 12;
        const offset = d.u16At(l3 + 6) & 0x1fff;
        if (l3 + ihl > len) return;
        d.upper(l3 + ihl, l3 + total, @intCast(d.protocol), offset != 0);
    }

    fn ipv6(d: *Decoded, l3: usize) void {
        const len = d.b.len;
        if (l3 + 40 > len) return;
        if (d.b[l3] >> 4 != 6) return;
        var next: u8 = d.b[l3 + 6];
        const payload = d.u16At(l3 + 4);
        const total: usize = if (payload == 0 and next != proto_none) len - l3 else 40 + @as(usize, payload);
        const end = l3 + total;
        d.ip_version = 6;
        d.total = @intCast(total);
        d.addr_at = l3 + 8;
        var at = l3 + 40;
        var walked: u32 = 0;
        while (true) : (walked += 1) {
            const size: usize = switch (next) {
                0, 43, 60, 135, 139, 140 => if (at + 2 <= len) (@as(usize, d.b[at + 1]) + 1) * 8 else 8,
                51 => if (at + 2 <= len) (@as(usize, d.b[at + 1]) + 2) * 4 else 8,
                44 => 8,
                else => {
                    d.upper(at, end, next, false);
                    return;
                },
            };
            if (walked == max_ipv6_extension_headers or at + size > end) return;
            if (at + size > len) return;
            const header = next;
            next = d.b[at];
            if (header == 44 and d.u16At(at + 2) & 0xfff8 != 0) {
                d.upper(at + size, end, next, true);
                return;
            }
            at += size;
        }
    }

    fn upper(d: *Decoded, l4: usize, end: usize, protocol: u8, later_fragment: bool) void {
        const len = d.b.len;
        d.protocol = protocol;
        if (later_fragment) return;
        const header: usize = switch (protocol) {
            proto_tcp => 20,
            proto_udp, proto_udplite, proto_icmp, proto_icmpv6 => 8,
            proto_sctp => 12,
            else => return,
        };
        if (l4 + header > end) return;
        if (protocol == proto_icmp or protocol == proto_icmpv6) {
            // Type and code are read even when the rest of the header was cut off.
            if (l4 + 2 <= len) {
                d.icmp_type = d.b[l4];
                d.icmp_code = d.b[l4 + 1];
            }
        }
        if (l4 + header > len) return;
        switch (protocol) {
            proto_tcp => {
                d.src_port = d.u16At(l4);
                d.dst_port = d.u16At(l4 + 2);
                d.tcp_flags = @as(i32, d.b[l4 + 13]) | (@as(i32, d.b[l4 + 12] & 1) << 8);
            },
            proto_udp, proto_udplite, proto_sctp => {
                d.src_port = d.u16At(l4);
                d.dst_port = d.u16At(l4 + 2);
            },
            else => {},
        }
    }
};

/// Reads the frame `frame` (its captured bytes) of link type `link_type` as PacketDecoder does,
/// with the tag the kernel stripped (`stripped_tci`, -1 when none) counted first, and returns
/// what its flow needs, or null when it is not IP (FlowTracker counts it as skipped).
pub fn parse(frame: []const u8, link_type: u32, stripped_tci: i32, ifindex: u32) ?Packet {
    var d: Decoded = .{ .b = frame };
    if (stripped_tci >= 0) d.tag(@intCast(stripped_tci));
    switch (link_type) {
        LinkType.ethernet => d.ethernet(),
        LinkType.linux_sll2 => d.sll2(),
        LinkType.raw => d.raw(),
        else => {},
    }
    if (d.ip_version == 0) return null;
    var p: Packet = .{ .key = @splat(0), .octets = d.total, .flags = 0 };
    const has_ports = d.src_port >= 0;
    p.key[0] = (d.ip_version << 24) | (@as(u32, @as(u8, @truncate(@as(u32, @bitCast(d.protocol))))) << 16) | (if (has_ports) key_has_ports else 0);
    if (d.ip_version == 4) {
        p.key[1] = d.u32At(d.addr_at);
        p.key[5] = d.u32At(d.addr_at + 4);
    } else {
        for (0..8) |i| p.key[1 + i] = d.u32At(d.addr_at + 4 * i);
    }
    if (has_ports) p.key[9] = (@as(u32, @intCast(d.src_port)) << 16) | @as(u32, @intCast(d.dst_port));
    const icmp: u32 = if ((d.protocol == proto_icmp or d.protocol == proto_icmpv6) and d.icmp_type >= 0)
        (@as(u32, @intCast(d.icmp_type)) << 8) | @as(u32, @intCast(d.icmp_code))
    else
        0;
    p.key[key_words] = ((@as(u32, @bitCast(d.vlan_id + 1)) & 0x1fff) << 16) | icmp;
    p.key[key_words + 1] = ifindex;
    if (d.protocol == proto_tcp and d.tcp_flags > 0) p.flags = @intCast(d.tcp_flags);
    return p;
}

/// PacketDecoder.flowHash of the key's first `key_words`, then FlowTracker's `mix` of the rest.
pub fn hashOf(key: *const [slot_words]u32) u32 {
    var h: u32 = 0x9747b28c;
    for (key[0..key_words]) |k| {
        var w = k *% 0xcc9e2d51;
        w = std.math.rotl(u32, w, 15);
        h ^= w *% 0x1b873593;
        h = std.math.rotl(u32, h, 13);
        h = h *% 5 +% 0xe6546b64;
    }
    h ^= h >> 16;
    h *%= 0x85ebca6b;
    h ^= h >> 13;
    h *%= 0xc2b2ae35;
    h ^= h >> 16;
    h = (h ^ key[key_words]) *% 0x85ebca6b;
    h ^= h >> 13;
    h = (h ^ key[key_words + 1]) *% 0xc2b2ae35;
    h ^= h >> 16;
    return h;
}

// ---------------------------------------------------------------------------------------------
// The flow table: FlowTracker's, slot for slot.

/// FLOW_END_REASON (src/export/record.ts).
pub const EndReason = struct {
    pub const idle_timeout: u32 = 1;
    pub const active_timeout: u32 = 2;
    pub const end_of_flow_detected: u32 = 3;
    pub const forced_end: u32 = 4;
    pub const lack_of_resources: u32 = 5;
};

/// MAX_TRACKED_FLOWS.
pub const max_flows_limit: u32 = 1 << 22;
const week_ms: u32 = 7 * 86_400_000;
/// Records the queue holds; a call stops when the next step might not fit.
pub const queue_capacity: u32 = 4096;
/// The most records one packet makes: a lingering or evicted flow ended, and its own FIN.
const records_per_packet = 2;

const state_free: u8 = 0;
const state_active: u8 = 1;
const state_closing: u8 = 2;

/// Whether a call finished or stopped for want of room in the record queue.
pub const Progress = enum { done, more };

/// One flow: its key and hash (what a lookup compares), its place in the least recently seen
/// list, and its counts since its last record. 96 bytes: two cache lines at most.
const Flow = struct {
    key: [slot_words]u32,
    hash: u32,
    prev: i32,
    next: i32,
    flags: u16,
    state: u8,
    packets: u64,
    octets: u64,
    start_ms: f64,
    last_ms: f64,
};

/// An open-addressing bucket: the flow's hash beside its slot, so a probe compares hashes
/// without touching the flows (-1: empty).
const Bucket = struct { hash: u32, slot: i32 };

/// Frames a block walk reads ahead of the one it counts: it parses them and prefetches their
/// bucket, then their flow, then the flows beside it in the recency list, so that counting a
/// packet seldom waits for memory. What it prefetches is only a hint: each packet is counted
/// from the table as it is then.
const lookahead = 8;
/// How far ahead of the packet counted a flow, and the flows beside it, are prefetched.
const flow_distance = 5;
const neighbour_distance = 2;

pub const Cache = struct {
    idle_timeout_ms: f64,
    active_timeout_ms: f64,
    fin_linger_ms: f64,
    max_flows: u32,
    link_type: u32,

    flows: []Flow,
    free: []i32,
    free_top: u32,
    buckets: []Bucket,
    mask: u32,
    head: i32 = -1,
    tail: i32 = -1,

    used: u32 = 0,
    latest_ms: f64 = 0,
    counted: u64 = 0,
    skipped: u64 = 0,
    evictions: u64 = 0,
    by_reason: [6]u64 = @splat(0),

    queue: []abi.FlowRecord,
    queue_head: u32 = 0,
    queue_len: u32 = 0,

    /// Where a block walk stopped (`Progress.more`): the block and the next frame to count.
    walk: ?BlockWalk = null,
    /// Where an expire or flush stopped: its kind and the slot to go on from.
    sweep: ?Sweep = null,

    const BlockWalk = struct { capture: u32, index: u32, sequence: u64, at: usize, left: u32 };
    const Sweep = struct { flush: bool, slot: i32 };

    /// Allocates the table for `cfg.max_flows` flows (page_allocator); `invalid_argument` for an
    /// option out of FlowTracker's ranges or a link type the parser does not read.
    pub fn init(cfg: *const abi.FlowConfig) abi.Error!Cache {
        if (cfg.idle_timeout_ms < 1 or cfg.idle_timeout_ms > week_ms) return error.InvalidArgument;
        if (cfg.active_timeout_ms < 1 or cfg.active_timeout_ms > week_ms) return error.InvalidArgument;
        if (cfg.fin_linger_ms > week_ms) return error.InvalidArgument;
        if (cfg.max_flows < 1 or cfg.max_flows > max_flows_limit) return error.InvalidArgument;
        switch (cfg.link_type) {
            LinkType.ethernet, LinkType.raw, LinkType.linux_sll2 => {},
            else => return error.InvalidArgument,
        }
        const a = std.heap.page_allocator;
        const max = cfg.max_flows;
        var buckets: u32 = 2;
        while (buckets < 2 * max) buckets *= 2;
        var c: Cache = .{
            .idle_timeout_ms = @floatFromInt(cfg.idle_timeout_ms),
            .active_timeout_ms = @floatFromInt(cfg.active_timeout_ms),
            .fin_linger_ms = @floatFromInt(cfg.fin_linger_ms),
            .max_flows = max,
            .link_type = cfg.link_type,
            .flows = &.{},
            .free = &.{},
            .free_top = max,
            .buckets = &.{},
            .mask = buckets - 1,
            .queue = &.{},
        };
        errdefer c.deinit();
        c.flows = try alloc(Flow, a, max);
        c.free = try alloc(i32, a, max);
        c.buckets = try alloc(Bucket, a, buckets);
        c.queue = try alloc(abi.FlowRecord, a, queue_capacity);
        @memset(c.flows, std.mem.zeroInit(Flow, .{ .prev = -1, .next = -1 }));
        for (c.free, 0..) |*f, i| f.* = @intCast(max - 1 - i);
        @memset(c.buckets, .{ .hash = 0, .slot = -1 });
        return c;
    }

    fn alloc(comptime T: type, a: std.mem.Allocator, n: usize) abi.Error![]T {
        return a.alloc(T, n) catch error.OutOfMemory;
    }

    pub fn deinit(c: *Cache) void {
        const a = std.heap.page_allocator;
        a.free(c.flows);
        a.free(c.free);
        a.free(c.buckets);
        a.free(c.queue);
        c.* = undefined;
    }

    fn room(c: *const Cache) u32 {
        return queue_capacity - c.queue_len;
    }

    /// FlowTracker.add for a packet parsed (not IP: not here) whose key hashes to `h`.
    pub fn add(c: *Cache, p: *const Packet, h: u32, t: f64) void {
        std.debug.assert(c.room() >= records_per_packet);
        if (t > c.latest_ms) c.latest_ms = t;
        const flags = p.flags;
        var found = c.find(&p.key, h);
        if (found) |s| if (c.flows[s].state == state_closing and flags & (tcp_syn | tcp_ack) == tcp_syn) {
            // The ports are used again: report what lingered and start a new flow.
            c.end(s, EndReason.end_of_flow_detected);
            found = null;
        };
        var slot: u32 = undefined;
        if (found) |s| {
            slot = s;
            const f = &c.flows[s];
            if (f.packets > 0 and t - f.start_ms >= c.active_timeout_ms and f.state == state_active) {
                c.report(s, EndReason.active_timeout);
            }
        } else slot = c.insert(&p.key, h);
        const f = &c.flows[slot];
        if (f.packets == 0) {
            f.start_ms = t;
            f.last_ms = t;
        } else if (t > f.last_ms) {
            f.last_ms = t;
        } else if (t < f.start_ms) f.start_ms = t;
        f.packets += 1;
        f.octets += p.octets;
        f.flags |= flags;
        c.counted += 1;
        c.touch(slot);
        if (flags & (tcp_fin | tcp_rst) != 0) {
            c.report(slot, EndReason.end_of_flow_detected);
            f.state = state_closing;
            if (c.fin_linger_ms == 0) c.remove(slot);
        }
    }

    /// FlowTracker.expire(now), resumable: `.more` when the queue filled (take, then call again
    /// with the same `now` before any other call).
    pub fn expire(c: *Cache, now: f64) Progress {
        var slot = c.head;
        if (c.sweep) |s| if (!s.flush) {
            slot = s.slot;
        };
        c.sweep = null;
        while (slot >= 0) {
            if (c.room() < 1) {
                c.sweep = .{ .flush = false, .slot = slot };
                return .more;
            }
            const u: u32 = @intCast(slot);
            const f = &c.flows[u];
            const next = f.next;
            const idle = now - f.last_ms;
            if (f.state == state_closing) {
                if (idle >= c.fin_linger_ms) c.end(u, EndReason.end_of_flow_detected);
            } else if (idle >= c.idle_timeout_ms) {
                c.end(u, EndReason.idle_timeout);
            } else if (f.packets > 0 and now - f.start_ms >= c.active_timeout_ms) {
                c.report(u, EndReason.active_timeout);
            }
            slot = next;
        }
        return .done;
    }

    /// FlowTracker.flush(), resumable as `expire`.
    pub fn flush(c: *Cache) Progress {
        var slot = c.head;
        if (c.sweep) |s| if (s.flush) {
            slot = s.slot;
        };
        c.sweep = null;
        while (slot >= 0) {
            if (c.room() < 1) {
                c.sweep = .{ .flush = true, .slot = slot };
                return .more;
            }
            const u: u32 = @intCast(slot);
            const next = c.flows[u].next;
            c.end(u, if (c.flows[u].state == state_closing) EndReason.end_of_flow_detected else EndReason.forced_end);
            slot = next;
        }
        return .done;
    }

    /// Moves up to `out.len` queued records, oldest first, into `out`; returns how many.
    pub fn take(c: *Cache, out: []abi.FlowRecord) u32 {
        const n: u32 = @intCast(@min(out.len, c.queue_len));
        for (out[0..n]) |*r| {
            r.* = c.queue[c.queue_head];
            c.queue_head = (c.queue_head + 1) % queue_capacity;
        }
        c.queue_len -= n;
        return n;
    }

    pub fn stats(c: *const Cache) abi.FlowStats {
        return .{
            .active_flows = c.used,
            .packets = c.counted,
            .skipped = c.skipped,
            .evictions = c.evictions,
            .records_by_reason = c.by_reason,
            .queued = c.queue_len,
            .latest_ms = c.latest_ms,
        };
    }

    fn find(c: *const Cache, key: *const [slot_words]u32, h: u32) ?u32 {
        var i = h & c.mask;
        while (true) : (i = (i + 1) & c.mask) {
            const b = c.buckets[i];
            if (b.slot < 0) return null;
            if (b.hash != h) continue;
            const u: u32 = @intCast(b.slot);
            if (std.mem.eql(u32, &c.flows[u].key, key)) return u;
        }
    }

    /// The first flow in the packet's probe chain with its hash (most likely its own), or -1:
    /// for prefetching only.
    fn candidate(c: *const Cache, h: u32) i32 {
        var i = h & c.mask;
        while (true) : (i = (i + 1) & c.mask) {
            const b = c.buckets[i];
            if (b.slot < 0 or b.hash == h) return b.slot;
        }
    }

    fn insert(c: *Cache, key: *const [slot_words]u32, h: u32) u32 {
        if (c.used == c.max_flows) {
            const victim: u32 = @intCast(c.head);
            if (c.flows[victim].packets > 0) c.evictions += 1;
            c.end(victim, EndReason.lack_of_resources);
        }
        c.free_top -= 1;
        const slot: u32 = @intCast(c.free[c.free_top]);
        const f = &c.flows[slot];
        f.key = key.*;
        f.hash = h;
        f.state = state_active;
        f.packets = 0;
        f.octets = 0;
        f.flags = 0;
        var i = h & c.mask;
        while (c.buckets[i].slot >= 0) i = (i + 1) & c.mask;
        c.buckets[i] = .{ .hash = h, .slot = @intCast(slot) };
        f.prev = c.tail;
        f.next = -1;
        if (c.tail >= 0) c.flows[@intCast(c.tail)].next = @intCast(slot) else c.head = @intCast(slot);
        c.tail = @intCast(slot);
        c.used += 1;
        return slot;
    }

    fn touch(c: *Cache, slot: u32) void {
        if (c.tail == @as(i32, @intCast(slot))) return;
        c.unlink(slot);
        c.flows[slot].prev = c.tail;
        c.flows[slot].next = -1;
        c.flows[@intCast(c.tail)].next = @intCast(slot);
        c.tail = @intCast(slot);
    }

    fn unlink(c: *Cache, slot: u32) void {
        const p = c.flows[slot].prev;
        const n = c.flows[slot].next;
        if (p >= 0) c.flows[@intCast(p)].next = n else c.head = n;
        if (n >= 0) c.flows[@intCast(n)].prev = p else c.tail = p;
    }

    fn end(c: *Cache, slot: u32, reason: u32) void {
        c.report(slot, reason);
        c.remove(slot);
    }

    fn remove(c: *Cache, slot: u32) void {
        c.unlink(slot);
        c.flows[slot].state = state_free;
        c.free[c.free_top] = @intCast(slot);
        c.free_top += 1;
        c.used -= 1;
        // Backward-shift deletion keeps every probe chain unbroken.
        const mask = c.mask;
        var i = c.flows[slot].hash & mask;
        while (c.buckets[i].slot != @as(i32, @intCast(slot))) i = (i + 1) & mask;
        var j = (i + 1) & mask;
        while (c.buckets[j].slot >= 0) : (j = (j + 1) & mask) {
            const home = c.buckets[j].hash & mask;
            const stays = if (i <= j) home > i and home <= j else home > i or home <= j;
            if (stays) continue;
            c.buckets[i] = c.buckets[j];
            i = j;
        }
        c.buckets[i] = .{ .hash = 0, .slot = -1 };
    }

    /// Queues a record of the slot's counts since its last one, then counts afresh.
    fn report(c: *Cache, slot: u32, reason: u32) void {
        const f = &c.flows[slot];
        if (f.packets == 0) return;
        std.debug.assert(c.queue_len < queue_capacity);
        const k = &f.key;
        const version: u8 = @intCast(k[0] >> 24);
        const has_ports = k[0] & key_has_ports != 0;
        const extra = k[key_words];
        var r: abi.FlowRecord = .{
            .packets = f.packets,
            .octets = f.octets,
            .start_ms = @floor(f.start_ms),
            .end_ms = @floor(f.last_ms),
            .src_address = @splat(0),
            .dst_address = @splat(0),
            .ingress_interface = k[key_words + 1],
            .vlan_id = @as(i32, @intCast(extra >> 16)) - 1,
            .src_port = if (has_ports) @intCast(k[9] >> 16) else 0,
            .dst_port = if (has_ports) @intCast(k[9] & 0xffff) else @intCast(extra & 0xffff),
            .tcp_flags = f.flags,
            .ip_version = version,
            .protocol = @intCast((k[0] >> 16) & 0xff),
            .end_reason = reason,
        };
        const words: usize = if (version == 4) 1 else 4;
        for (0..words) |i| {
            std.mem.writeInt(u32, r.src_address[4 * i ..][0..4], k[1 + i], .big);
            std.mem.writeInt(u32, r.dst_address[4 * i ..][0..4], k[5 + i], .big);
        }
        f.packets = 0;
        f.octets = 0;
        f.flags = 0;
        c.by_reason[reason] += 1;
        c.queue[(c.queue_head + c.queue_len) % queue_capacity] = r;
        c.queue_len += 1;
    }

    /// A frame read ahead of the one counted: where it is, what it is, and its flow if known.
    const Ahead = struct {
        at: usize,
        ip: bool,
        packet: Packet,
        hash: u32,
        t: f64,
        /// The flow prefetched for it (`candidate`), or -1.
        flow: i32,
    };

    /// Reads the frame whose tpacket3_hdr is at `at` in `block`; null when it runs past the block.
    fn readFrame(c: *const Cache, block: []const u8, at: usize, out: *Ahead) ?usize {
        if (at + abi.sockaddr_ll_offset + @sizeOf(linux.sockaddr.ll) > block.len) return null;
        const hdr: *align(1) const linux.tpacket3_hdr = @ptrCast(block.ptr + at);
        const ll: *align(1) const linux.sockaddr.ll = @ptrCast(block.ptr + at + abi.sockaddr_ll_offset);
        const mac = at + @as(u16, @truncate(hdr.mac));
        const caplen: usize = if (mac < block.len) @min(hdr.snaplen, block.len - mac) else 0;
        const tci: i32 = if (hdr.status & abi.TpStatus.vlan_valid != 0) @intCast(hdr.variant.hv1.vlan_tci & 0xffff) else -1;
        out.at = at;
        out.t = @as(f64, @floatFromInt(hdr.sec)) * 1000 + @as(f64, @floatFromInt(hdr.nsec)) / 1e6;
        out.flow = -1;
        if (parse(block[mac..][0..caplen], c.link_type, tci, @bitCast(ll.ifindex))) |p| {
            out.ip = true;
            out.packet = p;
            out.hash = hashOf(&p.key);
            @prefetch(&c.buckets[out.hash & c.mask], .{});
        } else out.ip = false;
        return at + hdr.next_offset;
    }

    fn prefetchFlow(c: *const Cache, slot: i32) void {
        if (slot < 0) return;
        const bytes: [*]const u8 = @ptrCast(&c.flows[@intCast(slot)]);
        @prefetch(bytes, .{});
        @prefetch(bytes + @sizeOf(Flow) - 1, .{});
    }

    /// Counts every frame of a TPACKET_V3 block (`block`: the whole block, as the ring holds
    /// it), as PacketView.decode and FlowTracker.add would one by one. `.more` when the queue
    /// filled: take the records and call again with the same block; the walk goes on from
    /// where it stopped. The block is known again by `capture` (a handle), `index` (its place
    /// in the ring) and its sequence number; any other block starts a walk afresh.
    pub fn addBlock(c: *Cache, block: []const u8, capture: u32, index: u32) Progress {
        c.sweep = null;
        if (block.len < @sizeOf(linux.tpacket_block_desc)) return .done;
        const bd: *align(1) const linux.tpacket_block_desc = @ptrCast(block.ptr);
        const sequence = bd.hdr.bh1.seq_num;
        var at: usize = bd.hdr.bh1.offset_to_first_pkt;
        var left: u32 = bd.hdr.bh1.num_pkts;
        if (c.walk) |w| if (w.capture == capture and w.index == index and w.sequence == sequence) {
            at = w.at;
            left = w.left;
        };
        c.walk = null;
        // ahead[(i) % lookahead] holds frame i of this call once read; frames are read up to
        // `lookahead` ahead of the one counted.
        var ahead: [lookahead]Ahead = undefined;
        var read: u32 = 0;
        var next_at: ?usize = at;
        while (read < left and read < lookahead) {
            next_at = c.readFrame(block, next_at orelse break, &ahead[read]);
            if (next_at == null) break;
            read += 1;
        }
        var i: u32 = 0;
        while (i < read) : (i += 1) {
            const cur = &ahead[i % lookahead];
            if (c.room() < records_per_packet) {
                c.walk = .{ .capture = capture, .index = index, .sequence = sequence, .at = cur.at, .left = left - i };
                return .more;
            }
            if (i + flow_distance < read) {
                const a = &ahead[(i + flow_distance) % lookahead];
                if (a.ip) {
                    a.flow = c.candidate(a.hash);
                    c.prefetchFlow(a.flow);
                }
            }
            if (i + neighbour_distance < read) {
                const a = &ahead[(i + neighbour_distance) % lookahead];
                if (a.flow >= 0) {
                    const f = &c.flows[@intCast(a.flow)];
                    c.prefetchFlow(f.prev);
                    c.prefetchFlow(f.next);
                }
            }
            if (cur.ip) c.add(&cur.packet, cur.hash, cur.t) else c.skipped += 1;
            // The slot just counted is free again: read the frame `lookahead` on into it.
            if (read < left) {
                if (next_at) |n| {
                    next_at = c.readFrame(block, n, &ahead[read % lookahead]);
                    if (next_at != null) read += 1;
                }
            }
        }
        return .done;
    }
};

// ---------------------------------------------------------------------------------------------
// Handles, for lib.zig's exports.

pub var table: handles.Table(Cache) = .{};

pub fn open(cfg: *const abi.FlowConfig) abi.Error!u32 {
    const index = try table.claim();
    errdefer table.release(index);
    table.items[index] = try Cache.init(cfg);
    return table.publish(index);
}

pub fn close(handle: u32) void {
    const taken = table.retire(handle) orelse return;
    taken.item.deinit();
    table.release(taken.index);
}

/// Counts the block the capture `capture` holds now (its index must be `index`).
pub fn addHeldBlock(c: *Cache, capture: u32, index: u32) abi.Error!Progress {
    const cap = try ring.table.get(capture);
    if (!cap.held or cap.current != index) return error.BlockNotHeld;
    const size: usize = cap.block_size_bytes;
    const block = cap.ring[@as(usize, index) * size ..][0..size];
    return c.addBlock(block, capture, index);
}

// ---------------------------------------------------------------------------------------------
// Tests

const testing = std.testing;

/// Writes an Ethernet frame into `buf`: `tags` VLAN tags (ids 100, 101, ...), then an IP
/// header of `version` (IPv4 with `ihl_words` and `frag`; IPv6 with `ext` extension header
/// bytes: a hop-by-hop header of that size, or a fragment header with offset `frag` when
/// `frag` is non-zero), then an upper header of `protocol`. Returns the frame's length.
const Build = struct {
    version: u8 = 4,
    protocol: u8 = proto_udp,
    tags: u8 = 0,
    ihl_words: u8 = 5,
    frag: u16 = 0,
    more_fragments: bool = false,
    hop_by_hop: bool = false,
    src_port: u16 = 10000,
    dst_port: u16 = 9,
    tcp_flags: u8 = 0x18,
    icmp_type: u8 = 8,
    icmp_code: u8 = 0,
    payload: u16 = 18,
    last_octet: u8 = 1,

    fn frame(o: Build, buf: []u8) usize {
        @memset(buf, 0);
        @memcpy(buf[0..6], &[_]u8{ 0x02, 0, 0, 0, 0, 2 });
        @memcpy(buf[6..12], &[_]u8{ 0x02, 0, 0, 0, 0, 1 });
        var at: usize = 12;
        for (0..o.tags) |i| {
            std.mem.writeInt(u16, buf[at..][0..2], if (i == 0) ethertype_qinq else ethertype_vlan, .big);
            std.mem.writeInt(u16, buf[at + 2 ..][0..2], @intCast(100 + i), .big);
            at += 4;
        }
        std.mem.writeInt(u16, buf[at..][0..2], if (o.version == 4) ethertype_ipv4 else ethertype_ipv6, .big);
        at += 2;
        const l4_size: usize = switch (o.protocol) {
            proto_tcp => 20,
            else => 8,
        };
        const l3 = at;
        var l4: usize = undefined;
        if (o.version == 4) {
            const ihl = @as(usize, o.ihl_words) * 4;
            const later = o.frag != 0;
            const total = ihl + (if (later) 0 else l4_size) + o.payload;
            buf[l3] = 0x40 | o.ihl_words;
            std.mem.writeInt(u16, buf[l3 + 2 ..][0..2], @intCast(total), .big);
            std.mem.writeInt(u16, buf[l3 + 6 ..][0..2], (o.frag / 8) | (if (o.more_fragments) @as(u16, 0x2000) else 0), .big);
            buf[l3 + 8] = 64;
            buf[l3 + 9] = o.protocol;
            @memcpy(buf[l3 + 12 ..][0..4], &[_]u8{ 198, 18, 0, o.last_octet });
            @memcpy(buf[l3 + 16 ..][0..4], &[_]u8{ 198, 19, 0, 1 });
            l4 = l3 + ihl;
            if (later) return l4 + o.payload;
        } else {
            buf[l3] = 0x60;
            buf[l3 + 7] = 64;
            const src = [_]u8{ 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, o.last_octet };
            const dst = [_]u8{ 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
            @memcpy(buf[l3 + 8 ..][0..16], &src);
            @memcpy(buf[l3 + 24 ..][0..16], &dst);
            l4 = l3 + 40;
            var next_at = l3 + 6;
            if (o.hop_by_hop) {
                buf[next_at] = 0;
                buf[l4 + 1] = 0; // 8 bytes
                next_at = l4;
                l4 += 8;
            }
            if (o.frag != 0 or o.more_fragments) {
                buf[next_at] = 44;
                std.mem.writeInt(u16, buf[l4 + 2 ..][0..2], o.frag | @intFromBool(o.more_fragments), .big);
                next_at = l4;
                l4 += 8;
            }
            buf[next_at] = o.protocol;
            const later = o.frag != 0;
            const end = l4 + (if (later) 0 else l4_size) + o.payload;
            std.mem.writeInt(u16, buf[l3 + 4 ..][0..2], @intCast(end - l3 - 40), .big);
            if (later) return end;
        }
        switch (o.protocol) {
            proto_tcp => {
                std.mem.writeInt(u16, buf[l4..][0..2], o.src_port, .big);
                std.mem.writeInt(u16, buf[l4 + 2 ..][0..2], o.dst_port, .big);
                buf[l4 + 12] = 0x50;
                buf[l4 + 13] = o.tcp_flags;
            },
            proto_icmp, proto_icmpv6 => {
                buf[l4] = o.icmp_type;
                buf[l4 + 1] = o.icmp_code;
            },
            else => {
                std.mem.writeInt(u16, buf[l4..][0..2], o.src_port, .big);
                std.mem.writeInt(u16, buf[l4 + 2 ..][0..2], o.dst_port, .big);
                std.mem.writeInt(u16, buf[l4 + 4 ..][0..2], 8 + o.payload, .big);
            },
        }
        return l4 + l4_size + o.payload;
    }

    fn parsed(o: Build, caplen: ?usize, stripped_tci: i32) ?Packet {
        var buf: [256]u8 = undefined;
        const n = o.frame(&buf);
        return parse(buf[0..@min(n, caplen orelse n)], LinkType.ethernet, stripped_tci, 3);
    }
};

test "an IPv4 UDP frame: key words, IP length, no flags" {
    const p = (Build{}).parsed(null, -1).?;
    try testing.expectEqual(@as(u32, (4 << 24) | (17 << 16) | 1), p.key[0]);
    try testing.expectEqual(@as(u32, 0xc6120001), p.key[1]);
    try testing.expectEqual(@as(u32, 0xc6130001), p.key[5]);
    try testing.expectEqual(@as(u32, 0), p.key[2]);
    try testing.expectEqual(@as(u32, (10000 << 16) | 9), p.key[9]);
    try testing.expectEqual(@as(u32, 0), p.key[key_words]);
    try testing.expectEqual(@as(u32, 3), p.key[key_words + 1]);
    try testing.expectEqual(@as(u32, 20 + 8 + 18), p.octets);
    try testing.expectEqual(@as(u16, 0), p.flags);
}

test "IPv4 options, and a snaplen that cuts the frame, leave the IP length as the header says" {
    const p = (Build{ .ihl_words = 7, .payload = 1000 }).parsed(60, -1).?;
    try testing.expectEqual(@as(u32, 28 + 8 + 1000), p.octets);
    try testing.expectEqual(@as(u32, (10000 << 16) | 9), p.key[9]);
    // Cut inside the UDP header: IP, but no ports.
    const q = (Build{}).parsed(14 + 20 + 6, -1).?;
    try testing.expectEqual(@as(u32, (4 << 24) | (17 << 16)), q.key[0]);
    try testing.expectEqual(@as(u32, 0), q.key[9]);
    // Cut inside the IP header: not IP.
    try testing.expect((Build{}).parsed(14 + 19, -1) == null);
}

test "the outer VLAN id is the stripped tag's, else the frame's first" {
    const in_frame = (Build{ .tags = 2 }).parsed(null, -1).?;
    try testing.expectEqual(@as(u32, 101 << 16), in_frame.key[key_words]);
    const stripped = (Build{ .tags = 1 }).parsed(null, 0x2000 | 7).?;
    try testing.expectEqual(@as(u32, 8 << 16), stripped.key[key_words]);
    try testing.expectEqual(@as(u32, (10000 << 16) | 9), stripped.key[9]);
    const priority_only = (Build{}).parsed(null, 0x6000).?;
    try testing.expectEqual(@as(u32, 1 << 16), priority_only.key[key_words]);
}

test "TCP flags, AE included; ICMP type and code, even cut after them" {
    const syn = (Build{ .protocol = proto_tcp, .tcp_flags = 0x02 }).parsed(null, -1).?;
    try testing.expectEqual(@as(u16, 0x02), syn.flags);
    var buf: [256]u8 = undefined;
    const n = (Build{ .protocol = proto_tcp, .tcp_flags = 0x11 }).frame(&buf);
    buf[14 + 20 + 12] |= 1;
    try testing.expectEqual(@as(u16, 0x111), parse(buf[0..n], LinkType.ethernet, -1, 0).?.flags);
    const echo = (Build{ .protocol = proto_icmp, .icmp_type = 8, .icmp_code = 3 }).parsed(null, -1).?;
    try testing.expectEqual(@as(u32, 0x0803), echo.key[key_words]);
    try testing.expectEqual(@as(u32, (4 << 24) | (1 << 16)), echo.key[0]);
    const cut = (Build{ .protocol = proto_icmp, .icmp_type = 3, .icmp_code = 1 }).parsed(14 + 20 + 2, -1).?;
    try testing.expectEqual(@as(u32, 0x0301), cut.key[key_words]);
    const none = (Build{ .protocol = proto_icmp }).parsed(14 + 20 + 1, -1).?;
    try testing.expectEqual(@as(u32, 0), none.key[key_words]);
}

test "fragments: the first has ports, later ones only protocol and addresses" {
    const first = (Build{ .more_fragments = true }).parsed(null, -1).?;
    try testing.expectEqual(@as(u32, 1), first.key[0] & 1);
    const later = (Build{ .frag = 1480 }).parsed(null, -1).?;
    try testing.expectEqual(@as(u32, (4 << 24) | (17 << 16)), later.key[0]);
    try testing.expectEqual(@as(u32, 0), later.key[9]);
    const later6 = (Build{ .version = 6, .frag = 1232, .payload = 100 }).parsed(null, -1).?;
    try testing.expectEqual(@as(u32, (6 << 24) | (17 << 16)), later6.key[0]);
    try testing.expectEqual(@as(u32, 40 + 8 + 100), later6.octets);
    const first6 = (Build{ .version = 6, .more_fragments = true, .protocol = proto_tcp }).parsed(null, -1).?;
    try testing.expectEqual(@as(u32, (6 << 24) | (6 << 16) | 1), first6.key[0]);
}

test "IPv6 walks extension headers; one cut off leaves protocol 255 and no ports" {
    const p = (Build{ .version = 6, .hop_by_hop = true, .protocol = proto_tcp, .tcp_flags = 0x04 }).parsed(null, -1).?;
    try testing.expectEqual(@as(u32, (6 << 24) | (6 << 16) | 1), p.key[0]);
    try testing.expectEqual(@as(u32, 0x20010db8), p.key[1]);
    try testing.expectEqual(@as(u32, 1), p.key[4]);
    try testing.expectEqual(@as(u32, 2), p.key[8]);
    try testing.expectEqual(@as(u16, 0x04), p.flags);
    try testing.expectEqual(@as(u32, 40 + 8 + 20 + 18), p.octets);
    const cut = (Build{ .version = 6, .hop_by_hop = true }).parsed(14 + 40 + 4, -1).?;
    try testing.expectEqual(@as(u32, (6 << 24) | (0xff << 16)), cut.key[0]);
    const icmp6 = (Build{ .version = 6, .protocol = proto_icmpv6, .icmp_type = 128 }).parsed(null, -1).?;
    try testing.expectEqual(@as(u32, 128 << 8), icmp6.key[key_words]);
}

test "not IP: ARP, an 802.3 length, a short frame, too many tags" {
    var buf: [256]u8 = undefined;
    var n = (Build{}).frame(&buf);
    std.mem.writeInt(u16, buf[12..14], 0x0806, .big);
    try testing.expect(parse(buf[0..n], LinkType.ethernet, -1, 0) == null);
    std.mem.writeInt(u16, buf[12..14], 100, .big);
    try testing.expect(parse(buf[0..n], LinkType.ethernet, -1, 0) == null);
    try testing.expect(parse(buf[0..13], LinkType.ethernet, -1, 0) == null);
    n = (Build{ .tags = 16 }).frame(&buf);
    try testing.expect(parse(buf[0..n], LinkType.ethernet, -1, 0) != null);
    try testing.expect(parse(buf[0..n], LinkType.ethernet, 5, 0) == null);
}

test "LINUX_SLL2 and raw IP frames give the key an Ethernet frame gives" {
    var buf: [256]u8 = undefined;
    const n = (Build{ .protocol = proto_tcp }).frame(&buf);
    const eth = parse(buf[0..n], LinkType.ethernet, -1, 3).?;
    var sll: [256]u8 = @splat(0);
    std.mem.writeInt(u16, sll[0..2], ethertype_ipv4, .big);
    @memcpy(sll[20..][0 .. n - 14], buf[14..n]);
    try testing.expectEqualSlices(u32, &eth.key, &parse(sll[0 .. n + 6], LinkType.linux_sll2, -1, 3).?.key);
    try testing.expectEqualSlices(u32, &eth.key, &parse(buf[14..n], LinkType.raw, -1, 3).?.key);
    try testing.expect(parse(sll[0..19], LinkType.linux_sll2, -1, 3) == null);
}

/// Counts one frame as FlowTracker.add counts the packet (`t` its timestamp in ms); not IP: skipped.
fn addFrame(c: *Cache, frame: []const u8, stripped_tci: i32, ifindex: u32, t: f64) void {
    const p = parse(frame, c.link_type, stripped_tci, ifindex) orelse {
        c.skipped += 1;
        return;
    };
    c.add(&p, hashOf(&p.key), t);
}

fn testCache(max_flows: u32, fin_linger_ms: u32) !Cache {
    return Cache.init(&.{ .idle_timeout_ms = 1000, .active_timeout_ms = 5000, .max_flows = max_flows, .fin_linger_ms = fin_linger_ms, .link_type = LinkType.ethernet });
}

fn feed(c: *Cache, o: Build, t: f64) void {
    var buf: [256]u8 = undefined;
    const n = o.frame(&buf);
    addFrame(c, buf[0..n], -1, 3, t);
}

fn takeAll(c: *Cache, out: []abi.FlowRecord) []abi.FlowRecord {
    return out[0..c.take(out)];
}

test "idle timeout ends a flow with its first and last timestamps, truncated" {
    var c = try testCache(8, 2000);
    defer c.deinit();
    feed(&c, .{}, 100.75);
    feed(&c, .{}, 300.5);
    feed(&c, .{ .last_octet = 2 }, 900);
    try testing.expectEqual(Progress.done, c.expire(1300.4));
    var out: [8]abi.FlowRecord = undefined;
    try testing.expectEqual(@as(usize, 0), takeAll(&c, &out).len);
    try testing.expectEqual(Progress.done, c.expire(1300.5));
    const r = takeAll(&c, &out);
    try testing.expectEqual(@as(usize, 1), r.len);
    try testing.expectEqual(EndReason.idle_timeout, r[0].end_reason);
    try testing.expectEqual(@as(u64, 2), r[0].packets);
    try testing.expectEqual(@as(u64, 2 * 46), r[0].octets);
    try testing.expectEqual(@as(f64, 100), r[0].start_ms);
    try testing.expectEqual(@as(f64, 300), r[0].end_ms);
    try testing.expectEqualSlices(u8, &.{ 198, 18, 0, 1, 0, 0 }, r[0].src_address[0..6]);
    try testing.expectEqual(@as(i32, -1), r[0].vlan_id);
    try testing.expectEqual(@as(u32, 3), r[0].ingress_interface);
    try testing.expectEqual(@as(u64, 1), c.stats().active_flows);
}

test "active timeout: checked before the packet is counted, then counted afresh" {
    var c = try testCache(8, 2000);
    defer c.deinit();
    for (0..11) |i| feed(&c, .{ .protocol = proto_icmp, .icmp_type = 0 }, @floatFromInt(i * 500));
    var out: [8]abi.FlowRecord = undefined;
    var r = takeAll(&c, &out);
    try testing.expectEqual(@as(usize, 1), r.len);
    try testing.expectEqual(EndReason.active_timeout, r[0].end_reason);
    try testing.expectEqual(@as(u64, 10), r[0].packets);
    try testing.expectEqual(@as(f64, 4500), r[0].end_ms);
    try testing.expectEqual(@as(u16, 0), r[0].dst_port); // echo reply: type 0, code 0
    // expire reports it too, once the record is as old, and the flow stays.
    for (1..10) |i| feed(&c, .{ .protocol = proto_icmp, .icmp_type = 0 }, @floatFromInt(5000 + i * 500));
    try testing.expectEqual(Progress.done, c.expire(9999));
    try testing.expectEqual(@as(usize, 0), takeAll(&c, &out).len);
    try testing.expectEqual(Progress.done, c.expire(10000));
    r = takeAll(&c, &out);
    try testing.expectEqual(@as(usize, 1), r.len);
    try testing.expectEqual(EndReason.active_timeout, r[0].end_reason);
    try testing.expectEqual(@as(u64, 10), r[0].packets);
    try testing.expectEqual(@as(u64, 1), c.stats().active_flows);
    try testing.expectEqual(@as(f64, 5000), r[0].start_ms);
    try testing.expectEqual(@as(u16, 0), r[0].src_port);
    try testing.expectEqual(@as(u16, 0), r[0].dst_port);
    try testing.expectEqual(@as(u8, 1), r[0].protocol);
}

test "FIN reports at once, lingers, and a SYN-only packet starts a new flow" {
    var c = try testCache(8, 2000);
    defer c.deinit();
    feed(&c, .{ .protocol = proto_tcp, .tcp_flags = 0x02 }, 0);
    feed(&c, .{ .protocol = proto_tcp, .tcp_flags = 0x11 }, 10);
    var out: [8]abi.FlowRecord = undefined;
    var r = takeAll(&c, &out);
    try testing.expectEqual(@as(usize, 1), r.len);
    try testing.expectEqual(EndReason.end_of_flow_detected, r[0].end_reason);
    try testing.expectEqual(@as(u16, 0x13), r[0].tcp_flags);
    feed(&c, .{ .protocol = proto_tcp, .tcp_flags = 0x10 }, 20); // the last ACK lingers
    feed(&c, .{ .protocol = proto_tcp, .tcp_flags = 0x02 }, 30); // a new connection
    r = takeAll(&c, &out);
    try testing.expectEqual(@as(usize, 1), r.len);
    try testing.expectEqual(@as(u64, 1), r[0].packets);
    try testing.expectEqual(@as(u16, 0x10), r[0].tcp_flags);
    try testing.expectEqual(EndReason.end_of_flow_detected, r[0].end_reason);
    feed(&c, .{ .protocol = proto_tcp, .tcp_flags = 0x04 }, 40); // RST
    feed(&c, .{ .protocol = proto_tcp, .tcp_flags = 0x10 }, 50);
    _ = takeAll(&c, &out);
    try testing.expectEqual(Progress.done, c.expire(2049));
    try testing.expectEqual(@as(usize, 0), takeAll(&c, &out).len);
    try testing.expectEqual(Progress.done, c.expire(2050));
    r = takeAll(&c, &out);
    try testing.expectEqual(@as(usize, 1), r.len);
    try testing.expectEqual(EndReason.end_of_flow_detected, r[0].end_reason);
    try testing.expectEqual(@as(u64, 0), c.stats().active_flows);
}

test "a FIN with no linger forgets the flow at once" {
    var c = try testCache(8, 0);
    defer c.deinit();
    feed(&c, .{ .protocol = proto_tcp, .tcp_flags = 0x11 }, 0);
    try testing.expectEqual(@as(u64, 0), c.stats().active_flows);
    feed(&c, .{ .protocol = proto_tcp, .tcp_flags = 0x10 }, 1);
    try testing.expectEqual(@as(u64, 1), c.stats().active_flows);
}

test "a full table evicts the least recently seen flow; flush ends the rest" {
    var c = try testCache(2, 2000);
    defer c.deinit();
    feed(&c, .{ .last_octet = 1 }, 0);
    feed(&c, .{ .last_octet = 2 }, 1);
    feed(&c, .{ .last_octet = 1 }, 2);
    feed(&c, .{ .last_octet = 3 }, 3);
    var out: [8]abi.FlowRecord = undefined;
    var r = takeAll(&c, &out);
    try testing.expectEqual(@as(usize, 1), r.len);
    try testing.expectEqual(EndReason.lack_of_resources, r[0].end_reason);
    try testing.expectEqual(@as(u8, 2), r[0].src_address[3]);
    try testing.expectEqual(@as(u64, 1), c.stats().evictions);
    try testing.expectEqual(Progress.done, c.flush());
    r = takeAll(&c, &out);
    try testing.expectEqual(@as(usize, 2), r.len);
    try testing.expectEqual(@as(u8, 1), r[0].src_address[3]);
    try testing.expectEqual(@as(u8, 3), r[1].src_address[3]);
    for (r) |x| try testing.expectEqual(EndReason.forced_end, x.end_reason);
    const s = c.stats();
    try testing.expectEqual(@as(u64, 2), s.records_by_reason[EndReason.forced_end]);
    try testing.expectEqual(@as(u64, 4), s.packets);
    try testing.expectEqual(@as(u64, 0), s.active_flows);
}

test "a sweep that fills the queue goes on where it stopped" {
    var c = try testCache(queue_capacity + 10, 2000);
    defer c.deinit();
    for (0..queue_capacity + 10) |i| {
        feed(&c, .{ .last_octet = @truncate(i), .src_port = @intCast(i >> 8) }, 0);
    }
    try testing.expectEqual(Progress.more, c.flush());
    const out = try testing.allocator.alloc(abi.FlowRecord, queue_capacity);
    defer testing.allocator.free(out);
    try testing.expectEqual(@as(u32, queue_capacity), c.take(out));
    try testing.expectEqual(Progress.done, c.flush());
    try testing.expectEqual(@as(u32, 10), c.take(out));
    try testing.expectEqual(@as(u64, queue_capacity + 10), c.stats().records_by_reason[EndReason.forced_end]);
}

test "a block walk gives every frame its timestamp, stripped tag and ifindex" {
    var c = try testCache(8, 2000);
    defer c.deinit();
    var block: [4096]u8 align(8) = @splat(0);
    const bd: *linux.tpacket_block_desc = @ptrCast(&block);
    bd.hdr.bh1.num_pkts = 2;
    bd.hdr.bh1.offset_to_first_pkt = 48;
    var at: usize = 48;
    for (0..2) |i| {
        const hdr: *linux.tpacket3_hdr = @ptrCast(@alignCast(&block[at]));
        const mac: u16 = 96;
        const n = (Build{ .protocol = proto_tcp }).frame(block[at + mac ..]);
        hdr.mac = mac;
        hdr.snaplen = @intCast(n);
        hdr.len = @intCast(n);
        hdr.sec = 1000;
        hdr.nsec = @intCast(250_000 * (i + 1));
        if (i == 1) {
            hdr.status = abi.TpStatus.vlan_valid;
            hdr.variant.hv1.vlan_tci = 42;
        }
        const ll: *linux.sockaddr.ll = @ptrCast(@alignCast(&block[at + abi.sockaddr_ll_offset]));
        ll.ifindex = 7;
        hdr.next_offset = if (i == 0) 512 else 0;
        at += 512;
    }
    try testing.expectEqual(Progress.done, c.addBlock(&block, 1, 0));
    try testing.expectEqual(Progress.done, c.flush());
    var out: [8]abi.FlowRecord = undefined;
    const r = takeAll(&c, &out);
    try testing.expectEqual(@as(usize, 2), r.len);
    try testing.expectEqual(@as(i32, -1), r[0].vlan_id);
    try testing.expectEqual(@as(i32, 42), r[1].vlan_id);
    try testing.expectEqual(@as(u32, 7), r[1].ingress_interface);
    try testing.expectEqual(@as(f64, 1_000_000), r[0].start_ms);
    try testing.expectEqual(@as(f64, 1_000_000.5), c.stats().latest_ms);
}

test "a block walk that fills the queue goes on where it stopped, and only for the same block" {
    var c = try testCache(8, 0);
    defer c.deinit();
    const frames = queue_capacity + 100;
    const stride = 160;
    const block = try testing.allocator.alignedAlloc(u8, .@"16", 48 + frames * stride);
    defer testing.allocator.free(block);
    @memset(block, 0);
    const bd: *linux.tpacket_block_desc = @ptrCast(@alignCast(block.ptr));
    bd.hdr.bh1.num_pkts = frames;
    bd.hdr.bh1.offset_to_first_pkt = 48;
    bd.hdr.bh1.seq_num = 7;
    for (0..frames) |i| {
        const at = 48 + i * stride;
        const hdr: *linux.tpacket3_hdr = @ptrCast(@alignCast(&block[at]));
        // Each a flow of its own, ended at once by its FIN: one record per frame.
        const n = (Build{ .protocol = proto_tcp, .tcp_flags = 0x11, .payload = 0, .src_port = @intCast(i) }).frame(block[at + 96 ..][0..64]);
        hdr.* = std.mem.zeroes(linux.tpacket3_hdr);
        hdr.mac = 96;
        hdr.snaplen = @intCast(n);
        hdr.len = @intCast(n);
        hdr.next_offset = stride;
    }
    const out = try testing.allocator.alloc(abi.FlowRecord, queue_capacity);
    defer testing.allocator.free(out);
    try testing.expectEqual(Progress.more, c.addBlock(block, 1, 0));
    const first = c.take(out);
    try testing.expect(first >= queue_capacity - 1);
    try testing.expectEqual(@as(u16, @intCast(first - 1)), out[first - 1].src_port);
    try testing.expectEqual(Progress.done, c.addBlock(block, 1, 0));
    const rest = c.take(out);
    try testing.expectEqual(@as(u32, frames), first + rest);
    try testing.expectEqual(@as(u16, @intCast(frames - 1)), out[rest - 1].src_port);
    try testing.expectEqual(@as(u64, frames), c.stats().packets);
    // A walk left unfinished is not resumed by another block (another sequence number).
    try testing.expectEqual(Progress.more, c.addBlock(block, 1, 0));
    _ = c.take(out);
    bd.hdr.bh1.seq_num = 8;
    try testing.expectEqual(Progress.more, c.addBlock(block, 1, 0));
    try testing.expectEqual(@as(u64, frames + 2 * (queue_capacity - 1)), c.stats().packets);
}

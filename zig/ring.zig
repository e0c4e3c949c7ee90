//! The TPACKET_V3 receive ring: socket setup, geometry, mmap, and the block hand-over.
//!
//! Order of set-up matters. The socket is made with protocol 0, so it receives nothing until
//! `bind` names ETH_P_ALL; the filter and the ring are in place before that, so no frame ever
//! reaches the ring unfiltered. Fanout needs a bound socket, so it comes after `bind`; between
//! the two the socket would receive every frame on its own, beside the group's members (a frame
//! seen twice). So a fanout member binds with a drop-all filter and swaps in its real one (or
//! none) only once it has joined the group.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const handles = @import("handles.zig");
const watch = @import("watch.zig");
const ifdrops = @import("ifdrops.zig");

const Error = abi.Error;

const tp_status_kernel: u32 = 0;
const tp_status_user: u32 = abi.TpStatus.user;
const tpacket_alignment = 16;
/// TPACKET3_HDRLEN: the aligned frame header plus the sockaddr_ll the kernel writes after it.
const tpacket3_hdrlen = std.mem.alignForward(usize, @sizeOf(linux.tpacket3_hdr), tpacket_alignment) + @sizeOf(linux.sockaddr.ll);
const bpf_maxinsns = 4096;
const bpf_ret_k: u16 = 0x06;
/// The kernel keeps the block timeout in an unsigned short.
const block_timeout_ms_max = std.math.maxInt(u16);
const block_size_max: u64 = std.math.maxInt(i32);
/// How often a call that does not wait looks for a socket error (see `Capture.nextBlock`).
const error_check_interval_ns = 100 * std.time.ns_per_ms;
/// The kernel's block timeout when the caller leaves it to the kernel (DEFAULT_PRB_RETIRE_TOV).
const block_timeout_default_ms = 8;
/// The longest a capture that went down waits for the kernel's last block before it says so.
const down_grace_max_ms = 500;

pub const SockFilter = extern struct { code: u16, jt: u8, jf: u8, k: u32 };
const SockFprog = extern struct { len: u16, filter: [*]const SockFilter };
const PacketMreq = extern struct { ifindex: i32, type: u16, alen: u16, address: [8]u8 };
const packet_mr_promisc: u16 = 1;
const tp_ft_req_fill_rxhash: u32 = 1;

/// A TPACKET_V2 frame's header (linux/if_packet.h struct tpacket2_hdr), which Zig's std lacks.
const Tpacket2Hdr = extern struct {
    status: u32,
    len: u32,
    snaplen: u32,
    mac: u16,
    net: u16,
    sec: u32,
    nsec: u32,
    vlan_tci: u16,
    vlan_tpid: u16,
    padding: [4]u8,
};
/// TPACKET_ALIGN(sizeof(struct tpacket2_hdr)): where the kernel writes a V2 frame's sockaddr_ll.
const tpacket2_sll_offset = std.mem.alignForward(usize, @sizeOf(Tpacket2Hdr), tpacket_alignment);
/// Where an immediate capture puts a frame's first byte in its TPACKET_V3-shaped block: where a
/// SOCK_DGRAM V3 ring puts it (TPACKET_ALIGN(68) + 16), so `cookBlock` finds room for SLL2.
const immediate_mac_offset = std.mem.alignForward(usize, tpacket3_hdrlen, tpacket_alignment) + 16;
/// The block header of a V3 block (BLK_PLUS_PRIV(0)).
const block_header_bytes = std.mem.alignForward(usize, @sizeOf(linux.tpacket_block_desc), 8);

comptime {
    std.debug.assert(@sizeOf(Tpacket2Hdr) == 32);
    std.debug.assert(immediate_mac_offset == 96);
    std.debug.assert(@sizeOf(SockFilter) == 8);
    std.debug.assert(@sizeOf(PacketMreq) == 16);
    std.debug.assert(tpacket3_hdrlen == 68);
}

pub const Capture = struct {
    fd: i32,
    wake_fd: i32,
    ring: [*]u8,
    ring_size_bytes: usize,
    block_size_bytes: u32,
    block_count: u32,
    /// The block the reader will be handed next, and whether it holds it now.
    current: u32,
    held: bool,
    stats: abi.CaptureStats,
    errno: sys.Errno,
    /// When a socket error (the interface went down or away) was first seen; from then on the
    /// capture is down for good: what the ring holds is handed over, then `network_down`.
    down_at_ns: ?u64 = null,
    /// How long after `down_at_ns` the block the kernel was filling may still be retired by its
    /// timer (it is, at most two block timeouts after it opened).
    down_grace_ns: u64,
    /// When the socket was last looked at for an error by a call that does not wait.
    checked_at_ns: u64 = 0,
    /// The thread that waits on the socket for a reader that must not block (`blocks()`).
    watch: ?watch.Watch = null,
    /// An "any" capture: each block gets its LINUX_SLL2 headers when handed over (`cookBlock`).
    cooked: bool = false,
    /// The caller's snaplen (0: none), which a cooked frame's header counts toward.
    snaplen_bytes: u32 = 0,
    /// The capture's interfaces' own drop counters, opened in its namespace.
    if_drops: ifdrops.InterfaceDrops = .{},
    /// Immediate mode: the kernel's ring is TPACKET_V2 (one status per frame, and poll wakes per
    /// frame), and `ring` is one TPACKET_V3-shaped block of our own memory that `nextBlock`
    /// fills with the frames ready (`Immediate.fill`), so readers see the same blocks.
    immediate: ?Immediate = null,

    /// The TPACKET_V2 ring behind an immediate capture.
    const Immediate = struct {
        frames: [*]u8,
        size_bytes: usize,
        frame_size_bytes: u32,
        frame_count: u32,
        /// The frame the kernel fills next, in ring order.
        next: u32 = 0,
        /// The number given to the next block handed over.
        sequence: u64 = 1,

        fn frameAt(self: *const Immediate, index: u32) [*]u8 {
            return self.frames + @as(usize, index) * self.frame_size_bytes;
        }

        fn statusOf(self: *const Immediate, index: u32) *u32 {
            return @ptrCast(@alignCast(self.frameAt(index)));
        }

        fn ready(self: *const Immediate, comptime order: std.builtin.AtomicOrder) bool {
            return @atomicLoad(u32, self.statusOf(self.next), order) & tp_status_user != 0;
        }

        /// Copies the frames ready, in order, into `block` (empty: its reader released it) as a
        /// TPACKET_V3 block, giving each V2 frame back to the kernel once copied. Stops at the
        /// first frame not ready or when the block is full.
        fn fill(self: *Immediate, block: []u8) void {
            const bd: *linux.tpacket_block_desc = @ptrCast(@alignCast(block.ptr));
            var at: usize = block_header_bytes;
            var count: u32 = 0;
            var last: ?*linux.tpacket3_hdr = null;
            while (self.ready(.acquire)) {
                const frame = self.frameAt(self.next);
                const v2: *const Tpacket2Hdr = @ptrCast(@alignCast(frame));
                // A frame whose bytes would overrun the V2 frame is the kernel's bug, not ours to read.
                const data_max = self.frame_size_bytes -| v2.mac;
                const room = block.len -| (at + immediate_mac_offset);
                var snaplen: usize = @min(v2.snaplen, data_max);
                if (snaplen > room) {
                    if (count > 0) break; // the rest goes in the next block
                    snaplen = room;
                }
                const hdr: *linux.tpacket3_hdr = @ptrCast(@alignCast(block.ptr + at));
                hdr.* = .{
                    .next_offset = 0,
                    .sec = v2.sec,
                    .nsec = v2.nsec,
                    .snaplen = @intCast(snaplen),
                    .len = v2.len,
                    .status = v2.status,
                    .mac = immediate_mac_offset,
                    .net = @intCast(immediate_mac_offset + @min(v2.net -| v2.mac, snaplen)),
                    .variant = .{ .hv1 = .{ .rxhash = 0, .vlan_tci = v2.vlan_tci, .vlan_tpid = v2.vlan_tpid, .padding = 0 } },
                    .padding = @splat(0),
                };
                @memcpy(block[at + abi.sockaddr_ll_offset ..][0..@sizeOf(linux.sockaddr.ll)], frame[tpacket2_sll_offset..][0..@sizeOf(linux.sockaddr.ll)]);
                @memcpy(block[at + immediate_mac_offset ..][0..snaplen], frame[v2.mac..][0..snaplen]);
                if (count == 0) bd.hdr.bh1.ts_first_pkt = .{ .sec = v2.sec, .frac = .{ .nsec = v2.nsec } };
                bd.hdr.bh1.ts_last_pkt = .{ .sec = v2.sec, .frac = .{ .nsec = v2.nsec } };
                @atomicStore(u32, self.statusOf(self.next), tp_status_kernel, .release);
                self.next = (self.next + 1) % self.frame_count;
                const size = std.mem.alignForward(usize, immediate_mac_offset + snaplen, tpacket_alignment);
                if (last) |l| l.next_offset = @intCast(@intFromPtr(hdr) - @intFromPtr(l));
                last = hdr;
                at += size;
                count += 1;
            }
            bd.version = @backingInt(linux.tpacket_versions.V3);
            bd.offset_to_priv = 0;
            bd.hdr.bh1.num_pkts = count;
            bd.hdr.bh1.offset_to_first_pkt = block_header_bytes;
            bd.hdr.bh1.blk_len = @intCast(at);
            bd.hdr.bh1.seq_num = self.sequence;
            self.sequence += 1;
            @atomicStore(u32, @as(*u32, @ptrCast(&bd.hdr.bh1.block_status)), tp_status_user, .release);
        }
    };

    fn blockDesc(self: *Capture, index: u32) *linux.tpacket_block_desc {
        std.debug.assert(index < self.block_count);
        return @ptrCast(@alignCast(self.ring + @as(usize, index) * self.block_size_bytes));
    }

    fn blockStatus(self: *Capture, index: u32) *u32 {
        return @ptrCast(&self.blockDesc(index).hdr.bh1.block_status);
    }

    fn currentReady(self: *Capture) bool {
        return @atomicLoad(u32, self.blockStatus(self.current), .acquire) & tp_status_user != 0;
    }

    /// Whether `nextBlock` has something to hand over: the current block, or for an immediate
    /// capture (whose one block the reader has released) a frame in the V2 ring.
    fn ready(self: *Capture) bool {
        if (self.currentReady()) return true;
        return if (self.immediate) |*im| im.ready(.acquire) else false;
    }

    fn describe(self: *Capture, out: ?*abi.BlockInfo) u32 {
        const bd = self.blockDesc(self.current);
        if (self.cooked) cookBlock(self.ring[@as(usize, self.current) * self.block_size_bytes ..][0..self.block_size_bytes], self.snaplen_bytes);
        if (out) |info| info.* = .{
            .index = self.current,
            .packet_count = bd.hdr.bh1.num_pkts,
            .offset_bytes = self.current * self.block_size_bytes,
            .length_bytes = bd.hdr.bh1.blk_len,
            .sequence = bd.hdr.bh1.seq_num,
        };
        return self.current;
    }

    /// Waits up to `timeout_ms` (negative: forever) for the current block to reach the reader.
    /// A signal does not end the wait: it goes round with the time left (sys.zig's EINTR rule).
    ///
    /// Every wait wakes on a socket error: the kernel reports an interface set down or deleted
    /// as a pending error (ENETDOWN), which makes poll return. A caller that does not wait
    /// (timeout 0, as `blocks()` before it arms its watcher) never reaches a blocking poll, so it looks
    /// with a poll that does not block, at most every `error_check_interval_ns`.
    pub fn nextBlock(self: *Capture, timeout_ms: i32, out: ?*abi.BlockInfo) Error!u32 {
        if (self.held) return error.BlockAlreadyHeld;
        const deadline_ns: ?u64 = if (timeout_ms < 0) null else sys.monotonicNs() + @as(u64, @intCast(timeout_ms)) * std.time.ns_per_ms;
        var looked = false;
        while (true) {
            if (!self.currentReady()) if (self.immediate) |*im| if (im.ready(.acquire)) {
                im.fill(self.ring[0..self.block_size_bytes]);
            };
            if (self.currentReady()) {
                self.held = true;
                return self.describe(out);
            }
            const now = sys.monotonicNs();
            var wait_ns: ?u64 = null; // null: until something happens
            if (self.down_at_ns) |down| {
                const end = down + self.down_grace_ns;
                if (now >= end) return error.NetworkDown;
                wait_ns = end - now;
            }
            if (deadline_ns) |deadline| {
                if (now >= deadline) {
                    if (looked or self.down_at_ns != null or now -| self.checked_at_ns < error_check_interval_ns) return error.TimedOut;
                    wait_ns = 0;
                } else {
                    wait_ns = @min(wait_ns orelse deadline - now, deadline - now);
                }
            }
            looked = true;
            self.checked_at_ns = now;
            try self.poll(wait_ns);
        }
    }

    /// One poll of the socket and the wake fd, for `wait_ns` (null: no limit); notes a socket
    /// error as the capture going down. Returns when something happened or the time is up.
    fn poll(self: *Capture, wait_ns: ?u64) Error!void {
        const wait_ms: i32 = if (wait_ns) |ns| @intCast(@min((ns + std.time.ns_per_ms - 1) / std.time.ns_per_ms, std.math.maxInt(i32))) else -1;
        var fds = [2]linux.pollfd{
            .{ .fd = self.fd, .events = linux.POLL.IN | linux.POLL.ERR },
            .{ .fd = self.wake_fd, .events = linux.POLL.IN },
        };
        const nfds: usize = if (self.wake_fd >= 0) 2 else 1;
        switch (sys.errnoOf(linux.poll(&fds, nfds, wait_ms))) {
            .SUCCESS => {},
            .INTR => return,
            .NOMEM => |e| return self.errno.fail(e, error.OutOfMemory),
            else => unreachable, // EFAULT/EINVAL: our own pollfd array is wrong.
        }
        if (self.ready()) return;
        if (nfds == 2 and fds[1].revents & linux.POLL.IN != 0) return error.Woken;
        if (fds[0].revents & (linux.POLL.ERR | linux.POLL.NVAL) != 0) self.checkSocketError();
    }

    /// A pending socket error (the interface went away or down) would make poll return at once
    /// forever; read it (which clears it) and remember that the capture is down.
    fn checkSocketError(self: *Capture) void {
        var so_error: i32 = 0;
        _ = sys.getsockopt(self.fd, linux.SOL.SOCKET, linux.SO.ERROR, std.mem.asBytes(&so_error), &self.errno) catch {};
        if (so_error != 0 and self.down_at_ns == null) {
            self.errno.value = so_error;
            self.down_at_ns = sys.monotonicNs();
        }
    }

    /// Starts the capture's watcher (once) and returns the read end of its pipe.
    pub fn watchStart(self: *Capture) Error!i32 {
        if (self.watch == null) {
            self.watch = @as(watch.Watch, undefined);
            self.watch.?.start(self.fd, &self.errno) catch |err| {
                self.watch = null;
                return err;
            };
        }
        return self.watch.?.notify_read;
    }

    /// What `nextBlock` does before it would block, without blocking: true when the current
    /// block is ready now; otherwise arms the watcher, which writes its byte when the next block
    /// is handed over (or, once the capture is down, when its grace is over), and returns false.
    pub fn watchArm(self: *Capture) Error!bool {
        if (self.held) return error.BlockAlreadyHeld;
        const w = if (self.watch) |*w| w else return error.InvalidArgument;
        if (self.ready()) return true;
        // One look at the socket, which notes an error as the capture going down (the watcher's
        // edge for it may have come while nobody waited). The wake fd is for blocking waits: a
        // reader that does not block has its own ways to stop.
        self.checked_at_ns = sys.monotonicNs();
        self.poll(0) catch |err| if (err != error.Woken) return err;
        var deadline_ns: u64 = 0;
        if (self.down_at_ns) |down| {
            deadline_ns = down + self.down_grace_ns;
            if (sys.monotonicNs() >= deadline_ns) return error.NetworkDown;
        }
        w.arm(deadline_ns);
        // The second look (see Watch.arm): a block handed over before `waiting` was set.
        if (@atomicLoad(u32, self.blockStatus(self.current), .seq_cst) & tp_status_user != 0) return w.disarm();
        if (self.immediate) |*im| if (im.ready(.seq_cst)) return w.disarm();
        return false;
    }

    /// Stops the watcher, whose reader then sees end-of-file; the read end stays open for it.
    pub fn watchStop(self: *Capture) void {
        if (self.watch) |*w| w.stop();
        self.watch = null;
    }

    /// The name of interface `index` in the capture's namespace.
    pub fn interfaceName(self: *Capture, index: i32, out: *[abi.ifname_size]u8) Error![]const u8 {
        return sys.PacketSocket.nameOf(self.fd, index, out, &self.errno);
    }

    pub fn releaseBlock(self: *Capture) Error!void {
        if (!self.held) return error.BlockNotHeld;
        const status = self.blockStatus(self.current);
        std.debug.assert(@atomicLoad(u32, status, .monotonic) & tp_status_user != 0);
        @atomicStore(u32, status, tp_status_kernel, .release);
        self.current = (self.current + 1) % self.block_count;
        self.held = false;
    }

    /// Reads PACKET_STATISTICS (which the kernel resets on every read) into the running totals.
    pub fn readStats(self: *Capture) Error!abi.CaptureStats {
        // A TPACKET_V2 socket (immediate mode) fills only the first two counters.
        var st: linux.tpacket_stats_v3 = .{ .packets = 0, .drops = 0, .freeze_q_cnt = 0 };
        _ = try sys.getsockopt(self.fd, linux.SOL.PACKET, linux.PACKET.STATISTICS, std.mem.asBytes(&st), &self.errno);
        self.stats.packets += st.packets;
        self.stats.drops += st.drops;
        self.stats.freezes += st.freeze_q_cnt;
        self.stats.interface_drops = self.if_drops.read();
        return self.stats;
    }

    pub fn deinit(self: *Capture) void {
        // The watcher polls the socket: it ends before the socket does.
        self.watchStop();
        self.if_drops.deinit();
        sys.munmap(self.ring, self.ring_size_bytes);
        if (self.immediate) |im| sys.munmap(im.frames, im.size_bytes);
        sys.close(self.fd);
        self.* = undefined;
    }
};

pub var table: handles.Table(Capture) = .{};

const sll2_bytes = abi.sll2_header_bytes;

/// Gives every frame of a cooked capture's block (`block`: the whole block) a LINUX_SLL2 header,
/// as libpcap does for "any": built from the sockaddr_ll the kernel wrote beside the frame,
/// written in the room a SOCK_DGRAM ring leaves in front of the network header (16 bytes plus
/// alignment: 28 with TPACKET_V3). The frame's tp_mac moves back over it and its tp_snaplen and
/// tp_len count it, so readers see an SLL2 frame like any other, with no stripped VLAN tag to
/// restore. A frame already cooked has
/// tp_mac below tp_net and is left alone, so a block is never cooked twice.
fn cookBlock(block: []u8, snaplen_bytes: u32) void {
    const bd: *linux.tpacket_block_desc = @ptrCast(@alignCast(block.ptr));
    var at: usize = bd.hdr.bh1.offset_to_first_pkt;
    for (0..bd.hdr.bh1.num_pkts) |_| {
        if (at + tpacket3_hdrlen > block.len) return;
        const hdr: *linux.tpacket3_hdr = @ptrCast(@alignCast(block.ptr + at));
        if (hdr.mac == hdr.net and hdr.mac >= tpacket3_hdrlen + sll2_bytes and at + hdr.mac <= block.len) {
            const sll = block[at + abi.sockaddr_ll_offset ..][0..@sizeOf(linux.sockaddr.ll)];
            const out = block[at + hdr.mac - sll2_bytes ..][0..sll2_bytes];
            const ll: *const linux.sockaddr.ll = @ptrCast(@alignCast(sll.ptr));
            @memcpy(out[0..2], sll[2..4]); // the protocol, already in network byte order
            @memset(out[2..4], 0);
            std.mem.writeInt(i32, out[4..8], ll.ifindex, .big);
            std.mem.writeInt(u16, out[8..10], ll.hatype, .big);
            out[10] = ll.pkttype;
            out[11] = ll.halen;
            // The kernel writes only `halen` bytes of the address: the rest of it in the ring is
            // whatever an earlier frame left there.
            const halen: usize = @min(ll.halen, 8);
            @memcpy(out[12..][0..halen], sll[12..][0..halen]);
            @memset(out[12 + halen .. 20], 0);
            hdr.mac -= sll2_bytes;
            hdr.snaplen += sll2_bytes;
            if (snaplen_bytes != 0) hdr.snaplen = @min(hdr.snaplen, snaplen_bytes);
            hdr.len += sll2_bytes;
            // A cooked frame has no link-layer header to put a stripped VLAN tag back into (nor
            // does libpcap's for "any"): it is not offered as one.
            hdr.status &= ~(abi.TpStatus.vlan_valid | abi.TpStatus.vlan_tpid_valid);
        }
        if (hdr.next_offset == 0) return;
        at += hdr.next_offset;
    }
}

const bpf_ld_w_abs: u16 = 0x20;
const bpf_jeq_k: u16 = 0x15;
/// SKF_AD_OFF + SKF_AD_IFINDEX: a load of the index of the interface a frame came through.
const skf_ad_ifindex: u32 = 0xfffff000 + 8;

/// `filter` behind a prefix that drops frames of any interface but `indexes` (a capture of
/// several interfaces on one socket bound to none), into `buf`. Jumps are relative, so the
/// filter runs unchanged after the prefix; an empty filter accepts whole frames.
fn interfacesProgram(indexes: []const i32, filter: []const SockFilter, buf: *[bpf_maxinsns]SockFilter) Error![]const SockFilter {
    const n = indexes.len;
    const body = @max(filter.len, 1);
    if (n + 2 + body > bpf_maxinsns) return error.FilterInvalid;
    buf[0] = .{ .code = bpf_ld_w_abs, .jt = 0, .jf = 0, .k = skf_ad_ifindex };
    for (indexes, 0..) |index, j| {
        // To the first instruction after the `ret 0` below.
        buf[1 + j] = .{ .code = bpf_jeq_k, .jt = @intCast(n - j), .jf = 0, .k = @bitCast(index) };
    }
    buf[n + 1] = .{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = 0 };
    if (filter.len == 0) {
        buf[n + 2] = .{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = std.math.maxInt(u32) };
    } else {
        @memcpy(buf[n + 2 ..][0..filter.len], filter);
    }
    return buf[0 .. n + 2 + body];
}

pub const Geometry = struct {
    block_size_bytes: u32,
    block_count: u32,
    frame_size_bytes: u32,
    block_timeout_ms: u32,

    fn ringSizeBytes(g: Geometry) usize {
        return @as(usize, g.block_size_bytes) * g.block_count;
    }
};

/// The rules the kernel applies to a TPACKET_V3 ring, checked first so each gets its own name.
pub fn validateGeometry(g: Geometry, page_size: u32) Error!void {
    if (g.frame_size_bytes < tpacket3_hdrlen or g.frame_size_bytes % tpacket_alignment != 0) return error.FrameSizeInvalid;
    if (g.block_size_bytes == 0 or g.block_size_bytes % page_size != 0) return error.BlockSizeNotPageMultiple;
    if (g.block_size_bytes % g.frame_size_bytes != 0) return error.BlockSizeNotFrameMultiple;
    if (g.block_size_bytes > block_size_max) return error.RingTooLarge;
    if (g.block_count == 0) return error.BlockCountInvalid;
    const frames_per_block = g.block_size_bytes / g.frame_size_bytes;
    if (@as(u64, frames_per_block) * g.block_count > std.math.maxInt(u32)) return error.RingTooLarge;
    if (@as(u64, g.block_size_bytes) * g.block_count > std.math.maxInt(usize) / 2) return error.RingTooLarge;
    if (g.block_timeout_ms > block_timeout_ms_max) return error.BlockTimeoutInvalid;
}

/// The most a ring may take of `mem_available` bytes: half, so that one capture (or a pool of
/// them, each opened when the one before has taken its share) leaves the rest of the machine
/// room; all of it when the caller allows a large ring. The kernel allocates a ring at once and
/// cannot be interrupted while it does, so a ring larger than this is never asked for.
pub fn ringLimitBytes(mem_available: u64, allow_large: bool) u64 {
    return if (allow_large) mem_available else mem_available / 2;
}

/// Attaches `program` with every accepting return clamped to `snaplen` (how snaplen works for
/// TPACKET: the filter's return value is the number of bytes the kernel copies).
fn attachFilter(fd: i32, program: []const SockFilter, snaplen: u32, err: *sys.Errno) Error!void {
    var patched: [bpf_maxinsns]SockFilter = undefined;
    var len: usize = program.len;
    if (program.len == 0) {
        patched[0] = .{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = snaplen };
        len = 1;
    } else {
        if (program.len > bpf_maxinsns) return error.FilterInvalid;
        for (program, patched[0..program.len]) |insn, *out| {
            out.* = insn;
            if (snaplen != 0 and insn.code == bpf_ret_k and insn.k > snaplen) out.k = snaplen;
        }
    }
    const fprog = SockFprog{ .len = @intCast(len), .filter = &patched };
    return switch (sys.setsockoptRaw(fd, linux.SOL.SOCKET, linux.SO.ATTACH_FILTER, std.mem.asBytes(&fprog))) {
        .SUCCESS => {},
        .INVAL, .FAULT => |e| err.fail(e, error.FilterInvalid),
        // The program is charged to the socket's option memory (net.core.optmem_max): ENOMEM
        // is that limit, not a shortage of memory.
        .NOMEM => |e| err.fail(e, error.FilterTooLarge),
        .PERM, .ACCES => |e| err.fail(e, error.PermissionDenied),
        else => |e| err.fail(e, error.Unexpected),
    };
}

/// A program that accepts nothing: what a fanout member holds until it has joined its group.
fn attachDropAll(fd: i32, err: *sys.Errno) Error!void {
    const program = [1]SockFilter{.{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = 0 }};
    // snaplen 0 leaves the program as it is (no clamping): `ret 0` stays a drop.
    return attachFilter(fd, &program, 0, err);
}

fn detachFilter(fd: i32, err: *sys.Errno) Error!void {
    const unused: u32 = 0;
    return switch (sys.setsockoptRaw(fd, linux.SOL.SOCKET, linux.SO.DETACH_FILTER, std.mem.asBytes(&unused))) {
        .SUCCESS => {},
        else => |e| err.fail(e, error.Unexpected),
    };
}

const fanout_flags_known = abi.FanoutFlag.rollover | abi.FanoutFlag.unique_id |
    abi.FanoutFlag.ignore_outgoing | abi.FanoutFlag.defrag;

/// The fanout settings the kernel would take, checked first so a mistake is ours to name.
fn validateFanout(cfg: *const abi.CaptureConfig, fanout_prog: []const SockFilter) Error!void {
    if (cfg.fanout_mode > abi.FanoutMode.ebpf) return error.FanoutInvalid;
    if (cfg.fanout_flags & ~fanout_flags_known != 0) return error.FanoutInvalid;
    if (cfg.fanout_group_id > std.math.maxInt(u16)) return error.FanoutInvalid;
    const unique = cfg.fanout_flags & abi.FanoutFlag.unique_id != 0;
    if (unique and cfg.fanout_group_id != 0) return error.FanoutInvalid;
    if (cfg.fanout_mode == abi.FanoutMode.rollover and cfg.fanout_flags & abi.FanoutFlag.rollover != 0) return error.FanoutInvalid;
    if (cfg.fanout_mode == abi.FanoutMode.cbpf and fanout_prog.len == 0) return error.FanoutInvalid;
    if (cfg.fanout_mode == abi.FanoutMode.ebpf and cfg.fanout_ebpf_fd < 0) return error.FanoutInvalid;
}

/// Joins the fanout group `cfg` names and returns the group id the kernel reports (the one it
/// chose, with the unique-id flag).
fn joinFanout(fd: i32, cfg: *const abi.CaptureConfig, fanout_prog: []const SockFilter, err: *sys.Errno) Error!u32 {
    try validateFanout(cfg, fanout_prog);
    const arg: u32 = cfg.fanout_group_id | ((cfg.fanout_mode | cfg.fanout_flags) << 16);
    switch (sys.setsockoptRaw(fd, linux.SOL.PACKET, linux.PACKET.FANOUT, std.mem.asBytes(&arg))) {
        .SUCCESS => {},
        // Our own checks passed, so the kernel refused the group: it exists with another
        // mode, flags or interface, or it is full.
        .INVAL, .NOSPC, .ALREADY => |e| return err.fail(e, error.FanoutGroupBusy),
        .NOMEM => |e| return err.fail(e, error.OutOfMemory),
        else => |e| return err.fail(e, error.Unexpected),
    }
    switch (cfg.fanout_mode) {
        abi.FanoutMode.cbpf => {
            if (fanout_prog.len > bpf_maxinsns) return error.FilterInvalid;
            const fprog = SockFprog{ .len = @intCast(fanout_prog.len), .filter = fanout_prog.ptr };
            try fanoutData(fd, std.mem.asBytes(&fprog), err);
        },
        abi.FanoutMode.ebpf => try fanoutData(fd, std.mem.asBytes(&cfg.fanout_ebpf_fd), err),
        else => {},
    }
    var joined: u32 = 0;
    _ = try sys.getsockopt(fd, linux.SOL.PACKET, linux.PACKET.FANOUT, std.mem.asBytes(&joined), err);
    return joined & 0xffff;
}

fn fanoutData(fd: i32, value: []const u8, err: *sys.Errno) Error!void {
    return switch (sys.setsockoptRaw(fd, linux.SOL.PACKET, linux.PACKET.FANOUT_DATA, value)) {
        .SUCCESS => {},
        .INVAL, .BADF, .FAULT => |e| err.fail(e, error.FilterInvalid),
        .NOMEM => |e| err.fail(e, error.OutOfMemory),
        else => |e| err.fail(e, error.Unexpected),
    };
}

/// A capture's settings, checked before anything is opened.
const Request = struct {
    cfg: *const abi.CaptureConfig,
    name: [:0]const u8,
    /// `name` and the further names of `cfg.more_ifnames`; only "any" for an any capture.
    names: [abi.interfaces_max][:0]const u8,
    name_count: usize,
    netns: [:0]const u8,
    geometry: Geometry,
    page_size: u32,
    filter: []const SockFilter,
    fanout_prog: []const SockFilter,
    mem_available_bytes: u64,
    ring_limit_bytes: u64,

    fn joinsFanout(r: Request) bool {
        return r.cfg.flags & abi.CaptureFlag.fanout != 0;
    }

    fn wantsFilter(r: Request) bool {
        return r.filter.len != 0 or r.cfg.snaplen_bytes != 0 or r.name_count > 1;
    }

    /// Immediate mode: a TPACKET_V2 ring (see `Capture.immediate`).
    fn immediate(r: Request) bool {
        return r.cfg.flags & abi.CaptureFlag.immediate != 0;
    }

    /// "any": every interface, cooked (the frames' link types differ).
    fn cooked(r: Request) bool {
        return std.mem.eql(u8, r.name, abi.any_interface);
    }

    /// Bound to no interface: "any", or several interfaces on one socket.
    fn unbound(r: Request) bool {
        return r.cooked() or r.name_count > 1;
    }

    /// The snaplen the kernel applies: a cooked frame's SLL2 header is not in the kernel's
    /// count, but is in the caller's.
    fn kernelSnaplen(r: Request) u32 {
        const snaplen = r.cfg.snaplen_bytes;
        if (snaplen == 0 or !r.cooked()) return snaplen;
        return @max(snaplen -| sll2_bytes, 1);
    }
};

/// The interface names of `cfg`: `ifname`, then `more_ifnames` up to the first empty one, each
/// valid, none twice; "any" only alone.
fn interfaceNames(cfg: *const abi.CaptureConfig, names: *[abi.interfaces_max][:0]const u8) Error!usize {
    names[0] = try sys.interfaceName(&cfg.ifname);
    var count: usize = 1;
    for (&cfg.more_ifnames) |*field| {
        const name = sys.fixedName(field) orelse return error.InterfaceNameInvalid;
        if (name.len == 0) break;
        names[count] = try sys.interfaceName(field);
        count += 1;
    }
    for (names[0..count], 0..) |name, i| {
        if (count > 1 and std.mem.eql(u8, name, abi.any_interface)) return error.InterfaceNameInvalid;
        for (names[0..i]) |earlier| if (std.mem.eql(u8, name, earlier)) return error.InterfaceNameInvalid;
    }
    return count;
}

/// Checks a capture's settings, its ring against the memory the machine has now (the numbers go
/// to `info`, for the caller's message), and returns them as a Request.
fn check(cfg: *const abi.CaptureConfig, filter: []const SockFilter, fanout_prog: []const SockFilter, info: *abi.CaptureInfo) Error!Request {
    var request = Request{
        .cfg = cfg,
        .name = undefined,
        .names = undefined,
        .name_count = 0,
        .netns = try sys.netnsPath(&cfg.netns_path),
        .geometry = .{
            .block_size_bytes = cfg.block_size_bytes,
            .block_count = cfg.block_count,
            .frame_size_bytes = cfg.frame_size_bytes,
            .block_timeout_ms = cfg.block_timeout_ms,
        },
        .page_size = sys.pageSize(),
        .filter = filter,
        .fanout_prog = fanout_prog,
        .mem_available_bytes = 0,
        .ring_limit_bytes = 0,
    };
    request.name_count = try interfaceNames(cfg, &request.names);
    request.name = request.names[0];
    try validateGeometry(request.geometry, request.page_size);
    if (filter.len > bpf_maxinsns or fanout_prog.len > bpf_maxinsns) return error.FilterInvalid;
    request.mem_available_bytes = sys.memAvailableBytes();
    request.ring_limit_bytes = ringLimitBytes(request.mem_available_bytes, cfg.flags & abi.CaptureFlag.allow_large_ring != 0);
    info.ring_size_bytes = request.geometry.ringSizeBytes();
    info.mem_available_bytes = request.mem_available_bytes;
    info.ring_limit_bytes = request.ring_limit_bytes;
    if (request.geometry.ringSizeBytes() > request.ring_limit_bytes) return error.RingExceedsMemory;
    return request;
}

/// Opens a capture into the handle table: what `ringcap_capture_open` does.
pub fn open(
    cfg: *const abi.CaptureConfig,
    filter: []const SockFilter,
    fanout_prog: []const SockFilter,
    info: *abi.CaptureInfo,
) Error!void {
    var err: sys.Errno = .{};
    defer info.errno = err.value;
    const request = try check(cfg, filter, fanout_prog, info);
    const index = try table.claim();
    errdefer table.release(index);
    table.items[index] = try sys.inNetns(request.netns, &err, openIn, .{ request, info, &err });
    info.handle = table.publish(index);
}

/// Opens a capture that the caller owns (no handle; `deinit` closes it): the bench's Zig loop
/// reads a ring this way, set up exactly as a handle's.
pub fn openOwned(
    cfg: *const abi.CaptureConfig,
    filter: []const SockFilter,
    fanout_prog: []const SockFilter,
    info: *abi.CaptureInfo,
    err: *sys.Errno,
) Error!Capture {
    const request = try check(cfg, filter, fanout_prog, info);
    return sys.inNetns(request.netns, err, openIn, .{ request, info, err });
}

/// Every step of the set-up, in the order the file comment explains, inside the namespace.
fn openIn(r: Request, info: *abi.CaptureInfo, err: *sys.Errno) Error!Capture {
    return openSteps(r, info, err) catch |e| {
        // Read here, inside the namespace: its own limit is the one that counted.
        if (e == error.FilterTooLarge) {
            info.optmem_max_bytes = @intCast(@min(sys.readNumberFile("/proc/sys/net/core/optmem_max") orelse 0, std.math.maxInt(u32)));
        }
        return e;
    };
}

fn openSteps(r: Request, info: *abi.CaptureInfo, err: *sys.Errno) Error!Capture {
    const sock = if (r.unbound()) try sys.PacketSocket.openAll(r.cooked(), err) else try sys.PacketSocket.open(0, r.name, err);
    errdefer sys.close(sock.fd);
    const allow_down = r.cfg.flags & abi.CaptureFlag.allow_down != 0;
    if (!sock.iface.up and !allow_down) return error.InterfaceDown;

    // Several interfaces: each looked up in the namespace, up, and of the first one's link type
    // (one socket gives one stream of frames, which a file describes with one link type).
    var ifaces: [abi.interfaces_max]sys.Interface = undefined;
    var indexes: [abi.interfaces_max]i32 = undefined;
    const count: usize = if (r.cooked()) 0 else r.name_count;
    ifaces[0] = sock.iface;
    for (0..count) |i| {
        if (r.unbound()) ifaces[i] = try sock.lookup(r.names[i], err);
        if (!ifaces[i].up and !allow_down) return error.InterfaceDown;
        if (frameKind(ifaces[i].link_type) != frameKind(ifaces[0].link_type)) return error.NotSupported;
        indexes[i] = ifaces[i].index;
    }
    var program_buf: [bpf_maxinsns]SockFilter = undefined;
    const program = if (count > 1) try interfacesProgram(indexes[0..count], r.filter, &program_buf) else r.filter;

    try setOptions(sock.fd, r, program, err);
    if (r.cfg.timestamp_type != abi.TimestampType.host) try hardwareStamps(sock.fd, r, err);
    const ring = try mapRing(sock.fd, r.geometry, r.cfg.flags, err);
    errdefer sys.munmap(ring, r.geometry.ringSizeBytes());
    // Immediate: the reader reads one block of our own, which `nextBlock` fills from the V2 ring.
    const block: ?[*]u8 = if (r.immediate()) try sys.mmapAnonymous(r.geometry.block_size_bytes, err) else null;
    errdefer if (block) |b| sys.munmap(b, r.geometry.block_size_bytes);
    try sock.bind(sys.eth_p_all, err);

    var fanout_id: u32 = 0;
    if (r.joinsFanout()) {
        fanout_id = try joinFanout(sock.fd, r.cfg, r.fanout_prog, err);
        if (r.wantsFilter()) try attachFilter(sock.fd, program, r.kernelSnaplen(), err) else try detachFilter(sock.fd, err);
    }
    // An "any" capture is not promiscuous (as libpcap's): it names no interface to make so.
    if (r.cfg.flags & abi.CaptureFlag.promisc != 0) for (indexes[0..count]) |index| {
        const mreq = PacketMreq{ .ifindex = index, .type = packet_mr_promisc, .alen = 0, .address = @splat(0) };
        try sys.setsockopt(sock.fd, linux.SOL.PACKET, linux.PACKET.ADD_MEMBERSHIP, std.mem.asBytes(&mreq), err);
    };
    const read_size: usize = if (block == null) r.geometry.ringSizeBytes() else r.geometry.block_size_bytes;
    info.* = infoOf(r, ifaces[0..@max(count, 1)], block orelse ring, read_size, fanout_id);
    // Inside the namespace, beside the socket: the counters are this namespace's.
    var if_drops = ifdrops.InterfaceDrops.open(r.names[0..r.name_count], r.cooked());
    errdefer if_drops.deinit();
    return .{
        .fd = sock.fd,
        .wake_fd = r.cfg.wake_fd,
        .ring = block orelse ring,
        .ring_size_bytes = read_size,
        .block_size_bytes = r.geometry.block_size_bytes,
        .block_count = if (block == null) r.geometry.block_count else 1,
        .current = 0,
        .held = false,
        .stats = .{ .packets = 0, .drops = 0, .freezes = 0 },
        .if_drops = if_drops,
        .errno = .{},
        .down_grace_ns = downGraceNs(r.geometry.block_timeout_ms),
        .cooked = r.cooked(),
        .snaplen_bytes = r.cfg.snaplen_bytes,
        .immediate = if (block == null) null else .{
            .frames = ring,
            .size_bytes = r.geometry.ringSizeBytes(),
            .frame_size_bytes = r.geometry.frame_size_bytes,
            .frame_count = @intCast(r.geometry.ringSizeBytes() / r.geometry.frame_size_bytes),
        },
    };
}

/// What a frame of an interface of ARPHRD type `link_type` starts with: loopback frames have an
/// Ethernet header (as libpcap says, DLT_EN10MB), so lo and an Ethernet interface share a stream.
fn frameKind(link_type: u32) u32 {
    const arphrd_ether = 1;
    const arphrd_loopback = 772;
    return if (link_type == arphrd_loopback) arphrd_ether else link_type;
}

/// Two block timeouts and a margin for the timer, at most `down_grace_max_ms`.
fn downGraceNs(block_timeout_ms: u32) u64 {
    const timeout: u64 = if (block_timeout_ms == 0) block_timeout_default_ms else block_timeout_ms;
    const grace_ms: u64 = @min(2 * timeout + 20, down_grace_max_ms);
    return grace_ms * std.time.ns_per_ms;
}

const HwtstampConfig = extern struct { flags: i32, tx_type: i32, rx_filter: i32 };
const hwtstamp_tx_off: i32 = 0;
const hwtstamp_filter_all: i32 = 1;
/// The PACKET_TIMESTAMP sources, as libpcap maps them: the NIC's clock converted to system time
/// for `adapter` (which kernels since 3.17 no longer offer: no driver lists it), the NIC's own
/// clock for `adapter_unsynced`.
const sof_timestamping_sys_hardware: u32 = 1 << 5;
const sof_timestamping_raw_hardware: u32 = 1 << 6;

/// Turns on receive stamping in each interface's NIC (SIOCSHWTSTAMP: every received packet;
/// transmit stamping left off, where libpcap turns it on) and asks the ring for those stamps.
/// Each interface must list the type (`timestampTypes`, what -J shows) and take the ioctl;
/// otherwise that is `timestamp_type_not_supported`, never a silent fallback to the host's
/// clock (PACKET_TIMESTAMP takes a source the kernel then ignores). "any" names no interface.
fn hardwareStamps(fd: i32, r: Request, err: *sys.Errno) Error!void {
    const wanted = r.cfg.timestamp_type;
    if (wanted > abi.TimestampType.adapter_unsynced) return error.InvalidArgument;
    if (r.cooked()) return error.TimestampTypeNotSupported;
    for (r.names[0..r.name_count]) |name| {
        const offered = try timestampTypesIn(name, err);
        if (offered & (@as(u32, 1) << @intCast(wanted)) == 0) return error.TimestampTypeNotSupported;
    }
    for (r.names[0..r.name_count]) |name| {
        var config = HwtstampConfig{ .flags = 0, .tx_type = hwtstamp_tx_off, .rx_filter = hwtstamp_filter_all };
        var req: linux.ifreq = std.mem.zeroes(linux.ifreq);
        @memcpy(req.ifrn.name[0..name.len], name);
        req.ifru.data = @ptrCast(&config);
        switch (sys.errnoOf(sys.retry(linux.ioctl, .{ fd, linux.SIOCSHWTSTAMP, @intFromPtr(&req) }))) {
            .SUCCESS => {},
            .OPNOTSUPP, .INVAL, .RANGE, .NOTTY => |e| return err.fail(e, error.TimestampTypeNotSupported),
            .PERM, .ACCES => |e| return err.fail(e, error.PermissionDenied),
            .NODEV, .NXIO => |e| return err.fail(e, error.NoSuchInterface),
            else => |e| return err.fail(e, error.Unexpected),
        }
    }
    const source = if (wanted == abi.TimestampType.adapter) sof_timestamping_sys_hardware else sof_timestamping_raw_hardware;
    return switch (sys.setsockoptRaw(fd, linux.SOL.PACKET, linux.PACKET.TIMESTAMP, std.mem.asBytes(&source))) {
        .SUCCESS => {},
        .NOPROTOOPT, .INVAL => |e| err.fail(e, error.TimestampTypeNotSupported),
        else => |e| err.fail(e, error.Unexpected),
    };
}

const EthtoolTsInfo = extern struct {
    cmd: u32,
    so_timestamping: u32,
    phc_index: i32,
    tx_types: u32,
    tx_reserved: [3]u32,
    rx_filters: u32,
    rx_reserved: [3]u32,
};
const ethtool_get_ts_info: u32 = 0x41;
/// What `ringcap_timestamp_types` answers: the timestamp types interface `cfg.ifname` offers,
/// as libpcap lists them (ETHTOOL_GET_TS_INFO): host always; the NIC's clocks only when it can
/// stamp every received packet (HWTSTAMP_FILTER_ALL), adapter for SYS_HARDWARE, adapter_unsynced
/// for RAW_HARDWARE. An interface that does not answer (EOPNOTSUPP) offers host only; so does "any".
pub fn timestampTypes(cfg: *const abi.CaptureConfig) Error!u32 {
    const name = try sys.interfaceName(&cfg.ifname);
    const netns = try sys.netnsPath(&cfg.netns_path);
    var err: sys.Errno = .{};
    return sys.inNetns(netns, &err, timestampTypesIn, .{ name, &err });
}

fn timestampTypesIn(name: [:0]const u8, err: *sys.Errno) Error!u32 {
    const host: u32 = 1 << abi.TimestampType.host;
    // An AF_INET datagram socket: ethtool needs no capability to read, and it looks up the
    // name in the namespace the socket was made in.
    const fd = try sys.socket(linux.AF.INET, linux.SOCK.DGRAM, 0, err);
    defer sys.close(fd);
    var req: linux.ifreq = std.mem.zeroes(linux.ifreq);
    @memcpy(req.ifrn.name[0..name.len], name);
    // An unknown name is an error even for "any" (ringcap's word for every interface).
    if (!std.mem.eql(u8, name, abi.any_interface)) {
        try sys.ioctl(fd, linux.SIOCGIFINDEX, @intFromPtr(&req), err);
    } else return host;
    var info = std.mem.zeroes(EthtoolTsInfo);
    info.cmd = ethtool_get_ts_info;
    req.ifru.data = @ptrCast(&info);
    switch (sys.errnoOf(sys.retry(linux.ioctl, .{ fd, linux.SIOCETHTOOL, @intFromPtr(&req) }))) {
        .SUCCESS => {},
        .OPNOTSUPP, .INVAL => return host,
        .NODEV, .NXIO => |e| return err.fail(e, error.NoSuchInterface),
        .PERM, .ACCES => |e| return err.fail(e, error.PermissionDenied),
        else => |e| return err.fail(e, error.Unexpected),
    }
    if (info.rx_filters & (1 << @as(u5, @intCast(hwtstamp_filter_all))) == 0) return host;
    var bits = host;
    if (info.so_timestamping & sof_timestamping_sys_hardware != 0) bits |= 1 << abi.TimestampType.adapter;
    if (info.so_timestamping & sof_timestamping_raw_hardware != 0) bits |= 1 << abi.TimestampType.adapter_unsynced;
    return bits;
}

/// The socket options that must be in place before the ring: TPACKET_V3 (V2 when immediate), outgoing frames,
/// and the filter (or, for a fanout member, drop-all until it has joined).
fn setOptions(fd: i32, r: Request, program: []const SockFilter, err: *sys.Errno) Error!void {
    const version: u32 = @backingInt(if (r.immediate()) linux.tpacket_versions.V2 else linux.tpacket_versions.V3);
    sys.setsockopt(fd, linux.SOL.PACKET, linux.PACKET.VERSION, std.mem.asBytes(&version), err) catch |e|
        return if (e == error.InvalidArgument) error.NotSupported else e;
    if (r.cfg.flags & abi.CaptureFlag.ignore_outgoing != 0) {
        const one: u32 = 1;
        try sys.setsockopt(fd, linux.SOL.PACKET, linux.PACKET.IGNORE_OUTGOING, std.mem.asBytes(&one), err);
    }
    if (r.joinsFanout()) {
        try attachDropAll(fd, err);
    } else if (r.wantsFilter()) {
        try attachFilter(fd, program, r.kernelSnaplen(), err);
    }
}

/// Asks the kernel for the ring (PACKET_RX_RING) and maps it.
fn mapRing(fd: i32, g: Geometry, flags: u32, err: *sys.Errno) Error![*]u8 {
    const req = linux.tpacket_req3{
        .block_size = g.block_size_bytes,
        .block_nr = g.block_count,
        .frame_size = g.frame_size_bytes,
        .frame_nr = (g.block_size_bytes / g.frame_size_bytes) * g.block_count,
        .retire_blk_tov = g.block_timeout_ms,
        .sizeof_priv = 0,
        .feature_req_word = if (flags & abi.CaptureFlag.fill_rxhash != 0) tp_ft_req_fill_rxhash else 0,
    };
    switch (sys.setsockoptRaw(fd, linux.SOL.PACKET, linux.PACKET.RX_RING, std.mem.asBytes(&req))) {
        .SUCCESS => {},
        .INVAL => |e| return err.fail(e, error.RingRejected),
        .NOMEM => |e| return err.fail(e, error.OutOfMemory),
        .PERM, .ACCES => |e| return err.fail(e, error.PermissionDenied),
        else => |e| return err.fail(e, error.Unexpected),
    }
    return sys.mmapShared(fd, g.ringSizeBytes(), err);
}

/// What the caller learns about an open capture (`handle` and `page_size_bytes` too; `errno`
/// is filled by `open`).
fn infoOf(r: Request, ifaces: []const sys.Interface, ring: [*]u8, ring_size: usize, fanout_id: u32) abi.CaptureInfo {
    const g = r.geometry;
    const iface = ifaces[0];
    var more: [abi.interfaces_max - 1]i32 = @splat(0);
    var mtu: u32 = iface.mtu;
    for (ifaces[1..], 0..) |other, i| {
        more[i] = other.index;
        mtu = @max(mtu, other.mtu);
    }
    return .{
        .handle = 0,
        .errno = 0,
        .ring_address = @intFromPtr(ring),
        .ring_size_bytes = ring_size,
        .block_size_bytes = g.block_size_bytes,
        .block_count = g.block_count,
        .frame_size_bytes = g.frame_size_bytes,
        .block_timeout_ms = g.block_timeout_ms,
        .snaplen_bytes = r.cfg.snaplen_bytes,
        .ifindex = iface.index,
        .fanout_group_id = fanout_id,
        .link_type = iface.link_type,
        .mtu = mtu,
        .page_size_bytes = r.page_size,
        .mac = iface.mac,
        .mem_available_bytes = r.mem_available_bytes,
        .ring_limit_bytes = r.ring_limit_bytes,
        .optmem_max_bytes = 0,
        .interface_count = if (r.cooked()) 0 else @intCast(ifaces.len),
        .more_ifindexes = more,
    };
}

pub fn close(handle: u32) void {
    const taken = table.retire(handle) orelse return;
    taken.item.deinit();
    table.release(taken.index);
}

test "geometry rules each have their own error" {
    const ok = Geometry{ .block_size_bytes = 1 << 20, .block_count = 64, .frame_size_bytes = 2048, .block_timeout_ms = 10 };
    try validateGeometry(ok, 4096);
    var g = ok;
    g.block_size_bytes = 4096 * 3 + 1;
    try std.testing.expectError(error.BlockSizeNotPageMultiple, validateGeometry(g, 4096));
    g = ok;
    g.frame_size_bytes = 4096 * 3;
    g.block_size_bytes = 4096 * 4;
    try std.testing.expectError(error.BlockSizeNotFrameMultiple, validateGeometry(g, 4096));
    g = ok;
    g.frame_size_bytes = 40;
    try std.testing.expectError(error.FrameSizeInvalid, validateGeometry(g, 4096));
    g = ok;
    g.block_count = 0;
    try std.testing.expectError(error.BlockCountInvalid, validateGeometry(g, 4096));
    g = ok;
    g.frame_size_bytes = 80;
    g.block_size_bytes = 4096 * 5 * 16 * 4;
    g.block_count = std.math.maxInt(u32);
    try std.testing.expectError(error.RingTooLarge, validateGeometry(g, 4096));
    g = ok;
    g.block_timeout_ms = 70_000;
    try std.testing.expectError(error.BlockTimeoutInvalid, validateGeometry(g, 4096));
}

test "a ring may take half of MemAvailable, or all of it when allowed" {
    try std.testing.expectEqual(@as(u64, 500), ringLimitBytes(1001, false));
    try std.testing.expectEqual(@as(u64, 1001), ringLimitBytes(1001, true));
    try std.testing.expectEqual(@as(u64, 0), ringLimitBytes(0, true));
}

test "a capture that went down waits two block timeouts for the last block, and never long" {
    try std.testing.expectEqual(@as(u64, 40 * std.time.ns_per_ms), downGraceNs(10));
    try std.testing.expectEqual(@as(u64, 36 * std.time.ns_per_ms), downGraceNs(0));
    try std.testing.expectEqual(@as(u64, down_grace_max_ms * std.time.ns_per_ms), downGraceNs(65535));
}

test "several interfaces: a prefix drops other interfaces' frames and jumps to the filter unchanged" {
    var buf: [bpf_maxinsns]SockFilter = undefined;
    const filter = [_]SockFilter{
        .{ .code = 0x28, .jt = 0, .jf = 0, .k = 12 },
        .{ .code = bpf_jeq_k, .jt = 0, .jf = 1, .k = 0x0800 },
        .{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = 262144 },
        .{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = 0 },
    };
    const p = try interfacesProgram(&.{ 4, 7, 9 }, &filter, &buf);
    try std.testing.expectEqual(@as(usize, 3 + 2 + filter.len), p.len);
    try std.testing.expectEqual(skf_ad_ifindex, p[0].k);
    // Each jeq lands on p[5], the filter's first instruction.
    for (p[1..4], 1..) |insn, at| try std.testing.expectEqual(@as(usize, 5), at + 1 + insn.jt);
    try std.testing.expectEqual(@as(u32, 9), p[3].k);
    try std.testing.expectEqual(@as(u32, 0), p[4].k);
    try std.testing.expectEqualSlices(SockFilter, &filter, p[5..]);
    const accept_all = try interfacesProgram(&.{ 4, 7 }, &.{}, &buf);
    try std.testing.expectEqual(std.math.maxInt(u32), accept_all[accept_all.len - 1].k);
    const long: [bpf_maxinsns - 3]SockFilter = @splat(filter[3]);
    try std.testing.expectError(error.FilterInvalid, interfacesProgram(&.{ 4, 7 }, &long, &buf));
}

test "a cooked block: each frame gets its SLL2 header from its sockaddr_ll, once" {
    var block: [4096]u8 align(16) = @splat(0);
    const bd: *linux.tpacket_block_desc = @ptrCast(&block);
    bd.hdr.bh1.num_pkts = 2;
    bd.hdr.bh1.offset_to_first_pkt = 48;
    const net = 96; // TPACKET_ALIGN(68) + 16, where a SOCK_DGRAM ring puts the network header
    for ([_]usize{ 48, 48 + 256 }, 0..) |at, i| {
        const hdr: *linux.tpacket3_hdr = @ptrCast(@alignCast(&block[at]));
        hdr.next_offset = if (i == 0) 256 else 0;
        hdr.snaplen = 100;
        hdr.status = abi.TpStatus.user | abi.TpStatus.vlan_valid;
        hdr.len = 1500;
        hdr.mac = net;
        hdr.net = net;
        const ll: *linux.sockaddr.ll = @ptrCast(@alignCast(&block[at + abi.sockaddr_ll_offset]));
        ll.* = .{ .protocol = std.mem.nativeToBig(u16, 0x86dd), .ifindex = 0x01020304, .hatype = 1, .pkttype = 4, .halen = 6, .addr = .{ 2, 0, 0, 0, 0, 0xa, 0x55, 0x66 } };
    }
    cookBlock(&block, 110);
    cookBlock(&block, 110);
    const hdr: *linux.tpacket3_hdr = @ptrCast(@alignCast(&block[48 + 256]));
    try std.testing.expectEqual(@as(u16, net - sll2_bytes), hdr.mac);
    try std.testing.expectEqual(@as(u32, 110), hdr.snaplen); // 120, cut to the caller's snaplen
    try std.testing.expectEqual(@as(u32, 1520), hdr.len);
    try std.testing.expectEqual(abi.TpStatus.user, hdr.status);
    // The address's last two bytes are beyond halen: zero, not what the ring held.
    const expected = [_]u8{ 0x86, 0xdd, 0, 0, 1, 2, 3, 4, 0, 1, 4, 6, 2, 0, 0, 0, 0, 0xa, 0, 0 };
    try std.testing.expectEqualSlices(u8, &expected, block[48 + 256 + net - sll2_bytes ..][0..sll2_bytes]);
}

test "an immediate capture's block: the V2 frames ready, in order, as a V3 block, each given back" {
    const frame_size = 256;
    var v2: [4 * frame_size]u8 align(16) = @splat(0);
    var im = Capture.Immediate{ .frames = &v2, .size_bytes = v2.len, .frame_size_bytes = frame_size, .frame_count = 4, .next = 3 };
    // Frames 3 and 0 are ready (the ring wraps), 1 is the kernel's.
    for ([_]u32{ 3, 0 }, 0..) |index, i| {
        const at = index * frame_size;
        const hdr: *Tpacket2Hdr = @ptrCast(@alignCast(&v2[at]));
        hdr.* = .{ .status = abi.TpStatus.user | abi.TpStatus.vlan_valid, .len = 100 + @as(u32, @intCast(i)), .snaplen = 60, .mac = 66, .net = 80, .sec = 7, .nsec = 100 + @as(u32, @intCast(i)), .vlan_tci = 42, .vlan_tpid = 0x8100, .padding = @splat(0) };
        const ll: *linux.sockaddr.ll = @ptrCast(@alignCast(&v2[at + tpacket2_sll_offset]));
        ll.* = .{ .protocol = 8, .ifindex = 5, .hatype = 1, .pkttype = 0, .halen = 6, .addr = @splat(0) };
        @memset(v2[at + 66 ..][0..60], @intCast(0xa0 + i));
    }
    var block: [4096]u8 align(16) = @splat(0xff);
    im.fill(&block);
    const bd: *linux.tpacket_block_desc = @ptrCast(&block);
    try std.testing.expectEqual(@as(u32, 2), bd.hdr.bh1.num_pkts);
    try std.testing.expectEqual(@as(u32, block_header_bytes), bd.hdr.bh1.offset_to_first_pkt);
    try std.testing.expectEqual(@as(u64, 1), bd.hdr.bh1.seq_num);
    try std.testing.expectEqual(@as(u32, 1), im.next);
    // Both V2 frames went back to the kernel; the block is the reader's.
    try std.testing.expectEqual(@as(u32, 0), std.mem.readInt(u32, v2[3 * frame_size ..][0..4], .little));
    try std.testing.expectEqual(@as(u32, 0), std.mem.readInt(u32, v2[0..4], .little));
    try std.testing.expect(@as(*u32, @ptrCast(&bd.hdr.bh1.block_status)).* & tp_status_user != 0);
    var at: usize = block_header_bytes;
    for (0..2) |i| {
        const hdr: *linux.tpacket3_hdr = @ptrCast(@alignCast(&block[at]));
        try std.testing.expectEqual(@as(u32, 60), hdr.snaplen);
        try std.testing.expectEqual(@as(u32, 100 + @as(u32, @intCast(i))), hdr.len);
        try std.testing.expectEqual(@as(u32, 100 + @as(u32, @intCast(i))), hdr.nsec);
        try std.testing.expectEqual(@as(u16, immediate_mac_offset), hdr.mac);
        try std.testing.expectEqual(@as(u16, immediate_mac_offset + 14), hdr.net);
        try std.testing.expectEqual(@as(u32, 42), hdr.variant.hv1.vlan_tci);
        const ll: *const linux.sockaddr.ll = @ptrCast(@alignCast(&block[at + abi.sockaddr_ll_offset]));
        try std.testing.expectEqual(@as(i32, 5), ll.ifindex);
        try std.testing.expect(std.mem.allEqual(u8, block[at + hdr.mac ..][0..60], @intCast(0xa0 + i)));
        if (i == 0) try std.testing.expectEqual(@as(u32, std.mem.alignForward(u32, immediate_mac_offset + 60, 16)), hdr.next_offset);
        if (i == 1) try std.testing.expectEqual(@as(u32, 0), hdr.next_offset);
        at += hdr.next_offset;
    }
    // Nothing ready: an empty block, numbered on.
    im.fill(&block);
    try std.testing.expectEqual(@as(u32, 0), bd.hdr.bh1.num_pkts);
    try std.testing.expectEqual(@as(u64, 2), bd.hdr.bh1.seq_num);
}

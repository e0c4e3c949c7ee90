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

const Error = abi.Error;

const tp_status_kernel: u32 = 0;
const tp_status_user: u32 = 1;
const tpacket_alignment = 16;
/// TPACKET3_HDRLEN: the aligned frame header plus the sockaddr_ll the kernel writes after it.
const tpacket3_hdrlen = std.mem.alignForward(usize, @sizeOf(linux.tpacket3_hdr), tpacket_alignment) + @sizeOf(linux.sockaddr.ll);
const eth_p_all: u16 = 0x0003;
const bpf_maxinsns = 4096;
/// The kernel keeps the block timeout in an unsigned short.
const block_timeout_ms_max = std.math.maxInt(u16);
const block_size_max: u64 = std.math.maxInt(i32);

pub const SockFilter = extern struct { code: u16, jt: u8, jf: u8, k: u32 };
const SockFprog = extern struct { len: u16, filter: [*]const SockFilter };
const PacketMreq = extern struct { ifindex: i32, type: u16, alen: u16, address: [8]u8 };
const packet_mr_promisc: u16 = 1;

comptime {
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

    fn describe(self: *Capture, out: ?*abi.BlockInfo) u32 {
        const bd = self.blockDesc(self.current);
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
    pub fn nextBlock(self: *Capture, timeout_ms: i32, out: ?*abi.BlockInfo) Error!u32 {
        if (self.held) return error.BlockAlreadyHeld;
        const deadline_ns: ?u64 = if (timeout_ms < 0) null else sys.monotonicNs() + @as(u64, @intCast(timeout_ms)) * std.time.ns_per_ms;
        while (true) {
            if (self.currentReady()) {
                self.held = true;
                return self.describe(out);
            }
            var wait_ms: i32 = -1;
            if (deadline_ns) |deadline| {
                const now = sys.monotonicNs();
                if (now >= deadline) return error.TimedOut;
                wait_ms = @intCast(@min((deadline - now + std.time.ns_per_ms - 1) / std.time.ns_per_ms, std.math.maxInt(i32)));
            }
            var fds = [2]linux.pollfd{
                .{ .fd = self.fd, .events = linux.POLL.IN | linux.POLL.ERR },
                .{ .fd = self.wake_fd, .events = linux.POLL.IN },
            };
            const nfds: usize = if (self.wake_fd >= 0) 2 else 1;
            const rc = linux.poll(&fds, nfds, wait_ms);
            switch (sys.errnoOf(rc)) {
                .SUCCESS => {},
                .INTR => continue,
                .NOMEM => |e| {
                    self.errno.set(e);
                    return error.OutOfMemory;
                },
                else => unreachable, // EFAULT/EINVAL: our own pollfd array is wrong.
            }
            if (self.currentReady()) continue;
            if (nfds == 2 and fds[1].revents & linux.POLL.IN != 0) return error.Woken;
            if (fds[0].revents & (linux.POLL.ERR | linux.POLL.NVAL) != 0) {
                // A pending socket error (the interface went away or down) would make poll
                // return at once forever; read it so the caller learns why.
                var so_error: i32 = 0;
                _ = sys.getsockopt(self.fd, linux.SOL.SOCKET, linux.SO.ERROR, std.mem.asBytes(&so_error), &self.errno) catch {};
                if (so_error != 0) {
                    self.errno.value = so_error;
                    return error.NetworkDown;
                }
            }
        }
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
        var st: linux.tpacket_stats_v3 = undefined;
        _ = try sys.getsockopt(self.fd, linux.SOL.PACKET, linux.PACKET.STATISTICS, std.mem.asBytes(&st), &self.errno);
        self.stats.packets += st.packets;
        self.stats.drops += st.drops;
        self.stats.freezes += st.freeze_q_cnt;
        return self.stats;
    }

    pub fn deinit(self: *Capture) void {
        sys.munmap(self.ring, self.ring_size_bytes);
        sys.close(self.fd);
        self.* = undefined;
    }
};

pub var table: handles.Table(Capture) = .{};

pub const Geometry = struct {
    block_size_bytes: u32,
    block_count: u32,
    frame_size_bytes: u32,
    block_timeout_ms: u32,
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

const Interface = struct { index: i32, up: bool, mtu: u32, link_type: u32, mac: [8]u8 };

fn lookupInterface(fd: i32, name: [:0]const u8, err: *sys.Errno) Error!Interface {
    var req: linux.ifreq = std.mem.zeroes(linux.ifreq);
    @memcpy(req.ifrn.name[0..name.len], name);
    sys.ioctl(fd, linux.SIOCGIFINDEX, @intFromPtr(&req), err) catch |e| return if (e == error.Unexpected and err.value == @intFromEnum(sys.E.NODEV)) error.NoSuchInterface else e;
    var iface: Interface = .{ .index = req.ifru.ivalue, .up = false, .mtu = 0, .link_type = 0, .mac = @splat(0) };
    try sys.ioctl(fd, linux.SIOCGIFFLAGS, @intFromPtr(&req), err);
    iface.up = req.ifru.flags.UP;
    try sys.ioctl(fd, linux.SIOCGIFMTU, @intFromPtr(&req), err);
    iface.mtu = @intCast(req.ifru.mtu);
    try sys.ioctl(fd, linux.SIOCGIFHWADDR, @intFromPtr(&req), err);
    iface.link_type = req.ifru.hwaddr.family;
    @memcpy(iface.mac[0..6], req.ifru.hwaddr.data[0..6]);
    return iface;
}

pub fn interfaceName(field: []const u8) Error![:0]const u8 {
    const name = sys.fixedName(field) orelse return error.InterfaceNameInvalid;
    if (name.len == 0 or name.len >= abi.ifname_size) return error.InterfaceNameInvalid;
    return name;
}

/// Attaches `program` with every accepting return clamped to `snaplen` (how snaplen works for
/// TPACKET: the filter's return value is the number of bytes the kernel copies).
fn attachFilter(fd: i32, program: []const SockFilter, snaplen: u32, err: *sys.Errno) Error!void {
    const bpf_ret_k: u16 = 0x06;
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
    switch (sys.setsockoptRaw(fd, linux.SOL.SOCKET, linux.SO.ATTACH_FILTER, std.mem.asBytes(&fprog))) {
        .SUCCESS => {},
        .INVAL, .FAULT => |e| {
            err.set(e);
            return error.FilterInvalid;
        },
        .NOMEM => |e| {
            err.set(e);
            return error.OutOfMemory;
        },
        .PERM, .ACCES => |e| {
            err.set(e);
            return error.PermissionDenied;
        },
        else => |e| {
            err.set(e);
            return error.Unexpected;
        },
    }
}

/// A program that accepts nothing: what a fanout member holds until it has joined its group.
fn attachDropAll(fd: i32, err: *sys.Errno) Error!void {
    const bpf_ret_k: u16 = 0x06;
    const program = [1]SockFilter{.{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = 0 }};
    // snaplen 0 leaves the program as it is (no clamping): `ret 0` stays a drop.
    return attachFilter(fd, &program, 0, err);
}

fn detachFilter(fd: i32, err: *sys.Errno) Error!void {
    const unused: u32 = 0;
    switch (sys.setsockoptRaw(fd, linux.SOL.SOCKET, linux.SO.DETACH_FILTER, std.mem.asBytes(&unused))) {
        .SUCCESS => {},
        else => |e| {
            err.set(e);
            return error.Unexpected;
        },
    }
}

const fanout_mode_max = linux.PACKET.FANOUT_EBPF;
const fanout_flags_known = linux.PACKET.FANOUT_FLAG_ROLLOVER | linux.PACKET.FANOUT_FLAG_UNIQUEID |
    linux.PACKET.FANOUT_FLAG_IGNORE_OUTGOING | linux.PACKET.FANOUT_FLAG_DEFRAG;

fn joinFanout(fd: i32, cfg: *const abi.CaptureConfig, fanout_prog: []const SockFilter, err: *sys.Errno) Error!u32 {
    if (cfg.fanout_mode > fanout_mode_max) return error.FanoutInvalid;
    if (cfg.fanout_flags & ~@as(u32, fanout_flags_known) != 0) return error.FanoutInvalid;
    if (cfg.fanout_group_id > std.math.maxInt(u16)) return error.FanoutInvalid;
    const unique = cfg.fanout_flags & linux.PACKET.FANOUT_FLAG_UNIQUEID != 0;
    if (unique and cfg.fanout_group_id != 0) return error.FanoutInvalid;
    if (cfg.fanout_mode == linux.PACKET.FANOUT_ROLLOVER and cfg.fanout_flags & linux.PACKET.FANOUT_FLAG_ROLLOVER != 0) return error.FanoutInvalid;
    if (cfg.fanout_mode == linux.PACKET.FANOUT_CBPF and fanout_prog.len == 0) return error.FanoutInvalid;
    if (cfg.fanout_mode == linux.PACKET.FANOUT_EBPF and cfg.fanout_ebpf_fd < 0) return error.FanoutInvalid;

    const arg: u32 = cfg.fanout_group_id | ((cfg.fanout_mode | cfg.fanout_flags) << 16);
    switch (sys.setsockoptRaw(fd, linux.SOL.PACKET, linux.PACKET.FANOUT, std.mem.asBytes(&arg))) {
        .SUCCESS => {},
        // Our own checks passed, so the kernel refused the group: it exists with another
        // mode, flags or interface, or it is full.
        .INVAL, .NOSPC, .ALREADY => |e| {
            err.set(e);
            return error.FanoutGroupBusy;
        },
        .NOMEM => |e| {
            err.set(e);
            return error.OutOfMemory;
        },
        else => |e| {
            err.set(e);
            return error.Unexpected;
        },
    }
    switch (cfg.fanout_mode) {
        linux.PACKET.FANOUT_CBPF => {
            if (fanout_prog.len > bpf_maxinsns) return error.FilterInvalid;
            const fprog = SockFprog{ .len = @intCast(fanout_prog.len), .filter = fanout_prog.ptr };
            try fanoutData(fd, std.mem.asBytes(&fprog), err);
        },
        linux.PACKET.FANOUT_EBPF => try fanoutData(fd, std.mem.asBytes(&cfg.fanout_ebpf_fd), err),
        else => {},
    }
    var joined: u32 = 0;
    _ = try sys.getsockopt(fd, linux.SOL.PACKET, linux.PACKET.FANOUT, std.mem.asBytes(&joined), err);
    return joined & 0xffff;
}

fn fanoutData(fd: i32, value: []const u8, err: *sys.Errno) Error!void {
    switch (sys.setsockoptRaw(fd, linux.SOL.PACKET, linux.PACKET.FANOUT_DATA, value)) {
        .SUCCESS => {},
        .INVAL, .BADF, .FAULT => |e| {
            err.set(e);
            return error.FilterInvalid;
        },
        else => |e| {
            err.set(e);
            return error.Unexpected;
        },
    }
}

pub fn open(
    cfg: *const abi.CaptureConfig,
    filter: []const SockFilter,
    fanout_prog: []const SockFilter,
    info: *abi.CaptureInfo,
) Error!void {
    var err: sys.Errno = .{};
    defer info.errno = err.value;
    const name = try interfaceName(&cfg.ifname);
    const netns = sys.fixedName(&cfg.netns_path) orelse return error.InvalidArgument;
    const page_size = sys.pageSize();
    const geometry = Geometry{
        .block_size_bytes = cfg.block_size_bytes,
        .block_count = cfg.block_count,
        .frame_size_bytes = cfg.frame_size_bytes,
        .block_timeout_ms = cfg.block_timeout_ms,
    };
    try validateGeometry(geometry, page_size);
    if (filter.len > bpf_maxinsns or fanout_prog.len > bpf_maxinsns) return error.FilterInvalid;

    const index = try table.claim();
    errdefer table.release(index);
    const capture = &table.items[index];
    try sys.inNetns(netns.ptr, &err, openIn, .{ capture, cfg, name, geometry, filter, fanout_prog, info, &err });
    info.handle = table.publish(index);
    info.page_size_bytes = page_size;
}

fn openIn(
    capture: *Capture,
    cfg: *const abi.CaptureConfig,
    name: [:0]const u8,
    g: Geometry,
    filter: []const SockFilter,
    fanout_prog: []const SockFilter,
    info: *abi.CaptureInfo,
    err: *sys.Errno,
) Error!void {
    const fd = try sys.socket(linux.AF.PACKET, linux.SOCK.RAW, 0, err);
    errdefer sys.close(fd);

    const iface = lookupInterface(fd, name, err) catch |e| return if (e == error.NetworkDown) error.NoSuchInterface else e;
    if (!iface.up and cfg.flags & abi.capture_flag_allow_down == 0) return error.InterfaceDown;

    const version: u32 = @intFromEnum(linux.tpacket_versions.V3);
    sys.setsockopt(fd, linux.SOL.PACKET, linux.PACKET.VERSION, std.mem.asBytes(&version), err) catch |e|
        return if (e == error.InvalidArgument) error.NotSupported else e;

    if (cfg.flags & abi.capture_flag_ignore_outgoing != 0) {
        const one: u32 = 1;
        try sys.setsockopt(fd, linux.SOL.PACKET, linux.PACKET.IGNORE_OUTGOING, std.mem.asBytes(&one), err);
    }
    const joins_fanout = cfg.flags & abi.capture_flag_fanout != 0;
    const wants_filter = filter.len != 0 or cfg.snaplen_bytes != 0;
    if (joins_fanout) {
        try attachDropAll(fd, err);
    } else if (wants_filter) {
        try attachFilter(fd, filter, cfg.snaplen_bytes, err);
    }

    const tp_ft_req_fill_rxhash: u32 = 1;
    const req = linux.tpacket_req3{
        .block_size = g.block_size_bytes,
        .block_nr = g.block_count,
        .frame_size = g.frame_size_bytes,
        .frame_nr = (g.block_size_bytes / g.frame_size_bytes) * g.block_count,
        .retire_blk_tov = g.block_timeout_ms,
        .sizeof_priv = 0,
        .feature_req_word = if (cfg.flags & abi.capture_flag_fill_rxhash != 0) tp_ft_req_fill_rxhash else 0,
    };
    switch (sys.setsockoptRaw(fd, linux.SOL.PACKET, linux.PACKET.RX_RING, std.mem.asBytes(&req))) {
        .SUCCESS => {},
        .INVAL => |e| {
            err.set(e);
            return error.RingRejected;
        },
        .NOMEM => |e| {
            err.set(e);
            return error.OutOfMemory;
        },
        .PERM, .ACCES => |e| {
            err.set(e);
            return error.PermissionDenied;
        },
        else => |e| {
            err.set(e);
            return error.Unexpected;
        },
    }
    const ring_size: usize = @as(usize, g.block_size_bytes) * g.block_count;
    const ring = try sys.mmapShared(fd, ring_size, err);
    errdefer sys.munmap(ring, ring_size);

    var addr = linux.sockaddr.ll{
        .protocol = std.mem.nativeToBig(u16, eth_p_all),
        .ifindex = iface.index,
        .hatype = 0,
        .pkttype = 0,
        .halen = 0,
        .addr = @splat(0),
    };
    while (true) {
        switch (sys.errnoOf(linux.bind(fd, @ptrCast(&addr), @sizeOf(linux.sockaddr.ll)))) {
            .SUCCESS => break,
            .INTR => continue,
            .NODEV, .NXIO => |e| {
                err.set(e);
                return error.NoSuchInterface;
            },
            .NETDOWN => |e| {
                err.set(e);
                return error.InterfaceDown;
            },
            .PERM, .ACCES => |e| {
                err.set(e);
                return error.PermissionDenied;
            },
            else => |e| {
                err.set(e);
                return error.Unexpected;
            },
        }
    }

    var fanout_id: u32 = 0;
    if (joins_fanout) {
        fanout_id = try joinFanout(fd, cfg, fanout_prog, err);
        if (wants_filter) {
            try attachFilter(fd, filter, cfg.snaplen_bytes, err);
        } else {
            try detachFilter(fd, err);
        }
    }

    if (cfg.flags & abi.capture_flag_promisc != 0) {
        const mreq = PacketMreq{ .ifindex = iface.index, .type = packet_mr_promisc, .alen = 0, .address = @splat(0) };
        try sys.setsockopt(fd, linux.SOL.PACKET, linux.PACKET.ADD_MEMBERSHIP, std.mem.asBytes(&mreq), err);
    }

    capture.* = .{
        .fd = fd,
        .wake_fd = cfg.wake_fd,
        .ring = ring,
        .ring_size_bytes = ring_size,
        .block_size_bytes = g.block_size_bytes,
        .block_count = g.block_count,
        .current = 0,
        .held = false,
        .stats = .{ .packets = 0, .drops = 0, .freezes = 0 },
        .errno = .{},
    };
    info.* = .{
        .handle = 0,
        .errno = 0,
        .ring_address = @intFromPtr(ring),
        .ring_size_bytes = ring_size,
        .block_size_bytes = g.block_size_bytes,
        .block_count = g.block_count,
        .frame_size_bytes = g.frame_size_bytes,
        .block_timeout_ms = g.block_timeout_ms,
        .snaplen_bytes = cfg.snaplen_bytes,
        .ifindex = iface.index,
        .fanout_group_id = fanout_id,
        .link_type = iface.link_type,
        .mtu = iface.mtu,
        .page_size_bytes = 0,
        .mac = iface.mac,
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

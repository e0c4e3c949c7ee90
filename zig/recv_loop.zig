//! The benchmark's baselines without a ring: a plain AF_PACKET socket read with one `recvmsg`
//! per packet, or with `recvmmsg` batches. Each packet's kernel timestamp comes with it
//! (SO_TIMESTAMPNS), as the ring gives it for free, and each packet gets the same per-packet
//! work as the ring readers: read the IPv4 source and count it.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const ring = @import("ring.zig");
const native_loop = @import("native_loop.zig");

const batch_max = 64;
const snap_bytes = 2048;
const so_timestampns = 35;
const so_rcvbufforce = 33;
const eth_p_all: u16 = 0x0003;

const Counter = native_loop.SourceCounter;

fn openSocket(cfg: *const abi.CaptureConfig, err: *sys.Errno) abi.Error!i32 {
    const name = try ring.interfaceName(&cfg.ifname);
    const fd = try sys.socket(linux.AF.PACKET, linux.SOCK.RAW, std.mem.nativeToBig(u16, eth_p_all), err);
    errdefer sys.close(fd);
    var req: linux.ifreq = std.mem.zeroes(linux.ifreq);
    @memcpy(req.ifrn.name[0..name.len], name);
    try sys.ioctl(fd, linux.SIOCGIFINDEX, @intFromPtr(&req), err);
    const one: u32 = 1;
    try sys.setsockopt(fd, linux.SOL.SOCKET, so_timestampns, std.mem.asBytes(&one), err);
    // As much queue as the ring designs get, so drops compare like with like.
    const rcvbuf: u32 = 64 << 20;
    try sys.setsockopt(fd, linux.SOL.SOCKET, so_rcvbufforce, std.mem.asBytes(&rcvbuf), err);
    var addr = linux.sockaddr.ll{ .protocol = std.mem.nativeToBig(u16, eth_p_all), .ifindex = req.ifru.ivalue, .hatype = 0, .pkttype = 0, .halen = 0, .addr = @splat(0) };
    switch (sys.errnoOf(linux.bind(fd, @ptrCast(&addr), @sizeOf(linux.sockaddr.ll)))) {
        .SUCCESS => {},
        else => |e| {
            err.set(e);
            return error.Unexpected;
        },
    }
    return fd;
}

/// Opens a plain socket like a capture would (interface, netns), then reads with `batch`
/// packets per syscall (1: recvmsg) until `max_packets`, `max_ms`, or `cfg.wake_fd` fires.
/// `ready_fd`, when >= 0, is written once the socket is bound (the bench's start signal).
export fn ringcap_recv_loop(cfg: ?*const abi.CaptureConfig, batch: u32, max_packets: u32, max_ms: u32, ready_fd: i32, out: ?*native_loop.LoopResult) callconv(.c) i32 {
    const c = cfg orelse return @intFromEnum(abi.Status.invalid_argument);
    const result = out orelse return @intFromEnum(abi.Status.invalid_argument);
    if (batch == 0 or batch > batch_max) return @intFromEnum(abi.Status.invalid_argument);
    result.* = std.mem.zeroes(native_loop.LoopResult);
    var err: sys.Errno = .{};
    const netns = sys.fixedName(&c.netns_path) orelse return @intFromEnum(abi.Status.invalid_argument);
    const fd = sys.inNetns(netns.ptr, &err, openSocket, .{ c, &err }) catch |e| return @intFromEnum(abi.status(e));
    defer sys.close(fd);
    if (ready_fd >= 0) _ = linux.write(ready_fd, "R\n", 2);

    var bufs: [batch_max][snap_bytes]u8 = undefined;
    var iovs: [batch_max]std.posix.iovec = undefined;
    var ctrl: [batch_max][64]u8 align(8) = undefined;
    var msgs: [batch_max]linux.mmsghdr = undefined;
    for (0..batch) |i| {
        iovs[i] = .{ .base = &bufs[i], .len = snap_bytes };
    }
    var counter: Counter = .{};
    var last_ts: u64 = 0;
    const deadline = sys.monotonicNs() + @as(u64, max_ms) * std.time.ns_per_ms;
    outer: while (result.packets < max_packets) {
        for (0..batch) |i| {
            msgs[i] = .{ .hdr = .{ .name = null, .namelen = 0, .iov = @ptrCast(&iovs[i]), .iovlen = 1, .control = &ctrl[i], .controllen = ctrl[i].len, .flags = 0 }, .len = 0 };
        }
        const rc = if (batch == 1)
            linux.recvmsg(fd, &msgs[0].hdr, linux.MSG.DONTWAIT)
        else
            linux.recvmmsg(fd, &msgs, batch, linux.MSG.DONTWAIT, null);
        switch (sys.errnoOf(rc)) {
            .SUCCESS => {},
            .INTR => continue,
            .AGAIN => {
                // Nothing queued: wait for data, the wake-up, or the deadline.
                const now = sys.monotonicNs();
                if (now >= deadline) break;
                var fds = [2]linux.pollfd{
                    .{ .fd = fd, .events = linux.POLL.IN },
                    .{ .fd = c.wake_fd, .events = linux.POLL.IN },
                };
                const wait_ms: i32 = @intCast(@min((deadline - now) / std.time.ns_per_ms + 1, 100));
                _ = linux.poll(&fds, if (c.wake_fd >= 0) 2 else 1, wait_ms);
                if (c.wake_fd >= 0 and fds[1].revents & linux.POLL.IN != 0 and fds[0].revents & linux.POLL.IN == 0) break :outer;
                continue;
            },
            else => |e| {
                result.status = @intFromEnum(abi.Status.unexpected);
                return -@as(i32, @intCast(@intFromEnum(e)));
            },
        }
        const n: usize = if (batch == 1) 1 else rc;
        const lens: [batch_max]usize = blk: {
            var l: [batch_max]usize = undefined;
            if (batch == 1) l[0] = rc else for (0..n) |i| {
                l[i] = msgs[i].len;
            }
            break :blk l;
        };
        for (0..n) |i| {
            const frame = bufs[i][0..@min(lens[i], snap_bytes)];
            result.bytes += lens[i];
            // The timestamp is read as a capture would: the first SCM_TIMESTAMPNS cmsg.
            if (msgs[i].hdr.controllen >= 16 + 16) {
                const ts = std.mem.bytesAsValue(linux.timespec, ctrl[i][16..32]);
                last_ts = @intCast(ts.sec);
            }
            counter.add(frame);
        }
        result.packets += n;
        result.blocks += 1;
    }
    result.distinct_sources = counter.distinct;
    var st: [2]u32 = .{ 0, 0 }; // struct tpacket_stats: packets (drops included), drops
    _ = sys.getsockopt(fd, linux.SOL.PACKET, linux.PACKET.STATISTICS, std.mem.asBytes(&st), &err) catch {};
    result.drops = st[1];
    std.mem.doNotOptimizeAway(last_ts);
    return 0;
}

//! The benchmark's baselines without a ring: a plain AF_PACKET socket read with one `recvmsg`
//! per packet, or with `recvmmsg` batches. Each packet's kernel timestamp comes with it
//! (SO_TIMESTAMPNS), as the ring gives it for free, and each packet gets the same per-packet
//! work as the ring readers: read the IPv4 source and count it.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("../abi.zig");
const sys = @import("../sys.zig");
const loop = @import("loop.zig");

pub const batch_max = 64;
const snap_bytes = 2048;
const control_bytes = 64;
const so_timestampns = 35;
const so_rcvbufforce = 33;

pub const RecvSocket = struct {
    fd: i32,
    wake_fd: i32,
    /// Packets per read: 1 reads with recvmsg, more with recvmmsg.
    batch: u32,
};

/// Opens a plain socket like a capture would (interface, netns) that receives every frame.
pub fn open(cfg: *const abi.CaptureConfig, batch: u32, err: *sys.Errno) abi.Error!RecvSocket {
    if (batch == 0 or batch > batch_max) return error.InvalidArgument;
    const name = try sys.interfaceName(&cfg.ifname);
    const netns = try sys.netnsPath(&cfg.netns_path);
    const fd = try sys.inNetns(netns, err, openIn, .{ name, err });
    return .{ .fd = fd, .wake_fd = cfg.wake_fd, .batch = batch };
}

fn openIn(name: [:0]const u8, err: *sys.Errno) abi.Error!i32 {
    const sock = try sys.PacketSocket.open(sys.eth_p_all, name, err);
    errdefer sys.close(sock.fd);
    const one: u32 = 1;
    try sys.setsockopt(sock.fd, linux.SOL.SOCKET, so_timestampns, std.mem.asBytes(&one), err);
    // As much queue as the ring designs get, so drops compare like with like.
    const rcvbuf: u32 = 64 << 20;
    try sys.setsockopt(sock.fd, linux.SOL.SOCKET, so_rcvbufforce, std.mem.asBytes(&rcvbuf), err);
    try sock.bind(sys.eth_p_all, err);
    return sock.fd;
}

/// One read's worth of messages, set up once per run.
const Messages = struct {
    frames: [batch_max][snap_bytes]u8,
    iovs: [batch_max]std.posix.iovec,
    control: [batch_max][control_bytes]u8 align(8),
    msgs: [batch_max]linux.mmsghdr,

    fn init(self: *Messages, batch: u32) void {
        for (0..batch) |i| self.iovs[i] = .{ .base = &self.frames[i], .len = snap_bytes };
    }

    /// Reads up to `batch` packets without waiting; null when none is queued. Each message's
    /// `len` is its packet's length.
    fn receive(self: *Messages, fd: i32, batch: u32, err: *sys.Errno) abi.Error!?usize {
        for (0..batch) |i| {
            self.msgs[i] = .{ .hdr = .{
                .name = null,
                .namelen = 0,
                .iov = @ptrCast(&self.iovs[i]),
                .iovlen = 1,
                .control = &self.control[i],
                .controllen = control_bytes,
                .flags = 0,
            }, .len = 0 };
        }
        const rc = if (batch == 1)
            sys.retry(linux.recvmsg, .{ fd, &self.msgs[0].hdr, @as(u32, linux.MSG.DONTWAIT) })
        else
            sys.retry(linux.recvmmsg, .{ fd, &self.msgs, batch, @as(u32, linux.MSG.DONTWAIT), null });
        switch (sys.errnoOf(rc)) {
            .SUCCESS => {},
            .AGAIN => return null,
            .NETDOWN, .NXIO, .NODEV => |e| return err.fail(e, error.NetworkDown),
            .NOMEM => |e| return err.fail(e, error.OutOfMemory),
            else => |e| return err.fail(e, error.Unexpected),
        }
        if (batch == 1) {
            self.msgs[0].len = @intCast(rc);
            return 1;
        }
        return rc;
    }
};

/// Reads until `max_packets`, `max_ms`, or the wake fd fires.
pub fn run(self: RecvSocket, max_packets: u32, max_ms: u32, result: *loop.LoopResult, err: *sys.Errno) abi.Error!void {
    var m: Messages = undefined;
    m.init(self.batch);
    var counter: loop.SourceCounter = .{};
    var last_ts: u64 = 0;
    const deadline = sys.monotonicNs() + @as(u64, max_ms) * std.time.ns_per_ms;
    while (result.packets < max_packets) {
        const n = try m.receive(self.fd, self.batch, err) orelse {
            if (wait(self, deadline)) continue;
            break;
        };
        for (m.msgs[0..n], m.frames[0..n], m.control[0..n]) |msg, *frame, *control| {
            result.bytes += msg.len;
            // The timestamp is read as a capture would: the first SCM_TIMESTAMPNS cmsg.
            if (msg.hdr.controllen >= 16 + 16) {
                const ts = std.mem.bytesAsValue(linux.timespec, control[16..32]);
                last_ts = @intCast(ts.sec);
            }
            counter.add(frame[0..@min(msg.len, snap_bytes)]);
        }
        result.packets += n;
        result.blocks += 1;
    }
    result.distinct_sources = counter.distinct;
    result.drops = drops(self);
    std.mem.doNotOptimizeAway(last_ts);
}

/// Waits for data, the wake fd, or the deadline; false when the loop should stop. An EINTR
/// leaves every revents clear, so the loop goes round and waits again.
fn wait(self: RecvSocket, deadline: u64) bool {
    const now = sys.monotonicNs();
    if (now >= deadline) return false;
    var fds = [2]linux.pollfd{
        .{ .fd = self.fd, .events = linux.POLL.IN, .revents = 0 },
        .{ .fd = self.wake_fd, .events = linux.POLL.IN, .revents = 0 },
    };
    _ = linux.poll(&fds, if (self.wake_fd >= 0) 2 else 1, loop.waitMs(deadline, now));
    const woken = self.wake_fd >= 0 and fds[1].revents & linux.POLL.IN != 0;
    return !(woken and fds[0].revents & linux.POLL.IN == 0);
}

/// Kernel drops since the socket opened (struct tpacket_stats: packets, drops included; drops).
fn drops(self: RecvSocket) u64 {
    var st: [2]u32 = .{ 0, 0 };
    var ignored: sys.Errno = .{};
    _ = sys.getsockopt(self.fd, linux.SOL.PACKET, linux.PACKET.STATISTICS, std.mem.asBytes(&st), &ignored) catch {};
    return st[1];
}

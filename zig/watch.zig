//! A capture's watcher: one thread that sleeps on the capture's socket for a reader that must
//! not block (a JavaScript event loop), and says "look now" by writing one byte to a pipe that
//! the event loop reads like any other stream. No JavaScript runs on this thread, and nothing
//! wakes it on a timer.
//!
//! The thread waits in epoll on the socket, edge-triggered: the kernel signals a TPACKET_V3
//! socket each time it hands a block over (and on an error), so the thread wakes once per block
//! whether or not the reader still holds an earlier one (a level-triggered poll would spin
//! then). It writes its byte only when the reader is waiting:
//!   reader: look at the ring; nothing ready -> `arm()` (sets `waiting`), look again (a block
//!           that came in between is taken now: `disarm` decides who saw it); await the byte.
//!   thread: on a block or an error, if `waiting` was set, clear it and write the byte.
//! Arming is two atomic operations, not a system call, and a block costs the thread one
//! wake-up. A byte is a hint: the reader always looks before it waits again, so an extra byte
//! costs one look and a missing one cannot happen (see `arm`).
//!
//! `stop` ends the thread, joins it and closes the epoll fd, the control fd and the pipe's write
//! end, so a reader still waiting on the pipe sees end-of-file. The read end is the reader's to
//! close (`closeReader`) once its runtime no longer watches it: closing it under a runtime that
//! still polls it could hand that runtime a reused descriptor.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const Error = abi.Error;
const Thread = @import("thread.zig").Thread;

/// The thread only waits and writes: its stack never holds more than a few frames.
const stack_size_bytes = 64 * 1024;
/// The thread's name in /proc/PID/task/TID/comm, so that tests and operators can count it.
pub const thread_name = "ringcap-watch";

const tag_socket: u64 = 0;
const tag_control: u64 = 1;

pub const Watch = struct {
    epoll_fd: i32,
    /// An eventfd: written by `stop` and by an arm with a deadline, it wakes the thread.
    control_fd: i32,
    notify_read: i32,
    notify_write: i32,
    /// 1 while the reader waits for a byte.
    waiting: std.atomic.Value(u32) = .init(0),
    stopping: std.atomic.Value(bool) = .init(false),
    /// When the thread writes a byte even without a block (monotonic ns; 0: never). Set by an
    /// arm whose capture went down, so the reader comes back when its grace is over.
    deadline_ns: std.atomic.Value(u64) = .init(0),
    thread: Thread,

    /// Opens the epoll fd, the pipe and the control fd and starts the thread. `self` must not
    /// move while the thread runs (it lives in the capture's handle slot).
    pub fn start(self: *Watch, socket_fd: i32, err: *sys.Errno) Error!void {
        var pipe: [2]i32 = undefined;
        try check(linux.pipe2(&pipe, .{ .NONBLOCK = true, .CLOEXEC = true }), err);
        errdefer for (pipe) |fd| sys.close(fd);
        const control = linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
        try check(control, err);
        errdefer sys.close(@intCast(control));
        const epoll = linux.epoll_create1(linux.EPOLL.CLOEXEC);
        try check(epoll, err);
        errdefer sys.close(@intCast(epoll));
        self.* = .{
            .epoll_fd = @intCast(epoll),
            .control_fd = @intCast(control),
            .notify_read = pipe[0],
            .notify_write = pipe[1],
            .thread = undefined,
        };
        var on_socket = linux.epoll_event{ .events = linux.EPOLL.IN | linux.EPOLL.ERR | linux.EPOLL.ET, .data = .{ .u64 = tag_socket } };
        try check(linux.epoll_ctl(self.epoll_fd, linux.EPOLL.CTL_ADD, socket_fd, &on_socket), err);
        var on_control = linux.epoll_event{ .events = linux.EPOLL.IN, .data = .{ .u64 = tag_control } };
        try check(linux.epoll_ctl(self.epoll_fd, linux.EPOLL.CTL_ADD, self.control_fd, &on_control), err);
        try self.thread.spawn(stack_size_bytes, entry, @intFromPtr(self));
    }

    /// The reader is about to wait: the next block (or, with `deadline_ns`, that moment) sends
    /// a byte. The caller must look at the ring once more after this and, if a block is there,
    /// call `disarm`: a block handed over just before `waiting` was set woke the thread while
    /// nobody waited, and only that second look sees it.
    pub fn arm(self: *Watch, deadline_ns: u64) void {
        // Sequentially consistent, as the caller's second look is: the thread either sees
        // `waiting` set or its block is what the second look finds.
        _ = self.waiting.swap(1, .seq_cst);
        if (deadline_ns != self.deadline_ns.load(.monotonic)) {
            self.deadline_ns.store(deadline_ns, .release);
            signal(self.control_fd);
        }
    }

    /// Takes back an arm whose second look found a block. False when the thread took it first:
    /// its byte is on the way (and the reader should wait for it, or read it as a spurious one).
    pub fn disarm(self: *Watch) bool {
        return self.waiting.cmpxchgStrong(1, 0, .seq_cst, .monotonic) == null;
    }

    /// Ends and joins the thread, then closes the epoll fd, the control fd and the write end of
    /// the pipe (the reader sees end-of-file). Leaves `notify_read` open for `closeReader`.
    pub fn stop(self: *Watch) void {
        self.stopping.store(true, .release);
        signal(self.control_fd);
        self.thread.join();
        sys.close(self.epoll_fd);
        sys.close(self.control_fd);
        sys.close(self.notify_write);
    }

    fn entry(arg: usize) callconv(.c) u8 {
        run(@ptrFromInt(arg));
        return 0;
    }

    fn run(self: *Watch) void {
        _ = linux.prctl(@intFromEnum(linux.PR.SET_NAME), @intFromPtr(thread_name.ptr), 0, 0, 0);
        var events: [2]linux.epoll_event = undefined;
        while (!self.stopping.load(.acquire)) {
            const deadline = self.deadline_ns.load(.acquire);
            const rc = linux.epoll_wait(self.epoll_fd, &events, events.len, timeoutMs(deadline));
            if (self.stopping.load(.acquire)) return;
            // EINTR cannot happen (every signal is blocked here); any other failure is a wake.
            var wake = sys.errnoOf(rc) != .SUCCESS;
            if (!wake) for (events[0..rc]) |e| {
                if (e.data.u64 == tag_socket) wake = true else resetControl(self.control_fd);
            };
            if (deadline != 0 and sys.monotonicNs() >= deadline) {
                _ = self.deadline_ns.cmpxchgStrong(deadline, 0, .acq_rel, .monotonic);
                wake = true;
            }
            if (wake and self.waiting.cmpxchgStrong(1, 0, .seq_cst, .monotonic) == null) {
                const byte: u8 = 1;
                // Nonblocking: a full pipe (64 KiB of unread wakes) already says "look".
                _ = sys.retry(linux.write, .{ self.notify_write, @as([*]const u8, @ptrCast(&byte)), 1 });
            }
        }
    }
};

/// Closes the read end of a stopped watch's pipe.
pub fn closeReader(fd: i32) void {
    if (fd >= 0) sys.close(fd);
}

fn check(rc: usize, err: *sys.Errno) Error!void {
    switch (sys.errnoOf(rc)) {
        .SUCCESS => {},
        .MFILE, .NFILE, .NODEV => |e| return err.fail(e, error.SystemResources),
        .NOMEM => |e| return err.fail(e, error.OutOfMemory),
        else => |e| return err.fail(e, error.Unexpected),
    }
}

fn timeoutMs(deadline_ns: u64) i32 {
    if (deadline_ns == 0) return -1;
    const now = sys.monotonicNs();
    if (now >= deadline_ns) return 0;
    return @intCast(@min((deadline_ns - now + std.time.ns_per_ms - 1) / std.time.ns_per_ms, std.math.maxInt(i32)));
}

fn signal(fd: i32) void {
    const one: u64 = 1;
    // AGAIN: the counter is saturated, which is signalled all the same.
    _ = sys.retry(linux.write, .{ fd, std.mem.asBytes(&one), 8 });
}

fn resetControl(fd: i32) void {
    var value: u64 = 0;
    _ = sys.retry(linux.read, .{ fd, std.mem.asBytes(&value), 8 });
}

test "a watch writes a byte per event only while armed, wakes at its deadline, and ends on stop" {
    // An eventfd stands in for the socket: each write is an edge, as each block handed over is.
    const rc = linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
    try std.testing.expectEqual(sys.E.SUCCESS, sys.errnoOf(rc));
    const events: i32 = @intCast(rc);
    defer sys.close(events);
    var err: sys.Errno = .{};
    var watch: Watch = undefined;
    try watch.start(events, &err);
    defer closeReader(watch.notify_read);

    // Not armed: an event sends nothing.
    signal(events);
    try std.testing.expect(!readable(watch.notify_read, 50));
    // Armed: the next event sends one byte.
    watch.arm(0);
    signal(events);
    try std.testing.expect(readable(watch.notify_read, 1000));
    drain(watch.notify_read);
    // Armed and disarmed before any event: nothing.
    watch.arm(0);
    try std.testing.expect(watch.disarm());
    signal(events);
    try std.testing.expect(!readable(watch.notify_read, 50));

    // Armed with a deadline and no event: the deadline sends the byte.
    const t0 = sys.monotonicNs();
    watch.arm(t0 + 30 * std.time.ns_per_ms);
    try std.testing.expect(readable(watch.notify_read, 1000));
    try std.testing.expect(sys.monotonicNs() - t0 >= 25 * std.time.ns_per_ms);
    drain(watch.notify_read);

    // Armed and waiting without limit: stop ends it, and the reader sees end-of-file.
    watch.arm(0);
    watch.stop();
    var byte: [1]u8 = undefined;
    try std.testing.expect(readable(watch.notify_read, 1000));
    try std.testing.expectEqual(@as(usize, 0), linux.read(watch.notify_read, &byte, 1));
}

fn readable(fd: i32, timeout_ms: i32) bool {
    var fds = [1]linux.pollfd{.{ .fd = fd, .events = linux.POLL.IN, .revents = 0 }};
    return linux.poll(&fds, 1, timeout_ms) == 1;
}

fn drain(fd: i32) void {
    var buf: [16]u8 = undefined;
    _ = linux.read(fd, &buf, buf.len);
}

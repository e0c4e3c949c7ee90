//! A capture's watcher: one thread that blocks in poll() on the capture's socket for a reader
//! that must not block (a JavaScript event loop), and says "look now" by writing one byte to a
//! pipe that the event loop reads like any other stream. No JavaScript runs on this thread, and
//! nothing wakes it on a timer: it sleeps until it is armed, then until the socket is readable,
//! has an error, or its time is up.
//!
//! The protocol, one wake per arm:
//!   reader: look at the ring; nothing ready -> `arm(timeout)`; await a byte on `notify_read`;
//!           look again (a byte is a hint: the reader always looks before it arms again).
//!   thread: sleep until armed or stopped; poll(socket, control, timeout); write one byte;
//!           go back to sleep. A byte written is never lost and an extra one is harmless.
//! `stop` ends the thread, joins it and closes the control fd and the pipe's write end, so a
//! reader still waiting on the pipe sees end-of-file. The read end is the reader's to close
//! (`closeReader`) once its runtime no longer watches it: closing it under a runtime that still
//! polls it could hand that runtime a reused descriptor.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const Error = abi.Error;
const Thread = @import("thread.zig").Thread;

/// The thread only polls and writes: its stack never holds more than a few frames.
const stack_size_bytes = 64 * 1024;
/// The thread's name in /proc/PID/task/TID/comm, so that tests and operators can count it.
pub const thread_name = "ringcap-watch";

const idle: u32 = 0;
const armed: u32 = 1;
const stopping: u32 = 2;

pub const Watch = struct {
    /// The socket whose readability ends a wait.
    socket_fd: i32,
    /// An eventfd: written by `arm` and `stop`, it wakes the thread from either sleep.
    control_fd: i32,
    notify_read: i32,
    notify_write: i32,
    state: std.atomic.Value(u32) = .init(idle),
    /// How long an armed wait may last (ms; -1: until the socket is readable).
    timeout_ms: std.atomic.Value(i32) = .init(-1),
    thread: Thread,

    /// Opens the pipe and the control fd and starts the thread. `self` must not move while
    /// the thread runs (it lives in the capture's handle slot).
    pub fn start(self: *Watch, socket_fd: i32, err: *sys.Errno) Error!void {
        var pipe: [2]i32 = undefined;
        switch (sys.errnoOf(linux.pipe2(&pipe, .{ .NONBLOCK = true, .CLOEXEC = true }))) {
            .SUCCESS => {},
            .MFILE, .NFILE => |e| return err.fail(e, error.SystemResources),
            else => |e| return err.fail(e, error.Unexpected),
        }
        errdefer for (pipe) |fd| sys.close(fd);
        const control = linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
        switch (sys.errnoOf(control)) {
            .SUCCESS => {},
            .MFILE, .NFILE, .NODEV => |e| return err.fail(e, error.SystemResources),
            .NOMEM => |e| return err.fail(e, error.OutOfMemory),
            else => |e| return err.fail(e, error.Unexpected),
        }
        errdefer sys.close(@intCast(control));
        self.* = .{
            .socket_fd = socket_fd,
            .control_fd = @intCast(control),
            .notify_read = pipe[0],
            .notify_write = pipe[1],
            .thread = undefined,
        };
        try self.thread.spawn(stack_size_bytes, entry, @intFromPtr(self));
    }

    /// Asks the thread for one byte on the pipe when the socket is readable or after
    /// `timeout_ms` (-1: no limit).
    pub fn arm(self: *Watch, timeout_ms: i32) void {
        self.timeout_ms.store(timeout_ms, .monotonic);
        // Only an idle thread is armed: arming twice is one wait, and stopping wins.
        _ = self.state.cmpxchgStrong(idle, armed, .release, .monotonic);
        signal(self.control_fd);
    }

    /// Ends and joins the thread, then closes the control fd and the write end of the pipe
    /// (the reader sees end-of-file). Leaves `notify_read` open for `closeReader`.
    pub fn stop(self: *Watch) void {
        self.state.store(stopping, .release);
        signal(self.control_fd);
        self.thread.join();
        sys.close(self.control_fd);
        sys.close(self.notify_write);
    }

    fn entry(arg: usize) callconv(.c) u8 {
        run(@ptrFromInt(arg));
        return 0;
    }

    fn run(self: *Watch) void {
        _ = linux.prctl(@intFromEnum(linux.PR.SET_NAME), @intFromPtr(thread_name.ptr), 0, 0, 0);
        while (true) {
            waitControl(self.control_fd);
            switch (self.state.load(.acquire)) {
                stopping => return,
                idle => continue,
                else => {},
            }
            var fds = [2]linux.pollfd{
                .{ .fd = self.socket_fd, .events = linux.POLL.IN | linux.POLL.ERR, .revents = 0 },
                .{ .fd = self.control_fd, .events = linux.POLL.IN, .revents = 0 },
            };
            // EINTR or not, the reader looks again: a wake too early costs it one look.
            _ = linux.poll(&fds, fds.len, self.timeout_ms.load(.monotonic));
            if (self.state.cmpxchgStrong(armed, idle, .acquire, .monotonic)) |now| {
                if (now == stopping) return;
            }
            const byte: u8 = 1;
            // Nonblocking: a full pipe (64 KiB of unread wakes) already says "look".
            _ = sys.retry(linux.write, .{ self.notify_write, @as([*]const u8, @ptrCast(&byte)), 1 });
        }
    }
};

/// Closes the read end of a stopped watch's pipe.
pub fn closeReader(fd: i32) void {
    if (fd >= 0) sys.close(fd);
}

fn signal(fd: i32) void {
    const one: u64 = 1;
    // AGAIN: the counter is saturated, which is signalled all the same.
    _ = sys.retry(linux.write, .{ fd, std.mem.asBytes(&one), 8 });
}

/// Sleeps until the control fd is written, and resets it.
fn waitControl(fd: i32) void {
    var fds = [1]linux.pollfd{.{ .fd = fd, .events = linux.POLL.IN, .revents = 0 }};
    _ = sys.retry(linux.poll, .{ &fds, 1, -1 });
    var value: u64 = 0;
    _ = sys.retry(linux.read, .{ fd, std.mem.asBytes(&value), 8 });
}

test "a watch wakes once per arm: on a readable socket, on its timeout, and ends on stop" {
    var pair: [2]i32 = undefined;
    try std.testing.expectEqual(sys.E.SUCCESS, sys.errnoOf(linux.pipe2(&pair, .{ .NONBLOCK = true, .CLOEXEC = true })));
    defer for (pair) |fd| sys.close(fd);
    var err: sys.Errno = .{};
    var watch: Watch = undefined;
    try watch.start(pair[0], &err);
    defer closeReader(watch.notify_read);

    // Not armed: nothing comes, even with the "socket" readable.
    _ = linux.write(pair[1], "x", 1);
    try std.testing.expect(!readable(watch.notify_read, 50));
    watch.arm(-1);
    try std.testing.expect(readable(watch.notify_read, 1000));
    drain(watch.notify_read);

    // Armed with nothing to read: the timeout wakes it.
    var byte: [1]u8 = undefined;
    _ = linux.read(pair[0], &byte, 1);
    const t0 = sys.monotonicNs();
    watch.arm(30);
    try std.testing.expect(readable(watch.notify_read, 1000));
    try std.testing.expect(sys.monotonicNs() - t0 >= 25 * std.time.ns_per_ms);
    drain(watch.notify_read);

    // Armed and waiting without limit: stop ends it, and the reader sees end-of-file.
    watch.arm(-1);
    watch.stop();
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

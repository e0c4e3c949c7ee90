//! A bare thread for a library without libc that lives inside someone else's process.
//!
//! `std.Thread` cannot be used here: without libc it gives each thread a copy of the
//! executable's TLS image, which only a Zig program's own start-up code records, so inside a
//! host process (Bun, Deno) it stops on unreachable code. This thread has no TLS of its own
//! (it keeps the creating thread's TLS register, and the code it runs never reads TLS) and all
//! signals blocked from its first instruction, so no handler of the host, which would expect
//! its own TLS, ever runs on it. Its function may only make raw system calls and touch memory
//! it was given.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const sys = @import("sys.zig");
const Error = abi.Error;

const guard_bytes = 4096;

pub const Thread = struct {
    mapping: []align(4096) u8,
    /// The kernel clears it and wakes its futex when the thread has exited (CLONE_CHILD_CLEARTID).
    child_tid: std.atomic.Value(i32) = .init(0),

    /// Starts `func(arg)` on a new thread with a stack of `stack_bytes` (rounded up to pages),
    /// below which an unmapped guard page stops an overflow. `self` must not move until `join`.
    pub fn spawn(self: *Thread, stack_bytes: usize, func: *const fn (usize) callconv(.c) u8, arg: usize) Error!void {
        const page = sys.pageSize();
        const size = std.mem.alignForward(usize, stack_bytes, page) + guard_bytes;
        const rc = linux.mmap(null, size, .{ .READ = true, .WRITE = true }, .{ .TYPE = .PRIVATE, .ANONYMOUS = true }, -1, 0);
        switch (sys.errnoOf(rc)) {
            .SUCCESS => {},
            .NOMEM, .AGAIN => return error.OutOfMemory,
            else => return error.SystemResources,
        }
        const base: [*]align(4096) u8 = @ptrFromInt(rc);
        self.* = .{ .mapping = base[0..size] };
        errdefer sys.munmap(base, size);
        _ = linux.mprotect(base, guard_bytes, .{});

        // The thread starts with the creator's signal mask: block everything around the clone.
        const all = linux.sigfillset();
        var previous: linux.sigset_t = undefined;
        _ = linux.sigprocmask(linux.SIG.BLOCK, &all, &previous);
        defer _ = linux.sigprocmask(linux.SIG.SETMASK, &previous, null);

        const flags: u32 = linux.CLONE.VM | linux.CLONE.FS | linux.CLONE.FILES | linux.CLONE.SIGHAND |
            linux.CLONE.THREAD | linux.CLONE.SYSVSEM | linux.CLONE.PARENT_SETTID | linux.CLONE.CHILD_CLEARTID;
        const stack_top = (@intFromPtr(base) + size) & ~@as(usize, 15);
        const tid = linux.clone(func, stack_top, flags, arg, &self.child_tid.raw, 0, &self.child_tid.raw);
        switch (sys.errnoOf(tid)) {
            .SUCCESS => {},
            .NOMEM => return error.OutOfMemory,
            else => return error.SystemResources, // AGAIN: RLIMIT_NPROC or threads-max
        }
    }

    /// Waits until the thread has exited, then frees its stack.
    pub fn join(self: *Thread) void {
        while (true) {
            const tid = self.child_tid.load(.acquire);
            if (tid == 0) break;
            // SUCCESS, INTR, AGAIN (the value changed): look again.
            _ = linux.futex_4arg(&self.child_tid.raw, .{ .cmd = .WAIT, .private = false }, @bitCast(tid), null);
        }
        sys.munmap(self.mapping.ptr, self.mapping.len);
        self.* = undefined;
    }
};

var test_counter = std.atomic.Value(u32).init(0);

fn bump(arg: usize) callconv(.c) u8 {
    _ = test_counter.fetchAdd(@intCast(arg), .release);
    return 0;
}

test "a thread runs its function once and join waits for it" {
    var t: Thread = undefined;
    try t.spawn(16 * 1024, bump, 5);
    t.join();
    try std.testing.expectEqual(@as(u32, 5), test_counter.load(.acquire));
}

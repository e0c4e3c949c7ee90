//! Thin wrappers over the raw Linux syscalls the library needs, each mapping errno to `abi.Error`.
//! No libc: everything goes through `std.os.linux`, so one build runs on any distribution.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const Error = abi.Error;

pub const E = linux.E;

/// The errno of the last failed call on this path; callers copy it into their out-fields.
pub const Errno = struct {
    value: i32 = 0,

    pub fn set(self: *Errno, e: E) void {
        self.value = @intCast(@intFromEnum(e));
    }
};

pub fn errnoOf(rc: usize) E {
    return linux.errno(rc);
}

/// The errors every call shares: resource limits and permissions.
fn common(e: E, err: *Errno) Error {
    err.set(e);
    return switch (e) {
        .PERM, .ACCES => error.PermissionDenied,
        .MFILE, .NFILE, .NOBUFS => error.SystemResources,
        .NOMEM => error.OutOfMemory,
        .NODEV, .NXIO => error.NoSuchInterface,
        .NETDOWN => error.NetworkDown,
        else => error.Unexpected,
    };
}

pub fn socket(domain: u32, sock_type: u32, protocol: u32, err: *Errno) Error!i32 {
    while (true) {
        const rc = linux.socket(domain, sock_type | linux.SOCK.CLOEXEC, protocol);
        switch (errnoOf(rc)) {
            .SUCCESS => return @intCast(rc),
            .INTR => continue,
            .AFNOSUPPORT, .PROTONOSUPPORT => |e| {
                err.set(e);
                return error.NotSupported;
            },
            else => |e| return common(e, err),
        }
    }
}

pub fn close(fd: i32) void {
    // Linux releases the descriptor even when close reports EINTR: never retry.
    _ = linux.close(fd);
}

/// setsockopt, with the errno returned raw so each caller can name its own failures.
pub fn setsockoptRaw(fd: i32, level: i32, name: u32, value: []const u8) E {
    return errnoOf(linux.setsockopt(fd, level, name, value.ptr, @intCast(value.len)));
}

pub fn setsockopt(fd: i32, level: i32, name: u32, value: []const u8, err: *Errno) Error!void {
    switch (setsockoptRaw(fd, level, name, value)) {
        .SUCCESS => return,
        .NOPROTOOPT, .OPNOTSUPP => |e| {
            err.set(e);
            return error.NotSupported;
        },
        .INVAL => |e| {
            err.set(e);
            return error.InvalidArgument;
        },
        else => |e| return common(e, err),
    }
}

pub fn getsockopt(fd: i32, level: i32, name: u32, value: []u8, err: *Errno) Error!usize {
    var len: linux.socklen_t = @intCast(value.len);
    switch (errnoOf(linux.getsockopt(fd, level, name, value.ptr, &len))) {
        .SUCCESS => return len,
        .NOPROTOOPT, .OPNOTSUPP => |e| {
            err.set(e);
            return error.NotSupported;
        },
        else => |e| return common(e, err),
    }
}

pub fn ioctl(fd: i32, request: u32, arg: usize, err: *Errno) Error!void {
    while (true) {
        switch (errnoOf(linux.ioctl(fd, request, arg))) {
            .SUCCESS => return,
            .INTR => continue,
            else => |e| return common(e, err),
        }
    }
}

pub fn mmapShared(fd: i32, len: usize, err: *Errno) Error![*]u8 {
    const rc = linux.mmap(null, len, .{ .READ = true, .WRITE = true }, .{ .TYPE = .SHARED }, fd, 0);
    switch (errnoOf(rc)) {
        .SUCCESS => return @ptrFromInt(rc),
        .NOMEM, .AGAIN => |e| {
            err.set(e);
            return error.OutOfMemory;
        },
        else => |e| return common(e, err),
    }
}

pub fn munmap(ptr: [*]u8, len: usize) void {
    const rc = linux.munmap(ptr, len);
    // Our own mapping with its own length: failure means the caller's bookkeeping is wrong.
    std.debug.assert(errnoOf(rc) == .SUCCESS);
}

pub fn openReadOnly(path: [*:0]const u8, err: *Errno) Error!i32 {
    while (true) {
        const rc = linux.open(path, .{ .ACCMODE = .RDONLY, .CLOEXEC = true }, 0);
        switch (errnoOf(rc)) {
            .SUCCESS => return @intCast(rc),
            .INTR => continue,
            .NOENT, .NOTDIR => |e| {
                err.set(e);
                return error.NetnsFailed;
            },
            else => |e| return common(e, err),
        }
    }
}

pub fn read(fd: i32, buf: []u8, err: *Errno) Error!usize {
    while (true) {
        const rc = linux.read(fd, buf.ptr, buf.len);
        switch (errnoOf(rc)) {
            .SUCCESS => return rc,
            .INTR => continue,
            else => |e| return common(e, err),
        }
    }
}

pub fn setnsNet(fd: i32, err: *Errno) Error!void {
    switch (errnoOf(linux.setns(fd, linux.CLONE.NEWNET))) {
        .SUCCESS => return,
        .PERM => |e| {
            err.set(e);
            return error.PermissionDenied;
        },
        else => |e| {
            err.set(e);
            return error.NetnsFailed;
        },
    }
}

pub fn monotonicNs() u64 {
    var ts: linux.timespec = undefined;
    const rc = linux.clock_gettime(.MONOTONIC, &ts);
    std.debug.assert(errnoOf(rc) == .SUCCESS);
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}

pub fn sleepNs(ns: u64) void {
    var req = linux.timespec{ .sec = @intCast(ns / std.time.ns_per_s), .nsec = @intCast(ns % std.time.ns_per_s) };
    var rem: linux.timespec = undefined;
    // Bounded: each EINTR continues with the remaining time, which only shrinks.
    while (errnoOf(linux.nanosleep(&req, &rem)) == .INTR) req = rem;
}

/// The page size from the auxiliary vector: a shared library has no start code to record it.
pub fn pageSize() u32 {
    const at_pagesz = 6;
    var err: Errno = .{};
    const fd = openReadOnly("/proc/self/auxv", &err) catch return 4096;
    defer close(fd);
    var buf: [4096]u8 align(8) = undefined;
    const n = read(fd, &buf, &err) catch return 4096;
    const words = std.mem.bytesAsSlice(usize, buf[0 .. n - n % (2 * @sizeOf(usize))]);
    var i: usize = 0;
    while (i + 1 < words.len) : (i += 2) {
        if (words[i] == at_pagesz) return @intCast(words[i + 1]);
        if (words[i] == 0) break;
    }
    return 4096;
}

/// Runs `func` with the calling thread inside the network namespace at `path`, then moves the
/// thread back. A socket keeps the namespace it was made in, so the capture stays there.
pub fn inNetns(path: [*:0]const u8, err: *Errno, comptime func: anytype, args: anytype) @TypeOf(@call(.auto, func, args)) {
    if (path[0] == 0) return @call(.auto, func, args);
    const home = try openReadOnly("/proc/thread-self/ns/net", err);
    defer close(home);
    const target = try openReadOnly(path, err);
    defer close(target);
    try setnsNet(target, err);
    defer {
        var ignored: Errno = .{};
        // Moving back into the namespace we came from cannot fail for lack of rights.
        setnsNet(home, &ignored) catch unreachable;
    }
    return @call(.auto, func, args);
}

/// Copies a NUL-terminated name out of a fixed field, checking that it is terminated.
pub fn fixedName(field: []const u8) ?[:0]const u8 {
    const end = std.mem.indexOfScalar(u8, field, 0) orelse return null;
    return field[0..end :0];
}

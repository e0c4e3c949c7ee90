//! Thin wrappers over the raw Linux syscalls the library needs, each mapping errno to
//! `abi.Error`, and the socket set-up every AF_PACKET socket we open shares (the capture ring,
//! the generator, the bench's plain socket): name checks, netns entry, interface lookup, bind.
//! No libc: everything goes through `std.os.linux`, so one build runs on any distribution.
//!
//! The EINTR rule. Every wrapper in this file retries a call that a signal interrupted
//! (`retry`, bounded), so a signal never turns a set-up step into an error; `close` is the one
//! exception (Linux frees the descriptor even when it reports EINTR). Blocking waits live with
//! their callers (`ring.Capture.nextBlock`, the bench's recv loop) and go round their own loop
//! on EINTR with the time left recomputed: a signal neither ends a wait nor lengthens it.

const std = @import("std");
const linux = std.os.linux;
const abi = @import("abi.zig");
const Error = abi.Error;

pub const E = linux.E;

/// The errno of the last failed call on this path; callers copy it into their out-fields.
pub const Errno = struct {
    value: i32 = 0,

    pub fn set(self: *Errno, e: E) void {
        self.value = @intCast(@backingInt(e));
    }

    /// Records `e` and returns `failure`: one errno switch arm, `.X => |e| return err.fail(e, ...)`.
    pub fn fail(self: *Errno, e: E, failure: Error) Error {
        self.set(e);
        return failure;
    }
};

pub fn errnoOf(rc: usize) E {
    return linux.errno(rc);
}

/// A signal storm is not a reason to spin forever: after this many EINTRs in a row the call's
/// EINTR reaches its errno switch like any other failure.
const eintr_retries_max = 1000;

/// Calls the raw syscall `func` until it returns something other than EINTR.
pub fn retry(comptime func: anytype, args: anytype) usize {
    var rc: usize = undefined;
    for (0..eintr_retries_max) |_| {
        rc = @call(.auto, func, args);
        if (errnoOf(rc) != .INTR) break;
    }
    return rc;
}

/// The errors every call shares: resource limits and permissions.
fn common(e: E, err: *Errno) Error {
    return err.fail(e, switch (e) {
        .PERM, .ACCES => error.PermissionDenied,
        .MFILE, .NFILE, .NOBUFS => error.SystemResources,
        .NOMEM => error.OutOfMemory,
        .NODEV, .NXIO => error.NoSuchInterface,
        .NETDOWN => error.NetworkDown,
        else => error.Unexpected,
    });
}

pub fn socket(domain: u32, sock_type: u32, protocol: u32, err: *Errno) Error!i32 {
    const rc = retry(linux.socket, .{ domain, sock_type | linux.SOCK.CLOEXEC, protocol });
    return switch (errnoOf(rc)) {
        .SUCCESS => @intCast(rc),
        .AFNOSUPPORT, .PROTONOSUPPORT => |e| err.fail(e, error.NotSupported),
        else => |e| common(e, err),
    };
}

pub fn close(fd: i32) void {
    // Linux releases the descriptor even when close reports EINTR: never retry.
    _ = linux.close(fd);
}

/// setsockopt, with the errno returned raw so each caller can name its own failures.
pub fn setsockoptRaw(fd: i32, level: i32, name: u32, value: []const u8) E {
    return errnoOf(retry(linux.setsockopt, .{ fd, level, name, value.ptr, @as(linux.socklen_t, @intCast(value.len)) }));
}

pub fn setsockopt(fd: i32, level: i32, name: u32, value: []const u8, err: *Errno) Error!void {
    return switch (setsockoptRaw(fd, level, name, value)) {
        .SUCCESS => {},
        .NOPROTOOPT, .OPNOTSUPP => |e| err.fail(e, error.NotSupported),
        .INVAL => |e| err.fail(e, error.InvalidArgument),
        else => |e| common(e, err),
    };
}

pub fn getsockopt(fd: i32, level: i32, name: u32, value: []u8, err: *Errno) Error!usize {
    var len: linux.socklen_t = @intCast(value.len);
    return switch (errnoOf(retry(linux.getsockopt, .{ fd, level, name, value.ptr, &len }))) {
        .SUCCESS => len,
        .NOPROTOOPT, .OPNOTSUPP => |e| err.fail(e, error.NotSupported),
        else => |e| common(e, err),
    };
}

pub fn ioctl(fd: i32, request: u32, arg: usize, err: *Errno) Error!void {
    return switch (errnoOf(retry(linux.ioctl, .{ fd, request, arg }))) {
        .SUCCESS => {},
        else => |e| common(e, err),
    };
}

pub fn mmapShared(fd: i32, len: usize, err: *Errno) Error![*]u8 {
    const rc = retry(linux.mmap, .{ null, len, linux.PROT{ .READ = true, .WRITE = true }, linux.MAP{ .TYPE = .SHARED }, fd, 0 });
    return switch (errnoOf(rc)) {
        .SUCCESS => @ptrFromInt(rc),
        .NOMEM, .AGAIN => |e| err.fail(e, error.OutOfMemory),
        else => |e| common(e, err),
    };
}

/// `len` bytes of zeroed private memory of our own (an immediate capture's block).
pub fn mmapAnonymous(len: usize, err: *Errno) Error![*]u8 {
    const rc = retry(linux.mmap, .{ null, len, linux.PROT{ .READ = true, .WRITE = true }, linux.MAP{ .TYPE = .PRIVATE, .ANONYMOUS = true }, -1, 0 });
    return switch (errnoOf(rc)) {
        .SUCCESS => @ptrFromInt(rc),
        .NOMEM, .AGAIN => |e| err.fail(e, error.OutOfMemory),
        else => |e| common(e, err),
    };
}

pub fn munmap(ptr: [*]u8, len: usize) void {
    const rc = linux.munmap(ptr, len);
    // Our own mapping with its own length: failure means the caller's bookkeeping is wrong.
    std.debug.assert(errnoOf(rc) == .SUCCESS);
}

pub fn openReadOnly(path: [*:0]const u8, err: *Errno) Error!i32 {
    const rc = retry(linux.open, .{ path, linux.O{ .ACCMODE = .RDONLY, .CLOEXEC = true }, @as(linux.mode_t, 0) });
    return switch (errnoOf(rc)) {
        .SUCCESS => @intCast(rc),
        .NOENT, .NOTDIR => |e| err.fail(e, error.NetnsFailed),
        else => |e| common(e, err),
    };
}

pub fn read(fd: i32, buf: []u8, err: *Errno) Error!usize {
    const rc = retry(linux.read, .{ fd, buf.ptr, buf.len });
    return switch (errnoOf(rc)) {
        .SUCCESS => rc,
        else => |e| common(e, err),
    };
}

/// setns(CLONE_NEWNET): refused without CAP_SYS_ADMIN, which is not the capability capturing
/// needs (CAP_NET_RAW), so it has its own error.
pub fn setnsNet(fd: i32, err: *Errno) Error!void {
    return switch (errnoOf(retry(linux.setns, .{ fd, linux.CLONE.NEWNET }))) {
        .SUCCESS => {},
        .PERM => |e| err.fail(e, error.NetnsPermissionDenied),
        else => |e| err.fail(e, error.NetnsFailed),
    };
}

/// Reads a small /proc file whole into `buf` (bounded: `buf.len` bytes at most).
fn readSmallFile(path: [*:0]const u8, buf: []u8) ?[]const u8 {
    var err: Errno = .{};
    const fd = openReadOnly(path, &err) catch return null;
    defer close(fd);
    var n: usize = 0;
    while (n < buf.len) {
        const got = read(fd, buf[n..], &err) catch return null;
        if (got == 0) break;
        n += got;
    }
    return buf[0..n];
}

/// The first decimal number in `text` after `key` (skipping blanks), or null.
fn numberAfter(text: []const u8, key: []const u8) ?u64 {
    const at = std.mem.indexOf(u8, text, key) orelse return null;
    const rest = std.mem.trimStart(u8, text[at + key.len ..], " \t");
    const end = std.mem.indexOfNone(u8, rest, "0123456789") orelse rest.len;
    return std.fmt.parseInt(u64, rest[0..end], 10) catch null;
}

/// A /proc or /sys file that holds one decimal number (e.g. /proc/sys/net/core/optmem_max; net
/// sysctls read are those of the calling thread's namespace), or null.
pub fn readNumberFile(path: [*:0]const u8) ?u64 {
    var buf: [64]u8 = undefined;
    return numberAfter(readSmallFile(path, &buf) orelse return null, "");
}

/// The memory the kernel says it can give without swapping: MemAvailable from /proc/meminfo,
/// or, without /proc, free plus buffer memory from sysinfo (a smaller figure). Read afresh on
/// every call.
pub fn memAvailableBytes() u64 {
    var buf: [8192]u8 = undefined;
    if (readSmallFile("/proc/meminfo", &buf)) |text| {
        if (numberAfter(text, "\nMemAvailable:")) |kib| return kib *| 1024;
    }
    var info: linux.Sysinfo = undefined;
    if (errnoOf(linux.sysinfo(&info)) != .SUCCESS) return 0;
    const unit: u64 = @max(info.mem_unit, 1);
    return (@as(u64, info.freeram) +| @as(u64, info.bufferram)) *| unit;
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

/// The `panic` namespace of a library's root: a panic inside a host process says why on stderr
/// and stops, without pulling in stack-trace machinery.
pub fn QuietPanic(comptime library: []const u8) type {
    return std.debug.FullPanic(struct {
        fn handler(msg: []const u8, _: ?usize) noreturn {
            @branchHint(.cold);
            const prefix = library ++ ": internal error: ";
            _ = linux.write(2, prefix, prefix.len);
            _ = linux.write(2, msg.ptr, msg.len);
            _ = linux.write(2, "\n", 1);
            @trap();
        }
    }.handler);
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

// ---------------------------------------------------------------------------------------------
// Socket set-up shared by every AF_PACKET socket we open.

/// Copies a NUL-terminated name out of a fixed field, checking that it is terminated.
pub fn fixedName(field: []const u8) ?[:0]const u8 {
    const end = std.mem.indexOfScalar(u8, field, 0) orelse return null;
    return field[0..end :0];
}

/// The interface name of a config's `ifname` field: 1 to 15 bytes, NUL-terminated.
pub fn interfaceName(field: []const u8) Error![:0]const u8 {
    const name = fixedName(field) orelse return error.InterfaceNameInvalid;
    if (name.len == 0 or name.len >= abi.ifname_size) return error.InterfaceNameInvalid;
    return name;
}

/// The namespace path of a config's `netns_path` field; empty means the caller's namespace.
pub fn netnsPath(field: []const u8) Error![:0]const u8 {
    return fixedName(field) orelse error.InvalidArgument;
}

/// Runs `func` with the calling thread inside the network namespace at `path`, then moves the
/// thread back. A socket keeps the namespace it was made in, so the capture stays there.
pub fn inNetns(path: [:0]const u8, err: *Errno, comptime func: anytype, args: anytype) @TypeOf(@call(.auto, func, args)) {
    if (path.len == 0) return @call(.auto, func, args);
    const home = try openReadOnly("/proc/thread-self/ns/net", err);
    defer close(home);
    // `ip netns add` makes its files readable by root only.
    const target = openReadOnly(path, err) catch |e|
        return if (e == error.PermissionDenied) error.NetnsPermissionDenied else e;
    defer close(target);
    try setnsNet(target, err);
    defer {
        var ignored: Errno = .{};
        // Moving back into the namespace we came from cannot fail for lack of rights.
        setnsNet(home, &ignored) catch unreachable;
    }
    return @call(.auto, func, args);
}

pub const eth_p_all: u16 = 0x0003;

pub const Interface = struct { index: i32, up: bool, mtu: u32, link_type: u32, mac: [8]u8 };

/// The ARPHRD type a socket bound to no interface reports: its frames have no one link type.
pub const arphrd_void: u32 = 0xffff;

/// An AF_PACKET raw socket and the interface it is for, looked up by name through it.
pub const PacketSocket = struct {
    fd: i32,
    iface: Interface,

    /// Opens the socket for `protocol` (host order; 0 receives nothing until `bind` names one)
    /// and looks up interface `name` in the calling thread's namespace.
    pub fn open(protocol: u16, name: [:0]const u8, err: *Errno) Error!PacketSocket {
        const fd = try socket(linux.AF.PACKET, linux.SOCK.RAW, std.mem.nativeToBig(u16, protocol), err);
        errdefer close(fd);
        var sock = PacketSocket{ .fd = fd, .iface = undefined };
        sock.iface = try sock.lookup(name, err);
        return sock;
    }

    /// Opens a socket bound to no interface, which receives from every interface of the calling
    /// thread's namespace once bound; `cooked` (SOCK_DGRAM) gives frames without their
    /// link-layer header, as an "any" capture needs (interfaces differ in link type).
    pub fn openAll(cooked: bool, err: *Errno) Error!PacketSocket {
        const fd = try socket(linux.AF.PACKET, if (cooked) linux.SOCK.DGRAM else linux.SOCK.RAW, 0, err);
        return .{ .fd = fd, .iface = .{ .index = 0, .up = true, .mtu = 0, .link_type = arphrd_void, .mac = @splat(0) } };
    }

    /// Looks up interface `name` through the socket (in the namespace it was made in).
    pub fn lookup(self: PacketSocket, name: [:0]const u8, err: *Errno) Error!Interface {
        return lookupInterface(self.fd, name, err) catch |e|
            return if (e == error.NetworkDown) error.NoSuchInterface else e;
    }

    /// The name of interface `index` in the socket's namespace (SIOCGIFNAME), into `out`.
    pub fn nameOf(fd: i32, index: i32, out: *[abi.ifname_size]u8, err: *Errno) Error![]const u8 {
        var req: linux.ifreq = std.mem.zeroes(linux.ifreq);
        req.ifru.ivalue = index;
        ioctl(fd, linux.SIOCGIFNAME, @intFromPtr(&req), err) catch |e|
            return if (e == error.NetworkDown) error.NoSuchInterface else e;
        out.* = req.ifrn.name;
        return fixedName(out) orelse error.Unexpected;
    }

    /// Binds to the interface (index 0: every interface): with ETH_P_ALL the socket receives every frame from here on;
    /// with 0 it only sends.
    pub fn bind(self: PacketSocket, protocol: u16, err: *Errno) Error!void {
        var addr = linux.sockaddr.ll{
            .protocol = std.mem.nativeToBig(u16, protocol),
            .ifindex = self.iface.index,
            .hatype = 0,
            .pkttype = 0,
            .halen = 0,
            .addr = @splat(0),
        };
        const rc = retry(linux.bind, .{ self.fd, @as(*const linux.sockaddr, @ptrCast(&addr)), @as(linux.socklen_t, @sizeOf(linux.sockaddr.ll)) });
        return switch (errnoOf(rc)) {
            .SUCCESS => {},
            .NODEV, .NXIO => |e| err.fail(e, error.NoSuchInterface),
            .NETDOWN => |e| err.fail(e, error.InterfaceDown),
            .PERM, .ACCES => |e| err.fail(e, error.PermissionDenied),
            else => |e| err.fail(e, error.Unexpected),
        };
    }
};

/// Index, flags, MTU, link type and hardware address of interface `name`.
fn lookupInterface(fd: i32, name: [:0]const u8, err: *Errno) Error!Interface {
    var req: linux.ifreq = std.mem.zeroes(linux.ifreq);
    @memcpy(req.ifrn.name[0..name.len], name);
    try ioctl(fd, linux.SIOCGIFINDEX, @intFromPtr(&req), err);
    var iface: Interface = .{ .index = req.ifru.ivalue, .up = false, .mtu = 0, .link_type = 0, .mac = @splat(0) };
    try ioctl(fd, linux.SIOCGIFFLAGS, @intFromPtr(&req), err);
    iface.up = req.ifru.flags.UP;
    try ioctl(fd, linux.SIOCGIFMTU, @intFromPtr(&req), err);
    iface.mtu = @intCast(req.ifru.mtu);
    try ioctl(fd, linux.SIOCGIFHWADDR, @intFromPtr(&req), err);
    iface.link_type = req.ifru.hwaddr.family;
    @memcpy(iface.mac[0..6], req.ifru.hwaddr.data[0..6]);
    return iface;
}

test "retry gives up on a call that is interrupted every time, and the errno reaches the switch" {
    const Always = struct {
        var calls: usize = 0;
        fn interrupted() usize {
            calls += 1;
            return @bitCast(-@as(isize, @backingInt(E.INTR)));
        }
    };
    try std.testing.expectEqual(E.INTR, errnoOf(retry(Always.interrupted, .{})));
    try std.testing.expectEqual(@as(usize, eintr_retries_max), Always.calls);
}

test "names: an interface name is 1 to 15 bytes and terminated; an empty netns means here" {
    var field: [abi.ifname_size]u8 = @splat(0);
    try std.testing.expectError(error.InterfaceNameInvalid, interfaceName(&field));
    @memcpy(field[0..4], "veth");
    try std.testing.expectEqualStrings("veth", try interfaceName(&field));
    @memset(&field, 'a');
    try std.testing.expectError(error.InterfaceNameInvalid, interfaceName(&field));
    try std.testing.expectError(error.InvalidArgument, netnsPath(&field));
    const here: [4]u8 = @splat(0);
    try std.testing.expectEqualStrings("", try netnsPath(&here));
}

test "numbers are read after their key, and MemAvailable is a plausible figure" {
    const meminfo = "MemTotal:       24684100 kB\nMemFree:  1 kB\nMemAvailable:   24260224 kB\n";
    try std.testing.expectEqual(@as(?u64, 24260224), numberAfter(meminfo, "\nMemAvailable:"));
    try std.testing.expectEqual(@as(?u64, null), numberAfter(meminfo, "\nSwapTotal:"));
    try std.testing.expectEqual(@as(?u64, 131072), numberAfter("131072\n", ""));
    try std.testing.expectEqual(@as(?u64, null), numberAfter("x\n", ""));
    const available = memAvailableBytes();
    try std.testing.expect(available > 1 << 20);
    var info: linux.Sysinfo = undefined;
    try std.testing.expectEqual(E.SUCCESS, errnoOf(linux.sysinfo(&info)));
    try std.testing.expect(available <= @as(u64, info.totalram) * @max(info.mem_unit, 1));
}

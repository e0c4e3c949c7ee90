//! The C ABI shared with TypeScript, described once. `Status` is the one list of status codes
//! (the `Error` set and `status()` are derived from it), the extern structs and flag
//! namespaces below are the only statement of their layouts and bits, and an export table
//! (`lib.zig`'s `exports`) is the only list of symbols. `describe` turns all of it into the
//! JSON that `ringcap_describe` hands to TypeScript, whose test compares it with its own table.

const std = @import("std");
const linux = std.os.linux;

/// Bumped whenever an export or a struct that crosses the boundary changes.
pub const version: u32 = 9;

/// Every exported function returns one of these. Zero and positive values are success
/// (some calls return a block index); negative values are listed here and nowhere else.
pub const Status = enum(i32) {
    ok = 0,
    timed_out = -1,
    woken = -2,
    bad_handle = -3,
    too_many_handles = -4,
    invalid_argument = -5,
    interface_name_invalid = -6,
    no_such_interface = -7,
    interface_down = -8,
    permission_denied = -9,
    not_supported = -10,
    block_size_not_page_multiple = -11,
    block_size_not_frame_multiple = -12,
    frame_size_invalid = -13,
    block_count_invalid = -14,
    ring_too_large = -15,
    ring_rejected = -16,
    out_of_memory = -17,
    filter_invalid = -18,
    fanout_invalid = -19,
    fanout_group_busy = -20,
    netns_failed = -21,
    block_not_held = -22,
    block_already_held = -23,
    system_resources = -24,
    network_down = -25,
    frame_too_large = -26,
    block_timeout_invalid = -27,
    unexpected = -28,
    /// The ring is larger than the share of MemAvailable a capture may take
    /// (CaptureInfo.ring_limit_bytes; the numbers are in CaptureInfo).
    ring_exceeds_memory = -29,
    /// SO_ATTACH_FILTER said ENOMEM: the program does not fit in the socket's option memory
    /// (net.core.optmem_max, in CaptureInfo.optmem_max_bytes).
    filter_too_large = -30,
    /// Entering the network namespace was refused: setns needs CAP_SYS_ADMIN (and the
    /// namespace file must be readable).
    netns_permission_denied = -31,
    /// The interface cannot stamp packets with the clock CaptureConfig.timestamp_type asked for
    /// (SIOCSHWTSTAMP refused: veth and most virtual interfaces have no hardware clock).
    timestamp_type_not_supported = -32,
};

/// The Zig side of `Status`: one error per negative status, its name in CamelCase
/// (`timed_out` is `error.TimedOut`). Functions return these; exports map them with `status`.
pub const Error = blk: {
    var set = error{};
    for (@typeInfo(Status).@"enum".field_names) |name| {
        if (@backingInt(@field(Status, name)) >= 0) continue;
        set = set || @TypeOf(@field(anyerror, camelCase(name)));
    }
    break :blk set;
};

/// The status an error stands for, matched by name at compile time.
pub fn status(err: Error) Status {
    return switch (err) {
        inline else => |e| comptime @field(Status, snakeCase(@errorName(e))),
    };
}

/// What an export returns for `err`.
pub fn code(err: Error) i32 {
    return @backingInt(status(err));
}

/// What an export returns for `result`: 0, or the status of its error.
pub fn codeOf(result: Error!void) i32 {
    result catch |err| return code(err);
    return 0;
}

pub const ifname_size = 16;
/// The most interfaces one capture may name (`ifname` and `more_ifnames`).
pub const interfaces_max = 8;
/// The interface name that captures every interface, cooked (as libpcap's "any").
pub const any_interface = "any";
/// The LINUX_SLL2 header a cooked capture's frames start with (written by `ring.cookBlock`).
pub const sll2_header_bytes = 20;
pub const netns_path_size = 108;
/// The magic number at the start of every generated payload, big-endian "RCAP".
pub const payload_magic: u32 = 0x52434150;
/// Payload layout after the L4 header: magic u32, sequence u64, flow u32 (all big-endian).
pub const payload_size_bytes = 16;

/// Bits of CaptureConfig.flags.
pub const CaptureFlag = struct {
    pub const promisc: u32 = 1 << 0;
    pub const ignore_outgoing: u32 = 1 << 1;
    pub const fill_rxhash: u32 = 1 << 2;
    pub const fanout: u32 = 1 << 3;
    pub const allow_down: u32 = 1 << 4;
    /// Let the ring take up to MemAvailable instead of half of it.
    pub const allow_large_ring: u32 = 1 << 5;
    /// Immediate mode: a TPACKET_V2 ring, each frame handed over as it arrives (in a block of
    /// its own memory shaped as TPACKET_V3's) instead of when its block is full or timed out.
    pub const immediate: u32 = 1 << 6;
};

/// Bits of GenConfig.flags.
pub const GenFlag = struct {
    pub const ipv6: u32 = 1 << 0;
    pub const tcp: u32 = 1 << 1;
    pub const vlan: u32 = 1 << 2;
    pub const qinq: u32 = 1 << 3;
    pub const qdisc_bypass: u32 = 1 << 4;
};

/// Bits of CaptureConfig.fanout_flags: the kernel's PACKET_FANOUT_FLAG_*.
pub const FanoutFlag = struct {
    pub const rollover: u32 = linux.PACKET.FANOUT_FLAG_ROLLOVER;
    pub const unique_id: u32 = linux.PACKET.FANOUT_FLAG_UNIQUEID;
    pub const ignore_outgoing: u32 = linux.PACKET.FANOUT_FLAG_IGNORE_OUTGOING;
    pub const defrag: u32 = linux.PACKET.FANOUT_FLAG_DEFRAG;
};

/// Values of CaptureConfig.fanout_mode: the kernel's PACKET_FANOUT_*.
pub const FanoutMode = struct {
    pub const hash: u32 = linux.PACKET.FANOUT_HASH;
    pub const lb: u32 = linux.PACKET.FANOUT_LB;
    pub const cpu: u32 = linux.PACKET.FANOUT_CPU;
    pub const rollover: u32 = linux.PACKET.FANOUT_ROLLOVER;
    pub const rnd: u32 = linux.PACKET.FANOUT_RND;
    pub const qm: u32 = linux.PACKET.FANOUT_QM;
    pub const cbpf: u32 = linux.PACKET.FANOUT_CBPF;
    pub const ebpf: u32 = linux.PACKET.FANOUT_EBPF;
};

/// The tp_status bits of a packet header (and block_status) that TypeScript reads.
pub const TpStatus = struct {
    pub const user: u32 = tpStatusBit("USER");
    pub const copy: u32 = tpStatusBit("COPY");
    pub const losing: u32 = tpStatusBit("LOSING");
    pub const csumnotready: u32 = tpStatusBit("CSUMNOTREADY");
    pub const vlan_valid: u32 = tpStatusBit("VLAN_VALID");
    pub const blk_tmo: u32 = tpStatusBit("BLK_TMO");
    pub const vlan_tpid_valid: u32 = tpStatusBit("VLAN_TPID_VALID");
    pub const csum_valid: u32 = tpStatusBit("CSUM_VALID");
    /// The packet's stamp came from the kernel's clock.
    pub const ts_software: u32 = tpStatusBit("TS_SOFTWARE");
    /// The packet's stamp came from the NIC, converted to system time (kernels before 3.17).
    pub const ts_sys_hardware: u32 = tpStatusBit("TS_SYS_HARDWARE");
    /// The packet's stamp is the NIC's own clock (PACKET_TIMESTAMP with RAW_HARDWARE).
    pub const ts_raw_hardware: u32 = tpStatusBit("TS_RAW_HARDWARE");
};

/// Values of CaptureConfig.timestamp_type: whose clock stamps the packets (libpcap's names).
pub const TimestampType = struct {
    /// The kernel's clock, when the packet reaches the stack (the default).
    pub const host: u32 = 0;
    /// The NIC's clock, which the user keeps synchronised with the system's (phc2sys).
    pub const adapter: u32 = 1;
    /// The NIC's clock as it runs.
    pub const adapter_unsynced: u32 = 2;
};

fn tpStatusBit(comptime name: []const u8) u32 {
    return 1 << @bitOffsetOf(@FieldType(linux.TP_STATUS, "rx"), name);
}

/// What TypeScript fills to open a capture. Zero is a usable value for every field but the
/// interface name and geometry; TypeScript applies the documented defaults.
pub const CaptureConfig = extern struct {
    ifname: [ifname_size]u8,
    netns_path: [netns_path_size]u8,
    block_size_bytes: u32,
    block_count: u32,
    frame_size_bytes: u32,
    block_timeout_ms: u32,
    /// 0 means the whole frame.
    snaplen_bytes: u32,
    /// CaptureFlag bits.
    flags: u32,
    fanout_group_id: u32,
    /// A FanoutMode value.
    fanout_mode: u32,
    /// FanoutFlag bits.
    fanout_flags: u32,
    /// PACKET_FANOUT_DATA for the ebpf mode: a program fd, or -1.
    fanout_ebpf_fd: i32,
    /// An eventfd polled beside the ring; when readable, a wait ends with `woken`. -1 for none.
    wake_fd: i32,
    /// Further interfaces captured beside `ifname` on one socket; unused entries are empty.
    more_ifnames: [interfaces_max - 1][ifname_size]u8 = @splat(@splat(0)),
    /// A TimestampType value: anything but `host` turns on the interfaces' hardware stamping
    /// (SIOCSHWTSTAMP) and asks the ring for its stamps (PACKET_TIMESTAMP).
    timestamp_type: u32 = 0,
};

/// What `ringcap_capture_open` reports back.
pub const CaptureInfo = extern struct {
    handle: u32,
    errno: i32,
    ring_address: u64,
    ring_size_bytes: u64,
    block_size_bytes: u32,
    block_count: u32,
    frame_size_bytes: u32,
    block_timeout_ms: u32,
    snaplen_bytes: u32,
    ifindex: i32,
    fanout_group_id: u32,
    link_type: u32,
    mtu: u32,
    page_size_bytes: u32,
    mac: [8]u8,
    /// MemAvailable (/proc/meminfo) when the capture was opened; filled on failure too.
    mem_available_bytes: u64,
    /// The largest ring this open accepted: half of `mem_available_bytes`, or all of it with
    /// CaptureFlag.allow_large_ring; filled on failure too.
    ring_limit_bytes: u64,
    /// net.core.optmem_max in the capture's namespace, read when a filter was too large
    /// (status `filter_too_large`); 0 otherwise.
    optmem_max_bytes: u32,
    /// How many interfaces the capture names (`ifindex` and `more_ifindexes`); 0 for "any".
    interface_count: u32 = 0,
    /// The index of each of `CaptureConfig.more_ifnames`, in their order.
    more_ifindexes: [interfaces_max - 1]i32 = @splat(0),
    _reserved: u32 = 0,
};

/// Block hand-over result (`ringcap_capture_next_block`).
pub const BlockInfo = extern struct {
    index: u32,
    packet_count: u32,
    offset_bytes: u32,
    length_bytes: u32,
    sequence: u64,
};

/// Accumulated PACKET_STATISTICS since the capture opened.
pub const CaptureStats = extern struct {
    /// Frames the kernel handed to this socket, dropped ones included (tp_packets).
    packets: u64,
    /// Frames the kernel dropped because the ring was full (tp_drops).
    drops: u64,
    /// Times the ring was frozen because user space was behind (tp_freeze_q_cnt).
    freezes: u64,
    /// Frames the capture's interfaces themselves dropped since it opened (rx_dropped,
    /// rx_missed_errors and rx_fifo_errors of each, read in the capture's namespace; every
    /// interface of it for "any"). See ifdrops.zig.
    interface_drops: u64 = 0,
};

pub const GenConfig = extern struct {
    ifname: [ifname_size]u8,
    netns_path: [netns_path_size]u8,
    dst_mac: [8]u8,
    src_mac: [8]u8,
    /// GenFlag bits.
    flags: u32,
    /// Ethernet frame length without FCS, VLAN tags included; 0 means the minimum (60).
    frame_size_bytes: u32,
    flows: u32,
    /// Frames per second; 0 means as fast as the interface takes them.
    rate_pps: u32,
    vlan_id: u16,
    vlan_priority: u16,
    /// Outer tag TPID for VLAN frames (0x8100 or 0x88a8).
    vlan_tpid: u16,
    inner_vlan_id: u16,
    dst_port: u16,
    batch: u16,
    seq_start: u64,
    /// TCP flags of generated TCP frames; 0 means PSH|ACK.
    tcp_flags: u16,
};

/// What `ringcap_gen_open` reports back; `mtu` and `frame_length_max_bytes` are filled on
/// failure too, once the interface was found (status `frame_too_large` names them).
pub const GenInfo = extern struct {
    handle: u32,
    errno: i32,
    /// The frames' length: GenConfig.frame_size_bytes, or the minimum.
    frame_length_bytes: u32,
    mtu: u32,
    /// The longest frame the interface takes: MTU + Ethernet header (+ one VLAN tag's 4 bytes
    /// for tagged frames, as the kernel allows).
    frame_length_max_bytes: u32,
    _reserved: u32 = 0,
};

pub const GenResult = extern struct {
    sent: u64,
    elapsed_ns: u64,
    errno: i32,
    _reserved: u32 = 0,
};

/// What TypeScript fills to open a native flow cache (`ringcap_flows_open`): FlowTracker's
/// options (src/export/records.ts), already defaulted and range-checked, and the pcap link type
/// of the frames it will read (1 Ethernet, 101 raw IP, 276 LINUX_SLL2).
pub const FlowConfig = extern struct {
    idle_timeout_ms: u32,
    active_timeout_ms: u32,
    max_flows: u32,
    fin_linger_ms: u32,
    link_type: u32,
    _reserved: u32 = 0,
};

/// One flow record, as FlowTracker makes a FlowRecord (src/export/record.ts).
pub const FlowRecord = extern struct {
    packets: u64,
    octets: u64,
    /// The first and last packet's timestamps, ms since the epoch, truncated (whole numbers).
    start_ms: f64,
    end_ms: f64,
    /// IPv4 in the first 4 bytes, the rest zero.
    src_address: [16]u8,
    dst_address: [16]u8,
    ingress_interface: u32,
    /// The outer VLAN id, or -1.
    vlan_id: i32,
    src_port: u16,
    /// The port, or for ICMP and ICMPv6 type * 256 + code.
    dst_port: u16,
    tcp_flags: u16,
    ip_version: u8,
    protocol: u8,
    /// A FLOW_END_REASON value (1 idle, 2 active, 3 end of flow, 4 forced, 5 lack of resources).
    end_reason: u32,
    _reserved: u32 = 0,
};

/// A native flow cache's counters (`ringcap_flows_stats`), FlowTracker.stats()'s.
pub const FlowStats = extern struct {
    active_flows: u64,
    packets: u64,
    skipped: u64,
    evictions: u64,
    /// Records made, at the index of their end reason (index 0 unused).
    records_by_reason: [6]u64,
    /// Records made and not yet taken.
    queued: u64,
    /// The latest packet timestamp counted (ms, fractions kept): FlowTracker.latestMs.
    latest_ms: f64,
};

comptime {
    // The kernel structs TypeScript reads at fixed offsets.
    std.debug.assert(@sizeOf(linux.tpacket3_hdr) == 48);
    std.debug.assert(@offsetOf(linux.tpacket3_hdr, "next_offset") == 0);
    std.debug.assert(@offsetOf(linux.tpacket3_hdr, "mac") == 24);
    std.debug.assert(@sizeOf(linux.tpacket_block_desc) == 48);
    std.debug.assert(@offsetOf(linux.tpacket_hdr_v1, "seq_num") == 16);
    std.debug.assert(@sizeOf(CaptureInfo) == 128);
    std.debug.assert(@sizeOf(GenInfo) == 24);
    std.debug.assert(@sizeOf(BlockInfo) == 24);
    std.debug.assert(@sizeOf(FlowRecord) == 88);
    std.debug.assert(@sizeOf(FlowConfig) == 24);
    std.debug.assert(TpStatus.user == 1 and TpStatus.csum_valid == 1 << 7);
}

// ---------------------------------------------------------------------------------------------
// The description: names and offsets as TypeScript reads them.

/// One struct as TypeScript sees it: its size and the offset of each field it reads.
pub const Layout = struct {
    name: []const u8,
    size: usize,
    fields: []const Field,

    pub const Field = struct { name: []const u8, offset: usize };

    /// Every field of extern struct `T` by its Zig name, but `_`-prefixed padding.
    pub fn of(comptime T: type) Layout {
        return comptime blk: {
            var fields: []const Field = &.{};
            for (@typeInfo(T).@"struct".field_names) |name| {
                if (name[0] == '_') continue;
                fields = fields ++ .{Field{ .name = name, .offset = @offsetOf(T, name) }};
            }
            const type_name = @typeName(T);
            const short = type_name[if (std.mem.lastIndexOfScalar(u8, type_name, '.')) |dot| dot + 1 else 0..];
            break :blk .{ .name = short, .size = @sizeOf(T), .fields = fields };
        };
    }
};

const variant_offset = @offsetOf(linux.tpacket3_hdr, "variant");
const block_hdr_offset = @offsetOf(linux.tpacket_block_desc, "hdr");

fn packetField(comptime name: []const u8) Layout.Field {
    return .{ .name = name, .offset = @offsetOf(linux.tpacket3_hdr, name) };
}

fn variantField(comptime name: []const u8) Layout.Field {
    return .{ .name = name, .offset = variant_offset + @offsetOf(linux.tpacket_hdr_variant1, name) };
}

fn addressField(comptime name: []const u8) Layout.Field {
    return .{ .name = name, .offset = @offsetOf(linux.sockaddr.ll, name) };
}

/// Where the kernel writes a packet's sockaddr_ll: right after its tpacket3_hdr, aligned
/// (TPACKET_ALIGN(sizeof(struct tpacket3_hdr))).
pub const sockaddr_ll_offset = std.mem.alignForward(usize, @sizeOf(linux.tpacket3_hdr), 16);

fn blockField(comptime name: []const u8) Layout.Field {
    return .{ .name = name, .offset = block_hdr_offset + @offsetOf(linux.tpacket_hdr_v1, name) };
}

/// The kernel's ring structs, their unions flattened into the names TypeScript uses.
const kernel_layouts = [_]Layout{
    .{ .name = "tpacket3_hdr", .size = @sizeOf(linux.tpacket3_hdr), .fields = &.{
        packetField("next_offset"),
        packetField("sec"),
        packetField("nsec"),
        packetField("snaplen"),
        packetField("len"),
        packetField("status"),
        packetField("mac"),
        packetField("net"),
        variantField("rxhash"),
        variantField("vlan_tci"),
        variantField("vlan_tpid"),
    } },
    .{ .name = "sockaddr_ll", .size = @sizeOf(linux.sockaddr.ll), .fields = &.{
        addressField("family"),
        addressField("protocol"),
        addressField("ifindex"),
        addressField("hatype"),
        addressField("pkttype"),
        addressField("halen"),
        addressField("addr"),
    } },
    .{ .name = "block_desc", .size = @sizeOf(linux.tpacket_block_desc), .fields = &.{
        .{ .name = "version", .offset = @offsetOf(linux.tpacket_block_desc, "version") },
        blockField("block_status"),
        blockField("num_pkts"),
        blockField("offset_to_first_pkt"),
        blockField("blk_len"),
        blockField("seq_num"),
        blockField("ts_first_pkt"),
        blockField("ts_last_pkt"),
    } },
};

/// Every struct that crosses libringcap's boundary.
pub const layouts = kernel_layouts ++ [_]Layout{
    .of(CaptureConfig), .of(CaptureInfo), .of(BlockInfo), .of(CaptureStats), .of(GenConfig), .of(GenInfo), .of(GenResult),
    .of(FlowConfig), .of(FlowRecord), .of(FlowStats),
};

/// libringcap's whole description (`ringcap_describe`), for the export table `Exports`.
pub fn describe(comptime Exports: type) [:0]const u8 {
    @setEvalBranchQuota(1_000_000);
    return json.object(&.{
        .{ "version", json.number(version) },
        .{ "symbols", json.symbols(Exports) },
        .{ "status", json.enumValues(Status) },
        .{ "layout", json.layouts(&layouts) },
        .{ "flags", json.object(&.{
            .{ "capture", json.constants(CaptureFlag) },
            .{ "gen", json.constants(GenFlag) },
            .{ "fanout", json.constants(FanoutFlag) },
            .{ "tp_status", json.constants(TpStatus) },
        }) },
        .{ "timestamp_types", json.constants(TimestampType) },
        .{ "fanout_modes", json.constants(FanoutMode) },
        .{ "constants", json.object(&.{
            .{ "ifname_size", json.number(ifname_size) },
            .{ "interfaces_max", json.number(interfaces_max) },
            .{ "sll2_header_bytes", json.number(sll2_header_bytes) },
            .{ "sockaddr_ll_offset", json.number(sockaddr_ll_offset) },
            .{ "netns_path_size", json.number(netns_path_size) },
            .{ "payload_magic", json.number(payload_magic) },
            .{ "payload_size_bytes", json.number(payload_size_bytes) },
        }) },
    });
}

/// Exports every public function of `Exports` as `prefix ++ name`.
pub fn exportAll(comptime Exports: type, comptime prefix: []const u8) void {
    for (@typeInfo(Exports).@"struct".decl_names) |name| {
        @export(&@field(Exports, name), .{ .name = prefix ++ name });
    }
}

/// Copies `text` into `buf` (as much as fits in `len`) and returns its full length, so a caller
/// can ask with a null buffer first.
pub fn copyOut(text: []const u8, buf: ?[*]u8, len: u32) u32 {
    if (buf) |b| {
        const n = @min(len, text.len);
        @memcpy(b[0..n], text[0..n]);
    }
    return @intCast(text.len);
}

/// Compact JSON built at compile time, each piece a complete value.
pub const json = struct {
    /// `{"key":value,...}` from key/value pairs whose values are already JSON.
    pub fn object(comptime pairs: []const [2][]const u8) [:0]const u8 {
        var text: []const u8 = "{";
        for (pairs, 0..) |pair, i| {
            text = text ++ (if (i == 0) "" else ",") ++ "\"" ++ pair[0] ++ "\":" ++ pair[1];
        }
        return text ++ "}";
    }

    pub fn number(comptime value: anytype) []const u8 {
        return std.fmt.comptimePrint("{d}", .{value});
    }

    /// `{"name":value,...}` for every public constant of namespace `T`.
    pub fn constants(comptime T: type) []const u8 {
        var pairs: []const [2][]const u8 = &.{};
        for (@typeInfo(T).@"struct".decl_names) |name| pairs = pairs ++ .{.{ name, number(@field(T, name)) }};
        return object(pairs);
    }

    pub fn enumValues(comptime E: type) []const u8 {
        var pairs: []const [2][]const u8 = &.{};
        for (@typeInfo(E).@"enum".field_names) |name| pairs = pairs ++ .{.{ name, number(@backingInt(@field(E, name))) }};
        return object(pairs);
    }

    pub fn layouts(comptime list: []const Layout) []const u8 {
        var pairs: []const [2][]const u8 = &.{};
        for (list) |layout| {
            var fields: []const [2][]const u8 = &.{.{ "size", number(layout.size) }};
            for (layout.fields) |f| fields = fields ++ .{.{ f.name, number(f.offset) }};
            pairs = pairs ++ .{.{ layout.name, object(fields) }};
        }
        return object(pairs);
    }

    /// `{"name":{"args":[...],"returns":"..."},...}` for every function of `Exports`.
    pub fn symbols(comptime Exports: type) []const u8 {
        var pairs: []const [2][]const u8 = &.{};
        for (@typeInfo(Exports).@"struct".decl_names) |name| {
            const info = @typeInfo(@TypeOf(@field(Exports, name))).@"fn";
            var args: []const u8 = "[";
            for (info.param_types, 0..) |param, i| args = args ++ (if (i == 0) "" else ",") ++ "\"" ++ ffiType(param.?) ++ "\"";
            pairs = pairs ++ .{.{ name, object(&.{
                .{ "args", args ++ "]" },
                .{ "returns", "\"" ++ ffiType(info.return_type.?) ++ "\"" },
            }) }};
        }
        return object(pairs);
    }

    /// The FFI name of a parameter or return type; anything else is a compile error, so an
    /// export cannot take a type TypeScript has no word for.
    fn ffiType(comptime T: type) []const u8 {
        return switch (@typeInfo(T)) {
            .pointer => "ptr",
            .optional => |o| if (@typeInfo(o.child) == .pointer) "ptr" else @compileError("not an FFI type: " ++ @typeName(T)),
            .void => "void",
            .int => switch (T) {
                u32 => "u32",
                i32 => "i32",
                u64 => "u64",
                else => @compileError("not an FFI integer: " ++ @typeName(T)),
            },
            else => @compileError("not an FFI type: " ++ @typeName(T)),
        };
    }
};

/// "timed_out" -> "TimedOut".
fn camelCase(comptime snake: []const u8) [:0]const u8 {
    return comptime blk: {
        @setEvalBranchQuota(10_000);
        var out: [snake.len:0]u8 = undefined;
        var n: usize = 0;
        var upper = true;
        for (snake) |c| {
            if (c == '_') {
                upper = true;
                continue;
            }
            out[n] = if (upper) std.ascii.toUpper(c) else c;
            n += 1;
            upper = false;
        }
        out[n] = 0;
        const final = out[0..n :0].*;
        break :blk &final;
    };
}

/// "TimedOut" -> "timed_out".
fn snakeCase(comptime camel: []const u8) [:0]const u8 {
    return comptime blk: {
        @setEvalBranchQuota(10_000);
        var out: [camel.len * 2:0]u8 = undefined;
        var n: usize = 0;
        for (camel, 0..) |c, i| {
            if (std.ascii.isUpper(c)) {
                if (i != 0) {
                    out[n] = '_';
                    n += 1;
                }
                out[n] = std.ascii.toLower(c);
            } else {
                out[n] = c;
            }
            n += 1;
        }
        out[n] = 0;
        const final = out[0..n :0].*;
        break :blk &final;
    };
}

test "every status but ok has an error of the same name, and status() maps it back" {
    inline for (@typeInfo(Status).@"enum".field_names) |name| {
        const s = @field(Status, name);
        if (s == .ok) continue;
        const err: Error = @field(anyerror, camelCase(name));
        try std.testing.expectEqual(s, status(err));
        try std.testing.expectEqualStrings(name, snakeCase(camelCase(name)));
    }
    try std.testing.expectEqual(@typeInfo(Status).@"enum".field_names.len - 1, @typeInfo(Error).error_set.error_names.?.len);
    try std.testing.expectEqual(@as(i32, -1), code(error.TimedOut));
    try std.testing.expectEqual(@as(i32, -28), code(error.Unexpected));
}

test "a layout lists every field but padding, at its offset" {
    const l = Layout.of(GenResult);
    try std.testing.expectEqualStrings("GenResult", l.name);
    try std.testing.expectEqual(@as(usize, 24), l.size);
    try std.testing.expectEqual(@as(usize, 3), l.fields.len);
    try std.testing.expectEqualStrings("errno", l.fields[2].name);
    try std.testing.expectEqual(@as(usize, 16), l.fields[2].offset);
}

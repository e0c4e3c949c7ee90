//! The C ABI shared with TypeScript: status codes and the extern structs that cross the boundary.
//! TypeScript mirrors every name and offset here; `layout_json` lets a test compare the two sides.

const std = @import("std");
const linux = std.os.linux;

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
};

/// The Zig side of `Status`: functions return these, exports map them with `status`.
pub const Error = error{
    TimedOut,
    Woken,
    BadHandle,
    TooManyHandles,
    InvalidArgument,
    InterfaceNameInvalid,
    NoSuchInterface,
    InterfaceDown,
    PermissionDenied,
    NotSupported,
    BlockSizeNotPageMultiple,
    BlockSizeNotFrameMultiple,
    FrameSizeInvalid,
    BlockCountInvalid,
    RingTooLarge,
    RingRejected,
    OutOfMemory,
    FilterInvalid,
    FanoutInvalid,
    FanoutGroupBusy,
    NetnsFailed,
    BlockNotHeld,
    BlockAlreadyHeld,
    SystemResources,
    NetworkDown,
    FrameTooLarge,
    BlockTimeoutInvalid,
    Unexpected,
};

pub fn status(err: Error) Status {
    return switch (err) {
        error.TimedOut => .timed_out,
        error.Woken => .woken,
        error.BadHandle => .bad_handle,
        error.TooManyHandles => .too_many_handles,
        error.InvalidArgument => .invalid_argument,
        error.InterfaceNameInvalid => .interface_name_invalid,
        error.NoSuchInterface => .no_such_interface,
        error.InterfaceDown => .interface_down,
        error.PermissionDenied => .permission_denied,
        error.NotSupported => .not_supported,
        error.BlockSizeNotPageMultiple => .block_size_not_page_multiple,
        error.BlockSizeNotFrameMultiple => .block_size_not_frame_multiple,
        error.FrameSizeInvalid => .frame_size_invalid,
        error.BlockCountInvalid => .block_count_invalid,
        error.RingTooLarge => .ring_too_large,
        error.RingRejected => .ring_rejected,
        error.OutOfMemory => .out_of_memory,
        error.FilterInvalid => .filter_invalid,
        error.FanoutInvalid => .fanout_invalid,
        error.FanoutGroupBusy => .fanout_group_busy,
        error.NetnsFailed => .netns_failed,
        error.BlockNotHeld => .block_not_held,
        error.BlockAlreadyHeld => .block_already_held,
        error.SystemResources => .system_resources,
        error.NetworkDown => .network_down,
        error.FrameTooLarge => .frame_too_large,
        error.BlockTimeoutInvalid => .block_timeout_invalid,
        error.Unexpected => .unexpected,
    };
}

pub const ifname_size = 16;
pub const netns_path_size = 108;

/// Capture flags (CaptureConfig.flags).
pub const capture_flag_promisc: u32 = 1 << 0;
pub const capture_flag_ignore_outgoing: u32 = 1 << 1;
pub const capture_flag_fill_rxhash: u32 = 1 << 2;
pub const capture_flag_fanout: u32 = 1 << 3;
pub const capture_flag_allow_down: u32 = 1 << 4;

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
    flags: u32,
    fanout_group_id: u32,
    fanout_mode: u32,
    fanout_flags: u32,
    /// PACKET_FANOUT_DATA for the ebpf mode: a program fd, or -1.
    fanout_ebpf_fd: i32,
    /// An eventfd polled beside the ring; when readable, a wait ends with `woken`. -1 for none.
    wake_fd: i32,
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
};

/// Generator flags (GenConfig.flags).
pub const gen_flag_ipv6: u32 = 1 << 0;
pub const gen_flag_tcp: u32 = 1 << 1;
pub const gen_flag_vlan: u32 = 1 << 2;
pub const gen_flag_qinq: u32 = 1 << 3;
pub const gen_flag_qdisc_bypass: u32 = 1 << 4;

pub const GenConfig = extern struct {
    ifname: [ifname_size]u8,
    netns_path: [netns_path_size]u8,
    dst_mac: [8]u8,
    src_mac: [8]u8,
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

pub const GenResult = extern struct {
    sent: u64,
    elapsed_ns: u64,
    errno: i32,
    _reserved: u32 = 0,
};

/// The magic number at the start of every generated payload, big-endian "RCAP".
pub const payload_magic: u32 = 0x52434150;
/// Payload layout after the L4 header: magic u32, sequence u64, flow u32 (all big-endian).
pub const payload_size_bytes = 16;

comptime {
    // The kernel structs TypeScript reads at fixed offsets.
    std.debug.assert(@sizeOf(linux.tpacket3_hdr) == 48);
    std.debug.assert(@offsetOf(linux.tpacket3_hdr, "next_offset") == 0);
    std.debug.assert(@offsetOf(linux.tpacket3_hdr, "mac") == 24);
    std.debug.assert(@sizeOf(linux.tpacket_block_desc) == 48);
    std.debug.assert(@offsetOf(linux.tpacket_hdr_v1, "seq_num") == 16);
    std.debug.assert(@sizeOf(CaptureInfo) == 72);
    std.debug.assert(@sizeOf(BlockInfo) == 24);
}

const Entry = struct { []const u8, usize };

const block_hdr_offset = @offsetOf(linux.tpacket_block_desc, "hdr");
const variant_offset = @offsetOf(linux.tpacket3_hdr, "variant");

/// Every offset and size TypeScript relies on, as name/value pairs.
const layout_entries = [_]Entry{
    .{ "tpacket3_hdr.size", @sizeOf(linux.tpacket3_hdr) },
    .{ "tpacket3_hdr.next_offset", @offsetOf(linux.tpacket3_hdr, "next_offset") },
    .{ "tpacket3_hdr.sec", @offsetOf(linux.tpacket3_hdr, "sec") },
    .{ "tpacket3_hdr.nsec", @offsetOf(linux.tpacket3_hdr, "nsec") },
    .{ "tpacket3_hdr.snaplen", @offsetOf(linux.tpacket3_hdr, "snaplen") },
    .{ "tpacket3_hdr.len", @offsetOf(linux.tpacket3_hdr, "len") },
    .{ "tpacket3_hdr.status", @offsetOf(linux.tpacket3_hdr, "status") },
    .{ "tpacket3_hdr.mac", @offsetOf(linux.tpacket3_hdr, "mac") },
    .{ "tpacket3_hdr.net", @offsetOf(linux.tpacket3_hdr, "net") },
    .{ "tpacket3_hdr.rxhash", variant_offset + @offsetOf(linux.tpacket_hdr_variant1, "rxhash") },
    .{ "tpacket3_hdr.vlan_tci", variant_offset + @offsetOf(linux.tpacket_hdr_variant1, "vlan_tci") },
    .{ "tpacket3_hdr.vlan_tpid", variant_offset + @offsetOf(linux.tpacket_hdr_variant1, "vlan_tpid") },
    .{ "block_desc.size", @sizeOf(linux.tpacket_block_desc) },
    .{ "block_desc.version", @offsetOf(linux.tpacket_block_desc, "version") },
    .{ "block_desc.block_status", block_hdr_offset + @offsetOf(linux.tpacket_hdr_v1, "block_status") },
    .{ "block_desc.num_pkts", block_hdr_offset + @offsetOf(linux.tpacket_hdr_v1, "num_pkts") },
    .{ "block_desc.offset_to_first_pkt", block_hdr_offset + @offsetOf(linux.tpacket_hdr_v1, "offset_to_first_pkt") },
    .{ "block_desc.blk_len", block_hdr_offset + @offsetOf(linux.tpacket_hdr_v1, "blk_len") },
    .{ "block_desc.seq_num", block_hdr_offset + @offsetOf(linux.tpacket_hdr_v1, "seq_num") },
    .{ "block_desc.ts_first_pkt", block_hdr_offset + @offsetOf(linux.tpacket_hdr_v1, "ts_first_pkt") },
    .{ "block_desc.ts_last_pkt", block_hdr_offset + @offsetOf(linux.tpacket_hdr_v1, "ts_last_pkt") },
    .{ "CaptureConfig.size", @sizeOf(CaptureConfig) },
    .{ "CaptureConfig.ifname", @offsetOf(CaptureConfig, "ifname") },
    .{ "CaptureConfig.netns_path", @offsetOf(CaptureConfig, "netns_path") },
    .{ "CaptureConfig.block_size_bytes", @offsetOf(CaptureConfig, "block_size_bytes") },
    .{ "CaptureConfig.block_count", @offsetOf(CaptureConfig, "block_count") },
    .{ "CaptureConfig.frame_size_bytes", @offsetOf(CaptureConfig, "frame_size_bytes") },
    .{ "CaptureConfig.block_timeout_ms", @offsetOf(CaptureConfig, "block_timeout_ms") },
    .{ "CaptureConfig.snaplen_bytes", @offsetOf(CaptureConfig, "snaplen_bytes") },
    .{ "CaptureConfig.flags", @offsetOf(CaptureConfig, "flags") },
    .{ "CaptureConfig.fanout_group_id", @offsetOf(CaptureConfig, "fanout_group_id") },
    .{ "CaptureConfig.fanout_mode", @offsetOf(CaptureConfig, "fanout_mode") },
    .{ "CaptureConfig.fanout_flags", @offsetOf(CaptureConfig, "fanout_flags") },
    .{ "CaptureConfig.fanout_ebpf_fd", @offsetOf(CaptureConfig, "fanout_ebpf_fd") },
    .{ "CaptureConfig.wake_fd", @offsetOf(CaptureConfig, "wake_fd") },
    .{ "CaptureInfo.size", @sizeOf(CaptureInfo) },
    .{ "CaptureInfo.handle", @offsetOf(CaptureInfo, "handle") },
    .{ "CaptureInfo.errno", @offsetOf(CaptureInfo, "errno") },
    .{ "CaptureInfo.ring_address", @offsetOf(CaptureInfo, "ring_address") },
    .{ "CaptureInfo.ring_size_bytes", @offsetOf(CaptureInfo, "ring_size_bytes") },
    .{ "CaptureInfo.block_size_bytes", @offsetOf(CaptureInfo, "block_size_bytes") },
    .{ "CaptureInfo.block_count", @offsetOf(CaptureInfo, "block_count") },
    .{ "CaptureInfo.frame_size_bytes", @offsetOf(CaptureInfo, "frame_size_bytes") },
    .{ "CaptureInfo.block_timeout_ms", @offsetOf(CaptureInfo, "block_timeout_ms") },
    .{ "CaptureInfo.snaplen_bytes", @offsetOf(CaptureInfo, "snaplen_bytes") },
    .{ "CaptureInfo.ifindex", @offsetOf(CaptureInfo, "ifindex") },
    .{ "CaptureInfo.fanout_group_id", @offsetOf(CaptureInfo, "fanout_group_id") },
    .{ "CaptureInfo.link_type", @offsetOf(CaptureInfo, "link_type") },
    .{ "CaptureInfo.mtu", @offsetOf(CaptureInfo, "mtu") },
    .{ "CaptureInfo.page_size_bytes", @offsetOf(CaptureInfo, "page_size_bytes") },
    .{ "CaptureInfo.mac", @offsetOf(CaptureInfo, "mac") },
    .{ "BlockInfo.size", @sizeOf(BlockInfo) },
    .{ "BlockInfo.index", @offsetOf(BlockInfo, "index") },
    .{ "BlockInfo.packet_count", @offsetOf(BlockInfo, "packet_count") },
    .{ "BlockInfo.offset_bytes", @offsetOf(BlockInfo, "offset_bytes") },
    .{ "BlockInfo.length_bytes", @offsetOf(BlockInfo, "length_bytes") },
    .{ "BlockInfo.sequence", @offsetOf(BlockInfo, "sequence") },
    .{ "CaptureStats.size", @sizeOf(CaptureStats) },
    .{ "CaptureStats.packets", @offsetOf(CaptureStats, "packets") },
    .{ "CaptureStats.drops", @offsetOf(CaptureStats, "drops") },
    .{ "CaptureStats.freezes", @offsetOf(CaptureStats, "freezes") },
    .{ "GenConfig.size", @sizeOf(GenConfig) },
    .{ "GenConfig.ifname", @offsetOf(GenConfig, "ifname") },
    .{ "GenConfig.netns_path", @offsetOf(GenConfig, "netns_path") },
    .{ "GenConfig.dst_mac", @offsetOf(GenConfig, "dst_mac") },
    .{ "GenConfig.src_mac", @offsetOf(GenConfig, "src_mac") },
    .{ "GenConfig.flags", @offsetOf(GenConfig, "flags") },
    .{ "GenConfig.frame_size_bytes", @offsetOf(GenConfig, "frame_size_bytes") },
    .{ "GenConfig.flows", @offsetOf(GenConfig, "flows") },
    .{ "GenConfig.rate_pps", @offsetOf(GenConfig, "rate_pps") },
    .{ "GenConfig.vlan_id", @offsetOf(GenConfig, "vlan_id") },
    .{ "GenConfig.vlan_priority", @offsetOf(GenConfig, "vlan_priority") },
    .{ "GenConfig.vlan_tpid", @offsetOf(GenConfig, "vlan_tpid") },
    .{ "GenConfig.inner_vlan_id", @offsetOf(GenConfig, "inner_vlan_id") },
    .{ "GenConfig.dst_port", @offsetOf(GenConfig, "dst_port") },
    .{ "GenConfig.batch", @offsetOf(GenConfig, "batch") },
    .{ "GenConfig.seq_start", @offsetOf(GenConfig, "seq_start") },
    .{ "GenConfig.tcp_flags", @offsetOf(GenConfig, "tcp_flags") },
    .{ "GenResult.size", @sizeOf(GenResult) },
    .{ "GenResult.sent", @offsetOf(GenResult, "sent") },
    .{ "GenResult.elapsed_ns", @offsetOf(GenResult, "elapsed_ns") },
    .{ "GenResult.errno", @offsetOf(GenResult, "errno") },
};

/// `{"name":value,...}` for every layout entry and every status code, built at compile time.
pub const layout_json: [:0]const u8 = blk: {
    @setEvalBranchQuota(100_000);
    var text: []const u8 = "{";
    for (layout_entries, 0..) |entry, i| {
        text = text ++ (if (i == 0) "" else ",") ++ std.fmt.comptimePrint("\"{s}\":{d}", .{ entry[0], entry[1] });
    }
    for (std.enums.values(Status)) |s| {
        text = text ++ std.fmt.comptimePrint(",\"status.{s}\":{d}", .{ @tagName(s), @intFromEnum(s) });
    }
    break :blk text ++ "}";
};

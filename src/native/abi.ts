/**
 * libringcap's C ABI, written once on the TypeScript side: every symbol with its signature,
 * every status code, every offset TypeScript reads or writes in the ring and in the extern
 * structs, and the flag bits. The library describes itself in the same shape
 * (`ringcap_describe`, built at compile time from zig/abi.zig), and `test/abi.test.ts` checks the
 * two are equal, so adding a symbol is one line in Zig and one here.
 *
 * Pure data: importing it loads nothing.
 * @module
 */

/** The ABI version this TypeScript expects; `zig/lib.zig` has the other half. */
export const ABI_VERSION = 9;

/** Argument and result types as the library describes them ("ptr": a typed array's data). */
export type AbiType = "u32" | "i32" | "u64" | "ptr" | "void";

/** Every export of libringcap, by its name without the `ringcap_` prefix. */
export const SYMBOLS = {
  abi_version: { args: [], returns: "u32" },
  describe: { args: ["ptr", "u32"], returns: "u32" },
  capture_open: { args: ["ptr", "ptr", "u32", "ptr", "u32", "ptr"], returns: "i32" },
  capture_next_block: { args: ["u32", "i32", "ptr"], returns: "i32" },
  capture_interface_name: { args: ["u32", "i32", "ptr", "u32"], returns: "i32" },
  capture_release_block: { args: ["u32"], returns: "i32" },
  capture_stats: { args: ["u32", "ptr"], returns: "i32" },
  capture_errno: { args: ["u32"], returns: "i32" },
  capture_close: { args: ["u32"], returns: "void" },
  capture_watch: { args: ["u32", "ptr"], returns: "i32" },
  capture_arm: { args: ["u32"], returns: "i32" },
  capture_unwatch: { args: ["u32"], returns: "void" },
  watch_close_reader: { args: ["i32"], returns: "void" },
  waker_open: { args: ["ptr"], returns: "i32" },
  waker_signal: { args: ["i32"], returns: "i32" },
  waker_reset: { args: ["i32"], returns: "i32" },
  waker_close: { args: ["i32"], returns: "void" },
  timestamp_types: { args: ["ptr"], returns: "i32" },
  gen_open: { args: ["ptr", "ptr"], returns: "i32" },
  gen_send: { args: ["u32", "u32", "u32", "ptr"], returns: "i32" },
  gen_close: { args: ["u32"], returns: "void" },
  flows_open: { args: ["ptr", "ptr"], returns: "i32" },
  flows_close: { args: ["u32"], returns: "void" },
  flows_block: { args: ["u32", "u32", "u32"], returns: "i32" },
  flows_expire: { args: ["u32", "ptr"], returns: "i32" },
  flows_flush: { args: ["u32"], returns: "i32" },
  flows_take: { args: ["u32", "ptr", "u32"], returns: "i32" },
  flows_stats: { args: ["u32", "ptr"], returns: "i32" },
} as const satisfies Record<string, { args: readonly AbiType[]; returns: AbiType }>;

/**
 * What each export returns on failure (zero and positive values are success; some calls return
 * a block index or a length).
 */
export const STATUS = {
  ok: 0,
  timed_out: -1,
  woken: -2,
  bad_handle: -3,
  too_many_handles: -4,
  invalid_argument: -5,
  interface_name_invalid: -6,
  no_such_interface: -7,
  interface_down: -8,
  permission_denied: -9,
  not_supported: -10,
  block_size_not_page_multiple: -11,
  block_size_not_frame_multiple: -12,
  frame_size_invalid: -13,
  block_count_invalid: -14,
  ring_too_large: -15,
  ring_rejected: -16,
  out_of_memory: -17,
  filter_invalid: -18,
  fanout_invalid: -19,
  fanout_group_busy: -20,
  netns_failed: -21,
  block_not_held: -22,
  block_already_held: -23,
  system_resources: -24,
  network_down: -25,
  frame_too_large: -26,
  block_timeout_invalid: -27,
  unexpected: -28,
  ring_exceeds_memory: -29,
  filter_too_large: -30,
  netns_permission_denied: -31,
  timestamp_type_not_supported: -32,
} as const;

export type StatusName = keyof typeof STATUS;

/** Byte offsets (and `size`) of the kernel's ring structs and of libringcap's extern structs. */
export const LAYOUT = {
  tpacket3_hdr: {
    size: 48,
    next_offset: 0,
    sec: 4,
    nsec: 8,
    snaplen: 12,
    len: 16,
    status: 20,
    mac: 24,
    net: 26,
    rxhash: 28,
    vlan_tci: 32,
    vlan_tpid: 36,
  },
  /** The packet's link-level address, at CONSTANTS.sockaddr_ll_offset after its tpacket3_hdr. */
  sockaddr_ll: {
    size: 20,
    family: 0,
    protocol: 2,
    ifindex: 4,
    hatype: 8,
    pkttype: 10,
    halen: 11,
    addr: 12,
  },
  block_desc: {
    size: 48,
    version: 0,
    block_status: 8,
    num_pkts: 12,
    offset_to_first_pkt: 16,
    blk_len: 20,
    seq_num: 24,
    ts_first_pkt: 32,
    ts_last_pkt: 40,
  },
  CaptureConfig: {
    size: 284,
    ifname: 0,
    netns_path: 16,
    block_size_bytes: 124,
    block_count: 128,
    frame_size_bytes: 132,
    block_timeout_ms: 136,
    snaplen_bytes: 140,
    flags: 144,
    fanout_group_id: 148,
    fanout_mode: 152,
    fanout_flags: 156,
    fanout_ebpf_fd: 160,
    wake_fd: 164,
    more_ifnames: 168,
    timestamp_type: 280,
  },
  CaptureInfo: {
    size: 128,
    handle: 0,
    errno: 4,
    ring_address: 8,
    ring_size_bytes: 16,
    block_size_bytes: 24,
    block_count: 28,
    frame_size_bytes: 32,
    block_timeout_ms: 36,
    snaplen_bytes: 40,
    ifindex: 44,
    fanout_group_id: 48,
    link_type: 52,
    mtu: 56,
    page_size_bytes: 60,
    mac: 64,
    mem_available_bytes: 72,
    ring_limit_bytes: 80,
    optmem_max_bytes: 88,
    interface_count: 92,
    more_ifindexes: 96,
  },
  BlockInfo: { size: 24, index: 0, packet_count: 4, offset_bytes: 8, length_bytes: 12, sequence: 16 },
  CaptureStats: { size: 32, packets: 0, drops: 8, freezes: 16, interface_drops: 24 },
  GenConfig: {
    size: 184,
    ifname: 0,
    netns_path: 16,
    dst_mac: 124,
    src_mac: 132,
    flags: 140,
    frame_size_bytes: 144,
    flows: 148,
    rate_pps: 152,
    vlan_id: 156,
    vlan_priority: 158,
    vlan_tpid: 160,
    inner_vlan_id: 162,
    dst_port: 164,
    batch: 166,
    seq_start: 168,
    tcp_flags: 176,
  },
  GenInfo: { size: 24, handle: 0, errno: 4, frame_length_bytes: 8, mtu: 12, frame_length_max_bytes: 16 },
  GenResult: { size: 24, sent: 0, elapsed_ns: 8, errno: 16 },
  FlowConfig: { size: 24, idle_timeout_ms: 0, active_timeout_ms: 4, max_flows: 8, fin_linger_ms: 12, link_type: 16 },
  FlowRecord: {
    size: 88,
    packets: 0,
    octets: 8,
    start_ms: 16,
    end_ms: 24,
    src_address: 32,
    dst_address: 48,
    ingress_interface: 64,
    vlan_id: 68,
    src_port: 72,
    dst_port: 74,
    tcp_flags: 76,
    ip_version: 78,
    protocol: 79,
    end_reason: 80,
  },
  FlowStats: { size: 96, active_flows: 0, packets: 8, skipped: 16, evictions: 24, records_by_reason: 32, queued: 80, latest_ms: 88 },
} as const;

/** Flag bits: CaptureConfig.flags, GenConfig.flags, PACKET_FANOUT's flags, tp_status. */
export const FLAGS = {
  capture: { promisc: 1, ignore_outgoing: 2, fill_rxhash: 4, fanout: 8, allow_down: 16, allow_large_ring: 32, immediate: 64 },
  gen: { ipv6: 1, tcp: 2, vlan: 4, qinq: 8, qdisc_bypass: 16 },
  fanout: { rollover: 0x1000, unique_id: 0x2000, ignore_outgoing: 0x4000, defrag: 0x8000 },
  tp_status: {
    user: 1 << 0,
    copy: 1 << 1,
    losing: 1 << 2,
    csumnotready: 1 << 3,
    vlan_valid: 1 << 4,
    blk_tmo: 1 << 5,
    vlan_tpid_valid: 1 << 6,
    csum_valid: 1 << 7,
    ts_software: 0x20000000,
    ts_sys_hardware: 0x40000000,
    ts_raw_hardware: 0x80000000,
  },
} as const;

/** CaptureConfig.timestamp_type values by libpcap's names (whose clock stamps the packets). */
export const TIMESTAMP_TYPE_VALUES = { host: 0, adapter: 1, adapter_unsynced: 2 } as const;

/** PACKET_FANOUT modes by name (the value CaptureConfig.fanout_mode takes). */
export const FANOUT_MODE_VALUES = { hash: 0, lb: 1, cpu: 2, rollover: 3, rnd: 4, qm: 5, cbpf: 6, ebpf: 7 } as const;

/** Sizes and magic numbers shared with the library. */
export const CONSTANTS = {
  ifname_size: 16,
  /** The most interfaces one capture may name (`ifname` and `more_ifnames`). */
  interfaces_max: 8,
  /** The LINUX_SLL2 header each frame of an "any" capture starts with. */
  sll2_header_bytes: 20,
  /** Where a packet's sockaddr_ll starts, counted from its tpacket3_hdr. */
  sockaddr_ll_offset: 48,
  netns_path_size: 108,
  /** The first four bytes of every generated payload, big-endian "RCAP". */
  payload_magic: 0x52434150,
  payload_size_bytes: 16,
} as const;

/** The whole description, in the shape `ringcap_describe` returns (for the ABI test). */
export const ABI = {
  version: ABI_VERSION,
  symbols: SYMBOLS,
  status: STATUS,
  layout: LAYOUT,
  flags: FLAGS,
  timestamp_types: TIMESTAMP_TYPE_VALUES,
  fanout_modes: FANOUT_MODE_VALUES,
  constants: CONSTANTS,
} as const;

// The short names the readers use on hot paths.
export const TPACKET3_HDR = LAYOUT.tpacket3_hdr;
export const BLOCK_DESC = LAYOUT.block_desc;
export const SOCKADDR_LL = LAYOUT.sockaddr_ll;
export const TP_STATUS = FLAGS.tp_status;

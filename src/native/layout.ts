/**
 * Offsets and sizes of everything TypeScript reads or writes across the boundary: the kernel's
 * TPACKET_V3 structs in the ring and libringcap's extern structs. `test/layout.test.ts` checks
 * each against the values Zig computes with `@offsetOf`, so the two sides cannot drift.
 * @module
 */

export const TPACKET3_HDR = {
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
} as const;

export const BLOCK_DESC = {
  size: 48,
  version: 0,
  block_status: 8,
  num_pkts: 12,
  offset_to_first_pkt: 16,
  blk_len: 20,
  seq_num: 24,
  ts_first_pkt: 32,
  ts_last_pkt: 40,
} as const;

export const CAPTURE_CONFIG = {
  size: 168,
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
} as const;

export const CAPTURE_INFO = {
  size: 72,
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
} as const;

export const BLOCK_INFO = { size: 24, index: 0, packet_count: 4, offset_bytes: 8, length_bytes: 12, sequence: 16 } as const;

export const CAPTURE_STATS = { size: 24, packets: 0, drops: 8, freezes: 16 } as const;

export const GEN_CONFIG = {
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
} as const;

export const GEN_RESULT = { size: 24, sent: 0, elapsed_ns: 8, errno: 16 } as const;

/** All of the above by the names Zig uses ("tpacket3_hdr.mac", ...), for the layout test. */
export const LAYOUT_TABLES: Record<string, Record<string, number>> = {
  tpacket3_hdr: TPACKET3_HDR,
  block_desc: BLOCK_DESC,
  CaptureConfig: CAPTURE_CONFIG,
  CaptureInfo: CAPTURE_INFO,
  BlockInfo: BLOCK_INFO,
  CaptureStats: CAPTURE_STATS,
  GenConfig: GEN_CONFIG,
  GenResult: GEN_RESULT,
};

/** tp_status bits of a packet header. */
export const TP_STATUS = {
  USER: 1 << 0,
  COPY: 1 << 1,
  LOSING: 1 << 2,
  CSUMNOTREADY: 1 << 3,
  VLAN_VALID: 1 << 4,
  BLK_TMO: 1 << 5,
  VLAN_TPID_VALID: 1 << 6,
  CSUM_VALID: 1 << 7,
} as const;

/** Flags of CaptureConfig.flags and GenConfig.flags (zig/abi.zig). */
export const CAPTURE_FLAG = { PROMISC: 1, IGNORE_OUTGOING: 2, FILL_RXHASH: 4, FANOUT: 8, ALLOW_DOWN: 16 } as const;
export const GEN_FLAG = { IPV6: 1, TCP: 2, VLAN: 4, QINQ: 8, QDISC_BYPASS: 16 } as const;
export const PAYLOAD_MAGIC = 0x52434150;

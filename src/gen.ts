/**
 * The traffic generator: AF_PACKET TX in native batches, paced, with a sequence number in
 * every payload. Frames use only 198.18.0.0/15 and 2001:db8::/32.
 * @module
 */

import { ClosedError, InterfaceError, RingcapError, statusError } from "./errors.ts";
import { interfaceNames, netnsPath } from "./interfaces.ts";
import { CONSTANTS, FLAGS, LAYOUT } from "./native/abi.ts";
import { native, type Native } from "./native/library.ts";
import { encodeFixedString } from "./native/struct.ts";
import { intOption, U32 } from "./options.ts";

const GEN_CONFIG = LAYOUT.GenConfig;
const GEN_INFO = LAYOUT.GenInfo;
const GEN_RESULT = LAYOUT.GenResult;

export interface GeneratorOptions {
  /** Open the socket inside this network namespace (name or path). */
  netns?: string;
  /** Destination MAC. Pick one that is not the capturing interface's, like a mirror port sees. @default "02:00:5e:00:00:02" */
  dstMac?: string;
  /** Source MAC. @default the sending interface's */
  srcMac?: string;
  /**
   * Ethernet frame length without FCS (60 to 9022), VLAN tags included. At most what the
   * interface takes: its MTU plus the 14-byte Ethernet header, plus 4 for a tagged frame
   * (a larger size is a RingcapError "frame_too_large" naming the MTU). @default 60
   */
  size?: number;
  /** Distinct flows (varying the source address, then the port), used in turn. @default 1 */
  flows?: number;
  /** Frames per second; 0 sends as fast as the interface takes them. @default 0 */
  rate?: number;
  /** Send IPv6 (2001:db8::/32) instead of IPv4 (198.18.0.0/15). @default false */
  ipv6?: boolean;
  /** Send TCP (PSH|ACK unless `tcpFlags` says otherwise) instead of UDP. @default false */
  tcp?: boolean;
  /** TCP flags byte for TCP frames, e.g. 0x02 for SYN. @default 0x18 (PSH|ACK) */
  tcpFlags?: number;
  /** One 802.1Q tag (or 802.1ad with `tpid: 0x88a8`). */
  vlan?: { id: number; priority?: number; tpid?: number };
  /** Two tags: outer (TPID 0x88a8 unless given) and inner (0x8100). */
  qinq?: { outer: number; inner: number; priority?: number; tpid?: number };
  /** Destination port. @default 9 */
  dstPort?: number;
  /** Frames per sendmmsg call (1..256). @default 64 */
  batch?: number;
  /** The first sequence number. @default 0 */
  seqStart?: number;
  /** Bypass the qdisc layer (PACKET_QDISC_BYPASS). @default false */
  qdiscBypass?: boolean;
}

/** The generator's defaults for what `GeneratorOptions` leaves out. */
export const GENERATOR_DEFAULTS = Object.freeze({
  /** A locally administered MAC that is no interface's: captures see frames as a mirror port would. */
  dstMac: "02:00:5e:00:00:02",
  size: 60,
  flows: 1,
  rate: 0,
  dstPort: 9,
  batch: 64,
  seqStart: 0,
  /** 0: the library's PSH|ACK. */
  tcpFlags: 0,
  vlanTpid: 0x8100,
  qinqTpid: 0x88a8,
});


/** A result of `send`: frames the kernel accepted and how long it took. */
export interface SendResult {
  sent: number;
  elapsedMs: number;
}

/**
 * Sends synthetic frames on an interface.
 *
 * @example
 * ```ts
 * using gen = new Generator("veth0", { rate: 100_000, flows: 64 });
 * const { sent } = gen.send(1_000_000, { maxMs: 30_000 });
 * ```
 */
export class Generator {
  readonly frameLength: number;
  #lib: Native;
  #handle: number;
  #closed = false;
  #out = new Uint8Array(GEN_RESULT.size);
  /** Frames sent so far. */
  sent = 0;

  constructor(iface: string, options: GeneratorOptions = {}) {
    const cfg = encodeGenConfig(iface, options);
    this.#lib = native();
    const out = new Uint8Array(GEN_INFO.size);
    const info = new DataView(out.buffer);
    const status = this.#lib.gen_open(cfg, out);
    if (status < 0) throw openError(iface, options, status, info);
    this.#handle = info.getUint32(GEN_INFO.handle, true);
    this.frameLength = info.getUint32(GEN_INFO.frame_length_bytes, true);
  }

  /**
   * Sends `count` frames at the configured rate (counted from the first call), returning
   * after `maxMs` at the latest. Blocks the calling thread: call it in slices for progress.
   */
  send(count: number, options: { maxMs?: number } = {}): SendResult {
    if (this.#closed) throw new ClosedError("generator");
    let left = count;
    let elapsedNs = 0n;
    let sent = 0;
    const maxMs = options.maxMs ?? 60_000;
    const start = performance.now();
    // The native call takes a u32 count; larger counts go in slices of the same deadline.
    while (left > 0) {
      const spent = Math.floor(performance.now() - start);
      if (spent >= maxMs) break;
      const chunk = Math.min(left, 0x7fffffff);
      const status = this.#lib.gen_send(this.#handle, chunk, maxMs - spent, this.#out);
      const dv = new DataView(this.#out.buffer);
      const n = Number(dv.getBigUint64(GEN_RESULT.sent, true));
      elapsedNs += dv.getBigUint64(GEN_RESULT.elapsed_ns, true);
      sent += n;
      left -= n;
      if (status < 0) {
        this.sent += sent;
        throw statusError(status, "generator send failed", dv.getInt32(GEN_RESULT.errno, true));
      }
      if (n < chunk) break;
    }
    this.sent += sent;
    return { sent, elapsedMs: Number(elapsedNs) / 1e6 };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.gen_close(this.#handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The error of a failed open, with the interfaces there or the interface's MTU. */
function openError(iface: string, options: GeneratorOptions, status: number, info: DataView): RingcapError {
  const errno = info.getInt32(GEN_INFO.errno, true);
  const err = statusError(status, `cannot send on ${iface}`, errno);
  if (err.code === "no_such_interface") {
    const names = interfaceNames(options.netns);
    return new InterfaceError(err.code, `${err.message}; interfaces here: ${names.join(", ")}`, names, errno);
  }
  const mtu = info.getUint32(GEN_INFO.mtu, true);
  if (err.code === "frame_too_large" && mtu > 0) {
    const length = info.getUint32(GEN_INFO.frame_length_bytes, true);
    const max = info.getUint32(GEN_INFO.frame_length_max_bytes, true);
    const tagged = options.vlan || options.qinq ? ", with 4 bytes for the VLAN tag" : "";
    return new RingcapError(
      err.code,
      `cannot send on ${iface}: a frame of ${length} bytes is longer than ${iface} takes: MTU ${mtu} plus the ` +
        `14-byte Ethernet header${tagged} is ${max} bytes: use size ${max} or less, or raise the MTU ` +
        `(\`ip link set dev ${iface} mtu N\`)`,
    );
  }
  return err;
}

/**
 * The ranges `GeneratorOptions` are checked against (the CLI's flags use the same ones).
 * `size` is the Ethernet frame without FCS, VLAN tags included.
 */
export const GENERATOR_LIMITS = Object.freeze({
  size: { min: 60, max: 9022 },
  flows: { min: 1, max: U32.max },
  rate: U32,
  dstPort: { min: 1, max: 65535 },
  batch: { min: 1, max: 256 },
  vlanId: { min: 0, max: 4095 },
  priority: { min: 0, max: 7 },
  tpid: { min: 0, max: 0xffff },
  tcpFlags: { min: 0, max: 255 },
  seqStart: { min: 0, max: Number.MAX_SAFE_INTEGER },
});

/** Parses "aa:bb:cc:dd:ee:ff" into 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  const bytes = parts.map((p) => Number.parseInt(p, 16));
  if (parts.length !== 6 || bytes.some((b, i) => !/^[0-9a-fA-F]{1,2}$/.test(parts[i]) || b < 0 || b > 255)) {
    throw new RingcapError("invalid_argument", `not a MAC address: ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(bytes);
}

/** Checks every option once and fills the GenConfig struct the library reads. */
function encodeGenConfig(iface: string, options: GeneratorOptions): Uint8Array {
  const d = GENERATOR_DEFAULTS;
  const l = GENERATOR_LIMITS;
  const cfg = new Uint8Array(GEN_CONFIG.size);
  const dv = new DataView(cfg.buffer);
  encodeFixedString(cfg, GEN_CONFIG.ifname, CONSTANTS.ifname_size, iface, "interface name");
  if (options.netns) encodeFixedString(cfg, GEN_CONFIG.netns_path, CONSTANTS.netns_path_size, netnsPath(options.netns), "netns path");
  cfg.set(parseMac(options.dstMac ?? d.dstMac), GEN_CONFIG.dst_mac);
  if (options.srcMac) cfg.set(parseMac(options.srcMac), GEN_CONFIG.src_mac);
  let flags = 0;
  if (options.ipv6) flags |= FLAGS.gen.ipv6;
  if (options.tcp) flags |= FLAGS.gen.tcp;
  if (options.qdiscBypass) flags |= FLAGS.gen.qdisc_bypass;
  if (options.vlan && options.qinq) throw new RingcapError("invalid_argument", "give vlan or qinq, not both");
  if (options.vlan) {
    flags |= FLAGS.gen.vlan;
    dv.setUint16(GEN_CONFIG.vlan_id, intOption(options.vlan.id, "vlan.id", l.vlanId, 0), true);
    dv.setUint16(GEN_CONFIG.vlan_priority, intOption(options.vlan.priority, "vlan.priority", l.priority, 0), true);
    dv.setUint16(GEN_CONFIG.vlan_tpid, intOption(options.vlan.tpid, "vlan.tpid", l.tpid, d.vlanTpid), true);
  }
  if (options.qinq) {
    flags |= FLAGS.gen.qinq;
    dv.setUint16(GEN_CONFIG.vlan_id, intOption(options.qinq.outer, "qinq.outer", l.vlanId, 0), true);
    dv.setUint16(GEN_CONFIG.inner_vlan_id, intOption(options.qinq.inner, "qinq.inner", l.vlanId, 0), true);
    dv.setUint16(GEN_CONFIG.vlan_priority, intOption(options.qinq.priority, "qinq.priority", l.priority, 0), true);
    dv.setUint16(GEN_CONFIG.vlan_tpid, intOption(options.qinq.tpid, "qinq.tpid", l.tpid, d.qinqTpid), true);
  }
  dv.setUint32(GEN_CONFIG.flags, flags, true);
  dv.setUint32(GEN_CONFIG.frame_size_bytes, intOption(options.size, "size", l.size, d.size), true);
  dv.setUint32(GEN_CONFIG.flows, intOption(options.flows, "flows", l.flows, d.flows), true);
  dv.setUint32(GEN_CONFIG.rate_pps, intOption(options.rate, "rate", l.rate, d.rate), true);
  dv.setUint16(GEN_CONFIG.dst_port, intOption(options.dstPort, "dstPort", l.dstPort, d.dstPort), true);
  dv.setUint16(GEN_CONFIG.batch, intOption(options.batch, "batch", l.batch, d.batch), true);
  dv.setUint16(GEN_CONFIG.tcp_flags, intOption(options.tcpFlags, "tcpFlags", l.tcpFlags, d.tcpFlags), true);
  const seqStart = intOption(options.seqStart, "seqStart", l.seqStart, d.seqStart);
  dv.setBigUint64(GEN_CONFIG.seq_start, BigInt(seqStart), true);
  return cfg;
}

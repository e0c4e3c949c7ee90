/**
 * The traffic generator: AF_PACKET TX in native batches, paced, with a sequence number in
 * every payload. Frames use only 198.18.0.0/15 and 2001:db8::/32.
 * @module
 */

import { ClosedError, InterfaceError, RingcapError, statusError } from "./errors.ts";
import { native, type Native } from "./native/library.ts";
import { GEN_CONFIG, GEN_FLAG, GEN_RESULT } from "./native/layout.ts";
import { encodeFixedString, interfaceNames, netnsPath, parseMac } from "./native/util.ts";

export interface GeneratorOptions {
  /** Open the socket inside this network namespace (name or path). */
  netns?: string;
  /** Destination MAC. Pick one that is not the capturing interface's, like a mirror port sees. @default "02:00:5e:00:00:02" */
  dstMac?: string;
  /** Source MAC. @default the sending interface's */
  srcMac?: string;
  /** Ethernet frame length without FCS (60 to 9022). @default 60 */
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

export const DEFAULT_DST_MAC = "02:00:5e:00:00:02";

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
    const cfg = new Uint8Array(GEN_CONFIG.size);
    const dv = new DataView(cfg.buffer);
    encodeFixedString(cfg, GEN_CONFIG.ifname, 16, iface, "interface name");
    if (options.netns) encodeFixedString(cfg, GEN_CONFIG.netns_path, 108, netnsPath(options.netns), "netns path");
    cfg.set(parseMac(options.dstMac ?? DEFAULT_DST_MAC), GEN_CONFIG.dst_mac);
    if (options.srcMac) cfg.set(parseMac(options.srcMac), GEN_CONFIG.src_mac);
    let flags = 0;
    if (options.ipv6) flags |= GEN_FLAG.IPV6;
    if (options.tcp) flags |= GEN_FLAG.TCP;
    if (options.qdiscBypass) flags |= GEN_FLAG.QDISC_BYPASS;
    const int = (v: number | undefined, lo: number, hi: number, name: string, fallback: number) => {
      const x = v ?? fallback;
      if (!Number.isInteger(x) || x < lo || x > hi) {
        throw new RingcapError("invalid_argument", `${name} must be an integer from ${lo} to ${hi}, got ${v}`);
      }
      return x;
    };
    if (options.vlan && options.qinq) throw new RingcapError("invalid_argument", "give vlan or qinq, not both");
    if (options.vlan) {
      flags |= GEN_FLAG.VLAN;
      dv.setUint16(GEN_CONFIG.vlan_id, int(options.vlan.id, 0, 4095, "vlan.id", 0), true);
      dv.setUint16(GEN_CONFIG.vlan_priority, int(options.vlan.priority, 0, 7, "vlan.priority", 0), true);
      dv.setUint16(GEN_CONFIG.vlan_tpid, int(options.vlan.tpid, 0, 0xffff, "vlan.tpid", 0x8100), true);
    }
    if (options.qinq) {
      flags |= GEN_FLAG.QINQ;
      dv.setUint16(GEN_CONFIG.vlan_id, int(options.qinq.outer, 0, 4095, "qinq.outer", 0), true);
      dv.setUint16(GEN_CONFIG.inner_vlan_id, int(options.qinq.inner, 0, 4095, "qinq.inner", 0), true);
      dv.setUint16(GEN_CONFIG.vlan_priority, int(options.qinq.priority, 0, 7, "qinq.priority", 0), true);
      dv.setUint16(GEN_CONFIG.vlan_tpid, int(options.qinq.tpid, 0, 0xffff, "qinq.tpid", 0x88a8), true);
    }
    dv.setUint32(GEN_CONFIG.flags, flags, true);
    dv.setUint32(GEN_CONFIG.frame_size_bytes, int(options.size, 0, 9022, "size", 60), true);
    dv.setUint32(GEN_CONFIG.flows, int(options.flows, 1, 0xffffffff, "flows", 1), true);
    dv.setUint32(GEN_CONFIG.rate_pps, int(options.rate, 0, 0xffffffff, "rate", 0), true);
    dv.setUint16(GEN_CONFIG.dst_port, int(options.dstPort, 1, 65535, "dstPort", 9), true);
    dv.setUint16(GEN_CONFIG.batch, int(options.batch, 1, 256, "batch", 64), true);
    dv.setUint16(GEN_CONFIG.tcp_flags, int(options.tcpFlags, 0, 255, "tcpFlags", 0), true);
    dv.setBigUint64(GEN_CONFIG.seq_start, BigInt(int(options.seqStart, 0, Number.MAX_SAFE_INTEGER, "seqStart", 0)), true);

    this.#lib = native();
    const handle = new Uint32Array(1);
    const errno = new Int32Array(1);
    const status = this.#lib.genOpen(cfg, handle, errno);
    if (status < 0) {
      const err = statusError(status, `cannot send on ${iface}`, errno[0]);
      if (err.code === "no_such_interface") {
        const names = interfaceNames(options.netns);
        throw new InterfaceError(err.code, `${err.message}; interfaces here: ${names.join(", ")}`, names, errno[0]);
      }
      throw err;
    }
    this.#handle = handle[0];
    this.frameLength = this.#lib.genFrameLength(this.#handle);
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
      const status = this.#lib.genSend(this.#handle, chunk, maxMs - spent, this.#out);
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
    this.#lib.genClose(this.#handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

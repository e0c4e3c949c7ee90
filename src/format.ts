/**
 * One-line packet summaries in the style of tcpdump's default output, for `ringcap capture`.
 * @module
 */

import { formatIPv4, type PacketDecoder } from "./decode.ts";

const TCP_FLAG_CHARS: Array<[number, string]> = [
  [0x02, "S"],
  [0x01, "F"],
  [0x04, "R"],
  [0x08, "P"],
  [0x20, "U"],
  [0x40, "E"],
  [0x80, "W"],
];

function tcpFlags(flags: number): string {
  let s = "";
  for (const [bit, ch] of TCP_FLAG_CHARS) if (flags & bit) s += ch;
  if (flags & 0x10) s += ".";
  return s || "none";
}

const ICMP_TYPES: Record<number, string> = {
  0: "echo reply",
  3: "unreachable",
  8: "echo request",
  11: "time exceeded",
};
const ICMP6_TYPES: Record<number, string> = {
  1: "destination unreachable",
  3: "time exceeded",
  128: "echo request",
  129: "echo reply",
  133: "router solicitation",
  134: "router advertisement",
  135: "neighbor solicitation",
  136: "neighbor advertisement",
};

/** "HH:MM:SS.uuuuuu" in local time, like tcpdump; or epoch seconds for `-tt`. */
export function formatTime(sec: number, nsec: number, style: "local" | "epoch" | "none"): string {
  if (style === "none") return "";
  const usec = String(Math.floor(nsec / 1000)).padStart(6, "0");
  if (style === "epoch") return `${sec}.${usec} `;
  const d = new Date(sec * 1000);
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${usec} `;
}

function macAt(bytes: Uint8Array, at: number): string {
  let s = "";
  for (let i = 0; i < 6; i++) s += (i ? ":" : "") + bytes[at + i].toString(16).padStart(2, "0");
  return s;
}

/**
 * The tcpdump-like description of a decoded packet, e.g.
 * `IP 198.18.0.1.10000 > 198.19.0.1.9: UDP, length 16`.
 */
export function describePacket(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number, wireLength: number, linkLevel: boolean): string {
  let prefix = "";
  if (linkLevel && caplen >= 14) {
    prefix = `${macAt(bytes, start + 6)} > ${macAt(bytes, start)}, `;
    if (d.vlanCount > 0) prefix += `vlan ${d.vlanId}, p ${d.vlanPriority}, `;
    prefix += `ethertype ${etherName(d.etherType)} (0x${d.etherType.toString(16).padStart(4, "0")}), length ${wireLength}: `;
  }
  if (d.ipVersion === 0) {
    if (d.etherType === 0x0806) return `${prefix}ARP, length ${wireLength}`;
    if (d.etherType < 0) return `${prefix}[|ether] length ${wireLength}`;
    return `${prefix}ethertype 0x${d.etherType.toString(16).padStart(4, "0")}, length ${wireLength}`;
  }
  const ip = d.ipVersion === 4 ? "IP" : "IP6";
  const src = d.ipVersion === 4 ? formatIPv4(d.ipv4Src) : d.srcAddress();
  const dst = d.ipVersion === 4 ? formatIPv4(d.ipv4Dst) : d.dstAddress();
  const payload = Math.max(0, d.payloadLength);
  switch (d.ipProtocol) {
    case 6:
      if (d.srcPort < 0) return `${prefix}${ip} ${src} > ${dst}: tcp [|tcp]`;
      return `${prefix}${ip} ${src}.${d.srcPort} > ${dst}.${d.dstPort}: Flags [${tcpFlags(d.tcpFlags)}], seq ${d.tcpSeq}, win ${d.tcpWindow}, length ${payload}`;
    case 17:
      if (d.srcPort < 0) return `${prefix}${ip} ${src} > ${dst}: udp [|udp]`;
      return `${prefix}${ip} ${src}.${d.srcPort} > ${dst}.${d.dstPort}: UDP, length ${payload}`;
    case 1:
      return `${prefix}${ip} ${src} > ${dst}: ICMP ${ICMP_TYPES[d.icmpType] ?? `type ${d.icmpType}`}, length ${payload}`;
    case 58:
      return `${prefix}${ip} ${src} > ${dst}: ICMP6, ${ICMP6_TYPES[d.icmpType] ?? `type ${d.icmpType}`}, length ${payload}`;
    default:
      return `${prefix}${ip} ${src} > ${dst}: ip-proto-${d.ipProtocol} ${payload}`;
  }
}

function etherName(t: number): string {
  switch (t) {
    case 0x0800:
      return "IPv4";
    case 0x86dd:
      return "IPv6";
    case 0x0806:
      return "ARP";
    case 0x8100:
      return "802.1Q";
    case 0x88a8:
      return "802.1Q-QinQ";
    default:
      return "Unknown";
  }
}

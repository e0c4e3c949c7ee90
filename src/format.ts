/**
 * One-line packet summaries in the style of tcpdump's default output, for `ringcap capture`.
 * @module
 */

import { formatIPv4, type PacketDecoder } from "./decode.ts";

// In the order tcpdump prints them, with the ACK flag as ".".
const TCP_FLAG_CHARS: Array<[number, string]> = [
  [0x01, "F"],
  [0x02, "S"],
  [0x04, "R"],
  [0x08, "P"],
  [0x10, "."],
  [0x20, "U"],
  [0x40, "E"],
  [0x80, "W"],
];

function tcpFlags(flags: number): string {
  let s = "";
  for (const [bit, ch] of TCP_FLAG_CHARS) if (flags & bit) s += ch;
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

/** Options for {@link describePacket}. */
export interface DescribeOptions {
  /** Less protocol detail, like tcpdump -q: "tcp N" instead of flags, sequence and window. @default false */
  quiet?: boolean;
}

const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);

/**
 * The tcpdump-like description of a decoded packet, e.g.
 * `IP 198.18.0.1.10000 > 198.19.0.1.9: UDP, length 16`. `wireLength` is the frame's length on
 * the wire (count a VLAN tag the kernel stripped); `linkLevel` adds the Ethernet header and
 * VLAN tags as tcpdump -e does. TCP sequence numbers are absolute, as `tcpdump -S` prints them.
 *
 * @example
 * ```ts
 * for (const p of block) console.log(describePacket(p.decode(), cap.bytes, p.offset, p.caplen, p.wireLength, false));
 * ```
 */
export function describePacket(
  d: PacketDecoder,
  bytes: Uint8Array,
  start: number,
  caplen: number,
  wireLength: number,
  linkLevel: boolean,
  options: DescribeOptions = {},
): string {
  const quiet = options.quiet === true;
  const prefix = linkLevel && caplen >= 14 ? linkHeader(d, bytes, start, caplen, wireLength, quiet) : "";
  if (d.ipVersion === 0) {
    if (d.etherType === 0x0806) return `${prefix}ARP, length ${wireLength}`;
    if (d.etherType < 0) return `${prefix}[|ether] length ${wireLength}`;
    return `${prefix}ethertype 0x${hex4(d.etherType)}, length ${wireLength}`;
  }
  // With -e the EtherType already said which IP version this is.
  const ip = linkLevel ? "" : d.ipVersion === 4 ? "IP " : "IP6 ";
  const src = d.ipVersion === 4 ? formatIPv4(d.ipv4Src) : d.srcAddress();
  const dst = d.ipVersion === 4 ? formatIPv4(d.ipv4Dst) : d.dstAddress();
  const payload = Math.max(0, d.payloadLength);
  // Payload lengths come from the headers, not from what was captured, so a snaplen does not change them.
  const wirePayload = d.payloadOffset >= 0 && d.ipTotalLength >= 0 ? Math.max(0, d.ipTotalLength - (d.payloadOffset - d.l3Offset)) : payload;
  switch (d.ipProtocol) {
    case 6: {
      if (d.srcPort < 0) return `${prefix}${ip}${src} > ${dst}: tcp [|tcp]`;
      const head = `${prefix}${ip}${src}.${d.srcPort} > ${dst}.${d.dstPort}: `;
      if (quiet) return `${head}tcp ${wirePayload}`;
      const flags = d.tcpFlags;
      let s = `${head}Flags [${tcpFlags(flags)}]`;
      if (wirePayload > 0 || flags & 0x07) s += `, seq ${d.tcpSeq}`;
      if (wirePayload > 0) s += `:${(d.tcpSeq + wirePayload) >>> 0}`;
      if (flags & 0x10) s += `, ack ${d.tcpAck}`;
      s += `, win ${d.tcpWindow}`;
      const urgAt = start + d.l4Offset + 18;
      if (flags & 0x20 && d.l4Offset + 20 <= caplen) s += `, urg ${(bytes[urgAt] << 8) | bytes[urgAt + 1]}`;
      return `${s}, length ${wirePayload}`;
    }
    case 17: {
      if (d.srcPort < 0) return `${prefix}${ip}${src} > ${dst}: udp [|udp]`;
      const ulenAt = start + d.l4Offset + 4;
      const udpPayload = Math.max(0, ((bytes[ulenAt] << 8) | bytes[ulenAt + 1]) - 8);
      return `${prefix}${ip}${src}.${d.srcPort} > ${dst}.${d.dstPort}: UDP, length ${udpPayload}`;
    }
    case 1:
    case 58: {
      // tcpdump gives the whole ICMP message's length, and an echo's id and sequence number.
      const message = d.ipTotalLength >= 0 && d.l4Offset >= 0 ? Math.max(0, d.ipTotalLength - (d.l4Offset - d.l3Offset)) : payload;
      const v6 = d.ipProtocol === 58;
      const name = (v6 ? ICMP6_TYPES : ICMP_TYPES)[d.icmpType] ?? `type ${d.icmpType}`;
      const echo = v6 ? d.icmpType === 128 || d.icmpType === 129 : d.icmpType === 0 || d.icmpType === 8;
      const at = start + d.l4Offset + 4;
      const idSeq = echo && d.l4Offset + 8 <= caplen ? `, id ${(bytes[at] << 8) | bytes[at + 1]}, seq ${(bytes[at + 2] << 8) | bytes[at + 3]}` : "";
      return `${prefix}${ip}${src} > ${dst}: ${v6 ? "ICMP6, " : "ICMP "}${name}${idSeq}, length ${message}`;
    }
    default:
      return `${prefix}${ip}${src} > ${dst}: ip-proto-${d.ipProtocol} ${payload}`;
  }
}

/**
 * tcpdump -e's link-level part: addresses, then each VLAN tag with the EtherType that follows
 * it. The decoder counts a tag the kernel stripped (it is not in `bytes`) as the outer one.
 */
function linkHeader(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number, wireLength: number, quiet: boolean): string {
  const typeText = (t: number) => (quiet ? etherName(t) : `ethertype ${etherName(t)} (0x${hex4(t)})`);
  const tags: Array<{ tpid: number; tci: number }> = [];
  let at = 12;
  const inFrame: Array<{ tpid: number; tci: number }> = [];
  while (at + 4 <= caplen) {
    const tpid = (bytes[start + at] << 8) | bytes[start + at + 1];
    if (!VLAN_TPIDS.has(tpid)) break;
    inFrame.push({ tpid, tci: (bytes[start + at + 2] << 8) | bytes[start + at + 3] });
    at += 4;
  }
  if (d.vlanCount > inFrame.length) tags.push({ tpid: d.vlanTpid, tci: (d.vlanPriority << 13) | d.vlanId });
  tags.push(...inFrame);
  const finalType = at + 2 <= caplen ? (bytes[start + at] << 8) | bytes[start + at + 1] : -1;
  const typeAfter = (i: number) => (i + 1 < tags.length ? tags[i + 1].tpid : finalType);
  let s = `${macAt(bytes, start + 6)} > ${macAt(bytes, start)}, ${typeText(tags.length ? tags[0].tpid : finalType)}, length ${wireLength}: `;
  tags.forEach((tag, i) => {
    s += `vlan ${tag.tci & 0x0fff}, p ${tag.tci >> 13}${tag.tci & 0x1000 ? ", DEI" : ""}, `;
    if (typeAfter(i) >= 0) s += `${typeText(typeAfter(i))}, `;
  });
  return s;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, "0");
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
    case 0x9100:
      return "802.1Q-9100";
    default:
      return "Unknown";
  }
}

/**
 * One-line packet summaries in the style of tcpdump's default output, for `ringcap capture`.
 * @module
 */

import { formatIPv4, formatIPv6, LINKTYPE, type PacketDecoder } from "./decode.ts";

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
  /**
   * The name of the interface with index `ifindex`, for the Linux cooked v2 header's interface
   * index (tcpdump resolves it in the namespace it runs in, and prints "?" when it cannot).
   * Without it every such interface prints as "?". @default undefined
   */
  interfaceName?: (ifindex: number) => string | undefined;
}

/** tcpdump's names of a Linux cooked header's packet types, by sll_pkttype. */
const DIRECTIONS = ["In", "B", "M", "P", "Out"];

function direction(pkttype: number): string {
  return DIRECTIONS[pkttype] ?? "?";
}

/** A cooked header's link-level address and a space, as tcpdump prints it: only a 6-byte one. */
function cookedAddress(bytes: Uint8Array, at: number, halen: number): string {
  return halen === 6 ? `${addressAt(bytes, at, 6)} ` : "";
}

/** tcpdump's words for an EtherType: `ethertype IPv4 (0x0800)`, or with -q `IPv4` (`Unknown Ethertype (0x1234)`). */
function etherTypeText(t: number, quiet: boolean): string {
  const name = etherName(t);
  if (!quiet) return `ethertype ${name} (0x${hex4(t)})`;
  return name === "Unknown" ? `Unknown Ethertype (0x${hex4(t)})` : name;
}

/** The `halen` bytes of a link-level address at `at`, colon-separated hex. */
function addressAt(bytes: Uint8Array, at: number, halen: number): string {
  let s = "";
  for (let i = 0; i < halen; i++) s += (i ? ":" : "") + bytes[at + i].toString(16).padStart(2, "0");
  return s;
}

/**
 * What tcpdump prints before the network layer for a link type other than Ethernet: nothing
 * but the interface and direction of Linux cooked v2 without -e; with -e the whole header.
 * "" when there is nothing (or the header was cut off).
 */
function otherLinkHeader(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number, wireLength: number, linkLevel: boolean, options: DescribeOptions): string {
  const quiet = options.quiet === true;
  // A protocol tcpdump has no printer for gets the whole header, as with -e.
  if (!linkLevel && d.ipVersion === 0 && d.etherType !== 0x0806) linkLevel = d.linkType === LINKTYPE.LINUX_SLL || d.linkType === LINKTYPE.LINUX_SLL2;
  // -q leaves out the protocol (the network layer's line names it anyway).
  const type = (t: number) => (quiet ? "" : `ethertype ${etherName(t)} (0x${hex4(t)}), length ${wireLength}: `);
  switch (d.linkType) {
    case LINKTYPE.LINUX_SLL2: {
      if (caplen < 20) return "";
      const at = start;
      const ifindex = ((bytes[at + 4] << 24) | (bytes[at + 5] << 16) | (bytes[at + 6] << 8) | bytes[at + 7]) >>> 0;
      const name = options.interfaceName?.(ifindex) ?? "?";
      const head = `${name.padEnd(5)} ${direction(bytes[at + 10]).padEnd(3)} `;
      if (!linkLevel) return head;
      return `${head}ifindex ${ifindex} ${cookedAddress(bytes, at + 12, bytes[at + 11])}${type((bytes[at] << 8) | bytes[at + 1])}`;
    }
    case LINKTYPE.LINUX_SLL: {
      if (!linkLevel || caplen < 16) return "";
      const halen = (bytes[start + 4] << 8) | bytes[start + 5];
      const pkttype = (bytes[start] << 8) | bytes[start + 1];
      return `${direction(pkttype).padStart(3)} ${cookedAddress(bytes, start + 6, halen)}${type((bytes[start + 14] << 8) | bytes[start + 15])}`;
    }
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP: {
      if (!linkLevel || d.etherType < 0) return "";
      const name = d.etherType === 0x0800 ? "IPv4" : "IPv6";
      if (quiet) return `${name}, length ${wireLength}: `;
      return `AF ${name} (${nullFamily(d, bytes, start)}), length ${wireLength}: `;
    }
    default:
      // Raw IP: tcpdump -e says so, whatever the version.
      return linkLevel && d.etherType >= 0 ? "ip: " : "";
  }
}

/** The address family of a loopback header (host byte order for DLT_NULL, network for DLT_LOOP). */
function nullFamily(d: PacketDecoder, bytes: Uint8Array, start: number): number {
  const be = ((bytes[start] << 24) | (bytes[start + 1] << 16) | (bytes[start + 2] << 8) | bytes[start + 3]) >>> 0;
  if (d.linkType === LINKTYPE.LOOP) return be;
  const le = ((bytes[start + 3] << 24) | (bytes[start + 2] << 16) | (bytes[start + 1] << 8) | bytes[start]) >>> 0;
  return le > 0xffff ? be : le;
}

/**
 * tcpdump's hex and ASCII dump of bytes it has no printer for (`\t0x0000:  6000 0000 ...  ascii`),
 * as it ends the line of a loopback frame of an unknown address family.
 */
function hexDump(bytes: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let line = from; line < to; line += 16) {
    const end = Math.min(line + 16, to);
    let hex = "";
    let ascii = "";
    for (let i = line; i < end; i++) {
      if ((i - line) % 2 === 0 && i > line) hex += " ";
      hex += bytes[i].toString(16).padStart(2, "0");
      ascii += bytes[i] > 0x20 && bytes[i] < 0x7f ? String.fromCharCode(bytes[i]) : ".";
    }
    s += `\n\t0x${hex4(line - from)}:  ${hex.padEnd(39)}  ${ascii}`;
  }
  return s;
}

/** tcpdump's ARP line body for Ethernet/IPv4 ARP: request and reply; others by length only. */
function arpText(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number, wireLength: number): string {
  const l3 = d.l3Offset;
  const length = wireLength - l3;
  const at = start + l3;
  if (l3 + 28 > caplen || bytes[at + 4] !== 6 || bytes[at + 5] !== 4 || ((bytes[at + 2] << 8) | bytes[at + 3]) !== 0x0800) return `length ${length}`;
  const ip = (o: number) => `${bytes[at + o]}.${bytes[at + o + 1]}.${bytes[at + o + 2]}.${bytes[at + o + 3]}`;
  const op = (bytes[at + 6] << 8) | bytes[at + 7];
  if (op === 1) return `Request who-has ${ip(24)} tell ${ip(14)}, length ${length}`;
  if (op === 2) return `Reply ${ip(14)} is-at ${addressAt(bytes, at + 8, 6)}, length ${length}`;
  return `length ${length}`;
}

/**
 * tcpdump's words for the IPv6 extension headers before the upper layer ("HBH ", "DSTOPT ",
 * "frag (0|1448) "); null for a routing header or anything else it prints in more detail. A
 * later fragment ends the chain (no upper layer follows).
 */
function ipv6Chain(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number): string | null {
  const l3 = d.l3Offset;
  let next = bytes[start + l3 + 6];
  let at = l3 + 40;
  let s = "";
  const end = l3 + d.ipTotalLength;
  for (let i = 0; i < 8; i++) {
    if (next === 0 || next === 60) {
      if (at + 2 > caplen) return null;
      s += next === 0 ? "HBH " : "DSTOPT ";
      const size = (bytes[start + at + 1] + 1) * 8;
      next = bytes[start + at];
      at += size;
    } else if (next === 44) {
      if (at + 8 > caplen) return null;
      const offset = ((bytes[start + at + 2] << 8) | bytes[start + at + 3]) & 0xfff8;
      s += `frag (${offset}|${end - at - 8}) `;
      next = bytes[start + at];
      at += 8;
      if (offset !== 0) return s;
    } else if (next === 43) {
      const text = routingText(bytes, start + at, caplen - at);
      if (text === null) return null;
      s += text;
      next = bytes[start + at];
      at += (bytes[start + at + 1] + 1) * 8;
    } else if (next === 51) {
      // AH: the ICV is what follows its 12 fixed bytes, up to (length + 2) 32-bit words.
      if (at + 12 > caplen) return null;
      const size = (bytes[start + at + 1] + 2) * 4;
      if (size < 12 || at + size > caplen) return null;
      let icv = "";
      for (let k = 12; k < size; k++) icv += hex2(bytes[start + at + k]);
      s += `AH(spi=0x${hex8(u32At(bytes, start + at + 4))},seq=0x${u32At(bytes, start + at + 8).toString(16)},icv=0x${icv}): `;
      next = bytes[start + at];
      at += size;
    } else if (next === 135 || next === 139 || next === 140) {
      return null;
    } else return s;
  }
  return null;
}

/**
 * tcpdump's words for an IPv6 routing header at `at` (`room` bytes captured from there): the
 * type 0 (deprecated) and 2 ones and the segment routing header (type 4) with their addresses;
 * null for another type or one cut off.
 */
function routingText(bytes: Uint8Array, at: number, room: number): string | null {
  if (room < 8) return null;
  const len = bytes[at + 1];
  const type = bytes[at + 2];
  const segleft = bytes[at + 3];
  if ((type !== 0 && type !== 2 && type !== 4) || (len + 1) * 8 > room || len % 2 !== 0) return null;
  let s = `RT6 (len=${len}, type=${type}${type === 0 ? " [Deprecated]" : ""}, segleft=${segleft}, `;
  if (type === 4) s += `last-entry=${bytes[at + 4]}, tag=${(bytes[at + 6] << 8) | bytes[at + 7]}, `;
  const addresses: string[] = [];
  for (let k = 0; k < len / 2; k++) addresses.push(`[${k}]${formatIPv6(bytes, at + 8 + 16 * k)}`);
  return `${s}${addresses.join(", ")}) `;
}

function u32At(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * What tcpdump says of an ICMP or ICMPv6 error or neighbor discovery message beyond its type
 * name, from the message at `l4` (the quoted packet for errors): the whole text after "ICMP "
 * (or "ICMP6, ") up to ", length", or null where it prints what ringcap does not parse.
 */
function icmpText(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number): string | null {
  const l4 = d.l4Offset;
  const at = start + l4;
  const type = d.icmpType;
  const code = d.icmpCode;
  if (d.ipProtocol === 58) {
    if ((type === 135 || type === 136) && l4 + 24 <= caplen) {
      return `${type === 135 ? "neighbor solicitation, who has" : "neighbor advertisement, tgt is"} ${formatIPv6(bytes, at + 8)}`;
    }
    if (type === 2 && l4 + 8 <= caplen) return `packet too big, mtu ${u32At(bytes, at + 4)}`;
    // The quoted packet's fixed header follows the 8 bytes of the message.
    const inner = l4 + 8;
    if (inner + 40 > caplen || bytes[start + inner] >> 4 !== 6) return null;
    const innerDst = formatIPv6(bytes, start + inner + 24);
    if (type === 3 && code === 0) return `time exceeded in-transit for ${innerDst}`;
    const proto = bytes[start + inner + 6];
    if (type === 1 && code === 4 && (proto === 6 || proto === 17) && inner + 44 <= caplen) {
      const dport = (bytes[start + inner + 42] << 8) | bytes[start + inner + 43];
      return `destination unreachable, unreachable port, ${innerDst} ${proto === 6 ? "tcp" : "udp"} port ${dport}`;
    }
    return null;
  }
  if (type === 11 && code === 0) return "time exceeded in-transit";
  const inner = l4 + 8;
  if (inner + 20 > caplen || bytes[start + inner] >> 4 !== 4) return null;
  const innerDst = formatIPv4(u32At(bytes, start + inner + 16));
  if (type === 5 && code === 1) return `redirect ${innerDst} to host ${formatIPv4(u32At(bytes, at + 4))}`;
  if (type !== 3) return null;
  if (code === 1) return `host ${innerDst} unreachable`;
  if (code === 4) return `${innerDst} unreachable - need to frag (mtu ${(bytes[at + 6] << 8) | bytes[at + 7]})`;
  const proto = bytes[start + inner + 9];
  const ihl = (bytes[start + inner] & 0x0f) * 4;
  if (code === 3 && (proto === 6 || proto === 17) && inner + ihl + 4 <= caplen) {
    const dport = (bytes[start + inner + ihl + 2] << 8) | bytes[start + inner + ihl + 3];
    return `${innerDst} ${proto === 6 ? "tcp" : "udp"} port ${dport} unreachable`;
  }
  return null;
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
  const ethernet = d.linkType === LINKTYPE.ETHERNET;
  const prefix = ethernet
    ? linkLevel && caplen >= 14 ? linkHeader(d, bytes, start, caplen, wireLength, quiet) : ""
    : otherLinkHeader(d, bytes, start, caplen, wireLength, linkLevel, options);
  if (d.ipVersion === 0) {
    if (d.etherType === 0x0806) return `${prefix}${linkLevel ? "" : "ARP, "}${arpText(d, bytes, start, caplen, wireLength)}`;
    if ((d.linkType === LINKTYPE.NULL || d.linkType === LINKTYPE.LOOP) && caplen >= 4) {
      const family = nullFamily(d, bytes, start);
      // Without a printer for the family, tcpdump dumps the bytes after the header (not with -q).
      if (quiet) return `${prefix}Unknown AF ${family}, length ${wireLength}: `;
      return `${prefix}AF Unknown (${family}), length ${wireLength}: ${hexDump(bytes, start + 4, start + caplen)}`;
    }
    if (d.etherType < 0) return `${prefix}[|ether] length ${wireLength}`;
    if (etherName(d.etherType) === "Unknown" && d.l3Offset >= 0) {
      // tcpdump shows a frame of a protocol it does not know by its link header (Ethernet's
      // addresses and final EtherType without -e) and a dump of the rest (not with -q).
      let head = prefix;
      if (ethernet && !linkLevel) head = `${macAt(bytes, start + 6)} > ${macAt(bytes, start)}, ${etherTypeText(d.etherType, quiet)}, length ${wireLength}: `;
      return quiet ? head : `${head}${hexDump(bytes, start + d.l3Offset, start + caplen)}`;
    }
    return `${prefix}ethertype 0x${hex4(d.etherType)}, length ${wireLength}`;
  }
  // With -e the link header already said which IP version this is.
  const ip = linkLevel ? "" : d.ipVersion === 4 ? "IP " : "IP6 ";
  const src = d.ipVersion === 4 ? formatIPv4(d.ipv4Src) : d.srcAddress();
  const dst = d.ipVersion === 4 ? formatIPv4(d.ipv4Dst) : d.dstAddress();
  // A later fragment has no upper-layer header: tcpdump names the protocol by number.
  if (d.ipVersion === 4 && d.fragmentOffset > 0) return `${prefix}${ip}${src} > ${dst}: ip-proto-${d.ipProtocol}`;
  // IPv6 extension headers are named before the upper layer, which then gives its ports only.
  let chain = "";
  if (d.ipVersion === 6 && d.ipHeaderLength > 40) {
    const c = ipv6Chain(d, bytes, start, caplen);
    if (c === null) return `${prefix}${ip}${src} > ${dst}: ip6-ext-headers ip-proto-${d.ipProtocol}`;
    if (d.fragmentOffset > 0) return `${prefix}${ip}${src} > ${dst}: ${c.trimEnd()}`;
    chain = c;
  }
  const payload = Math.max(0, d.payloadLength);
  // Payload lengths come from the headers, not from what was captured, so a snaplen does not change them.
  const wirePayload = d.payloadOffset >= 0 && d.ipTotalLength >= 0 ? Math.max(0, d.ipTotalLength - (d.payloadOffset - d.l3Offset)) : payload;
  switch (d.ipProtocol) {
    case 6: {
      if (d.srcPort < 0) return `${prefix}${ip}${src} > ${dst}: ${chain}tcp [|tcp]`;
      const head = chain === "" ? `${prefix}${ip}${src}.${d.srcPort} > ${dst}.${d.dstPort}: ` : `${prefix}${ip}${src} > ${dst}: ${chain}${d.srcPort} > ${d.dstPort}: `;
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
      if (d.srcPort < 0) return `${prefix}${ip}${src} > ${dst}: ${chain}udp [|udp]`;
      const ulenAt = start + d.l4Offset + 4;
      const udpPayload = Math.max(0, ((bytes[ulenAt] << 8) | bytes[ulenAt + 1]) - 8);
      if (chain !== "") return `${prefix}${ip}${src} > ${dst}: ${chain}${d.srcPort} > ${d.dstPort}: UDP, length ${udpPayload}`;
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
      const text = echo ? null : icmpText(d, bytes, start, caplen);
      return `${prefix}${ip}${src} > ${dst}: ${chain}${v6 ? "ICMP6, " : "ICMP "}${text ?? name + idSeq}, length ${message}`;
    }
    case 50: {
      // ESP: its SPI and sequence number, and the length of all that follows the IP header(s).
      if (d.payloadOffset < 0 || d.payloadOffset + 8 > caplen) break;
      const at = start + d.payloadOffset;
      return `${prefix}${ip}${src} > ${dst}: ${chain}ESP(spi=0x${hex8(u32At(bytes, at))},seq=0x${u32At(bytes, at + 4).toString(16)}), length ${wirePayload}`;
    }
    case 59:
      if (d.ipVersion === 6) return `${prefix}${ip}${src} > ${dst}: ${chain}no next header`;
      break;
  }
  return `${prefix}${ip}${src} > ${dst}: ${chain}ip-proto-${d.ipProtocol} ${payload}`;
}

/**
 * tcpdump -e's link-level part: addresses, then each VLAN tag with the EtherType that follows
 * it. The decoder counts a tag the kernel stripped (it is not in `bytes`) as the outer one.
 */
function linkHeader(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number, wireLength: number, quiet: boolean): string {
  const typeText = (t: number) => etherTypeText(t, quiet);
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

/**
 * One-line packet summaries in the style of tcpdump's default output, for `ringcap capture`.
 * @module
 */

import { formatIPv4, formatIPv6, LINKTYPE, PacketDecoder } from "./decode.ts";
import { addressAt, arpText, hex2, hex4, hex8, hexDump, ICMP_TYPES, ICMP6_TYPES, icmp4Text, icmp6Text, u32At } from "./format_icmp.ts";

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

/** tcpdump's names of IP protocol numbers (`proto UDP (17)` with -v); others are "unknown". */
const IP_PROTOCOLS: Record<number, string> = {
  0: "Options",
  1: "ICMP",
  2: "IGMP",
  4: "IPIP",
  6: "TCP",
  8: "EGP",
  9: "IGRP",
  17: "UDP",
  33: "DCCP",
  41: "IPv6",
  43: "Routing",
  44: "Fragment",
  46: "RSVP",
  47: "GRE",
  50: "ESP",
  51: "AH",
  55: "Mobile IP",
  58: "ICMPv6",
  62: "Mobile IP (old)",
  88: "EIGRP",
  89: "OSPF",
  103: "PIM",
  108: "Compressed IP",
  112: "VRRP",
  113: "PGM",
  132: "SCTP",
  135: "Mobility",
  143: "Ethernet",
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
  /**
   * More detail, like tcpdump -v (1) and -vv (2): the IPv4 and IPv6 header fields, checksum
   * verdicts (IP, TCP, UDP, ICMP, ICMPv6), the packet an ICMP error quotes (on a line of its own),
   * ARP's hardware and protocol types, MLDv2 group records. @default 0
   */
  verbose?: number;
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
 * tcpdump's words for the IPv6 extension headers before the upper layer ("HBH ", "DSTOPT ",
 * "frag (0|1448) "); null for a routing header or anything else it prints in more detail. A
 * later fragment ends the chain (no upper layer follows).
 */
function ipv6Chain(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number, verbose: number): string | null {
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
      if (verbose > 0) {
        if (at + size > caplen) return null;
        const options = optionsText(bytes, start + at + 2, start + at + size);
        if (options === null) return null;
        s += options;
      }
      next = bytes[start + at];
      at += size;
    } else if (next === 44) {
      if (at + 8 > caplen) return null;
      const offset = ((bytes[start + at + 2] << 8) | bytes[start + at + 3]) & 0xfff8;
      s += verbose > 0 ? `frag (0x${hex8(u32At(bytes, start + at + 4))}:${offset}|${end - at - 8}) ` : `frag (${offset}|${end - at - 8}) `;
      next = bytes[start + at];
      at += 8;
      if (offset !== 0) return s;
    } else if (next === 43) {
      const text = routingText(bytes, start + at, caplen - at, verbose);
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
      const reserved = (bytes[start + at + 2] << 8) | bytes[start + at + 3];
      s += `AH(${verbose > 0 ? `length=${bytes[start + at + 1]}(${size}-bytes),` : ""}${reserved ? `reserved=0x${reserved.toString(16)}[MustBeZero],` : ""}spi=0x${hex8(u32At(bytes, start + at + 4))},seq=0x${u32At(bytes, start + at + 8).toString(16)},icv=0x${icv}): `;
      next = bytes[start + at];
      at += size;
    } else if (next === 135 || next === 139 || next === 140) {
      return null;
    } else return s;
  }
  return null;
}

/**
 * tcpdump -v's words for the options of a hop-by-hop or destination options header, in
 * bytes[from, to): `(padn)`, `(rtalert: 0x0000) `, ... and a blank; null for a jumbo payload or
 * home address option or options that overrun the header (tcpdump checks those further).
 */
function optionsText(bytes: Uint8Array, from: number, to: number): string | null {
  let s = "";
  for (let i = from; i < to; ) {
    const type = bytes[i];
    if (type === 0) {
      s += "(pad1)";
      i += 1;
      continue;
    }
    if (i + 2 > to) return null;
    const size = bytes[i + 1] + 2;
    if (i + size > to || type === 0xc2 || type === 0xc9) return null;
    if (type === 1) s += "(padn)";
    else if (type === 5) {
      if (size !== 4) return null;
      s += `(rtalert: 0x${hex4((bytes[i + 2] << 8) | bytes[i + 3])}) `;
    } else s += `(opt_type 0x${hex2(type)}: len=${bytes[i + 1]})`;
    i += size;
  }
  return `${s} `;
}

/**
 * Where the address TCP, UDP and ICMPv6 checksums take as the destination starts: a routing
 * header's final one (type 0 and 2: the last address; segment routing: the first), else the
 * IPv6 header's.
 */
function finalDestination(d: PacketDecoder, bytes: Uint8Array, start: number): number {
  const l3 = start + d.l3Offset;
  let dst = l3 + 24;
  let next = bytes[l3 + 6];
  let at = l3 + 40;
  const end = start + d.l4Offset;
  for (let i = 0; i < 8 && at < end; i++) {
    if (next === 0 || next === 60) {
      next = bytes[at];
      at += (bytes[at + 1] + 1) * 8;
    } else if (next === 44) {
      next = bytes[at];
      at += 8;
    } else if (next === 43) {
      const len = bytes[at + 1];
      const type = bytes[at + 2];
      if ((type === 0 || type === 2) && len % 2 === 0 && len > 0) dst = at + 8 + 16 * (len / 2 - 1);
      if (type === 4 && len % 2 === 0 && len > 0) dst = at + 8;
      next = bytes[at];
      at += (len + 1) * 8;
    } else break;
  }
  return dst;
}

/**
 * tcpdump's words for an IPv6 routing header at `at` (`room` bytes captured from there): the
 * type 0 (deprecated) and 2 ones and the segment routing header (type 4) with their addresses;
 * null for another type or one cut off.
 */
function routingText(bytes: Uint8Array, at: number, room: number, verbose: number): string | null {
  if (room < 8) return null;
  const len = bytes[at + 1];
  const type = bytes[at + 2];
  const segleft = bytes[at + 3];
  if ((type !== 0 && type !== 2 && type !== 4) || (len + 1) * 8 > room || len % 2 !== 0) return null;
  let s = `RT6 (len=${len}, type=${type}${type === 0 ? " [Deprecated]" : ""}, segleft=${segleft}, `;
  // The reserved word (type 0) and the flags (type 4) show with -v, or when they are not 0.
  if (type === 0 && (u32At(bytes, at + 4) || verbose > 0)) s += `rsv=0x${u32At(bytes, at + 4).toString(16)}, `;
  if (type === 4) {
    s += `last-entry=${bytes[at + 4]}, `;
    if (bytes[at + 5] || verbose > 0) s += `flags=0x${bytes[at + 5].toString(16)}, `;
    s += `tag=${(bytes[at + 6] << 8) | bytes[at + 7]}, `;
  }
  const addresses: string[] = [];
  for (let k = 0; k < len / 2; k++) addresses.push(`[${k}]${formatIPv6(bytes, at + 8 + 16 * k)}`);
  return `${s}${addresses.join(", ")}) `;
}

/** The one's complement sum of the 16-bit words of bytes[from, to) added to `sum` (not folded). */
function wordSum(bytes: Uint8Array, from: number, to: number, sum = 0): number {
  let i = from;
  for (; i + 1 < to; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (i < to) sum += bytes[i] << 8;
  return sum;
}

/** in_cksum: 0 when the summed bytes (checksum field included) are right. */
function checksumOf(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** What a wrong checksum field should have held, given the field and checksumOf over the bytes. */
function shouldBe(field: number, computed: number): number {
  let s = field + computed;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/**
 * The sum of the pseudo-header TCP, UDP and ICMPv6 checksums cover: the IP addresses, protocol
 * and the upper layer's length.
 */
function pseudoSum(d: PacketDecoder, bytes: Uint8Array, start: number, protocol: number, length: number): number {
  const l3 = start + d.l3Offset;
  if (d.ipVersion === 4) {
    const dst = sourceRouteEnd(bytes, l3, start + d.caplen);
    return wordSum(bytes, l3 + 12, l3 + 16) + wordSum(bytes, dst, dst + 4) + protocol + length;
  }
  const dst = finalDestination(d, bytes, start);
  return wordSum(bytes, l3 + 8, l3 + 24) + wordSum(bytes, dst, dst + 16) + protocol + (length >>> 16) + (length & 0xffff);
}

/**
 * Where the IPv4 destination the TCP and UDP checksums cover starts: the last address of a loose
 * or strict source route option, else the header's destination.
 */
function sourceRouteEnd(bytes: Uint8Array, l3: number, end: number): number {
  const hlen = (bytes[l3] & 0x0f) * 4;
  if (l3 + hlen > end) return l3 + 16;
  for (let i = l3 + 20; i < l3 + hlen; ) {
    const code = bytes[i];
    if (code === 0) break;
    const size = code === 1 ? 1 : bytes[i + 1];
    if (size < 1 || (code !== 1 && size < 2) || i + size > l3 + hlen) break;
    if ((code === 131 || code === 137) && size >= 7) return i + size - 4;
    i += size;
  }
  return l3 + 16;
}

/** The tcpdump-style hex of a 16-bit checksum (`0x1c46`). */
function cksumHex(n: number): string {
  return `0x${hex4(n)}`;
}

/** An IP protocol's name as tcpdump -v gives it. */
function protocolName(p: number): string {
  return IP_PROTOCOLS[p] ?? "unknown";
}

/**
 * tcpdump -v's IPv4 header fields, `(tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto UDP (17),
 * length 48)` and the line break before the addresses; a wrong header checksum is named with
 * the right one. IP options are not decoded (listed as such).
 */
function ipv4Verbose(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number): string {
  const l3 = d.l3Offset;
  const at = start + l3;
  const tos = bytes[at + 1];
  const off = (bytes[at + 6] << 8) | bytes[at + 7];
  let s = `(tos 0x${tos.toString(16)}${["", ",ECT(1)", ",ECT(0)", ",CE"][tos & 3]}`;
  if (bytes[at + 8] >= 1) s += `, ttl ${bytes[at + 8]}`;
  const flags = [off & 0x2000 ? "+" : "", off & 0x4000 ? "DF" : "", off & 0x8000 ? "rsvd" : ""].filter((f) => f).join(", ") || "none";
  const proto = bytes[at + 9];
  s += `, id ${(bytes[at + 4] << 8) | bytes[at + 5]}, offset ${(off & 0x1fff) * 8}, flags [${flags}], proto ${protocolName(proto)} (${proto})`;
  s += `, length ${(bytes[at + 2] << 8) | bytes[at + 3]}`;
  const hlen = (bytes[at] & 0x0f) * 4;
  if (hlen > 20) s += `, options (${(l3 + hlen <= caplen ? ipOptions(bytes, at + 20, at + hlen) : null) ?? "not decoded"})`;
  if (l3 + hlen <= caplen) {
    const sum = checksumOf(wordSum(bytes, at, at + hlen));
    const field = (bytes[at + 10] << 8) | bytes[at + 11];
    if (sum !== 0) s += `, bad cksum ${field.toString(16)} (->${shouldBe(field, sum).toString(16)})!`;
  }
  return `${s})\n    `;
}

/** tcpdump -v's ` [RST data]` of a reset's payload (`length` bytes at `at`, captured up to `end`), each byte as tcpdump escapes it (`^@`, `M-x`). */
function rstData(bytes: Uint8Array, at: number, end: number, length: number): string {
  let s = at + length <= end ? " [RST" : " [!RST";
  if (length > 30) {
    length = 30;
    s += "+";
  }
  s += " ";
  for (let i = at; i < at + length && i < end; i++) {
    let c = bytes[i];
    if (c > 0x7f) {
      c &= 0x7f;
      s += "M-";
    }
    if (c < 0x20 || c > 0x7e) {
      c ^= 0x40;
      s += "^";
    }
    s += String.fromCharCode(c);
  }
  return `${s}]`;
}

/** tcpdump's names of TCP options. */
const TCP_OPTIONS: Record<number, string> = {
  0: "eol",
  1: "nop",
  2: "mss",
  3: "wscale",
  4: "sackOK",
  5: "sack",
  6: "echo",
  7: "echoreply",
  8: "TS",
  11: "cc",
  12: "ccnew",
  13: "",
};
/** TCP options tcpdump decodes further (MD5, SCPS, user timeout, TCP-AO, MPTCP, fast open, experimental). */
const TCP_OPTIONS_NOT_DECODED = new Set([19, 20, 28, 29, 30, 34, 254]);

/**
 * tcpdump's words for the TCP options in bytes[from, to): `mss 1460,sackOK,TS val 1 ecr 0,nop,
 * wscale 7` (sequence numbers in SACK blocks absolute, as with -S); ending in `[bad opt]` where
 * tcpdump stops; null for an option ringcap does not decode.
 */
function tcpOptions(bytes: Uint8Array, from: number, to: number): string | null {
  let s = "";
  for (let i = from; i < to; ) {
    if (i > from) s += ",";
    const kind = bytes[i];
    let len = 1;
    if (kind > 1) {
      len = i + 1 < to ? bytes[i + 1] : 0;
      if (len < 2 || len > to - i) return `${s}[bad opt]`;
    }
    if (TCP_OPTIONS_NOT_DECODED.has(kind)) return null;
    s += TCP_OPTIONS[kind] ?? `unknown-${kind}`;
    const data = i + (kind > 1 ? 2 : 1);
    const room = to - data;
    let datalen = 0;
    switch (kind) {
      case 0:
      case 1:
      case 4:
        break;
      case 2:
        datalen = 2;
        if (datalen > room) return `${s}[bad opt]`;
        s += ` ${(bytes[data] << 8) | bytes[data + 1]}`;
        break;
      case 3:
        datalen = 1;
        if (datalen > room) return `${s}[bad opt]`;
        s += ` ${bytes[data]}`;
        break;
      case 5:
        datalen = len - 2;
        if (datalen % 8 !== 0) s += " invalid sack";
        else {
          s += ` ${datalen / 8} `;
          for (let k = 0; k < datalen; k += 8) s += `{${u32At(bytes, data + k)}:${u32At(bytes, data + k + 4)}}`;
        }
        break;
      case 6:
      case 7:
      case 11:
      case 12:
      case 13:
        datalen = 4;
        if (datalen > room) return `${s}[bad opt]`;
        s += ` ${u32At(bytes, data)}`;
        break;
      case 8:
        datalen = 8;
        if (datalen > room) return `${s}[bad opt]`;
        s += ` val ${u32At(bytes, data)} ecr ${u32At(bytes, data + 4)}`;
        break;
      default:
        datalen = len - 2;
        if (datalen) s += " 0x";
        for (let k = 0; k < datalen; k++) s += hex2(bytes[data + k]);
    }
    if (datalen + (kind > 1 ? 2 : 1) !== len) s += `[len ${len}]`;
    i = data + datalen;
    if (kind === 0) break;
  }
  return s;
}

/** tcpdump's names of IPv4 options. */
const IP_OPTIONS: Record<number, string> = { 0: "EOL", 1: "NOP", 68: "timestamp", 130: "security", 7: "RR", 137: "SSRR", 131: "LSRR", 148: "RA", 82: "traceroute" };

/**
 * tcpdump -v's words for the IPv4 options in bytes[from, to): `RA`, `NOP,RR 198.18.0.1`, ...;
 * null for a timestamp option (not decoded here) or a malformed one.
 */
function ipOptions(bytes: Uint8Array, from: number, to: number): string | null {
  const parts: string[] = [];
  for (let i = from; i < to; ) {
    const code = bytes[i];
    let part = IP_OPTIONS[code] ?? `unknown ${code}`;
    if (code === 0) {
      parts.push(part);
      break;
    }
    const size = code === 1 ? 1 : i + 1 < to ? bytes[i + 1] : 0;
    if (size < 1 || (code !== 1 && size < 2) || i + size > to || code === 68) return null;
    if (code === 7 || code === 131 || code === 137) {
      if (size < 3 || (size + 1) & 3) return null;
      const ptr = bytes[i + 2] - 1;
      if (ptr < 3 || (ptr + 1) & 3 || ptr > size + 1) return null;
      for (let k = 3; k < size; k += 4) part += ` ${formatIPv4(u32At(bytes, i + k))}${ptr > k ? "," : ""}`;
    } else if (code === 148) {
      if (size < 4) return null;
      const value = (bytes[i + 2] << 8) | bytes[i + 3];
      if (value) part += ` value ${value}`;
    }
    parts.push(part);
    i += size;
  }
  return parts.join(",");
}

/** tcpdump -v's IPv6 header fields: `(flowlabel 0x12345, hlim 64, next-header UDP (17) payload length: 28) `. */
function ipv6Verbose(d: PacketDecoder, bytes: Uint8Array, start: number): string {
  const at = start + d.l3Offset;
  const flow = u32At(bytes, at);
  let s = "(";
  if (flow & 0x0ff00000) s += `class 0x${hex2((flow >>> 20) & 0xff)}, `;
  if (flow & 0x000fffff) s += `flowlabel 0x${(flow & 0xfffff).toString(16).padStart(5, "0")}, `;
  const next = bytes[at + 6];
  return `${s}hlim ${bytes[at + 7]}, next-header ${protocolName(next)} (${next}) payload length: ${(bytes[at + 4] << 8) | bytes[at + 5]}) `;
}

/** The packet an ICMP error quotes (`room` bytes of it at `at`), described as tcpdump -v does: as a packet of its own. */
function quotedPacket(bytes: Uint8Array, at: number, room: number, linkLevel: boolean, options: DescribeOptions): string {
  const inner = new PacketDecoder();
  inner.linkType = LINKTYPE.RAW;
  const totalLength = room >= 4 && bytes[at] >> 4 === 4 ? (bytes[at + 2] << 8) | bytes[at + 3] : room;
  const caplen = Math.min(room, totalLength);
  inner.decode(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), at, caplen);
  const text = describePacket(inner, bytes, at, caplen, totalLength, false, { ...options, quiet: false });
  // With -e tcpdump leaves out "IP " here too.
  return linkLevel && text.startsWith("IP ") ? text.slice(3) : text;
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
  const verbose = options.verbose ?? 0;
  const ethernet = d.linkType === LINKTYPE.ETHERNET;
  const prefix = ethernet
    ? linkLevel && caplen >= 14 ? linkHeader(d, bytes, start, caplen, wireLength, quiet) : ""
    : otherLinkHeader(d, bytes, start, caplen, wireLength, linkLevel, options);
  if (d.ipVersion === 0) {
    if (d.etherType === 0x0806) return `${prefix}${linkLevel ? "" : "ARP, "}${arpText(d, bytes, start, caplen, wireLength, verbose)}`;
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
  let ip = linkLevel ? "" : d.ipVersion === 4 ? "IP " : "IP6 ";
  if (verbose > 0) ip += d.ipVersion === 4 ? ipv4Verbose(d, bytes, start, caplen) : ipv6Verbose(d, bytes, start);
  const src = d.ipVersion === 4 ? formatIPv4(d.ipv4Src) : d.srcAddress();
  const dst = d.ipVersion === 4 ? formatIPv4(d.ipv4Dst) : d.dstAddress();
  // A later fragment has no upper-layer header: tcpdump names the protocol by number.
  if (d.ipVersion === 4 && d.fragmentOffset > 0) return `${prefix}${ip}${src} > ${dst}: ip-proto-${d.ipProtocol}`;
  // No checksum is checked in a fragment: it covers the whole datagram.
  let fragmented = d.ipVersion === 4 && (bytes[start + d.l3Offset + 6] & 0x20) !== 0;
  // IPv6 extension headers are named before the upper layer, which then gives its ports only.
  let chain = "";
  if (d.ipVersion === 6 && d.ipHeaderLength > 40) {
    const c = ipv6Chain(d, bytes, start, caplen, verbose);
    if (c === null) return `${prefix}${ip}${src} > ${dst}: ip6-ext-headers ip-proto-${d.ipProtocol}`;
    if (d.fragmentOffset > 0) return `${prefix}${ip}${src} > ${dst}: ${c.trimEnd()}`;
    chain = c;
    if (c.includes("frag (")) fragmented = true;
  }
  const payload = Math.max(0, d.payloadLength);
  // Payload lengths come from the headers, not from what was captured, so a snaplen does not change them.
  const wirePayload = d.payloadOffset >= 0 && d.ipTotalLength >= 0 ? Math.max(0, d.ipTotalLength - (d.payloadOffset - d.l3Offset)) : payload;
  // The upper layer's length by the IP header(s), for checksums.
  const upperLength = d.l4Offset >= 0 && d.ipTotalLength >= 0 ? Math.max(0, d.ipTotalLength - (d.l4Offset - d.l3Offset)) : payload;
  const l4 = start + d.l4Offset;
  const whole = (n: number) => !fragmented && d.l4Offset >= 0 && d.l4Offset + n <= caplen;
  switch (d.ipProtocol) {
    case 6: {
      if (d.srcPort < 0) {
        // Cut after the ports (as the segment an ICMP error quotes): tcpdump still gives them.
        if (chain === "" && d.l4Offset >= 0 && d.l4Offset + 4 <= caplen) {
          return `${prefix}${ip}${src}.${(bytes[l4] << 8) | bytes[l4 + 1]} > ${dst}.${(bytes[l4 + 2] << 8) | bytes[l4 + 3]}:  [|tcp]`;
        }
        return `${prefix}${ip}${src} > ${dst}: ${chain}tcp [|tcp]`;
      }
      const head = chain === "" ? `${prefix}${ip}${src}.${d.srcPort} > ${dst}.${d.dstPort}: ` : `${prefix}${ip}${src} > ${dst}: ${chain}${d.srcPort} > ${d.dstPort}: `;
      if (quiet) return `${head}tcp ${wirePayload}`;
      const flags = d.tcpFlags;
      let s = `${head}Flags [${tcpFlags(flags)}]`;
      if (verbose > 0 && whole(upperLength)) {
        const field = (bytes[l4 + 16] << 8) | bytes[l4 + 17];
        const sum = checksumOf(wordSum(bytes, l4, l4 + upperLength, pseudoSum(d, bytes, start, 6, upperLength)));
        s += `, cksum ${cksumHex(field)} ${sum === 0 ? "(correct)" : `(incorrect -> ${cksumHex(shouldBe(field, sum))})`}`;
      }
      if (verbose > 1 || wirePayload > 0 || flags & 0x07) s += `, seq ${d.tcpSeq}`;
      if (wirePayload > 0) s += `:${(d.tcpSeq + wirePayload) >>> 0}`;
      if (flags & 0x10) s += `, ack ${d.tcpAck}`;
      s += `, win ${d.tcpWindow}`;
      const urgAt = start + d.l4Offset + 18;
      if (flags & 0x20 && d.l4Offset + 20 <= caplen) s += `, urg ${(bytes[urgAt] << 8) | bytes[urgAt + 1]}`;
      const hlen = (bytes[l4 + 12] >> 4) * 4;
      if (hlen > 20) {
        if (d.l4Offset + hlen > caplen) return `${s}, options [|tcp]`;
        const options = tcpOptions(bytes, l4 + 20, l4 + hlen);
        if (options === null) return `${s}, options [not decoded], length ${wirePayload}`;
        s += `, options [${options}`;
        if (options.endsWith("[bad opt]")) return options === "[bad opt]" ? s : `${s}]`;
        s += "]";
      }
      s += `, length ${wirePayload}`;
      // -v shows what a reset carries (some stacks put a reason there), up to 30 bytes.
      if (verbose > 0 && flags & 0x04 && wirePayload > 0 && d.payloadOffset >= 0) s += rstData(bytes, start + d.payloadOffset, start + caplen, wirePayload);
      return s;
    }
    case 17: {
      if (d.srcPort < 0) return `${prefix}${ip}${src} > ${dst}: ${chain}udp [|udp]`;
      const ulen = (bytes[l4 + 4] << 8) | bytes[l4 + 5];
      const udpPayload = Math.max(0, ulen - 8);
      let verdict = "";
      if (!fragmented && (d.ipVersion === 6 ? verbose > 0 : verbose > 1)) {
        const field = (bytes[l4 + 6] << 8) | bytes[l4 + 7];
        if (d.ipVersion === 4 && field === 0) verdict = "[no cksum] ";
        else if (whole(ulen)) {
          const sum = checksumOf(wordSum(bytes, l4, l4 + ulen, pseudoSum(d, bytes, start, 17, ulen)));
          verdict = sum === 0 ? "[udp sum ok] " : `[bad udp cksum ${cksumHex(field)} -> ${cksumHex(shouldBe(field, sum))}!] `;
        }
      }
      // A UDP length beyond the IP datagram's is named so (a fragment's is bound to be).
      const room = Math.max(0, upperLength - 8);
      const length = udpPayload > room && ulen >= 8 && !fragmented ? `bad length ${udpPayload} > ${room}` : `length ${udpPayload}`;
      if (chain !== "") return `${prefix}${ip}${src} > ${dst}: ${chain}${d.srcPort} > ${d.dstPort}: ${verdict}UDP, ${length}`;
      return `${prefix}${ip}${src}.${d.srcPort} > ${dst}.${d.dstPort}: ${verdict}UDP, ${length}`;
    }
    case 1: {
      // tcpdump gives the whole ICMP message's length.
      const message = upperLength;
      const room = caplen - d.l4Offset;
      const text = icmp4Text(bytes, l4, room) ?? ICMP_TYPES[d.icmpType] ?? `type-#${d.icmpType}`;
      let s = `${prefix}${ip}${src} > ${dst}: ${chain}ICMP ${text}, length ${message}`;
      if (verbose === 0) return s;
      if (whole(message)) {
        const sum = checksumOf(wordSum(bytes, l4, l4 + message));
        const field = (bytes[l4 + 2] << 8) | bytes[l4 + 3];
        if (sum !== 0) s += ` (wrong icmp cksum ${field.toString(16)} (->${shouldBe(field, sum).toString(16)})!)`;
      }
      // An error's quoted packet, printed as a packet of its own.
      const type = d.icmpType;
      if ((type === 3 || type === 4 || type === 5 || type === 11 || type === 12) && room >= 28) {
        s += `\n\t${quotedPacket(bytes, l4 + 8, Math.min(room, message) - 8, linkLevel, options)}`;
      }
      return s;
    }
    case 58: {
      const message = upperLength;
      const room = caplen - d.l4Offset;
      let verdict = "";
      if (verbose > 0 && whole(message)) {
        const sum = checksumOf(wordSum(bytes, l4, l4 + message, pseudoSum(d, bytes, start, 58, message)));
        const field = (bytes[l4 + 2] << 8) | bytes[l4 + 3];
        verdict = sum === 0 ? "[icmp6 sum ok] " : `[bad icmp6 cksum ${cksumHex(field)} -> ${cksumHex(shouldBe(field, sum))}!] `;
      }
      const text = icmp6Text(bytes, l4, room, message, verbose) ?? `${ICMP6_TYPES[d.icmpType] ?? `unknown icmp6 type (${d.icmpType})`}, length ${message}`;
      return `${prefix}${ip}${src} > ${dst}: ${chain}${verdict}ICMP6, ${text}`;
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

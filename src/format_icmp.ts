/**
 * ICMP, ICMPv6 (neighbor discovery and MLD included) and ARP messages in tcpdump's words, and the
 * byte-formatting helpers the packet lines of format.ts share with them.
 * @module
 */

import { formatIPv4, formatIPv6, type PacketDecoder } from "./decode.ts";

/** tcpdump's names of the ICMP types it prints by name alone. */
export const ICMP_TYPES: Record<number, string> = {
  0: "echo reply",
  4: "source quench",
  8: "echo request",
  10: "router solicitation",
  13: "time stamp request",
  14: "time stamp reply",
  15: "information request",
  16: "information reply",
  17: "address mask request",
  18: "address mask reply",
};

/** tcpdump's names of the ICMPv6 types. */
export const ICMP6_TYPES: Record<number, string> = {
  1: "destination unreachable",
  2: "packet too big",
  3: "time exceeded in-transit",
  4: "parameter problem",
  128: "echo request",
  129: "echo reply",
  130: "multicast listener query",
  131: "multicast listener report",
  132: "multicast listener done",
  133: "router solicitation",
  134: "router advertisement",
  135: "neighbor solicitation",
  136: "neighbor advertisement",
  137: "redirect",
  138: "router renumbering",
  141: "inverse neighbor solicitation",
  142: "inverse neighbor advertisement",
  143: "multicast listener report v2",
  144: "ha discovery request",
  145: "ha discovery reply",
  146: "mobile router solicitation",
  147: "mobile router advertisement",
  139: "who-are-you request",
  140: "who-are-you reply",
  200: "mtrace response",
  201: "mtrace message",
  155: "RPL",
};

/** ICMPv6 destination unreachable codes (the blank before "unreachable prohibited" is tcpdump's). */
const ICMP6_UNREACH: Record<number, string> = {
  0: "unreachable route",
  1: " unreachable prohibited",
  2: "beyond scope",
  3: "unreachable address",
  4: "unreachable port",
};

/** ICMP destination unreachable codes: [words before the address, words after it]. */
const ICMP_UNREACH: Record<number, [string, string]> = {
  0: ["net ", " unreachable"],
  1: ["host ", " unreachable"],
  5: ["", " unreachable - source route failed"],
  6: ["net ", " unreachable - unknown"],
  7: ["host ", " unreachable - unknown"],
  8: ["", " unreachable - source host isolated"],
  9: ["net ", " unreachable - admin prohibited"],
  10: ["host ", " unreachable - admin prohibited"],
  11: ["net ", " unreachable - tos prohibited"],
  12: ["host ", " unreachable - tos prohibited"],
  13: ["host ", " unreachable - admin prohibited filter"],
  14: ["host ", " unreachable - host precedence violation"],
  15: ["host ", " unreachable - precedence cutoff"],
};

/** MLDv2 group record types. */
const MLD2_RECORDS: Record<number, string> = {
  1: "is_in",
  2: "is_ex",
  3: "to_in",
  4: "to_ex",
  5: "allow",
  6: "block",
};

/** The `halen` bytes of a link-level address at `at`, colon-separated hex. */
export function addressAt(bytes: Uint8Array, at: number, halen: number): string {
  let s = "";
  for (let i = 0; i < halen; i++) s += (i ? ":" : "") + bytes[at + i].toString(16).padStart(2, "0");
  return s;
}

/**
 * tcpdump's hex and ASCII dump of bytes it has no printer for (`\t0x0000:  6000 0000 ...  ascii`),
 * as it ends the line of a loopback frame of an unknown address family.
 */
export function hexDump(bytes: Uint8Array, from: number, to: number): string {
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

/** tcpdump's hex dump without ASCII (print_unknown_data): `\n\t0x0000:  8f00 0000 ...`, 16 bytes a line. */
function hexWords(bytes: Uint8Array, from: number, to: number, ident = "\n\t"): string {
  let s = "";
  for (let i = from; i < to; i += 2) {
    if ((i - from) % 16 === 0) s += `${ident}0x${hex4(i - from)}: `;
    s += i + 1 < to ? ` ${hex2(bytes[i])}${hex2(bytes[i + 1])}` : ` ${hex2(bytes[i])}`;
  }
  return s;
}

/** tcpdump's names of ARP operations. */
const ARP_OPS: Record<number, string> = {
  1: "Request",
  2: "Reply",
  3: "Reverse Request",
  4: "Reverse Reply",
  8: "Inverse Request",
  9: "Inverse Reply",
  10: "NACK Reply",
};

/**
 * tcpdump's ARP line body for Ethernet/IPv4 ARP (every operation it names; with -v the hardware
 * and protocol types first); other hardware or protocols by their types and length only.
 */
export function arpText(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number, wireLength: number, verbose: number): string {
  const l3 = d.l3Offset;
  const length = wireLength - l3;
  const at = start + l3;
  if (l3 + 8 > caplen) return `length ${length}`;
  const hrd = (bytes[at] << 8) | bytes[at + 1];
  const pro = (bytes[at + 2] << 8) | bytes[at + 3];
  const hlen = bytes[at + 4];
  const plen = bytes[at + 5];
  const op = (bytes[at + 6] << 8) | bytes[at + 7];
  if (hrd !== 1 || pro !== 0x0800 || hlen !== 6 || plen !== 4 || l3 + 28 > caplen) return `length ${length}`;
  const ip = (o: number) => `${bytes[at + o]}.${bytes[at + o + 1]}.${bytes[at + o + 2]}.${bytes[at + o + 3]}`;
  const mac = (o: number) => addressAt(bytes, at + o, 6);
  let s = verbose > 0 ? "Ethernet (len 6), IPv4 (len 4), " : "";
  s += `${ARP_OPS[op] ?? `Unknown (${op})`} `;
  switch (op) {
    case 1: {
      let zero = true;
      for (let k = 18; k < 24; k++) if (bytes[at + k] !== 0) zero = false;
      s += `who-has ${ip(24)}${zero ? "" : ` (${mac(18)})`} tell ${ip(14)}`;
      break;
    }
    case 2:
      s += `${ip(14)} is-at ${mac(8)}`;
      break;
    case 3:
    case 8:
      s += `who-is ${mac(18)} tell ${mac(8)}`;
      break;
    case 4:
      s += `${mac(18)} at ${ip(24)}`;
      break;
    case 9:
      s += `${mac(8)} at ${ip(14)}`;
      break;
    default:
      // An operation without addresses to print: tcpdump dumps the message.
      return `${s}${hexDump(bytes, at, start + caplen)}`;
  }
  return `${s}, length ${length}`;
}

/** The big-endian 32-bit number at `at`. */
export function u32At(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/** Two hex digits. */
export function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** Eight hex digits (a 32-bit number). */
export function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** ICMP time stamps (milliseconds since midnight UTC) as tcpdump prints them: HH:MM:SS.mmm. */
function icmpTime(ms: number): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  const sec = Math.floor(ms / 1000);
  const min = Math.floor(sec / 60);
  const hrs = Math.floor(min / 60);
  return `${p2(hrs)}:${p2(min - hrs * 60)}:${p2(sec - min * 60)}.${String(ms % 1000).padStart(3, "0")}`;
}

/** ICMP router advertisement lifetime: seconds, M:SS or H:MM:SS. */
function lifetimeText(t: number): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  if (t < 60) return `${t}`;
  if (t < 3600) return `${Math.floor(t / 60)}:${p2(t % 60)}`;
  return `${Math.floor(t / 3600)}:${p2(Math.floor((t % 3600) / 60))}:${p2(t % 60)}`;
}

/**
 * tcpdump's words for the ICMP message at `at` (`room` bytes of it captured): what follows
 * "ICMP " up to ", length"; null when a field it needs was cut off.
 */
export function icmp4Text(bytes: Uint8Array, at: number, room: number): string | null {
  if (room < 4) return null;
  const type = bytes[at];
  const code = bytes[at + 1];
  const need = (n: number) => room >= n;
  const u16 = (o: number) => (bytes[at + o] << 8) | bytes[at + o + 1];
  // The quoted packet's destination, for errors.
  const innerDst = () => formatIPv4(u32At(bytes, at + 24));
  switch (type) {
    case 0:
    case 8:
      return need(8) ? `echo ${type === 8 ? "request" : "reply"}, id ${u16(4)}, seq ${u16(6)}` : null;
    case 3: {
      if (!need(28)) return null;
      if (code === 2) return need(18) ? `${innerDst()} protocol ${bytes[at + 17]} unreachable` : null;
      if (code === 3) {
        const ihl = (bytes[at + 8] & 0x0f) * 4;
        if (!need(8 + ihl + 4)) return null;
        const proto = bytes[at + 17];
        const dport = u16(8 + ihl + 2);
        if (proto === 6 || proto === 17) return `${innerDst()} ${proto === 6 ? "tcp" : "udp"} port ${dport} unreachable`;
        return `${innerDst()} protocol ${proto} port ${dport} unreachable`;
      }
      if (code === 4) return `${innerDst()} unreachable - need to frag${u16(6) ? ` (mtu ${u16(6)})` : ""}`;
      const words = ICMP_UNREACH[code];
      return words ? `${words[0]}${innerDst()}${words[1]}` : `${innerDst()} unreachable - #${code}`;
    }
    case 5: {
      if (!need(28)) return null;
      const gw = formatIPv4(u32At(bytes, at + 4));
      const kind = ["redirect %s to net ", "redirect %s to host ", "redirect-tos %s to net ", "redirect-tos %s to host "][code];
      return kind ? `${kind.replace("%s", innerDst())}${gw}` : `redirect-#${code} ${innerDst()} to ${gw}`;
    }
    case 9: {
      if (!need(8)) return null;
      let s = `router advertisement lifetime ${lifetimeText(u16(6))} ${bytes[at + 4]}:`;
      if (bytes[at + 5] !== 2) return `${s} [size ${bytes[at + 5]}]`;
      for (let k = 0; k < bytes[at + 4]; k++) {
        if (!need(16 + 8 * k)) return null;
        s += ` {${formatIPv4(u32At(bytes, at + 8 + 8 * k))} ${u32At(bytes, at + 12 + 8 * k)}}`;
      }
      return s;
    }
    case 11:
      if (!need(28)) return null;
      return code === 0 ? "time exceeded in-transit" : code === 1 ? "ip reassembly time exceeded" : `time exceeded-#${code}`;
    case 12:
      if (code) return `parameter problem - code ${code}`;
      return need(5) ? `parameter problem - octet ${bytes[at + 4]}` : null;
    case 13:
      return need(8) ? `time stamp query id ${u16(4)} seq ${u16(6)}` : null;
    case 14:
      if (!need(20)) return null;
      return `time stamp reply id ${u16(4)} seq ${u16(6)}: org ${icmpTime(u32At(bytes, at + 8))}, recv ${icmpTime(u32At(bytes, at + 12))}, xmit ${icmpTime(u32At(bytes, at + 16))}`;
    case 18:
      return need(12) ? `address mask is 0x${hex8(u32At(bytes, at + 8))}` : null;
    default:
      return ICMP_TYPES[type] ?? `type-#${type}`;
  }
}

/** Neighbor discovery option names, by type. */
const ND_OPTIONS: Record<number, string> = { 1: "source link-address", 2: "destination link-address", 3: "prefix info", 5: "mtu" };

/**
 * A router or neighbor solicitation or advertisement or a redirect as tcpdump -v prints it:
 * the length, the fields, then one line per option (link-layer addresses, prefix information,
 * MTU; with -vv each option's bytes in hex too). null for an option ringcap does not decode.
 */
function ndVerbose(bytes: Uint8Array, at: number, room: number, length: number, verbose: number): string | null {
  const type = bytes[at];
  const fixed = { 133: 8, 134: 16, 135: 24, 136: 24, 137: 40 }[type] ?? 8;
  if (room < fixed || length < fixed) return null;
  const addr = (o: number) => formatIPv6(bytes, at + o);
  let s = `${ICMP6_TYPES[type]}, length ${length}`;
  if (type === 145) {
    // Home agent discovery reply: its id, then the home agents' addresses.
    s += `, id 0x${hex4((bytes[at + 4] << 8) | bytes[at + 5])}`;
    for (let o = 8; o < length; o += 16) {
      if (o + 16 > room) return null;
      s += `, ${addr(o)}`;
    }
    return s;
  }
  if (type === 147) {
    const f = bytes[at + 6];
    s += `, id 0x${hex4((bytes[at + 4] << 8) | bytes[at + 5])}${f & 0xc0 ? " " : ""}${f & 0x80 ? "M" : ""}${f & 0x40 ? "O" : ""}`;
  }
  if (type === 134) {
    const f = bytes[at + 5];
    const flags = [f & 0x80 ? "managed" : "", f & 0x40 ? "other stateful" : "", f & 0x20 ? "home agent" : "", f & 0x02 ? "ipv6 only" : ""].filter((x) => x).join(", ") || "none";
    const pref = ["medium", "high", "rsv", "low"][(f & 0x18) >> 3];
    s += `\n\thop limit ${bytes[at + 4]}, Flags [${flags}], pref ${pref}, router lifetime ${(bytes[at + 6] << 8) | bytes[at + 7]}s, reachable time ${u32At(bytes, at + 8)}ms, retrans timer ${u32At(bytes, at + 12)}ms`;
  } else if (type === 135) s += `, who has ${addr(8)}`;
  else if (type === 136) {
    const f = bytes[at + 4];
    const flags = [f & 0x80 ? "router" : "", f & 0x40 ? "solicited" : "", f & 0x20 ? "override" : ""].filter((x) => x).join(", ") || "none";
    s += `, tgt is ${addr(8)}, Flags [${flags}]`;
  } else if (type === 137) s += `, ${addr(24)} to ${addr(8)}`;
  const end = Math.min(room, length);
  for (let o = fixed; o < end; ) {
    if (o + 2 > room) return null;
    const optType = bytes[at + o];
    const optLen = bytes[at + o + 1] * 8;
    if (optLen === 0 || o + optLen > room) return null;
    const name = ND_OPTIONS[optType];
    if (name === undefined) return null;
    s += `\n\t  ${name} option (${optType}), length ${optLen} (${optLen / 8}): `;
    const p = at + o;
    if (optType === 1 || optType === 2) s += addressAt(bytes, p + 2, optLen - 2);
    else if (optType === 5) s += ` ${u32At(bytes, p + 4)}${optLen !== 8 ? "bad option length" : ""}`;
    else {
      const pf = bytes[p + 3];
      const flags = [pf & 0x80 ? "onlink" : "", pf & 0x40 ? "auto" : "", pf & 0x20 ? "router" : ""].filter((x) => x).join(", ") || "none";
      const life = (v: number) => (v === 0xffffffff ? "infinity" : `${v}s`);
      s += `${formatIPv6(bytes, p + 16)}/${bytes[p + 2]}${optLen !== 32 ? "badlen" : ""}, Flags [${flags}], valid time ${life(u32At(bytes, p + 4))}, pref. time ${life(u32At(bytes, p + 8))}`;
    }
    if (verbose > 1) s += hexWords(bytes, p + 2, p + optLen, "\n\t    ");
    o += optLen;
  }
  return s;
}

/**
 * tcpdump's words for the ICMPv6 message at `at` (`room` bytes captured, `length` long): what
 * follows "ICMP6, ", the ", length N" included (tcpdump leaves it out for some types with -v,
 * and moves it for neighbor discovery); null where ringcap does not print what tcpdump does.
 */
export function icmp6Text(bytes: Uint8Array, at: number, room: number, length: number, verbose: number): string | null {
  if (room < 4) return null;
  const type = bytes[at];
  const code = bytes[at + 1];
  const name = ICMP6_TYPES[type];
  if (name === undefined) return verbose > 1 ? null : `unknown icmp6 type (${type}), length ${length}${hexWords(bytes, at, at + Math.min(room, length))}`;
  const need = (n: number) => room >= n;
  const u16 = (o: number) => (bytes[at + o] << 8) | bytes[at + o + 1];
  const addr = (o: number) => formatIPv6(bytes, at + o);
  // Neighbor discovery with -v: the length right after the name, then the details and options.
  if (verbose > 0 && ((type >= 133 && type <= 137) || type === 145 || type === 147)) return ndVerbose(bytes, at, room, length, verbose);
  let s = name;
  switch (type) {
    case 1: {
      const words = ICMP6_UNREACH[code];
      if (words === undefined) return `${s}, unknown unreach code (${code})${verbose > 1 ? "" : hexWords(bytes, at, at + Math.min(room, length))}`;
      s += `, ${words}`;
      if (!need(48)) return null;
      if (code === 0 || code === 1 || code === 3) s += ` ${addr(32)}`;
      else if (code === 2) s += ` ${addr(32)}, source address ${addr(16)}`;
      else {
        // The quoted packet's upper layer: only straight after its fixed header here.
        const proto = bytes[at + 14];
        if (!need(52)) return null;
        const dport = u16(50);
        if (proto === 6 || proto === 17) s += `, ${addr(32)} ${proto === 6 ? "tcp" : "udp"} port ${dport}`;
        else return null;
      }
      break;
    }
    case 2:
      if (!need(8)) return null;
      s += `, mtu ${u32At(bytes, at + 4)}`;
      break;
    case 3:
      if (code === 0) {
        if (!need(48)) return null;
        s += ` for ${addr(32)}`;
      } else s += code === 1 ? " (reassembly)" : `, unknown code (${code})`;
      break;
    case 4: {
      if (!need(48)) return null;
      const kind = ["erroneous", "next header", "option", "incomplete header chain"][code];
      s += kind ? `, ${kind} - octet ${u32At(bytes, at + 4)}` : `, code-#${code}`;
      break;
    }
    case 128:
    case 129:
      if (!need(8)) return null;
      s += `, id ${u16(4)}, seq ${u16(6)}`;
      break;
    case 130:
      if (length === 24) {
        if (!need(24)) return null;
        s += `max resp delay: ${u16(4)} addr: ${addr(8)}`;
      } else if (length >= 28) {
        if (!need(28)) return null;
        const mrc = u16(4);
        const mrt = mrc < 32768 ? mrc : ((mrc & 0x0fff) | 0x1000) * 2 ** (((mrc & 0x7000) >> 12) + 3);
        s += " v2";
        if (verbose > 0) s += ` [max resp delay=${mrt}]`;
        s += ` [gaddr ${addr(8)}`;
        if (verbose > 0) {
          if (bytes[at + 24] & 0x08) s += " sflag";
          if (bytes[at + 24] & 0x07) s += ` robustness=${bytes[at + 24] & 0x07}`;
          const q = bytes[at + 25];
          s += ` qqi=${q < 128 ? q : ((q & 0x0f) | 0x10) * 2 ** (((q & 0x70) >> 4) + 3)}`;
        }
        const nsrcs = u16(26);
        if (nsrcs > 0) {
          if (length < 28 + nsrcs * 16) s += " [invalid number of sources]";
          else if (verbose > 1) {
            if (!need(28 + nsrcs * 16)) return null;
            s += " {";
            for (let k = 0; k < nsrcs; k++) s += ` ${addr(28 + 16 * k)}`;
            s += " }";
          } else s += `, ${nsrcs} source(s)`;
        }
        s += "]";
      } else s += ` unknown-version (len ${length}) `;
      break;
    case 131:
    case 132:
      if (!need(24)) return null;
      s += `max resp delay: ${u16(4)} addr: ${addr(8)}`;
      break;
    case 133:
    case 134:
    case 141:
    case 142:
      break;
    case 135:
      if (!need(24)) return null;
      s += `, who has ${addr(8)}`;
      break;
    case 136:
      if (!need(24)) return null;
      s += `, tgt is ${addr(8)}`;
      break;
    case 137:
      if (!need(40)) return null;
      // The destination follows the target in the message.
      s += `, ${addr(24)} to ${addr(8)}`;
      break;
    case 143: {
      if (length < 8) {
        s += ` [invalid len ${length}]`;
        break;
      }
      if (!need(8)) return null;
      const groups = u16(6);
      s += `, ${groups} group record(s)`;
      let g = 8;
      for (let i = 0; verbose > 0 && i < groups; i++) {
        if (length < g + 20) {
          s += " [invalid number of groups]";
          return s;
        }
        if (!need(g + 20)) return null;
        s += ` [gaddr ${addr(g + 4)} ${MLD2_RECORDS[bytes[at + g]] ?? ` [v2-report-#${bytes[at + g]}]`}`;
        const nsrcs = u16(g + 2);
        if (length < g + 20 + nsrcs * 16) {
          s += ` [invalid number of sources ${nsrcs}]`;
          return s;
        }
        if (verbose === 1) s += `, ${nsrcs} source(s)`;
        else {
          if (!need(g + 20 + nsrcs * 16)) return null;
          s += " {";
          for (let k = 0; k < nsrcs; k++) s += ` ${addr(g + 20 + 16 * k)}`;
          s += " }";
        }
        g += 20 + nsrcs * 16;
        s += "]";
      }
      break;
    }
    case 144:
    case 146:
      if (!need(6)) return null;
      s += `, id 0x${hex4(u16(4))}`;
      break;
    case 145:
    case 147:
      if (verbose > 0) return null;
      break;
    default:
      // Router renumbering, node information, RPL, mtrace: tcpdump decodes their bodies.
      return null;
  }
  return verbose > 0 ? s : `${s}, length ${length}`;
}

/** Four hex digits (a 16-bit number). */
export function hex4(n: number): string {
  return n.toString(16).padStart(4, "0");
}

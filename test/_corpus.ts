/**
 * A corpus of capture files built at test time, byte by byte (nothing binary is committed): the
 * same packets (IPv4 and IPv6 UDP, TCP, ICMP and ICMPv6, ARP, VLAN and QinQ tags, IPv6 extension
 * headers, IPv4 and IPv6 fragments, some longer than the snaplen) wrapped in each link layer
 * ringcap decodes (Ethernet, raw IP, Linux cooked v1 and v2, BSD and OpenBSD loopback) and
 * written as pcap in both byte orders with micro- and nanosecond timestamps, and as pcapng (one
 * or two interfaces). Addresses are 198.18.0.0/15 and 2001:db8::/32 only.
 */

const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
const ipv4 = (n: number) => [198, 18 + ((n >> 8) & 1), 0, n & 0xff];
const ipv6 = (n: number) => [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (n >> 8) & 0xff, n & 0xff];
const fill = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed + i * 7) & 0xff);

export const LT = { NULL: 0, ETHERNET: 1, RAW: 101, LOOP: 108, LINUX_SLL: 113, IPV4: 228, IPV6: 229, LINUX_SLL2: 276 } as const;

/** One packet above the link layer: its EtherType and bytes, the VLAN tags it travels with on Ethernet. */
export interface Payload {
  /** What it is, for failure messages. */
  name: string;
  etherType: number;
  bytes: number[];
  /** Outer first; only Ethernet frames carry them. */
  tags?: Array<[tpid: number, tci: number]>;
}

function udp(sport: number, dport: number, data: number[]): number[] {
  return [...u16(sport), ...u16(dport), ...u16(8 + data.length), 0, 0, ...data];
}
function tcp(sport: number, dport: number, seq: number, ack: number, flags: number, data: number[]): number[] {
  return [...u16(sport), ...u16(dport), ...u32(seq), ...u32(ack), 0x50, flags, ...u16(64240), 0, 0, 0, 0, ...data];
}
function icmpEcho(type: number, id: number, seq: number, data: number[]): number[] {
  return [type, 0, 0, 0, ...u16(id), ...u16(seq), ...data];
}
/** An IPv4 header and `body`; `frag`: [more fragments, offset in bytes], `total` overrides the length. */
function v4(src: number, dst: number, proto: number, body: number[], id: number, frag: [boolean, number] = [false, 0], total?: number): number[] {
  const flags = frag[0] || frag[1] ? (frag[0] ? 0x2000 : 0) | (frag[1] >> 3) : 0x4000;
  return [0x45, 0, ...u16(total ?? 20 + body.length), ...u16(id), ...u16(flags), 64, proto, 0, 0, ...ipv4(src), ...ipv4(dst), ...body];
}
/** An IPv6 header whose next header is `next`, then `body` (extension headers included). */
function v6(src: number, dst: number, next: number, body: number[]): number[] {
  return [0x60, 0, 0, 0, ...u16(body.length), next, 64, ...ipv6(src), ...ipv6(dst), ...body];
}
function arp(op: number, senderMac: number, sender: number, target: number): number[] {
  const mac = [2, 0, 0, 0, 0, senderMac];
  return [0, 1, 8, 0, 6, 4, ...u16(op), ...mac, ...ipv4(sender), ...(op === 1 ? [0, 0, 0, 0, 0, 0] : [2, 0, 0, 0, 0, 9]), ...ipv4(target)];
}

/** The corpus's packets, in file order (each file holds those its link layer can carry). */
export function payloads(): Payload[] {
  const list: Payload[] = [];
  const add = (name: string, etherType: number, bytes: number[], tags?: Payload["tags"]) => list.push({ name, etherType, bytes, tags });
  add("v4 udp", 0x0800, v4(1, 0x101, 17, udp(40000, 4433, fill(20, 1)), 1));
  add("v4 tcp syn", 0x0800, v4(2, 0x101, 6, tcp(40001, 443, 1000, 0, 0x02, []), 2));
  add("v4 tcp data (cut by the snaplen)", 0x0800, v4(2, 0x101, 6, tcp(40001, 443, 1001, 5001, 0x18, fill(300, 3)), 3));
  add("v4 tcp fin ack", 0x0800, v4(0x101, 2, 6, tcp(443, 40001, 5001, 1301, 0x11, []), 4));
  add("v4 tcp rst", 0x0800, v4(3, 0x102, 6, tcp(40002, 8443, 77, 0, 0x04, []), 5));
  add("v4 icmp echo request", 0x0800, v4(1, 0x102, 1, icmpEcho(8, 0x1234, 1, fill(32, 5)), 6));
  add("v4 icmp echo reply", 0x0800, v4(0x102, 1, 1, icmpEcho(0, 0x1234, 1, fill(32, 5)), 7));
  add("v6 udp", 0x86dd, v6(1, 0x101, 17, udp(40003, 4433, fill(40, 9))));
  add("v6 tcp syn", 0x86dd, v6(3, 0x101, 6, tcp(40004, 443, 9, 0, 0x02, [])));
  add("v6 icmp6 echo request", 0x86dd, v6(3, 0x102, 58, icmpEcho(128, 7, 2, fill(16, 2))));
  add("v6 icmp6 echo reply", 0x86dd, v6(0x102, 3, 58, icmpEcho(129, 7, 2, fill(16, 2))));
  // Hop-by-hop (a PadN option), then UDP; destination options and a routing header, then TCP.
  add("v6 hop-by-hop, udp", 0x86dd, v6(4, 0x101, 0, [17, 0, 1, 4, 0, 0, 0, 0, ...udp(40005, 4433, fill(12, 4))]));
  add("v6 dstopts + routing, tcp", 0x86dd, v6(4, 0x103, 60, [43, 0, 1, 4, 0, 0, 0, 0, 6, 2, 0, 1, 0, 0, 0, 0, ...ipv6(0x104), ...tcp(40006, 443, 55, 0, 0x02, [])]));
  // A 3000-byte UDP datagram in two IPv4 fragments, then in two IPv6 fragments.
  const big = udp(40007, 4433, fill(2992, 11));
  add("v4 first fragment (cut)", 0x0800, v4(5, 0x101, 17, big.slice(0, 1480), 0x77, [true, 0]));
  add("v4 later fragment (cut)", 0x0800, v4(5, 0x101, 17, big.slice(1480), 0x77, [false, 1480]));
  const frag6 = (more: boolean, offset: number, data: number[]) => v6(5, 0x101, 44, [17, 0, ...u16(offset | (more ? 1 : 0)), ...u32(0xabcd), ...data]);
  add("v6 first fragment (cut)", 0x86dd, frag6(true, 0, big.slice(0, 1448)));
  add("v6 later fragment (cut)", 0x86dd, frag6(false, 1448, big.slice(1448)));
  add("arp request", 0x0806, arp(1, 1, 1, 2));
  add("arp reply", 0x0806, arp(2, 9, 2, 1));
  add("vlan 100 v4 udp", 0x0800, v4(1, 0x101, 17, udp(40008, 4433, fill(8, 8)), 8), [[0x8100, 100]]);
  add("vlan 100 pcp 5 v4 tcp", 0x0800, v4(2, 0x101, 6, tcp(40009, 70, 3, 0, 0x02, []), 9), [[0x8100, 0xa000 | 100]]);
  add("vlan 200 v6 udp", 0x86dd, v6(1, 0x101, 17, udp(40010, 4433, fill(8, 8))), [[0x8100, 200]]);
  add("qinq 300/301 v4 udp", 0x0800, v4(3, 0x101, 17, udp(40011, 4433, fill(8, 8)), 10), [[0x88a8, 300], [0x8100, 301]]);
  add("qinq 300/302 v6 tcp", 0x86dd, v6(3, 0x101, 6, tcp(40012, 443, 3, 4, 0x10, [])), [[0x88a8, 300], [0x8100, 302]]);
  add("v4 udp near a full MTU (cut)", 0x0800, v4(0x101, 1, 17, udp(4433, 40000, fill(1400, 6)), 11));
  add("v6 tcp ack with data", 0x86dd, v6(0x101, 1, 6, tcp(443, 40003, 200, 10, 0x18, fill(60, 1))));
  // Segment routing (type 4) and AH before UDP; ESP ends what can be read; no next header.
  add("v6 segment routing, udp", 0x86dd, v6(6, 0x101, 43, [17, 4, 4, 1, 1, 0, 0, 7, ...ipv6(0x105), ...ipv6(0x101), ...udp(40013, 4433, fill(6, 2))]));
  add("v6 ah, udp", 0x86dd, v6(6, 0x101, 51, [17, 4, 0, 0, ...u32(0x1234), ...u32(5), ...fill(12, 7), ...udp(40014, 4433, fill(4, 1))]));
  add("v6 esp", 0x86dd, v6(6, 0x101, 50, [...u32(0x4321), ...u32(77), ...fill(40, 5)]));
  add("v4 esp", 0x0800, v4(6, 0x101, 50, [...u32(0xabcdef01), ...u32(78), ...fill(40, 5)], 12));
  add("v6 no next header", 0x86dd, v6(6, 0x101, 59, []));
  // Neighbor discovery and ICMP errors quoting the packet they are about.
  add("v6 neighbor solicitation", 0x86dd, v6(1, 0x102, 58, [135, 0, 0, 0, 0, 0, 0, 0, ...ipv6(0x102), 1, 1, 2, 0, 0, 0, 0, 1]));
  add("v6 neighbor advertisement", 0x86dd, v6(0x102, 1, 58, [136, 0, 0, 0, 0x60, 0, 0, 0, ...ipv6(0x102), 2, 1, 2, 0, 0, 0, 0, 2]));
  const quoted6 = v6(1, 0x109, 17, udp(40015, 4433, fill(4, 4)));
  add("v6 port unreachable", 0x86dd, v6(0x109, 1, 58, [1, 4, 0, 0, 0, 0, 0, 0, ...quoted6]));
  add("v6 packet too big", 0x86dd, v6(0x103, 1, 58, [2, 0, 0, 0, ...u32(1280), ...quoted6]));
  add("v6 time exceeded", 0x86dd, v6(0x103, 1, 58, [3, 0, 0, 0, 0, 0, 0, 0, ...quoted6]));
  const quoted4 = v4(1, 0x109, 17, udp(40016, 4433, fill(4, 4)), 13);
  add("v4 port unreachable", 0x0800, v4(0x109, 1, 1, [3, 3, 0, 0, 0, 0, 0, 0, ...quoted4], 14));
  add("v4 host unreachable", 0x0800, v4(0x103, 1, 1, [3, 1, 0, 0, 0, 0, 0, 0, ...quoted4], 15));
  add("v4 need to frag", 0x0800, v4(0x103, 1, 1, [3, 4, 0, 0, 0, 0, ...u16(1400), ...quoted4], 16));
  add("v4 time exceeded", 0x0800, v4(0x103, 1, 1, [11, 0, 0, 0, 0, 0, 0, 0, ...quoted4], 17));
  add("v4 redirect", 0x0800, v4(0x103, 1, 1, [5, 1, 0, 0, ...ipv4(0x104), ...quoted4], 18));
  // The local experimental EtherType: no printer knows it, tcpdump dumps it in hex.
  add("unknown ethertype 0x88b5", 0x88b5, fill(37, 3));
  add("vlan 100, unknown ethertype 0x88b5", 0x88b5, fill(20, 9), [[0x8100, 100]]);
  return list;
}

/** A packet as one link type frames it; `outgoing`/`ifindex` vary so `inbound` and `ifindex N` have something to tell apart. */
export interface Framed {
  name: string;
  frame: Uint8Array;
}

/** The BSD address family of an EtherType, as `host` byte order writes it into the 4-byte header. */
function familyBytes(etherType: number, littleEndian: boolean, linux6 = false): number[] {
  const family = etherType === 0x0800 ? 2 : linux6 ? 10 : 24;
  const b = u32(family);
  return littleEndian ? b.reverse() : b;
}

/**
 * The packets `link` can carry, framed for it. `hostLittleEndian` is the byte order of the
 * "capturing host" (DLT_NULL's family is in it).
 */
export function framesFor(link: number, hostLittleEndian = true): Framed[] {
  const out: Framed[] = [];
  payloads().forEach((p, i) => {
    const ip = p.etherType === 0x0800 || p.etherType === 0x86dd;
    const tagged = (p.tags?.length ?? 0) > 0;
    let head: number[];
    switch (link) {
      case LT.ETHERNET: {
        head = [2, 0, 0, 0, 0, 0x10 + (i % 3), 2, 0, 0, 0, 0, 1 + (i % 4)];
        if (p.etherType === 0x0806 && p.bytes[7] === 1) head.splice(0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
        for (const [tpid, tci] of p.tags ?? []) head.push(...u16(tpid), ...u16(tci));
        head.push(...u16(p.etherType));
        break;
      }
      case LT.RAW:
        if (!ip || tagged) return;
        head = [];
        break;
      case LT.IPV4:
      case LT.IPV6:
        if (tagged || p.etherType !== (link === LT.IPV4 ? 0x0800 : 0x86dd)) return;
        head = [];
        break;
      case LT.NULL:
        if (!ip || tagged) return;
        head = familyBytes(p.etherType, hostLittleEndian, i % 5 === 0);
        break;
      case LT.LOOP:
        if (!ip || tagged) return;
        head = familyBytes(p.etherType, false);
        break;
      case LT.LINUX_SLL: {
        if (tagged) return;
        // Packet types: host, outgoing, broadcast (the ARP request), otherhost.
        const pkttype = p.etherType === 0x0806 && p.bytes[7] === 1 ? 1 : [0, 4, 0, 3][i % 4];
        // Every seventh from a device without link-level addresses (a tun: ARPHRD_NONE, halen 0).
        const [hatype, halen] = i % 7 === 6 ? [0xfffe, 0] : [1, 6];
        head = [...u16(pkttype), ...u16(hatype), ...u16(halen), 2, 0, 0, 0, 0, 1 + (i % 4), 0, 0, ...u16(p.etherType)];
        break;
      }
      case LT.LINUX_SLL2: {
        if (tagged) return;
        const pkttype = p.etherType === 0x0806 && p.bytes[7] === 1 ? 1 : [0, 4, 0, 3][i % 4];
        // ifindex 1 (lo), 2 and a number no namespace here has (tcpdump then prints the number).
        const ifindex = [1, 2, 2, 7777][i % 4];
        const [hatype, halen] = i % 7 === 6 ? [0xfffe, 0] : [1, 6];
        head = [...u16(p.etherType), 0, 0, ...u32(ifindex), ...u16(hatype), pkttype, halen, 2, 0, 0, 0, 0, 1 + (i % 4), 0, 0];
        break;
      }
      default:
        throw new Error(`no framing for link type ${link}`);
    }
    out.push({ name: p.name, frame: new Uint8Array([...head, ...p.bytes]) });
  });
  return out;
}

/** The Unix time of packet `i` of every file: one second apart, so `-tt` lines name their packet. */
export const BASE_SEC = 1_700_000_000;
export function timeOf(i: number): { sec: number; nsec: number } {
  return { sec: BASE_SEC + i, nsec: ((i * 7919) % 1_000_000) * 1000 + (i % 3) * 111 };
}

/** A pcap file: header and records in either byte order, micro- or nanosecond fractions. */
export function pcapFile(link: number, snaplen: number, frames: Uint8Array[], o: { littleEndian: boolean; nano: boolean }): Uint8Array {
  const records = frames.map((f) => 16 + Math.min(f.length, snaplen)).reduce((a, b) => a + b, 0);
  const out = new Uint8Array(24 + records);
  const dv = new DataView(out.buffer);
  const le = o.littleEndian;
  dv.setUint32(0, o.nano ? 0xa1b23c4d : 0xa1b2c3d4, le);
  dv.setUint16(4, 2, le);
  dv.setUint16(6, 4, le);
  dv.setUint32(16, snaplen, le);
  dv.setUint32(20, link, le);
  let at = 24;
  frames.forEach((f, i) => {
    const t = timeOf(i);
    const caplen = Math.min(f.length, snaplen);
    dv.setUint32(at, t.sec, le);
    dv.setUint32(at + 4, o.nano ? t.nsec : Math.floor(t.nsec / 1000), le);
    dv.setUint32(at + 8, caplen, le);
    dv.setUint32(at + 12, f.length, le);
    out.set(f.subarray(0, caplen), at + 16);
    at += 16 + caplen;
  });
  return out;
}

/** One pcapng interface: its link type, snaplen and name. */
export interface NgInterface {
  link: number;
  snaplen: number;
  name: string;
}

/**
 * A pcapng file (one section, in either byte order, nanosecond resolution): an Interface
 * Description Block per interface, then an Enhanced Packet Block per frame, frame i on
 * interface `ifaceOf(i)`.
 */
export function pcapngFile(ifaces: NgInterface[], frames: Uint8Array[], littleEndian: boolean, ifaceOf: (i: number) => number = () => 0): Uint8Array {
  const parts: Uint8Array[] = [];
  const block = (type: number, body: Uint8Array) => {
    const total = 12 + body.length;
    const b = new Uint8Array(total);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, type, littleEndian);
    dv.setUint32(4, total, littleEndian);
    b.set(body, 8);
    dv.setUint32(total - 4, total, littleEndian);
    parts.push(b);
  };
  const pad4 = (n: number) => (n + 3) & ~3;
  // Section Header Block: byte-order magic, version 1.0, section length unknown (-1).
  const shb = new Uint8Array(16);
  const sdv = new DataView(shb.buffer);
  sdv.setUint32(0, 0x1a2b3c4d, littleEndian);
  sdv.setUint16(4, 1, littleEndian);
  sdv.setInt32(8, -1, littleEndian);
  sdv.setInt32(12, -1, littleEndian);
  block(0x0a0d0d0a, shb);
  for (const f of ifaces) {
    const name = new TextEncoder().encode(f.name);
    const body = new Uint8Array(8 + 4 + pad4(name.length) + 4 + 4 + 4);
    const dv = new DataView(body.buffer);
    dv.setUint16(0, f.link, littleEndian);
    dv.setUint32(4, f.snaplen, littleEndian);
    let at = 8;
    dv.setUint16(at, 2, littleEndian); // if_name
    dv.setUint16(at + 2, name.length, littleEndian);
    body.set(name, at + 4);
    at += 4 + pad4(name.length);
    dv.setUint16(at, 9, littleEndian); // if_tsresol: 10^-9
    dv.setUint16(at + 2, 1, littleEndian);
    body[at + 4] = 9;
    at += 8; // and opt_endofopt
    block(1, body);
  }
  frames.forEach((f, i) => {
    const iface = ifaceOf(i);
    const caplen = Math.min(f.length, ifaces[iface].snaplen);
    const body = new Uint8Array(20 + pad4(caplen));
    const dv = new DataView(body.buffer);
    const t = timeOf(i);
    const ns = BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
    dv.setUint32(0, iface, littleEndian);
    dv.setUint32(4, Number(ns >> 32n), littleEndian);
    dv.setUint32(8, Number(ns & 0xffffffffn), littleEndian);
    dv.setUint32(12, caplen, littleEndian);
    dv.setUint32(16, f.length, littleEndian);
    body.set(f.subarray(0, caplen), 20);
    block(6, body);
  });
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

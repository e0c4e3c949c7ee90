/**
 * Protocol decoders over one captured frame: Ethernet with up to any number of VLAN tags (or the
 * other link layers of {@link LINKTYPE}: raw IP, Linux cooked v1 and v2, BSD loopback), IPv4,
 * IPv6 with its extension headers, and TCP, UDP, ICMP, ICMPv6, SCTP and UDP-Lite. One
 * {@link PacketDecoder} is reused for every packet: `decode` overwrites plain number fields and
 * allocates nothing, so it can run once per packet at line rate.
 *
 * The decoder never trusts the frame. Every read is checked against the captured length first;
 * a header cut off by the snaplen sets `truncated`, a header whose own length fields contradict
 * each other sets `malformed`, and in both cases the fields that could not be read stay at their
 * "not present" value (-1, 0 or false). Nothing throws.
 *
 * @module
 */

/** EtherType values the decoder knows by name. Anything below 0x0600 is an 802.3 length, not a type. */
export const ETHERTYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  /** 802.1Q customer tag. */
  VLAN: 0x8100,
  IPV6: 0x86dd,
  /** 802.1ad service tag, the outer tag of QinQ. */
  QINQ: 0x88a8,
  /** The pre-standard QinQ outer tag some switches still send. */
  QINQ_LEGACY: 0x9100,
  MPLS: 0x8847,
  PPPOE_SESSION: 0x8864,
  LLDP: 0x88cc,
} as const;

/**
 * The pcap link types (LINKTYPE_*, a file header's or pcapng interface's `linkType`) the
 * decoder reads; {@link PacketDecoder.linkType} takes one of them.
 */
export const LINKTYPE = {
  /** BSD loopback: a 4-byte address family in the byte order of the host that captured. */
  NULL: 0,
  ETHERNET: 1,
  /** Raw IP (IPv4 or IPv6 by the version nibble). DLT 12 and 14 are old names for it. */
  RAW: 101,
  /** OpenBSD loopback: a 4-byte address family in network byte order. */
  LOOP: 108,
  /** Linux cooked capture v1 (16-byte header, `tcpdump -i any` before libpcap 1.10). */
  LINUX_SLL: 113,
  /** Raw IPv4 only. */
  IPV4: 228,
  /** Raw IPv6 only. */
  IPV6: 229,
  /** Linux cooked capture v2 (20-byte header with the interface index). */
  LINUX_SLL2: 276,
} as const;

/** Whether the decoder reads frames of link type `linkType` (see {@link LINKTYPE}; 12 and 14 are raw IP). */
export function decodesLinkType(linkType: number): boolean {
  return linkLayer(linkType) !== LINK_UNKNOWN;
}

// How the decoder reads a link type's header: one small number, so decode() branches on it once.
const LINK_ETHERNET = 0;
const LINK_RAW = 1;
const LINK_NULL = 2;
const LINK_LOOP = 3;
const LINK_SLL = 4;
const LINK_SLL2 = 5;
const LINK_IPV4 = 6;
const LINK_IPV6 = 7;
const LINK_UNKNOWN = 8;

function linkLayer(linkType: number): number {
  switch (linkType) {
    case LINKTYPE.ETHERNET:
      return LINK_ETHERNET;
    case LINKTYPE.RAW:
    case 12:
    case 14:
      return LINK_RAW;
    case LINKTYPE.NULL:
      return LINK_NULL;
    case LINKTYPE.LOOP:
      return LINK_LOOP;
    case LINKTYPE.LINUX_SLL:
      return LINK_SLL;
    case LINKTYPE.LINUX_SLL2:
      return LINK_SLL2;
    case LINKTYPE.IPV4:
      return LINK_IPV4;
    case LINKTYPE.IPV6:
      return LINK_IPV6;
    default:
      return LINK_UNKNOWN;
  }
}

/**
 * The EtherType of a BSD address family (DLT_NULL, DLT_LOOP): AF_INET is 2 everywhere, AF_INET6
 * is 24 (NetBSD, OpenBSD), 28 (FreeBSD) or 30 (macOS); -1 for anything else. Linux's AF_INET6
 * (10) is not IPv6 here, as it is not for libpcap's filters and tcpdump.
 */
function etherTypeOfFamily(family: number): number {
  if (family === 2) return ETHERTYPE.IPV4;
  if (family === 24 || family === 28 || family === 30) return ETHERTYPE.IPV6;
  return -1;
}

/** IP protocol numbers (IPv4 protocol field, IPv6 next header) the decoder knows by name. */
export const IPPROTO = {
  HOPOPTS: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  GRE: 47,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  MOBILITY: 135,
  SCTP: 132,
  UDPLITE: 136,
  HIP: 139,
  SHIM6: 140,
} as const;

/** TCP flag bits as reported in {@link PacketDecoder.tcpFlags}. */
export const TCP_FLAGS = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
  /** The former NS bit (RFC 3540), now AE (accurate ECN); it sits in byte 12 of the header. */
  AE: 0x100,
} as const;

/** Length of a flow key in 32-bit words (40 bytes), see {@link PacketDecoder.writeFlowKey}. */
export const FLOW_KEY_WORDS = 10;

/** Tags stacked deeper than this are treated as malformed rather than walked forever. */
const MAX_VLAN_TAGS = 16;
/** RFC 8200 sets no limit; real traffic rarely carries more than three. */
const MAX_IPV6_EXTENSION_HEADERS = 8;
/** In word 0 of a flow key: the ports in word 9 were read from the packet. */
const KEY_HAS_PORTS = 1;

/**
 * Decodes one frame at a time from the capture ring without allocating. Construct one per
 * loop (or per worker) and call {@link decode} for each packet; the fields describe the last
 * packet decoded until the next call. Offsets are relative to the frame's first byte.
 *
 * The address helpers (`srcAddress`, `flowKey`, ...) read the frame again, so call them
 * before the frame's block is released.
 *
 * @example Count bytes per flow without allocating per packet
 * ```ts
 * import { openCapture, PacketDecoder } from "ringcap";
 *
 * using cap = openCapture("eth0");
 * const d = new PacketDecoder();
 * const flows = new Map<number, { key: string; bytes: number }>();
 * for await (const block of cap.blocks({ signal: AbortSignal.timeout(5000) })) {
 *   for (const p of block) {
 *     d.decode(cap.bytes, cap.view, p.offset, p.caplen, p.vlanTci, p.vlanTpid);
 *     if (d.ipVersion === 0) continue;
 *     const h = d.flowHash();
 *     const f = flows.get(h);
 *     if (f) f.bytes += p.length;
 *     else flows.set(h, { key: d.flowKey(), bytes: p.length }); // "udp 198.18.0.1:10000 > 198.19.0.1:9"
 *   }
 * }
 * ```
 */
export class PacketDecoder {
  /**
   * The link type of the frames `decode` reads (a {@link LINKTYPE} value, as a pcap file gives
   * it). Set it before decoding; frames of a link type the decoder does not know decode to
   * nothing (`etherType` -1). @default LINKTYPE.ETHERNET
   */
  get linkType(): number {
    return this.#linkType;
  }
  set linkType(linkType: number) {
    if (linkType === this.#linkType) return;
    this.#linkType = linkType;
    this.#link = linkLayer(linkType);
  }
  /** Bytes of the frame the decoder may read: the caplen, clipped to the buffer. */
  caplen = 0;
  /** A header that should be there was cut off by the capture length (snaplen). */
  truncated = false;
  /** A header's length fields contradict each other or the enclosing header; decoding stopped there. */
  malformed = false;

  /** VLAN tags seen, the one the kernel stripped included. Only the first two are described below. */
  vlanCount = 0;
  /** The outer tag's VLAN id (0..4095), or -1 without tags. */
  vlanId = -1;
  /** The outer tag's priority code point (0..7), or -1 without tags. */
  vlanPriority = -1;
  /** The outer tag's TPID (0x8100, 0x88a8, 0x9100), or -1 without tags. */
  vlanTpid = -1;
  /** The second tag's VLAN id, or -1 with fewer than two tags. */
  innerVlanId = -1;
  /** The second tag's priority code point, or -1 with fewer than two tags. */
  innerVlanPriority = -1;
  /**
   * The EtherType after all tags, or -1 when cut off or when the frame carries an 802.3 length.
   * Other link types give theirs: the cooked header's protocol (which may be below 0x0600 there:
   * 0x0004 is 802.2 LLC), 0x0800 or 0x86dd for raw IP by its version nibble, and for the
   * loopbacks by the address family (-1 for a family that is not IP).
   */
  etherType = -1;
  /** Offset of the network header (after the link header and all tags), or -1 without an EtherType. */
  l3Offset = -1;

  /** 4 or 6 when an IP header was read, else 0. */
  ipVersion = 0;
  /** IPv4 source address as an unsigned 32-bit number, or -1 when not IPv4. */
  ipv4Src = -1;
  /** IPv4 destination address as an unsigned 32-bit number, or -1 when not IPv4. */
  ipv4Dst = -1;
  /** IPv4 protocol, or the IPv6 upper-layer protocol after the extension headers; -1 when unknown. */
  ipProtocol = -1;
  /** IPv4 TTL or IPv6 hop limit, or -1. */
  ttl = -1;
  /** IPv4: IHL * 4. IPv6: 40 plus the extension headers walked (the distance to the upper layer). */
  ipHeaderLength = -1;
  /**
   * The packet's length by its IP header: IPv4 total length, IPv6 40 + payload length. A zero
   * length field (BIG TCP, IPv6 jumbograms) falls back to the bytes captured from the IP header on.
   */
  ipTotalLength = -1;
  /** The packet is a fragment (IPv4 MF or offset set; IPv6 fragment header present). */
  isFragment = false;
  /** Fragment offset in bytes, -1 when not a fragment. Non-zero means no upper-layer header. */
  fragmentOffset = -1;

  /** Offset of the upper-layer header, or -1 (not IP, non-first fragment, header chain cut off). */
  l4Offset = -1;
  /** TCP, UDP, UDP-Lite or SCTP source port, or -1. */
  srcPort = -1;
  /** TCP, UDP, UDP-Lite or SCTP destination port, or -1. */
  dstPort = -1;
  /** TCP flags (see {@link TCP_FLAGS}, AE is 0x100), or -1. */
  tcpFlags = -1;
  /** TCP sequence number (unsigned), or -1. */
  tcpSeq = -1;
  /** TCP acknowledgement number (unsigned), or -1. */
  tcpAck = -1;
  /** TCP window (unscaled), or -1. */
  tcpWindow = -1;
  /** ICMP or ICMPv6 type, or -1. */
  icmpType = -1;
  /** ICMP or ICMPv6 code, or -1. */
  icmpCode = -1;
  /**
   * Offset of the upper-layer payload, or -1. For protocols the decoder does not parse (GRE,
   * ESP, ...) and for non-first fragments this is where the IP payload starts.
   */
  payloadOffset = -1;
  /** Captured payload bytes: clipped to the caplen and to the IP length (no Ethernet padding), or -1. */
  payloadLength = -1;

  #linkType: number = LINKTYPE.ETHERNET;
  #link = LINK_ETHERNET;
  #bytes: Uint8Array = EMPTY;
  #view: DataView = EMPTY_VIEW;
  #start = 0;
  /** Offsets of the IP source address (the destination follows it). */
  #addrAt = -1;
  #key = new Uint32Array(FLOW_KEY_WORDS);
  #keyValid = false;

  /**
   * Decodes the frame at `bytes[start, start + caplen)`. `bytes` and `view` cover the same
   * buffer (the whole ring); the frame may start at any byte. Pass the tag the kernel stripped
   * as `strippedTci` (-1 when none) and its TPID as `strippedTpid` (0 means 0x8100).
   * Returns `this` so fields can be read off the call.
   */
  decode(bytes: Uint8Array, view: DataView, start: number, caplen: number, strippedTci = -1, strippedTpid = 0): this {
    this.#clear();
    this.#bytes = bytes;
    this.#view = view;
    this.#start = start;
    let len = 0;
    if (Number.isInteger(start) && Number.isInteger(caplen) && start >= 0 && caplen > 0) {
      len = Math.min(caplen, bytes.length - start, view.byteLength - start);
      if (len < 0) len = 0;
    }
    this.caplen = len;
    const s = start;

    if (strippedTci >= 0) this.#tag(strippedTpid > 0 ? strippedTpid : ETHERTYPE.VLAN, strippedTci);
    if (this.#link !== LINK_ETHERNET) {
      this.#otherLink(bytes, view, s, len);
      return this;
    }
    if (len < 14) {
      this.truncated = true;
      return this;
    }
    let typeAt = 12;
    let type = view.getUint16(s + typeAt);
    while (type === ETHERTYPE.VLAN || type === ETHERTYPE.QINQ || type === ETHERTYPE.QINQ_LEGACY) {
      if (this.vlanCount >= MAX_VLAN_TAGS) {
        this.malformed = true;
        return this;
      }
      if (typeAt + 6 > len) {
        this.truncated = true;
        return this;
      }
      this.#tag(type, view.getUint16(s + typeAt + 2));
      typeAt += 4;
      type = view.getUint16(s + typeAt);
    }
    if (type < 0x0600) return this; // 802.3: a length, and LLC follows
    this.etherType = type;
    const l3 = typeAt + 2;
    this.l3Offset = l3;
    if (type === ETHERTYPE.IPV4) this.#ipv4(bytes, view, s, l3, len);
    else if (type === ETHERTYPE.IPV6) this.#ipv6(bytes, view, s, l3, len);
    return this;
  }

  /** A frame of any link type but Ethernet: the link header, then tags (cooked only), then IP. */
  #otherLink(bytes: Uint8Array, view: DataView, s: number, len: number): void {
    let type = -1;
    let l3 = 0;
    switch (this.#link) {
      case LINK_RAW:
      case LINK_IPV4:
      case LINK_IPV6: {
        if (len < 1) {
          this.truncated = true;
          return;
        }
        const version = bytes[s] >> 4;
        if (version === 4 && this.#link !== LINK_IPV6) type = ETHERTYPE.IPV4;
        else if (version === 6 && this.#link !== LINK_IPV4) type = ETHERTYPE.IPV6;
        else {
          this.malformed = true;
          return;
        }
        break;
      }
      case LINK_NULL:
      case LINK_LOOP: {
        if (len < 4) {
          this.truncated = true;
          return;
        }
        let family = view.getUint32(s, false);
        if (this.#link === LINK_NULL) {
          // Host byte order of the capturing host: a family is small, so a big value is swapped.
          family = view.getUint32(s, true);
          if (family > 0xffff) family = view.getUint32(s, false);
        }
        type = etherTypeOfFamily(family);
        if (type < 0) return;
        l3 = 4;
        break;
      }
      case LINK_SLL:
        if (len < 16) {
          this.truncated = true;
          return;
        }
        type = view.getUint16(s + 14);
        l3 = 16;
        break;
      case LINK_SLL2:
        if (len < 20) {
          this.truncated = true;
          return;
        }
        type = view.getUint16(s);
        l3 = 20;
        break;
      default:
        return;
    }
    // A cooked capture keeps a tag the driver did not strip after its header, as Ethernet does.
    while (type === ETHERTYPE.VLAN || type === ETHERTYPE.QINQ || type === ETHERTYPE.QINQ_LEGACY) {
      if (this.vlanCount >= MAX_VLAN_TAGS) {
        this.malformed = true;
        return;
      }
      if (l3 + 4 > len) {
        this.truncated = true;
        return;
      }
      this.#tag(type, view.getUint16(s + l3));
      type = view.getUint16(s + l3 + 2);
      l3 += 4;
    }
    this.etherType = type;
    this.l3Offset = l3;
    if (type === ETHERTYPE.IPV4) this.#ipv4(bytes, view, s, l3, len);
    else if (type === ETHERTYPE.IPV6) this.#ipv6(bytes, view, s, l3, len);
  }

  #clear(): void {
    this.caplen = 0;
    this.truncated = false;
    this.malformed = false;
    this.vlanCount = 0;
    this.vlanId = -1;
    this.vlanPriority = -1;
    this.vlanTpid = -1;
    this.innerVlanId = -1;
    this.innerVlanPriority = -1;
    this.etherType = -1;
    this.l3Offset = -1;
    this.ipVersion = 0;
    this.ipv4Src = -1;
    this.ipv4Dst = -1;
    this.ipProtocol = -1;
    this.ttl = -1;
    this.ipHeaderLength = -1;
    this.ipTotalLength = -1;
    this.isFragment = false;
    this.fragmentOffset = -1;
    this.l4Offset = -1;
    this.srcPort = -1;
    this.dstPort = -1;
    this.tcpFlags = -1;
    this.tcpSeq = -1;
    this.tcpAck = -1;
    this.tcpWindow = -1;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.payloadOffset = -1;
    this.payloadLength = -1;
    this.#addrAt = -1;
    this.#keyValid = false;
  }

  #tag(tpid: number, tci: number): void {
    const n = ++this.vlanCount;
    if (n === 1) {
      this.vlanTpid = tpid;
      this.vlanId = tci & 0x0fff;
      this.vlanPriority = (tci >> 13) & 7;
    } else if (n === 2) {
      this.innerVlanId = tci & 0x0fff;
      this.innerVlanPriority = (tci >> 13) & 7;
    }
  }

  #ipv4(bytes: Uint8Array, view: DataView, s: number, l3: number, len: number): void {
    if (l3 + 20 > len) {
      this.truncated = true;
      return;
    }
    const versionIhl = bytes[s + l3];
    const ihl = (versionIhl & 0x0f) * 4;
    let total = view.getUint16(s + l3 + 2);
    // A zero total length is how Linux marks IPv4 BIG TCP packets (larger than 64 KiB).
    if (total === 0) total = len - l3;
    if (versionIhl >> 4 !== 4 || ihl < 20 || total < ihl) {
      this.malformed = true;
      return;
    }
    this.ipVersion = 4;
    this.ipHeaderLength = ihl;
    this.ipTotalLength = total;
    this.ttl = bytes[s + l3 + 8];
    this.ipProtocol = bytes[s + l3 + 9];
    this.ipv4Src = view.getUint32(s + l3 + 12);
    this.ipv4Dst = view.getUint32(s + l3 + 16);
    this.#addrAt = l3 + 12;
    const frag = view.getUint16(s + l3 + 6);
    const offset = (frag & 0x1fff) * 8;
    if (offset !== 0 || (frag & 0x2000) !== 0) {
      this.isFragment = true;
      this.fragmentOffset = offset;
    }
    if (l3 + ihl > len) {
      this.truncated = true;
      return;
    }
    this.#upper(bytes, view, s, l3 + ihl, l3 + total, len, this.ipProtocol, offset !== 0);
  }

  #ipv6(bytes: Uint8Array, view: DataView, s: number, l3: number, len: number): void {
    if (l3 + 40 > len) {
      this.truncated = true;
      return;
    }
    if (bytes[s + l3] >> 4 !== 6) {
      this.malformed = true;
      return;
    }
    let next = bytes[s + l3 + 6];
    const payload = view.getUint16(s + l3 + 4);
    // Zero with something following is a jumbogram or IPv6 BIG TCP: the capture is all we know.
    const total = payload === 0 && next !== IPPROTO.NONE ? len - l3 : 40 + payload;
    const end = l3 + total;
    this.ipVersion = 6;
    this.ipTotalLength = total;
    this.ttl = bytes[s + l3 + 7];
    this.#addrAt = l3 + 8;
    let at = l3 + 40;
    for (let walked = 0; ; walked++) {
      let size: number;
      switch (next) {
        case IPPROTO.HOPOPTS:
        case IPPROTO.ROUTING:
        case IPPROTO.DSTOPTS:
        case IPPROTO.MOBILITY:
        case IPPROTO.HIP:
        case IPPROTO.SHIM6:
          size = at + 2 <= len ? (bytes[s + at + 1] + 1) * 8 : 8;
          break;
        case IPPROTO.AH:
          size = at + 2 <= len ? (bytes[s + at + 1] + 2) * 4 : 8;
          break;
        case IPPROTO.FRAGMENT:
          size = 8;
          break;
        default:
          this.ipHeaderLength = at - l3;
          this.#upper(bytes, view, s, at, end, len, next, false);
          return;
      }
      if (walked === MAX_IPV6_EXTENSION_HEADERS || at + size > end) {
        this.malformed = true;
        return;
      }
      if (at + size > len) {
        this.truncated = true;
        return;
      }
      const header = next;
      next = bytes[s + at];
      if (header === IPPROTO.FRAGMENT) {
        const field = view.getUint16(s + at + 2);
        this.isFragment = true;
        this.fragmentOffset = field & 0xfff8;
        if (this.fragmentOffset !== 0) {
          this.ipHeaderLength = at + size - l3;
          this.#upper(bytes, view, s, at + size, end, len, next, true);
          return;
        }
      }
      at += size;
    }
  }

  /** The upper layer at `l4`, inside an IP packet ending at `end`, of a capture `len` long. */
  #upper(bytes: Uint8Array, view: DataView, s: number, l4: number, end: number, len: number, protocol: number, laterFragment: boolean): void {
    this.ipProtocol = protocol;
    const dataEnd = end < len ? end : len;
    if (laterFragment) {
      this.payloadOffset = l4;
      this.payloadLength = dataEnd > l4 ? dataEnd - l4 : 0;
      return;
    }
    this.l4Offset = l4;
    let header: number;
    switch (protocol) {
      case IPPROTO.TCP:
        header = 20;
        break;
      case IPPROTO.UDP:
      case IPPROTO.UDPLITE:
        header = 8;
        break;
      case IPPROTO.SCTP:
        header = 12;
        break;
      case IPPROTO.ICMP:
      case IPPROTO.ICMPV6:
        header = 8;
        break;
      default:
        this.payloadOffset = l4;
        this.payloadLength = dataEnd - l4;
        return;
    }
    if (l4 + header > end) {
      this.malformed = true;
      return;
    }
    if (protocol === IPPROTO.ICMP || protocol === IPPROTO.ICMPV6) {
      // Type and code are worth having even when the rest of the header was cut off.
      if (l4 + 2 <= len) {
        this.icmpType = bytes[s + l4];
        this.icmpCode = bytes[s + l4 + 1];
      }
    }
    if (l4 + header > len) {
      this.truncated = true;
      return;
    }
    let payloadAt = l4 + header;
    let payloadEnd = dataEnd;
    switch (protocol) {
      case IPPROTO.TCP: {
        const offsetByte = bytes[s + l4 + 12];
        this.srcPort = view.getUint16(s + l4);
        this.dstPort = view.getUint16(s + l4 + 2);
        this.tcpSeq = view.getUint32(s + l4 + 4);
        this.tcpAck = view.getUint32(s + l4 + 8);
        this.tcpFlags = bytes[s + l4 + 13] | ((offsetByte & 1) << 8);
        this.tcpWindow = view.getUint16(s + l4 + 14);
        const dataOffset = (offsetByte >> 4) * 4;
        if (dataOffset < 20 || l4 + dataOffset > end) {
          this.malformed = true;
          return;
        }
        if (l4 + dataOffset > len) {
          this.truncated = true;
          return;
        }
        payloadAt = l4 + dataOffset;
        break;
      }
      case IPPROTO.UDP:
      case IPPROTO.UDPLITE:
      case IPPROTO.SCTP: {
        this.srcPort = view.getUint16(s + l4);
        this.dstPort = view.getUint16(s + l4 + 2);
        // UDP's own length can be shorter than IP's (trailing bytes); UDP-Lite's is a coverage.
        if (protocol === IPPROTO.UDP) {
          const udpLength = view.getUint16(s + l4 + 4);
          if (udpLength >= 8 && l4 + udpLength < payloadEnd) payloadEnd = l4 + udpLength;
        }
        break;
      }
    }
    this.payloadOffset = payloadAt;
    this.payloadLength = payloadEnd > payloadAt ? payloadEnd - payloadAt : 0;
  }

  /** The flow key words, computed once per decoded packet. */
  #flowKey(): Uint32Array {
    const k = this.#key;
    if (this.#keyValid) return k;
    this.#keyValid = true;
    k.fill(0);
    const version = this.ipVersion;
    if (version === 0) {
      k[0] = this.etherType & 0xffff;
      return k;
    }
    const hasPorts = this.srcPort >= 0;
    k[0] = ((version << 24) | ((this.ipProtocol & 0xff) << 16) | (hasPorts ? KEY_HAS_PORTS : 0)) >>> 0;
    if (version === 4) {
      k[1] = this.ipv4Src;
      k[5] = this.ipv4Dst;
    } else {
      const view = this.#view;
      const at = this.#start + this.#addrAt;
      // The destination follows the source: words 1-4, then 5-8.
      for (let i = 0; i < 8; i++) k[1 + i] = view.getUint32(at + i * 4);
    }
    if (hasPorts) k[9] = ((this.srcPort << 16) | this.dstPort) >>> 0;
    return k;
  }

  /**
   * A 32-bit hash of the flow: protocol, source and destination address and ports. Every packet
   * of a flow gets the same hash; the two directions of a connection get different ones.
   * Packets without ports (ICMP, non-first fragments) hash by protocol and addresses; packets
   * that are not IP hash by EtherType. Different flows can collide: confirm with
   * {@link flowKeyEquals} where that matters. Zero allocation.
   */
  flowHash(): number {
    const k = this.#flowKey();
    let h = 0x9747b28c;
    for (let i = 0; i < FLOW_KEY_WORDS; i++) {
      let w = Math.imul(k[i], 0xcc9e2d51);
      w = (w << 15) | (w >>> 17);
      h ^= Math.imul(w, 0x1b873593);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }

  /**
   * Writes the flow key ({@link FLOW_KEY_WORDS} words, 40 bytes) to `out[at, at + 10)`:
   * word 0 holds IP version, protocol and a has-ports bit (or the EtherType for non-IP
   * frames), words 1-4 the source and 5-8 the destination address (IPv4 in the first word of
   * each), word 9 the source port in the high and destination port in the low half. Keep keys
   * in one big Uint32Array, compare with {@link flowKeyEquals}, print with {@link formatFlowKey}.
   *
   * @example An exact flow table without a string per packet
   * ```ts
   * const keys = new Uint32Array(FLOW_KEY_WORDS * 65536);
   * const slots = new Map<number, number[]>(); // hash -> slots with that hash
   * let used = 0;
   * function slotOf(d: PacketDecoder): number {
   *   const h = d.flowHash();
   *   const same = slots.get(h);
   *   if (same) for (const slot of same) if (d.flowKeyEquals(keys, slot * FLOW_KEY_WORDS)) return slot;
   *   d.writeFlowKey(keys, used * FLOW_KEY_WORDS);
   *   if (same) same.push(used);
   *   else slots.set(h, [used]);
   *   return used++;
   * }
   * ```
   */
  writeFlowKey(out: Uint32Array, at = 0): void {
    out.set(this.#flowKey(), at);
  }

  /** True when `key[at, at + 10)` (written by {@link writeFlowKey}) is this packet's flow. */
  flowKeyEquals(key: Uint32Array, at = 0): boolean {
    const k = this.#flowKey();
    if (at < 0 || at + FLOW_KEY_WORDS > key.length) return false;
    for (let i = 0; i < FLOW_KEY_WORDS; i++) if (key[at + i] !== k[i]) return false;
    return true;
  }

  /**
   * The flow as text, e.g. `udp 198.18.0.1:10000 > 198.19.0.1:9`,
   * `tcp [2001:db8::1]:443 > [2001:db8::2]:50000`, `icmp 198.18.0.1 > 198.19.0.1`,
   * `ip6 2001:db8::1 > 2001:db8::2 proto 47`, `ether 0x0806`. Allocates: call it once per flow.
   */
  flowKey(): string {
    return formatFlowKey(this.#flowKey(), 0);
  }

  /** The IP source address as text ("198.18.0.1", "2001:db8::1"), or "" when not IP. */
  srcAddress(): string {
    if (this.ipVersion === 4) return formatIPv4(this.ipv4Src);
    if (this.ipVersion === 6) return formatIPv6(this.#bytes, this.#start + this.#addrAt);
    return "";
  }

  /** The IP destination address as text, or "" when not IP. */
  dstAddress(): string {
    if (this.ipVersion === 4) return formatIPv4(this.ipv4Dst);
    if (this.ipVersion === 6) return formatIPv6(this.#bytes, this.#start + this.#addrAt + 16);
    return "";
  }
}

const EMPTY = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer);

/**
 * Dotted-quad text of an IPv4 address held as an unsigned 32-bit number; "" for -1 (absent).
 *
 * @example
 * ```ts
 * formatIPv4(0xc6120001); // "198.18.0.1"
 * ```
 */
export function formatIPv4(n: number): string {
  if (!(n >= 0 && n <= 0xffffffff)) return "";
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** Eight 16-bit groups, reused by the formatters (they run one at a time). */
const groups = [0, 0, 0, 0, 0, 0, 0, 0];

function formatGroups(): string {
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 section 5).
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${groups[6] >>> 8}.${groups[6] & 0xff}.${groups[7] >>> 8}.${groups[7] & 0xff}`;
  }
  // The longest run of two or more zero groups becomes "::", the first one on a tie.
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestAt) {
      text += "::";
      i += bestLength - 1;
      continue;
    }
    if (text !== "" && !text.endsWith(":")) text += ":";
    text += groups[i].toString(16);
  }
  return text;
}

/**
 * RFC 5952 text of the IPv6 address in `bytes[offset, offset + 16)`: lower-case hex, no
 * leading zeros, the longest run of zero groups shortened to "::" (never a single group).
 *
 * @example
 * ```ts
 * formatIPv6(new Uint8Array([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]), 0); // "2001:db8::1"
 * ```
 */
export function formatIPv6(bytes: Uint8Array, offset: number): string {
  if (!(offset >= 0) || offset + 16 > bytes.length) return "";
  for (let i = 0; i < 8; i++) groups[i] = (bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1];
  return formatGroups();
}

const PROTOCOL_NAMES: Record<number, string> = {
  [IPPROTO.ICMP]: "icmp",
  [IPPROTO.TCP]: "tcp",
  [IPPROTO.UDP]: "udp",
  [IPPROTO.ICMPV6]: "icmp6",
  [IPPROTO.SCTP]: "sctp",
  [IPPROTO.UDPLITE]: "udplite",
};

/** A flow key's parts, as {@link flowTuple} reads them. */
export interface FlowTuple {
  /** 4 or 6; 0 for frames that are not IP (then only `etherType` is set). */
  ipVersion: 0 | 4 | 6;
  /** IP protocol number, or -1 when not IP. */
  protocol: number;
  /** Lower-case protocol name ("tcp", "udp", "icmp6", ...), or "" when it has none here. */
  protocolName: string;
  /** Source address as text ("198.18.0.1", "2001:db8::1"), "" when not IP. */
  src: string;
  dst: string;
  /** Ports, or -1 for protocols without them (and later fragments). */
  srcPort: number;
  dstPort: number;
  /** The EtherType of a frame that is not IP, else -1. */
  etherType: number;
}

/**
 * The parts of a flow key written by {@link PacketDecoder.writeFlowKey}: for labelling a flow
 * long after its packets were released. Returns null for an `at` outside the array.
 *
 * @example
 * ```ts
 * const key = new Uint32Array(FLOW_KEY_WORDS);
 * decoder.writeFlowKey(key);
 * flowTuple(key); // { ipVersion: 4, protocol: 6, protocolName: "tcp", src: "198.18.0.1", srcPort: 40000, ... }
 * ```
 */
export function flowTuple(key: Uint32Array, at = 0): FlowTuple | null {
  if (at < 0 || at + FLOW_KEY_WORDS > key.length) return null;
  const head = key[at];
  const version = head >>> 24;
  if (version !== 4 && version !== 6) {
    return { ipVersion: 0, protocol: -1, protocolName: "", src: "", dst: "", srcPort: -1, dstPort: -1, etherType: head & 0xffff };
  }
  const protocol = (head >>> 16) & 0xff;
  let src: string;
  let dst: string;
  if (version === 4) {
    src = formatIPv4(key[at + 1]);
    dst = formatIPv4(key[at + 5]);
  } else {
    for (let i = 0; i < 4; i++) {
      groups[2 * i] = key[at + 1 + i] >>> 16;
      groups[2 * i + 1] = key[at + 1 + i] & 0xffff;
    }
    src = formatGroups();
    for (let i = 0; i < 4; i++) {
      groups[2 * i] = key[at + 5 + i] >>> 16;
      groups[2 * i + 1] = key[at + 5 + i] & 0xffff;
    }
    dst = formatGroups();
  }
  const hasPorts = (head & KEY_HAS_PORTS) !== 0;
  const ports = key[at + 9];
  return {
    ipVersion: version,
    protocol,
    protocolName: PROTOCOL_NAMES[protocol] ?? "",
    src,
    dst,
    srcPort: hasPorts ? ports >>> 16 : -1,
    dstPort: hasPorts ? ports & 0xffff : -1,
    etherType: -1,
  };
}

/**
 * The text of a flow key written by {@link PacketDecoder.writeFlowKey}, the same text
 * {@link PacketDecoder.flowKey} gives for the packet. For printing a flow table long after
 * its packets were released.
 *
 * @example
 * ```ts
 * const key = new Uint32Array(FLOW_KEY_WORDS);
 * decoder.writeFlowKey(key);
 * formatFlowKey(key); // "tcp 198.18.0.1:40000 > 198.19.0.1:443"
 * ```
 */
export function formatFlowKey(key: Uint32Array, at = 0): string {
  const t = flowTuple(key, at);
  if (t === null) return "";
  if (t.ipVersion === 0) return `ether 0x${t.etherType.toString(16).padStart(4, "0")}`;
  if (t.protocolName === "") return `${t.ipVersion === 4 ? "ip" : "ip6"} ${t.src} > ${t.dst} proto ${t.protocol}`;
  if (t.srcPort < 0) return `${t.protocolName} ${t.src} > ${t.dst}`;
  if (t.ipVersion === 6) return `${t.protocolName} [${t.src}]:${t.srcPort} > [${t.dst}]:${t.dstPort}`;
  return `${t.protocolName} ${t.src}:${t.srcPort} > ${t.dst}:${t.dstPort}`;
}

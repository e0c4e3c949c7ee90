// The protocol decoders against frames built with known fields, then against broken ones.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodesLinkType, ETHERTYPE, FLOW_KEY_WORDS, formatFlowKey, formatIPv4, formatIPv6, IPPROTO, LINKTYPE, PacketDecoder } from "../src/decode.ts";
import { openFile } from "../src/file.ts";
import { PcapWriter } from "../src/pcap.ts";
import { buildFrame, type FrameSpec, parseIPv6, placeAt } from "./_frames.ts";

/** Odd, so nothing can rely on alignment, and far from 0, so offsets must be relative. */
const START = 1001;

function decode(frame: Uint8Array, opts: { caplen?: number; tci?: number; tpid?: number } = {}): PacketDecoder {
  const { bytes, view } = placeAt(frame, START, START + frame.length + 77);
  return new PacketDecoder().decode(bytes, view, START, opts.caplen ?? frame.length, opts.tci ?? -1, opts.tpid ?? 0);
}

const v4 = { src: "198.18.0.1", dst: "198.19.0.1" };
const v6 = { src: "2001:db8:0:1::1", dst: "2001:db8:0:2::1" };
const payload16 = Array.from({ length: 16 }, (_, i) => i + 1);

describe("IPv4", () => {
  test("a UDP datagram gives its addresses, ports, TTL and payload", () => {
    const frame = buildFrame({ ipv4: { ...v4, ttl: 33 }, udp: { src: 10000, dst: 9 }, payload: payload16 });
    const d = decode(frame);
    expect(d.etherType).toBe(ETHERTYPE.IPV4);
    expect([d.l3Offset, d.ipVersion, d.ipHeaderLength, d.ipTotalLength, d.ttl]).toEqual([14, 4, 20, 44, 33]);
    expect([d.ipv4Src, d.ipv4Dst]).toEqual([0xc6120001, 0xc6130001]);
    expect([d.ipProtocol, d.l4Offset, d.srcPort, d.dstPort]).toEqual([IPPROTO.UDP, 34, 10000, 9]);
    expect([d.payloadOffset, d.payloadLength]).toEqual([42, 16]);
    expect([d.srcAddress(), d.dstAddress()]).toEqual(["198.18.0.1", "198.19.0.1"]);
    expect([d.truncated, d.malformed, d.isFragment, d.fragmentOffset, d.vlanCount]).toEqual([false, false, false, -1, 0]);
    expect([d.tcpFlags, d.tcpSeq, d.icmpType]).toEqual([-1, -1, -1]);
  });

  test("a TCP segment gives flags, sequence, acknowledgement, window, and its payload after the options", () => {
    const options = [2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2]; // MSS, NOP, window scale, SACK permitted
    const frame = buildFrame({
      ipv4: v4,
      tcp: { src: 40000, dst: 443, seq: 0xfedcba98, ack: 0x80000001, flags: 0x12 | 0x100, window: 29200, options },
      payload: [9, 9, 9],
    });
    const d = decode(frame);
    expect([d.ipProtocol, d.srcPort, d.dstPort]).toEqual([IPPROTO.TCP, 40000, 443]);
    expect([d.tcpSeq, d.tcpAck, d.tcpFlags, d.tcpWindow]).toEqual([0xfedcba98, 0x80000001, 0x112, 29200]);
    expect([d.l4Offset, d.payloadOffset, d.payloadLength]).toEqual([34, 34 + 32, 3]);
  });

  test("header options (IHL 7) move the upper layer and stay inside ipHeaderLength", () => {
    const frame = buildFrame({ ipv4: { ...v4, options: [0x94, 4, 0, 0, 1, 1, 1, 0] }, udp: { src: 1, dst: 2 }, payload: [7] });
    const d = decode(frame);
    expect([d.ipHeaderLength, d.l4Offset, d.srcPort, d.dstPort, d.payloadOffset, d.payloadLength]).toEqual([28, 42, 1, 2, 50, 1]);
  });

  test("an ICMP echo request gives type and code and no ports", () => {
    const d = decode(buildFrame({ ipv4: v4, icmp: { type: 8, code: 0 }, payload: payload16 }));
    expect([d.ipProtocol, d.icmpType, d.icmpCode, d.srcPort, d.dstPort]).toEqual([IPPROTO.ICMP, 8, 0, -1, -1]);
    expect([d.l4Offset, d.payloadOffset, d.payloadLength]).toEqual([34, 42, 16]);
    expect(d.flowKey()).toBe("icmp 198.18.0.1 > 198.19.0.1");
  });

  test("the first fragment has ports, a later fragment has none and its data is the payload", () => {
    const first = decode(buildFrame({ ipv4: { ...v4, moreFragments: true }, udp: { src: 5, dst: 6 }, payload: payload16 }));
    expect([first.isFragment, first.fragmentOffset, first.srcPort, first.dstPort, first.l4Offset]).toEqual([true, 0, 5, 6, 34]);
    const later = decode(buildFrame({ ipv4: { ...v4, fragmentOffset: 24, protocol: IPPROTO.UDP }, payload: payload16 }));
    expect([later.isFragment, later.fragmentOffset, later.ipProtocol]).toEqual([true, 24, IPPROTO.UDP]);
    expect([later.l4Offset, later.srcPort, later.payloadOffset, later.payloadLength]).toEqual([-1, -1, 34, 16]);
    expect(later.flowKey()).toBe("udp 198.18.0.1 > 198.19.0.1");
  });

  test("Ethernet padding is not payload: a 44-byte packet in a 60-byte frame has 16 payload bytes", () => {
    const frame = buildFrame({ ipv4: v4, udp: { src: 10000, dst: 9 }, payload: payload16, padTo: 60 });
    expect(frame.length).toBe(60);
    const d = decode(frame);
    expect([d.ipTotalLength, d.payloadLength]).toEqual([44, 16]);
    const tiny = decode(buildFrame({ ipv4: v4, tcp: { src: 1, dst: 2 }, padTo: 60 }));
    expect([tiny.payloadOffset, tiny.payloadLength]).toEqual([54, 0]);
  });

  test("a UDP length shorter than the IP length ends the payload", () => {
    const frame = buildFrame({ ipv4: v4, udp: { src: 1, dst: 2 }, payload: payload16 });
    new DataView(frame.buffer).setUint16(38, 8 + 4);
    expect(decode(frame).payloadLength).toBe(4);
  });

  test("a zero total length (BIG TCP) falls back to the captured length", () => {
    const d = decode(buildFrame({ ipv4: { ...v4, totalLength: 0 }, tcp: { src: 1, dst: 2 }, payload: payload16 }));
    expect([d.malformed, d.ipTotalLength, d.srcPort, d.payloadLength]).toEqual([false, 56, 1, 16]);
  });

  test("IHL below 5 is malformed: no IP fields at all", () => {
    const d = decode(buildFrame({ ipv4: { ...v4, ihl: 4 }, udp: { src: 1, dst: 2 } }));
    expect([d.malformed, d.ipVersion, d.ipv4Src, d.ipProtocol, d.l4Offset, d.etherType]).toEqual([true, 0, -1, -1, -1, 0x0800]);
  });

  test("a total length shorter than the header is malformed", () => {
    const d = decode(buildFrame({ ipv4: { ...v4, totalLength: 19 }, udp: { src: 1, dst: 2 } }));
    expect([d.malformed, d.ipVersion, d.srcPort]).toEqual([true, 0, -1]);
  });

  test("a total length that leaves no room for the UDP header is malformed and gives no ports", () => {
    const d = decode(buildFrame({ ipv4: { ...v4, totalLength: 24 }, udp: { src: 1, dst: 2 } }));
    expect([d.malformed, d.ipVersion, d.l4Offset, d.srcPort, d.payloadLength]).toEqual([true, 4, 34, -1, -1]);
  });

  test("a version nibble that is not 4 under EtherType IPv4 is malformed", () => {
    const frame = buildFrame({ ipv4: v4, udp: { src: 1, dst: 2 } });
    frame[14] = 0x65;
    expect([decode(frame).malformed, decode(frame).ipVersion]).toEqual([true, 0]);
  });

  test("a TCP data offset below 5 keeps the fixed fields but gives no payload", () => {
    const frame = buildFrame({ ipv4: v4, tcp: { src: 1, dst: 2, flags: 0x02 } });
    frame[34 + 12] = 0x40;
    const d = decode(frame);
    expect([d.malformed, d.srcPort, d.tcpFlags, d.payloadOffset]).toEqual([true, 1, 2, -1]);
  });
});

describe("snaplen truncation", () => {
  const frame = buildFrame({ ipv4: v4, tcp: { src: 40000, dst: 443, options: [2, 4, 5, 0xb4] }, payload: payload16 });

  test("a payload cut by the snaplen is clipped, and the headers are not truncated", () => {
    const d = decode(frame, { caplen: 64 });
    expect([d.truncated, d.srcPort, d.payloadOffset, d.payloadLength, d.ipTotalLength]).toEqual([false, 40000, 58, 6, 60]);
  });

  test("TCP options cut off: the fixed header is read, the payload is not present", () => {
    const d = decode(frame, { caplen: 56 });
    expect([d.truncated, d.srcPort, d.tcpWindow, d.payloadOffset, d.payloadLength]).toEqual([true, 40000, 65535, -1, -1]);
  });

  test("a TCP header cut in the middle gives no TCP fields", () => {
    const d = decode(frame, { caplen: 40 });
    expect([d.truncated, d.ipVersion, d.l4Offset, d.srcPort, d.tcpFlags]).toEqual([true, 4, 34, -1, -1]);
  });

  test("an IP header cut off leaves only the Ethernet fields", () => {
    const d = decode(frame, { caplen: 30 });
    expect([d.truncated, d.etherType, d.l3Offset, d.ipVersion, d.ipv4Src]).toEqual([true, 0x0800, 14, 0, -1]);
  });

  test("fewer than 14 bytes give no EtherType", () => {
    for (const caplen of [0, 1, 13]) {
      const d = decode(frame, { caplen });
      expect([d.truncated, d.etherType, d.l3Offset]).toEqual([true, -1, -1]);
    }
  });

  test("a caplen beyond the buffer is clipped to the buffer", () => {
    const { bytes, view } = placeAt(frame, START);
    const d = new PacketDecoder().decode(bytes, view, START, 10_000);
    expect([d.caplen, d.payloadLength]).toEqual([frame.length, 16]);
  });

  test("a start outside the buffer, or a negative or fractional caplen, decodes as nothing", () => {
    const { bytes, view } = placeAt(frame, START);
    const d = new PacketDecoder();
    for (const [start, caplen] of [[bytes.length + 5, 60], [-1, 60], [START, -3], [START, 1.5], [Number.NaN, 60]]) {
      expect([d.decode(bytes, view, start, caplen).caplen, d.etherType, d.truncated]).toEqual([0, -1, true]);
    }
  });
});

describe("IPv6", () => {
  test("a UDP datagram gives compressed addresses, hop limit and the payload", () => {
    const d = decode(buildFrame({ ipv6: { ...v6, hopLimit: 7 }, udp: { src: 53, dst: 5353 }, payload: payload16 }));
    expect([d.etherType, d.ipVersion, d.ttl, d.ipHeaderLength, d.ipTotalLength]).toEqual([0x86dd, 6, 7, 40, 64]);
    expect([d.ipProtocol, d.l4Offset, d.srcPort, d.dstPort, d.payloadOffset, d.payloadLength]).toEqual([17, 54, 53, 5353, 62, 16]);
    expect([d.srcAddress(), d.dstAddress(), d.ipv4Src]).toEqual(["2001:db8:0:1::1", "2001:db8:0:2::1", -1]);
    expect(d.flowKey()).toBe("udp [2001:db8:0:1::1]:53 > [2001:db8:0:2::1]:5353");
  });

  test("TCP is found through hop-by-hop, routing and destination options headers", () => {
    const frame = buildFrame({
      ipv6: { ...v6, extensions: [{ type: "hop" }, { type: "routing", size: 24 }, { type: "dest", size: 16 }] },
      tcp: { src: 443, dst: 50000, seq: 7, flags: 0x18 },
      payload: [1, 2, 3],
    });
    const d = decode(frame);
    expect([d.ipProtocol, d.ipHeaderLength, d.l4Offset, d.srcPort, d.dstPort, d.tcpSeq, d.tcpFlags]).toEqual([6, 88, 102, 443, 50000, 7, 0x18]);
    expect([d.payloadOffset, d.payloadLength, d.malformed, d.truncated]).toEqual([122, 3, false, false]);
  });

  test("a first fragment has its upper layer, a later one has none", () => {
    const first = decode(buildFrame({ ipv6: { ...v6, extensions: [{ type: "fragment", offset: 0, more: true }] }, udp: { src: 1, dst: 2 } }));
    expect([first.isFragment, first.fragmentOffset, first.ipProtocol, first.l4Offset, first.srcPort]).toEqual([true, 0, 17, 62, 1]);
    const later = decode(buildFrame({
      ipv6: { ...v6, protocol: IPPROTO.UDP, extensions: [{ type: "hop" }, { type: "fragment", offset: 1448 }] },
      payload: payload16,
    }));
    expect([later.isFragment, later.fragmentOffset, later.ipProtocol, later.ipHeaderLength]).toEqual([true, 1448, 17, 56]);
    expect([later.l4Offset, later.srcPort, later.payloadOffset, later.payloadLength]).toEqual([-1, -1, 70, 16]);
  });

  test("an ICMPv6 echo request gives type and code", () => {
    const d = decode(buildFrame({ ipv6: v6, icmpv6: { type: 128, code: 0 }, payload: [1, 2] }));
    expect([d.ipProtocol, d.icmpType, d.icmpCode, d.srcPort, d.payloadLength]).toEqual([IPPROTO.ICMPV6, 128, 0, -1, 2]);
    expect(d.flowKey()).toBe("icmp6 2001:db8:0:1::1 > 2001:db8:0:2::1");
  });

  test("an unknown upper layer is all payload, and named by number in the flow key", () => {
    const d = decode(buildFrame({ ipv6: { ...v6, protocol: IPPROTO.GRE }, payload: payload16 }));
    expect([d.ipProtocol, d.l4Offset, d.payloadOffset, d.payloadLength]).toEqual([47, 54, 54, 16]);
    expect(d.flowKey()).toBe("ip6 2001:db8:0:1::1 > 2001:db8:0:2::1 proto 47");
  });

  test("more than eight extension headers are malformed, not walked forever", () => {
    const extensions = Array.from({ length: 9 }, () => ({ type: "dest" as const }));
    const d = decode(buildFrame({ ipv6: { ...v6, extensions }, udp: { src: 1, dst: 2 } }));
    expect([d.malformed, d.ipVersion, d.ipProtocol, d.srcPort]).toEqual([true, 6, -1, -1]);
    const eight = decode(buildFrame({ ipv6: { ...v6, extensions: extensions.slice(1) }, udp: { src: 1, dst: 2 } }));
    expect([eight.malformed, eight.srcPort]).toEqual([false, 1]);
  });

  test("an extension header longer than the payload length is malformed", () => {
    const d = decode(buildFrame({ ipv6: { ...v6, payloadLength: 12, extensions: [{ type: "hop", size: 16 }] }, udp: { src: 1, dst: 2 } }));
    expect([d.malformed, d.ipProtocol, d.l4Offset]).toEqual([true, -1, -1]);
  });

  test("an extension header cut off by the snaplen is truncated", () => {
    const frame = buildFrame({ ipv6: { ...v6, extensions: [{ type: "hop", size: 16 }] }, udp: { src: 1, dst: 2 } });
    const d = decode(frame, { caplen: 14 + 40 + 10 });
    expect([d.truncated, d.malformed, d.ipVersion, d.ipProtocol]).toEqual([true, false, 6, -1]);
  });
});

describe("VLAN tags", () => {
  const ip = { ipv4: v4, udp: { src: 10000, dst: 9 }, payload: [1, 2, 3, 4] } satisfies FrameSpec;

  test("an 802.1Q tag gives id, priority and TPID, and moves the IP header by 4", () => {
    const d = decode(buildFrame({ ...ip, vlans: [{ id: 100, priority: 5 }] }));
    expect([d.vlanCount, d.vlanId, d.vlanPriority, d.vlanTpid, d.innerVlanId]).toEqual([1, 100, 5, 0x8100, -1]);
    expect([d.etherType, d.l3Offset, d.l4Offset, d.srcPort]).toEqual([0x0800, 18, 38, 10000]);
  });

  test("QinQ gives the 802.1ad outer tag and the 802.1Q inner tag", () => {
    const d = decode(buildFrame({ ...ip, vlans: [{ tpid: 0x88a8, id: 300, priority: 1 }, { id: 42, priority: 6 }] }));
    expect([d.vlanCount, d.vlanId, d.vlanPriority, d.vlanTpid, d.innerVlanId, d.innerVlanPriority]).toEqual([2, 300, 1, 0x88a8, 42, 6]);
    expect([d.l3Offset, d.ipVersion, d.dstPort]).toEqual([22, 4, 9]);
  });

  test("VLAN 0 keeps its priority bits", () => {
    const d = decode(buildFrame({ ...ip, vlans: [{ id: 0, priority: 3 }] }));
    expect([d.vlanCount, d.vlanId, d.vlanPriority]).toEqual([1, 0, 3]);
  });

  test("three tags are all counted; the first two are described", () => {
    const d = decode(buildFrame({ ...ip, vlans: [{ tpid: 0x88a8, id: 1 }, { id: 2 }, { id: 3 }] }));
    expect([d.vlanCount, d.vlanId, d.innerVlanId, d.l3Offset, d.srcPort]).toEqual([3, 1, 2, 26, 10000]);
  });

  test("a tag stripped by the kernel counts as the outer tag", () => {
    const d = decode(buildFrame(ip), { tci: (5 << 13) | 100, tpid: 0x8100 });
    expect([d.vlanCount, d.vlanId, d.vlanPriority, d.vlanTpid, d.l3Offset, d.srcPort]).toEqual([1, 100, 5, 0x8100, 14, 10000]);
  });

  test("a stripped 802.1ad tag with the inner tag left in the bytes gives both", () => {
    const d = decode(buildFrame({ ...ip, vlans: [{ id: 42 }] }), { tci: 300, tpid: 0x88a8 });
    expect([d.vlanCount, d.vlanId, d.vlanTpid, d.innerVlanId, d.ipVersion, d.l3Offset]).toEqual([2, 300, 0x88a8, 42, 4, 18]);
  });

  test("a stripped tag without a TPID is taken as 802.1Q", () => {
    const d = decode(buildFrame(ip), { tci: 7 });
    expect([d.vlanTpid, d.vlanId, d.vlanPriority]).toEqual([0x8100, 7, 0]);
  });

  test("a tag cut off by the snaplen is truncated and gives no EtherType", () => {
    const d = decode(buildFrame({ ...ip, vlans: [{ id: 100 }] }), { caplen: 16 });
    expect([d.truncated, d.vlanCount, d.etherType, d.l3Offset]).toEqual([true, 0, -1, -1]);
  });

  test("a frame of nothing but tags stops at sixteen as malformed", () => {
    const tags = Array.from({ length: 40 }, (_, i) => ({ id: i }));
    const d = decode(buildFrame({ etherType: 0x8100, vlans: tags, padTo: 200 }));
    expect([d.malformed, d.vlanCount, d.etherType]).toEqual([true, 16, -1]);
  });
});

describe("non-IP frames", () => {
  test("ARP gives its EtherType and network offset, and nothing above", () => {
    const d = decode(buildFrame({ etherType: ETHERTYPE.ARP, payload: Array(28).fill(1), padTo: 60 }));
    expect([d.etherType, d.l3Offset, d.ipVersion, d.ipProtocol, d.l4Offset, d.payloadLength, d.truncated]).toEqual([0x0806, 14, 0, -1, -1, -1, false]);
    expect([d.srcAddress(), d.flowKey()]).toEqual(["", "ether 0x0806"]);
  });

  test("an 802.3 length field is not an EtherType", () => {
    const d = decode(buildFrame({ etherType: 46, payload: Array(46).fill(0xaa) }));
    expect([d.etherType, d.l3Offset, d.truncated, d.malformed]).toEqual([-1, -1, false, false]);
  });

  test("a reused decoder forgets everything about the previous packet", () => {
    const { bytes, view } = placeAt(buildFrame({ ipv4: v4, vlans: [{ id: 9 }], tcp: { src: 1, dst: 2 } }), START);
    const arp = placeAt(buildFrame({ etherType: ETHERTYPE.ARP, payload: Array(28).fill(1) }), START);
    const d = new PacketDecoder();
    const tcpHash = d.decode(bytes, view, START, bytes.length - START).flowHash();
    const fresh = new PacketDecoder().decode(arp.bytes, arp.view, START, arp.bytes.length - START);
    d.decode(arp.bytes, arp.view, START, arp.bytes.length - START);
    expect(snapshot(d)).toEqual(snapshot(fresh));
    expect(d.flowHash()).toBe(fresh.flowHash());
    expect(d.flowHash()).not.toBe(tcpHash);
  });
});

describe("flows", () => {
  const a = { ipv4: v4, udp: { src: 10000, dst: 9 } } satisfies FrameSpec;

  test("packets of one flow share hash and key whatever their payload, padding or VLAN", () => {
    const frames = [
      buildFrame({ ...a, payload: [1] }),
      buildFrame({ ...a, payload: payload16, padTo: 60 }),
      buildFrame({ ...a, vlans: [{ id: 5 }], payload: Array(300).fill(7) }),
    ];
    const ds = frames.map((f) => decode(f));
    expect(new Set(ds.map((d) => d.flowHash())).size).toBe(1);
    expect(new Set(ds.map((d) => d.flowKey()))).toEqual(new Set(["udp 198.18.0.1:10000 > 198.19.0.1:9"]));
  });

  test("a different port, address, protocol or direction is a different flow", () => {
    const specs: FrameSpec[] = [
      a,
      { ...a, udp: { src: 10001, dst: 9 } },
      { ...a, udp: { src: 9, dst: 10000 } },
      { ...a, ipv4: { src: "198.18.0.2", dst: "198.19.0.1" } },
      { ...a, ipv4: { src: "198.19.0.1", dst: "198.18.0.1" }, udp: { src: 9, dst: 10000 } },
      { ipv4: v4, tcp: { src: 10000, dst: 9 } },
      { ipv4: v4, icmp: { type: 8, code: 0 } },
      { ipv6: v6, udp: { src: 10000, dst: 9 } },
      { ipv6: { src: v6.dst, dst: v6.src }, udp: { src: 10000, dst: 9 } },
      { etherType: ETHERTYPE.ARP, payload: [0] },
    ];
    const ds = specs.map((s) => decode(buildFrame(s)));
    expect(new Set(ds.map((d) => d.flowHash())).size).toBe(specs.length);
    expect(new Set(ds.map((d) => d.flowKey())).size).toBe(specs.length);
  });

  test("writeFlowKey, flowKeyEquals and formatFlowKey agree with the decoded packet", () => {
    const keys = new Uint32Array(FLOW_KEY_WORDS * 3);
    const tcp6 = decode(buildFrame({ ipv6: v6, tcp: { src: 443, dst: 50000 } }));
    tcp6.writeFlowKey(keys, FLOW_KEY_WORDS);
    expect(tcp6.flowKeyEquals(keys, FLOW_KEY_WORDS)).toBe(true);
    expect(tcp6.flowKeyEquals(keys, 0)).toBe(false);
    expect(tcp6.flowKeyEquals(keys, FLOW_KEY_WORDS * 3 - 5)).toBe(false);
    expect(formatFlowKey(keys, FLOW_KEY_WORDS)).toBe(tcp6.flowKey());
    expect(tcp6.flowKey()).toBe("tcp [2001:db8:0:1::1]:443 > [2001:db8:0:2::1]:50000");
    const udp4 = decode(buildFrame({ ...a, payload: [1, 2] }));
    udp4.writeFlowKey(keys, 0);
    expect(decode(buildFrame({ ...a, payload: [3] })).flowKeyEquals(keys, 0)).toBe(true);
    expect(formatFlowKey(keys, 0)).toBe("udp 198.18.0.1:10000 > 198.19.0.1:9");
  });
});

describe("address text", () => {
  const v6text = (text: string) => formatIPv6(Uint8Array.from(parseIPv6(text)), 0);

  test("formatIPv6 compresses the longest zero run per RFC 5952", () => {
    expect(v6text("0:0:0:0:0:0:0:1")).toBe("::1");
    expect(v6text("0:0:0:0:0:0:0:0")).toBe("::");
    expect(v6text("2001:db8:0:0:0:0:0:0")).toBe("2001:db8::");
    expect(v6text("2001:db8:0:1:0:0:0:5")).toBe("2001:db8:0:1::5");
    expect(v6text("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
    expect(v6text("2001:db8:0:0:1:0:0:0")).toBe("2001:db8:0:0:1::");
    expect(v6text("fe80:0:0:0:abcd:ef01:2:3")).toBe("fe80::abcd:ef01:2:3");
    expect(v6text("0:0:0:0:0:ffff:c612:1")).toBe("::ffff:198.18.0.1");
  });

  test("formatIPv6 does not compress a single zero group and writes lower-case hex without leading zeros", () => {
    expect(v6text("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1");
    expect(v6text("2001:DB8:00AB:1:0:1:1:1")).toBe("2001:db8:ab:1:0:1:1:1");
  });

  test("formatIPv6 reads at an offset and refuses to read past the end", () => {
    const bytes = new Uint8Array(20);
    bytes.set(parseIPv6("::1"), 3);
    expect(formatIPv6(bytes, 3)).toBe("::1");
    expect(formatIPv6(bytes, 5)).toBe("");
  });

  test("formatIPv4 writes dotted quads, and nothing for an absent address", () => {
    expect([formatIPv4(0xc6120001), formatIPv4(0), formatIPv4(0xffffffff), formatIPv4(-1)]).toEqual(["198.18.0.1", "0.0.0.0", "255.255.255.255", ""]);
  });
});

// ---- fuzzing: never throw, never read past the capture ----

const FIELDS = [
  "caplen", "truncated", "malformed", "vlanCount", "vlanId", "vlanPriority", "vlanTpid", "innerVlanId",
  "innerVlanPriority", "etherType", "l3Offset", "ipVersion", "ipv4Src", "ipv4Dst", "ipProtocol", "ttl",
  "ipHeaderLength", "ipTotalLength", "isFragment", "fragmentOffset", "l4Offset", "srcPort", "dstPort",
  "tcpFlags", "tcpSeq", "tcpAck", "tcpWindow", "icmpType", "icmpCode", "payloadOffset", "payloadLength",
] as const satisfies ReadonlyArray<keyof PacketDecoder>;

function snapshot(d: PacketDecoder): unknown[] {
  return FIELDS.map((f) => d[f]);
}

/** Offsets the decoder reports lie inside what it was allowed to read. */
function assertInside(d: PacketDecoder, caplen: number): void {
  for (const at of [d.l3Offset, d.l4Offset, d.payloadOffset]) if (at !== -1 && !(at >= 0 && at <= caplen)) throw new Error(`offset ${at} beyond caplen ${caplen}`);
  if (d.payloadLength !== -1 && !(d.payloadLength >= 0 && d.payloadOffset + d.payloadLength <= caplen)) {
    throw new Error(`payload ${d.payloadOffset}+${d.payloadLength} beyond caplen ${caplen}`);
  }
  if (d.payloadLength !== -1 && d.ipTotalLength !== -1 && d.payloadOffset + d.payloadLength > d.l3Offset + d.ipTotalLength) {
    throw new Error("payload beyond the IP length");
  }
}

/** xorshift32: the same cases on every run. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

/**
 * Decodes `frame[0, caplen)` three ways: in a buffer that ends exactly at the capture (so any
 * DataView read past it throws), and followed by 0x00 or 0xff filler. Equal results show the
 * decoder never looked at a byte past the capture.
 */
function decodeEveryWay(d: PacketDecoder, frame: Uint8Array, caplen: number, start: number, tci: number, tpid: number): unknown[] {
  const exact = placeAt(frame, start, start + caplen);
  d.decode(exact.bytes, exact.view, start, caplen, tci, tpid);
  assertInside(d, caplen);
  const seen = snapshot(d);
  const hash = d.flowHash();
  d.flowKey();
  d.srcAddress();
  d.dstAddress();
  for (const fill of [0x00, 0xff]) {
    const roomy = placeAt(frame.subarray(0, caplen), start, start + caplen + 64, fill);
    d.decode(roomy.bytes, roomy.view, start, caplen, tci, tpid);
    if (!Bun.deepEquals(snapshot(d), seen) || d.flowHash() !== hash) {
      throw new Error(`bytes past caplen ${caplen} changed the result for frame ${Buffer.from(frame).toString("hex")}`);
    }
  }
  return seen;
}

const VALID: Array<{ name: string; frame: Uint8Array; tci?: number; tpid?: number }> = [
  { name: "IPv4 UDP", frame: buildFrame({ ipv4: v4, udp: { src: 10000, dst: 9 }, payload: payload16, padTo: 60 }) },
  { name: "IPv4 TCP", frame: buildFrame({ ipv4: { ...v4, options: [1, 1, 1, 0] }, tcp: { src: 1, dst: 2, options: [2, 4, 5, 0xb4] }, payload: [1] }) },
  { name: "IPv4 ICMP", frame: buildFrame({ ipv4: v4, icmp: { type: 0, code: 0 }, payload: [1, 2] }) },
  { name: "IPv4 fragment", frame: buildFrame({ ipv4: { ...v4, fragmentOffset: 8, protocol: 6 }, payload: payload16 }) },
  { name: "QinQ IPv4", frame: buildFrame({ ipv4: v4, vlans: [{ tpid: 0x88a8, id: 1 }, { id: 2 }], udp: { src: 3, dst: 4 } }) },
  { name: "stripped tag", frame: buildFrame({ ipv4: v4, vlans: [{ id: 2 }], tcp: { src: 3, dst: 4 } }), tci: 1, tpid: 0x88a8 },
  { name: "IPv6 chain", frame: buildFrame({ ipv6: { ...v6, extensions: [{ type: "hop" }, { type: "routing", size: 24 }, { type: "fragment", offset: 0, more: true }, { type: "dest" }] }, tcp: { src: 1, dst: 2 }, payload: [5, 6] }) },
  { name: "IPv6 later fragment", frame: buildFrame({ ipv6: { ...v6, protocol: 17, extensions: [{ type: "fragment", offset: 64 }] }, payload: payload16 }) },
  { name: "ICMPv6", frame: buildFrame({ ipv6: v6, icmpv6: { type: 135, code: 0 }, payload: payload16 }) },
  { name: "ARP", frame: buildFrame({ etherType: ETHERTYPE.ARP, payload: Array(28).fill(1) }) },
];

describe("fuzzing", () => {
  test("every truncation of every valid frame decodes without throwing or reading past the capture", () => {
    const d = new PacketDecoder();
    let cases = 0;
    let expected = 0;
    for (const { name, frame, tci = -1, tpid = 0 } of VALID) {
      expected += frame.length + 1;
      const full = decodeEveryWay(d, frame, frame.length, START, tci, tpid);
      expect({ name, malformed: full[FIELDS.indexOf("malformed")], truncated: full[FIELDS.indexOf("truncated")] }).toEqual({ name, malformed: false, truncated: false });
      for (let caplen = 0; caplen <= frame.length; caplen++, cases++) decodeEveryWay(d, frame, caplen, START, tci, tpid);
    }
    expect(cases).toBe(expected);
  });

  test("20,000 random frames, some built on valid headers, decode without throwing or reading past the capture", () => {
    const random = prng(0x5eed);
    const d = new PacketDecoder();
    for (let i = 0; i < 20_000; i++) {
      let frame: Uint8Array;
      if (i % 2 === 0) {
        frame = new Uint8Array(Math.floor(random() * 160));
        for (let j = 0; j < frame.length; j++) frame[j] = random() * 256;
        // Steer half the pure noise past Ethernet into the interesting EtherTypes.
        if (frame.length >= 14 && i % 4 === 0) {
          const type = [0x0800, 0x86dd, 0x8100, 0x88a8][i % 16 >> 2];
          frame[12] = type >> 8;
          frame[13] = type & 0xff;
          if (frame.length > 14) frame[14] = (type === 0x86dd ? 0x60 : 0x40) | (frame[14] & 0x0f);
        }
      } else {
        // A valid frame with a few bytes flipped: deep paths with lying length fields.
        frame = VALID[i % VALID.length].frame.slice();
        for (let k = 0, flips = 1 + Math.floor(random() * 4); k < flips; k++) frame[Math.floor(random() * frame.length)] = random() * 256;
      }
      const caplen = random() < 0.5 ? frame.length : Math.floor(random() * (frame.length + 1));
      const start = 1 + Math.floor(random() * 64);
      const tci = random() < 0.2 ? Math.floor(random() * 0x10000) : -1;
      decodeEveryWay(d, frame, caplen, start, tci, tci >= 0 ? 0x88a8 : 0);
    }
  });
});

describe("link types other than Ethernet", () => {
  const udp4 = buildFrame({ ipv4: v4, udp: { src: 10000, dst: 9 }, payload: payload16 }).subarray(14);
  const tcp6 = buildFrame({ ipv6: v6, tcp: { src: 40000, dst: 443, flags: 0x02 } }).subarray(14);
  const withHead = (head: number[], ip: Uint8Array) => new Uint8Array([...head, ...ip]);
  function decodeAs(linkType: number, frame: Uint8Array, caplen = frame.length): PacketDecoder {
    const { bytes, view } = placeAt(frame, START, START + frame.length + 77);
    const d = new PacketDecoder();
    d.linkType = linkType;
    return d.decode(bytes, view, START, caplen);
  }

  test("a decoder reads Ethernet until told otherwise, and knows which link types it reads", () => {
    expect(new PacketDecoder().linkType).toBe(LINKTYPE.ETHERNET);
    for (const lt of [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]) expect(decodesLinkType(lt)).toBe(true);
    for (const lt of [105, 127, 147, -1, 0x10000]) expect(decodesLinkType(lt)).toBe(false);
  });

  test("raw IP starts at byte 0 with the EtherType of its version; raw IPv4 and IPv6 take only theirs", () => {
    for (const lt of [LINKTYPE.RAW, 12, 14, LINKTYPE.IPV4]) {
      const d = decodeAs(lt, udp4);
      expect([d.etherType, d.l3Offset, d.ipVersion, d.l4Offset, d.srcPort, d.dstPort, d.payloadLength]).toEqual([0x0800, 0, 4, 20, 10000, 9, 16]);
      expect(d.flowKey()).toBe("udp 198.18.0.1:10000 > 198.19.0.1:9");
    }
    const d6 = decodeAs(LINKTYPE.IPV6, tcp6);
    expect([d6.etherType, d6.l3Offset, d6.ipVersion, d6.srcPort, d6.tcpFlags]).toEqual([0x86dd, 0, 6, 40000, 0x02]);
    expect([decodeAs(LINKTYPE.IPV6, udp4).malformed, decodeAs(LINKTYPE.IPV4, tcp6).malformed, decodeAs(LINKTYPE.RAW, new Uint8Array([0x25])).malformed]).toEqual([true, true, true]);
    expect(decodeAs(LINKTYPE.RAW, udp4, 0).truncated).toBe(true);
  });

  test("Linux cooked v1 and v2 give the header's protocol and the network layer after 16 and 20 bytes", () => {
    const sll = withHead([0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00], udp4);
    const d = decodeAs(LINKTYPE.LINUX_SLL, sll);
    expect([d.etherType, d.l3Offset, d.ipv4Src, d.srcPort]).toEqual([0x0800, 16, 0xc6120001, 10000]);
    const sll2 = withHead([0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0], tcp6);
    const d2 = decodeAs(LINKTYPE.LINUX_SLL2, sll2);
    expect([d2.etherType, d2.l3Offset, d2.ipVersion, d2.dstPort]).toEqual([0x86dd, 20, 6, 443]);
    expect(d2.srcAddress()).toBe(v6.src);
    // A tag the driver left in the packet follows the cooked header, as in Ethernet.
    const tagged = withHead([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x81, 0x00, 0xa0, 100, 0x08, 0x00], udp4);
    const t = decodeAs(LINKTYPE.LINUX_SLL, tagged);
    expect([t.vlanCount, t.vlanId, t.vlanPriority, t.etherType, t.l3Offset, t.srcPort]).toEqual([1, 100, 5, 0x0800, 20, 10000]);
    // 802.2 LLC (protocol 4) is no IP.
    const llc = decodeAs(LINKTYPE.LINUX_SLL, withHead([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0, 4], udp4));
    expect([llc.etherType, llc.ipVersion]).toEqual([4, 0]);
    expect([decodeAs(LINKTYPE.LINUX_SLL, sll, 15).truncated, decodeAs(LINKTYPE.LINUX_SLL2, sll2, 19).truncated]).toEqual([true, true]);
  });

  test("loopback families: DLT_NULL in either byte order, DLT_LOOP in network order; Linux's AF_INET6 is no IP", () => {
    for (const head of [[2, 0, 0, 0], [0, 0, 0, 2]]) expect(decodeAs(LINKTYPE.NULL, withHead(head, udp4)).ipv4Dst).toBe(0xc6130001);
    for (const family of [24, 28, 30]) {
      const d = decodeAs(LINKTYPE.NULL, withHead([family, 0, 0, 0], tcp6));
      expect([d.etherType, d.l3Offset, d.ipVersion, d.srcPort]).toEqual([0x86dd, 4, 6, 40000]);
      expect(decodeAs(LINKTYPE.LOOP, withHead([0, 0, 0, family], tcp6)).ipVersion).toBe(6);
    }
    const linux = decodeAs(LINKTYPE.NULL, withHead([10, 0, 0, 0], tcp6));
    expect([linux.etherType, linux.l3Offset, linux.ipVersion, linux.truncated, linux.malformed]).toEqual([-1, -1, 0, false, false]);
    // DLT_LOOP's family is always big-endian: a little-endian 2 is a huge family, not IPv4.
    expect(decodeAs(LINKTYPE.LOOP, withHead([2, 0, 0, 0], udp4)).ipVersion).toBe(0);
    expect(decodeAs(LINKTYPE.NULL, withHead([2, 0, 0, 0], udp4), 3).truncated).toBe(true);
  });

  test("an unknown link type decodes to nothing, and a decoder switched back reads Ethernet again", () => {
    const d = decodeAs(147, udp4);
    expect([d.etherType, d.l3Offset, d.ipVersion, d.truncated, d.malformed]).toEqual([-1, -1, 0, false, false]);
    const eth = buildFrame({ ipv4: v4, udp: { src: 1, dst: 2 } });
    const { bytes, view } = placeAt(eth, START);
    d.linkType = LINKTYPE.ETHERNET;
    expect(d.decode(bytes, view, START, eth.length).dstPort).toBe(2);
  });

  test("PacketView.decode() of a saved file reads its frames by the file's link type", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ringcap-decode-"));
    try {
      const path = join(dir, "sll2.pcap");
      const frame = withHead([0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0], udp4);
      const w = PcapWriter.open(path, { linkType: LINKTYPE.LINUX_SLL2 });
      w.write(frame, frame.length, 1, 0);
      w.close();
      await using f = await openFile(path);
      let seen = 0;
      for await (const block of f.blocks()) {
        for (const p of block) {
          const d = p.decode();
          expect([d.linkType, d.l3Offset, d.srcPort, d.dstPort]).toEqual([LINKTYPE.LINUX_SLL2, 20, 10000, 9]);
          seen++;
        }
      }
      expect(seen).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Saved files for the file-source tests (fanout over a file): frames of many flows in both
// directions, each ending with its 32-bit index in the file, written as pcap (PcapWriter) or as
// a pcapng with two interfaces (built here). Test-only. No root needed.
import { writeFileSync } from "node:fs";
import { PcapWriter } from "../src/pcap.ts";
import { buildFrame, type FrameSpec } from "./_frames.ts";
import { prng } from "./_prng.ts";

export interface TestPacket {
  frame: Uint8Array;
  /** pcapng: the interface (0 or 1). */
  iface: number;
}

/**
 * `count` frames over `flows` conversations (UDP and TCP over IPv4, UDP over IPv6, UDP behind a
 * VLAN tag), each packet in a random direction, plus ARP frames now and then; sizes vary.
 */
export function testPackets(count: number, flows = 40, seed = 7): TestPacket[] {
  const rnd = prng(seed);
  const out: TestPacket[] = [];
  for (let i = 0; i < count; i++) {
    const f = Math.floor(rnd() * flows);
    const size = 60 + Math.floor(rnd() * 600);
    const index = [(i >>> 24) & 0xff, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff];
    let spec: FrameSpec;
    if (i % 97 === 5) {
      spec = { etherType: 0x0806, payload: [...new Array(42).fill(1), ...index] };
    } else {
      const back = rnd() < 0.5;
      const a = { ip: `198.18.${f}.1`, ip6: `2001:db8::${f.toString(16)}:1`, port: 10000 + f };
      const b = { ip: `198.19.${f}.2`, ip6: `2001:db8:1::${f.toString(16)}:2`, port: 20000 + f * 7 };
      const [s, d] = back ? [b, a] : [a, b];
      const payload = [...new Array(Math.max(0, size - 80)).fill(0x5a), ...index];
      const kind = f % 4;
      const ports = { src: s.port, dst: d.port };
      if (kind === 0) spec = { ipv4: { src: s.ip, dst: d.ip }, udp: ports, payload };
      else if (kind === 1) spec = { ipv4: { src: s.ip, dst: d.ip }, tcp: ports, payload };
      else if (kind === 2) spec = { ipv6: { src: s.ip6, dst: d.ip6 }, udp: ports, payload };
      else spec = { vlans: [{ id: 100 + f }], ipv4: { src: s.ip, dst: d.ip }, udp: ports, payload };
    }
    out.push({ frame: buildFrame(spec), iface: (f + i) % 2 === 0 ? 0 : 1 });
  }
  return out;
}

/** Writes `packets` to `path` as pcap with PcapWriter, a millisecond apart. */
export function writePcap(path: string, packets: TestPacket[]): void {
  using w = PcapWriter.open(path);
  packets.forEach((p, i) => w.write(p.frame, p.frame.length, 1_700_000_000 + Math.floor(i / 1000), (i % 1000) * 1_000_000));
}

/** Writes `packets` as a little-endian pcapng with two Ethernet interfaces ("a" and "b"). */
export function writePcapng(path: string, packets: TestPacket[]): void {
  const parts: Uint8Array[] = [];
  const block = (type: number, body: number[]) => {
    while (body.length % 4) body.push(0);
    const total = 12 + body.length;
    const b = new Uint8Array(total);
    const v = new DataView(b.buffer);
    v.setUint32(0, type, true);
    v.setUint32(4, total, true);
    b.set(body, 8);
    v.setUint32(total - 4, total, true);
    parts.push(b);
  };
  const u16 = (x: number) => [x & 0xff, x >> 8];
  const u32 = (x: number) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];
  block(0x0a0d0d0a, [...u32(0x1a2b3c4d), ...u16(1), ...u16(0), ...u32(0xffffffff), ...u32(0xffffffff)]);
  for (const name of ["a", "b"]) block(1, [...u16(1), ...u16(0), ...u32(0), ...u16(2), ...u16(1), name.charCodeAt(0), 0, 0, 0, 0, 0, 0, 0]);
  packets.forEach((p, i) => {
    const us = 1_700_000_000_000_000 + i * 1000;
    const hi = Math.floor(us / 2 ** 32);
    const lo = us % 2 ** 32;
    block(6, [...u32(p.iface), ...u32(hi), ...u32(lo), ...u32(p.frame.length), ...u32(p.frame.length), ...p.frame]);
  });
  const all = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) {
    all.set(b, at);
    at += b.length;
  }
  writeFileSync(path, all);
}

/**
 * Writes the saved file BENCHMARKS.md's rotation figures rewrite: 60,000 Ethernet/IPv4/UDP
 * frames of 60 to 1,514 bytes (the size steps through that range), 20 µs apart, as a
 * microsecond pcap. Deterministic: the same bytes every time.
 *
 *   bun bench/_big_pcap.ts big.pcap
 */

import { PcapWriter } from "../mod.ts";

const PACKETS = 60_000;
const path = process.argv[2];
if (!path) {
  console.error("usage: bun bench/_big_pcap.ts OUT.pcap");
  process.exit(2);
}
using out = PcapWriter.open(path, { format: "pcap", precision: "micro" });
const frame = new Uint8Array(1514);
const view = new DataView(frame.buffer);
frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]); // MACs (locally administered), IPv4
const start = 1_764_000_000_000_000; // µs
for (let i = 0; i < PACKETS; i++) {
  const size = 60 + ((i * 97) % 1455);
  const ipLength = size - 14;
  view.setUint8(14, 0x45);
  view.setUint16(16, ipLength);
  view.setUint8(22, 64);
  view.setUint8(23, 17);
  view.setUint32(26, ((198 << 24) | (18 << 16) | (i & 0xff)) >>> 0); // 198.18.0.x
  view.setUint32(30, ((198 << 24) | (19 << 16) | 1) >>> 0); // 198.19.0.1
  view.setUint16(34, 10_000 + (i % 64));
  view.setUint16(36, 9);
  view.setUint16(38, ipLength - 20);
  view.setUint32(42, i);
  const us = start + i * 20;
  out.write(frame.subarray(0, size), size, Math.floor(us / 1e6), (us % 1e6) * 1000);
}

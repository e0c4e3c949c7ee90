// PacketView's readers over a ring laid out by hand (no socket needed): values, byte order,
// the caplen bound, and a view used after its block is released.
import { expect, test } from "bun:test";
import { Block, type RingOwner } from "../src/packet.ts";
import { TPACKET3_HDR } from "../src/native/abi.ts";

/** A ring of one block holding one packet header at 64 whose frame (`caplen` bytes) starts at 64 + 80. */
function ringWithFrame(frame: number[], caplen = frame.length): { owner: RingOwner; block: Block } {
  const buffer = new ArrayBuffer(4096);
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  const hdr = 64;
  const mac = 80;
  view.setUint32(16, hdr, true); // block_desc.offset_to_first_pkt
  view.setUint32(hdr + TPACKET3_HDR.snaplen, caplen, true);
  view.setUint32(hdr + TPACKET3_HDR.len, frame.length, true);
  view.setUint16(hdr + TPACKET3_HDR.mac, mac, true);
  bytes.set(frame, hdr + mac);
  // Bytes after the frame that a reader must never return.
  bytes.fill(0xee, hdr + mac + caplen, hdr + mac + caplen + 16);
  const owner: RingOwner = { bytes, view, words: new Uint32Array(buffer), generation: 0, closed: false, releaseHeld: () => {}, interfaceName: () => "" };
  owner.releaseHeld = () => void owner.generation++;
  return { owner, block: new Block(owner, 0, 0, 1, 0n) };
}

const FRAME = [
  0x02, 0x00, 0x5e, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, // Ethernet, IPv4
  0x45, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, // IPv4 up to the checksum
  0xc6, 0x12, 0x00, 0x07, 0xc6, 0x13, 0x00, 0x01, // 198.18.0.7 > 198.19.0.1
];

test("the readers return the frame's bytes in network byte order, or little-endian when asked", () => {
  const { block } = ringWithFrame(FRAME);
  const [p] = [...block];
  expect(p.getUint8(0)).toBe(0x02);
  expect(p.getUint16(12)).toBe(0x0800);
  expect(p.getUint16(12, true)).toBe(0x0008);
  expect(p.getUint8(23)).toBe(17);
  expect(p.getUint32(26)).toBe(0xc6120007);
  expect(p.getUint32(26, true)).toBe(0x070012c6);
  expect(p.getBigUint64(26)).toBe(0xc6120007c6130001n);
  // The same as reading `p.bytes`, without making it.
  const bytes = p.bytes;
  for (let i = 0; i < FRAME.length; i++) expect(p.getUint8(i)).toBe(bytes[i]);
});

test("a read past caplen, at a negative or fractional offset, is a RangeError naming the offset and caplen", () => {
  const { block } = ringWithFrame(FRAME, 30);
  const [p] = [...block];
  expect(p.getUint16(28)).toBe(0x0007);
  expect(() => p.getUint8(30)).toThrow(RangeError);
  expect(() => p.getUint16(29)).toThrow("packet offset 29 (2 bytes) is outside the 30 captured bytes");
  expect(() => p.getUint32(27)).toThrow(RangeError);
  expect(() => p.getBigUint64(26)).toThrow(RangeError);
  for (const bad of [-1, 1.5, NaN, Infinity]) expect(() => p.getUint8(bad)).toThrow(RangeError);
});

test("a reader used after its block was released throws instead of reading the ring", () => {
  const { block } = ringWithFrame(FRAME);
  const [p] = [...block];
  expect(p.getUint16(12)).toBe(0x0800);
  block.release();
  expect(() => p.getUint16(12)).toThrow(/released/);
});

test("PcapWriter.writePacket writes what write(p.withVlanTag(), p.wireLength, ...) writes, without the copy: pcap and pcapng, tagged or not, cut by snaplen", async () => {
  const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const { PcapWriter } = await import("../src/pcap.ts");
  const { TP_STATUS } = await import("../src/native/abi.ts");
  const dir = mkdtempSync(join(tmpdir(), "ringcap-writepacket-"));
  try {
    for (const tagged of [false, true]) {
      const { owner, block } = ringWithFrame(FRAME);
      if (tagged) {
        owner.view.setUint32(64 + TPACKET3_HDR.status, TP_STATUS.vlan_valid, true);
        owner.view.setUint32(64 + TPACKET3_HDR.vlan_tci, 0x2064, true);
      }
      owner.view.setUint32(64 + TPACKET3_HDR.sec, 1_700_000_000, true);
      owner.view.setUint32(64 + TPACKET3_HDR.nsec, 123_456_789, true);
      const [p] = [...block];
      for (const format of ["pcap", "pcapng"] as const) {
        for (const snaplen of [65535, 20]) {
          const a = join(dir, `a.${format}`);
          const b = join(dir, `b.${format}`);
          const wa = PcapWriter.open(a, { format, snaplen });
          wa.writePacket(p);
          wa.close();
          const wb = PcapWriter.open(b, { format, snaplen });
          wb.write(p.withVlanTag(), p.wireLength, p.sec, p.nsec);
          wb.close();
          expect({ tagged, format, snaplen, same: Buffer.compare(readFileSync(a), readFileSync(b)) }).toEqual({ tagged, format, snaplen, same: 0 });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

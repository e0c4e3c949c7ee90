/** A small pcap / pcapng reader for tests: walks the records of a file ringcap wrote. */

import { readFileSync } from "node:fs";

export interface PcapRecord {
  sec: number;
  nsec: number;
  caplen: number;
  wire: number;
  /** Offset of the packet's bytes in `view`. */
  offset: number;
}

/**
 * Calls `fn` for every packet of a little-endian pcap (micro- or nanosecond) or pcapng file
 * (Enhanced Packet Blocks of interface 0, nanosecond or microsecond resolution as ringcap writes).
 * Returns the number of packets.
 */
export function readPcap(path: string, fn: (view: DataView, r: PcapRecord) => void): number {
  const buf = readFileSync(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, true);
  let n = 0;
  if (magic === 0xa1b23c4d || magic === 0xa1b2c3d4) {
    const nano = magic === 0xa1b23c4d;
    for (let at = 24; at + 16 <= buf.length;) {
      const caplen = view.getUint32(at + 8, true);
      fn(view, {
        sec: view.getUint32(at, true),
        nsec: view.getUint32(at + 4, true) * (nano ? 1 : 1000),
        caplen,
        wire: view.getUint32(at + 12, true),
        offset: at + 16,
      });
      n++;
      at += 16 + caplen;
    }
    return n;
  }
  if (magic !== 0x0a0d0d0a) throw new Error(`${path}: not a pcap or pcapng file`);
  let tsPerSec = 1_000_000;
  for (let at = 0; at + 12 <= buf.length;) {
    const type = view.getUint32(at, true);
    const len = view.getUint32(at + 4, true);
    if (len < 12 || at + len > buf.length) throw new Error(`${path}: bad block length ${len} at ${at}`);
    if (type === 1) {
      // Interface Description Block: look for if_tsresol (option 9).
      for (let o = at + 16; o + 4 <= at + len - 4;) {
        const code = view.getUint16(o, true);
        const olen = view.getUint16(o + 2, true);
        if (code === 0) break;
        if (code === 9) {
          const v = view.getUint8(o + 4);
          tsPerSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
        }
        o += 4 + ((olen + 3) & ~3);
      }
    } else if (type === 6) {
      // Nanoseconds since 1970 pass 2^53: split them exactly.
      const ts = (BigInt(view.getUint32(at + 12, true)) << 32n) | BigInt(view.getUint32(at + 16, true));
      const per = BigInt(tsPerSec);
      const caplen = view.getUint32(at + 20, true);
      fn(view, {
        sec: Number(ts / per),
        nsec: Number(((ts % per) * 1_000_000_000n) / per),
        caplen,
        wire: view.getUint32(at + 24, true),
        offset: at + 28,
      });
      n++;
    }
    at += len;
  }
  return n;
}

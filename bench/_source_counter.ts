/** The per-packet work every benchmark capturer does: count packets per IPv4 source. */
import type { Block } from "../mod.ts";

/** Packets per IPv4 source: the same open-addressing table as the Zig loop's SourceCounter. */
export class SourceCounter {
  static readonly SIZE = 1 << 12;
  keys = new Uint32Array(SourceCounter.SIZE);
  counts = new Uint32Array(SourceCounter.SIZE);
  distinct = 0;
  add(src: number): void {
    const keys = this.keys;
    const counts = this.counts;
    let slot = Math.imul(src, 2654435761) >>> 20;
    for (let i = 0; i < SourceCounter.SIZE; i++) {
      if (counts[slot] === 0) {
        keys[slot] = src;
        counts[slot] = 1;
        this.distinct++;
        return;
      }
      if (keys[slot] === src) {
        counts[slot]++;
        return;
      }
      slot = (slot + 1) & (SourceCounter.SIZE - 1);
    }
  }
}

/** Reads the IPv4 source of every frame of `block` and counts it: the bench's per-packet work. */
export function countSources(block: Block, view: DataView, counts: SourceCounter): number {
  let bytes = 0;
  const c = block.cursor();
  while (c.next()) {
    const at = c.offset;
    bytes += c.length;
    if (c.caplen >= 34 && view.getUint16(at + 12) === 0x0800) counts.add(view.getUint32(at + 26));
  }
  return bytes;
}

/**
 * The same work through the friendliest API: `for...of` over the block's one reusable
 * PacketView, reading `offset`, `caplen` and `length` through its getters.
 */
export function countSourcesByView(block: Block, view: DataView, counts: SourceCounter): number {
  let bytes = 0;
  for (const p of block) {
    bytes += p.length;
    const at = p.offset;
    if (p.caplen >= 34 && view.getUint16(at + 12) === 0x0800) counts.add(view.getUint32(at + 26));
  }
  return bytes;
}

/**
 * The README's path: `for (const p of block)` and the PacketView readers, whose offsets are
 * from the frame's first byte (12: the EtherType, 26: the IPv4 source).
 */
export function countSourcesByReaders(block: Block, counts: SourceCounter): number {
  let bytes = 0;
  for (const p of block) {
    bytes += p.length;
    if (p.caplen >= 34 && p.getUint16(12) === 0x0800) counts.add(p.getUint32(26));
  }
  return bytes;
}

/** The same work through `p.decode()`: its numeric `ipv4Src` (-1 when the frame is not IPv4). */
export function countSourcesByDecode(block: Block, counts: SourceCounter): number {
  let bytes = 0;
  for (const p of block) {
    bytes += p.length;
    const src = p.decode().ipv4Src;
    if (src >= 0) counts.add(src);
  }
  return bytes;
}

/** The same work through `p.bytes`, the allocating path: a Uint8Array per packet, 4 bytes read from it. */
export function countSourcesByBytes(block: Block, counts: SourceCounter): number {
  let bytes = 0;
  for (const p of block) {
    const b = p.bytes;
    bytes += p.length;
    if (b.length >= 34 && b[12] === 0x08 && b[13] === 0x00) counts.add(((b[26] << 24) | (b[27] << 16) | (b[28] << 8) | b[29]) >>> 0);
  }
  return bytes;
}

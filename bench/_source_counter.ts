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

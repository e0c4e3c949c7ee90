/**
 * Test handler: records the generator's sequence numbers in a bitmap and the flow ids seen.
 * `data.count` bounds the sequence numbers; the final report carries the bitmap (a copy of
 * our own memory, not of the ring) and the sorted flow ids.
 */
import type { Block } from "../../src/packet.ts";
import type { FanoutHandlerContext } from "../../src/fanout/types.ts";

const MAGIC = 0x52434150; // "RCAP"
const PAYLOAD_AT = 42;

export interface SeqReport {
  unique: number;
  duplicates: number;
  foreign: number;
  outOfRange: number;
  flowCount: number;
  bitmap?: Uint8Array;
  flows?: number[];
}

export function createHandler(ctx: FanoutHandlerContext<{ count: number; maxFlows?: number }>) {
  const count = ctx.data.count;
  const bitmap = new Uint8Array(Math.ceil(count / 8));
  const flowSeen = new Uint8Array(ctx.data.maxFlows ?? 65536);
  const view = ctx.capture.view;
  let unique = 0;
  let duplicates = 0;
  let foreign = 0;
  let outOfRange = 0;
  let flowCount = 0;
  return {
    onBlock(block: Block) {
      const c = block.cursor();
      while (c.next()) {
        const at = c.offset + PAYLOAD_AT;
        if (c.caplen < PAYLOAD_AT + 16 || view.getUint32(at) !== MAGIC) {
          foreign++;
          continue;
        }
        // The sequence number is a u64; the tests stay far below 2^32, so the high word is 0.
        const seq = view.getUint32(at + 4) * 0x1_0000_0000 + view.getUint32(at + 8);
        const flow = view.getUint32(at + 12);
        if (seq >= count) {
          outOfRange++;
          continue;
        }
        const bit = 1 << (seq & 7);
        if (bitmap[seq >>> 3] & bit) duplicates++;
        else {
          bitmap[seq >>> 3] |= bit;
          unique++;
        }
        if (flow < flowSeen.length && flowSeen[flow] === 0) {
          flowSeen[flow] = 1;
          flowCount++;
        }
      }
    },
    report(final: boolean): SeqReport {
      const r: SeqReport = { unique, duplicates, foreign, outOfRange, flowCount };
      if (final) {
        r.bitmap = bitmap;
        r.flows = [];
        for (let f = 0; f < flowSeen.length; f++) if (flowSeen[f]) r.flows.push(f);
      }
      return r;
    },
  };
}

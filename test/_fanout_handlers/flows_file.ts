/**
 * Test handler for pools over a saved file: packets and bytes per 5-tuple (FlowTable), frames
 * that are not IP, packets per interface, and whether the frames came in file order: each test
 * frame ends with its 32-bit index in the file, which must only grow within one worker.
 */
import { type Block, type FanoutHandlerContext, FlowTable, PacketDecoder } from "../../mod.ts";

export interface FlowsFileReport {
  flows: { flow: string; packets: number; bytes: number }[];
  nonIp: number;
  perIfindex: Record<number, number>;
  outOfOrder: number;
  last: number;
}

export function createHandler(ctx: FanoutHandlerContext<{ delayMs?: number }>) {
  const ring = ctx.capture.bytes;
  const view = ctx.capture.view;
  const decoder = new PacketDecoder();
  const table = new FlowTable();
  const perIfindex: Record<number, number> = {};
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let nonIp = 0;
  let outOfOrder = 0;
  let last = -1;
  return {
    onBlock(block: Block) {
      const c = block.cursor();
      while (c.next()) {
        const d = decoder.decode(ring, view, c.offset, c.caplen);
        if (d.ipVersion !== 0) table.add(d, c.length);
        else nonIp++;
        perIfindex[c.ifindex] = (perIfindex[c.ifindex] ?? 0) + 1;
        const index = view.getUint32(c.offset + c.caplen - 4);
        if (index <= last) outOfOrder++;
        last = index;
      }
      if (ctx.data?.delayMs) Atomics.wait(pause, 0, 0, ctx.data.delayMs);
    },
    report(): FlowsFileReport {
      const flows = table.top(1 << 20).map((f) => ({ flow: f.flow, packets: f.packets, bytes: f.bytes }));
      return { flows, nonIp, perIfindex, outOfOrder, last };
    },
  };
}

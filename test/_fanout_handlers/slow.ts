/** Test handler: counts packets but takes `data.msPerBlock` over each block, so a backlog builds in the ring. */
import type { Block } from "../../src/packet.ts";
import type { FanoutHandlerContext } from "../../src/fanout/types.ts";

export function createHandler(ctx: FanoutHandlerContext<{ msPerBlock: number }>) {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let packets = 0;
  return {
    onBlock(block: Block) {
      packets += block.packetCount;
      Atomics.wait(nap, 0, 0, ctx.data.msPerBlock);
    },
    report: () => ({ packets }),
  };
}

/** The fanout-bun benchmark's handler: ring-bun's per-packet work, in each pool worker. */
import type { Block, FanoutHandlerContext } from "../mod.ts";
import { countSources, SourceCounter } from "./_source_counter.ts";

export function createHandler(ctx: FanoutHandlerContext) {
  const view = ctx.capture.view;
  const counts = new SourceCounter();
  let packets = 0;
  let bytes = 0;
  return {
    onBlock(block: Block) {
      bytes += countSources(block, view, counts);
      packets += block.packetCount;
    },
    report: () => ({ packets, bytes, sources: counts.distinct }),
  };
}

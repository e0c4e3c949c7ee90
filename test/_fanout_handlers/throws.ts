/** Test handler: throws on the first block (only in the first run of worker `data.failIndex`, default every worker). */
import type { FanoutHandlerContext } from "../../src/fanout/types.ts";

export default function createHandler(ctx: FanoutHandlerContext<{ failIndex?: number; once?: boolean }>) {
  const data = ctx.data ?? {};
  const armed = (data.failIndex === undefined || data.failIndex === ctx.workerIndex) && !(data.once && ctx.restarts > 0);
  let blocks = 0;
  return {
    onBlock() {
      blocks++;
      if (armed) throw new Error(`handler of worker ${ctx.workerIndex} refuses its first block`);
    },
    report: () => ({ blocks, restarts: ctx.restarts }),
  };
}

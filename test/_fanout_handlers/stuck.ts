/**
 * Test handler: worker `data.stuckIndex` does not return from its first `onBlock` for
 * `data.ms`, so that close() has to terminate it: it waits (Atomics.wait, no CPU spent), or with
 * `data.spin` runs a loop for that long (what Deno's terminate() can interrupt).
 */
import type { FanoutHandlerContext } from "../../src/fanout/types.ts";

export function createHandler(ctx: FanoutHandlerContext<{ stuckIndex: number; ms: number; spin?: boolean }>) {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let blocks = 0;
  return {
    onBlock() {
      if (blocks++ > 0 || ctx.workerIndex !== ctx.data.stuckIndex) return;
      if (!ctx.data.spin) {
        Atomics.wait(nap, 0, 0, ctx.data.ms);
        return;
      }
      const end = performance.now() + ctx.data.ms;
      while (performance.now() < end) {
        // Bounded by the time above.
      }
    },
    report: () => ({ blocks }),
  };
}

/**
 * Test handler: on its first block, tries to send ring memory out of the worker by transfer,
 * which the README forbids: `data.how` is "post" (ctx.post with the ring's ArrayBuffer in the
 * transfer list), "view" (a view of the ring in the transfer list) or "global" (the worker's own
 * postMessage, around ctx.post); "clone" sends a view of the ring without transferring it
 * (structured clone copies it: allowed).
 */
import type { Block } from "../../src/packet.ts";
import type { FanoutHandlerContext } from "../../src/fanout/types.ts";

declare const self: { postMessage(message: unknown, transfer?: Transferable[]): void };

export function createHandler(ctx: FanoutHandlerContext<{ how: "post" | "view" | "global" | "clone" }>) {
  let tried = false;
  return {
    onBlock(block: Block) {
      if (tried) return;
      tried = true;
      const c = block.cursor();
      c.next();
      const frame = ctx.capture.bytes.subarray(c.offset, c.offset + c.caplen);
      const how = ctx.data.how;
      if (how === "post") ctx.post({ frame }, [ctx.capture.bytes.buffer]);
      else if (how === "clone") ctx.post({ frame });
      else if (how === "view") ctx.post({ frame }, [frame as unknown as Transferable]);
      else self.postMessage({ type: "data", index: ctx.workerIndex, data: { frame } }, [ctx.capture.bytes.buffer]);
    },
  };
}

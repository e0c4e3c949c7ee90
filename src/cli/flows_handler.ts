/**
 * The fanout handler behind `ringcap flows -G N`: each worker counts its flows in a
 * {@link FlowTable} and reports its top flows, with what they did since its last report.
 * @module
 */

import type { FanoutHandlerContext } from "../fanout/pool.ts";
import type { Block } from "../packet.ts";
import { PacketDecoder } from "../decode.ts";
import { type FlowCount, FlowTable } from "../flows.ts";

/** What each worker reports. */
export interface FlowsWorkerReport {
  flows: number;
  untracked: number;
  top: FlowCount[];
  /** Milliseconds covered by the rows' `packetsSinceMark` / `bytesSinceMark`. */
  intervalMs: number;
}

export function createHandler(ctx: FanoutHandlerContext<{ top: number }>) {
  const ring = ctx.capture.bytes;
  const view = ctx.capture.view;
  const decoder = new PacketDecoder();
  const table = new FlowTable();
  let markedAt = performance.now();
  return {
    onBlock(block: Block): void {
      for (const p of block) {
        table.add(decoder.decode(ring, view, p.offset, p.caplen, p.vlanValid ? p.vlanTci : -1, p.vlanValid ? p.vlanTpid : 0), p.length);
      }
    },
    report(): FlowsWorkerReport {
      const now = performance.now();
      const r = { flows: table.size, untracked: table.untracked, top: table.top(ctx.data.top), intervalMs: now - markedAt };
      table.mark();
      markedAt = now;
      return r;
    },
  };
}

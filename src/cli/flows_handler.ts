/**
 * The fanout handler behind `ringcap flows --workers N`: each worker counts its flows in a
 * {@link FlowTable} and reports its top flows, with what they did since its last report.
 * This file runs in every worker thread: it imports library modules only, never the CLI.
 * @module
 */

import type { FanoutHandlerContext } from "../fanout/types.ts";
import type { Block } from "../packet.ts";
import { type FlowCount, FlowTable } from "../flows.ts";

/** What the main thread gives every worker. */
export interface FlowsWorkerData {
  /** Rows each report carries. */
  top: number;
  /** Flows this worker's table keeps apart. */
  maxFlows: number;
}

/** What each worker reports. */
export interface FlowsWorkerReport {
  flows: number;
  untracked: number;
  top: FlowCount[];
  /** Milliseconds covered by the rows' `packetsSinceMark` / `bytesSinceMark`. */
  intervalMs: number;
}

export function createHandler(ctx: FanoutHandlerContext<FlowsWorkerData>) {
  const table = new FlowTable({ maxFlows: ctx.data.maxFlows });
  let markedAt = performance.now();
  return {
    onBlock(block: Block): void {
      for (const p of block) table.add(p.decode(), p.wireLength);
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

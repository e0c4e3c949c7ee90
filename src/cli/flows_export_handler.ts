/**
 * The fanout handler behind `ringcap flows --ipfix --workers N`: each worker keeps its flows in
 * a {@link NativeFlowTracker} over its ring and posts the records it makes to the main thread,
 * which exports them under this worker's observation domain (flows_export.ts). The records leave the worker
 * because its block loop never yields to an event loop, which a socket's sends need; they are
 * few (one per flow end), so posting them costs little. This file runs in every worker
 * thread: it imports library modules only, never the CLI.
 * @module
 */

import type { FanoutHandlerContext } from "../fanout/types.ts";
import type { Block } from "../packet.ts";
import type { FlowTrackerStats } from "../export/records.ts";
import { NativeFlowTracker } from "../export/native_records.ts";
import type { FlowRecord } from "../export/record.ts";

/** What the main thread gives every worker. */
export interface FlowExportWorkerData {
  idleTimeoutMs: number;
  activeTimeoutMs: number;
  /** Flows this worker's tracker keeps at once. */
  maxFlows: number;
}

/** What each worker posts: records, in the order they were made. */
export interface FlowExportBatch {
  records: FlowRecord[];
}

/** Records a worker gathers before it posts them without waiting for its next report. */
const BATCH = 256;

export function createHandler(ctx: FanoutHandlerContext<FlowExportWorkerData>) {
  let batch: FlowRecord[] = [];
  const post = () => {
    if (batch.length === 0) return;
    ctx.post({ records: batch } satisfies FlowExportBatch);
    batch = [];
  };
  const options = {
    idleTimeoutMs: ctx.data.idleTimeoutMs,
    activeTimeoutMs: ctx.data.activeTimeoutMs,
    maxFlows: ctx.data.maxFlows,
    onRecord: (r: FlowRecord) => batch.push(r),
  };
  // Workers read live rings only: `flows -r FILE` is one reader, with no workers.
  const tracker = new NativeFlowTracker(ctx.capture, options);
  return {
    onBlock(block: Block): void {
      tracker.addBlock(block);
      if (batch.length >= BATCH) post();
    },
    /**
     * Every report interval: flows idle (or too long active) by the wall clock end, whether or
     * not packets came; the final report flushes every flow. Records are posted before the
     * report, so the main thread has them all when the final report arrives.
     */
    report(final: boolean): FlowTrackerStats {
      if (final) tracker.flush();
      else tracker.expire(Date.now());
      post();
      return tracker.stats();
    },
    close(): void {
      tracker.close();
    },
  };
}

/**
 * `ringcap flows --workers N`: the flow table counted by N fanout workers in hash mode. The kernel
 * sends every packet of a flow to the same worker, so each worker's top flows are exact and
 * the merged top is the overall top. The workers run flows_handler.ts.
 * @module
 */

import { openFanout } from "../fanout/pool.ts";
import { relinquish } from "./flags.ts";
import type { FlowsWorkerData, FlowsWorkerReport } from "./flows_handler.ts";
import { type FlowsOptions, liveCaptureOf } from "./flows_options.ts";
import { flowsPrinter, flowsRow } from "./flows_output.ts";
import { type CommandIO, RunStop, unwrapWorkerFailure } from "./io.ts";

/** Runs `ringcap flows --workers N` (o.workers > 1); resolves to the exit code. */
export async function flowsWithWorkers(o: FlowsOptions, io: CommandIO): Promise<number> {
  const pool = await openFanout<FlowsWorkerData, FlowsWorkerReport>(o.iface, {
    worker: new URL("./flows_handler.ts", import.meta.url),
    workerData: { top: o.top, maxFlows: o.maxFlows },
    ...liveCaptureOf(o),
    workers: o.workers,
    mode: "hash",
    reportIntervalMs: o.intervalMs,
  });
  try {
    relinquish(o.user); // -Z: every worker's socket is open
  } catch (e) {
    await pool.close().catch(() => {});
    throw e;
  }
  const latest: (FlowsWorkerReport | undefined)[] = new Array(o.workers);
  pool.on("report", (r) => (latest[r.workerIndex] = r.data));
  const printer = flowsPrinter(io, o);
  const print = () => {
    const reports = latest.filter((r): r is FlowsWorkerReport => r !== undefined);
    const top = reports.flatMap((r) => r.top.map((f) => flowsRow(f, r.intervalMs / 1000)));
    top.sort((x, y) => y.bytes - x.bytes);
    printer({
      flows: reports.reduce((n, r) => n + r.flows, 0),
      untracked: reports.reduce((n, r) => n + r.untracked, 0),
      drops: pool.stats().total.drops,
      interfaceDrops: pool.stats().total.interfaceDrops,
      top: top.slice(0, o.top),
    });
  };
  const stop = new RunStop(o.seconds, io);
  pool.done.catch(() => stop.stop());
  // Printed just after the workers' reports of each interval have come in.
  const ticker = setInterval(print, o.intervalMs);
  await stop.stopped;
  clearInterval(ticker);
  stop.release();
  await pool.close({ drain: true }).catch((e) => {
    throw unwrapWorkerFailure(e);
  });
  print();
  return 0;
}

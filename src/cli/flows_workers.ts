/**
 * `ringcap flows -G N`: the flow table counted by N fanout workers in hash mode. The kernel
 * sends every packet of a flow to the same worker, so each worker's top flows are exact and
 * the merged top is the overall top.
 * @module
 */

import { openFanout } from "../fanout/pool.ts";
import { type CommandIO, type FlowsArgs, flowsRow, printFlows } from "./main.ts";
import type { FlowsWorkerReport } from "./flows_handler.ts";

export async function flowsWithWorkers(a: FlowsArgs, io: CommandIO): Promise<number> {
  const pool = await openFanout<{ top: number }, FlowsWorkerReport>(a.iface, {
    worker: new URL("./flows_handler.ts", import.meta.url),
    workerData: { top: a.top },
    workers: a.workers,
    mode: "hash",
    netns: a.netns,
    snaplen: a.snaplen,
    filter: a.filter,
    ring: a.ring,
    reportIntervalMs: a.intervalMs,
  });
  const latest: (FlowsWorkerReport | undefined)[] = new Array(a.workers);
  pool.on("report", (r) => (latest[r.workerIndex] = r.data));
  const print = () => {
    const reports = latest.filter((r): r is FlowsWorkerReport => r !== undefined);
    const top = reports.flatMap((r) => r.top.map((f) => flowsRow(f, r.intervalMs / 1000)));
    top.sort((x, y) => y.bytes - x.bytes);
    printFlows(io, a.json, a.iface, {
      flows: reports.reduce((n, r) => n + r.flows, 0),
      untracked: reports.reduce((n, r) => n + r.untracked, 0),
      drops: pool.stats().total.drops,
      top: top.slice(0, a.top),
    });
  };
  let wake = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  process.on("SIGINT", wake);
  process.on("SIGTERM", wake);
  pool.done.catch(wake);
  const deadline = a.seconds ? setTimeout(wake, a.seconds * 1000) : null;
  // Printed just after the workers' reports of each interval have come in.
  const ticker = setInterval(print, a.intervalMs);
  await stopped;
  clearInterval(ticker);
  if (deadline) clearTimeout(deadline);
  process.off("SIGINT", wake);
  process.off("SIGTERM", wake);
  await pool.close({ drain: true });
  print();
  return 0;
}

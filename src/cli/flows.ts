/**
 * `ringcap flows`: a live top-talkers table counted on one ring. With `-G N` (N > 1) fanout
 * workers count instead (flows_workers.ts, loaded only then).
 * @module
 */

import { type Capture, openCapture } from "../capture.ts";
import { FlowTable } from "../flows.ts";
import { FLOWS_HELP, type FlowsOptions, parseFlowsArgs } from "./flows_options.ts";
import { flowsPrinter, flowsRow } from "./flows_output.ts";
import { type CommandIO, RunStop } from "./io.ts";

/** Runs `ringcap flows ARGS`; resolves to the exit code. */
export async function flows(args: string[], io: CommandIO): Promise<number> {
  const o = parseFlowsArgs(args);
  if (!o) {
    io.out(FLOWS_HELP);
    return 0;
  }
  if (o.workers > 1) {
    const { flowsWithWorkers } = await import("./flows_workers.ts");
    return flowsWithWorkers(o, io);
  }
  return flowsOnOneRing(o, io);
}

async function flowsOnOneRing(o: FlowsOptions, io: CommandIO): Promise<number> {
  using cap: Capture = openCapture(o.iface, { netns: o.netns, snaplen: o.snaplen, filter: o.filter, ring: o.ring });
  const table = new FlowTable({ maxFlows: o.maxFlows });
  const print = flowsPrinter(io, o);
  const stop = new RunStop(o.seconds, io);
  let lastAt = performance.now();
  const report = () => {
    const now = performance.now();
    const secs = (now - lastAt) / 1000;
    lastAt = now;
    const top = table.top(o.top).map((f) => flowsRow(f, secs));
    table.mark();
    print({ flows: table.size, untracked: table.untracked, drops: cap.stats().drops, top });
  };
  const ticker = setInterval(report, o.intervalMs);
  try {
    for await (const block of cap.blocks({ signal: stop.signal })) {
      for (const p of block) table.add(p.decode(), p.length);
    }
  } finally {
    clearInterval(ticker);
    stop.release();
  }
  report();
  return 0;
}

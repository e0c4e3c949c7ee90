/**
 * `ringcap flows`: a live top-talkers table counted on one ring. With `--workers N` (N > 1) fanout
 * workers count instead (flows_workers.ts, loaded only then); with `-r FILE` the same table
 * counts a saved file's packets, filtered as `capture -r` filters them (offline.ts). With
 * `--ipfix` flows are exported to a collector instead (flows_export.ts, loaded only then).
 * @module
 */

import { type Capture, openCapture } from "../capture.ts";
import { openFile } from "../file.ts";
import { FlowTable } from "../flows.ts";
import { relinquish } from "./flags.ts";
import { FLOWS_HELP, type FlowsOptions, liveCaptureOf, parseFlowsArgs } from "./flows_options.ts";
import { flowsPrinter, flowsRow } from "./flows_output.ts";
import { type CommandIO, readUntilStopped, RunStop } from "./io.ts";
import { OfflineFilter, requireDecodable } from "./offline.ts";

/** Runs `ringcap flows ARGS`; resolves to the exit code. */
export async function flows(args: string[], io: CommandIO): Promise<number> {
  const o = parseFlowsArgs(args);
  if (!o) {
    io.out(FLOWS_HELP);
    return 0;
  }
  if (o.export) {
    const { flowsExport } = await import("./flows_export.ts");
    return flowsExport(o, io);
  }
  if (o.read !== undefined) return flowsFromFile(o, o.read, io);
  if (o.workers > 1) {
    const { flowsWithWorkers } = await import("./flows_workers.ts");
    return flowsWithWorkers(o, io);
  }
  return flowsOnOneRing(o, io);
}

async function flowsOnOneRing(o: FlowsOptions, io: CommandIO): Promise<number> {
  using cap: Capture = openCapture(o.iface, liveCaptureOf(o));
  relinquish(o.user); // -Z: the socket is open, and no blocks() loop has started
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
    const stats = cap.stats();
    print({ flows: table.size, untracked: table.untracked, drops: stats.drops, interfaceDrops: stats.interfaceDrops, top });
  };
  const ticker = setInterval(report, o.intervalMs);
  try {
    await readUntilStopped(cap, stop.signal, (block) => {
      for (const p of block) table.add(p.decode(), p.wireLength);
    });
  } finally {
    clearInterval(ticker);
    stop.release();
  }
  report();
  return 0;
}

/**
 * `flows -r FILE`: the file's packets (those EXPR takes) counted in one FlowTable, the table
 * printed once at the end, rates averaged over the file's first to last timestamp. A corrupt
 * or truncated file still prints the flows of every good packet before its error is thrown.
 */
async function flowsFromFile(o: FlowsOptions, path: string, io: CommandIO): Promise<number> {
  await using f = await openFile(path);
  relinquish(o.user);
  const filter = new OfflineFilter(f, { expression: o.expression });
  requireDecodable(path, filter.linkType, "counted as flows");
  io.err(filter.readingLine(path));
  const table = new FlowTable({ maxFlows: o.maxFlows });
  let first = NaN;
  let last = NaN;
  let failure: unknown = null;
  try {
    for await (const block of f.blocks()) {
      for (const p of block) {
        if (!filter.accepts(p)) continue;
        const t = p.sec + p.nsec / 1e9;
        if (Number.isNaN(first)) first = t;
        last = t;
        table.add(p.decode(), p.wireLength);
      }
    }
  } catch (e) {
    failure = e;
  }
  const secs = Number.isNaN(first) ? 0 : last - first;
  const top = table.top(o.top).map((r) => flowsRow(r, secs));
  flowsPrinter(io, o)({ flows: table.size, untracked: table.untracked, drops: 0, interfaceDrops: 0, top });
  if (failure) throw failure;
  return 0;
}

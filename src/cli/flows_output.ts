/**
 * What `ringcap flows` shows each interval, on one ring or with --workers: a table redrawn in
 * place, or one JSON line. A full flow table makes the output say it is incomplete.
 * @module
 */

import type { FlowCount } from "../flows.ts";
import type { FlowsOptions } from "./flows_options.ts";
import type { CommandIO } from "./io.ts";

/** One row of the flows table. */
export interface FlowsRow {
  flow: string;
  packets: number;
  bytes: number;
  pps: number;
  bps: number;
}

/** What `ringcap flows` shows each interval. */
export interface FlowsSnapshot {
  flows: number;
  /** Packets of flows beyond the table's size (`--max-flows`): not in any row. */
  untracked: number;
  drops: number;
  /** Frames the interfaces dropped themselves since the start (`CaptureStats.interfaceDrops`). */
  interfaceDrops: number;
  top: FlowsRow[];
}

/** Rates of a flow counted over `seconds`. */
export function flowsRow(f: FlowCount, seconds: number): FlowsRow {
  const secs = Math.max(1e-3, seconds);
  return {
    flow: f.flow,
    packets: f.packets,
    bytes: f.bytes,
    pps: Math.round(f.packetsSinceMark / secs),
    bps: Math.round((f.bytesSinceMark * 8) / secs),
  };
}

/**
 * Why a snapshot with untracked packets is incomplete, and what to do: a table that is full
 * counts no new flow, so a heavy flow that came late is in no row and the top list is wrong.
 */
export function incompleteNote(s: FlowsSnapshot, o: Pick<FlowsOptions, "maxFlows" | "workers">): string {
  const table = o.workers > 1 ? `a worker's flow table is full (--max-flows ${o.maxFlows} per worker)` : `the flow table is full (--max-flows ${o.maxFlows})`;
  return `incomplete: ${table}; ${s.untracked} packets of further flows were not counted and the top list may miss flows: raise --max-flows`;
}

/**
 * Prints a snapshot each call: one JSON line, or the table redrawn in place. An incomplete
 * snapshot (untracked packets) says so: in the table's header, or in JSON as `"incomplete": true`
 * with a note on stderr the first time.
 */
export function flowsPrinter(io: CommandIO, o: Pick<FlowsOptions, "json" | "iface" | "read" | "maxFlows" | "workers">): (s: FlowsSnapshot) => void {
  let noted = false;
  return (s) => {
    const incomplete = s.untracked > 0;
    if (o.json) {
      const { flows, untracked, drops, interfaceDrops, top } = s;
      io.out(JSON.stringify({ time: new Date().toISOString(), flows, untracked, incomplete, maxFlows: o.maxFlows, drops, interfaceDrops, top }));
      if (incomplete && !noted) io.err(`ringcap flows: ${incompleteNote(s, o)}`);
      noted ||= incomplete;
      return;
    }
    const lines = [
      o.read === undefined
        ? `ringcap flows on ${o.iface}: ${s.flows} flows, ${s.drops} dropped by kernel, ${s.interfaceDrops} by interface   (Ctrl-C to stop)`
        : `ringcap flows of ${o.read === "-" ? "standard input" : `file ${o.read}`}: ${s.flows} flows`,
    ];
    if (incomplete) lines.push(incompleteNote(s, o));
    lines.push("", `${"packets".padStart(12)} ${"bytes".padStart(14)} ${"pps".padStart(10)} ${"Mbps".padStart(9)}  flow`);
    for (const r of s.top) {
      lines.push(`${String(r.packets).padStart(12)} ${String(r.bytes).padStart(14)} ${String(r.pps).padStart(10)} ${(r.bps / 1e6).toFixed(2).padStart(9)}  ${r.flow}`);
    }
    io.out(`\x1b[H\x1b[2J${lines.join("\n")}`);
  };
}

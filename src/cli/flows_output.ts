/**
 * What `ringcap flows` shows each interval, on one ring or with -G workers: a table redrawn in
 * place, or one JSON line.
 * @module
 */

import type { FlowCount } from "../flows.ts";
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
  /** Packets of flows beyond the table's size. */
  untracked: number;
  drops: number;
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

/** Prints a snapshot: one JSON line, or the table redrawn in place. */
export function printFlows(io: CommandIO, json: boolean, iface: string, s: FlowsSnapshot): void {
  if (json) {
    io.out(JSON.stringify({ time: new Date().toISOString(), flows: s.flows, untracked: s.untracked, drops: s.drops, top: s.top }));
    return;
  }
  const lines = [`ringcap flows on ${iface}: ${s.flows} flows, ${s.drops} dropped by kernel   (Ctrl-C to stop)`, ""];
  lines.push(`${"packets".padStart(12)} ${"bytes".padStart(14)} ${"pps".padStart(10)} ${"Mbps".padStart(9)}  flow`);
  for (const r of s.top) {
    lines.push(`${String(r.packets).padStart(12)} ${String(r.bytes).padStart(14)} ${String(r.pps).padStart(10)} ${(r.bps / 1e6).toFixed(2).padStart(9)}  ${r.flow}`);
  }
  io.out(`\x1b[H\x1b[2J${lines.join("\n")}`);
}

/**
 * `ringcap flows`'s flags, read and checked once into {@link FlowsOptions}, which both paths
 * (flows.ts on one ring, flows_workers.ts with --workers) take.
 * @module
 */

import { parseArgs } from "node:util";
import { type CaptureInterfaces, type RingOptions } from "../capture.ts";
import type { BpfProgram } from "../bpf/program.ts";
import { LINKTYPE } from "../decode.ts";
import { FLOW_TABLE_DEFAULTS, MAX_FLOWS } from "../flows.ts";
import { MAX_SNAPLEN } from "../options.ts";
import { compileExpression, interfaceFlags, NOT_WITH_READ, num, refuseWithRead, ringOptions, SECONDS, UsageError, userFlag, WORKERS } from "./flags.ts";

export const FLOWS_HELP = `usage: ringcap flows -i IFACE [--top N] [--interval S] [--json] [--seconds S] [--netns NAME]
                    [-s SNAPLEN] [--workers N] [-B KiB] [--block-timeout MS] [--max-flows N]
                    [-Z USER] [EXPR]
       ringcap flows -r FILE [--top N] [--json] [--max-flows N] [-Z USER] [EXPR]

A live top-talkers table by 5-tuple (packets, bytes, rate), refreshed in place on a terminal,
or one JSON line per interval when stdout is not a terminal (or with --json). With --workers, that
many fanout workers count in hash mode (every packet of a flow goes to the same worker, so
the merged table is exact). EXPR is a tcpdump filter.

-r FILE        count the flows of a saved pcap or pcapng file ("-": standard input) instead,
               and print the table (or JSON line) once, at its end; rates are averages over
               the file's first to last timestamp. EXPR is run as \`capture -r\` runs it
               (compiled for the file's link type and snaplen, libpcap's bpf_filter); a
               corrupt or truncated file prints the flows of every good packet, then the
               error (exit 1); a missing, unreadable or non-capture file exits 6. Not with
               -i, -s, --workers, -B, --block-timeout, --netns, --seconds, --interval.

--max-flows N  flows the table keeps apart, each taking 72 bytes of key and counters plus
               an entry of the table's hash map (default
               ${FLOW_TABLE_DEFAULTS.maxFlows}, at most ${MAX_FLOWS}; with --workers, per worker). Packets of flows
               beyond it are counted as untracked and the output says the table is
               incomplete ("incomplete": true in JSON): the top list may then miss flows.
-Z USER        once the sockets (or -r's file) are open, become USER for good: every thread
               and worker, no capability left (as capture -Z, tcpdump's flag).`;

/** `ringcap flows` as the command line asked for it, every flag checked. */
export interface FlowsOptions {
  /** The interface (or "any", or several); "" with -r. */
  iface: CaptureInterfaces;
  /** -Z: the user to become once the sockets (or the file) are open. */
  user?: string;
  /** -r: a saved file's path, or "-" for standard input; the live-only fields then keep their defaults. */
  read?: string;
  /** With -r: EXPR, compiled once the file's link type is known. */
  expression?: string;
  netns?: string;
  /** Rows shown. */
  top: number;
  intervalMs: number;
  /** Seconds to run; 0 for no limit. */
  seconds: number;
  json: boolean;
  /** Bytes kept per packet; 0 for whole packets. */
  snaplen: number;
  filter?: BpfProgram;
  /** --workers: 1 counts on one ring (flows.ts); more counts on fanout workers in hash mode. */
  workers: number;
  ring: RingOptions;
  /** Flows each table keeps apart (one table, or one per worker with --workers). */
  maxFlows: number;
}

/** Headers are all a flow table needs. */
const DEFAULT_SNAPLEN = 128;

/** Flags of a live count that mean nothing when flows come from a file (-r), and why. */
const NOT_OFFLINE = [
  ["interface", "-i", NOT_WITH_READ.interface],
  ["snaplen", "-s", NOT_WITH_READ.snaplen],
  ["workers", "--workers", NOT_WITH_READ.workers],
  ["buffer", "-B", NOT_WITH_READ.ring],
  ["block-timeout", "--block-timeout", NOT_WITH_READ.ring],
  ["netns", "--netns", NOT_WITH_READ.netns],
  ["seconds", "--seconds", NOT_WITH_READ.seconds],
  ["interval", "--interval", "the table of a file is printed once, when it has been read"],
] as const;

/** Reads `ringcap flows ARGS`: null for --help; throws UsageError (or the filter's error) for wrong usage. */
export function parseFlowsArgs(args: string[]): FlowsOptions | null {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      interface: { type: "string", short: "i", multiple: true },
      read: { type: "string", short: "r" },
      top: { type: "string" },
      interval: { type: "string" },
      json: { type: "boolean" },
      seconds: { type: "string" },
      netns: { type: "string" },
      snaplen: { type: "string", short: "s" },
      workers: { type: "string" },
      buffer: { type: "string", short: "B" },
      "block-timeout": { type: "string" },
      "max-flows": { type: "string" },
      "relinquish-privileges": { type: "string", short: "Z" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return null;
  if (values.read !== undefined) {
    if (values.read === "") throw new UsageError("-r needs a file name");
    refuseWithRead(values, NOT_OFFLINE);
  }
  const iface = interfaceFlags(values.interface);
  if (values.read === undefined && iface === undefined) throw new UsageError("flows needs -i IFACE or -r FILE");
  const intervalS = num(values.interval, "--interval (seconds)", { min: 0.1, max: 3600, fractions: true }, 1);
  const snaplen = num(values.snaplen, "-s", { max: MAX_SNAPLEN }, DEFAULT_SNAPLEN);
  const expr = positionals.join(" ").trim();
  const read = values.read;
  return {
    iface: iface ?? "",
    read,
    expression: read !== undefined && expr ? expr : undefined,
    netns: values.netns,
    top: num(values.top, "--top", { min: 1, max: 10_000 }, 10),
    intervalMs: intervalS * 1000,
    seconds: num(values.seconds, "--seconds", SECONDS, 0),
    json: values.json || !process.stdout.isTTY,
    snaplen,
    filter: expr && read === undefined ? compileExpression(expr, snaplen, iface === "any" ? LINKTYPE.LINUX_SLL2 : undefined) : undefined,
    workers: num(values.workers, "--workers", WORKERS, 1),
    ring: ringOptions(values.buffer, values["block-timeout"]),
    maxFlows: num(values["max-flows"], "--max-flows", { min: 1, max: MAX_FLOWS }, FLOW_TABLE_DEFAULTS.maxFlows),
    user: userFlag(values["relinquish-privileges"]),
  };
}

/**
 * `ringcap flows`'s flags, read and checked once into {@link FlowsOptions}, which both paths
 * (flows.ts on one ring, flows_workers.ts with --workers) take.
 * @module
 */

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type CaptureInterfaces, type RingOptions } from "../capture.ts";
import type { BpfProgram } from "../bpf/program.ts";
import { LINKTYPE } from "../decode.ts";
import { FLOW_TABLE_DEFAULTS, MAX_FLOWS } from "../flows.ts";
import { FLOW_TRACKER_DEFAULTS, MAX_TRACKED_FLOWS } from "../export/records.ts";
import type { ExportProtocol } from "../export/ipfix.ts";
import { EXPORTER_DEFAULTS } from "../export/exporter.ts";
import { MAX_SNAPLEN } from "../options.ts";
import { compileExpression, interfaceFlags, NOT_WITH_READ, num, refuseWithRead, ringOptions, SECONDS, UsageError, userFlag, WORKERS } from "./flags.ts";

/**
 * `--block-timeout` of an export when not given: a record waits for its flow's timeouts (seconds)
 * anyway, so a block may wait longer to fill than a printed packet; fuller blocks cost fewer
 * wake-ups per packet at low rates (BENCHMARKS.md, flow export).
 */
export const EXPORT_BLOCK_TIMEOUT_MS = 100;

export const FLOWS_HELP = `usage: ringcap flows -i IFACE [--top N] [--interval S] [--json] [--seconds S] [--netns NAME]
                    [-s SNAPLEN] [--workers N] [-B KiB] [--block-timeout MS] [--max-flows N]
                    [-Z USER] [EXPR]
       ringcap flows -i IFACE --ipfix HOST[:PORT] [--ipfix-tcp] [--netflow9] [--domain-id N]
                    [--active-timeout S] [--idle-timeout S] [--max-flows N] [--workers N] ...
       ringcap flows -r FILE [--top N] [--json] [--max-flows N] [-Z USER] [EXPR]
       ringcap flows -r FILE --ipfix HOST[:PORT] [...as above] [EXPR]

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
               Tables that would take more than half of the memory available (MemAvailable)
               are refused before anything is allocated (exit 2).
Flow export (instead of the table): each flow's record goes to a collector (nfcapd, nfacctd,
GoFlow2, ...) when the flow ends: idle for --idle-timeout, TCP FIN or RST (at once), evicted
from a full table (--max-flows, reported, never dropped), at shutdown; a flow still active
after --active-timeout is reported then and counted afresh. Counts are IP bytes (header and
payload, RFC 7012's octetDeltaCount), times the packets' own (ms).
--ipfix HOST[:PORT]
               the collector (an address or a name; [v6]:port); PORT defaults to 4739
               (2055 with --netflow9). IPFIX (RFC 7011) over UDP, templates sent again every
               60 s; records the collector cannot take (unreachable, queue full) are counted
               as lost, never wait. The socket is opened in the namespace ringcap runs in:
               --netns moves only the capture (\`ip netns exec NS ringcap ...\` moves both).
--ipfix-tcp    over TCP instead (reconnects; records made while disconnected are lost).
--netflow9     NetFlow v9 instead of IPFIX, for older collectors.
--ipfix-rate N UDP messages sent at most per second (default ${EXPORTER_DEFAULTS.maxMessagesPerSecond}, about 29 records each),
               in bursts of 32, so that many flows ending at once do not overrun the
               collector's receive buffer; 0 sends at once.
--domain-id D  the observation domain id (NetFlow v9: source id), default 1; with --workers,
               worker k (from 0) exports as D + k, so a collector keeps their streams apart.
--block-timeout MS  defaults to ${EXPORT_BLOCK_TIMEOUT_MS} with --ipfix (fuller blocks, fewer wake-ups; records wait for
               their flows' timeouts anyway).
--active-timeout S  (default ${FLOW_TRACKER_DEFAULTS.activeTimeoutMs / 1000}) and --idle-timeout S (default ${FLOW_TRACKER_DEFAULTS.idleTimeoutMs / 1000}), in seconds.
               With --ipfix, --max-flows defaults to ${FLOW_TRACKER_DEFAULTS.maxFlows} (at most ${MAX_TRACKED_FLOWS}, per worker).
               A status line (flows active, records sent and lost) is redrawn on stderr; with
               --json, or when stdout is not a terminal, one JSON line per interval instead,
               and a last one ("final": true) once every flow is flushed and sent. -r FILE
               exports a saved file's flows in packet time, as fast as the socket takes them.

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
  /** --ipfix: flows are exported to a collector instead of shown as a table. */
  export?: FlowExportSettings;
}

/** Where and how `flows --ipfix` exports. */
export interface FlowExportSettings {
  host: string;
  port: number;
  transport: "udp" | "tcp";
  protocol: ExportProtocol;
  /** UDP messages per second at most (0: unpaced), per exporter. */
  maxMessagesPerSecond: number;
  /** The observation domain id of one ring, and of worker 0 (worker k: domainId + k). */
  domainId: number;
  activeTimeoutMs: number;
  idleTimeoutMs: number;
}

/** IPFIX's port (RFC 7011 §10.3.1) and NetFlow's usual one. */
export const COLLECTOR_PORTS = Object.freeze({ ipfix: 4739, netflow9: 2055 });

/** Flags that shape an export, and so mean nothing without --ipfix. */
const EXPORT_ONLY = [
  ["ipfix-tcp", "--ipfix-tcp"],
  ["netflow9", "--netflow9"],
  ["ipfix-rate", "--ipfix-rate"],
  ["domain-id", "--domain-id"],
  ["active-timeout", "--active-timeout"],
  ["idle-timeout", "--idle-timeout"],
] as const;

/** Seconds a flow timeout may take: at most a week, as FlowTracker allows. */
const TIMEOUT_SECONDS = { min: 0.001, max: 7 * 86_400, fractions: true };

/**
 * `--ipfix HOST[:PORT]`: a name or IPv4 address with an optional port, or an IPv6 address in
 * brackets (`[2001:db8::1]:4739`); a bare IPv6 address (no port) is taken whole.
 */
export function parseCollector(text: string, defaultPort: number): { host: string; port: number } {
  const fail = (why: string) => new UsageError(`--ipfix ${JSON.stringify(text)}: ${why} (HOST[:PORT], e.g. 192.0.2.10:4739 or [2001:db8::1]:4739)`);
  let host = text;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) [, host, port] = bracketed;
  else if ((text.match(/:/g) ?? []).length === 1) [host, port] = text.split(":");
  if (host === "") throw fail("no host");
  if (/[\s/]/.test(host)) throw fail("not a host name or address");
  if (port === undefined) return { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw fail("the port must be 1-65535");
  return { host, port: Number(port) };
}

/** What the flows command opens its capture with: the one ring's, or each fanout worker's. */
export function liveCaptureOf(o: FlowsOptions) {
  return { netns: o.netns, snaplen: o.snaplen, filter: o.filter, ring: o.ring };
}

/**
 * Bytes one flow may take in a table, at most: the native cache's 96-byte entry, its free-list
 * slot and up to four 8-byte buckets (FlowTracker's and FlowTable's entries are smaller).
 */
const TABLE_BYTES_PER_FLOW = 136;

/**
 * The flow tables are allocated whole at the start: refused (a usage error) when they would
 * take more than half of the memory available (MemAvailable), as a ring is, before anything
 * asks the kernel for it. Not checked where /proc/meminfo cannot be read.
 */
function checkTableMemory(maxFlows: number, tables: number): void {
  let available = NaN;
  try {
    const kib = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
    available = kib === undefined ? NaN : Number(kib) * 1024;
  } catch {
    return;
  }
  const need = maxFlows * tables * TABLE_BYTES_PER_FLOW;
  if (!(need > available / 2)) return;
  const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
  const each = tables > 1 ? ` (${tables} tables, one per worker)` : "";
  throw new UsageError(
    `--max-flows ${maxFlows}${each} needs up to ${mib(need)} of flow tables, more than half of the memory available now (MemAvailable ${mib(available)}): lower --max-flows${tables > 1 ? " or --workers" : ""}`,
  );
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
      ipfix: { type: "string" },
      "ipfix-tcp": { type: "boolean" },
      netflow9: { type: "boolean" },
      "ipfix-rate": { type: "string" },
      "domain-id": { type: "string" },
      "active-timeout": { type: "string" },
      "idle-timeout": { type: "string" },
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
  const exporting = values.ipfix !== undefined;
  if (!exporting) {
    for (const [key, flag] of EXPORT_ONLY) if (values[key] !== undefined) throw new UsageError(`${flag} needs --ipfix HOST[:PORT]: it shapes the flow export`);
  } else if (values.top !== undefined) {
    throw new UsageError("--top cannot apply with --ipfix: flows are exported to the collector, no table is shown");
  }
  const protocol: ExportProtocol = values.netflow9 ? "netflow9" : "ipfix";
  const workers = num(values.workers, "--workers", WORKERS, 1);
  const seconds = (v: string | undefined, flag: string, fallbackMs: number) => Math.round(num(v, flag, TIMEOUT_SECONDS, fallbackMs / 1000) * 1000);
  const maxFlows = exporting
    ? num(values["max-flows"], "--max-flows", { min: 1, max: MAX_TRACKED_FLOWS }, FLOW_TRACKER_DEFAULTS.maxFlows)
    : num(values["max-flows"], "--max-flows", { min: 1, max: MAX_FLOWS }, FLOW_TABLE_DEFAULTS.maxFlows);
  checkTableMemory(maxFlows, read === undefined ? workers : 1);
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
    workers,
    ring: ringOptions(values.buffer, values["block-timeout"], exporting ? EXPORT_BLOCK_TIMEOUT_MS : undefined),
    maxFlows,
    user: userFlag(values["relinquish-privileges"]),
    export: exporting
      ? {
        ...parseCollector(values.ipfix!, COLLECTOR_PORTS[protocol]),
        transport: values["ipfix-tcp"] ? "tcp" : "udp",
        protocol,
        maxMessagesPerSecond: num(values["ipfix-rate"], "--ipfix-rate", { min: 0, max: 1_000_000 }, EXPORTER_DEFAULTS.maxMessagesPerSecond),
        domainId: num(values["domain-id"], "--domain-id", { min: 0, max: 0xffff_ffff - (workers - 1) }, 1),
        activeTimeoutMs: seconds(values["active-timeout"], "--active-timeout", FLOW_TRACKER_DEFAULTS.activeTimeoutMs),
        idleTimeoutMs: seconds(values["idle-timeout"], "--idle-timeout", FLOW_TRACKER_DEFAULTS.idleTimeoutMs),
      }
      : undefined,
  };
}

/**
 * `ringcap capture`'s flags, read and checked once into {@link CaptureOptions}: both capture
 * paths (capture.ts on one ring, capture_workers.ts with --workers) take that object and nothing else.
 * A flag that cannot apply to the command line it is on is a UsageError, never ignored.
 * @module
 */

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  type CaptureInterfaces,
  DEFAULT_RING,
  type Direction,
  FANOUT_MODES,
  type FanoutMode,
  fanoutMode,
  type RingOptions,
  TIMESTAMP_TYPES,
  type TimestampType,
} from "../capture.ts";
import { type BpfProgram, parseBpfText } from "../bpf/program.ts";
import { LINKTYPE } from "../decode.ts";
import { RingcapError } from "../errors.ts";
import type { formatTime } from "../format.ts";
import { MAX_SNAPLEN } from "../options.ts";
import type { PcapFormat, TimestampPrecision } from "../pcap.ts";
import { compileExpression, DEFAULT_RING_KIB, interfaceFlags, NOT_WITH_READ, num, refuseWithRead, ringOptions, SECONDS, UsageError, userFlag, WORKERS } from "./flags.ts";

/** --flush-ms when absent: a crash or SIGKILL loses at most about a second of packets. */
export const DEFAULT_FLUSH_MS = 1000;
/** --flush-ms's range. */
const FLUSH_MS = { min: 1, max: 60_000 };

export const CAPTURE_HELP = `usage: ringcap capture -i IFACE [-c COUNT] [-s SNAPLEN] [-w FILE] [--format pcap|pcapng]
                      [-U | --flush-ms MS] [-C MB] [-G SECONDS] [-W COUNT] [-z CMD]
                      [--workers N] [--fanout MODE] [-p] [-e] [-q] [-v] [-t|-tt] [-n]
                      [-B KiB] [--immediate-mode] [-F FILE | --bpf FILE] [-d] [--netns NAME]
                      [--status|--no-status] [--seconds S] [-j TYPE] [-J] [-Z USER]
                      [--time-stamp-precision micro|nano] [EXPR]
       ringcap capture -r FILE [-c COUNT] [-w FILE [--time-stamp-precision micro|nano]]
                      [--format pcap|pcapng] [-U] [-C MB] [-G SECONDS] [-W COUNT] [-z CMD]
                      [-e] [-q] [-v] [-t|-tt] [-n] [-F FILE | --bpf FILE] [-d] [-Z USER] [EXPR]

Captures on IFACE like tcpdump. EXPR is a tcpdump filter (compiled by libpcap, attached in
the kernel). Without -w, prints one line per packet; with -w, writes pcap or pcapng (by the
file's extension, or --format) and shows a live status line on stderr.

  -i IFACE     interface to capture on; "any": every interface of the namespace, as tcpdump
               -i any (LINUX_SLL2 frames naming each packet's interface and direction; not
               promiscuous); repeat for several (-i eth0 -i eth1: one socket, packets in the
               order they came, one pcapng interface each; -w needs pcapng)
  -r FILE      read packets from a saved pcap or pcapng file instead ("-": standard input,
               a file or a pipe), as tcpdump -r: EXPR is
               compiled for the file's link type and snaplen and run by libpcap's bpf_filter;
               -w rewrites with the file's link type and snaplen (nanosecond timestamps kept,
               or cut to microseconds with --time-stamp-precision micro);
               "reading from file ..." goes to stderr; a corrupt or truncated file ends
               after every good packet with the error (exit 1). Not with -i, -s, -B,
               --block-timeout, --workers, --fanout, -p, -Q, --netns, --seconds, --status, --flush-ms
  -c COUNT     stop after COUNT packets
  -s SNAPLEN   bytes kept per packet (default: whole packets)
  -w FILE      write packets to FILE (.pcapng: pcapng, else pcap; "-" is stdout)
  --format F   with -w: pcap or pcapng, whatever FILE's extension
  --flush-ms MS  with -w: write buffered packets out at least every MS milliseconds
               (default ${DEFAULT_FLUSH_MS}), which bounds what a crash or SIGKILL can lose
  -U           packet-buffered: with -w, each packet is written out as it is taken (as
               tcpdump -U); printed lines always are
  -C MB        rotate the -w file as tcpdump -C: before a packet, a file holding more than
               MB x 1,000,000 bytes is closed and FILE1, FILE2, ... started (with -W: FILE0 on)
  -G SECONDS   rotate the -w file every SECONDS as tcpdump -G (checked as packets come, by
               the clock, also with -r); strftime patterns in FILE (%Y%m%d-%H%M%S) name each
               file by its start (without them each file replaces the last, as in tcpdump)
  -W COUNT     with -C: a ring of COUNT files (FILE0.., zero padded as tcpdump pads them),
               the oldest overwritten; with -G alone: stop after COUNT files
  -z CMD       run CMD FILE on each file a rotation closes (gzip, ...), without waiting for
               it, as tcpdump -z (not on the last file, which the capture is writing)
  --workers N  capture with this many fanout workers, 1 to ${WORKERS.max} (one Bun Worker each)
  --fanout M   fanout mode for --workers 2 or more: hash (default), lb, cpu, rollover, rnd, qm
  --per-worker-files  with --workers and -w, one file per worker (FILE.0.pcapng, ...) instead of
               one merged file (not with -C/-G/-W/-z: the merged file rotates)
  -p           do not put the interface into promiscuous mode
  -Q DIR       in, out or inout (default): packets received, sent by this host, or both,
               chosen in the kernel (as tcpdump -Q)
  -e           print link-level headers (MAC addresses, VLAN tags); not with -w
  -q           quiet: print less protocol detail (no TCP flags); not with -w
  -v / -vv     verbose, as tcpdump -v/-vv: IPv4/IPv6 header fields (tos, ttl, id, offset,
               flags, hlim, flowlabel, lengths), checksum verdicts (IP, TCP, ICMP, ICMPv6; UDP
               over IPv6 with -v, over IPv4 with -vv), an ICMP error's quoted packet on a line
               of its own; with -w nothing changes (the status line counts packets)
  -t / -tt     no timestamp / Unix-epoch timestamps; not with -w
  -n           numbers only, as ringcap always prints (it never resolves names);
               accepted for tcpdump command lines
  -B KiB       ring size in KiB (default ${DEFAULT_RING_KIB}; per worker with --workers); at most half of
               the memory available (MemAvailable), else it is refused (exit 2)
  --block-timeout MS  the kernel hands over a partly filled block after MS milliseconds
               (default ${DEFAULT_RING.blockTimeoutMs}): longer means fewer wake-ups (less CPU at low rates), later packets
  --immediate-mode  hand each packet over as it arrives (a TPACKET_V2 ring, as tcpdump's)
               instead of a block at a time: no block timeout to wait for, more CPU at high
               rates. The default when packets are printed (no -w) to a terminal and
               --block-timeout is not given, as tcpdump's maintainers recommend (tcpdump
               4.99 itself waits for blocks there); not with --block-timeout
  -F FILE      read the filter expression from FILE (instead of EXPR)
  --bpf FILE   use a compiled program (tcpdump -ddd output) instead of EXPR
  -d           print the compiled filter (like tcpdump -d) and exit
  --netns NAME capture inside a network namespace
  -Z USER      once the sockets are open (and -r's file), become USER for good, every thread
               and worker, no capability left; -w files (and rotations) are then created as
               USER, as tcpdump -Z (the directory must let USER write)
  -j TYPE      whose clock stamps packets: host (default), adapter or adapter_unsynced (the
               NIC's clock, as tcpdump -j); an interface without a hardware clock (veth, lo)
               is refused (exit 2) where tcpdump warns and uses the host's clock
  -J           list the timestamp types -i IFACE offers (as tcpdump -J) and exit
  --time-stamp-precision P  with -w: micro (a microsecond pcap, magic a1b2c3d4; pcapng
               if_tsresol 6) or nano (default: magic a1b23c4d; if_tsresol 9)
  --seconds S  stop after S seconds
  --status / --no-status  force the once-a-second status line on or off

SIGINT (Ctrl-C), SIGTERM, SIGHUP and SIGQUIT end the capture cleanly: the file is complete and
the summary printed, exit 0 (SIGHUP is left alone under nohup). So does stdout's reader going
away (\`ringcap capture ... | head\`, EPIPE).

Exit codes: 0 ok, 1 failure, 2 usage, filter syntax or a ring too large for the memory,
3 no such interface, 4 no permission (grant CAP_NET_RAW), 5 interface down or gone (also
during the capture: what was captured is kept), 6 file unwritable or disk full (the summary
counts the packets the file holds; with -r: FILE missing, unreadable or not a capture file).`;

/** formatTime's styles: local time, Unix-epoch seconds (-tt), none (-t). */
export type TimeStyle = Parameters<typeof formatTime>[2];

/** How packet lines look (without -w). */
export interface PrintOptions {
  /** -e: MAC addresses and VLAN tags. */
  linkLevel: boolean;
  /** -q: less protocol detail. */
  quiet: boolean;
  /** -v (1), -vv (2): IP header fields, checksum verdicts, an ICMP error's quoted packet. */
  verbose: number;
  time: TimeStyle;
}

/** A capture as the command line asked for it, every flag checked. */
export interface CaptureOptions {
  iface: CaptureInterfaces;
  netns?: string;
  /** Packets to take in all; 0 for no limit. */
  count: number;
  /** Seconds to run; 0 for no limit. */
  seconds: number;
  /** Bytes kept per packet; 0 for whole packets. */
  snaplen: number;
  filter?: BpfProgram;
  /** The filter as given (an expression, or "--bpf FILE"), for the "capturing on" line; "" for none. */
  filterText: string;
  promisc: boolean;
  /** -Q: received, sent, or both. */
  direction: Direction;
  ring: RingOptions;
  /** -w: a path, or "-" for stdout; undefined prints packet lines instead. */
  write?: string;
  format?: PcapFormat;
  print: PrintOptions;
  /** --status (true) or --no-status (false); undefined decides by where the output goes. */
  status?: boolean;
  /** --workers: 1 captures on one ring (capture.ts); more spreads the capture over fanout workers. */
  workers: number;
  /** --fanout, with more than one worker. */
  fanout: FanoutMode;
  /** With more than one worker and -w FILE: one file per worker. */
  perWorkerFiles: boolean;
  /** With -w: the longest a packet waits in the writer's buffer (ms); 0 with -U (never). */
  flushMs: number;
  /** -j: whose clock stamps the packets. */
  timestampType: TimestampType;
  /** --time-stamp-precision: of the file -w writes. */
  precision: TimestampPrecision;
  /**
   * --immediate-mode (true), --block-timeout given (false), or neither (undefined: decided by
   * where the output goes, see `immediateMode` in capture_output.ts).
   */
  immediate?: boolean;
  /** -C, -G, -W, -z: the -w file rotates. */
  rotate?: RotateFlags;
  /** -Z: the user to become once the sockets are open. */
  user?: string;
}

/** -C MB, -G SECONDS, -W COUNT and -z CMD, as tcpdump takes them. */
export interface RotateFlags {
  /** -C: bytes (MB x 1,000,000); 0 for none. */
  maxBytes: number;
  /** -G: seconds; 0 for none. */
  seconds: number;
  /** -W: files in the ring (with -C) or in all (with -G alone); 0 for none. */
  files: number;
  /** -z: the command run with each file a rotation closes. */
  command?: string;
}

/** What a `ringcap capture` command line asks for. */
export type CaptureRequest =
  | { kind: "help" }
  /** -d: print this program and exit. */
  | { kind: "program"; program: BpfProgram }
  | { kind: "capture"; options: CaptureOptions }
  /** -r FILE: packets from a saved file. */
  | { kind: "read"; options: ReadOptions }
  /** -J: list the interface's timestamp types and exit. */
  | { kind: "timestamp-types"; iface: string; netns?: string };

/** `capture -r FILE` as the command line asked for it. The filter is compiled once the file's link type is known. */
export interface ReadOptions {
  path: string;
  /** Packets to take in all; 0 for no limit. */
  count: number;
  /** EXPR (or -F FILE's), to compile for the file's link type and snaplen. */
  expression?: string;
  /** --bpf FILE's program, run as it is. */
  program?: BpfProgram;
  /** The filter as given, "" for none. */
  filterText: string;
  /** -d: print the program compiled for the file and exit. */
  dump: boolean;
  /** -w: a path, or "-" for stdout; undefined prints packet lines instead. */
  write?: string;
  format?: PcapFormat;
  print: PrintOptions;
  /** -U: with -w, write each block's packets out as they are taken. */
  packetBuffered: boolean;
  /** --time-stamp-precision: of the file -w writes. */
  precision: TimestampPrecision;
  /** -C, -G, -W, -z: the -w file rotates. */
  rotate?: RotateFlags;
  /** -Z: the user to become once the file is open, before the output is created. */
  user?: string;
}

const FLAGS = {
  interface: { type: "string", short: "i", multiple: true },
  read: { type: "string", short: "r" },
  count: { type: "string", short: "c" },
  snaplen: { type: "string", short: "s" },
  write: { type: "string", short: "w" },
  format: { type: "string" },
  "flush-ms": { type: "string" },
  "packet-buffered": { type: "boolean", short: "U" },
  workers: { type: "string" },
  "file-size": { type: "string", short: "C" },
  "rotate-seconds": { type: "string", short: "G" },
  "file-count": { type: "string", short: "W" },
  "post-rotate": { type: "string", short: "z" },
  fanout: { type: "string" },
  "per-worker-files": { type: "boolean" },
  "no-promisc": { type: "boolean", short: "p" },
  direction: { type: "string", short: "Q" },
  link: { type: "boolean", short: "e" },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v", multiple: true },
  t: { type: "boolean", short: "t", multiple: true },
  n: { type: "boolean", short: "n" },
  buffer: { type: "string", short: "B" },
  "block-timeout": { type: "string" },
  "immediate-mode": { type: "boolean" },
  F: { type: "string", short: "F" },
  bpf: { type: "string" },
  d: { type: "boolean", short: "d" },
  netns: { type: "string" },
  seconds: { type: "string" },
  status: { type: "boolean" },
  "no-status": { type: "boolean" },
  "time-stamp-type": { type: "string", short: "j" },
  "time-stamp-precision": { type: "string" },
  "list-time-stamp-types": { type: "boolean", short: "J" },
  "relinquish-privileges": { type: "string", short: "Z" },
  help: { type: "boolean", short: "h" },
} as const;

function readFlags(args: string[]) {
  return parseArgs({ args, allowPositionals: true, options: FLAGS, strict: true });
}

type Flags = ReturnType<typeof readFlags>["values"];

/**
 * Fanout modes that need a steering program, which a command line cannot give: the CLI refuses
 * them, the library takes them (FanoutOptions.program).
 */
const NEEDS_PROGRAM: ReadonlySet<string> = new Set<FanoutMode>(["cbpf", "ebpf"]);
/** The fanout modes `--fanout` takes. */
const CLI_FANOUT_MODES = Object.keys(FANOUT_MODES).filter((m) => !NEEDS_PROGRAM.has(m));
/** -c with --workers: the workers share one Int32 counter. */
const MAX_COUNT_WITH_WORKERS = 0x7fffffff;

/** -j TYPE: libpcap's names; tcpdump's wording for one it does not know. */
function timestampTypeFlag(value: string | undefined): TimestampType {
  if (value === undefined) return "host";
  if ((TIMESTAMP_TYPES as readonly string[]).includes(value)) return value as TimestampType;
  throw new UsageError(`invalid time stamp type ${value}: -j takes ${TIMESTAMP_TYPES.join(", ")}`);
}

/** --time-stamp-precision: micro or nano, for the file -w writes (printed lines show microseconds). */
function precisionFlag(v: Flags): TimestampPrecision {
  const value = v["time-stamp-precision"];
  if (value === undefined) return "nano";
  if (value !== "micro" && value !== "nano") throw new UsageError(`unsupported time stamp precision ${value}: --time-stamp-precision takes micro or nano`);
  if (v.write === undefined) throw new UsageError("--time-stamp-precision chooses the precision of the file -w writes: it needs -w FILE");
  return value;
}

/** -Q DIR: tcpdump's words for the directions. */
function directionFlag(value: string | undefined): Direction {
  if (value === undefined) return "inout";
  if (value === "in" || value === "out" || value === "inout") return value;
  throw new UsageError(`-Q must be in, out or inout, got ${JSON.stringify(value)}`);
}

/** Reads `ringcap capture ARGS`; throws UsageError (or the filter's own error) for wrong usage. */
export function parseCaptureArgs(args: string[]): CaptureRequest {
  const { values, positionals } = readFlags(args);
  if (values.help) return { kind: "help" };
  if (values.read !== undefined) return { kind: "read", options: readOptions(values, positionals) };
  const snaplen = num(values.snaplen, "-s", { max: MAX_SNAPLEN }, 0);
  const iface = interfaceFlags(values.interface);
  // -i any: the frames are LINUX_SLL2, and the expression is compiled for them (as tcpdump -d -i any shows).
  const { program, text } = filterFlags(values, positionals, snaplen, iface === "any" ? LINKTYPE.LINUX_SLL2 : undefined);
  if (values.d) {
    if (!program) throw new UsageError("-d needs a filter expression");
    return { kind: "program", program };
  }
  if (iface === undefined) throw new UsageError("capture needs -i IFACE");
  if (values["list-time-stamp-types"]) {
    if (typeof iface !== "string") throw new UsageError("-J lists the timestamp types of one interface: give one -i IFACE");
    return { kind: "timestamp-types", iface, netns: values.netns };
  }
  const format = values.format === undefined ? undefined : pcapFormat(values.format);
  if (typeof iface !== "string" && values.write !== undefined && (format ?? (values.write.endsWith(".pcapng") ? "pcapng" : "pcap")) !== "pcapng") {
    throw new UsageError(`a pcap file has no field for the interface: with ${iface.length} interfaces write pcapng (-w FILE.pcapng or --format pcapng)`);
  }
  const workers = num(values.workers, "--workers", WORKERS, 1);
  refuseWhatCannotApply(values, workers);
  const rotate = rotateFlags(values);
  if (rotate && values["per-worker-files"]) {
    throw new UsageError("--per-worker-files cannot rotate (-C/-G/-W/-z): each worker would start its files at its own moments, so no set of files would hold one stretch of time; leave out --per-worker-files and the merged -w file rotates");
  }
  const count = num(values.count, "-c", {}, 0);
  if (workers > 1 && count > MAX_COUNT_WITH_WORKERS) throw new UsageError(`-c must be at most ${MAX_COUNT_WITH_WORKERS} with --workers`);
  return {
    kind: "capture",
    options: {
      iface,
      netns: values.netns,
      count,
      seconds: num(values.seconds, "--seconds", SECONDS, 0),
      snaplen,
      filter: program,
      filterText: text,
      promisc: !values["no-promisc"],
      direction: directionFlag(values.direction),
      ring: ringOptions(values.buffer, values["block-timeout"]),
      write: values.write,
      format,
      print: printOptions(values),
      status: values.status ? true : values["no-status"] ? false : undefined,
      workers,
      fanout: workers > 1 ? fanoutFlag(values.fanout) : "hash",
      perWorkerFiles: values["per-worker-files"] === true,
      flushMs: values["packet-buffered"] ? 0 : num(values["flush-ms"], "--flush-ms", FLUSH_MS, DEFAULT_FLUSH_MS),
      timestampType: timestampTypeFlag(values["time-stamp-type"]),
      precision: precisionFlag(values),
      immediate: values["immediate-mode"] ? true : values["block-timeout"] !== undefined ? false : undefined,
      rotate,
      user: userFlag(values["relinquish-privileges"]),
    },
  };
}

/** Flags that have no meaning when packets come from a file, and why. */
const NOT_OFFLINE: ReadonlyArray<readonly [keyof Flags, string, string]> = [
  ["interface", "-i", NOT_WITH_READ.interface],
  ["snaplen", "-s", NOT_WITH_READ.snaplen],
  ["buffer", "-B", NOT_WITH_READ.ring],
  ["block-timeout", "--block-timeout", NOT_WITH_READ.ring],
  ["immediate-mode", "--immediate-mode", NOT_WITH_READ.ring],
  ["workers", "--workers", NOT_WITH_READ.workers],
  ["fanout", "--fanout", NOT_WITH_READ.workers],
  ["per-worker-files", "--per-worker-files", NOT_WITH_READ.workers],
  ["no-promisc", "-p", "no interface is opened"],
  ["time-stamp-type", "-j", "a saved file's packets were stamped when they were captured"],
  ["list-time-stamp-types", "-J", "no interface is opened"],
  ["direction", "-Q", "a saved file's packets are all there is: the direction was chosen when it was captured"],
  ["netns", "--netns", NOT_WITH_READ.netns],
  ["seconds", "--seconds", `${NOT_WITH_READ.seconds} (or -c COUNT packets)`],
  ["status", "--status", "a file is read as fast as it can be, there is no live status"],
  ["no-status", "--no-status", "a file is read as fast as it can be, there is no live status"],
  ["flush-ms", "--flush-ms", "the output is complete when the file has been read (-U writes each block out at once)"],
];

/** `capture -r FILE ...`: every flag checked; the filter is only read here, not compiled. */
function readOptions(values: Flags, positionals: string[]): ReadOptions {
  const path = values.read!;
  if (path === "") throw new UsageError("-r needs a file name");
  refuseWithRead(values, NOT_OFFLINE);
  refuseOutputMismatch(values);
  const source = filterSource(values, positionals);
  return {
    path,
    count: num(values.count, "-c", {}, 0),
    expression: source.expression,
    program: source.program,
    filterText: source.text,
    dump: values.d === true,
    write: values.write,
    format: values.format === undefined ? undefined : pcapFormat(values.format),
    print: printOptions(values),
    packetBuffered: values["packet-buffered"] === true,
    precision: precisionFlag(values),
    rotate: rotateFlags(values),
    user: userFlag(values["relinquish-privileges"]),
  };
}

/**
 * Flags the rest of the command line leaves without effect. tcpdump ignores some of these
 * (`-e` with `-w`); ringcap says so instead, because a flag that does nothing is a misunderstanding
 * waiting to happen. (`-n` is not among them: ringcap prints numbers, which is what -n asks for.)
 */
function refuseWhatCannotApply(v: Flags, workers: number): void {
  if (workers === 1) {
    if (v.fanout !== undefined) throw new UsageError("--fanout chooses how --workers N share the packets: it needs --workers 2 or more");
    if (v["per-worker-files"]) throw new UsageError("--per-worker-files needs --workers N (2 or more) and -w FILE");
  }
  if (v["per-worker-files"] && (v.write === undefined || v.write === "-")) {
    throw new UsageError("--per-worker-files needs -w FILE (not stdout)");
  }
  refuseOutputMismatch(v);
  if (v.write === undefined && v["flush-ms"] !== undefined) {
    throw new UsageError("--flush-ms needs -w FILE (printed lines are written as they come)");
  }
  if (v["immediate-mode"] && v["block-timeout"] !== undefined) {
    throw new UsageError("--block-timeout sets when the kernel hands over a partly filled block, and --immediate-mode hands over each packet: give one of them");
  }
  if (v.status && v["no-status"]) throw new UsageError("give --status or --no-status, not both");
  if (v["packet-buffered"] && v["flush-ms"] !== undefined) {
    throw new UsageError("give -U (each packet written out at once) or --flush-ms MS, not both");
  }
}

/** -C MB: tcpdump's range (a whole number of millions of bytes). */
const FILE_SIZE = { min: 1, max: 1_000_000 };
/** -G SECONDS: up to a year. */
const ROTATE_SECONDS = { min: 1, max: SECONDS.max! };
/** -W COUNT. */
const FILE_COUNT = { min: 1, max: 1_000_000 };

/** -C, -G, -W and -z, checked as tcpdump checks them (and -z without a rotation, which would never run); undefined without them. */
function rotateFlags(v: Flags): RotateFlags | undefined {
  const given = (["file-size", "rotate-seconds", "file-count", "post-rotate"] as const).filter((k) => v[k] !== undefined);
  if (given.length === 0) return undefined;
  const named = { "file-size": "-C", "rotate-seconds": "-G", "file-count": "-W", "post-rotate": "-z" };
  const flag = named[given[0]];
  if (v.write === undefined) throw new UsageError(`${flag} rotates the -w file: it needs -w FILE`);
  if (v.write === "-") throw new UsageError(`${flag} rotates the -w file, and standard output cannot be rotated: give -w FILE`);
  const maxBytes = num(v["file-size"], "-C", FILE_SIZE, 0) * 1_000_000;
  const seconds = num(v["rotate-seconds"], "-G", ROTATE_SECONDS, 0);
  if (!maxBytes && !seconds) {
    throw new UsageError(v["file-count"] !== undefined ? "-W counts rotated files: it needs -C MB or -G SECONDS" : "-z runs on each file a rotation closes: it needs -C MB or -G SECONDS");
  }
  const command = v["post-rotate"];
  if (command === "") throw new UsageError("-z needs a command (for example -z gzip)");
  return { maxBytes, seconds, files: num(v["file-count"], "-W", FILE_COUNT, 0), command };
}

/** -w with flags that change printed lines, or --format without -w. */
function refuseOutputMismatch(v: Flags): void {
  if (v.write === "") throw new UsageError(`-w needs a file name ("-" for stdout)`);
  if (v.write === undefined) {
    if (v.format !== undefined) throw new UsageError("--format needs -w FILE (without -w packets are printed)");
  } else {
    const printFlag = v.link ? "-e" : v.quiet ? "-q" : v.t?.length ? (v.t.length >= 2 ? "-tt" : "-t") : null;
    if (printFlag) throw new UsageError(`${printFlag} changes printed packet lines, and with -w none are printed: leave out ${printFlag} or -w`);
  }
}

/** EXPR, `-F FILE` or `--bpf FILE`: the program to attach (none for no filter) and how to name it. */
function filterFlags(v: Flags, positionals: string[], snaplen: number, linkType?: number): { program?: BpfProgram; text: string } {
  const { expression, program, text } = filterSource(v, positionals);
  if (expression === undefined) return { program, text };
  return { program: compileExpression(expression, snaplen, linkType), text };
}


/** EXPR, `-F FILE` or `--bpf FILE` as given: an expression to compile, or a program. */
function filterSource(v: Flags, positionals: string[]): { expression?: string; program?: BpfProgram; text: string } {
  const given = [positionals.length ? "a filter expression" : "", v.F !== undefined ? "-F FILE" : "", v.bpf !== undefined ? "--bpf FILE" : ""];
  const which = given.filter((g) => g);
  if (which.length > 1) throw new UsageError(`give ${which.join(" or ")}, not ${which.length === 2 ? "both" : "all three"}`);
  if (v.bpf !== undefined) return { program: parseBpfText(readFlagFile(v.bpf, "--bpf")), text: `--bpf ${v.bpf}` };
  const expr = v.F !== undefined ? readFlagFile(v.F, "-F").replace(/#.*$/gm, "").trim() : positionals.join(" ").trim();
  if (!expr) return { text: "" };
  return { expression: expr, text: expr };
}

/** The text of `-F FILE` or `--bpf FILE`; a file that cannot be read is a UsageError naming it. */
function readFlagFile(path: string, flag: string): string {
  if (path === "") throw new UsageError(`${flag} needs a file name`);
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : (e as Error).message;
    throw new UsageError(`${flag} ${path}: cannot read it (${why})`);
  }
}

function pcapFormat(value: string): PcapFormat {
  if (value !== "pcap" && value !== "pcapng") throw new UsageError(`--format must be pcap or pcapng, got ${JSON.stringify(value)}`);
  return value;
}

function printOptions(v: Flags): PrintOptions {
  const t = v.t?.length ?? 0;
  return { linkLevel: v.link === true, quiet: v.quiet === true, verbose: v.verbose?.length ?? 0, time: t === 0 ? "local" : t >= 2 ? "epoch" : "none" };
}

/** `--fanout MODE`, checked by the library's own list, less the modes that need a program. */
function fanoutFlag(value: string | undefined): FanoutMode {
  const refuse = (why = "") => new UsageError(`--fanout must be one of ${CLI_FANOUT_MODES.join(", ")}, got ${JSON.stringify(value)}${why}`);
  let mode: FanoutMode;
  try {
    mode = fanoutMode(value);
  } catch (e) {
    if (e instanceof RingcapError && e.code === "fanout_invalid") throw refuse();
    throw e;
  }
  if (NEEDS_PROGRAM.has(mode)) throw refuse(` (${mode} steers packets with a BPF program, which the command line cannot give)`);
  return mode;
}

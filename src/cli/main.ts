#!/usr/bin/env bun
/**
 * The `ringcap` command line: `ringcap <command> [options]`. Run `ringcap help` for the list.
 * @module
 */

import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { Generator } from "../gen.ts";
import { InterfaceError, RingcapError } from "../errors.ts";
import { type Capture, type CaptureStats, openCapture, type RingOptions } from "../capture.ts";
import type { Block } from "../packet.ts";
import { PacketDecoder } from "../decode.ts";
import { type BpfProgram, compileFilter, parseBpfText } from "../bpf/filter.ts";
import { PcapWriter } from "../pcap.ts";
import { describePacket, formatTime } from "../format.ts";
import { bench } from "./bench.ts";
import { type FlowCount, FlowTable } from "../flows.ts";

export interface CommandIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** True when stderr is a terminal (live status lines may redraw in place). */
  errIsTty: boolean;
}

const defaultIO: CommandIO = {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  errIsTty: !!process.stderr.isTTY,
};

/** Thrown for wrong usage; the CLI prints it with the command's help and exits 2. */
export class UsageError extends Error {}

function num(value: string | undefined, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = Number(value.replaceAll("_", ""));
  if (!Number.isFinite(n) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

const GEN_HELP = `usage: ringcap gen -i IFACE --count N [--rate PPS] [--size BYTES] [--flows N]
                  [--vlan ID] [--qinq OUTER,INNER] [--ipv6] [--tcp|--syn] [--dst-mac MAC]
                  [--netns NAME] [--max-seconds S] [--qdisc-bypass] [--json]

Sends N synthetic frames (198.18.0.0/15 or 2001:db8::/32, sequence-numbered payloads)
out of IFACE, paced at PPS (0 = as fast as possible), printing progress once a second.`;

async function gen(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      interface: { type: "string", short: "i" },
      count: { type: "string", short: "c" },
      rate: { type: "string" },
      size: { type: "string" },
      flows: { type: "string" },
      vlan: { type: "string" },
      qinq: { type: "string" },
      ipv6: { type: "boolean" },
      tcp: { type: "boolean" },
      syn: { type: "boolean" },
      "dst-mac": { type: "string" },
      "dst-port": { type: "string" },
      netns: { type: "string" },
      "max-seconds": { type: "string" },
      "qdisc-bypass": { type: "boolean" },
      "seq-start": { type: "string" },
      batch: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    io.out(GEN_HELP);
    return 0;
  }
  if (!values.interface) throw new UsageError("gen needs -i IFACE");
  if (values.count === undefined) throw new UsageError("gen needs --count N (it never runs unbounded)");
  const count = num(values.count, "--count", 0, 1);
  const maxMs = num(values["max-seconds"], "--max-seconds", 600, 1, 86_400) * 1000;
  let qinq: { outer: number; inner: number } | undefined;
  if (values.qinq) {
    const [outer, inner] = values.qinq.split(",");
    qinq = { outer: num(outer, "--qinq outer", 0, 0, 4095), inner: num(inner, "--qinq inner", 0, 0, 4095) };
  }
  using g = new Generator(values.interface, {
    netns: values.netns,
    rate: num(values.rate, "--rate", 0, 0, 0xffffffff),
    size: num(values.size, "--size", 60, 60, 9022),
    flows: num(values.flows, "--flows", 1, 1, 0xffffffff),
    vlan: values.vlan === undefined ? undefined : { id: num(values.vlan, "--vlan", 0, 0, 4095) },
    qinq,
    ipv6: values.ipv6,
    tcp: values.tcp || values.syn,
    tcpFlags: values.syn ? 0x02 : undefined,
    dstMac: values["dst-mac"],
    dstPort: values["dst-port"] === undefined ? undefined : num(values["dst-port"], "--dst-port", 9, 1, 65535),
    qdiscBypass: values["qdisc-bypass"],
    seqStart: num(values["seq-start"], "--seq-start", 0),
    batch: values.batch === undefined ? undefined : num(values.batch, "--batch", 64, 1, 256),
  });
  const start = performance.now();
  let sent = 0;
  // One-second slices: progress between them, and the overall deadline bounds the run.
  while (sent < count) {
    const left = maxMs - (performance.now() - start);
    if (left <= 0) break;
    const r = g.send(count - sent, { maxMs: Math.min(1000, left) });
    sent += r.sent;
    const secs = (performance.now() - start) / 1000;
    if (!values.json) io.err(`gen: ${sent}/${count} frames, ${Math.round(sent / secs)} pps`);
  }
  const seconds = (performance.now() - start) / 1000;
  const result = { sent, seconds: Number(seconds.toFixed(3)), pps: Math.round(sent / seconds), frameLength: g.frameLength };
  if (values.json) io.out(JSON.stringify(result));
  else io.out(`sent ${sent} frames of ${g.frameLength} bytes in ${result.seconds} s (${result.pps} pps)`);
  return sent === count ? 0 : 1;
}

const CAPTURE_HELP = `usage: ringcap capture -i IFACE [-c COUNT] [-s SNAPLEN] [-w FILE] [--format pcap|pcapng]
                      [-G WORKERS] [--fanout MODE] [-p] [-e] [-q] [-t|-tt] [-B KiB]
                      [-F FILE | --bpf FILE] [-d] [--netns NAME] [--status|--no-status]
                      [--seconds S] [EXPR]

Captures on IFACE like tcpdump. EXPR is a tcpdump filter (compiled by libpcap, attached in
the kernel). Without -w, prints one line per packet; with -w, writes pcap or pcapng (by the
file's extension, or --format) and shows a live status line on stderr.

  -i IFACE     interface to capture on
  -c COUNT     stop after COUNT packets
  -s SNAPLEN   bytes kept per packet (default: whole packets)
  -w FILE      write packets to FILE (.pcapng: pcapng, else pcap; "-" is stdout)
  -G WORKERS   capture with this many fanout workers (one Bun Worker each)
  --fanout M   fanout mode for -G: hash (default), lb, cpu, rollover, rnd, qm
  --per-worker-files  with -G and -w, one file per worker (FILE.0.pcapng, ...) instead of one merged file
  -p           do not put the interface into promiscuous mode
  -e           print link-level headers (MAC addresses, VLAN tags)
  -q           quiet: print less protocol detail (no TCP flags)
  -t / -tt     no timestamp / Unix-epoch timestamps
  -B KiB       ring size in KiB (default 65536; per worker with -G)
  --block-timeout MS  the kernel hands over a partly filled block after MS milliseconds
               (default 10): longer means fewer wake-ups (less CPU at low rates), later packets
  -F FILE      read the filter expression from FILE
  --bpf FILE   use a compiled program (tcpdump -ddd output) instead of EXPR
  -d           print the compiled filter (like tcpdump -d) and exit
  --netns NAME capture inside a network namespace
  --seconds S  stop after S seconds
  --status / --no-status  force the once-a-second status line on or off

Exit codes: 0 ok, 1 failure, 2 usage or filter syntax, 3 no such interface,
4 no permission (grant CAP_NET_RAW), 5 interface down, 6 file unwritable or disk full.`;

/** The ring of `-B KiB` (1 MiB blocks from 64 MiB up, else 64 KiB blocks) and `--block-timeout MS`. */
export function ringOptions(bufferKiB: string | undefined, blockTimeoutMs: string | undefined): RingOptions {
  const ringKiB = num(bufferKiB, "-B", 65536, 64, 16 * 1024 * 1024);
  const blockSize = ringKiB >= 64 * 1024 ? 1 << 20 : 1 << 16;
  return {
    blockSize,
    blockCount: Math.max(2, Math.floor((ringKiB * 1024) / blockSize)),
    blockTimeoutMs: num(blockTimeoutMs, "--block-timeout", 10, 1, 60_000),
  };
}

export interface Tally {
  packets: number;
  bytes: number;
}

/** The once-a-second status line: redrawn in place on a terminal, plain lines elsewhere. */
export class StatusLine {
  #io: CommandIO;
  #last = { packets: 0, bytes: 0, at: performance.now() };
  #drawn = false;
  constructor(io: CommandIO) {
    this.#io = io;
  }
  update(t: Tally, drops: number, split?: number[]): void {
    const now = performance.now();
    const secs = Math.max(1e-3, (now - this.#last.at) / 1000);
    const pps = Math.round((t.packets - this.#last.packets) / secs);
    const mbps = ((t.bytes - this.#last.bytes) * 8) / secs / 1e6;
    this.#last = { packets: t.packets, bytes: t.bytes, at: now };
    let line = `${t.packets} packets, ${pps} pps, ${mbps.toFixed(1)} Mbps, ${drops} dropped by kernel`;
    if (split && split.length > 1) line += `, per worker ${split.join("/")}`;
    if (this.#io.errIsTty) {
      process.stderr.write(`\r\x1b[2K${line}`);
      this.#drawn = true;
    } else this.#io.err(line);
  }
  clear(): void {
    if (this.#drawn) process.stderr.write("\r\x1b[2K");
    this.#drawn = false;
  }
}

function loadFilter(values: { bpf?: string; F?: string; d?: boolean }, positionals: string[], snaplen: number): { program?: BpfProgram; expr: string } {
  if (values.bpf) {
    if (positionals.length) throw new UsageError("give a filter expression or --bpf FILE, not both");
    return { program: parseBpfText(readFileSync(values.bpf, "utf8")), expr: `--bpf ${values.bpf}` };
  }
  const expr = values.F ? readFileSync(values.F, "utf8").replace(/#.*$/gm, "").trim() : positionals.join(" ").trim();
  if (!expr) return { expr: "" };
  // asOnWire: the socket sees a stripped VLAN tag only as metadata; the filter should judge the
  // frame as tcpdump -r judges the saved one (see onWireProgram in src/filter.ts).
  return { program: compileFilter(expr, { snaplen: snaplen || 262144, asOnWire: true }), expr };
}

function programText(p: BpfProgram): string {
  const dv = new DataView(p.instructions.buffer, p.instructions.byteOffset, p.instructions.byteLength);
  const lines = [`${p.length}`];
  for (let i = 0; i < p.length; i++) {
    lines.push(`${dv.getUint16(i * 8, true)} ${dv.getUint8(i * 8 + 2)} ${dv.getUint8(i * 8 + 3)} ${dv.getUint32(i * 8 + 4, true)}`);
  }
  return lines.join("\n");
}

async function capture(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      interface: { type: "string", short: "i" },
      count: { type: "string", short: "c" },
      snaplen: { type: "string", short: "s" },
      write: { type: "string", short: "w" },
      format: { type: "string" },
      workers: { type: "string", short: "G" },
      fanout: { type: "string" },
      "per-worker-files": { type: "boolean" },
      "no-promisc": { type: "boolean", short: "p" },
      link: { type: "boolean", short: "e" },
      quiet: { type: "boolean", short: "q" },
      t: { type: "boolean", short: "t", multiple: true },
      buffer: { type: "string", short: "B" },
      "block-timeout": { type: "string" },
      F: { type: "string", short: "F" },
      bpf: { type: "string" },
      d: { type: "boolean", short: "d" },
      n: { type: "boolean", short: "n" },
      netns: { type: "string" },
      seconds: { type: "string" },
      status: { type: "boolean" },
      "no-status": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    io.out(CAPTURE_HELP);
    return 0;
  }
  const snaplen = num(values.snaplen, "-s", 0, 0, 262144);
  const format = values.format === undefined ? undefined : parseFormat(values.format);
  const { program, expr } = loadFilter(values, positionals, snaplen);
  if (values.d) {
    if (!program) throw new UsageError("-d needs a filter expression");
    io.out(programText(program));
    return 0;
  }
  if (!values.interface) throw new UsageError("capture needs -i IFACE");
  const count = num(values.count, "-c", 0, 0);
  const seconds = num(values.seconds, "--seconds", 0, 0, 31_536_000);
  const workers = num(values.workers, "-G", 1, 1, 1024);
  const geometry = ringOptions(values.buffer, values["block-timeout"]);
  if (workers > 1) {
    const { captureWithWorkers } = await import("./capture_workers.ts");
    return captureWithWorkers({ values, program, expr, snaplen, count, seconds, workers, ring: geometry }, io);
  }
  const cap = openCapture(values.interface, {
    netns: values.netns,
    snaplen,
    filter: program,
    promisc: !values["no-promisc"],
    ring: geometry,
  });
  let writer: PcapWriter | null = null;
  try {
    if (values.write) {
      // "-" is fd 1 itself: opening /dev/stdout fails when stdout is a socket (ENXIO), as it is
      // under programs that spawn with socket pairs.
      writer = PcapWriter.open(values.write === "-" ? 1 : values.write, {
        format,
        snaplen: snaplen || 262144,
        ifName: values.interface,
        linkType: linkTypeFor(cap.info.arpType),
      });
    }
  } catch (e) {
    cap.close();
    throw e;
  }
  const showStatus = values["no-status"] ? false : values.status || (io.errIsTty && (writer !== null || !process.stdout.isTTY));
  const timeStyle = values.t === undefined ? "local" : values.t.length >= 2 ? "epoch" : "none";
  const describe = { quiet: values.quiet === true };

  const tally: Tally = { packets: 0, bytes: 0 };
  const decoder = new PacketDecoder();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  // Handlers first: a Ctrl-C right after the "capturing" line must end the capture cleanly.
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  io.err(`ringcap: capturing on ${values.interface}${expr ? ` (filter: ${expr})` : ""}, ` +
    `${writer ? `writing to ${values.write}` : "printing packets"}, Ctrl-C to stop`);
  const status = new StatusLine(io);
  const ticker = showStatus ? setInterval(() => status.update(tally, cap.stats().drops), 1000) : null;
  const deadline = seconds ? setTimeout(() => stop.abort(), seconds * 1000) : null;
  const out: string[] = [];
  const ring = cap.bytes;
  const view = cap.view;
  let limit = count || Infinity;
  // A tagged frame as it was on the wire, reused; grown for a frame longer than any before.
  let frame = new Uint8Array(cap.info.frameSize);
  const take = (block: Block) => {
    for (const p of block) {
      if (tally.packets >= limit) break;
      // The kernel took the outer VLAN tag out of the frame: count it, and put it back in files.
      const wire = p.vlanValid ? p.length + 4 : p.length;
      tally.packets++;
      tally.bytes += wire;
      if (writer) {
        if (p.vlanValid) {
          if (frame.length < p.caplen + 4) frame = new Uint8Array(p.caplen + 4);
          writer.write(frame.subarray(0, p.copyWithVlanTag(frame)), wire, p.sec, p.nsec);
        } else writer.write(p.bytes, wire, p.sec, p.nsec);
      } else {
        const start = p.offset;
        const caplen = p.caplen;
        decoder.decode(ring, view, start, caplen, p.vlanValid ? p.vlanTci : -1, p.vlanValid ? p.vlanTpid : 0);
        out.push(formatTime(p.sec, p.nsec, timeStyle) + describePacket(decoder, ring, start, caplen, wire, !!values.link, describe));
      }
    }
    if (out.length) {
      io.out(out.join("\n"));
      out.length = 0;
    }
  };
  let failure: unknown = null;
  let stats: CaptureStats | null = null;
  try {
    for await (const block of cap.blocks({ signal: stop.signal })) {
      take(block);
      if (tally.packets >= limit) break;
    }
    if (stop.signal.aborted && tally.packets < limit) {
      // Ctrl-C or --seconds ends the capture at this moment: every packet the kernel has put in
      // the ring by now is kept, none after it, and the summary gives the counters of this
      // moment. The ring is read in order, so the packets to keep are the next ones, up to the
      // kernel's count; a partly filled block is handed over within the block timeout.
      stats = cap.stats();
      limit = Math.min(limit, stats.received);
      if (tally.packets < limit) {
        for await (const block of cap.blocks({ signal: AbortSignal.timeout(DRAIN_MAX_MS) })) {
          take(block);
          if (tally.packets >= limit) break;
        }
      }
    }
  } catch (e) {
    failure = e;
  } finally {
    if (ticker) clearInterval(ticker);
    if (deadline) clearTimeout(deadline);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    status.clear();
  }
  stats ??= cap.stats();
  cap.close();
  try {
    writer?.close();
  } catch (e) {
    failure ??= e;
  }
  io.err(captureSummary(tally.packets, stats));
  if (failure) throw failure;
  return 0;
}

/** tcpdump's closing lines; as there, "received by filter" includes what the kernel dropped. */
export function captureSummary(captured: number, stats: CaptureStats): string {
  return `${captured} packets captured\n${stats.received + stats.drops} packets received by filter\n${stats.drops} packets dropped by kernel`;
}

/** How long a capture ended by Ctrl-C or --seconds waits for the ring to hand over what it holds. */
const DRAIN_MAX_MS = 2000;

export function parseFormat(value: string): "pcap" | "pcapng" {
  if (value !== "pcap" && value !== "pcapng") throw new UsageError(`--format must be pcap or pcapng, got ${JSON.stringify(value)}`);
  return value;
}

/** The pcap LINKTYPE for an ARPHRD type (AF_PACKET SOCK_RAW gives Ethernet framing on both). */
export function linkTypeFor(arpType: number): number {
  switch (arpType) {
    case 1: // ARPHRD_ETHER
    case 772: // ARPHRD_LOOPBACK: the kernel gives it a fake Ethernet header
      return 1;
    case 0xfffe: // ARPHRD_NONE (tun): raw IP
      return 101;
    default:
      return 1;
  }
}

const FLOWS_HELP = `usage: ringcap flows -i IFACE [--top N] [--interval S] [--json] [--seconds S] [--netns NAME]
                    [-s SNAPLEN] [-G WORKERS] [-B KiB] [--block-timeout MS] [EXPR]

A live top-talkers table by 5-tuple (packets, bytes, rate), refreshed in place on a terminal,
or one JSON line per interval when stdout is not a terminal (or with --json). With -G, that
many fanout workers count in hash mode (every packet of a flow goes to the same worker, so
the merged table is exact). EXPR is a tcpdump filter.`;

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

/** The parsed `flows` options, shared with the -G path (_cli_flows_workers.ts). */
export interface FlowsArgs {
  iface: string;
  netns?: string;
  top: number;
  intervalMs: number;
  seconds: number;
  json: boolean;
  snaplen: number;
  filter?: BpfProgram;
  workers: number;
  ring: RingOptions;
}

async function flows(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      interface: { type: "string", short: "i" },
      top: { type: "string" },
      interval: { type: "string" },
      json: { type: "boolean" },
      seconds: { type: "string" },
      netns: { type: "string" },
      snaplen: { type: "string", short: "s" },
      workers: { type: "string", short: "G" },
      buffer: { type: "string", short: "B" },
      "block-timeout": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    io.out(FLOWS_HELP);
    return 0;
  }
  if (!values.interface) throw new UsageError("flows needs -i IFACE");
  const intervalMs = Number(values.interval ?? "1") * 1000;
  if (!(intervalMs >= 100 && intervalMs <= 3_600_000)) throw new UsageError("--interval must be between 0.1 and 3600 seconds");
  const snaplen = num(values.snaplen, "-s", 128, 0, 262144);
  const expr = positionals.join(" ").trim();
  const a: FlowsArgs = {
    iface: values.interface,
    netns: values.netns,
    top: num(values.top, "--top", 10, 1, 10_000),
    intervalMs,
    seconds: num(values.seconds, "--seconds", 0, 0, 31_536_000),
    json: values.json || !process.stdout.isTTY,
    snaplen,
    filter: expr ? compileFilter(expr, { snaplen: snaplen || 262144, asOnWire: true }) : undefined,
    workers: num(values.workers, "-G", 1, 1, 1024),
    ring: ringOptions(values.buffer, values["block-timeout"]),
  };
  if (a.workers > 1) {
    const { flowsWithWorkers } = await import("./flows_workers.ts");
    return flowsWithWorkers(a, io);
  }
  using cap: Capture = openCapture(a.iface, { netns: a.netns, snaplen: a.snaplen, filter: a.filter, ring: a.ring });
  const table = new FlowTable();
  const decoder = new PacketDecoder();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const deadline = a.seconds ? setTimeout(() => stop.abort(), a.seconds * 1000) : null;
  let lastAt = performance.now();
  const report = () => {
    const now = performance.now();
    const secs = (now - lastAt) / 1000;
    lastAt = now;
    const top = table.top(a.top).map((f) => flowsRow(f, secs));
    table.mark();
    printFlows(io, a.json, a.iface, { flows: table.size, untracked: table.untracked, drops: cap.stats().drops, top });
  };
  const ticker = setInterval(report, a.intervalMs);
  try {
    const ring = cap.bytes;
    const view = cap.view;
    for await (const block of cap.blocks({ signal: stop.signal })) {
      for (const p of block) {
        table.add(decoder.decode(ring, view, p.offset, p.caplen, p.vlanValid ? p.vlanTci : -1, p.vlanValid ? p.vlanTpid : 0), p.length);
      }
    }
  } finally {
    clearInterval(ticker);
    if (deadline) clearTimeout(deadline);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  report();
  return 0;
}

const HELP = `usage: ringcap <command> [options]

commands:
  capture   capture packets like tcpdump: print them, or write pcap/pcapng (-w)
  flows     live top-talkers table by 5-tuple
  gen       send synthetic frames (for testing a setup)
  bench     run the benchmark in a namespace of its own (see BENCHMARKS.md)
  help      this text

Run \`ringcap <command> --help\` for a command's options.`;

const COMMANDS: Record<string, (args: string[], io: CommandIO) => Promise<number>> = { capture, flows, gen, bench };

/**
 * Exit codes, documented in `ringcap help`: 1 other failure, 2 usage or filter syntax,
 * 3 no such interface, 4 no permission, 5 interface down, 6 file unwritable or disk full.
 */
export const EXIT = { failure: 1, usage: 2, noInterface: 3, permission: 4, interfaceDown: 5, file: 6 } as const;

function exitCodeFor(e: RingcapError): number {
  switch (e.code) {
    case "filter_syntax":
    case "invalid_argument":
    case "bpf_text_invalid":
    case "filter_vlan_unsupported":
      return EXIT.usage;
    case "no_such_interface":
    case "interface_name_invalid":
      return EXIT.noInterface;
    case "permission_denied":
      return EXIT.permission;
    case "interface_down":
      return EXIT.interfaceDown;
    case "file_unwritable":
    case "disk_full":
    case "write_failed":
      return EXIT.file;
    default:
      return EXIT.failure;
  }
}

/** Runs the CLI with `argv` (without the program name); resolves to the exit code. */
export async function main(argv: string[], io: CommandIO = defaultIO): Promise<number> {
  const [command, ...rest] = argv;
  if (!command) {
    // Usage errors go to stderr: stdout may be a pipe that expects packets.
    io.err(HELP);
    return 2;
  }
  if (command === "help" || command === "--help" || command === "-h") {
    io.out(HELP);
    return 0;
  }
  const fn = COMMANDS[command];
  if (!fn) {
    io.err(`ringcap: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return 2;
  }
  try {
    return await fn(rest, io);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`ringcap ${command}: ${(e as Error).message} (see \`ringcap ${command} --help\`)`);
      return 2;
    }
    if (e instanceof RingcapError) {
      io.err(`ringcap ${command}: ${e.message}`);
      return exitCodeFor(e);
    }
    throw e;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}

/**
 * `ringcap capture`: tcpdump's job on one ring, printing packet lines or writing pcap/pcapng.
 * With `--workers N` (N > 1) the capture runs on fanout workers instead (capture_workers.ts, loaded
 * only then).
 * @module
 */

import { type Capture, type CaptureStats, openCapture, type TimestampType, timestampTypes } from "../capture.ts";
import { programText } from "../bpf/program.ts";
import type { Block } from "../packet.ts";
import { CAPTURE_HELP, type CaptureOptions, parseCaptureArgs } from "./capture_options.ts";
import {
  captureSummary,
  capturingLine,
  fileLimitLine,
  type FileOutput,
  immediateMode,
  isClosedPipe,
  openOutput,
  PacketLines,
  showStatus,
  StatusLine,
  stdoutFailure,
  type Tally,
  TimedFlush,
} from "./capture_output.ts";
import { relinquish } from "./flags.ts";
import { type CommandIO, DRAIN_MAX_MS, RunStop } from "./io.ts";
import { captureFromFile } from "./capture_read.ts";

/** libpcap's descriptions of the timestamp types, as tcpdump -J prints them. */
const TIMESTAMP_DESCRIPTIONS: Readonly<Record<TimestampType, string>> = {
  host: "Host",
  adapter: "Adapter",
  adapter_unsynced: "Adapter, not synced with system time",
};

/** Runs `ringcap capture ARGS`; resolves to the exit code. */
export async function capture(args: string[], io: CommandIO): Promise<number> {
  const request = parseCaptureArgs(args);
  if (request.kind === "help") {
    io.out(CAPTURE_HELP);
    return 0;
  }
  if (request.kind === "program") {
    io.out(programText(request.program));
    return 0;
  }
  if (request.kind === "read") return captureFromFile(request.options, io);
  if (request.kind === "timestamp-types") {
    const { iface, netns } = request;
    // On stderr, as tcpdump 4.99 prints it.
    io.err(`Time stamp types for ${iface} (use option -j to set):`);
    for (const t of timestampTypes(iface, { netns })) io.err(`  ${t} (${TIMESTAMP_DESCRIPTIONS[t]})`);
    return 0;
  }
  const o = request.options;
  if (o.workers > 1) {
    const { captureWithWorkers } = await import("./capture_workers.ts");
    return captureWithWorkers(o, io);
  }
  return captureOnOneRing(o, io);
}

async function captureOnOneRing(o: CaptureOptions, io: CommandIO): Promise<number> {
  const immediate = immediateMode(o, process.stdout.isTTY === true);
  const cap = openCapture(o.iface, { netns: o.netns, snaplen: o.snaplen, filter: o.filter, promisc: o.promisc, direction: o.direction, ring: o.ring, timestampType: o.timestampType, immediate });
  let writer: FileOutput | null;
  try {
    // -Z: the socket is open; the file is made as the user (before any blocks() loop starts).
    relinquish(o.user);
    writer = o.write === undefined ? null : openOutput(o.write, o, cap.info, io);
  } catch (e) {
    cap.close();
    throw e;
  }
  const stop = new RunStop(o.seconds, io);
  // A write that fails (disk full, a closed pipe) ends the capture at once, timer or packet.
  const flusher = writer ? new TimedFlush(writer, o.flushMs, () => stop.stop()) : null;
  const sink = new PacketSink(cap, writer, flusher, o, io);
  io.err(capturingLine(o, writer ? `writing to ${o.write}` : "printing packets"));
  const status = new StatusLine(io);
  const ticker = showStatus(o, io) ? setInterval(() => status.update(sink.tally, cap.stats().drops), 1000) : null;
  let failure: unknown = null;
  let stats: CaptureStats | null = null;
  try {
    stats = await readRing(cap, sink, stop.signal, io);
  } catch (e) {
    failure = e;
  } finally {
    if (ticker) clearInterval(ticker);
    flusher?.stop();
    stop.release();
    status.clear();
  }
  failure ??= flusher?.failure ?? null;
  stats ??= cap.stats();
  cap.close();
  try {
    writer?.close();
  } catch (e) {
    failure ??= e;
  }
  // What the file holds (a failed write leaves it at its last whole record), or what was printed.
  io.err(captureSummary(writer ? writer.flushedPackets : sink.tally.packets, stats));
  failure ??= stdoutFailure(io);
  // stdout's reader gone (-w - | head) ends the capture as tcpdump's SIGPIPE does: exit 0.
  if (failure && !isClosedPipe(failure)) throw failure;
  return 0;
}

/**
 * Takes blocks into `sink` until it is full or `signal` aborts. Resolves to the counters of the
 * moment of the abort, or null when it was not aborted. Throws what the ring throws
 * ("network_down" once it has handed over what it held) and the first write error.
 */
async function readRing(cap: Capture, sink: PacketSink, signal: AbortSignal, io: CommandIO): Promise<CaptureStats | null> {
  for await (const block of cap.blocks({ signal })) {
    sink.take(block);
    if (sink.full) return null;
  }
  sink.throwIfFailed();
  if (!signal.aborted) return null;
  // Printed lines have nowhere to go once stdout has closed: nothing to drain.
  if (io.outClosed?.aborted && !sink.writing) return cap.stats();
  // Ctrl-C or --seconds ends the capture at this moment: every packet the kernel has put in
  // the ring by now is kept, none after it, and the summary gives the counters of this
  // moment. The ring is read in order, so the packets to keep are the next ones, up to the
  // kernel's count; a partly filled block is handed over within the block timeout.
  const stats = cap.stats();
  sink.limit = Math.min(sink.limit, stats.received);
  if (sink.full) return stats;
  for await (const block of cap.blocks({ signal: AbortSignal.timeout(DRAIN_MAX_MS) })) {
    sink.take(block);
    if (sink.full) break;
  }
  return stats;
}

/** Where the packets of one ring go: the -w file, or packet lines on stdout; up to `limit`. */
class PacketSink {
  readonly tally: Tally = { packets: 0, bytes: 0 };
  /** Packets to take in all (-c, or the kernel's count at Ctrl-C). */
  limit: number;
  readonly #ring: Uint8Array;
  readonly #writer: FileOutput | null;
  readonly #flusher: TimedFlush | null;
  readonly #lines: PacketLines;
  readonly #io: CommandIO;
  readonly #options: CaptureOptions;
  readonly #out: string[] = [];

  constructor(cap: Capture, writer: FileOutput | null, flusher: TimedFlush | null, o: CaptureOptions, io: CommandIO) {
    this.limit = o.count || Infinity;
    this.#options = o;
    this.#ring = cap.bytes;
    this.#writer = writer;
    this.#flusher = flusher;
    this.#lines = new PacketLines(o.print, (ifindex) => cap.interfaceName(ifindex) || undefined);
    this.#io = io;
  }

  get full(): boolean {
    return this.tally.packets >= this.limit;
  }

  /** True with -w. */
  get writing(): boolean {
    return this.#writer !== null;
  }

  /** Throws the timed flush's write error, if it had one. */
  throwIfFailed(): void {
    if (this.#flusher?.failure) throw this.#flusher.failure;
  }

  take(block: Block): void {
    this.throwIfFailed();
    for (const p of block) {
      if (this.full) break;
      // The kernel took the outer VLAN tag out of the frame: count it, and put it back in files.
      const wire = p.wireLength;
      if (this.#writer) {
        // -G -W: the last file is written; the capture ends here, as tcpdump's does.
        if (this.#writer.writePacket(p) === false) {
          this.limit = this.tally.packets;
          this.#io.err(fileLimitLine(this.#options));
          break;
        }
      }
      this.tally.packets++;
      this.tally.bytes += wire;
      if (!this.#writer) this.#out.push(this.#lines.line(p.decode(), this.#ring, p.offset, p.caplen, wire, p.sec, p.nsec));
    }
    // -U: out as soon as taken, as tcpdump -U (a block's packets reach us together).
    if (this.#writer && this.#flusher?.everyPacket && !this.#writer.closed) this.#writer.flush();
    if (this.#out.length) {
      this.#io.out(this.#out.join("\n"));
      this.#out.length = 0;
    }
  }
}

/**
 * What both capture paths (one ring, --workers) show and write: the "capturing on" line, the
 * packet lines, the output file, the once-a-second status line and tcpdump's closing summary.
 * @module
 */

import type { CaptureInfo, CaptureStats } from "../capture.ts";
import type { PacketDecoder } from "../decode.ts";
import { RingcapError } from "../errors.ts";
import { type DescribeOptions, describePacket, formatTime } from "../format.ts";
import { snaplenOrMax } from "../options.ts";
import { interfaceOptions, PcapWriter, type PcapWriterOptions } from "../pcap.ts";
import { RotatingWriter } from "../rotate.ts";
import { spawn } from "node:child_process";
import type { CaptureOptions, PrintOptions, RotateFlags } from "./capture_options.ts";
import type { CommandIO } from "./io.ts";

/** Packets and wire bytes taken so far. */
export interface Tally {
  packets: number;
  bytes: number;
}

/** `ringcap: capturing on IFACE ...` on stderr; `how` tells about workers, `target` where packets go. */
export function capturingLine(o: CaptureOptions, target: string, how = ""): string {
  return `ringcap: capturing on ${o.iface}${how}${o.filterText ? ` (filter: ${o.filterText})` : ""}, ${target}, Ctrl-C to stop`;
}

/**
 * Whether the capture runs in immediate mode: as asked (--immediate-mode, or --block-timeout for
 * not), else when packet lines are printed (no -w) to a terminal (`stdoutIsTty`), where a
 * person waits for each line, as tcpdump's maintainers recommend (tcpdump 4.99.3 does not).
 */
export function immediateMode(o: Pick<CaptureOptions, "immediate" | "write">, stdoutIsTty: boolean): boolean {
  return o.immediate ?? (o.write === undefined && stdoutIsTty);
}

/** The status line is shown when asked for, or by default when stderr is a terminal that packet lines do not fill. */
export function showStatus(o: CaptureOptions, io: CommandIO): boolean {
  return o.status ?? (io.errIsTty && (o.write !== undefined || !process.stdout.isTTY));
}

/**
 * Opens `-w PATH` for the frames of a capture (its link type; in pcapng, one interface
 * description per interface it names). "-" is fd 1 itself: opening /dev/stdout fails when
 * stdout is a socket (ENXIO), as it is under programs that spawn with socket pairs.
 */
export function openOutput(path: string, o: CaptureOptions, info: OutputInterfaces, io: CommandIO): FileOutput {
  return openFileOutput(path, {
    format: o.format,
    precision: o.precision,
    snaplen: snaplenOrMax(o.snaplen),
    linkType: info.linkType,
    ...interfaceOptions(info),
  }, o.rotate, io);
}

/** The -w output: one file, or with -C/-G/-W a {@link RotatingWriter}. */
export type FileOutput = PcapWriter | RotatingWriter;

/**
 * Opens `-w PATH` ("-": fd 1) with `options`; with -C/-G/-W, a rotating file whose -z command
 * runs, without being waited for, on each file a rotation closes (as tcpdump's -z: `CMD FILE`).
 */
export function openFileOutput(path: string, options: PcapWriterOptions, rotate: RotateFlags | undefined, io: CommandIO): FileOutput {
  if (!rotate) return PcapWriter.open(path === "-" ? 1 : path, options);
  const command = rotate.command;
  const onRotate = command === undefined ? undefined : (closed: string) => {
    const child = spawn(command, [closed], { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", (e) => io.err(`ringcap: -z ${command} ${closed}: ${e.message}`));
    child.unref();
  };
  if (rotate.seconds && !/%./.test(path)) io.err(`ringcap: -G with a -w name that has no strftime pattern (such as %Y%m%d-%H%M%S): each new file replaces the last, as in tcpdump`);
  return RotatingWriter.open(path, options, { maxBytes: rotate.maxBytes, seconds: rotate.seconds, files: rotate.files, onRotate });
}

/** "Maximum file limit reached: COUNT", tcpdump's line when -G -W has written its files. */
export function fileLimitLine(o: { rotate?: RotateFlags }): string {
  return `Maximum file limit reached: ${o.rotate?.files}`;
}

/** What a file's header says of a capture's interfaces. */
export type OutputInterfaces = Pick<CaptureInfo, "linkType" | "interfaces" | "ifindexes">;

/** tcpdump's lines for packets, as `-e`, `-q` and `-t`/`-tt` ask. */
export class PacketLines {
  readonly #print: PrintOptions;
  readonly #describe: DescribeOptions;

  /** `interfaceName` names the interface of a LINUX_SLL2 frame (-i any) by its index. */
  constructor(print: PrintOptions, interfaceName?: (ifindex: number) => string | undefined) {
    this.#print = print;
    this.#describe = { quiet: print.quiet, verbose: print.verbose, interfaceName };
  }

  /** The line of the frame at `start` in `bytes`, which `d` has decoded. */
  line(d: PacketDecoder, bytes: Uint8Array, start: number, caplen: number, wireLength: number, sec: number, nsec: number): string {
    return formatTime(sec, nsec, this.#print.time) + describePacket(d, bytes, start, caplen, wireLength, this.#print.linkLevel, this.#describe);
  }
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

/** tcpdump's closing lines; as there, "received by filter" includes what the kernel dropped. */
export function captureSummary(captured: number, stats: CaptureStats): string {
  const lines = `${captured} packets captured\n${stats.received + stats.drops} packets received by filter\n${stats.drops} packets dropped by kernel`;
  // tcpdump adds its fourth line only when the count is not zero, "packet" when it is one.
  const n = stats.interfaceDrops;
  return n ? `${lines}\n${n} packet${n === 1 ? "" : "s"} dropped by interface` : lines;
}

/** EPIPE: the reader of a pipe has gone. */
const EPIPE = 32;

/**
 * Whether `e` is a write to a pipe whose reader has gone (`ringcap capture -w - | head -c 100`):
 * the capture then ends as tcpdump's does on SIGPIPE, with its summary and exit 0.
 */
export function isClosedPipe(e: unknown): boolean {
  const x = e as { errno?: number; code?: string } | null;
  return !!x && (x.errno === EPIPE || x.errno === -EPIPE || x.code === "EPIPE");
}

/**
 * Why printed lines could not reach stdout, as the error to end the command with: null when
 * they did, or when its reader has gone (EPIPE, not a failure); "disk_full" or "write_failed"
 * otherwise (`ringcap capture > /full/disk/file`).
 */
export function stdoutFailure(io: CommandIO): RingcapError | null {
  const reason = io.outClosed?.aborted ? (io.outClosed.reason as Error & { code?: string; errno?: number }) : null;
  if (!reason || isClosedPipe(reason)) return null;
  const full = reason.code === "ENOSPC" || reason.code === "EDQUOT";
  return new RingcapError(full ? "disk_full" : "write_failed", `cannot write to stdout: ${reason.message ?? reason}`, {
    errno: typeof reason.errno === "number" ? Math.abs(reason.errno) : undefined,
    cause: reason,
  });
}

/**
 * Writes a -w file's buffered packets out on time: at least every `flushMs` (--flush-ms), or
 * after every packet (`flushMs` 0: -U). A failed write is kept as `failure` (the writer has
 * closed itself) and reported through `onFailure`, once.
 */
export class TimedFlush {
  /** The first write error, if any. */
  failure: unknown = null;
  readonly #writer: FileOutput;
  readonly #timer: ReturnType<typeof setInterval> | null;
  readonly #onFailure: (e: unknown) => void;

  constructor(writer: FileOutput, flushMs: number, onFailure: (e: unknown) => void) {
    this.#writer = writer;
    this.#onFailure = onFailure;
    this.#timer = flushMs > 0 ? setInterval(() => this.flush(), flushMs) : null;
  }

  /** True with -U: the caller flushes after each packet. */
  get everyPacket(): boolean {
    return this.#timer === null;
  }

  /** Writes the buffer out now; false (the failure kept) if that failed. */
  flush(): boolean {
    if (this.failure) return false;
    if (this.#writer.closed) return true;
    try {
      this.#writer.flush();
      return true;
    } catch (e) {
      this.failure = e;
      this.#onFailure(e);
      return false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}

/**
 * `ringcap capture -G N`: the capture spread over N fanout workers (one Bun Worker each, see
 * fanout.ts). With `-w FILE` the workers' packets are merged into one file in timestamp order
 * here, on the main thread; with `--per-worker-files` each worker writes its own file, which
 * scales with the workers since no thread sees every packet. Without `-w` the merged packets
 * are printed as the one-worker capture prints them.
 * @module
 */

import { type FanoutMode, openFanout } from "../fanout/pool.ts";
import type { RingOptions } from "../capture.ts";
import type { BpfProgram } from "../bpf/filter.ts";
import { PacketDecoder } from "../decode.ts";
import { describePacket, formatTime } from "../format.ts";
import { PcapWriter } from "../pcap.ts";
import { RingcapError } from "../errors.ts";
import { captureSummary, type CommandIO, linkTypeFor, parseFormat, StatusLine, type Tally, UsageError } from "./main.ts";
import {
  type CliBatch,
  type CliWorkerData,
  type CliWorkerReport,
  RECORD_HEADER_BYTES,
  RESERVED,
  unconsumedSlot,
} from "./capture_handler.ts";

/** The fanout modes that make sense for a capture to file or screen. */
const CLI_MODES = ["hash", "lb", "cpu", "rollover", "rnd", "qm"] as const;

/**
 * How long a packet may wait for the other workers before it is merged anyway. A worker hands
 * a packet over at the latest when the kernel retires its block (the block timeout, twice at
 * worst) and the worker has posted it; this covers both with room to spare.
 */
const HOLD_MS = 250;
/** Bytes a worker may have waiting here before it stops reading (the kernel then counts drops). */
const MAX_UNCONSUMED_BYTES = 64 << 20;

export interface WorkerCaptureArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  program?: BpfProgram;
  expr: string;
  snaplen: number;
  count: number;
  seconds: number;
  workers: number;
  ring: RingOptions;
}

interface Batch {
  bytes: Uint8Array;
  view: DataView;
  /** Offset of the next record. */
  at: number;
  end: number;
}

/**
 * Merges the workers' batches by timestamp. A packet is let out when every worker that is still
 * running has a packet waiting (so nothing earlier can come from them), or when it is older than
 * HOLD_MS, or when the capture has ended. Each worker's own packets come in ring order.
 */
export class BatchMerger {
  #queues: Batch[][];
  #ended: boolean[];
  #onConsumed: (worker: number, bytes: number) => void;

  constructor(workers: number, onConsumed: (worker: number, bytes: number) => void) {
    this.#queues = Array.from({ length: workers }, () => []);
    this.#ended = new Array(workers).fill(false);
    this.#onConsumed = onConsumed;
  }

  push(worker: number, batch: CliBatch): void {
    if (batch.bytes === 0) return;
    this.#queues[worker].push({ bytes: new Uint8Array(batch.buffer), view: new DataView(batch.buffer), at: 0, end: batch.bytes });
  }

  /** Worker `worker` will send nothing more. */
  end(worker: number): void {
    this.#ended[worker] = true;
  }

  /**
   * Calls `emit(bytes, view, start, caplen, wireLength, sec, nsec)` for each packet that may go
   * out now, oldest first; everything when `final`. `emit` returns false to stop early.
   */
  drain(final: boolean, emit: (bytes: Uint8Array, view: DataView, start: number, caplen: number, wire: number, sec: number, nsec: number) => boolean): void {
    const queues = this.#queues;
    const cutoffSec = (Date.now() - HOLD_MS) / 1000;
    while (true) {
      let best = -1;
      let bestSec = 0;
      let bestNsec = 0;
      let waiting = false;
      for (let w = 0; w < queues.length; w++) {
        const q = queues[w];
        if (q.length === 0) {
          if (!this.#ended[w]) waiting = true;
          continue;
        }
        const b = q[0];
        const sec = b.view.getUint32(b.at, true);
        const nsec = b.view.getUint32(b.at + 4, true);
        if (best < 0 || sec < bestSec || (sec === bestSec && nsec < bestNsec)) {
          best = w;
          bestSec = sec;
          bestNsec = nsec;
        }
      }
      if (best < 0) return;
      if (waiting && !final && bestSec + bestNsec / 1e9 > cutoffSec) return;
      const q = queues[best];
      const b = q[0];
      const caplen = b.view.getUint32(b.at + 8, true);
      const wire = b.view.getUint32(b.at + 12, true);
      const start = b.at + RECORD_HEADER_BYTES;
      b.at = start + caplen;
      if (b.at >= b.end) {
        q.shift();
        this.#onConsumed(best, b.end);
      }
      if (!emit(b.bytes, b.view, start, caplen, wire, bestSec, bestNsec)) return;
    }
  }

  /** Drops whatever is still queued (after the count was reached), releasing its bytes. */
  discard(): void {
    for (let w = 0; w < this.#queues.length; w++) {
      for (const b of this.#queues[w]) this.#onConsumed(w, b.end);
      this.#queues[w] = [];
    }
  }
}

/** FILE.pcapng -> FILE.0.pcapng, FILE.1.pcapng, ... (the index goes before the extension). */
export function perWorkerPaths(path: string, workers: number): string[] {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  const hasExt = dot > slash + 1;
  const stem = hasExt ? path.slice(0, dot) : path;
  const ext = hasExt ? path.slice(dot) : "";
  return Array.from({ length: workers }, (_, i) => `${stem}.${i}${ext}`);
}

export async function captureWithWorkers(args: WorkerCaptureArgs, io: CommandIO): Promise<number> {
  const { values, program, expr, snaplen, count, seconds, workers } = args;
  const iface = values.interface as string;
  const mode = (values.fanout as string | undefined) ?? "hash";
  if (!(CLI_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`--fanout must be one of ${CLI_MODES.join(", ")}, got ${JSON.stringify(mode)}`);
  }
  if (count > 0x7fffffff) throw new UsageError(`-c must be at most ${0x7fffffff} with -G`);
  const write = values.write as string | undefined;
  const perWorkerFiles = values["per-worker-files"] === true;
  if (perWorkerFiles && (!write || write === "-")) throw new UsageError("--per-worker-files needs -w FILE (not stdout)");
  const format = values.format === undefined ? undefined : parseFormat(values.format as string);
  const paths = perWorkerFiles ? perWorkerPaths(write!, workers) : undefined;

  const shared = new Int32Array(new SharedArrayBuffer(4 * (1 + workers)));
  const workerData: CliWorkerData = {
    output: perWorkerFiles ? "files" : "merge",
    shared: shared.buffer as SharedArrayBuffer,
    count,
    paths,
    format,
    snaplen,
    maxUnconsumedBytes: MAX_UNCONSUMED_BYTES,
  };

  const merger = new BatchMerger(workers, (w, bytes) => {
    Atomics.sub(shared, unconsumedSlot(w), bytes);
    Atomics.notify(shared, unconsumedSlot(w));
  });
  const taken: number[] = new Array(workers).fill(0);
  const pool = await openFanout<CliWorkerData, CliWorkerReport>(iface, {
    worker: new URL("./capture_handler.ts", import.meta.url),
    workerData,
    workers,
    mode: mode as FanoutMode,
    ring: args.ring,
    filter: program,
    snaplen,
    promisc: !values["no-promisc"],
    netns: values.netns as string | undefined,
    reportIntervalMs: 500,
  });

  let writer: PcapWriter | null = null;
  try {
    if (write && !perWorkerFiles) {
      // "-" is fd 1 itself (opening /dev/stdout fails when stdout is a socket).
      writer = PcapWriter.open(write === "-" ? 1 : write, {
        format,
        snaplen: snaplen || 262144,
        ifName: iface,
        linkType: linkTypeFor(pool.info[0]?.arpType ?? 1),
      });
    }
  } catch (e) {
    await pool.close().catch(() => {});
    throw e;
  }

  const showStatus = values["no-status"] ? false : values.status === true || (io.errIsTty && (write !== undefined || !process.stdout.isTTY));
  const t = values.t as boolean[] | undefined;
  const timeStyle = t === undefined ? "local" : t.length >= 2 ? "epoch" : "none";
  const target = perWorkerFiles ? `writing to ${paths!.join(", ")}` : write ? `writing to ${write}` : "printing packets";
  io.err(`ringcap: capturing on ${iface} with ${workers} workers (fanout ${mode}, group ${pool.groupId})` +
    `${expr ? ` (filter: ${expr})` : ""}, ${target}, Ctrl-C to stop`);

  const tally: Tally = { packets: 0, bytes: 0 };
  const decoder = new PacketDecoder();
  const linkLevel = values.link === true;
  const describe = { quiet: values.quiet === true };
  const lines: string[] = [];
  let failure: unknown = null;
  const emit = (bytes: Uint8Array, view: DataView, start: number, caplen: number, wire: number, sec: number, nsec: number): boolean => {
    if (count && tally.packets >= count) return false;
    tally.packets++;
    tally.bytes += wire;
    if (writer) writer.write(bytes.subarray(start, start + caplen), wire, sec, nsec);
    else {
      decoder.decode(bytes, view, start, caplen);
      lines.push(formatTime(sec, nsec, timeStyle) + describePacket(decoder, bytes, start, caplen, wire, linkLevel, describe));
    }
    return true;
  };
  const drain = (final: boolean) => {
    if (failure) return;
    try {
      merger.drain(final, emit);
    } catch (e) {
      failure = e;
      stop();
    }
    if (lines.length) {
      io.out(lines.join("\n"));
      lines.length = 0;
    }
  };

  let stop = () => {};
  const stopping = new Promise<void>((resolve) => (stop = resolve));
  pool.on("message", (m) => {
    merger.push(m.workerIndex, m.data as CliBatch);
    drain(false);
  });
  pool.on("report", (r) => {
    taken[r.workerIndex] = r.data?.taken ?? taken[r.workerIndex];
    if (r.final) merger.end(r.workerIndex);
  });
  pool.done.catch((e) => {
    failure ??= e;
    stop();
  });
  const onSignal = () => stop();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const status = new StatusLine(io);
  // Packets taken so far: merged here, or written by the workers themselves (as they report).
  const captured = (): Tally => (perWorkerFiles ? { packets: taken.reduce((a, b) => a + b, 0), bytes: pool.stats().total.bytes } : tally);
  const ticker = showStatus
    ? setInterval(() => {
      const s = pool.stats();
      status.update(captured(), s.total.drops, s.perWorker.map((w) => w.packets));
    }, 1000)
    : null;
  const deadline = seconds ? setTimeout(stop, seconds * 1000) : null;
  // Merges what has waited long enough, and notices when the workers have taken COUNT packets.
  const poll = setInterval(() => {
    if (!perWorkerFiles) drain(false);
    if (count && Atomics.load(shared, RESERVED) >= count) stop();
  }, 50);

  await stopping;
  clearInterval(poll);
  if (ticker) clearInterval(ticker);
  if (deadline) clearTimeout(deadline);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  try {
    // Each worker first takes what its ring holds at this moment (Ctrl-C and --seconds lose
    // nothing the kernel had already captured). Every batch a worker posted arrives before its
    // final report, which arrives before close resolves.
    await pool.close({ drain: true });
  } catch (e) {
    failure ??= e;
  }
  status.clear();
  drain(true);
  merger.discard();
  try {
    writer?.close();
  } catch (e) {
    failure ??= e;
  }
  const s = pool.stats();
  io.err(`${captureSummary(captured().packets, s.total)}\nper worker: ${s.perWorker.map((w) => w.packets).join("/")} packets seen`);
  if (failure) throw unwrapWorkerFailure(failure);
  return 0;
}

/**
 * A failure inside a worker arrives as "worker_failed" with the worker's own error as its cause;
 * a file error there (disk full, unwritable) should end the CLI as it does without workers.
 */
function unwrapWorkerFailure(e: unknown): unknown {
  if (!(e instanceof RingcapError) || e.code !== "worker_failed") return e;
  let cause = e.cause as (Error & { code?: string; errno?: number; cause?: unknown }) | undefined;
  while (cause && !(cause as { code?: string }).code && cause.cause) cause = cause.cause as typeof cause;
  const code = cause?.code;
  if (code && code !== "worker_failed") return new RingcapError(code, e.message, { errno: cause?.errno, cause: e });
  return e;
}

/**
 * `ringcap capture --workers N`: the capture spread over N fanout workers (one Bun Worker each, see
 * src/fanout/). With `-w FILE` the workers' packets are merged into one file in timestamp order
 * here, on the main thread; with `--per-worker-files` each worker writes its own file, which
 * scales with the workers since no thread sees every packet. Without `-w` the merged packets
 * are printed as the one-ring capture prints them. The workers run capture_handler.ts.
 * @module
 */

import { type FanoutPool, openFanout } from "../fanout/pool.ts";
import { LINKTYPE, PacketDecoder } from "../decode.ts";
import { interfacesByIndex } from "../interfaces.ts";
import {
  type CaptureBatch,
  type CaptureWorkerData,
  type CaptureWorkerReport,
  RECORD,
  RECORD_HEADER_BYTES,
  RESERVED,
  sharedCounters,
  unconsumedSlot,
} from "./capture_handler.ts";
import type { CaptureOptions } from "./capture_options.ts";
import {
  captureSummary,
  capturingLine,
  immediateMode,
  isClosedPipe,
  fileLimitLine,
  type FileOutput,
  openOutput,
  PacketLines,
  showStatus,
  StatusLine,
  stdoutFailure,
  type Tally,
  TimedFlush,
} from "./capture_output.ts";
import { relinquish } from "./flags.ts";
import { type CommandIO, RunStop, unwrapWorkerFailure } from "./io.ts";

/**
 * How long a packet may wait for the other workers before it is merged anyway. A worker hands
 * a packet over at the latest when the kernel retires its block (the block timeout, twice at
 * worst) and the worker has posted it; this covers both with room to spare.
 */
const HOLD_MS = 250;
/** Bytes a worker may have waiting here before it stops reading (the kernel then counts drops). */
const MAX_UNCONSUMED_BYTES = 64 << 20;
/** How often the main thread merges what has waited long enough and looks at the shared count. */
const POLL_MS = 50;
/** How often the workers report (their counts for the status line and the summary). */
const REPORT_MS = 500;
/**
 * The most often a worker writing its own file reports (and so flushes, when no block comes):
 * with packets coming, onBlock flushes on time whatever --flush-ms is.
 */
const MIN_REPORT_MS = 100;

/** Called for each merged packet; returns false to stop early. */
export type EmitPacket = (bytes: Uint8Array, view: DataView, start: number, caplen: number, wireLength: number, sec: number, nsec: number, ifindex: number) => boolean;

interface QueuedBatch {
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
  #queues: QueuedBatch[][];
  #ended: boolean[];
  #onConsumed: (worker: number, bytes: number) => void;

  constructor(workers: number, onConsumed: (worker: number, bytes: number) => void) {
    this.#queues = Array.from({ length: workers }, () => []);
    this.#ended = new Array(workers).fill(false);
    this.#onConsumed = onConsumed;
  }

  push(worker: number, batch: CaptureBatch): void {
    if (batch.bytes === 0) return;
    this.#queues[worker].push({ bytes: new Uint8Array(batch.buffer), view: new DataView(batch.buffer), at: 0, end: batch.bytes });
  }

  /** Worker `worker` will send nothing more. */
  end(worker: number): void {
    this.#ended[worker] = true;
  }

  /** Calls `emit` for each packet that may go out now, oldest first; everything when `final`. */
  drain(final: boolean, emit: EmitPacket): void {
    const cutoffSec = (Date.now() - HOLD_MS) / 1000;
    while (true) {
      const next = this.#oldest();
      if (!next) return;
      const { worker, sec, nsec, waiting } = next;
      if (waiting && !final && sec + nsec / 1e9 > cutoffSec) return;
      const q = this.#queues[worker];
      const b = q[0];
      const caplen = b.view.getUint32(b.at + RECORD.caplen, true);
      const wireLength = b.view.getUint32(b.at + RECORD.wireLength, true);
      const ifindex = b.view.getInt32(b.at + RECORD.ifindex, true);
      const start = b.at + RECORD_HEADER_BYTES;
      b.at = start + caplen;
      if (b.at >= b.end) {
        q.shift();
        this.#onConsumed(worker, b.end);
      }
      if (!emit(b.bytes, b.view, start, caplen, wireLength, sec, nsec, ifindex)) return;
    }
  }

  /** Drops whatever is still queued (after the count was reached), releasing its bytes. */
  discard(): void {
    for (let w = 0; w < this.#queues.length; w++) {
      for (const b of this.#queues[w]) this.#onConsumed(w, b.end);
      this.#queues[w] = [];
    }
  }

  /** The worker whose next packet is the oldest, and whether a running worker has none waiting. */
  #oldest(): { worker: number; sec: number; nsec: number; waiting: boolean } | null {
    let best = -1;
    let bestSec = 0;
    let bestNsec = 0;
    let waiting = false;
    for (let w = 0; w < this.#queues.length; w++) {
      const q = this.#queues[w];
      if (q.length === 0) {
        if (!this.#ended[w]) waiting = true;
        continue;
      }
      const b = q[0];
      const sec = b.view.getUint32(b.at + RECORD.sec, true);
      const nsec = b.view.getUint32(b.at + RECORD.nsec, true);
      if (best < 0 || sec < bestSec || (sec === bestSec && nsec < bestNsec)) {
        best = w;
        bestSec = sec;
        bestNsec = nsec;
      }
    }
    return best < 0 ? null : { worker: best, sec: bestSec, nsec: bestNsec, waiting };
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

/** Runs `ringcap capture --workers N` (o.workers > 1); resolves to the exit code. */
export async function captureWithWorkers(o: CaptureOptions, io: CommandIO): Promise<number> {
  const paths = o.perWorkerFiles ? perWorkerPaths(o.write!, o.workers) : undefined;
  const shared = sharedCounters(o.workers);
  // A worker that cannot start (its file cannot be opened: disk full) ends the command with its own error.
  const pool = await openWorkers(o, shared, paths);
  // openFanout resolved once every worker had opened its capture: each says what it opened.
  const info = pool.info[0]!;
  let writer: FileOutput | null = null;
  let knownNames = new Map<number, string>();
  try {
    // Printing an "any" capture names interfaces by index: listed now, while the namespace can
    // still be entered (after -Z, \`ip -n\` cannot).
    if (o.write === undefined && info.linkType === LINKTYPE.LINUX_SLL2) knownNames = interfacesByIndex(o.netns);
    // -Z: every worker's socket is open (and its own file, given to the user first).
    relinquish(o.user, paths);
    if (o.write !== undefined && !paths) writer = openOutput(o.write, o, info, io);
  } catch (e) {
    await pool.close().catch(() => {});
    throw e;
  }
  const stop = new RunStop(o.seconds, io);
  const target = paths ? `writing to ${paths.join(", ")}` : o.write !== undefined ? `writing to ${o.write}` : "printing packets";
  io.err(capturingLine(o, target, ` with ${o.workers} workers (fanout ${o.fanout}, group ${pool.groupId})`));

  let failure: unknown = null;
  const fail = (e: unknown) => {
    failure ??= e;
    stop.stop();
  };
  const flusher = writer ? new TimedFlush(writer, o.flushMs, fail) : null;
  const output = new MergedOutput(o, writer, flusher, io, shared, fail, info.linkType, knownNames);
  output.onFileLimit = () => {
    io.err(fileLimitLine(o));
    stop.stop();
  };
  const taken: number[] = new Array(o.workers).fill(0);
  pool.on("message", (m) => output.push(m.workerIndex, m.data as CaptureBatch));
  pool.on("report", (r) => {
    taken[r.workerIndex] = r.data?.taken ?? taken[r.workerIndex];
    if (r.final) output.end(r.workerIndex);
  });
  pool.done.catch(fail);
  // Packets taken so far: merged here, or written by the workers themselves (what their files
  // hold, as they report).
  const captured = (): Tally => (paths ? { packets: taken.reduce((a, b) => a + b, 0), bytes: pool.stats().total.bytes } : output.tally);

  await runUntilStopped(o, io, pool, stop, captured, () => {
    if (!paths) output.drain(false);
    if (o.count && Atomics.load(shared, RESERVED) >= o.count) stop.stop();
  });
  try {
    // Each worker first takes what its ring holds at this moment (Ctrl-C and --seconds lose
    // nothing the kernel had already captured). Every batch a worker posted arrives before its
    // final report, which arrives before close resolves.
    await pool.close({ drain: true });
  } catch (e) {
    failure ??= e;
  }
  flusher?.stop();
  output.finish();
  failure ??= output.failure;
  const s = pool.stats();
  // What the files hold (a failed write leaves a file at its last whole record), or what was printed.
  const packets = writer ? writer.flushedPackets : captured().packets;
  io.err(`${captureSummary(packets, s.total)}\nper worker: ${s.perWorker.map((w) => w.packets).join("/")} packets seen`);
  failure ??= stdoutFailure(io);
  // stdout's reader gone (-w - | head) ends the capture as tcpdump's SIGPIPE does: exit 0.
  if (failure && !isClosedPipe(failure)) throw unwrapWorkerFailure(failure);
  return 0;
}

function openWorkers(o: CaptureOptions, shared: Int32Array, paths: string[] | undefined): Promise<FanoutPool<CaptureWorkerReport>> {
  const workerData: CaptureWorkerData = {
    output: paths ? "files" : "merge",
    shared: shared.buffer as SharedArrayBuffer,
    count: o.count,
    paths,
    format: o.format,
    precision: o.precision,
    snaplen: o.snaplen,
    maxUnconsumedBytes: MAX_UNCONSUMED_BYTES,
    flushMs: o.flushMs,
  };
  return openFanout<CaptureWorkerData, CaptureWorkerReport>(o.iface, {
    worker: new URL("./capture_handler.ts", import.meta.url),
    workerData,
    workers: o.workers,
    mode: o.fanout,
    ring: o.ring,
    filter: o.filter,
    snaplen: o.snaplen,
    promisc: o.promisc,
    direction: o.direction,
    timestampType: o.timestampType,
    netns: o.netns,
    immediate: immediateMode(o, process.stdout.isTTY === true),
    // A worker writing its own file flushes it when it reports, at the latest.
    reportIntervalMs: paths && o.flushMs > 0 ? Math.max(MIN_REPORT_MS, Math.min(REPORT_MS, o.flushMs)) : REPORT_MS,
  });
}

/** Waits for the stop, calling `poll` every POLL_MS and updating the status line once a second. */
async function runUntilStopped(
  o: CaptureOptions,
  io: CommandIO,
  pool: FanoutPool<CaptureWorkerReport>,
  stop: RunStop,
  captured: () => Tally,
  poll: () => void,
): Promise<void> {
  const status = new StatusLine(io);
  const ticker = showStatus(o, io)
    ? setInterval(() => {
      const s = pool.stats();
      status.update(captured(), s.total.drops, s.perWorker.map((w) => w.packets));
    }, 1000)
    : null;
  const poller = setInterval(poll, POLL_MS);
  await stop.stopped;
  clearInterval(poller);
  if (ticker) clearInterval(ticker);
  stop.release();
  status.clear();
}

/** The workers' packets, merged in timestamp order, into the -w file or onto stdout. */
class MergedOutput {
  readonly tally: Tally = { packets: 0, bytes: 0 };
  /** The first error of merging or writing; merging stops there. */
  failure: unknown = null;
  /** Called once when -G -W has written its last file (the packets after it are dropped). */
  onFileLimit: () => void = () => {};
  #limitReached = false;
  readonly #merger: BatchMerger;
  readonly #writer: FileOutput | null;
  readonly #flusher: TimedFlush | null;
  readonly #lines: PacketLines;
  readonly #decoder = new PacketDecoder();
  readonly #out: string[] = [];
  readonly #count: number;
  readonly #io: CommandIO;
  readonly #onFailure: (e: unknown) => void;

  constructor(
    o: CaptureOptions,
    writer: FileOutput | null,
    flusher: TimedFlush | null,
    io: CommandIO,
    shared: Int32Array,
    onFailure: (e: unknown) => void,
    linkType: number,
    knownNames: Map<number, string>,
  ) {
    this.#merger = new BatchMerger(o.workers, (w, bytes) => {
      Atomics.sub(shared, unconsumedSlot(w), bytes);
      Atomics.notify(shared, unconsumedSlot(w));
    });
    this.#writer = writer;
    this.#flusher = flusher;
    // The workers' captures name interfaces in their namespace; here, the namespace was listed
    // before any -Z (\`knownNames\`) and is listed again, at most once a second, for an index not
    // seen: an interface may come later. A listing that fails (no privilege left) keeps the names known.
    const names = new Map(knownNames);
    let listedAt = -Infinity;
    const interfaceName = (ifindex: number) => {
      const name = names.get(ifindex);
      if (name !== undefined || performance.now() - listedAt < 1000) return name;
      for (const [index, listed] of interfacesByIndex(o.netns)) names.set(index, listed);
      listedAt = performance.now();
      return names.get(ifindex);
    };
    this.#lines = new PacketLines(o.print, interfaceName);
    this.#decoder.linkType = linkType;
    this.#count = o.count;
    this.#io = io;
    this.#onFailure = onFailure;
  }

  push(worker: number, batch: CaptureBatch): void {
    this.#merger.push(worker, batch);
    this.drain(false);
  }

  end(worker: number): void {
    this.#merger.end(worker);
  }

  /** Lets out what may go out now (everything when `final`). */
  drain(final: boolean): void {
    this.failure ??= this.#flusher?.failure ?? null;
    if (this.failure) return;
    try {
      this.#merger.drain(final, this.#emit);
      // -U: out as soon as merged, as tcpdump -U.
      if (this.#writer && this.#flusher?.everyPacket && !this.#writer.closed) this.#writer.flush();
    } catch (e) {
      this.failure = e;
      this.#onFailure(e);
    }
    if (this.#out.length) {
      this.#io.out(this.#out.join("\n"));
      this.#out.length = 0;
    }
  }

  /** After the workers have ended: lets out the rest, drops what is beyond the count, closes the file. */
  finish(): void {
    this.drain(true);
    this.#merger.discard();
    try {
      this.#writer?.close();
    } catch (e) {
      this.failure ??= e;
    }
  }

  #emit: EmitPacket = (bytes, view, start, caplen, wireLength, sec, nsec, ifindex) => {
    if (this.#count && this.tally.packets >= this.#count) return false;
    if (this.#limitReached) return false;
    if (this.#writer) {
      if (this.#writer.write(bytes.subarray(start, start + caplen), wireLength, sec, nsec, this.#writer.interfaceIdOf(ifindex)) === false) {
        this.#limitReached = true;
        this.onFileLimit();
        return false;
      }
      this.tally.packets++;
      this.tally.bytes += wireLength;
    } else {
      this.tally.packets++;
      this.tally.bytes += wireLength;
      // The batch holds the frame as it was on the wire, any VLAN tag in place.
      const d = this.#decoder.decode(bytes, view, start, caplen);
      this.#out.push(this.#lines.line(d, bytes, start, caplen, wireLength, sec, nsec));
    }
    return true;
  };
}

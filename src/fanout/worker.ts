/**
 * The worker side of a fanout pool (see pool.ts): opens one capture that joins the pool's
 * fanout group, loads the user's handler module, and runs the block loop until the pool raises
 * the stop flag and signals its waker. Private: started only by the pool (member.ts).
 *
 * Everything that crosses back to the pool is numbers and small plain objects; ring memory
 * never leaves this thread.
 * @module
 */

import { type Capture, openCapture } from "../capture.ts";
import { RingcapError } from "../errors.ts";
import { TPACKET3_HDR } from "../native/abi.ts";
import { exitWorker, threadId } from "../native/runtime.ts";
import type { Block } from "../packet.ts";
import { FeedCapture } from "./file_feed.ts";
import { PHASE, RUN, serializeError, STOP_AFTER_DRAIN, type ToPool, type WorkerInit } from "./protocol.ts";
import type { FanoutHandler, FanoutHandlerContext } from "./types.ts";

/** How long a worker told to drain its ring may take before it stops anyway. */
const DRAIN_MAX_MS = 2000;
const pause = new Int32Array(new SharedArrayBuffer(4));
/** Where this thread is (PHASE), shared with the pool: set by `run` from its WorkerInit. */
let phase: Int32Array<ArrayBufferLike> = new Int32Array(1);

// The worker's global scope, declared here because the same file is checked with the window
// types (Deno's default) and with Bun's.
declare const self: {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

const LEN_WORD = TPACKET3_HDR.len >> 2;
const NEXT_WORD = TPACKET3_HDR.next_offset >> 2;

/**
 * Sum of the wire lengths of `count` frames from the packet header at byte `hdr` of the ring
 * (`words`: the ring as 32-bit words), for the pool's byte counter. A function of its own,
 * called after the handler: kept out of the per-block code, whose JIT compiles stay small
 * (with this loop inside it, JSC tiered the per-block closure up to its top tier early and
 * recompiled the handler's whole walk inlined into it, once per worker).
 */
function wireBytes(words: Uint32Array, hdr: number, count: number): number {
  let bytes = 0;
  for (let n = count; n > 0; n--) {
    const i = hdr >>> 2;
    bytes += words[i + LEN_WORD];
    hdr += words[i + NEXT_WORD];
  }
  return bytes;
}

/**
 * Runs `wireBytes` over a made-up block at start-up, so that the JIT compiles it before the
 * first real block rather than during the capture (a block-rate function would otherwise run
 * in the slow tiers for seconds at low rates, once per worker). About 1 ms, before "ready".
 */
function warmWireBytes(): void {
  const FRAMES = 256;
  const STRIDE_WORDS = 32;
  const words = new Uint32Array(FRAMES * STRIDE_WORDS);
  for (let f = 0; f < FRAMES; f++) {
    words[f * STRIDE_WORDS + NEXT_WORD] = STRIDE_WORDS * 4;
    words[f * STRIDE_WORDS + LEN_WORD] = 60 + (f & 3);
  }
  const expected = FRAMES * 60 + (FRAMES >> 2) * 6;
  for (let i = 0; i < 400; i++) {
    if (wireBytes(words, 0, FRAMES) !== expected) throw new Error("wireBytes warm-up: wrong sum");
  }
}

/** The worker's own postMessage, before `guardPostMessage` wraps the global one. */
const postMessage = self.postMessage.bind(self);

function send(message: ToPool): void {
  postMessage(message);
}

/**
 * Throws RingcapError "ring_memory_transfer" when `transfer` (a transfer list, or options with
 * one) holds the ring's memory, so that nothing is sent. Transferred, the ring's ArrayBuffer
 * would reach the pool's thread and outlive the mapping: the worker unmaps its ring when it
 * ends, and the next read of it there is a segmentation fault. Cloned (not transferred),
 * ring bytes are copied, which is safe.
 */
function checkTransfer(transfer: unknown, ring: ArrayBufferLike): void {
  const list = Array.isArray(transfer) ? transfer : (transfer as { transfer?: unknown } | undefined)?.transfer;
  if (!Array.isArray(list)) return;
  for (const t of list) {
    if (t === ring || (ArrayBuffer.isView(t) && t.buffer === ring)) {
      throw new RingcapError(
        "ring_memory_transfer",
        "cannot transfer ring memory (capture.bytes.buffer) out of a fanout worker: the kernel reuses it once the block " +
          "is released and it is unmapped when the worker ends. copy() what you send (packet.copy(), bytes.slice()) " +
          "and transfer the copy",
      );
    }
  }
}

/**
 * Makes the worker's global postMessage refuse ring memory too, for a handler that goes around
 * `ctx.post`. The pool ignores what it does not know, but the transfer would happen.
 */
function guardPostMessage(ring: ArrayBufferLike): void {
  self.postMessage = (message: unknown, transfer?: Transferable[]) => {
    checkTransfer(transfer, ring);
    postMessage(message, transfer ?? []);
  };
}

/** Ends this worker with `code`; under Deno the pool learns the code from a last message. */
function exit(index: number, code: number): void {
  exitWorker(code, () => send({ type: "exit", index, code }));
}

/** What the handler gets: this worker's place, the pool's data, the capture, and `post`. */
function handlerContext(init: WorkerInit, capture: Capture): FanoutHandlerContext {
  const ring = capture.bytes.buffer;
  return Object.freeze({
    workerIndex: init.workerIndex,
    workers: init.workers,
    restarts: init.restarts,
    data: init.data,
    capture,
    post: (data: unknown, transfer?: Transferable[]) => {
      checkTransfer(transfer, ring);
      postMessage({ type: "data", index: init.workerIndex, data } satisfies ToPool, transfer ?? []);
    },
  });
}

async function loadHandler(init: WorkerInit, ctx: FanoutHandlerContext): Promise<FanoutHandler> {
  const mod = await import(init.handlerUrl);
  const create = typeof mod.createHandler === "function" ? mod.createHandler : mod.default;
  if (typeof create !== "function") {
    throw new TypeError(`${init.handlerUrl} must export createHandler(ctx) (or a default function) returning { onBlock }`);
  }
  const handler = await create(ctx);
  if (!handler || typeof handler.onBlock !== "function") {
    throw new TypeError(`createHandler in ${init.handlerUrl} must return an object with an onBlock(block, ctx) method`);
  }
  return handler;
}

/** Opens the capture, loads the handler, and hands it blocks until the pool says stop. */
async function run(init: WorkerInit): Promise<void> {
  const stop = new Int32Array(init.stop);
  phase = new Int32Array(init.phase);
  let capture: Capture | null = null;
  let handler: FanoutHandler | null = null;
  let packets = 0;
  let bytes = 0;
  let blocks = 0;
  let reportSeq = 0;

  const report = (final: boolean) => {
    const stats = capture && !capture.closed ? capture.stats() : { received: 0, drops: 0, freezes: 0, interfaceDrops: 0 };
    let data: unknown;
    if (handler?.report) {
      phase[0] = PHASE.report;
      data = handler.report(final);
      phase[0] = PHASE.loop;
    }
    send({ type: "report", index: init.workerIndex, seq: reportSeq++, final, stats, packets, bytes, blocks, data });
  };

  try {
    // A file source's worker reads the blocks the pool fills (FeedCapture has the members used here).
    capture = init.feed ? (new FeedCapture(init.feed, init.stop) as unknown as Capture) : openCapture(init.iface, init.capture);
    send({ type: "opened", index: init.workerIndex, handle: capture.handle, tid: threadId() });
    guardPostMessage(capture.bytes.buffer);
    const ctx = handlerContext(init, capture);
    handler = await loadHandler(init, ctx);
    warmWireBytes();
    phase[0] = PHASE.loop;
    send({ type: "ready", index: init.workerIndex, info: capture.info, handle: capture.handle });

    const words = new Uint32Array(capture.bytes.buffer);
    const interval = init.reportIntervalMs;
    let nextReport = performance.now() + interval;
    const take = (block: Block) => {
      const n = block.packetCount;
      if (n > 0) {
        blocks++;
        packets += n;
        phase[0] = PHASE.onBlock;
        handler!.onBlock(block, ctx);
        phase[0] = PHASE.loop;
        // Wire lengths from the frame headers, after the handler: its own walk has brought them
        // into cache, which makes this second walk cheap (walked first, it paid the misses).
        bytes += wireBytes(words, block.firstPacketOffset, n);
      }
      block.release();
    };
    // The block loop has no await in it: nextBlock blocks this thread (never the pool's), and
    // the pool's waker ends the wait at once when it wants us to stop.
    while (Atomics.load(stop, 0) === RUN) {
      const now = performance.now();
      if (now >= nextReport) {
        report(false);
        nextReport = now + interval;
      }
      const block = capture.nextBlock(Math.max(1, Math.ceil(nextReport - now)));
      if (block) take(block);
    }
    if (Atomics.load(stop, 0) === STOP_AFTER_DRAIN) {
      // Everything the kernel had put in the ring when the pool asked us to stop is kept. The
      // ring is read in order, so those are the next packets up to the kernel's count; a partly
      // filled block is handed over within the block timeout. The waker stays signalled, so
      // nextBlock returns at once: pause a millisecond between looks.
      const target = capture.stats().received;
      const end = performance.now() + DRAIN_MAX_MS;
      while (packets < target && performance.now() < end) {
        const block = capture.nextBlock(0);
        if (block) take(block);
        else Atomics.wait(pause, 0, 0, 1);
      }
    }
    report(true);
    phase[0] = PHASE.close;
    handler.close?.();
    phase[0] = PHASE.loop;
    handler = null;
    capture.close();
    send({ type: "closed", index: init.workerIndex });
    exit(init.workerIndex, 0);
  } catch (e) {
    fail(init, e, capture, handler, report);
  }
}

/**
 * After `e`: tells the pool, sends the handler's last report if it had started, closes what
 * is open, and ends the worker with exit code 1.
 */
function fail(init: WorkerInit, e: unknown, capture: Capture | null, handler: FanoutHandler | null, report: (final: boolean) => void): void {
  send({ type: "error", index: init.workerIndex, error: serializeError(e) });
  try {
    if (capture && !capture.closed && handler) report(true);
  } catch {
    // The first error is the one worth reporting.
  }
  try {
    phase[0] = PHASE.close;
    handler?.close?.();
  } catch {
    // As above.
  }
  capture?.close();
  exit(init.workerIndex, 1);
}

self.onmessage = (e: MessageEvent) => {
  self.onmessage = null;
  void run(e.data as WorkerInit);
};

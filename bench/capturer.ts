/**
 * One capturer of the benchmark, run as its own process so the harness can account its CPU
 * from /proc. Prints "READY" when its socket is open, reads until a line arrives on stdin
 * (stdin is the wake fd in the poll set, so even a native loop stops at once), `--count`
 * packets, or `--max-seconds`; then prints one JSON line: packets, bytes, drops, sources.
 *
 *   bun bench/capturer.ts MODE IFACE --netns NS [--count N] [--max-seconds S] [--latency]
 *
 * MODE: recv | recvmmsg | ring-zig | ring-bun | ring-bun-view | ring-bun-readers | blocks-readers | blocks-decode |
 *       blocks-bytes | fanout-zig | fanout-bun
 * Per packet every mode does the same work: read the IPv4 source and count it per source.
 * The API path each mode takes (run.ts prints it beside every figure):
 *   ring-bun        sync `cap.nextBlock()` + `block.cursor()` (the fastest walk)
 *   ring-bun-view   sync `cap.nextBlock()` + `for (const p of block)` + offset getters on `cap.view`
 *   ring-bun-readers sync `cap.nextBlock()` + `for (const p of block)` + the PacketView readers (blocks-readers without blocks())
 *   blocks-readers  the README's path: `for await (const block of cap.blocks({ signal }))` +
 *                   `for (const p of block)` + `p.getUint16(12)` / `p.getUint32(26)`
 *   blocks-decode   the same loops + `p.decode().ipv4Src` (the numeric source)
 *   blocks-bytes    the same loops + `p.bytes` (allocates a Uint8Array per packet), 4 bytes read
 * The blocks-* modes do not give the capture a wake fd: a line on stdin aborts the signal they
 * pass to `blocks()` (so does --max-seconds), and --count breaks out of the loop.
 * The fanout modes run 2 members (hash mode) in Bun Workers: fanout-zig runs the Zig loop in
 * each, fanout-bun is `openFanout` with the same per-block work as ring-bun.
 * ring-bun-immediate, blocks-readers-immediate and fanout-bun-immediate are those modes with
 * the capture in immediate mode (`immediate: true`: a TPACKET_V2 ring, each frame handed over
 * as it arrives).
 */

import { parseArgs } from "node:util";
import { type Block, openCapture, openFanout } from "../mod.ts";
import { NativeLoop } from "./native.ts";
import { quantile } from "./_stats.ts";
import {
  countSources,
  countSourcesByBytes,
  countSourcesByDecode,
  countSourcesByReaders,
  countSourcesByView,
  SourceCounter,
} from "./_source_counter.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    netns: { type: "string" },
    count: { type: "string", default: "4294967295" },
    "max-seconds": { type: "string", default: "120" },
    latency: { type: "boolean" },
    "block-timeout-ms": { type: "string", default: "10" },
  },
});
const [mode, iface] = positionals;
/** Immediate mode: a mode's name with "-immediate" after it. */
const IMMEDIATE = mode?.endsWith("-immediate") ?? false;
const maxPackets = Math.min(Number(values.count), 0xffffffff);
/** The ring of every ring mode: the library's defaults, with the block timeout the harness asks for. */
const RING = { blockTimeoutMs: Number(values["block-timeout-ms"]) };
const deadline = performance.now() + Number(values["max-seconds"]) * 1000;
/** Stdin is polled beside the ring: the harness writes a line to stop us. */
const STDIN_WAKE_FD = 0;
const SLICE_MS = 200;
let woken = false;
const done = () => woken || performance.now() >= deadline;

interface Result {
  mode: string;
  packets: number;
  bytes: number;
  drops: number;
  sources: number;
  /** Reads that returned packets (recv calls, or ring blocks): packets / reads is the batch. */
  reads?: number;
  latencyMs?: LatencySummary;
}

/** Delivery latency (wall clock at the reader minus the kernel timestamp), in milliseconds. */
interface LatencySummary {
  median: number;
  p99: number;
  max: number;
  samples: number;
  /** The ring's block timeout: the kernel hands over a partly filled block after this long (absent in immediate mode). */
  blockTimeoutMs?: number;
}

/**
 * The wall clock in milliseconds with a fraction (Date.now() has whole milliseconds, too coarse
 * for immediate mode's sub-millisecond latency).
 */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

function summarizeLatency(latencies: number[], blockTimeoutMs: number | undefined): LatencySummary | undefined {
  if (!latencies.length) return undefined;
  return {
    median: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: Math.max(...latencies),
    samples: latencies.length,
    blockTimeoutMs,
  };
}

function recvMode(batch: number): Promise<Result> {
  // The socket lives for the whole run: one call reads until the count, the deadline or stdin.
  using loop = NativeLoop.recv({ iface, netns: values.netns, wakeFd: STDIN_WAKE_FD }, batch);
  console.log("READY");
  const r = loop.run(maxPackets, Math.max(1, deadline - performance.now()) | 0);
  return Promise.resolve({ mode, packets: r.packets, bytes: r.bytes, drops: r.drops, sources: r.sources, reads: r.blocks });
}

function ringZig(): Promise<Result> {
  using loop = NativeLoop.ring({ iface, netns: values.netns, wakeFd: STDIN_WAKE_FD, ring: RING });
  console.log("READY");
  // One native call for the whole run: it returns on the count, the deadline or the wake-up.
  const r = loop.run(maxPackets, Math.max(1, deadline - performance.now()) | 0);
  return Promise.resolve({ mode, packets: r.packets, bytes: r.bytes, drops: r.drops, sources: r.sources, reads: r.blocks });
}

function ringBun(): Promise<Result> {
  using cap = openCapture(iface, { netns: values.netns, wakeFd: STDIN_WAKE_FD, ring: RING, immediate: IMMEDIATE });
  console.log("READY");
  const view = cap.view;
  const counts = new SourceCounter();
  let packets = 0;
  let bytes = 0;
  const latencies: number[] = [];
  while (!done() && packets < maxPackets) {
    const block = cap.nextBlock(SLICE_MS);
    if (!block) {
      woken = cap.woken;
      continue;
    }
    {
      bytes += countSources(block, view, counts);
      if (values.latency) {
        const now = wallMs();
        for (const p of block) latencies.push(now - p.timestampMs);
      }
      packets += block.packetCount;
      block.release();
    }
  }
  const result: Result = { mode, packets, bytes, drops: cap.stats().drops, sources: counts.distinct };
  if (values.latency) result.latencyMs = summarizeLatency(latencies, IMMEDIATE ? undefined : cap.info.blockTimeoutMs);
  return Promise.resolve(result);
}

/**
 * The README's loop: `for await (const block of cap.blocks({ signal }))`, then `walk` over the
 * block. A line on stdin (the harness's stop) or --max-seconds aborts the signal, which ends
 * `blocks()`; --count breaks out of the loop.
 */
async function blocksMode(walk: (block: Block, counts: SourceCounter) => number): Promise<Result> {
  using cap = openCapture(iface, { netns: values.netns, ring: RING, immediate: IMMEDIATE });
  const stop = new AbortController();
  const onStdin = () => stop.abort();
  process.stdin.once("data", onStdin);
  const timer = setTimeout(() => stop.abort(), Math.max(1, deadline - performance.now()));
  console.log("READY");
  const counts = new SourceCounter();
  let packets = 0;
  let bytes = 0;
  let reads = 0;
  const latencies: number[] = [];
  const latency = !!values.latency;
  for await (const block of cap.blocks({ signal: stop.signal })) {
    bytes += walk(block, counts);
    if (latency) {
      const now = wallMs();
      for (const p of block) latencies.push(now - p.timestampMs);
    }
    packets += block.packetCount;
    reads++;
    if (packets >= maxPackets) break;
  }
  clearTimeout(timer);
  process.stdin.off("data", onStdin);
  process.stdin.pause();
  const result: Result = { mode, packets, bytes, drops: cap.stats().drops, sources: counts.distinct, reads };
  if (latency) result.latencyMs = summarizeLatency(latencies, IMMEDIATE ? undefined : cap.info.blockTimeoutMs);
  return result;
}

const FANOUT_WORKERS = 2;

/**
 * ring-bun's sync loop with another walk: `for...of` and offsets on `cap.view` (ring-bun-view),
 * or `for...of` and the PacketView readers (ring-bun-readers: blocks-readers without blocks()).
 */
function ringBunWalk(walk: (block: Block, view: DataView, counts: SourceCounter) => number): Promise<Result> {
  using cap = openCapture(iface, { netns: values.netns, wakeFd: STDIN_WAKE_FD, ring: RING });
  console.log("READY");
  const view = cap.view;
  const counts = new SourceCounter();
  let packets = 0;
  let bytes = 0;
  while (!done() && packets < maxPackets) {
    const block = cap.nextBlock(SLICE_MS);
    if (!block) {
      woken = cap.woken;
      continue;
    }
    // In a function of its own, as ring-bun's walk is: the two differ only in the API.
    bytes += walk(block, view, counts);
    packets += block.packetCount;
    block.release();
  }
  return Promise.resolve({ mode, packets, bytes, drops: cap.stats().drops, sources: counts.distinct });
}

/** Two Workers, each a fanout member running the Zig loop until stdin (the wake fd) is readable. */
async function fanoutZig(): Promise<Result> {
  const groupId = 1024 + (process.pid % 30000);
  const url = new URL("./_zig_member.ts", import.meta.url);
  const members = Array.from({ length: FANOUT_WORKERS }, () => new Worker(url, { type: "module" }));
  const ready: Promise<void>[] = [];
  const results = members.map((w, index) =>
    new Promise<Result>((resolve, reject) => {
      let onReady: () => void;
      ready.push(new Promise<void>((r) => (onReady = r)));
      w.onmessage = (e) => (e.data === "ready" ? onReady() : resolve(e.data));
      w.onerror = (e) => reject(new Error(`member ${index}: ${e.message}`));
      w.postMessage({ iface, netns: values.netns, ring: RING, groupId, maxPackets, maxMs: Math.max(1, deadline - performance.now()) | 0 });
    })
  );
  await Promise.all(ready);
  console.log("READY");
  const all = await Promise.all(results);
  for (const w of members) w.terminate();
  return {
    mode,
    packets: all.reduce((a, r) => a + r.packets, 0),
    bytes: all.reduce((a, r) => a + r.bytes, 0),
    drops: all.reduce((a, r) => a + r.drops, 0),
    sources: all.reduce((a, r) => a + r.sources, 0),
    perWorker: all.map((r) => r.packets),
  } as Result;
}

/** `openFanout` with 2 workers, each doing ring-bun's per-packet work; stdin stops the pool. */
async function fanoutBun(): Promise<Result> {
  type Counts = { packets: number; bytes: number; sources: number };
  const pool = await openFanout<unknown, Counts>(iface, {
    worker: new URL("./_fanout_handler.ts", import.meta.url),
    workers: FANOUT_WORKERS,
    mode: "hash",
    netns: values.netns,
    ring: RING,
    immediate: IMMEDIATE,
    reportIntervalMs: 60_000,
  });
  console.log("READY");
  const stop = () => void pool.close();
  process.stdin.once("data", stop);
  const timer = setTimeout(stop, Math.max(1, deadline - performance.now()));
  await pool.done;
  clearTimeout(timer);
  process.stdin.pause();
  const { total, perWorker } = pool.stats();
  const sources = (pool.result() as Counts[] | undefined)?.reduce((a, r) => a + (r?.sources ?? 0), 0) ?? 0;
  return { mode, packets: total.packets, bytes: total.bytes, drops: total.drops, sources, perWorker: perWorker.map((w) => w.packets) } as Result;
}

const modes: Record<string, () => Promise<Result>> = {
  recv: () => recvMode(1),
  recvmmsg: () => recvMode(64),
  "ring-zig": ringZig,
  "ring-bun": ringBun,
  "ring-bun-immediate": ringBun,
  "ring-bun-view": () => ringBunWalk(countSourcesByView),
  "ring-bun-readers": () => ringBunWalk((block, _view, counts) => countSourcesByReaders(block, counts)),
  "blocks-readers": () => blocksMode(countSourcesByReaders),
  "blocks-readers-immediate": () => blocksMode(countSourcesByReaders),
  "blocks-decode": () => blocksMode(countSourcesByDecode),
  "blocks-bytes": () => blocksMode(countSourcesByBytes),
  "fanout-zig": fanoutZig,
  "fanout-bun": fanoutBun,
  "fanout-bun-immediate": fanoutBun,
};
const run = modes[mode];
if (!run || !iface) {
  console.error(`usage: bun bench/capturer.ts ${Object.keys(modes).join("|")} IFACE [--netns NS]`);
  process.exit(2);
}
const result = await run();
console.log(JSON.stringify(result));

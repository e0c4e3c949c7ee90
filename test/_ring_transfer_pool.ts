// Run by fanout.test.ts (and capture.deno.ts) in a process of its own, so that a crash shows
// as this process's end and not the test runner's: a pool whose handler tries to transfer ring
// memory (transfer_ring.ts), traffic, the pool's end, and then the message data touched and
// the garbage collector run. Prints one JSON line: how the pool ended.
import process from "node:process";
import { Generator, openFanout, type RingcapError } from "../mod.ts";

const [rx, tx, netns, how] = process.argv.slice(2);
const pool = await openFanout(rx, {
  netns,
  workers: 1,
  ring: { blockSize: 1 << 16, blockCount: 4, frameSize: 2048, blockTimeoutMs: 10 },
  worker: new URL("./_fanout_handlers/transfer_ring.ts", import.meta.url),
  workerData: { how },
  reportIntervalMs: 100,
});
const received: unknown[] = [];
pool.on("message", (m) => received.push(m.data));
{
  using gen = new Generator(tx, { netns });
  gen.send(10);
}
// Bounded: the pool ends by itself (a handler that throws) or sends one message ("clone").
let error: RingcapError | null = null;
let outcome = "timed out";
void pool.done.then(() => (outcome = "resolved"), (e) => (error = e as RingcapError, outcome = "rejected"));
for (let i = 0; i < 200 && outcome === "timed out" && received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
if (outcome === "timed out" && received.length > 0) outcome = "message";
await pool.close().catch(() => {});
// What a careless main thread does next: read what arrived, after the pool has ended.
let sum = 0;
for (const d of received) {
  const frame = (d as { frame?: Uint8Array })?.frame;
  if (frame) for (let i = 0; i < frame.length; i++) sum += frame[i];
}
(globalThis as { gc?: () => void; Bun?: { gc(full: boolean): void } }).Bun?.gc(true);
console.log(JSON.stringify({
  outcome,
  code: error?.code,
  causeCode: (error?.cause as { code?: string } | undefined)?.code,
  message: error?.message,
  received: received.length,
  sum,
}));
process.exit(0);

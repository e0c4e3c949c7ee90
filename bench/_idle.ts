/**
 * The idle capturer of the benchmark, for Bun and Deno alike (it imports only mod.ts and
 * node: modules): what a capture costs while no traffic comes.
 *
 *   bun bench/_idle.ts MODE IFACE --netns NS --idle-ms 10000 [--block-timeout-ms 10]
 *   deno run -A --no-check --no-lock bench/_idle.ts MODE IFACE --netns NS --idle-ms 10000
 *
 * MODE blocks: opens a capture on IFACE and sits in `for await (const block of cap.blocks({ signal }))`
 *              (the README's loop) until the harness writes a line to stdin.
 * MODE timer:  the baseline: the same runtime awaiting one `setTimeout` of --idle-ms, then
 *              waiting for the same line.
 * Both modes listen on stdin the same way (a line aborts an AbortController), so the
 * difference between them is what `blocks()` costs. Prints "READY" when the wait starts and
 * one JSON line at the end (mode, runtime, packets read). The harness reads the CPU time
 * from /proc over the --idle-ms after READY. --max-seconds bounds everything.
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { openCapture } from "../mod.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    netns: { type: "string" },
    "idle-ms": { type: "string", default: "10000" },
    "max-seconds": { type: "string", default: "120" },
    "block-timeout-ms": { type: "string", default: "10" },
  },
});
const [mode, iface] = positionals;
if ((mode !== "blocks" && mode !== "timer") || !iface) {
  console.error("usage: bench/_idle.ts blocks|timer IFACE [--netns NS] [--idle-ms MS] [--max-seconds S]");
  process.exit(2);
}
const runtime = "Deno" in globalThis ? "deno" : "bun";
const idleMs = Number(values["idle-ms"]);

const stop = new AbortController();
const onStdin = () => stop.abort();
process.stdin.once("data", onStdin);
const guard = setTimeout(() => stop.abort(), Number(values["max-seconds"]) * 1000);

let packets = 0;
if (mode === "blocks") {
  using cap = openCapture(iface, { netns: values.netns, ring: { blockTimeoutMs: Number(values["block-timeout-ms"]) } });
  console.log("READY");
  for await (const block of cap.blocks({ signal: stop.signal })) packets += block.packetCount;
} else {
  console.log("READY");
  await new Promise((r) => setTimeout(r, idleMs));
  if (!stop.signal.aborted) await new Promise((r) => stop.signal.addEventListener("abort", r, { once: true }));
}
clearTimeout(guard);
process.stdin.off("data", onStdin);
process.stdin.pause();
console.log(JSON.stringify({ mode, runtime, packets }));
// Deno keeps a pending stdin read alive: leave explicitly, the same way in both runtimes.
process.exit(0);

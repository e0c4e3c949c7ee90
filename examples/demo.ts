/**
 * The demo behind `make demo`: makes a network namespace with a veth pair, sends 3,000,000
 * frames over 64 flows from one end with ringcap's generator, captures them on the other,
 * prints a stats line once a second (pps, Mbps, kernel drops) and the top flows at the end,
 * then removes the namespace. Needs root.
 *
 *   bun examples/demo.ts [--rate 300000] [--count 3000000]
 */

import { parseArgs } from "node:util";
import { spawn } from "node:child_process";
import { FlowTable, openCapture } from "../mod.ts";
import { createBench } from "../testing.ts";

const { values } = parseArgs({
  options: { rate: { type: "string", default: "300000" }, count: { type: "string", default: "3000000" } },
});
const rate = Number(values.rate);
const count = Number(values.count);

using bench = createBench();
console.log(`namespace ${bench.name}: sending on ${bench.tx}, capturing on ${bench.rx}`);
using cap = openCapture(bench.rx, { netns: bench.name });
console.log(`ring: ${cap.info.blockCount} blocks x ${cap.info.blockSize / 1024} KiB, block timeout ${cap.info.blockTimeoutMs} ms`);

const cli = new URL("../src/cli/main.ts", import.meta.url).pathname;
const gen = spawn(process.execPath, [cli, "gen", "-i", bench.tx, "--netns", bench.name, "--rate", String(rate),
  "--count", String(count), "--flows", "64", "--size", "128", "--max-seconds", "60", "--json"], { stdio: ["ignore", "pipe", "inherit"] });
let genOut = "";
gen.stdout.on("data", (d) => (genOut += d));
const genDone = new Promise<number>((resolve) => gen.on("exit", (code) => resolve(code ?? 1)));

const flows = new FlowTable();
let packets = 0;
let bytes = 0;
let lastPackets = 0;
let lastBytes = 0;
let seconds = 0;

const ticker = setInterval(() => {
  seconds++;
  const s = cap.stats();
  const pps = packets - lastPackets;
  const mbps = ((bytes - lastBytes) * 8) / 1e6;
  lastPackets = packets;
  lastBytes = bytes;
  console.log(`${String(seconds).padStart(3)} s  ${pps.toLocaleString("en").padStart(9)} pps  ${mbps.toFixed(1).padStart(7)} Mbps  ` +
    `captured ${packets.toLocaleString("en")}  kernel drops ${s.drops}`);
}, 1000);

const stop = new AbortController();
genDone.then(() => setTimeout(() => stop.abort(), 300));
// A bound on the whole run, cleared when the capture ends so it does not keep the process alive.
const hardStop = setTimeout(() => stop.abort(), 70_000);
for await (const block of cap.blocks({ signal: stop.signal })) {
  for (const p of block) {
    packets++;
    bytes += p.wireLength;
    flows.add(p.decode(), p.wireLength);
  }
}
clearInterval(ticker);
clearTimeout(hardStop);

const code = await genDone;
const sent = code === 0 ? JSON.parse(genOut.trim()).sent : NaN;
const s = cap.stats();
console.log(`\n${sent} frames sent, ${packets} captured, ${s.drops} dropped by kernel, ${flows.size} flows`);
console.log("\ntop flows:");
for (const f of flows.top(10, "packets")) {
  console.log(`  ${String(f.packets).padStart(9)} pkts ${String(f.bytes).padStart(11)} bytes  ${f.flow}`);
}
if (packets + s.drops !== sent) {
  console.error(`mismatch: sent ${sent} but captured + dropped = ${packets + s.drops}`);
  process.exitCode = 1;
}

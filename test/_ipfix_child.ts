// Runs inside a test's namespace (`ip netns exec NS bun test/_ipfix_child.ts JSON`): a collector
// on 127.0.0.1 (UDP socket or TCP server, or none for "unreachable"), an IpfixExporter sending it
// the records given, and a timer standing in for the capture loop. Prints one JSON line.
import { createSocket } from "node:dgram";
import { createServer, type Socket } from "node:net";
import { IpfixExporter } from "../mod.ts";
import type { FlowRecord } from "../src/export/record.ts";

interface Job {
  mode: "udp" | "tcp" | "unreachable" | "external";
  protocol: "ipfix" | "netflow9";
  port: number;
  mtu?: number;
  odid: number;
  bootMs?: number;
  records: (Omit<FlowRecord, "srcAddress" | "dstAddress"> & { srcAddress: number[]; dstAddress: number[] })[];
  /** TCP: drop the first connection after this many bytes arrived, to make the exporter reconnect. */
  dropAfter?: number;
  templateRefreshMessages?: number;
  maxQueuedBytes?: number;
}

const job: Job = JSON.parse(process.argv[2]);
const records: FlowRecord[] = job.records.map((r) => ({
  ...r,
  srcAddress: Uint8Array.from(r.srcAddress),
  dstAddress: Uint8Array.from(r.dstAddress),
}));
const received: number[] = [];
let receivedBytes = 0;
let close = () => {};
if (job.mode === "udp") {
  const s = createSocket("udp4");
  s.on("message", (m) => {
    received.push(m.length);
    receivedBytes += m.length;
  });
  await new Promise<void>((r) => s.bind(job.port, "127.0.0.1", () => r()));
  close = () => s.close();
} else if (job.mode === "tcp") {
  const conns: Socket[] = [];
  let first = true;
  const srv = createServer((c) => {
    conns.push(c);
    const drop = first && job.dropAfter !== undefined;
    first = false;
    let got = 0;
    c.on("data", (d) => {
      got += d.length;
      receivedBytes += d.length;
      received.push(d.length);
      if (drop && got >= job.dropAfter!) c.destroy();
    });
    c.on("error", () => {});
  });
  await new Promise<void>((r) => srv.listen(job.port, "127.0.0.1", () => r()));
  close = () => {
    for (const c of conns) c.destroy();
    srv.close();
  };
}

// The capture loop's stand-in: ticks every 5 ms; a blocked event loop would show as a long gap.
let ticks = 0, maxGap = 0, last = performance.now();
const tick = setInterval(() => {
  const now = performance.now();
  maxGap = Math.max(maxGap, now - last);
  last = now;
  ticks++;
}, 5);

const exp = new IpfixExporter({
  host: "127.0.0.1",
  port: job.port,
  transport: job.mode === "tcp" ? "tcp" : "udp",
  protocol: job.protocol,
  observationDomainId: job.odid,
  mtu: job.mtu,
  bootMs: job.bootMs,
  templateRefreshMessages: job.templateRefreshMessages,
  maxQueuedBytes: job.maxQueuedBytes,
  flushIntervalMs: 50,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let exportMs = 0;
if (job.mode === "tcp") {
  for (let i = 0; i < 100 && exp.stats().connections === 0; i++) await sleep(20);
}
const half = job.dropAfter !== undefined ? Math.floor(records.length / 2) : records.length;
if (job.dropAfter !== undefined) {
  for (let i = 0; i < 100 && exp.stats().connected; i++) await sleep(5);
}
const t0 = performance.now();
for (const r of records.slice(0, half)) exp.export(r);
exp.flush();
exportMs += performance.now() - t0;
if (half < records.length) {
  // The collector dropped us after the templates: records exported now are lost (counted); then
  // wait for the exporter to come back (bounded).
  for (let i = 0; i < 150 && exp.stats().connections < 2; i++) await sleep(20);
  const t1 = performance.now();
  for (const r of records.slice(half)) exp.export(r);
  exp.flush();
  exportMs += performance.now() - t1;
}
await sleep(job.mode === "unreachable" ? 300 : 100);
if (job.mode === "unreachable") {
  // Later sends on a refused socket: more records, each flush its own message.
  for (const r of records) {
    exp.export(r);
    exp.flush();
    await sleep(10);
  }
}
const stats = await exp.close();
await sleep(200);
clearInterval(tick);
close();
console.log(JSON.stringify({ stats, received, receivedBytes, ticks, maxGap, exportMs }));
process.exit(0);

/**
 * Server metrics: a fanout capture running in the background of a Bun server, which serves
 * what it sees to Prometheus, to scripts and to a browser.
 *
 *   bun examples/server-metrics.ts -i eth0 [--port 9464] [--workers N] [--top 10] [--seconds S] [--netns NAME]
 *
 * It listens on 127.0.0.1 only (--port 0 lets the system pick a free port) and prints its URL:
 *
 *   /metrics  Prometheus text format: packets, bytes and kernel drops per worker, the frames
 *             the interface dropped itself (ringcap_interface_drops_total, once for the pool), the number of
 *             flows, and the top flows by bytes as gauges labelled with their 5-tuple
 *   /flows    the same as JSON, plus the current packet and bit rates
 *   /         a live page: a packet-rate chart and a top-flows table, pushed twice a second
 *             over a WebSocket (/live)
 *
 * Runs until --seconds pass or Ctrl-C, then closes the server and the pool and exits 0. Like
 * flow-count.ts, this file is also the workers' handler module: each worker keeps an exact
 * flow table, and in "hash" mode every packet of a flow goes to the same worker, so merging
 * the workers' top flows gives the exact overall top.
 */

import { type Block, type FanoutHandlerContext, type FanoutReport, FlowTable, openFanout, PacketDecoder } from "../mod.ts";
import { exampleArgs, stopSignal } from "./_args.ts";

/** Flows one worker keeps apart; a scan of random addresses must not grow the table without end. */
const MAX_FLOWS = 65_536;
/** How often workers report and the page is updated. */
const TICK_MS = 500;
/** Rate samples kept for the chart: two minutes. */
const HISTORY = 240;

/** One flow, as reported and served. Ports are -1 for protocols without them. */
export interface FlowRow {
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  packets: number;
  bytes: number;
}

interface WorkerReport {
  /** Distinct flows this worker saw. */
  flows: number;
  /** Frames of flows beyond MAX_FLOWS, and of frames that are not IP. */
  untracked: number;
  top: FlowRow[];
}

/** The handler each worker runs: an exact flow table (ringcap's FlowTable) of IP flows. */
export function createHandler(ctx: FanoutHandlerContext<{ top: number }>) {
  const ring = ctx.capture.bytes;
  const view = ctx.capture.view;
  const decoder = new PacketDecoder();
  const table = new FlowTable({ maxFlows: MAX_FLOWS });
  let notIp = 0;

  return {
    onBlock(block: Block) {
      const c = block.cursor();
      while (c.next()) {
        const d = decoder.decode(ring, view, c.offset, c.caplen);
        if (d.ipVersion === 0) notIp++;
        else table.add(d, c.length);
      }
    },
    report(): WorkerReport {
      const top = table.top(ctx.data.top).map((f) => ({
        proto: f.protocolName || String(f.protocol),
        src: f.src,
        sport: f.srcPort,
        dst: f.dst,
        dport: f.dstPort,
        packets: f.packets,
        bytes: f.bytes,
      }));
      return { flows: table.size, untracked: table.untracked + notIp, top };
    },
  };
}

/** A label value in the text format: backslash, double quote and newline are escaped. */
function label(value: string | number): string {
  return String(value).replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function flowLabels(f: FlowRow): string {
  const parts = [`proto="${label(f.proto)}"`, `src="${label(f.src)}"`];
  if (f.sport >= 0) parts.push(`sport="${f.sport}"`);
  parts.push(`dst="${label(f.dst)}"`);
  if (f.dport >= 0) parts.push(`dport="${f.dport}"`);
  return parts.join(",");
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ringcap live</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
  #chart { width: 100%; max-width: 720px; height: 200px; border: 1px solid #ccc; background: #fafafa; }
  #line { fill: none; stroke: #2a6fdb; stroke-width: 2; vector-effect: non-scaling-stroke; }
  table { border-collapse: collapse; margin-top: 1em; }
  th, td { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<h1>ringcap live</h1>
<p><span id="status">connecting</span> &middot; <span id="rate">0</span> packets/s &middot;
  <span id="mbps">0</span> Mbps &middot; <span id="totals"></span></p>
<svg id="chart" viewBox="0 0 ${HISTORY} 100" preserveAspectRatio="none" data-samples="0">
  <polyline id="line" points=""></polyline>
</svg>
<div>peak in view: <span id="peak">0</span> packets/s</div>
<table id="flows">
  <thead><tr><th>proto</th><th>source</th><th>destination</th><th>packets</th><th>bytes</th><th>worker</th></tr></thead>
  <tbody></tbody>
</table>
<script>
const HISTORY = ${HISTORY};
const samples = [];
const $ = (id) => document.getElementById(id);
const endpoint = (addr, port) => port < 0 ? addr : (addr.includes(":") ? "[" + addr + "]:" + port : addr + ":" + port);

function draw() {
  const peak = Math.max(1, ...samples.map((s) => s.pps));
  const x0 = HISTORY - samples.length;
  $("line").setAttribute("points", samples.map((s, i) => (x0 + i) + "," + (100 - (s.pps / peak) * 95).toFixed(2)).join(" "));
  $("chart").dataset.samples = String(samples.length);
  $("peak").textContent = peak.toLocaleString("en");
}

function table(top) {
  const body = document.querySelector("#flows tbody");
  body.replaceChildren(...top.map((f) => {
    const tr = document.createElement("tr");
    for (const [text, n] of [[f.proto], [endpoint(f.src, f.sport)], [endpoint(f.dst, f.dport)], [f.packets, 1], [f.bytes, 1], [f.worker, 1]]) {
      const td = document.createElement("td");
      td.textContent = n ? Number(text).toLocaleString("en") : text;
      if (n) td.className = "n";
      tr.append(td);
    }
    return tr;
  }));
}

const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live");
ws.onopen = () => ($("status").textContent = "live");
ws.onclose = () => ($("status").textContent = "disconnected");
ws.onmessage = (event) => {
  const m = JSON.parse(event.data);
  samples.push(...m.samples);
  samples.splice(0, Math.max(0, samples.length - HISTORY));
  const last = samples[samples.length - 1];
  if (last) {
    $("rate").textContent = last.pps.toLocaleString("en");
    $("mbps").textContent = (last.bps / 1e6).toFixed(1);
  }
  $("totals").textContent = m.packets.toLocaleString("en") + " packets, " + m.flows.toLocaleString("en") + " flows, " + m.drops + " dropped";
  draw();
  table(m.top);
};
</script>
</body>
</html>
`;

async function main(): Promise<void> {
  const args = exampleArgs(
    "bun examples/server-metrics.ts -i IFACE [--port N] [--workers N] [--top N] [--seconds S] [--netns NAME]",
    { port: { type: "string", default: "9464" }, workers: { type: "string" }, top: { type: "string", default: "10" } },
  );
  if (args.file !== undefined) {
    // Rates per second and a live chart describe traffic as it flows; a file is read in a blink.
    console.error("server-metrics serves live rates: it takes -i, not -r (for a saved file: examples/flow-count.ts -r FILE)");
    process.exit(2);
  }
  const port = Number(args.values.port);
  const top = Number(args.values.top);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isInteger(top) || top < 1) {
    console.error("--port must be 0 to 65535 and --top a positive integer");
    process.exit(2);
  }

  const pool = await openFanout<{ top: number }, WorkerReport>(args.iface, {
    netns: args.netns,
    workers: args.values.workers === undefined ? undefined : Number(args.values.workers),
    mode: "hash",
    snaplen: 128,
    worker: new URL(import.meta.url),
    workerData: { top },
    reportIntervalMs: TICK_MS,
  });

  // Rates come from each worker's own consecutive reports: sampling the pool's totals on a
  // timer of our own would catch zero or two reports of a worker and show a jagged line.
  const rates = Array.from({ length: pool.workers }, () => ({ at: 0, packets: 0, bytes: 0, pps: 0, bps: 0 }));
  // Each worker's latest report, by worker (pool.result() lists them without saying whose).
  const latest: (WorkerReport | undefined)[] = [];
  pool.on("report", (r: FanoutReport<WorkerReport>) => {
    latest[r.workerIndex] = r.data;
    const w = rates[r.workerIndex];
    const now = performance.now();
    if (w.at > 0 && now > w.at) {
      w.pps = Math.round(((r.counters.packets - w.packets) * 1000) / (now - w.at));
      w.bps = Math.round(((r.counters.bytes - w.bytes) * 8000) / (now - w.at));
    }
    Object.assign(w, { at: now, packets: r.counters.packets, bytes: r.counters.bytes });
  });

  function snapshot() {
    const { total, perWorker } = pool.stats();
    const flows: (FlowRow & { worker: number })[] = [];
    let flowCount = 0;
    let untracked = 0;
    latest.forEach((r, worker) => {
      if (!r) return;
      flowCount += r.flows;
      untracked += r.untracked;
      for (const f of r.top) flows.push({ ...f, worker });
    });
    flows.sort((a, b) => b.bytes - a.bytes);
    return {
      time: new Date().toISOString(),
      workers: pool.workers,
      packets: total.packets,
      bytes: total.bytes,
      drops: total.drops,
      // Counted once for the pool: every worker reads the same interfaces' counters.
      interfaceDrops: total.interfaceDrops,
      flows: flowCount,
      untracked,
      pps: rates.reduce((n, w) => n + w.pps, 0),
      bps: rates.reduce((n, w) => n + w.bps, 0),
      perWorker: perWorker.map((w) => ({
        worker: w.workerIndex,
        state: w.state,
        packets: w.packets,
        bytes: w.bytes,
        drops: w.drops,
        pps: rates[w.workerIndex].pps,
      })),
      top: flows.slice(0, top),
    };
  }

  function metrics(): string {
    const s = snapshot();
    const lines: string[] = [];
    const family = (name: string, type: "counter" | "gauge", help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels ? `{${labels}}` : ""} ${value}`);
    };
    const perWorker = (key: "packets" | "bytes" | "drops") => s.perWorker.map((w): [string, number] => [`worker="${w.worker}"`, w[key]]);
    family("ringcap_packets_total", "counter", "Frames captured, per fanout worker.", perWorker("packets"));
    family("ringcap_bytes_total", "counter", "Wire bytes of the frames captured, per fanout worker.", perWorker("bytes"));
    family("ringcap_drops_total", "counter", "Frames the kernel dropped because the worker's ring was full.", perWorker("drops"));
    family(
      "ringcap_interface_drops_total",
      "counter",
      "Frames the captured interfaces dropped themselves (rx_dropped, rx_missed_errors, rx_fifo_errors) since start.",
      [["", s.interfaceDrops]],
    );
    family("ringcap_flows", "gauge", "Distinct flows (5-tuples) seen since start.", [["", s.flows]]);
    family("ringcap_flow_packets", "gauge", `Packets of each of the top ${top} flows by bytes.`, s.top.map((f) => [flowLabels(f), f.packets]));
    family("ringcap_flow_bytes", "gauge", `Wire bytes of each of the top ${top} flows by bytes.`, s.top.map((f) => [flowLabels(f), f.bytes]));
    return lines.join("\n") + "\n";
  }

  const history: { t: number; pps: number; bps: number }[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch(req, server) {
      const { pathname } = new URL(req.url);
      switch (pathname) {
        case "/metrics":
          return new Response(metrics(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
        case "/flows":
          return Response.json(snapshot());
        case "/":
          return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
        case "/live":
          return server.upgrade(req) ? undefined : new Response("expected a WebSocket upgrade\n", { status: 426 });
        default:
          return new Response("not found: try /, /metrics or /flows\n", { status: 404 });
      }
    },
    websocket: {
      open(ws) {
        // A new page gets the chart so far at once, then one sample per tick with everyone else.
        ws.send(JSON.stringify({ ...snapshot(), samples: history }));
        ws.subscribe("live");
      },
      message() {
        // The page only listens.
      },
    },
  });
  console.log(`server-metrics: ${pool.workers} workers on ${args.iface} (fanout group ${pool.groupId}); serving ${server.url}`);

  const ticker = setInterval(() => {
    const s = snapshot();
    const sample = { t: Date.now(), pps: s.pps, bps: s.bps };
    history.push(sample);
    if (history.length > HISTORY) history.shift();
    server.publish("live", JSON.stringify({ ...s, samples: [sample] }));
  }, TICK_MS);

  const signal = stopSignal(args.seconds);
  let failed: unknown = null;
  try {
    await Promise.race([new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true })), pool.done]);
  } catch (e) {
    failed = e;
  } finally {
    clearInterval(ticker);
    // true: close open WebSockets and keep-alive connections too, or the process would linger.
    await server.stop(true);
    await pool.close({ drain: true }).catch((e) => (failed ??= e));
  }
  const s = snapshot();
  console.log(`server-metrics: stopped; ${s.packets} packets, ${s.bytes} bytes, ${s.drops} dropped, ${s.flows} flows`);
  if (failed) {
    console.error(`server-metrics: ${(failed as Error).message}`);
    process.exitCode = 1;
  }
}

if (import.meta.main) await main();

/**
 * Flow count: packets and bytes per 5-tuple, counted by a pool of workers (one per PACKET_FANOUT
 * member), with the top flows printed every second and once more at the end.
 *
 *   bun examples/flow-count.ts -i eth0 [--workers N] [--top 10] [--seconds S] [--netns NAME]
 *   bun examples/flow-count.ts -r saved.pcapng [--workers N] [--top 10]
 *
 * Runs until --seconds pass or Ctrl-C, or until every packet of the file was counted. This one
 * file is both the program and the workers' handler module: the pool loads it again inside
 * each worker and calls `createHandler`. In "hash" mode (the default) the kernel sends every
 * packet of a flow to the same worker, and a file's pool does the same by its own flow hash,
 * so each worker's top flows are exact and merging them gives the exact overall top.
 */

import { type Block, type FanoutHandlerContext, FlowTable, openFanout, PacketDecoder } from "../mod.ts";
import { exampleArgs, sourceName, stopSignal } from "./_args.ts";

interface FlowRow {
  flow: string;
  packets: number;
  bytes: number;
}

interface FlowReport {
  /** Distinct flows this worker saw. */
  flows: number;
  top: FlowRow[];
}

/** The handler each worker runs: an exact table of IP flows, keyed by the decoder's 5-tuple. */
export function createHandler(ctx: FanoutHandlerContext<{ top: number }>) {
  const ring = ctx.capture.bytes;
  const view = ctx.capture.view;
  const decoder = new PacketDecoder();
  const table = new FlowTable();
  return {
    onBlock(block: Block) {
      const c = block.cursor();
      while (c.next()) {
        const d = decoder.decode(ring, view, c.offset, c.caplen);
        if (d.ipVersion !== 0) table.add(d, c.length);
      }
    },
    report(): FlowReport {
      const top = table.top(ctx.data.top).map((f) => ({ flow: f.flow, packets: f.packets, bytes: f.bytes }));
      return { flows: table.size, top };
    },
  };
}

async function main(): Promise<void> {
  const args = exampleArgs(
    "bun examples/flow-count.ts -i IFACE | -r FILE [--workers N] [--top N] [--seconds S] [--netns NAME]",
    { workers: { type: "string" }, top: { type: "string", default: "10" } },
  );
  const top = Number(args.values.top);
  // The same pool and handler on a live interface or on a saved file.
  const pool = await openFanout<{ top: number }, FlowReport>(args.file === undefined ? args.iface : { file: args.file }, {
    netns: args.netns,
    workers: args.values.workers === undefined ? undefined : Number(args.values.workers),
    mode: "hash",
    snaplen: 128,
    worker: new URL(import.meta.url),
    workerData: { top },
    reportIntervalMs: 1000,
  });
  const where = args.file === undefined ? `on ${args.iface} (fanout group ${pool.groupId}, ${pool.mode})` : `reading ${sourceName(args)}`;
  console.log(`flow-count: ${pool.workers} workers ready ${where}`);

  const print = (label: string) => {
    const reports = (pool.result() as FlowReport[]) ?? [];
    // A flow seen by several workers (possible in modes other than hash) is summed here.
    const merged = new Map<string, FlowRow>();
    for (const r of reports) {
      for (const f of r.top) {
        const m = merged.get(f.flow);
        if (m) {
          m.packets += f.packets;
          m.bytes += f.bytes;
        } else merged.set(f.flow, { ...f });
      }
    }
    const { total, perWorker } = pool.stats();
    const flows = reports.reduce((n, r) => n + r.flows, 0);
    console.log(`${label}: ${flows} flows, ${total.packets} packets, ${total.bytes} bytes, ${total.drops} dropped` +
      ` (per worker: ${perWorker.map((w) => w.packets).join(" / ")})`);
    for (const f of [...merged.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top)) {
      console.log(`  ${f.flow.padEnd(56)} ${String(f.packets).padStart(10)} pkts ${String(f.bytes).padStart(12)} bytes`);
    }
  };

  const signal = stopSignal(args.seconds);
  const ticker = setInterval(() => print(new Date().toISOString()), 1000);
  try {
    await Promise.race([new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true })), pool.done]);
  } finally {
    clearInterval(ticker);
    // The workers first count what their rings still hold: the final numbers miss nothing.
    await pool.close({ drain: true });
  }
  print("final");
}

if (import.meta.main) await main();

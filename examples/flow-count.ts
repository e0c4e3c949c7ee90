/**
 * Flow count: packets and bytes per 5-tuple, counted by a pool of workers (one per PACKET_FANOUT
 * member), with the top flows printed every second and once more at the end.
 *
 *   bun examples/flow-count.ts -i eth0 [--workers N] [--top 10] [--seconds S] [--netns NAME]
 *
 * Runs until --seconds pass or Ctrl-C. This one file is both the program and the workers'
 * handler module: the pool loads it again inside each worker and calls `createHandler`.
 * In "hash" mode (the default) the kernel sends every packet of a flow to the same worker, so
 * each worker's top flows are exact and merging them gives the exact overall top.
 */

import { type Block, type FanoutHandlerContext, openFanout } from "../mod.ts";
import { exampleArgs, stopSignal } from "./_args.ts";

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

interface Flow {
  /** The tuple as bytes: protocol, source and destination address, source and destination port. */
  key: Uint8Array;
  packets: number;
  bytes: number;
}

/** The handler each worker runs: a hash table of flows keyed by the 5-tuple's bytes. */
export function createHandler(ctx: FanoutHandlerContext<{ top: number }>) {
  const ring = ctx.capture.bytes;
  const view = ctx.capture.view;
  const flows = new Map<number, Flow>();

  // Where the tuple's parts are, for the frame being looked at (set by `locate`).
  let proto = 0, src = 0, addrLen = 0, l4 = -1;

  function locate(frame: number, caplen: number): boolean {
    if (caplen < 34) return false;
    const type = view.getUint16(frame + 12);
    if (type === 0x0800) {
      const ihl = (ring[frame + 14] & 0x0f) * 4;
      proto = ring[frame + 23];
      src = frame + 26;
      addrLen = 4;
      // Later fragments carry no ports.
      const fragment = view.getUint16(frame + 20) & 0x1fff;
      l4 = fragment === 0 ? frame + 14 + ihl : -1;
    } else if (type === 0x86dd && caplen >= 54) {
      proto = ring[frame + 20];
      src = frame + 22;
      addrLen = 16;
      l4 = frame + 54;
    } else return false;
    if ((proto !== 6 && proto !== 17) || l4 + 4 > frame + caplen) l4 = -1;
    return true;
  }

  function hashTuple(): number {
    let h = (0x811c9dc5 ^ proto) >>> 0;
    for (let i = 0; i < addrLen * 2; i++) h = Math.imul(h ^ ring[src + i], 0x01000193);
    if (l4 >= 0) h = Math.imul(h ^ view.getUint32(l4), 0x01000193);
    return h >>> 0;
  }

  function sameTuple(key: Uint8Array): boolean {
    if (key[0] !== proto || key.length !== 1 + addrLen * 2 + 4) return false;
    for (let i = 0; i < addrLen * 2; i++) if (key[1 + i] !== ring[src + i]) return false;
    const at = 1 + addrLen * 2;
    const ports = l4 >= 0 ? view.getUint32(l4) : 0;
    return ((key[at] << 24) | (key[at + 1] << 16) | (key[at + 2] << 8) | key[at + 3]) >>> 0 === ports;
  }

  function copyTuple(): Uint8Array {
    const key = new Uint8Array(1 + addrLen * 2 + 4);
    key[0] = proto;
    key.set(ring.subarray(src, src + addrLen * 2), 1);
    if (l4 >= 0) key.set(ring.subarray(l4, l4 + 4), 1 + addrLen * 2);
    return key;
  }

  return {
    onBlock(block: Block) {
      const c = block.cursor();
      while (c.next()) {
        if (!locate(c.offset, c.caplen)) continue;
        // Open addressing over the Map's number keys: a collision moves on to the next slot.
        let h = hashTuple();
        let flow = flows.get(h);
        while (flow && !sameTuple(flow.key)) flow = flows.get((h = (h + 1) >>> 0));
        if (!flow) flows.set(h, (flow = { key: copyTuple(), packets: 0, bytes: 0 }));
        flow.packets++;
        flow.bytes += c.length;
      }
    },
    report(): FlowReport {
      const top = [...flows.values()].sort((a, b) => b.bytes - a.bytes).slice(0, ctx.data.top);
      return { flows: flows.size, top: top.map((f) => ({ flow: describe(f.key), packets: f.packets, bytes: f.bytes })) };
    },
  };
}

function describe(key: Uint8Array): string {
  const v6 = key.length === 37;
  const n = v6 ? 16 : 4;
  const addr = (at: number) =>
    v6
      ? Array.from({ length: 8 }, (_, i) => ((key[at + 2 * i] << 8) | key[at + 2 * i + 1]).toString(16)).join(":")
      : Array.from(key.subarray(at, at + 4)).join(".");
  const port = (at: number) => (key[at] << 8) | key[at + 1];
  const name = key[0] === 6 ? "tcp" : key[0] === 17 ? "udp" : `proto ${key[0]}`;
  const p = 1 + 2 * n;
  const ports = key[0] === 6 || key[0] === 17;
  const sep = v6 ? "." : ":";
  return ports
    ? `${addr(1)}${sep}${port(p)} > ${addr(1 + n)}${sep}${port(p + 2)} ${name}`
    : `${addr(1)} > ${addr(1 + n)} ${name}`;
}

async function main(): Promise<void> {
  const args = exampleArgs(
    "bun examples/flow-count.ts -i IFACE [--workers N] [--top N] [--seconds S] [--netns NAME]",
    { workers: { type: "string" }, top: { type: "string", default: "10" } },
  );
  const top = Number(args.values.top);
  const pool = await openFanout<{ top: number }, FlowReport>(args.iface, {
    netns: args.netns,
    workers: args.values.workers === undefined ? undefined : Number(args.values.workers),
    mode: "hash",
    snaplen: 128,
    worker: new URL(import.meta.url),
    workerData: { top },
    reportIntervalMs: 1000,
  });
  console.log(`flow-count: ${pool.workers} workers ready on ${args.iface} (fanout group ${pool.groupId}, ${pool.mode})`);

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
    await pool.close();
  }
  print("final");
}

if (import.meta.main) await main();

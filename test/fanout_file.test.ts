// A saved file as the source of a fanout pool: the same handler module as live, packets spread
// by flow (both directions to one worker), each delivered once and in file order, totals equal
// to the file's (read by openFile in one thread, and by tshark), pcapng with two interfaces, a
// truncated file, close() in the middle, and options that only a live socket has. No root.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlowTable, openFile, PacketDecoder } from "../mod.ts";
import { flowWorker } from "../src/fanout/file_source.ts";
import { openFanout } from "../src/fanout/pool.ts";
import type { RingcapError } from "../src/errors.ts";
import type { FlowsFileReport } from "./_fanout_handlers/flows_file.ts";
import { testPackets, writePcap, writePcapng } from "./_file_frames.ts";

const worker = new URL("./_fanout_handlers/flows_file.ts", import.meta.url);
/** The smallest block a worker gets: many blocks per worker, so the feeder waits for them. */
const SMALL_BLOCKS = 262_272;
const PACKETS = 12_000;

let dir = "";
let pcap = "";
let pcapng = "";
/** The file's flows as one thread reads them: flow -> [packets, bytes]. */
let expected = new Map<string, [number, number]>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ringcap-fanout-file-"));
  const packets = testPackets(PACKETS);
  pcap = join(dir, "flows.pcap");
  pcapng = join(dir, "flows.pcapng");
  writePcap(pcap, packets);
  writePcapng(pcapng, packets);
  expected = await fileFlows(pcap);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Flows of `path` counted in this thread with openFile, PacketDecoder and FlowTable. */
async function fileFlows(path: string): Promise<Map<string, [number, number]>> {
  await using f = await openFile(path);
  const decoder = new PacketDecoder();
  const table = new FlowTable();
  for await (const block of f.blocks()) {
    const c = block.cursor();
    while (c.next()) {
      const d = decoder.decode(f.bytes, f.view, c.offset, c.caplen);
      if (d.ipVersion !== 0) table.add(d, c.length);
    }
  }
  return new Map(table.top(1 << 20).map((r) => [r.flow, [r.packets, r.bytes]]));
}

/** "udp a:1 > b:2" and "udp b:2 > a:1" are one conversation. */
function conversation(flow: string): string {
  const [proto, rest] = [flow.slice(0, flow.indexOf(" ")), flow.slice(flow.indexOf(" ") + 1)];
  return `${proto} ${rest.split(" > ").sort().join(" ")}`;
}

interface PoolRun {
  reports: FlowsFileReport[];
  totals: { packets: number; bytes: number };
  error: RingcapError | null;
  perWorker: number[];
}

async function runPool(file: string, workers: number, extra: { delayMs?: number; blockBytes?: number } = {}): Promise<PoolRun> {
  const pool = await openFanout<{ delayMs?: number }, FlowsFileReport>(
    { file, blockBytes: extra.blockBytes ?? SMALL_BLOCKS },
    { worker, workers, workerData: { delayMs: extra.delayMs }, reportIntervalMs: 200 },
  );
  expect(pool.file).toBe(file);
  let error: RingcapError | null = null;
  await pool.done.catch((e) => (error = e));
  return {
    reports: pool.result() as FlowsFileReport[],
    totals: { packets: pool.stats().total.packets, bytes: pool.stats().total.bytes },
    error,
    perWorker: pool.stats().perWorker.map((w) => w.packets),
  };
}

/** Checks a run against the file: every flow's counts, one worker per conversation, file order. */
function checkRun(run: PoolRun, want: Map<string, [number, number]>, nonIp: number): void {
  const got = new Map<string, [number, number]>();
  const owner = new Map<string, number>();
  run.reports.forEach((r, w) => {
    expect(r.outOfOrder).toBe(0);
    for (const f of r.flows) {
      expect(got.has(f.flow)).toBe(false); // a flow in exactly one worker
      got.set(f.flow, [f.packets, f.bytes]);
      const conv = conversation(f.flow);
      expect(owner.get(conv) ?? w).toBe(w); // both directions in the same worker
      owner.set(conv, w);
    }
  });
  expect(new Map([...got].sort())).toEqual(new Map([...want].sort()));
  const packets = [...want.values()].reduce((n, [p]) => n + p, 0) + nonIp;
  expect(run.reports.reduce((n, r) => n + r.nonIp, 0)).toBe(nonIp);
  expect(run.totals.packets).toBe(packets);
}

const nonIpCount = (n: number) => testPackets(n).filter((p) => p.frame[12] === 0x08 && p.frame[13] === 0x06).length;

describe("openFanout({ file })", () => {
  test("the file's flows, per 5-tuple, equal what tshark reads", () => {
    const r = spawnSync("tshark", ["-r", pcap, "-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.srcport", "-e", "tcp.srcport", "-e", "udp.dstport", "-e", "tcp.dstport", "-e", "frame.len", "-Y", "udp or tcp"], { encoding: "utf8", timeout: 30_000 });
    if (r.status !== 0 && r.error) return void console.warn("tshark not runnable; skipped");
    const byTshark = new Map<string, number>();
    for (const line of r.stdout.trim().split("\n")) {
      const [s4, s6, d4, d6, us, ts, ud, td, len] = line.split(",");
      const key = [s4 || `[${s6}]`, us || ts, d4 || `[${d6}]`, ud || td].join(" ");
      byTshark.set(key, (byTshark.get(key) ?? 0) + Number(len));
    }
    const ours = new Map<string, number>();
    for (const [flow, [, bytes]] of expected) {
      const [, src, , dst] = flow.split(" ");
      const split = (ep: string) => [ep.slice(0, ep.lastIndexOf(":")), ep.slice(ep.lastIndexOf(":") + 1)];
      ours.set([...split(src), ...split(dst)].join(" "), bytes);
    }
    expect(new Map([...ours].sort())).toEqual(new Map([...byTshark].sort()));
  });

  test("1 and 2 workers: every packet once, in file order, a conversation in one worker", async () => {
    const one = await runPool(pcap, 1);
    expect(one.error).toBeNull();
    checkRun(one, expected, nonIpCount(PACKETS));
    const two = await runPool(pcap, 2);
    expect(two.error).toBeNull();
    checkRun(two, expected, nonIpCount(PACKETS));
    // Both workers had a share.
    expect(Math.min(...two.perWorker)).toBeGreaterThan(PACKETS / 10);
  }, 30_000);

  test("pcapng with two interfaces: same flows, each packet on its interface", async () => {
    const run = await runPool(pcapng, 2);
    expect(run.error).toBeNull();
    checkRun(run, expected, nonIpCount(PACKETS));
    const perIf = { 1: 0, 2: 0 } as Record<number, number>;
    for (const r of run.reports) for (const [k, v] of Object.entries(r.perIfindex)) perIf[Number(k)] += v;
    const want = testPackets(PACKETS).reduce((a, p) => (a[p.iface + 1]++, a), { 1: 0, 2: 0 } as Record<number, number>);
    expect(perIf).toEqual(want);
  }, 30_000);

  test("a truncated file: every good packet delivered, then the pool fails with file_truncated", async () => {
    const cut = join(dir, "cut.pcap");
    const packets = testPackets(3000, 10, 3);
    writePcap(cut, packets);
    truncateSync(cut, statSync(cut).size - 7);
    const run = await runPool(cut, 2);
    expect(run.error?.code).toBe("file_truncated");
    expect(run.totals.packets).toBe(packets.length - 1);
    const good = join(dir, "good.pcap");
    writePcap(good, packets.slice(0, -1));
    checkRun(run, await fileFlows(good), packets.slice(0, -1).filter((p) => p.frame[13] === 0x06 && p.frame[12] === 0x08).length);
  }, 30_000);

  test("slow workers hold the reader back; close() mid-file ends the pool", async () => {
    const pool = await openFanout<{ delayMs?: number }, FlowsFileReport>(
      { file: pcap, blockBytes: SMALL_BLOCKS },
      { worker, workers: 2, workerData: { delayMs: 40 }, reportIntervalMs: 50 },
    );
    let maxAhead = 0;
    pool.on("report", (r) => (maxAhead = Math.max(maxAhead, r.counters.received - r.counters.packets)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await pool.close();
    await pool.done;
    const { total } = pool.stats();
    expect(total.packets).toBeGreaterThan(0);
    expect(total.packets).toBeLessThan(PACKETS);
    // At most the 4 blocks of a worker wait for it (a block holds at most ~1,400 test frames).
    expect(maxAhead).toBeLessThanOrEqual(4 * 1400);
    expect(pool.stats().perWorker.every((w) => w.state === "closed")).toBe(true);
  }, 30_000);

  test("a handler that throws ends the pool with worker_failed, and the reader stops", async () => {
    const pool = await openFanout({ file: pcap, blockBytes: SMALL_BLOCKS }, {
      worker: new URL("./_fanout_handlers/throws.ts", import.meta.url),
      workers: 2,
      workerData: { failIndex: 1 },
    });
    const error = await pool.done.then(() => null, (e) => e);
    expect(error?.code).toBe("worker_failed");
    expect(error?.message).toContain("refuses its first block");
    expect(pool.stats().perWorker.map((w) => w.state).sort()).toEqual(["closed", "failed"]);
  }, 30_000);

  test("a file with no packets: the pool ends at once with empty reports; standard input works as \"-\"", async () => {
    const empty = join(dir, "empty.pcap");
    writePcap(empty, []);
    const run = await runPool(empty, 2);
    expect(run.error).toBeNull();
    expect(run.totals.packets).toBe(0);
    expect(run.reports.map((r) => r.flows.length)).toEqual([0, 0]);
    // "-": the pool reads this process's standard input; a child with the file as its stdin.
    const script = `import { openFanout } from ${JSON.stringify(new URL("../src/fanout/pool.ts", import.meta.url).pathname)};
      const pool = await openFanout({ file: "-" }, { worker: new URL(${JSON.stringify(worker.href)}), workers: 2 });
      await pool.done;
      console.log(pool.stats().total.packets);`;
    const r = spawnSync(process.execPath, ["-e", script], { input: readFileSync(pcap), encoding: "utf8", timeout: 30_000 });
    expect({ code: r.status, out: r.stdout.trim(), err: r.stderr }).toEqual({ code: 0, out: String(PACKETS), err: "" });
  }, 30_000);

  test("live-only options and a missing file are refused before any worker starts", async () => {
    await expect(openFanout({ file: pcap }, { worker, netns: "x" })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(openFanout({ file: pcap }, { worker, mode: "lb" })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(openFanout({ file: pcap }, { worker, restart: true })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(openFanout({ file: pcap, blockBytes: 4096 }, { worker })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(openFanout({ file: join(dir, "missing.pcap") }, { worker, workers: 1 })).rejects.toMatchObject({ code: "file_unreadable" });
  });

  test("snaplen cuts frames as a live capture's would", async () => {
    const pool = await openFanout({ file: pcap }, { worker: new URL("./_fanout_handlers/count.ts", import.meta.url), workers: 2, snaplen: 64 });
    await pool.done;
    expect(pool.stats().total.packets).toBe(PACKETS);
    expect(pool.info.every((i) => i?.snaplen === 64)).toBe(true);
  }, 30_000);

  test("flowWorker is symmetric", () => {
    const packets = testPackets(500, 40, 11);
    for (const p of packets) {
      const f = p.frame;
      const view = new DataView(f.buffer);
      // Swap the MACs and (for IP) the addresses and ports: the same worker of 2, 3 and 5.
      const swapped = f.slice();
      const sv = new DataView(swapped.buffer);
      swapped.set(f.subarray(6, 12), 0);
      swapped.set(f.subarray(0, 6), 6);
      let l3 = 14;
      while (sv.getUint16(l3 - 2) === 0x8100) l3 += 4;
      const type = sv.getUint16(l3 - 2);
      if (type === 0x0800 || type === 0x86dd) {
        const [a, n] = type === 0x0800 ? [l3 + 12, 4] : [l3 + 8, 16];
        swapped.set(f.subarray(a + n, a + 2 * n), a);
        swapped.set(f.subarray(a, a + n), a + n);
        const l4 = type === 0x0800 ? l3 + 20 : l3 + 40;
        swapped.set(f.subarray(l4 + 2, l4 + 4), l4);
        swapped.set(f.subarray(l4, l4 + 2), l4 + 2);
      }
      for (const workers of [2, 3, 5]) {
        expect(flowWorker(swapped, sv, 0, f.length, 1, workers)).toBe(flowWorker(f, view, 0, f.length, 1, workers));
      }
    }
  });
});

describe("openFile as a drop-in for a capture", () => {
  test("blocks({ signal }) stops when the signal aborts, and stats() counts what was yielded", async () => {
    await using f = await openFile(pcap, { blockBytes: 1 << 16 });
    const ac = new AbortController();
    let blocks = 0;
    for await (const block of f.blocks({ signal: ac.signal })) {
      expect(block.packetCount).toBeGreaterThan(0);
      if (++blocks === 2) ac.abort();
    }
    expect(blocks).toBe(2);
    expect(f.stats()).toEqual({ received: f.packets, drops: 0, freezes: 0, interfaceDrops: 0 });
    expect(f.packets).toBeGreaterThan(0);
    expect(f.packets).toBeLessThan(PACKETS);
  });
});

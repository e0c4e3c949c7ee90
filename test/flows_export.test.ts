// `ringcap flows --ipfix` end to end (issue 14): frames with exactly known flows (IPv4 and IPv6,
// TCP and UDP, several packets of varied sizes each) are sent on a namespace bench; ringcap
// exports them to nfcapd, and nfdump reads back, per 5-tuple, the packets and IP octets sent,
// every flow and nothing else, with start and end times inside the first and last timestamps
// tcpdump saw. From --workers 2 the collector sees two exporters (domains 1 and 2); tshark
// decodes every export message as IPFIX with its templates and no expert warning; an active
// timeout splits long flows, FIN and RST end flows at once (endOfFlowDetected), a full table
// evicts (lackOfResources) and the collector's totals stay exact; `flows -r FILE --ipfix` exports a
// saved file's flows in the file's time. softflowd on the same interface,
// in the same run, into the same collector, counts the same packets; its octets are the frames'
// lengths less the 14-byte Ethernet header (padding and trailers included), not the IP length,
// which the test checks from the frames tcpdump saw.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Collected,
  type Exporter,
  field,
  type FlowKey,
  type FlowTotals,
  frameFlow,
  type Message,
  nfdumpExporters,
  nfdumpRecords,
  softflowctl,
  startNfcapd,
  startSoftflowd,
  sumByKey,
  tally,
  totalsLines,
  tsharkExpert,
  tsharkMessages,
} from "./_collector.ts";
import { BUN, CLI, Proc } from "./_cli.ts";
import type { ExportSnapshot } from "../src/cli/flows_export.ts";
import { buildFrame } from "./_frames.ts";
import { type Bench, createBench, haveTools, privileged } from "./_netns.ts";
import { prng } from "./_prng.ts";
import { record, replay, type Seen, seenFrames, type Timed, writeSchedule } from "./_replay.ts";

const canRun = haveTools("nfcapd", "nfdump", "softflowd", "softflowctl", "tshark", "tcpdump", "python3") && privileged();

/** IPFIX flowEndReason values (RFC 7012, IE 136). */
const REASON = { idle: 1, active: 2, endOfFlow: 3, forcedEnd: 4, lackOfResources: 5 } as const;
/** The names the final JSON line counts records by, for each value. */
const REASON_NAMES = { idleTimeout: REASON.idle, activeTimeout: REASON.active, endOfFlowDetected: REASON.endOfFlow, forcedEnd: REASON.forcedEnd, lackOfResources: REASON.lackOfResources } as const;
const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_ACK = 0x10;

// ---- traffic --------------------------------------------------------------------------------------

/** Source and destination MACs of every frame: not the capturing interface's (checked). */
const DST_MAC = [0x02, 0, 0, 0, 0, 0x99];
const SRC_MAC = [0x02, 0, 0, 0, 0, 0x98];

/** One direction of a conversation: the frames' addresses, protocol and ports. */
interface Way {
  v6: boolean;
  proto: 6 | 17;
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** Conversation `i`: in 198.18.0.0/15 or 2001:db8::/32, both directions. */
function conversation(i: number, v6: boolean, proto: 6 | 17): [Way, Way] {
  const a = v6 ? `2001:db8:0:${i.toString(16)}::1` : `198.18.${i}.1`;
  const b = v6 ? `2001:db8:1:${i.toString(16)}::2` : `198.19.${i}.2`;
  const ap = 40000 + i, bp = proto === 6 ? 443 : 53;
  return [{ v6, proto, src: a, dst: b, sport: ap, dport: bp }, { v6, proto, src: b, dst: a, sport: bp, dport: ap }];
}

/**
 * A frame of `w` with `payload` bytes (TCP with `flags`), `trailer` bytes after the IP packet;
 * short frames padded to Ethernet's 60 bytes. Either way the frame is longer than its IP packet.
 */
function frame(w: Way, payload: number, flags = TCP_ACK, trailer = 0): Uint8Array {
  const ip = w.v6 ? { ipv6: { src: w.src, dst: w.dst } } : { ipv4: { src: w.src, dst: w.dst } };
  const l4 = w.proto === 6 ? { tcp: { src: w.sport, dst: w.dport, flags } } : { udp: { src: w.sport, dst: w.dport } };
  const spec = { dstMac: DST_MAC, srcMac: SRC_MAC, ...ip, ...l4, payload: new Uint8Array(payload).map((_, k) => (k * 7 + payload) & 0xff) };
  return buildFrame({ ...spec, padTo: Math.max(60, buildFrame(spec).length + trailer) });
}

/** A payload size: a quarter tiny (an IPv4 frame is then padded), the rest up to 1400. */
function size(rnd: () => number): number {
  return rnd() < 0.25 ? Math.floor(rnd() * 6) : 1 + Math.floor(rnd() * 1400);
}

/** Bytes after the IP packet: none mostly, 1 to 24 in one frame of eight (an Ethernet trailer). */
function trailer(rnd: () => number): number {
  return rnd() < 0.125 ? 1 + Math.floor(rnd() * 24) : 0;
}

/** The kinds of flows in `flows`: "PROTO IPVERSION". */
function kinds(flows: Map<FlowKey, unknown>): string[] {
  return [...new Set([...flows.keys()].map((k) => `${k.split(" ")[0]} ${k.includes(":") ? 6 : 4}`))].sort();
}
const ALL_KINDS = ["17 4", "17 6", "6 4", "6 6"];

/**
 * The schedule of `convs` conversations, both directions, `min`..`min+3` packets each way,
 * interleaved round robin, one frame every `gapMs`.
 */
function mixed(convs: [Way, Way][], seed: number, gapMs: number, min = 2): Timed[] {
  const rnd = prng(seed);
  const queues = convs.flatMap(([f, r]) => [f, r]).map((w) => Array.from({ length: min + Math.floor(rnd() * 4) }, () => frame(w, size(rnd), TCP_ACK, trailer(rnd))));
  const out: Timed[] = [];
  let t = 0;
  while (queues.some((q) => q.length)) {
    for (const q of queues) {
      const f = q.shift();
      if (f) out.push({ data: f, atMs: (t += gapMs) });
    }
  }
  return out;
}

/**
 * Non-IP frames (EtherType 0x88b5, local experimental) after the traffic: 300 of 1014 bytes, more
 * than one of libpcap's 256 KiB TPACKET_V3 blocks. softflowd opens libpcap without immediate
 * mode, and on this kernel its ring hands a block over only once the block is full (seen: with
 * 50 such frames it had processed none of the traffic 2 s later, with 300 all of it); these
 * fill the block that holds the traffic's last frames. ringcap and softflowd count no flow of
 * them (ringcap reports them as "skipped"), and tcpdump's filter leaves them out.
 */
function filler(afterMs: number): Timed[] {
  return Array.from({ length: 300 }, (_, k) => ({
    data: buildFrame({ dstMac: DST_MAC, srcMac: SRC_MAC, etherType: 0x88b5, payload: new Uint8Array(1000).fill(k & 0xff) }),
    atMs: afterMs + 5 + k * 0.05,
  }));
}

/** The flow key of `w`'s frames. */
function keyOf(w: Way): FlowKey {
  return frameFlow(frame(w, 0))!.key;
}

/**
 * Two flows paced over 3.5 s (IPv4 UDP every 100 ms, IPv6 TCP every 150 ms) and two short TCP
 * flows early (SYN, data, then FIN at 200 ms, or RST).
 */
function longAndEnded() {
  const rnd = prng(3);
  const [longUdp] = conversation(40, false, 17);
  const [longTcp] = conversation(41, true, 6);
  const [fin] = conversation(42, false, 6);
  const [rst] = conversation(43, true, 6);
  const schedule: Timed[] = [];
  for (let t = 0; t <= 3500; t += 50) {
    if (t % 100 === 0) schedule.push({ data: frame(longUdp, size(rnd)), atMs: t });
    if (t % 150 === 0) schedule.push({ data: frame(longTcp, size(rnd)), atMs: t + 1 });
  }
  const fins: [Way, number][] = [[fin, TCP_FIN | TCP_ACK], [rst, TCP_RST | TCP_ACK]];
  for (const [k, [w, last]] of fins.entries()) {
    schedule.push({ data: frame(w, 0, TCP_SYN), atMs: 20 + k });
    for (let i = 1; i <= 4; i++) schedule.push({ data: frame(w, size(rnd)), atMs: 20 + k + 30 * i });
    schedule.push({ data: frame(w, 0, last), atMs: 200 + k });
  }
  schedule.sort((a, b) => a.atMs - b.atMs);
  return { schedule, longUdp, longTcp, fins };
}

// ---- one export run ---------------------------------------------------------------------------------

/** ringcap's JSON line (`flows --ipfix --json`): what the CLI writes. */
type FinalLine = ExportSnapshot;

interface Run {
  /** Per flow, what was sent (from the schedule). */
  sent: Map<FlowKey, FlowTotals>;
  /** The frames tcpdump saw on rx, and per flow their totals and first / last timestamps. */
  frames: Seen[];
  seen: Map<FlowKey, FlowTotals>;
  /** The collector's records and exporters (nfdump). */
  records: Collected[];
  exporters: Exporter[];
  /** The export messages on lo, decoded by tshark, and its expert warnings. */
  messages: Message[];
  expert: string[];
  /** ringcap's JSON lines; the last is its final line. */
  lines: FinalLine[];
  final: FinalLine;
  /** When ringcap was sent SIGTERM (ns since 1970). */
  stopNs: bigint;
  ringcapErr: string;
  softflowdLog?: string;
}

describe.skipIf(!canRun)("ringcap flows --ipfix into nfcapd, checked by tcpdump, tshark and softflowd", () => {
  let bench: Bench;
  let dir: string;
  beforeAll(() => {
    bench = createBench();
    dir = mkdtempSync(join(tmpdir(), "ringcap-flows-export-"));
    // The frames are addressed to another host: their destination MAC is not rx's.
    const mac = /link\/ether ([0-9a-f:]+)/.exec(bench.ip("link", "show", bench.rx))![1];
    expect(mac).not.toBe(DST_MAC.map((b) => b.toString(16).padStart(2, "0")).join(":"));
  });
  afterAll(() => {
    bench?.destroy();
    if (process.env.KEEP_FLOWS_EXPORT) console.log(dir);
    else if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * nfcapd on 127.0.0.1:PORT, tcpdump on lo (the export) and on rx (the traffic), softflowd if
   * asked, then `ringcap flows -i rx --ipfix 127.0.0.1:PORT --json ARGS`; the schedule is sent,
   * ringcap is stopped with SIGTERM (it flushes), softflowd shut down (it expires and exports
   * every flow), nfcapd stopped (it writes its file), and everything read back. With `fromFile`
   * nothing is sent: `ringcap flows -r SCHEDULE --ipfix ...` reads the schedule's pcap to its end
   * (the frames' times are then the file's).
   */
  async function exportRun(name: string, port: number, schedule: Timed[], args: string[], mode: "live" | "softflowd" | "fromFile" = "live"): Promise<Run> {
    const base = join(dir, name);
    const flowsDir = join(base, "nfcapd");
    mkdirSync(flowsDir, { recursive: true });
    const sched = join(base, "schedule.pcap");
    writeSchedule(sched, schedule);
    const sent = tally(schedule);
    const ipFrames = schedule.filter((f) => frameFlow(f.data)).length;
    const nfcapd = await startNfcapd(bench, flowsDir, port);
    const procs: { kill(): void }[] = [nfcapd];
    try {
      const lo = await record(bench, "lo", join(base, "export.pcap"), ["udp", "dst", "port", String(port)]);
      procs.push(lo);
      const rx = mode === "fromFile" ? undefined : await record(bench, bench.rx, join(base, "rx.pcap"), ["ip", "or", "ip6"]);
      if (rx) procs.push(rx);
      const softflowd = mode === "softflowd" ? await startSoftflowd(bench, bench.rx, port, base) : undefined;
      if (softflowd) procs.push(softflowd);
      const source = rx ? ["-i", bench.rx, "--interval", "0.2"] : ["-r", sched];
      const ringcap = new Proc("ip", ["netns", "exec", bench.name, BUN, CLI, "flows", ...source, "--ipfix", `127.0.0.1:${port}`, "--json", ...args], /(?!)/, 40_000);
      procs.push({ kill: () => ringcap.running && ringcap.child.kill("SIGKILL") });
      let stopNs: bigint;
      if (rx) {
        // Its first interval line: the capture is open.
        for (let i = 0; i < 500 && ringcap.outLines === 0 && ringcap.running; i++) await Bun.sleep(20);
        if (ringcap.outLines === 0) throw new Error(`ringcap did not start: ${ringcap.err}`);
        expect(await replay(bench, sched)).toBe(schedule.length);
        await rx.stop(ipFrames);
        // Both rings' last blocks are handed over by their block timeouts by now.
        await Bun.sleep(300);
        stopNs = BigInt(Date.now()) * 1_000_000n;
        ringcap.child.kill("SIGTERM");
      }
      const done = await ringcap.done;
      stopNs ??= BigInt(Date.now()) * 1_000_000n;
      writeFileSync(join(base, "ringcap.out"), done.out);
      writeFileSync(join(base, "ringcap.err"), done.err);
      expect({ code: done.code, err: done.err }).toEqual({ code: 0, err: done.err });
      let softflowdLog: string | undefined;
      if (softflowd) {
        softflowctl(bench, softflowd.ctl, "shutdown");
        await softflowd.stop("SIGTERM", 5000);
        softflowdLog = softflowd.log;
      }
      await lo.stop();
      await nfcapd.stop("SIGTERM");
      const lines = done.out.trim().split("\n").map((l) => JSON.parse(l) as FinalLine);
      const frames = seenFrames(rx ? rx.path : sched);
      return {
        sent,
        frames,
        seen: tally(frames),
        records: nfdumpRecords(flowsDir),
        exporters: nfdumpExporters(flowsDir),
        messages: tsharkMessages(lo.path, port),
        expert: tsharkExpert(lo.path, port),
        lines,
        final: lines.at(-1)!,
        stopNs,
        ringcapErr: done.err,
        softflowdLog,
      };
    } finally {
      for (const p of procs) p.kill();
    }
  }

  /** The records of the exporters with these observation domain ids. */
  function fromDomains(run: Run, domains: number[]): Collected[] {
    const ids = new Set(run.exporters.filter((e) => domains.includes(e.domain)).map((e) => e.sysid));
    return run.records.filter((r) => ids.has(r.exporter));
  }

  /** The flow records tshark decoded in the messages of these domains (options records left out). */
  function decodedFlows(run: Run, domains: number[]) {
    return run.messages.filter((m) => domains.includes(m.domain)).flatMap((m) =>
      m.flows.filter((f) => field(f, "cflow.packets") !== undefined).map((f) => ({
        frameNs: m.frameNs,
        key: `${field(f, "cflow.protocol")} ${field(f, "cflow.srcaddr") ?? field(f, "cflow.srcaddrv6")} ${field(f, "cflow.srcport")} ${field(f, "cflow.dstaddr") ?? field(f, "cflow.dstaddrv6")} ${field(f, "cflow.dstport")}`,
        packets: Number(field(f, "cflow.packets")),
        octets: Number(field(f, "cflow.octets")),
        reason: Number(field(f, "cflow.flow_end_reason")),
      })),
    );
  }

  /**
   * What every ringcap run must show: tcpdump saw every frame sent; the collector has, per flow,
   * exactly the packets and IP octets sent, no other flow; each record's start and end lie within
   * the first and last timestamps tcpdump saw for its flow (ms, truncated); tshark decodes every
   * message of ours as IPFIX, every data record with its template, and warns of nothing; the JSON
   * final line agrees.
   */
  function expectExact(run: Run, domains: number[]) {
    expect(run.sent.size).toBeGreaterThan(0);
    expect(totalsLines(run.seen)).toEqual(totalsLines(run.sent));
    const ours = fromDomains(run, domains);
    expect(totalsLines(sumByKey(ours))).toEqual(totalsLines(run.sent));
    for (const r of ours) {
      const s = run.seen.get(r.key)!;
      const first = Number(s.firstNs! / 1_000_000n), last = Number(s.lastNs! / 1_000_000n);
      const where = `${r.key}: record ${r.startMs}..${r.endMs}, tcpdump ${first}..${last}`;
      expect(r.startMs >= first && r.startMs <= r.endMs && r.endMs <= last, where).toBe(true);
    }
    // nfcapd found every message's sequence number (data records sent before it) as expected.
    for (const e of run.exporters.filter((x) => domains.includes(x.domain))) expect(e.sequenceFailures).toBe(0);
    const msgs = run.messages.filter((m) => domains.includes(m.domain));
    expect(msgs.length).toBeGreaterThan(0);
    for (const m of msgs) expect(m.version).toBe(10);
    // Every data record decoded (a set without its template shows no flow fields): tshark's
    // records equal the collector's, one for one.
    const flows = decodedFlows(run, domains);
    expect(flows.length).toBe(ours.length);
    expect(totalsLines(sumByKey(flows.map((f) => ({ ...f, startMs: 0, endMs: 0, exporter: 0 }))))).toEqual(totalsLines(run.sent));
    for (const d of domains) expect(run.messages.find((m) => m.domain === d)?.hasTemplates).toBe(true);
    expect(run.expert).toEqual([]);
    // The final line: after the flush, every record made was sent, none lost.
    expect(run.final.final).toBe(true);
    expect(run.final.records).toBe(ours.length);
    expect(run.final.recordsSent).toBe(ours.length);
    expect(run.final.recordsLost).toBe(0);
    expect(run.final.flowsActive).toBe(0);
    expect(run.final.packets).toBe(run.frames.length);
    expect(run.final.drops).toBe(0);
    // Its records by reason are the reasons tshark decoded.
    const byReason = Object.fromEntries(Object.entries(REASON_NAMES).map(([name, v]) => [name, flows.filter((f) => f.reason === v).length]));
    expect(run.final.recordsByReason).toEqual(byReason);
  }

  /**
   * The long flows came in several records, each at the active timeout but for at most one
   * more at the end (none when the last active timeout came after the flow's last packet); the
   * FIN and RST flows in one record each, reason endOfFlowDetected. Returns tshark's records.
   */
  function expectSplitAndEnded(run: Run, longUdp: Way, longTcp: Way, fins: [Way, number][]) {
    const counts = sumByKey(run.records);
    const flows = decodedFlows(run, [1]);
    for (const w of [longUdp, longTcp]) {
      expect(counts.get(keyOf(w))!.records).toBeGreaterThan(1);
      const reasons = flows.filter((f) => f.key === keyOf(w)).map((f) => f.reason);
      expect(reasons.filter((r) => r === REASON.active).length).toBeGreaterThanOrEqual(1);
      expect(reasons.filter((r) => r !== REASON.active)).toEqual(reasons.at(-1) === REASON.active ? [] : [REASON.forcedEnd]);
    }
    for (const [w] of fins) expect(flows.filter((f) => f.key === keyOf(w)).map((f) => f.reason)).toEqual([REASON.endOfFlow]);
    return flows;
  }

  test("one worker and softflowd in the same run: exact per-flow totals; softflowd counts frame length less 14", async () => {
    const convs = [
      conversation(1, false, 6), conversation(2, false, 17), conversation(3, true, 6), conversation(4, true, 17),
      conversation(5, false, 6), conversation(6, false, 17), conversation(7, true, 6), conversation(8, true, 17),
    ];
    const traffic = mixed(convs, 1, 2);
    const run = await exportRun("one", 4801, [...traffic, ...filler(traffic.at(-1)!.atMs)], [], "softflowd");
    expect(kinds(run.sent)).toEqual(ALL_KINDS);
    // Two exporters at the collector, told apart by their observation domains: ringcap's 1 (the
    // default --domain-id), softflowd's 0 (it sends no other).
    expect(run.exporters.map((e) => `${e.ip} v${e.version} domain ${e.domain}`).sort()).toEqual(["127.0.0.1 v10 domain 0", "127.0.0.1 v10 domain 1"]);
    expectExact(run, [1]);
    for (const f of decodedFlows(run, [1])) expect(f.reason).toBe(REASON.forcedEnd);
    expect(run.final.evictions).toBe(0);
    expect(run.final.skipped).toBe(300); // the filler: seen, in no flow

    // softflowd: the same packets per flow. Its octets are each frame's length less its 14-byte
    // Ethernet header, not the IP length: padding and trailers count. Both read from the frames
    // tcpdump saw; frames longer than their IP packet are there, IPv4 and IPv6.
    const soft = sumByKey(fromDomains(run, [0]));
    const byFrame = new Map<FlowKey, { packets: number; octets: number }>();
    const longer = new Set<string>();
    for (const f of run.frames) {
      const ff = frameFlow(f.data)!;
      const t = byFrame.get(ff.key) ?? { packets: 0, octets: 0 };
      t.packets++;
      t.octets += f.data.length - 14;
      if (f.data.length - 14 > ff.ipLength) longer.add(ff.key.includes(":") ? "IPv6" : "IPv4");
      byFrame.set(ff.key, t);
    }
    expect([...longer].sort()).toEqual(["IPv4", "IPv6"]);
    expect([...soft].map(([k, t]) => `${k} ${t.packets}`).sort()).toEqual([...run.sent].map(([k, t]) => `${k} ${t.packets}`).sort());
    expect(totalsLines(soft)).toEqual(totalsLines(byFrame));
    expect(totalsLines(soft)).not.toEqual(totalsLines(run.sent));
  }, 30_000);

  test("--workers 2: two exporters (domains 1 and 2), exact totals between them", async () => {
    const convs = Array.from({ length: 20 }, (_, i) => conversation(20 + i, i % 2 === 1, i % 4 < 2 ? 6 : 17));
    const run = await exportRun("workers", 4802, mixed(convs, 2, 1), ["--workers", "2"]);
    expect(kinds(run.sent)).toEqual(ALL_KINDS);
    expect(run.exporters.map((e) => `${e.ip} v${e.version} domain ${e.domain}`).sort()).toEqual(["127.0.0.1 v10 domain 1", "127.0.0.1 v10 domain 2"]);
    // Each exporter's records come from one worker: a flow is never split between them.
    const owner = new Map<FlowKey, number>();
    for (const r of run.records) {
      expect(owner.get(r.key) ?? r.exporter).toBe(r.exporter);
      owner.set(r.key, r.exporter);
    }
    expectExact(run, [1, 2]);
    expect(new Set(run.messages.map((m) => m.domain))).toEqual(new Set([1, 2]));
  }, 30_000);

  test("--active-timeout 1 splits long flows; FIN and RST end a flow at once (endOfFlowDetected)", async () => {
    const { schedule, longUdp, longTcp, fins } = longAndEnded();
    const run = await exportRun("timeouts", 4803, schedule, ["--active-timeout", "1", "--idle-timeout", "10"]);
    expectExact(run, [1]);
    const flows = expectSplitAndEnded(run, longUdp, longTcp, fins);
    // The long UDP flow's first active-timeout record, made about 1 s in.
    const firstActive = flows.find((f) => f.key === keyOf(longUdp) && f.reason === REASON.active)!;
    for (const [w] of fins) {
      const mine = flows.filter((f) => f.key === keyOf(w));
      // It left while ringcap still ran: not flushed by the stop.
      expect(mine[0].frameNs < run.stopNs).toBe(true);
      // Made at the FIN (200 ms in), not when the flow's 2 s linger ended: the exporter sends
      // records in the order made, so it left in the same message as that record or before.
      expect(mine[0].frameNs <= firstActive.frameNs).toBe(true);
    }
  }, 30_000);

  test("-r FILE --ipfix: the same flows from a saved file, in the file's time", async () => {
    const { schedule, longUdp, longTcp, fins } = longAndEnded();
    const run = await exportRun("file", 4805, schedule, ["--active-timeout", "1", "--idle-timeout", "10"], "fromFile");
    // The file's times are 2023's (writeSchedule's base), not now: the records carry them.
    expect(Math.max(...run.records.map((r) => r.endMs))).toBeLessThan(Date.now() - 86_400_000);
    expectExact(run, [1]);
    expectSplitAndEnded(run, longUdp, longTcp, fins);
  }, 30_000);

  test("--max-flows 4 with 12 concurrent flows: evictions (lackOfResources), exact totals", async () => {
    const convs = Array.from({ length: 6 }, (_, i) => conversation(50 + i, i % 2 === 1, i < 3 ? 17 : 6));
    const run = await exportRun("evict", 4804, mixed(convs, 4, 1, 3), ["--max-flows", "4"]);
    expect(kinds(run.sent)).toEqual(ALL_KINDS);
    expectExact(run, [1]);
    expect(run.final.evictions).toBeGreaterThan(0);
    const reasons = decodedFlows(run, [1]).map((f) => f.reason);
    expect(reasons.filter((r) => r === REASON.lackOfResources).length).toBe(run.final.evictions);
    expect(run.records.length).toBeGreaterThan(run.sent.size);
  }, 30_000);
});

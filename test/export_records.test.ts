// The flow lifecycle (src/export/records.ts): packets built here, decoded by a PacketDecoder, fed
// to a FlowTracker; the records must account for every packet and every IP octet. The octet
// counts are checked against tshark's ip.len / ipv6.plen on a saved file (RFC 7012's octetDeltaCount).
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFrame, type FrameSpec } from "./_frames.ts";
import { LT, pcapFile, timeOf } from "./_corpus.ts";
import { tool } from "./_cli.ts";
import { prng } from "./_prng.ts";
import { PacketDecoder, TCP_FLAGS } from "../src/decode.ts";
import { openFile } from "../src/file.ts";
import { FLOW_TRACKER_DEFAULTS, FlowTracker, type FlowTrackerOptions } from "../src/export/records.ts";
import { FLOW_END_REASON, type FlowRecord } from "../src/export/record.ts";

const d = new PacketDecoder();
const A4 = { src: "198.18.0.1", dst: "198.19.0.1" };
const A6 = { src: "2001:db8::1", dst: "2001:db8::2" };
const T0 = 1_700_000_000_000;

/** Feeds one frame, cut to `snaplen`, at `ms`. Returns the frame's IP length (the frame less its 14 + 4 * tags bytes). */
function feed(tracker: FlowTracker, spec: FrameSpec, ms: number, o: { snaplen?: number; ifindex?: number } = {}): number {
  const frame = buildFrame(spec);
  const caplen = Math.min(frame.length, o.snaplen ?? 65535);
  tracker.add(d.decode(frame, new DataView(frame.buffer), 0, caplen), ms, o.ifindex ?? 0);
  return frame.length - 14 - 4 * (spec.vlans?.length ?? 0);
}

function payload(n: number): Uint8Array {
  return new Uint8Array(n).fill(0x5a);
}

function tracker(options: FlowTrackerOptions = {}): { t: FlowTracker; records: FlowRecord[] } {
  const records: FlowRecord[] = [];
  return { t: new FlowTracker({ ...options, onRecord: (r) => records.push(r) }), records };
}

const sum = (rs: FlowRecord[], f: "packets" | "octets") => rs.reduce((a, r) => a + r[f], 0);
const ip = (b: Uint8Array) => (b.length === 4 ? b.join(".") : Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""));

describe("FlowTracker counts", () => {
  test("exact packets and IP octets per flow, IPv4 and IPv6, TCP and UDP, frames cut by a snaplen", () => {
    const { t, records } = tracker();
    const flows: { spec: (n: number) => FrameSpec; octets: number; packets: number }[] = [
      { spec: (n) => ({ ipv4: A4, udp: { src: 10000, dst: 9 }, payload: payload(n) }), octets: 0, packets: 0 },
      { spec: (n) => ({ ipv4: A4, tcp: { src: 40000, dst: 443, flags: n === 0 ? TCP_FLAGS.SYN : TCP_FLAGS.ACK | TCP_FLAGS.PSH }, payload: payload(n) }), octets: 0, packets: 0 },
      { spec: (n) => ({ ipv6: A6, udp: { src: 5353, dst: 53 }, payload: payload(n) }), octets: 0, packets: 0 },
      { spec: (n) => ({ ipv6: A6, tcp: { src: 50000, dst: 80 }, payload: payload(n) }), octets: 0, packets: 0 },
    ];
    const sizes = [0, 1, 100, 999, 1400];
    let ms = T0 + 0.75;
    for (const size of sizes) {
      for (const f of flows) {
        // 80 bytes keep the IPv6 TCP header whole (14 + 40 + 20) and cut the larger packets.
        f.octets += feed(t, f.spec(size), (ms += 10), { snaplen: 80 });
        f.packets++;
      }
    }
    expect(records).toEqual([]);
    expect(t.size).toBe(4);
    expect(t.flush()).toBe(4);
    expect(records.map((r) => r.octets)).toEqual(flows.map((f) => f.octets));
    expect(records.map((r) => r.packets)).toEqual(flows.map(() => sizes.length));
    // The IPv4 UDP flow: 20 + 8 + payload per packet.
    expect(records[0].octets).toBe(sizes.reduce((a, n) => a + 28 + n, 0));
    // The IPv6 TCP flow: 40 + 20 + payload per packet.
    expect(records[3].octets).toBe(sizes.reduce((a, n) => a + 60 + n, 0));
    expect(records.map((r) => [r.ipVersion, r.protocol, r.srcPort, r.dstPort])).toEqual([
      [4, 17, 10000, 9],
      [4, 6, 40000, 443],
      [6, 17, 5353, 53],
      [6, 6, 50000, 80],
    ]);
    expect(ip(records[0].srcAddress)).toBe("198.18.0.1");
    expect(ip(records[0].dstAddress)).toBe("198.19.0.1");
    expect(ip(records[2].dstAddress)).toBe("20010db8000000000000000000000002");
    expect(records[1].tcpFlags).toBe(TCP_FLAGS.SYN | TCP_FLAGS.ACK | TCP_FLAGS.PSH);
    expect(records[0].tcpFlags).toBe(0);
    // First and last packet times (ms, truncated), the flush's reason.
    expect(records.map((r) => [r.startMs - T0, r.endMs - T0])).toEqual([
      [10, 170],
      [20, 180],
      [30, 190],
      [40, 200],
    ]);
    expect(records.every((r) => r.endReason === FLOW_END_REASON.forcedEnd && r.vlanId === -1 && r.ingressInterface === 0)).toBe(true);
    expect(t.size).toBe(0);
    const s = t.stats();
    expect(s).toMatchObject({ activeFlows: 0, packets: 20, skipped: 0, evictions: 0, records: 4 });
    expect(s.recordsByReason.forcedEnd).toBe(4);
  });

  test("packets that are not IP are skipped; ICMP is keyed and reported by type and code", () => {
    const { t, records } = tracker();
    feed(t, { etherType: 0x0806, payload: payload(28) }, T0);
    feed(t, { ipv4: A4, icmp: { type: 8, code: 0 }, payload: payload(56) }, T0 + 1);
    feed(t, { ipv4: A4, icmp: { type: 8, code: 0 }, payload: payload(56) }, T0 + 2);
    feed(t, { ipv4: A4, icmp: { type: 3, code: 3 }, payload: payload(28) }, T0 + 3);
    feed(t, { ipv6: A6, icmpv6: { type: 128, code: 0 }, payload: payload(8) }, T0 + 4);
    t.flush();
    expect(t.stats().skipped).toBe(1);
    expect(records.map((r) => [r.protocol, r.srcPort, r.dstPort, r.packets])).toEqual([
      [1, 0, 8 * 256, 2],
      [1, 0, 3 * 256 + 3, 1],
      [58, 0, 128 * 256, 1],
    ]);
  });

  test("the outer VLAN id and the ingress interface are carried, and keep flows apart", () => {
    const { t, records } = tracker();
    const spec = (vlan?: number): FrameSpec => ({ vlans: vlan === undefined ? undefined : [{ id: vlan }], ipv4: A4, udp: { src: 1, dst: 2 }, payload: payload(10) });
    feed(t, spec(100), T0, { ifindex: 7 });
    feed(t, spec(100), T0 + 1, { ifindex: 7 });
    feed(t, spec(200), T0 + 2, { ifindex: 7 });
    feed(t, spec(), T0 + 3, { ifindex: 7 });
    feed(t, spec(100), T0 + 4, { ifindex: 8 });
    feed(t, { vlans: [{ id: 0 }], ipv4: A4, udp: { src: 1, dst: 2 }, payload: payload(10) }, T0 + 5, { ifindex: 7 });
    t.flush();
    expect(records.map((r) => [r.vlanId, r.ingressInterface, r.packets, r.octets])).toEqual([
      [100, 7, 2, 76],
      [200, 7, 1, 38],
      [-1, 7, 1, 38],
      [100, 8, 1, 38],
      [0, 7, 1, 38],
    ]);
  });
});

describe("FlowTracker ends flows", () => {
  test("idle timeout, on the packets' clock by default", () => {
    const { t, records } = tracker({ idleTimeoutMs: 30_000 });
    feed(t, { ipv4: A4, udp: { src: 1, dst: 2 } }, T0);
    feed(t, { ipv4: A4, udp: { src: 1, dst: 2 } }, T0 + 1000);
    expect(t.expire(T0 + 30_999)).toBe(0);
    // Another flow's packet moves the tracker's clock past the first flow's idle timeout.
    feed(t, { ipv6: A6, udp: { src: 3, dst: 4 } }, T0 + 31_000);
    expect(t.latestMs).toBe(T0 + 31_000);
    expect(t.expire()).toBe(1);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ packets: 2, startMs: T0, endMs: T0 + 1000, endReason: FLOW_END_REASON.idleTimeout });
    expect(t.size).toBe(1);
    // The flow's next packet starts a new flow.
    feed(t, { ipv4: A4, udp: { src: 1, dst: 2 } }, T0 + 40_000);
    expect(t.size).toBe(2);
    expect(t.expire(T0 + 80_000)).toBe(2);
    expect(t.stats().recordsByReason.idleTimeout).toBe(3);
  });

  test("active timeout splits a long flow into records whose counts add up to the flow's", () => {
    const { t, records } = tracker({ idleTimeoutMs: 30_000, activeTimeoutMs: 120_000 });
    let octets = 0;
    const n = 100;
    for (let i = 0; i < n; i++) {
      octets += feed(t, { ipv4: A4, tcp: { src: 40000, dst: 22 }, payload: payload(i * 7) }, T0 + i * 5000, { snaplen: 60 });
      if (i % 3 === 0) t.expire(); // the periodic check finds flows that are due too
    }
    t.flush();
    const active = records.filter((r) => r.endReason === FLOW_END_REASON.activeTimeout);
    // 495 s of packets every 5 s: reported each 120 s, the rest at the flush.
    expect(active.length).toBe(4);
    expect(records.at(-1)!.endReason).toBe(FLOW_END_REASON.forcedEnd);
    expect(sum(records, "packets")).toBe(n);
    expect(sum(records, "octets")).toBe(octets);
    for (const r of records) expect(r.endMs - r.startMs).toBeLessThan(120_000);
    for (let i = 1; i < records.length; i++) expect(records[i].startMs).toBeGreaterThan(records[i - 1].endMs);
    expect(records[0].startMs).toBe(T0);
    expect(records.at(-1)!.endMs).toBe(T0 + (n - 1) * 5000);
  });

  test("a FIN or RST ends the flow at once; its last packets linger into one more record", () => {
    const { t, records } = tracker({ finLingerMs: 2000 });
    const tcp = (flags: number, src = 40000): FrameSpec => ({ ipv4: A4, tcp: { src, dst: 80, flags }, payload: payload(5) });
    feed(t, tcp(TCP_FLAGS.SYN), T0);
    feed(t, tcp(TCP_FLAGS.ACK), T0 + 10);
    feed(t, tcp(TCP_FLAGS.ACK | TCP_FLAGS.PSH), T0 + 20);
    feed(t, tcp(TCP_FLAGS.FIN | TCP_FLAGS.ACK), T0 + 30);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ packets: 4, octets: 4 * 45, startMs: T0, endMs: T0 + 30, endReason: FLOW_END_REASON.endOfFlowDetected });
    expect(records[0].tcpFlags).toBe(TCP_FLAGS.SYN | TCP_FLAGS.ACK | TCP_FLAGS.PSH | TCP_FLAGS.FIN);
    // The last ACK comes within the linger: one more record when the linger ends, not a new flow.
    feed(t, tcp(TCP_FLAGS.ACK), T0 + 50);
    expect(t.expire(T0 + 1000)).toBe(0);
    expect(t.expire(T0 + 2050)).toBe(1);
    expect(records[1]).toMatchObject({ packets: 1, startMs: T0 + 50, endReason: FLOW_END_REASON.endOfFlowDetected, tcpFlags: TCP_FLAGS.ACK });
    expect(t.size).toBe(0);

    // RST, then a SYN on the same ports within the linger: a new flow at once.
    feed(t, tcp(TCP_FLAGS.SYN, 40001), T0 + 3000);
    feed(t, tcp(TCP_FLAGS.RST, 40001), T0 + 3001);
    expect(records).toHaveLength(3);
    expect(records[2]).toMatchObject({ packets: 2, endReason: FLOW_END_REASON.endOfFlowDetected, tcpFlags: TCP_FLAGS.SYN | TCP_FLAGS.RST });
    feed(t, tcp(TCP_FLAGS.SYN, 40001), T0 + 3100);
    expect(t.size).toBe(1);
    t.flush();
    expect(records[3]).toMatchObject({ packets: 1, startMs: T0 + 3100, endReason: FLOW_END_REASON.forcedEnd });
    expect(t.stats().recordsByReason).toMatchObject({ endOfFlowDetected: 3, forcedEnd: 1 });

    // Without a linger the flow is forgotten at the FIN.
    const b = tracker({ finLingerMs: 0 });
    feed(b.t, tcp(TCP_FLAGS.FIN), T0);
    expect(b.t.size).toBe(0);
    expect(b.records).toHaveLength(1);
  });

  test("a full table evicts the least recently seen flow and reports it: nothing is lost", () => {
    const { t, records } = tracker({ maxFlows: 4 });
    let packets = 0;
    let octets = 0;
    // 12 flows, each getting packets in bursts, in an order that makes every flow the oldest at some point.
    for (let round = 0; round < 5; round++) {
      for (let f = 0; f < 12; f++) {
        if ((f + round) % 3 === 0) continue;
        for (let k = 0; k <= f % 3; k++) {
          octets += feed(t, { ipv4: A4, udp: { src: 1000 + f, dst: 53 }, payload: payload(f * 10 + k) }, T0 + round * 1000 + f * 10 + k);
          packets++;
        }
      }
      expect(t.size).toBeLessThanOrEqual(4);
    }
    const evicted = records.filter((r) => r.endReason === FLOW_END_REASON.lackOfResources);
    expect(evicted.length).toBeGreaterThan(0);
    expect(t.stats().evictions).toBe(evicted.length);
    // The first eviction is the first flow (seen least recently when the fifth arrived).
    expect(evicted[0].srcPort).toBe(1001);
    t.flush();
    expect(sum(records, "packets")).toBe(packets);
    expect(sum(records, "octets")).toBe(octets);
    expect(t.stats()).toMatchObject({ activeFlows: 0, packets, records: records.length });
  });

  test("many flows come and go through the hash table, record for record as a plain Map model", () => {
    // Removal from the open-addressed table (idle timeouts, evictions) must keep every flow
    // findable: a lost one would come back as a second entry and change the records. The model is
    // the same lifecycle over a Map (its insertion order is the recency order).
    const { t, records } = tracker({ maxFlows: 100, idleTimeoutMs: 150 });
    type Entry = { start: number; last: number; packets: number };
    const model = new Map<string, Entry>();
    const expected: [string, number, number, number, number][] = [];
    const end = (key: string, e: Entry, reason: number) => {
      expected.push([key, e.packets, e.start, e.last, reason]);
      model.delete(key);
    };
    const random = prng(14);
    for (let i = 0; i < 20_000; i++) {
      const f = Math.floor(random() * 200);
      const src = `198.18.${f >> 8}.${f & 255}`;
      const ms = T0 + i;
      feed(t, { ipv4: { src, dst: "198.19.0.1" }, udp: { src: 1, dst: 2 } }, ms);
      const e = model.get(src);
      if (e) {
        model.delete(src);
        model.set(src, { ...e, last: ms, packets: e.packets + 1 });
      } else {
        if (model.size === 100) {
          const [oldest, o] = model.entries().next().value!;
          end(oldest, o, FLOW_END_REASON.lackOfResources);
        }
        model.set(src, { start: ms, last: ms, packets: 1 });
      }
      if (i % 97 === 0) {
        t.expire();
        for (const [key, o] of [...model]) if (ms - o.last >= 150) end(key, o, FLOW_END_REASON.idleTimeout);
      }
    }
    t.flush();
    for (const [key, o] of [...model]) end(key, o, FLOW_END_REASON.forcedEnd);
    expect(records.map((r) => [ip(r.srcAddress), r.packets, r.startMs, r.endMs, r.endReason])).toEqual(expected);
    expect(new Set(expected.map((e) => e[4])).size).toBe(3);
    expect(t.stats()).toMatchObject({ packets: 20_000, records: expected.length });
  });

  test("options: defaults are nProbe's, bad values are refused", () => {
    const t = new FlowTracker();
    expect([t.idleTimeoutMs, t.activeTimeoutMs, t.maxFlows]).toEqual([30_000, 120_000, 65_536]);
    expect(FLOW_TRACKER_DEFAULTS.finLingerMs).toBe(t.finLingerMs);
    expect(() => new FlowTracker({ maxFlows: 0 })).toThrow(/maxFlows must be an integer/);
    expect(() => new FlowTracker({ idleTimeoutMs: 1.5 })).toThrow(/idleTimeoutMs/);
    // Without onRecord, records wait for drain().
    feed(t, { ipv4: A4, udp: { src: 1, dst: 2 } }, T0);
    t.flush();
    expect(t.drain()).toHaveLength(1);
    expect(t.drain()).toHaveLength(0);
  });
});

describe("FlowTracker against tshark", () => {
  test("packets, octets (ip.len, 40 + ipv6.plen) and first/last times per 5-tuple of a saved file", async () => {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 400; i++) {
      const f = (i * 31) % 13;
      const size = (i * 97) % 1200;
      const v6 = f % 2 === 1;
      const addr = v6 ? { src: `2001:db8::${f}`, dst: "2001:db8::ff" } : { src: `198.18.0.${f}`, dst: "198.19.0.1" };
      frames.push(
        buildFrame({
          vlans: f % 5 === 0 ? [{ id: 42 }] : undefined,
          ...(v6 ? { ipv6: addr } : { ipv4: addr }),
          ...(f % 3 === 0 ? { tcp: { src: 30000 + f, dst: 443 } } : { udp: { src: 20000 + f, dst: 53 } }),
          payload: payload(size),
        }),
      );
    }
    const dir = mkdtempSync(join(tmpdir(), "ringcap-records-"));
    try {
      const path = join(dir, "flows.pcap");
      writeFileSync(path, pcapFile(LT.ETHERNET, 96, frames, { littleEndian: true, nano: false }));
      expect(timeOf(1).sec - timeOf(0).sec).toBe(1); // a packet a second: 400 s, so active timeouts cut flows too

      const records: FlowRecord[] = [];
      const tracker = new FlowTracker({ onRecord: (r) => records.push(r) });
      await using file = await openFile(path);
      for await (const block of file.blocks()) {
        for (const p of block) tracker.add(p.decode(), p.timestampMs, p.ifindex);
        tracker.expire();
      }
      tracker.flush();
      expect(records.some((r) => r.endReason === FLOW_END_REASON.activeTimeout)).toBe(true);

      const fields = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "ip.len", "ipv6.plen", "frame.time_epoch"];
      const r = tool("tshark", ["-n", "-r", path, "-T", "fields", "-E", "separator=|", ...fields.flatMap((f) => ["-e", f])]);
      expect(r.code).toBe(0);
      const theirs = new Map<string, { packets: number; octets: number; first: number; last: number }>();
      const lines = r.out.trim().split("\n");
      expect(lines).toHaveLength(frames.length);
      for (const line of lines) {
        const [s4, d4, s6, d6, ts, td, us, ud, len, plen, time] = line.split("|");
        const key = `${s4 || s6} ${d4 || d6} ${ts || us} ${td || ud}`;
        const octets = len ? Number(len) : 40 + Number(plen);
        const [sec, frac] = time.split(".");
        const ms = Number(sec) * 1000 + Number(frac.slice(0, 3));
        const e = theirs.get(key) ?? { packets: 0, octets: 0, first: Infinity, last: -Infinity };
        theirs.set(key, { packets: e.packets + 1, octets: e.octets + octets, first: Math.min(e.first, ms), last: Math.max(e.last, ms) });
      }
      const ours = new Map<string, { packets: number; octets: number; first: number; last: number }>();
      for (const rec of records) {
        const addr = (b: Uint8Array) => (b.length === 4 ? b.join(".") : `2001:db8::${b[15].toString(16)}`);
        const key = `${addr(rec.srcAddress)} ${addr(rec.dstAddress)} ${rec.srcPort} ${rec.dstPort}`;
        const e = ours.get(key) ?? { packets: 0, octets: 0, first: Infinity, last: -Infinity };
        ours.set(key, { packets: e.packets + rec.packets, octets: e.octets + rec.octets, first: Math.min(e.first, rec.startMs), last: Math.max(e.last, rec.endMs) });
      }
      expect(ours.size).toBe(13);
      expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

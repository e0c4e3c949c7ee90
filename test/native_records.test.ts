// The native flow cache (zig/flows.zig behind NativeFlowTracker) makes the records FlowTracker
// makes: frames of every kind the flow path reads (IPv4 with options and fragments, IPv6 with
// extension headers and fragments, TCP with SYN, FIN, RST and a new connection while the old one
// lingers, UDP, ICMP and ICMPv6, VLAN and QinQ tags, frames longer than the snaplen, and frames
// that are not IP) are sent on a namespace bench and captured on one ring; every block is given
// both to FlowTracker, packet by packet as `flows --ipfix` does, and whole to NativeFlowTracker.
// Short timeouts and a small table make every end reason happen (idle, active, end of flow,
// forced end, lack of resources); the two lists of records must be equal field by field and in
// order, and so must the counters.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCapture } from "../src/capture.ts";
import { NativeFlowTracker } from "../src/export/native_records.ts";
import type { FlowRecord } from "../src/export/record.ts";
import { FlowTracker } from "../src/export/records.ts";
import { buildFrame, type FrameSpec } from "./_frames.ts";
import { type Bench, createBench, haveTools, privileged } from "./_netns.ts";
import { replay, type Timed, writeSchedule } from "./_replay.ts";

const canRun = haveTools("python3") && privileged();

/** Not the capturing interface's MAC (checked below). */
const MACS = { dstMac: [0x02, 0, 0, 0, 0, 0x99], srcMac: [0x02, 0, 0, 0, 0, 0x98] };
const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10;

function frame(spec: FrameSpec): Uint8Array {
  return buildFrame({ ...MACS, padTo: 60, ...spec });
}

function payload(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i & 0xff);
}

/** The traffic: about 600 frames over 2.4 s, in time order. */
function schedule(): Timed[] {
  const out: Timed[] = [];
  const at = (atMs: number, spec: FrameSpec) => out.push({ atMs, data: frame(spec) });
  // Many short UDP flows, IPv4 and IPv6, sizes up to beyond the snaplen; idle after 600 ms.
  for (let i = 0; i < 40; i++) {
    for (let k = 0; k < 3; k++) {
      const size = [0, 100, 1400][(i + k) % 3];
      if (i % 2 === 0) at(i * 10 + k * 100, { ipv4: { src: `198.18.1.${i}`, dst: "198.19.1.1" }, udp: { src: 30000 + i, dst: 53 }, payload: payload(size) });
      else at(i * 10 + k * 100, { ipv6: { src: `2001:db8:1::${i.toString(16)}`, dst: "2001:db8:2::1" }, udp: { src: 30000 + i, dst: 53 }, payload: payload(size) });
    }
  }
  // A TCP connection: SYN, data, FIN; the last ACK while it lingers; a new SYN on the same ports; RST.
  const tcp = (flags: number, n = 0): FrameSpec => ({ ipv4: { src: "198.18.2.1", dst: "198.19.2.1" }, tcp: { src: 40001, dst: 443, flags }, payload: payload(n) });
  at(5, tcp(TCP_SYN));
  at(15, tcp(TCP_ACK | TCP_PSH, 500));
  at(25, tcp(TCP_FIN | TCP_ACK));
  at(35, tcp(TCP_ACK));
  at(45, tcp(TCP_SYN));
  at(55, tcp(TCP_ACK | TCP_PSH | 0x100, 20));
  at(65, tcp(TCP_RST | TCP_ACK));
  at(75, tcp(TCP_ACK));
  // IPv6 TCP behind a hop-by-hop and a destination options header, ended by RST.
  const tcp6 = (flags: number, n = 0): FrameSpec => ({
    ipv6: { src: "2001:db8:3::1", dst: "2001:db8:4::1", extensions: [{ type: "hop" }, { type: "dest", size: 16 }] },
    tcp: { src: 40002, dst: 80, flags },
    payload: payload(n),
  });
  at(8, tcp6(TCP_SYN));
  at(18, tcp6(TCP_ACK, 1200));
  at(28, tcp6(TCP_RST));
  // ICMP and ICMPv6: type and code are part of the key.
  for (let k = 0; k < 3; k++) {
    at(12 + k * 40, { ipv4: { src: "198.18.3.1", dst: "198.19.3.1" }, icmp: { type: 8, code: 0 }, payload: payload(56) });
    at(13 + k * 40, { ipv4: { src: "198.19.3.1", dst: "198.18.3.1" }, icmp: { type: 0, code: 0 }, payload: payload(56) });
    at(14 + k * 40, { ipv4: { src: "198.18.3.2", dst: "198.19.3.2" }, icmp: { type: 3, code: 3 }, payload: payload(28) });
    at(16 + k * 40, { ipv6: { src: "2001:db8:5::1", dst: "2001:db8:6::1" }, icmpv6: { type: 128, code: 0 }, payload: payload(56) });
  }
  // Tagged frames: one VLAN tag, and QinQ (the outer id counts).
  for (let k = 0; k < 3; k++) {
    at(20 + k * 30, { vlans: [{ id: 10, priority: 3 }], ipv4: { src: "198.18.4.1", dst: "198.19.4.1" }, udp: { src: 5000, dst: 5001 }, payload: payload(64) });
    at(21 + k * 30, { vlans: [{ id: 20, tpid: 0x88a8 }, { id: 30 }], ipv4: { src: "198.18.4.1", dst: "198.19.4.1" }, udp: { src: 5000, dst: 5001 }, payload: payload(64) });
  }
  // Fragments: the first carries the ports, later ones only protocol and addresses.
  at(30, { ipv4: { src: "198.18.5.1", dst: "198.19.5.1", moreFragments: true }, udp: { src: 6000, dst: 6001 }, payload: payload(200) });
  at(31, { ipv4: { src: "198.18.5.1", dst: "198.19.5.1", fragmentOffset: 208, protocol: 17 }, payload: payload(100) });
  at(32, { ipv6: { src: "2001:db8:7::1", dst: "2001:db8:8::1", extensions: [{ type: "fragment", offset: 0, more: true }] }, udp: { src: 6002, dst: 6003 }, payload: payload(200) });
  at(33, { ipv6: { src: "2001:db8:7::1", dst: "2001:db8:8::1", extensions: [{ type: "fragment", offset: 208 }], protocol: 17 }, payload: payload(100) });
  // IPv4 options; frames that are not IP.
  at(40, { ipv4: { src: "198.18.6.1", dst: "198.19.6.1", options: [0x94, 4, 0, 0] }, udp: { src: 7000, dst: 7001 }, payload: payload(30) });
  at(41, { etherType: 0x0806, payload: payload(28) });
  at(42, { etherType: 0x88cc, payload: payload(40) });
  // A long flow, one packet every 50 ms: an active-timeout record every 500 ms.
  for (let t = 0; t < 2400; t += 50) at(t + 1, { ipv4: { src: "198.18.7.1", dst: "198.19.7.1" }, udp: { src: 8000, dst: 8001 }, payload: payload(300) });
  // 100 new flows in 100 ms: more than the table holds, so the least recently seen are evicted.
  for (let i = 0; i < 100; i++) at(1500 + i, { ipv4: { src: `198.18.8.${i}`, dst: "198.19.8.1" }, udp: { src: 9000, dst: 9001 }, payload: payload(10) });
  return out.sort((a, b) => a.atMs - b.atMs);
}

describe.skipIf(!canRun)("NativeFlowTracker against FlowTracker on one ring", () => {
  let bench: Bench;
  let dir: string;
  beforeAll(() => {
    bench = createBench();
    dir = mkdtempSync(join(tmpdir(), "ringcap-native-records-"));
    const mac = /link\/ether ([0-9a-f:]+)/.exec(bench.ip("link", "show", bench.rx))![1];
    expect(mac).not.toBe(MACS.dstMac.map((b) => b.toString(16).padStart(2, "0")).join(":"));
  });
  afterAll(() => {
    bench?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the same records, field by field and in order, for every end reason", async () => {
    const frames = schedule();
    const path = join(dir, "schedule.pcap");
    writeSchedule(path, frames);
    const options = { idleTimeoutMs: 400, activeTimeoutMs: 500, maxFlows: 64, finLingerMs: 100 };
    const jsRecords: FlowRecord[] = [];
    const nativeRecords: FlowRecord[] = [];
    using cap = openCapture(bench.rx, { netns: bench.name, snaplen: 128, ring: { blockSize: 1 << 16, blockCount: 16, frameSize: 2048, blockTimeoutMs: 10 } });
    const js = new FlowTracker({ ...options, onRecord: (r) => jsRecords.push(r) });
    using nat = new NativeFlowTracker(cap, { ...options, onRecord: (r) => nativeRecords.push(r) });

    let sent = -1;
    let blocks = 0;
    let seen = 0;
    // The loop ends once every frame sent was seen (checked every 20 ms, for at most 10 s after
    // the sender is done), or after 20 s in all.
    const done = new AbortController();
    const sending = replay(bench, path, 5_000).then(async (n) => {
      sent = n;
      for (let i = 0; i < 500 && seen < sent; i++) await Bun.sleep(20);
      done.abort();
    });
    const signal = AbortSignal.any([done.signal, AbortSignal.timeout(20_000)]);
    for await (const block of cap.blocks({ signal })) {
      for (const p of block) js.add(p.decode(), p.timestampMs, p.ifindex);
      nat.addBlock(block);
      seen += block.packetCount;
      blocks++;
      // Now and then a "now" of our own, fractions included; else the latest packet's time.
      if (blocks % 5 === 0) {
        const now = js.latestMs + 37.25;
        js.expire(now);
        nat.expire(now);
      } else {
        js.expire();
        nat.expire();
      }
      expect(nat.latestMs).toBe(js.latestMs);
      expect(nativeRecords.length).toBe(jsRecords.length);
      if (sent >= 0 && seen >= sent) break;
    }
    await sending;
    expect(sent).toBe(frames.length);
    expect(seen).toBeGreaterThanOrEqual(sent);
    js.flush();
    nat.flush();

    expect(nat.stats()).toEqual(js.stats());
    expect(nativeRecords.length).toBe(jsRecords.length);
    for (let i = 0; i < jsRecords.length; i++) expect({ i, record: nativeRecords[i] }).toEqual({ i, record: jsRecords[i] });

    // The traffic did what it is for: every end reason, both IP versions, tags, ICMP type/code.
    const reasons = js.stats().recordsByReason;
    for (const [name, n] of Object.entries(reasons)) expect({ name, some: n > 0 }).toEqual({ name, some: true });
    expect(js.stats().skipped).toBeGreaterThanOrEqual(2);
    expect(js.stats().evictions).toBeGreaterThan(0);
    expect(jsRecords.some((r) => r.ipVersion === 6 && r.protocol === 6)).toBe(true);
    expect(jsRecords.some((r) => r.vlanId === 20)).toBe(true);
    expect(jsRecords.some((r) => r.protocol === 1 && r.dstPort === 0x0303)).toBe(true);
    expect(jsRecords.some((r) => r.protocol === 17 && r.srcPort === 0)).toBe(true); // a later fragment
    expect(jsRecords.some((r) => (r.tcpFlags & 0x100) !== 0)).toBe(true);
  }, 45_000);
});

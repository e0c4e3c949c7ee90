// IPFIX / NetFlow v9 encoding (src/export/ipfix.ts) byte by byte against RFC 7011 / RFC 3954, and
// IpfixExporter (src/export/exporter.ts) over UDP and TCP inside a namespace, decoded by tshark
// (cflow) and received by nfcapd / read back by nfdump when installed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFrames } from "./_cli.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExportEncoder, FLOW_END_REASON, IpfixExporter, RingcapError, type FlowRecord, IE, recordLength, TEMPLATE_ID, templateFields } from "../mod.ts";
import { type Bench, createBench, haveTools, privileged } from "./_netns.ts";
import { prng } from "./_prng.ts";

const BUN = process.execPath;
const CHILD = join(import.meta.dir, "_ipfix_child.ts");
const U32 = 0x1_0000_0000;

/** Deterministic records: IPv4 in 198.18.0.0/15 and IPv6 in 2001:db8::/32, mixed. */
function makeRecords(n: number, seed: number, baseMs: number): FlowRecord[] {
  const rnd = prng(seed);
  const out: FlowRecord[] = [];
  const reasons = Object.values(FLOW_END_REASON);
  for (let i = 0; i < n; i++) {
    const v6 = rnd() < 0.4;
    const addr = (k: number) =>
      v6
        ? Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...Array.from({ length: 11 }, () => Math.floor(rnd() * 256)), k])
        : Uint8Array.from([198, 18 + (k & 1), Math.floor(rnd() * 256), 1 + Math.floor(rnd() * 254)]);
    const proto = [6, 17, 1][Math.floor(rnd() * 3)];
    const startMs = baseMs + Math.floor(rnd() * 60_000);
    out.push({
      ipVersion: v6 ? 6 : 4,
      protocol: proto === 1 && v6 ? 58 : proto,
      srcAddress: addr(1),
      dstAddress: addr(2),
      srcPort: proto === 1 ? 0 : 1024 + Math.floor(rnd() * 60000),
      dstPort: proto === 1 ? 8 * 256 : 1 + Math.floor(rnd() * 1000),
      packets: 1 + Math.floor(rnd() * 5000),
      octets: (1 + Math.floor(rnd() * 5000)) * 60 + (i === 0 ? 5 * U32 : 0), // one past 32 bits
      startMs,
      endMs: startMs + Math.floor(rnd() * 30_000),
      tcpFlags: proto === 6 ? Math.floor(rnd() * 64) : 0,
      ingressInterface: 1 + Math.floor(rnd() * 8),
      vlanId: rnd() < 0.5 ? -1 : 1 + Math.floor(rnd() * 4094),
      endReason: reasons[Math.floor(rnd() * reasons.length)],
    });
  }
  return out;
}

const u16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
const u32 = (b: Uint8Array, at: number) => ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
const u64 = (b: Uint8Array, at: number) => u32(b, at) * U32 + u32(b, at + 4);

const R4: FlowRecord = {
  ipVersion: 4,
  protocol: 6,
  srcAddress: Uint8Array.from([198, 18, 0, 1]),
  dstAddress: Uint8Array.from([198, 19, 0, 2]),
  srcPort: 40000,
  dstPort: 443,
  packets: 10,
  octets: 4321,
  startMs: 1_764_000_000_123,
  endMs: 1_764_000_005_456,
  tcpFlags: 0x1b,
  ingressInterface: 3,
  vlanId: 100,
  endReason: FLOW_END_REASON.endOfFlowDetected,
};
const R6: FlowRecord = {
  ...R4,
  ipVersion: 6,
  protocol: 17,
  srcAddress: Uint8Array.from([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
  dstAddress: Uint8Array.from([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
  tcpFlags: 0,
  vlanId: -1,
  endReason: FLOW_END_REASON.idleTimeout,
};

describe("IPFIX encoding (RFC 7011)", () => {
  test("header, template set, data set and padding, field by field", () => {
    const enc = new ExportEncoder({ observationDomainId: 0xdeadbeef });
    const exportMs = 1_764_000_010_999;
    const [m, ...rest] = enc.encode([R4], exportMs, true);
    expect(rest.length).toBe(0);
    // Message header (§3.1).
    expect(u16(m, 0)).toBe(10);
    expect(u16(m, 2)).toBe(m.length);
    expect(u32(m, 4)).toBe(Math.floor(exportMs / 1000));
    expect(u32(m, 8)).toBe(0); // no data record sent before
    expect(u32(m, 12)).toBe(0xdeadbeef);
    // Template set (§3.3.2, §3.4.1): set id 2, two templates with IANA ids and lengths.
    let at = 16;
    expect(u16(m, at)).toBe(2);
    const tlen = u16(m, at + 2);
    const templates: [number, [number, number][]][] = [];
    let t = at + 4;
    while (t < at + tlen) {
      const id = u16(m, t), count = u16(m, t + 2);
      const fields: [number, number][] = [];
      for (let k = 0; k < count; k++) fields.push([u16(m, t + 4 + 4 * k), u16(m, t + 6 + 4 * k)]);
      templates.push([id, fields]);
      t += 4 + 4 * count;
    }
    expect(t).toBe(at + tlen);
    expect(templates).toEqual([
      [256, [[8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 2], [1, 8], [2, 8], [152, 8], [153, 8], [10, 4], [58, 2], [136, 1]]],
      [257, [[27, 16], [28, 16], [7, 2], [11, 2], [4, 1], [6, 2], [1, 8], [2, 8], [152, 8], [153, 8], [10, 4], [58, 2], [136, 1]]],
    ]);
    expect(templates[0][1]).toEqual(templateFields("ipfix", 4).map(([a, b]) => [a, b]));
    // Data set: set id = template id, one 54-byte record, padded with zeros to 32 bits (§3.3.1).
    at += tlen;
    expect(u16(m, at)).toBe(TEMPLATE_ID.ipv4);
    const dlen = u16(m, at + 2);
    expect(recordLength("ipfix", 4)).toBe(54);
    expect(dlen).toBe(4 + 56);
    expect(at + dlen).toBe(m.length);
    const r = at + 4;
    expect([...m.subarray(r, r + 4)]).toEqual([198, 18, 0, 1]);
    expect([...m.subarray(r + 4, r + 8)]).toEqual([198, 19, 0, 2]);
    expect(u16(m, r + 8)).toBe(40000);
    expect(u16(m, r + 10)).toBe(443);
    expect(m[r + 12]).toBe(6);
    expect(u16(m, r + 13)).toBe(0x1b);
    expect(u64(m, r + 15)).toBe(4321);
    expect(u64(m, r + 23)).toBe(10);
    expect(u64(m, r + 31)).toBe(R4.startMs);
    expect(u64(m, r + 39)).toBe(R4.endMs);
    expect(u32(m, r + 47)).toBe(3);
    expect(u16(m, r + 51)).toBe(100);
    expect(m[r + 53]).toBe(FLOW_END_REASON.endOfFlowDetected);
    expect([...m.subarray(r + 54, r + 56)]).toEqual([0, 0]);
    // The next message: sequence number = data records sent before it in this domain; no templates.
    const [m2] = enc.encode([R6, R4, R4], exportMs + 1000);
    expect(u32(m2, 8)).toBe(1);
    expect(u16(m2, 16)).toBe(TEMPLATE_ID.ipv6);
    expect(u16(m2, 18)).toBe(4 + 78 + 2); // 78-byte record, 2 bytes of padding
    expect(m2[20 + 78 - 1]).toBe(FLOW_END_REASON.idleTimeout);
    expect(u16(m2, 20 + 78 - 3)).toBe(0); // no VLAN tag: 0
    expect(u16(m2, 20 + 80)).toBe(TEMPLATE_ID.ipv4);
    expect(u16(m2, 20 + 82)).toBe(4 + 2 * 54); // 112: no padding needed
    expect(m2.length).toBe(16 + 84 + 112);
    expect(u32(enc.encode([R4], exportMs)[0], 8)).toBe(4);
  });

  test("NetFlow v9: header, template flowset 0, FIRST/LAST_SWITCHED against sysUptime", () => {
    const bootMs = 1_763_000_000_000;
    const enc = new ExportEncoder({ protocol: "netflow9", observationDomainId: 7, bootMs });
    const exportMs = 1_764_000_010_999;
    const [m] = enc.encode([R4, R6], exportMs, true);
    expect(u16(m, 0)).toBe(9);
    expect(u16(m, 2)).toBe(2 + 2); // two template records and two data records
    const secs = Math.floor(exportMs / 1000);
    expect(u32(m, 4)).toBe(secs * 1000 - bootMs); // sysUptime
    expect(u32(m, 8)).toBe(secs);
    expect(u32(m, 12)).toBe(0); // packets sent before
    expect(u32(m, 16)).toBe(7);
    expect(u16(m, 20)).toBe(0);
    const tlen = u16(m, 22);
    expect(u16(m, 24)).toBe(256);
    expect(u16(m, 26)).toBe(13);
    const ids = Array.from({ length: 13 }, (_, k) => [u16(m, 28 + 4 * k), u16(m, 30 + 4 * k)]);
    expect(ids).toEqual([[8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 1], [1, 8], [2, 8], [22, 4], [21, 4], [10, 4], [58, 2], [32, 2]]);
    let at = 20 + tlen;
    expect(u16(m, at)).toBe(256);
    expect(u16(m, at + 2)).toBe(4 + 46 + 2); // 46-byte record, 2 bytes of padding
    const r = at + 4;
    expect(m[r + 13]).toBe(0x1b);
    expect(u32(m, r + 30)).toBe(R4.startMs - bootMs); // FIRST_SWITCHED
    expect(u32(m, r + 34)).toBe(R4.endMs - bootMs); // LAST_SWITCHED
    // A collector's view: boot = unix secs * 1000 - sysUptime; start = boot + FIRST_SWITCHED.
    expect(u32(m, 8) * 1000 - u32(m, 4) + u32(m, r + 30)).toBe(R4.startMs);
    expect(u16(m, r + 44)).toBe(0); // ICMP_TYPE: 0 for TCP
    at += 52;
    expect(u16(m, at)).toBe(257);
    expect(u16(m, at + 2)).toBe(4 + 70 + 2);
    expect(at + 76).toBe(m.length);
    expect(u32(enc.encode([R4], exportMs)[0], 12)).toBe(1);
  });

  test("no message exceeds the size given; every record once, in order, sequence numbers count them", () => {
    for (const protocol of ["ipfix", "netflow9"] as const) {
      for (const max of [1500 - 28, 1500 - 48, 576 - 28, 9000 - 28]) {
        const records = makeRecords(500, max, 1_764_000_000_000);
        const enc = new ExportEncoder({ protocol, maxMessageBytes: max, bootMs: 1_763_000_000_000 });
        const messages = enc.encode(records, 1_764_000_100_000, true);
        let seen = 0;
        for (const [k, m] of messages.entries()) {
          expect(m.length).toBeLessThanOrEqual(max);
          expect(m.length % 4).toBe(0);
          const hdr = protocol === "ipfix" ? 16 : 20;
          expect(u32(m, protocol === "ipfix" ? 8 : 12)).toBe(protocol === "ipfix" ? seen : k);
          let at = hdr;
          while (at < m.length) {
            const id = u16(m, at), len = u16(m, at + 2);
            expect(len).toBeGreaterThanOrEqual(4);
            if (id >= 256) {
              const rl = recordLength(protocol, id === 256 ? 4 : 6);
              const n = Math.floor((len - 4) / rl);
              expect(len - 4 - n * rl).toBeLessThan(4); // padding only
              for (let j = 0; j < n; j++) {
                const rec = records[seen + j];
                expect(rec.ipVersion).toBe(id === 256 ? 4 : 6);
                expect([...m.subarray(at + 4 + j * rl, at + 4 + j * rl + rec.srcAddress.length)]).toEqual([...rec.srcAddress]);
              }
              seen += n;
            }
            at += len;
          }
          expect(at).toBe(m.length);
        }
        expect(seen).toBe(records.length);
        expect(messages.length).toBeGreaterThan(500 * 54 / max);
      }
    }
  });

  test("IpfixExporter: the message limit follows the collector's family; bad options are usage errors", async () => {
    // No record is exported: the sockets are made and closed, nothing is sent.
    const v4 = new IpfixExporter({ host: "192.0.2.1", port: 4739 });
    const v6 = new IpfixExporter({ host: "2001:db8::1", port: 4739, mtu: 1280 });
    expect(v4.encoder.maxMessageBytes).toBe(1500 - 28);
    expect(v6.encoder.maxMessageBytes).toBe(1280 - 48);
    expect((await v4.close()).messagesSent).toBe(0);
    expect((await v6.close()).messagesSent).toBe(0);
    expect(() => new IpfixExporter({ host: "192.0.2.1", port: 0 })).toThrow(/port must be 1-65535/);
    expect(() => new IpfixExporter({ host: "", port: 4739 })).toThrow(/needs host/);
    expect(() => new IpfixExporter({ host: "192.0.2.1", port: 4739, transport: "sctp" as "udp" })).toThrow(/transport/);
    expect(() => new IpfixExporter({ host: "192.0.2.1", port: 4739, mtu: 200 })).toThrow(RingcapError);
  });

  test("sizes too small for the templates and one record are refused", () => {
    expect(() => new ExportEncoder({ maxMessageBytes: 100 })).toThrow(/maxMessageBytes/);
    expect(IE.flowEndReason).toBe(136);
  });
});

// ---- IpfixExporter over sockets, inside a namespace ----------------------------------------------

type Wire = Omit<FlowRecord, "srcAddress" | "dstAddress"> & { srcAddress: number[]; dstAddress: number[] };
const wire = (r: FlowRecord): Wire => ({ ...r, srcAddress: [...r.srcAddress], dstAddress: [...r.dstAddress] });

interface ChildResult {
  stats: { recordsSent: number; messagesSent: number; bytesSent: number; recordsLost: number; errors: number; connections: number; lastError?: string };
  received: number[];
  receivedBytes: number;
  ticks: number;
  maxGap: number;
}

/** Runs test/_ipfix_child.ts inside the namespace (exporter and collector on its 127.0.0.1). */
function runChild(bench: Bench, job: Record<string, unknown>, records: FlowRecord[]): ChildResult {
  const r = spawnSync("ip", ["netns", "exec", bench.name, BUN, CHILD, JSON.stringify({ ...job, records: records.map(wire) })], {
    encoding: "utf8",
    timeout: 20_000,
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

/** tcpdump on the namespace's lo writing `path` (started once it listens); a small snaplen so its ring holds many frames (at 256 KiB a frame, a burst of 26 messages overflows the default 2 MiB). */
async function captureLo(bench: Bench, path: string, filter: string) {
  const p = spawn("ip", ["netns", "exec", bench.name, "tcpdump", "-Z", "root", "--immediate-mode", "-s", "2048", "-B", "8192", "-i", "lo", "-U", "-w", path, filter], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr!.on("data", (d) => (err += d));
  for (let i = 0; i < 250 && !err.includes("listening"); i++) await Bun.sleep(20);
  if (!err.includes("listening")) throw new Error(`tcpdump did not start: ${err}`);
  /** Stops it once the file holds `packets` frames (if given) and has stopped growing (bounded). */
  return async (packets = 0) => {
    let size = -1;
    for (let i = 0; i < 50; i++) {
      await Bun.sleep(100);
      const now = statSync(path).size;
      if (now === size && (packets === 0 || readFrames(path).length >= packets)) break;
      size = now;
    }
    p.kill("SIGINT");
    await new Promise((r) => p.once("exit", r));
    if (process.env.KEEP_IPFIX) console.log(err);
  };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** tshark's absolute time ("Dec  3, 2026 11:53:24.369000000 UTC") as epoch ms. */
function tsharkMs(s: string): number {
  const m = /^(\w{3})\s+(\d+), (\d+) (\d+):(\d+):(\d+)\.(\d{3})\d* UTC$/.exec(s.trim());
  if (!m) throw new Error(`unexpected tshark time ${JSON.stringify(s)}`);
  return Date.UTC(+m[3], MONTHS.indexOf(m[1]), +m[2], +m[4], +m[5], +m[6], +m[7]);
}

type Tree = { [k: string]: string | Tree };
interface Decoded {
  udpLength?: number;
  cflow: Tree;
  flows: Tree[];
}

/** tshark's JSON decode of every cflow message in the capture, with its flows in order. */
function tsharkDecode(path: string, decodeAs: string): Decoded[] {
  const r = spawnSync("tshark", ["-r", path, "-d", decodeAs, "-Y", "cflow", "-T", "json"], {
    encoding: "utf8", timeout: 30_000, maxBuffer: 256 << 20, env: { ...process.env, TZ: "UTC" },
  });
  expect(r.status).toBe(0);
  const packets = JSON.parse(r.stdout) as { _source: { layers: Tree } }[];
  return packets.map(({ _source: { layers } }) => {
    const cflow = layers.cflow as Tree;
    const flows: Tree[] = [];
    const walk = (t: Tree) => {
      for (const [k, v] of Object.entries(t)) {
        if (typeof v !== "object") continue;
        if (/^Flow \d+$/.test(k)) flows.push(v);
        else walk(v);
      }
    };
    walk(cflow);
    const udp = layers.udp as Tree | undefined;
    return { udpLength: udp ? Number(udp["udp.length"]) : undefined, cflow, flows };
  });
}

/** A field anywhere inside a flow's tree. */
function field(t: Tree, name: string): string | undefined {
  for (const [k, v] of Object.entries(t)) {
    if (k === name && typeof v === "string") return v;
    if (typeof v === "object") {
      const f = field(v, name);
      if (f !== undefined) return f;
    }
  }
  return undefined;
}

/** tshark's expert info for the capture: warnings and errors (malformed packets included). */
function tsharkExpert(path: string, decodeAs: string): string[] {
  const r = spawnSync("tshark", ["-r", path, "-d", decodeAs, "-q", "-z", "expert,warn"], { encoding: "utf8", timeout: 30_000 });
  expect(r.status).toBe(0);
  return r.stdout.split("\n").filter((l) => /^\s+\d+\s+\S+\s+\S+\s/.test(l) || /malformed/i.test(l));
}

const ip4 = (b: Uint8Array) => [...b].join(".");
function ip6(b: Uint8Array): string {
  const w = Array.from({ length: 8 }, (_, k) => (b[2 * k] << 8) | b[2 * k + 1]);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  return best < 0 ? hex(w) : `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** Records as tshark shows them, against the records sent (each exactly once). */
function expectDecoded(messages: Decoded[], records: FlowRecord[], protocol: "ipfix" | "netflow9", bootMs = 0) {
  const got = messages.flatMap((m) => {
    const uptime = Number(field(m.cflow, "cflow.sysuptime") ?? 0) * 1000;
    const secs = Number(field(m.cflow, "cflow.unix_secs") ?? 0);
    return m.flows.map((f) => {
      const time = (abs: string, rel: string) =>
        protocol === "ipfix"
          ? tsharkMs(field(f, abs)!)
          // v9: tshark shows FIRST/LAST_SWITCHED as seconds of uptime; boot = unix secs - sysUptime.
          : secs * 1000 - Math.round(uptime) + Math.round(Number(field(f, rel)!.split(" ")[0]) * 1000);
      return [
        field(f, "cflow.srcaddr") ?? field(f, "cflow.srcaddrv6"), field(f, "cflow.dstaddr") ?? field(f, "cflow.dstaddrv6"),
        field(f, "cflow.srcport"), field(f, "cflow.dstport"), field(f, "cflow.protocol"), Number(field(f, "cflow.tcpflags")),
        field(f, "cflow.octets"), field(f, "cflow.packets"), time("cflow.abstimestart", "cflow.timestart"),
        time("cflow.abstimeend", "cflow.timeend"), field(f, "cflow.inputint"), field(f, "cflow.vlanid"),
        field(f, "cflow.flow_end_reason") ?? "-",
      ].join(" ");
    });
  });
  const want = records.map((r) => [
    r.ipVersion === 4 ? ip4(r.srcAddress) : ip6(r.srcAddress), r.ipVersion === 4 ? ip4(r.dstAddress) : ip6(r.dstAddress),
    r.srcPort, r.dstPort, r.protocol, protocol === "ipfix" ? r.tcpFlags : r.tcpFlags & 0xff, r.octets, r.packets,
    r.startMs, r.endMs, r.ingressInterface, r.vlanId < 0 ? 0 : r.vlanId, protocol === "ipfix" ? r.endReason : "-",
  ].join(" "));
  void bootMs;
  // The exporter sends a flush's IPv4 records before its IPv6 ones: the same records, each once.
  expect(got.length).toBe(want.length);
  expect(got.toSorted()).toEqual(want.toSorted());
}

const canRun = privileged() && haveTools("tshark", "tcpdump");

describe.skipIf(!canRun)("IpfixExporter in a namespace, decoded by tshark", () => {
  let bench: Bench;
  let dir: string;
  beforeAll(() => {
    bench = createBench();
    dir = mkdtempSync(join(tmpdir(), "ringcap-ipfix-"));
  });
  afterAll(() => {
    bench?.destroy();
    if (!process.env.KEEP_IPFIX) rmSync(dir, { recursive: true, force: true });
    else console.log(dir);
  });

  for (const [protocol, port, mtu] of [["ipfix", 4739, undefined], ["netflow9", 2055, 576]] as const) {
    test(`${protocol} over UDP: every record decoded with its template, sequence numbers, no expert warnings, MTU ${mtu ?? 1500}`, async () => {
      const records = makeRecords(150, port, Date.now() - 600_000);
      const pcap = join(dir, `${protocol}.pcap`);
      const stop = await captureLo(bench, pcap, `udp port ${port}`);
      const out = runChild(bench, { mode: "udp", protocol, port, odid: 42, mtu, templateRefreshMessages: 4 }, records);
      await stop(out.stats.messagesSent);
      expect(out.stats.recordsLost).toBe(0);
      expect(out.stats.recordsSent).toBe(records.length);
      expect(out.received.length).toBe(out.stats.messagesSent);
      expect(out.receivedBytes).toBe(out.stats.bytesSent);
      const messages = tsharkDecode(pcap, `udp.port==${port},cflow`);
      expect(messages.length).toBe(out.stats.messagesSent);
      expect(messages.length).toBeGreaterThan(2);
      const limit = (mtu ?? 1500) - 28;
      for (const m of messages) expect(m.udpLength! - 8).toBeLessThanOrEqual(limit);
      expect(Math.max(...out.received)).toBeLessThanOrEqual(limit);
      expectDecoded(messages, records, protocol);
      // Sequence numbers: IPFIX counts data records before the message, v9 counts packets.
      let before = 0;
      for (const [k, m] of messages.entries()) {
        expect(Number(field(m.cflow, "cflow.sequence"))).toBe(protocol === "ipfix" ? before : k);
        expect(Number(field(m.cflow, protocol === "ipfix" ? "cflow.od_id" : "cflow.source_id"))).toBe(42);
        before += m.flows.length;
      }
      // Templates first, and again at least every 4 messages (UDP refresh).
      const hasTemplates = messages.map((m) => JSON.stringify(m.cflow).includes('"cflow.template_id"'));
      expect(hasTemplates[0]).toBe(true);
      expect(hasTemplates.join("").split("true").every((run) => run.length <= 4 * "false".length)).toBe(true);
      expect(hasTemplates.filter(Boolean).length).toBeGreaterThanOrEqual(2);
      expect(tsharkExpert(pcap, `udp.port==${port},cflow`)).toEqual([]);
    }, 30_000);
  }

  test.skipIf(!haveTools("text2pcap"))("the expert check sees a malformed message (a template longer than its set)", () => {
    const bad = join(dir, "bad.txt");
    writeFileSync(bad, "0000 00 0a 00 1c 00 00 00 00 00 00 00 00 00 00 00 01 00 02 00 0c 01 00 00 05 00 08 00 04\n");
    expect(spawnSync("text2pcap", ["-q", "-u", "1000,4739", bad, join(dir, "bad.pcap")]).status).toBe(0);
    expect(tsharkExpert(join(dir, "bad.pcap"), "udp.port==4739,cflow").join("\n")).toMatch(/Malformed/);
  });

  test("a bounded queue: beyond maxQueuedBytes records are dropped and counted, not queued", () => {
    // 1 byte: the first message waits for the UDP socket to connect; every flush until then is dropped.
    const records = makeRecords(200, 5, Date.now() - 600_000);
    const out = runChild(bench, { mode: "udp", protocol: "ipfix", port: 4743, odid: 1, maxQueuedBytes: 1 }, records);
    expect(out.stats.recordsLost).toBeGreaterThan(0);
    expect(out.stats.recordsSent).toBeGreaterThan(0);
    expect(out.stats.recordsSent + out.stats.recordsLost).toBe(records.length);
    expect(out.received.length).toBe(out.stats.messagesSent);
  }, 30_000);

  test("unreachable UDP collector: records counted lost, nothing thrown, the loop keeps ticking", () => {
    const records = makeRecords(20, 7, Date.now() - 600_000);
    const out = runChild(bench, { mode: "unreachable", protocol: "ipfix", port: 4740, odid: 1 }, records);
    // The child exports the records twice (one batch, then one message each); all are refused.
    expect(out.stats.lastError).toBe("ECONNREFUSED");
    expect(out.stats.recordsLost).toBe(2 * records.length);
    expect(out.stats.recordsSent).toBe(0);
    expect(out.ticks).toBeGreaterThan(10);
    expect(out.maxGap).toBeLessThan(1000);
  }, 30_000);

  test("TCP: templates first on every connection, records lost while disconnected, reconnects", async () => {
    const records = makeRecords(40, 11, Date.now() - 600_000);
    const port = 4741;
    const pcap = join(dir, "tcp.pcap");
    const stop = await captureLo(bench, pcap, `tcp port ${port}`);
    // The collector drops the first connection once the templates arrive; the child exports the
    // first half while disconnected and the rest after the exporter reconnects.
    const out = runChild(bench, { mode: "tcp", protocol: "ipfix", port, odid: 3, dropAfter: 1 }, records);
    await stop();
    expect(out.stats.connections).toBe(2);
    expect(out.stats.recordsLost).toBe(20);
    expect(out.stats.recordsSent).toBe(20);
    expect(out.receivedBytes).toBe(out.stats.bytesSent);
    const messages = tsharkDecode(pcap, `tcp.port==${port},cflow`);
    const withTemplates = messages.filter((m) => JSON.stringify(m.cflow).includes('"cflow.template_id"'));
    expect(withTemplates.length).toBe(2);
    expectDecoded(messages, records.slice(20), "ipfix");
    // The second connection is a new stream: its sequence numbers start at 0 and count its records.
    let before = 0;
    for (const m of messages.slice(1)) {
      expect(Number(field(m.cflow, "cflow.sequence"))).toBe(before);
      before += m.flows.length;
    }
    expect(tsharkExpert(pcap, `tcp.port==${port},cflow`).filter((l) => !/TCP/.test(l))).toEqual([]);
  }, 30_000);

  test.skipIf(!haveTools("nfcapd", "nfdump"))("nfcapd receives IPFIX and NetFlow v9; nfdump lists exactly the flows sent", async () => {
    for (const [protocol, port] of [["ipfix", 4742], ["netflow9", 2056]] as const) {
      const records = makeRecords(60, port, Date.now() - 600_000);
      const flowdir = join(dir, `nfcapd-${protocol}`);
      mkdirSync(flowdir);
      const nfcapd = spawn("ip", ["netns", "exec", bench.name, "nfcapd", "-w", flowdir, "-p", String(port), "-b", "127.0.0.1"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let log = "";
      nfcapd.stdout!.on("data", (d) => (log += d));
      nfcapd.stderr!.on("data", (d) => (log += d));
      try {
        for (let i = 0; i < 250 && !log.includes("Startup"); i++) await Bun.sleep(20);
        expect(log).toContain("Startup");
        const out = runChild(bench, { mode: "external", protocol, port, odid: 9 }, records);
        expect(out.stats.recordsSent).toBe(records.length);
      } finally {
        nfcapd.kill("SIGTERM");
        await new Promise((r) => nfcapd.once("exit", r));
      }
      const r = spawnSync("nfdump", ["-R", flowdir, "-q", "-N", "-6", "-o", "fmt:%ts|%te|%sa|%da|%sp|%dp|%pr|%pkt|%byt|%in"], {
        encoding: "utf8", timeout: 30_000, env: { ...process.env, TZ: "UTC" },
      });
      expect(r.status).toBe(0);
      const got = r.stdout.split("\n").filter((l) => l.trim() !== "").map((l) => l.split("|").map((c) => c.trim()).join("|")).sort();
      const iso = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "");
      const want = records.map((x) => [
        iso(x.startMs), iso(x.endMs), x.ipVersion === 4 ? ip4(x.srcAddress) : ip6(x.srcAddress),
        x.ipVersion === 4 ? ip4(x.dstAddress) : ip6(x.dstAddress), x.srcPort, x.protocol === 1 || x.protocol === 58 ? "8.0" : x.dstPort,
        x.protocol, x.packets, x.octets, x.ingressInterface,
      ].join("|")).sort();
      expect(got).toEqual(want);
    }
  }, 30_000);
});

/**
 * The flow export tests' oracles: what a set of frames holds as flows (5-tuple, packets, IP
 * octets, first and last timestamps), nfcapd as the collector inside the namespace and nfdump
 * reading its files back, softflowd as a second exporter on the same interface, and tshark
 * decoding the export messages captured on the namespace's lo.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import type { Bench } from "./_netns.ts";

// ---- flows of frames -----------------------------------------------------------------------------

/** A unidirectional flow's key as the collectors print it: "proto src sport dst dport". */
export type FlowKey = string;

export interface FlowTotals {
  packets: number;
  octets: number;
  /** First and last timestamps (ns since 1970) of the flow's frames, when known. */
  firstNs?: bigint;
  lastNs?: bigint;
}

export const ip4 = (b: Uint8Array) => [...b].join(".");

/** An IPv6 address in RFC 5952 text (lowercase, longest run of two or more zero groups as ::). */
export function ip6(b: Uint8Array): string {
  const w = Array.from({ length: 8 }, (_, k) => (b[2 * k] << 8) | b[2 * k + 1]);
  let at = -1;
  let len = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > len) [at, len] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  return at < 0 ? hex(w) : `${hex(w.slice(0, at))}::${hex(w.slice(at + len))}`;
}

export const flowKey = (proto: number, src: string, sport: number, dst: string, dport: number): FlowKey => `${proto} ${src} ${sport} ${dst} ${dport}`;

/**
 * The flow key and IP length (RFC 7012 octetDeltaCount: IP header and payload) of an untagged
 * Ethernet frame carrying IPv4 or IPv6 with TCP or UDP right after the fixed header; null for any
 * other frame.
 */
export function frameFlow(f: Uint8Array): { key: FlowKey; ipLength: number; tcpFlags: number } | null {
  const type = (f[12] << 8) | f[13];
  let proto: number, src: string, dst: string, l4: number, ipLength: number;
  if (type === 0x0800) {
    const ihl = (f[14] & 15) * 4;
    ipLength = (f[16] << 8) | f[17];
    proto = f[23];
    src = ip4(f.subarray(26, 30));
    dst = ip4(f.subarray(30, 34));
    l4 = 14 + ihl;
  } else if (type === 0x86dd) {
    ipLength = 40 + ((f[18] << 8) | f[19]);
    proto = f[20];
    src = ip6(f.subarray(22, 38));
    dst = ip6(f.subarray(38, 54));
    l4 = 54;
  } else return null;
  if (proto !== 6 && proto !== 17) return null;
  const sport = (f[l4] << 8) | f[l4 + 1];
  const dport = (f[l4 + 2] << 8) | f[l4 + 3];
  return { key: flowKey(proto, src, sport, dst, dport), ipLength, tcpFlags: proto === 6 ? f[l4 + 13] : 0 };
}

/** Per flow: packets, IP octets and (for timed frames) the first and last timestamps. */
export function tally(frames: Iterable<{ data: Uint8Array; ns?: bigint }>): Map<FlowKey, FlowTotals> {
  const out = new Map<FlowKey, FlowTotals>();
  for (const fr of frames) {
    const f = frameFlow(fr.data);
    if (!f) continue;
    let t = out.get(f.key);
    if (!t) out.set(f.key, (t = { packets: 0, octets: 0 }));
    t.packets++;
    t.octets += f.ipLength;
    if (fr.ns !== undefined) {
      if (t.firstNs === undefined || fr.ns < t.firstNs) t.firstNs = fr.ns;
      if (t.lastNs === undefined || fr.ns > t.lastNs) t.lastNs = fr.ns;
    }
  }
  return out;
}

// ---- processes -------------------------------------------------------------------------------------

/** A long-running process of ours inside the namespace, with its output collected. */
export class Daemon {
  readonly child: ChildProcess;
  log = "";
  readonly closed: Promise<number | null>;
  constructor(bench: Bench, cmd: string[], maxMs = 60_000) {
    this.child = spawn("ip", ["netns", "exec", bench.name, ...cmd], { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d) => (this.log += d));
    this.child.stderr!.on("data", (d) => (this.log += d));
    const killer = setTimeout(() => this.kill(), maxMs);
    this.closed = new Promise((r) => this.child.once("close", (code) => {
      clearTimeout(killer);
      r(code);
    }));
  }
  get pid(): number {
    return this.child.pid!;
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  /** Waits (bounded) until its output matches `re`. */
  async waitFor(re: RegExp, maxMs = 5000): Promise<void> {
    for (let i = 0; i < maxMs / 20 && !re.test(this.log) && this.running; i++) await Bun.sleep(20);
    if (!re.test(this.log)) throw new Error(`${this.child.spawnargs.slice(3).join(" ")}: no ${re} in: ${this.log}`);
  }
  /** Sends `signal` to it (by PID) and waits for it to end; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    const t = setTimeout(() => this.kill(), graceMs);
    const code = await this.closed;
    clearTimeout(t);
    return code;
  }
  kill(): void {
    if (this.running) this.child.kill("SIGKILL");
  }
}

/** nfcapd receiving on 127.0.0.1:PORT inside the namespace, writing its files into `dir`. */
export async function startNfcapd(bench: Bench, dir: string, port: number): Promise<Daemon> {
  const d = new Daemon(bench, ["nfcapd", "-w", dir, "-p", String(port), "-b", "127.0.0.1"]);
  await d.waitFor(/Startup/);
  return d;
}

/** A flow record as nfdump prints it. */
export interface Collected {
  key: FlowKey;
  startMs: number;
  endMs: number;
  packets: number;
  octets: number;
  /** nfcapd's id of the exporter the record came from (nfdump %exp). */
  exporter: number;
}

/**
 * nfdump's "2026-12-03 12:53:01.873" (TZ=UTC) as epoch ms. (Its %tsr/%ter print a wrong
 * fraction for the end time in 1.7.1, so the text form is read.)
 */
function utcMs(text: string): number {
  const ms = Date.parse(`${text.replace(" ", "T")}Z`);
  if (!Number.isFinite(ms)) throw new Error(`unexpected nfdump time ${JSON.stringify(text)}`);
  return ms;
}

/** Every record nfcapd wrote into `dir`, read by nfdump. */
export function nfdumpRecords(dir: string): Collected[] {
  const r = spawnSync("nfdump", ["-R", dir, "-q", "-N", "-6", "-o", "fmt:%ts|%te|%pr|%sa|%sp|%da|%dp|%pkt|%byt|%exp"], {
    encoding: "utf8", timeout: 20_000, env: { ...process.env, TZ: "UTC" },
  });
  if (r.status !== 0) throw new Error(`nfdump failed: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l.includes("|")).map((l) => {
    const c = l.split("|").map((x) => x.trim());
    const proto = Number(c[2]);
    return {
      key: flowKey(proto, c[3], Number(c[4]), c[5], Number(c[6])),
      startMs: utcMs(c[0]),
      endMs: utcMs(c[1]),
      packets: Number(c[7]),
      octets: Number(c[8]),
      exporter: Number(c[9]),
    };
  });
}

/** An exporter as `nfdump -E` lists it: nfcapd's id, the export protocol version and the domain / source id. */
export interface Exporter {
  sysid: number;
  version: number;
  domain: number;
  ip: string;
  /** Messages whose sequence number was not the one nfcapd expected. */
  sequenceFailures: number;
}

/** The exporters nfcapd recorded in the files of `dir` (nfdump -E on each file). */
export function nfdumpExporters(dir: string): Exporter[] {
  const r = spawnSync("sh", ["-c", 'for f in "$1"/nfcapd.*; do nfdump -E "$f"; done', "sh", dir], { encoding: "utf8", timeout: 20_000 });
  if (r.status !== 0) throw new Error(`nfdump -E failed: ${r.stderr}`);
  const out = new Map<number, Exporter>();
  // "SysID: 1, IP: 127.0.0.1, version: 10, ID:  1, Sequence failures: 0, packets: 1, flows: 16"
  const re = /SysID:\s*(\d+),\s*IP:\s*([^,]+),\s*version:\s*(\d+),\s*ID:\s*(\d+),\s*Sequence failures:\s*(\d+)/g;
  for (const m of r.stdout.matchAll(re)) {
    const e = { sysid: Number(m[1]), ip: m[2].trim(), version: Number(m[3]), domain: Number(m[4]), sequenceFailures: Number(m[5]) };
    // A file per interval: the same exporter in several files, its failures summed.
    const seen = out.get(e.sysid);
    out.set(e.sysid, seen ? { ...seen, sequenceFailures: seen.sequenceFailures + e.sequenceFailures } : e);
  }
  return [...out.values()];
}

/** Sums records per flow key. */
export function sumByKey(records: readonly Collected[]): Map<FlowKey, { packets: number; octets: number; records: number }> {
  const out = new Map<FlowKey, { packets: number; octets: number; records: number }>();
  for (const r of records) {
    const t = out.get(r.key) ?? { packets: 0, octets: 0, records: 0 };
    t.packets += r.packets;
    t.octets += r.octets;
    t.records++;
    out.set(r.key, t);
  }
  return out;
}

/** Totals as a sorted list of "key packets octets" lines, for comparing two sides in one expect. */
export function totalsLines(m: Map<FlowKey, { packets: number; octets: number }>): string[] {
  return [...m].map(([k, t]) => `${k} ${t.packets} ${t.octets}`).sort();
}

/**
 * softflowd on `iface` exporting IPFIX to 127.0.0.1:PORT (IPv6 flows too), in the foreground,
 * with its pid file and control socket in `dir`. Resolved once its control socket exists.
 */
export async function startSoftflowd(bench: Bench, iface: string, port: number, dir: string, extra: string[] = []): Promise<Daemon & { ctl: string }> {
  const ctl = `${dir}/softflowd.ctl`;
  const d = new Daemon(bench, ["softflowd", "-i", iface, "-n", `127.0.0.1:${port}`, "-v", "10", "-d", "-6", "-p", `${dir}/softflowd.pid`, "-c", ctl, ...extra]);
  for (let i = 0; i < 250 && !existsSync(ctl) && d.running; i++) await Bun.sleep(20);
  if (!existsSync(ctl)) {
    d.kill();
    throw new Error(`softflowd did not start: ${d.log}`);
  }
  // Its pcap handle is open once the control socket is: it opens the capture first.
  return Object.assign(d, { ctl });
}

/** `softflowctl -c CTL COMMAND` inside the namespace (the socket is a path: no namespace needed, but the same view). */
export function softflowctl(bench: Bench, ctl: string, command: string): string {
  const r = spawnSync("ip", ["netns", "exec", bench.name, "softflowctl", "-c", ctl, command], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`softflowctl ${command} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

// ---- tshark ------------------------------------------------------------------------------------------

type Tree = { [k: string]: string | Tree | Tree[] | string[] };

/** A field anywhere inside a tshark JSON tree. */
export function field(t: unknown, name: string): string | undefined {
  if (t === null || typeof t !== "object") return undefined;
  for (const [k, v] of Object.entries(t as Tree)) {
    if (k === name && typeof v === "string") return v;
    if (typeof v === "object") {
      const f = field(v, name);
      if (f !== undefined) return f;
    }
  }
  return undefined;
}

/** Every flow record tree in an IPFIX message (tshark names them "Flow N"). */
function flowsOf(t: unknown, out: Tree[] = []): Tree[] {
  if (t === null || typeof t !== "object") return out;
  for (const [k, v] of Object.entries(t as Tree)) {
    if (/^Flow \d+$/.test(k) && typeof v === "object" && !Array.isArray(v)) out.push(v as Tree);
    else if (typeof v === "object") flowsOf(v, out);
  }
  return out;
}

/** One decoded export message: its exporter's domain id, the time tshark saw it, its flows. */
export interface Message {
  frameNs: bigint;
  domain: number;
  srcPort: number;
  version: number;
  hasTemplates: boolean;
  flows: Tree[];
}

/** tshark's decode of every UDP datagram to `port` in `path` as cflow (IPFIX / NetFlow). */
export function tsharkMessages(path: string, port: number): Message[] {
  const r = spawnSync("tshark", ["-r", path, "-d", `udp.port==${port},cflow`, "-T", "json", "-Y", `udp.dstport==${port}`], {
    encoding: "utf8", maxBuffer: 256 << 20, timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  const packets = JSON.parse(r.stdout) as { _source: { layers: Tree } }[];
  return packets.map((p) => {
    const l = p._source.layers;
    const cflow = l.cflow as Tree | undefined;
    const epoch = field(l.frame, "frame.time_epoch")!;
    const [s, frac = ""] = epoch.split(".");
    return {
      frameNs: BigInt(s) * 1_000_000_000n + BigInt(frac.padEnd(9, "0").slice(0, 9)),
      domain: Number(field(cflow, "cflow.od_id") ?? field(cflow, "cflow.source_id") ?? -1),
      srcPort: Number(field(l.udp, "udp.srcport")),
      version: Number(field(cflow, "cflow.version") ?? -1),
      hasTemplates: JSON.stringify(cflow ?? {}).includes('"cflow.template_id"'),
      flows: cflow ? flowsOf(cflow) : [],
    };
  });
}

/** tshark's expert info (warnings and errors, malformed packets included) for the export messages in `path`. */
export function tsharkExpert(path: string, port: number): string[] {
  const r = spawnSync("tshark", ["-r", path, "-d", `udp.port==${port},cflow`, "-q", "-z", "expert,warn"], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => /^\s+\d+\s+\S+\s+\S+\s/.test(l) || /malformed/i.test(l));
}

/** A file's text, or "" when it does not exist. */
export function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

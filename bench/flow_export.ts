/**
 * Flow export against softflowd (issue 14): the CPU per packet of a process that tracks flows
 * and exports their records over IPFIX to a collector, on the same traffic. In a namespace of
 * its own (createBench) the harness runs, for every sample, a fresh nfcapd on the namespace's
 * 127.0.0.1 (CPU 0), one exporter on CPU 1, and `ringcap gen` on CPU 0:
 *
 *   softflowd    softflowd -i RX -n 127.0.0.1:PORT -v 10 -d -6 (libpcap, one thread)
 *   ringcap      ringcap flows -i RX --ipfix 127.0.0.1:PORT --json (one ring)
 *   ringcap-w2   the same with --workers 2 (two fanout workers, threads of the same process)
 *
 *   bun bench/flow_export.ts [--runs 3] [--rate 100000] [--count 2000000] [--warmup 200000]
 *                            [--flows 10000] [--active-timeout 5] [--setups paced,full]
 *                            [--configs softflowd,ringcap,ringcap-w2] [--out DIR] [--smoke]
 *
 * Traffic: four generators at once (IPv4 UDP, IPv4 TCP, IPv6 UDP, IPv6 TCP), each a quarter of
 * the frames, the rate and the flows, so the records mix both IP versions and protocols. Every
 * flow is updated many times a second, so flows end by the active timeout (the same for both
 * exporters), and records are exported during the measured part, not only at shutdown.
 *
 * Each sample: start the collector and the exporter, wait until the exporter is capturing,
 * send --warmup frames at the paced rate (flows made, JIT warm), then measure the exporter's
 * CPU (every thread, /proc/PID/task/TID/schedstat) over the --count frames (the paced rate,
 * or as fast as the generators go for `full`) plus 1 s. After the measured part a trailer of
 * frames to port 7 (one flow, excluded from every count by the collector's filter) pushes the
 * last partly filled libpcap block through softflowd (its pcap timeout of 0 asks the kernel for
 * no block timeout, so a block is handed over only when full); every exporter gets it. Then the
 * exporter is stopped (both flush their open flows: ringcap on SIGTERM, softflowd on
 * `softflowctl shutdown`, since with -d it has no SIGTERM handler) and the collector, and nfdump
 * counts what arrived: packets exported against packets sent.
 *
 * Runs alternate configs (A B C A B C ...); figures are the median with min..max, and the
 * ratios to softflowd are paired within each run, then the median.
 */

import { parseArgs } from "node:util";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createBench } from "../testing.ts";
import { median } from "./_stats.ts";
import { ThreadCpu } from "./_cpu.ts";

const USAGE = `usage: bun bench/flow_export.ts [--runs N] [--rate PPS] [--count N] [--warmup N] [--flows N]
                                [--active-timeout S] [--setups paced,full] [--configs a,b,...]
                                [--out DIR] [--smoke]

CPU per packet of softflowd and of \`ringcap flows --ipfix\` (one ring, and --workers 2) while they
export flow records to nfcapd, on the same traffic, in a namespace of its own (needs root,
softflowd, softflowctl, nfcapd, nfdump). configs: softflowd, ringcap, ringcap-w2. setups: paced
(--rate frames/s in all), full (as fast as the generators go). --out DIR keeps the JSON of
every sample (DIR/flow-export.json) beside the printed tables. --smoke: one run, small counts.`;

const FLAGS = {
  runs: { type: "string", default: "3" },
  rate: { type: "string", default: "100000" },
  count: { type: "string", default: "2000000" },
  warmup: { type: "string", default: "200000" },
  flows: { type: "string", default: "10000" },
  "active-timeout": { type: "string", default: "5" },
  setups: { type: "string", default: "paced" },
  configs: { type: "string", default: "softflowd,ringcap,ringcap-w2" },
  out: { type: "string" },
  smoke: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function parseFlags() {
  try {
    return parseArgs({ options: FLAGS }).values;
  } catch (e) {
    console.error(`flow_export: ${(e as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}
const values = parseFlags();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function whole(name: keyof typeof FLAGS, min: number): number {
  const v = Number(String(values[name]).replaceAll("_", ""));
  if (!Number.isInteger(v) || v < min) {
    console.error(`flow_export: --${name} must be a whole number >= ${min}\n\n${USAGE}`);
    process.exit(2);
  }
  return v;
}

const smoke = !!values.smoke;
const RUNS = smoke ? 1 : whole("runs", 1);
const RATE = smoke ? 20_000 : whole("rate", 4);
const COUNT = smoke ? 8_000 : whole("count", 4);
const WARMUP = smoke ? 2_000 : whole("warmup", 0);
const FLOWS = smoke ? 400 : whole("flows", 4);
const ACTIVE_TIMEOUT = smoke ? 1 : whole("active-timeout", 1);
/** Frames to port 7 after the measured part; more than a libpcap block of the smallest frames holds. */
const TRAILER = smoke ? 4_000 : 20_000;
const TRAILER_PORT = "7";
/** How long the harness lets an exporter settle after traffic (read its last block, send). */
const SETTLE_MS = smoke ? 400 : 1000;
/** The flow tables of both exporters: ringcap's default (per worker), given to softflowd too. */
const MAX_FLOWS = 65536;
/** 64 MiB of capture buffer for each: ringcap's -B (KiB per ring) and softflowd's -B (bytes). */
const BUFFER_KIB = 65536;
const PORT = 4739;
const ALL_CONFIGS = ["softflowd", "ringcap", "ringcap-w2"];
const configs = values.configs!.split(",");
const setups = smoke ? ["paced"] : values.setups!.split(",");
if (configs.some((c) => !ALL_CONFIGS.includes(c)) || setups.some((s) => !["paced", "full"].includes(s))) {
  console.error(`flow_export: unknown config or setup\n\n${USAGE}`);
  process.exit(2);
}
for (const tool of ["softflowd", "softflowctl", "nfcapd", "nfdump", "taskset"]) {
  if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
    console.error(`flow_export: ${tool} not found`);
    process.exit(2);
  }
}

const BUN = process.execPath;
const CLI = new URL("../src/cli/main.ts", import.meta.url).pathname;
const GEN_CPU = "0";
const EXP_CPU = cpus().length > 1 ? "1" : "0";
/** The traffic mix: four generators at once, each with a quarter of the frames, rate and flows. */
const MIX: { name: string; args: string[] }[] = [
  { name: "ipv4-udp", args: [] },
  { name: "ipv4-tcp", args: ["--tcp"] },
  { name: "ipv6-udp", args: ["--ipv6"] },
  { name: "ipv6-tcp", args: ["--ipv6", "--tcp"] },
];
/** What each config runs (after `taskset -c CPU ip netns exec NS`), given the collector and a temp dir. */
function exporterArgs(config: string, rx: string, dir: string): string[] {
  if (config === "softflowd") {
    return ["softflowd", "-i", rx, "-n", `127.0.0.1:${PORT}`, "-v", "10", "-d", "-6", "-m", String(MAX_FLOWS),
      "-t", `maxlife=${ACTIVE_TIMEOUT}`, "-t", "expint=1", "-B", String(BUFFER_KIB * 1024),
      "-p", join(dir, "softflowd.pid"), "-c", join(dir, "softflowd.ctl")];
  }
  const args = [BUN, CLI, "flows", "-i", rx, "--ipfix", `127.0.0.1:${PORT}`, "--json", "--interval", "1",
    "--active-timeout", String(ACTIVE_TIMEOUT), "--max-flows", String(MAX_FLOWS), "-B", String(BUFFER_KIB)];
  if (config === "ringcap-w2") args.push("--workers", "2");
  return args;
}
const COMMANDS: Record<string, string> = {
  softflowd: `softflowd -i RX -n 127.0.0.1:${PORT} -v 10 -d -6 -m ${MAX_FLOWS} -t maxlife=${ACTIVE_TIMEOUT} -t expint=1 -B ${BUFFER_KIB * 1024} -p DIR/softflowd.pid -c DIR/softflowd.ctl`,
  ringcap: `ringcap flows -i RX --ipfix 127.0.0.1:${PORT} --json --interval 1 --active-timeout ${ACTIVE_TIMEOUT} --max-flows ${MAX_FLOWS} -B ${BUFFER_KIB}`,
  "ringcap-w2": `ringcap flows -i RX --ipfix 127.0.0.1:${PORT} --json --interval 1 --active-timeout ${ACTIVE_TIMEOUT} --max-flows ${MAX_FLOWS} -B ${BUFFER_KIB} --workers 2`,
};

function collect(child: ChildProcess) {
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (err += d));
  const exit = new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  return { out: () => out, err: () => err, exit };
}

/** Waits for `exit` up to `ms`; SIGKILLs the child and throws if it does not come. */
async function waitExit(child: ChildProcess, exit: Promise<number>, ms: number, what: string): Promise<number> {
  const code = await Promise.race([exit, sleep(ms, -999, { ref: false })]);
  if (code === -999) {
    child.kill("SIGKILL");
    throw new Error(`${what} did not exit within ${ms} ms`);
  }
  return code;
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface GenResult {
  sent: number;
  seconds: number;
}

/** Sends `count` frames as the four-way mix at `rate` in all (0: as fast as they go), all at once on CPU 0. */
async function sendMix(ns: string, tx: string, count: number, rate: number): Promise<GenResult> {
  const start = performance.now();
  const runs = MIX.map((m, i) => {
    const share = Math.floor(count / MIX.length) + (i < count % MIX.length ? 1 : 0);
    const flows = Math.max(1, Math.floor(FLOWS / MIX.length));
    const args = ["-c", GEN_CPU, BUN, CLI, "gen", "-i", tx, "--netns", ns, "--count", String(share),
      "--rate", String(Math.floor(rate / MIX.length)), "--flows", String(flows), "--max-seconds", "300", "--json", ...m.args];
    const child = spawn("taskset", args, { stdio: ["ignore", "pipe", "pipe"] });
    const io = collect(child);
    return io.exit.then((code) => {
      if (code !== 0) throw new Error(`gen ${m.name} failed (${code}): ${io.err()}`);
      return JSON.parse(io.out().trim().split("\n").pop()!) as GenResult;
    });
  });
  const results = await Promise.all(runs);
  return { sent: results.reduce((a, r) => a + r.sent, 0), seconds: (performance.now() - start) / 1000 };
}

/** The trailer: frames of one flow to port 7 that push softflowd's last block through; filtered out of every count. */
async function sendTrailer(ns: string, tx: string): Promise<number> {
  const r = spawnSync("taskset", ["-c", GEN_CPU, BUN, CLI, "gen", "-i", tx, "--netns", ns, "--count", String(TRAILER),
    "--rate", String(RATE), "--dst-port", TRAILER_PORT, "--max-seconds", "60", "--json"], { encoding: "utf8", timeout: 90_000 });
  if (r.status !== 0) throw new Error(`trailer gen failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!).sent;
}

/** softflowctl's statistics, parsed (softflowd keeps them since its start). */
interface SoftflowdStats {
  processed: number;
  flowsExported: number;
  records: number;
  exportPackets: number;
  exportFailures: number;
  pcapReceived: number;
  pcapDropped: number;
  ifDropped: number;
}

function softflowctl(ns: string, ctl: string, command: string): string {
  const r = spawnSync("ip", ["netns", "exec", ns, "softflowctl", "-c", ctl, command], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`softflowctl ${command} failed: ${r.stderr}`);
  return r.stdout;
}

function softflowdStats(ns: string, ctl: string): SoftflowdStats {
  const text = softflowctl(ns, ctl, "statistics");
  const num = (re: RegExp) => {
    const m = re.exec(text);
    if (!m) throw new Error(`softflowctl statistics: no ${re} in ${text}`);
    return Number(m[1]);
  };
  const exported = /Flows exported: (\d+) \((\d+) records\) in (\d+) packets \((\d+) failures\)/.exec(text);
  if (!exported) throw new Error(`softflowctl statistics: no export line in ${text}`);
  return {
    processed: num(/Packets processed: (\d+)/),
    flowsExported: Number(exported[1]),
    records: Number(exported[2]),
    exportPackets: Number(exported[3]),
    exportFailures: Number(exported[4]),
    pcapReceived: num(/Packets received by libpcap: (\d+)/),
    pcapDropped: num(/Packets dropped by libpcap: (\d+)/),
    ifDropped: num(/Packets dropped by interface: (\d+)/),
  };
}

/** ringcap's JSON line (the contract of `flows --ipfix --json`). */
interface RingcapLine {
  time: string;
  final: boolean;
  packets: number;
  flowsActive: number;
  records: number;
  recordsSent: number;
  recordsLost: number;
  evictions: number;
  drops: number;
  interfaceDrops: number;
}

function ringcapLines(out: string): RingcapLine[] {
  return out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/** What nfdump reads back from the collector's files, the trailer's flow left out (and counted apart). */
interface Collected {
  flows: number;
  packets: number;
  bytes: number;
  trailerPackets: number;
  sequenceErrors: number;
  /** Of `packets`, those in IPv6 records. */
  ipv6Packets: number;
}

function nfdumpSummary(dir: string, filter: string): { flows: number; packets: number; bytes: number } {
  const r = spawnSync("nfdump", ["-R", dir, "-N", "-s", "proto", "-n", "1", filter], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`nfdump failed: ${r.stderr}${r.stdout}`);
  const m = /total flows: (\d+), total bytes: (\d+), total packets: (\d+)/.exec(r.stdout);
  if (!m) {
    if (/No matching flows|Empty file list/.test(r.stdout)) return { flows: 0, packets: 0, bytes: 0 };
    throw new Error(`nfdump: no summary in ${r.stdout}`);
  }
  return { flows: Number(m[1]), bytes: Number(m[2]), packets: Number(m[3]) };
}

interface Sample {
  config: string;
  setup: string;
  run: number;
  command: string;
  /** Frames sent in the measured part, the warm-up and the trailer. */
  sent: number;
  warmSent: number;
  trailerSent: number;
  offeredPps: number;
  /** Packets the exporter lost in the measured part (kernel/libpcap drops; the warm-up is paced and drop-free). */
  drops: number;
  interfaceDrops: number;
  /** Packets the exporter counted into flows, warm-up and trailer included (softflowd: "Packets processed"). */
  processed: number;
  /** Records the exporter made (softflowd: before its shutdown flush, which softflowctl cannot see). */
  records?: number;
  recordsLost?: number;
  /** Records exported during the measured part (softflowd: softflowctl at its ends; ringcap: its JSON lines a second apart). */
  windowRecords: number;
  cpuMs: number;
  /** The same interval split into user and system time (clock-tick resolution, so their sum differs a little from cpuMs). */
  userMs: number;
  systemMs: number;
  /** CPU ns per packet the exporter handled in the measured part (sent minus drops), every thread. */
  nsPerPacket: number;
  threads: Record<string, number>;
  collected: Collected;
  /** Packets exported (nfdump) minus packets sent (warm-up and measured part; trailer excluded). */
  exportedMinusSent: number;
  rssMiB: number;
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(spawnSync("cat", [`/proc/${pid}/status`], { encoding: "utf8" }).stdout);
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
  } catch {
    return NaN;
  }
}

async function runOne(bench: { name: string; tx: string; rx: string }, config: string, setup: string, run: number): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), "ringcap-flowbench-"));
  const flowDir = join(dir, "nfcapd");
  mkdirSync(flowDir);
  const collector = spawn("taskset", ["-c", GEN_CPU, "ip", "netns", "exec", bench.name, "nfcapd", "-b", "127.0.0.1", "-p", String(PORT),
    "-w", flowDir, "-B", String(16 << 20), "-t", "3600"], { stdio: ["ignore", "pipe", "pipe"] });
  const col = collect(collector);
  let exporter: ChildProcess | undefined;
  try {
    await until(() => {
      if (collector.exitCode !== null) throw new Error(`nfcapd exited ${collector.exitCode}: ${col.out()}${col.err()}`);
      const ss = spawnSync("ip", ["netns", "exec", bench.name, "ss", "-Hlun", `sport = :${PORT}`], { encoding: "utf8" });
      return ss.stdout.includes(`127.0.0.1:${PORT}`);
    }, 10_000, "nfcapd to listen");

    exporter = spawn("taskset", ["-c", EXP_CPU, "ip", "netns", "exec", bench.name, ...exporterArgs(config, bench.rx, dir)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exp = collect(exporter);
    const alive = () => {
      if (exporter!.exitCode !== null) throw new Error(`${config} exited ${exporter!.exitCode}: ${exp.out()}${exp.err()}`);
    };
    const ctl = join(dir, "softflowd.ctl");
    // Capturing: softflowd opens libpcap before its control socket; ringcap prints its first
    // JSON line an interval after its rings are open.
    if (config === "softflowd") {
      await until(() => {
        alive();
        if (!existsSync(ctl)) return false;
        try {
          softflowdStats(bench.name, ctl);
          return true;
        } catch {
          return false;
        }
      }, 20_000, "softflowd's control socket");
    } else {
      await until(() => (alive(), ringcapLines(exp.out()).length > 0), 30_000, `${config}'s first JSON line`);
    }
    const pid = exporter.pid!;
    const meter = new ThreadCpu(pid);
    const warm = WARMUP > 0 ? (await sendMix(bench.name, bench.tx, WARMUP, RATE)).sent : 0;
    await sleep(SETTLE_MS);

    const before = config === "softflowd" ? softflowdStats(bench.name, ctl) : undefined;
    const linesBefore = config === "softflowd" ? 0 : ringcapLines(exp.out()).length;
    meter.checkpoint();
    const rate = setup === "full" ? 0 : RATE;
    const sent = await sendMix(bench.name, bench.tx, COUNT, rate);
    // Let the exporter finish what it has (the ring's block timeout, softflowd's poll).
    await sleep(SETTLE_MS);
    const threads = meter.stop().measured;
    const rss = rssMiB(pid);
    const after = config === "softflowd" ? softflowdStats(bench.name, ctl) : undefined;
    const linesAfter = ringcapLines(exp.out());

    const trailerSent = await sendTrailer(bench.name, bench.tx);
    await sleep(SETTLE_MS + 500);
    const last = config === "softflowd" ? softflowdStats(bench.name, ctl) : undefined;
    // Both flush every open flow on the way out. softflowd installs its SIGTERM handler only
    // when it daemonises (not with -d: a signal would kill it unflushed), so it is asked
    // through its control socket, as softflowctl's "shutdown" does.
    if (config === "softflowd") softflowctl(bench.name, ctl, "shutdown");
    else exporter.kill("SIGTERM");
    const code = await waitExit(exporter, exp.exit, 60_000, config);
    // softflowd 1.1.0 exits 1 after a shutdown through its control socket (main() returns the
    // last poll()'s result); its log says whether the shutdown was the graceful one.
    const clean = config === "softflowd" ? /Shutting down on user request/.test(exp.err()) && code <= 1 : code === 0;
    if (!clean) throw new Error(`${config} exited ${code}: ${exp.err()}`);
    // Let the last datagrams reach the collector, then stop it so it closes its file.
    await sleep(500);
    collector.kill("SIGTERM");
    await waitExit(collector, col.exit, 20_000, "nfcapd");

    const all = nfdumpSummary(flowDir, "any");
    const mine = nfdumpSummary(flowDir, `not dst port ${TRAILER_PORT}`);
    const sequenceErrors = [...col.out().matchAll(/Sequence Errors: (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
    const v6 = nfdumpSummary(flowDir, `inet6 and not dst port ${TRAILER_PORT}`);
    const collected: Collected = { ...mine, ipv6Packets: v6.packets, trailerPackets: all.packets - mine.packets, sequenceErrors };

    let drops: number;
    let interfaceDrops: number;
    let processed: number;
    let records: number | undefined;
    let recordsLost: number | undefined;
    let windowRecords: number;
    if (config === "softflowd") {
      drops = after!.pcapDropped - before!.pcapDropped;
      interfaceDrops = after!.ifDropped - before!.ifDropped;
      processed = last!.processed;
      records = last!.records;
      windowRecords = after!.records - before!.records;
    } else {
      const lines = ringcapLines(exp.out());
      const final = lines.find((l) => l.final);
      if (!final) throw new Error(`${config}: no final JSON line in ${exp.out()}`);
      drops = final.drops;
      interfaceDrops = final.interfaceDrops;
      processed = final.packets;
      records = final.records;
      recordsLost = final.recordsLost;
      const a = lines[Math.max(0, linesBefore - 1)];
      const b = linesAfter[linesAfter.length - 1];
      windowRecords = b.records - a.records;
    }
    let cpuNs = 0;
    for (const ns of threads.values()) cpuNs += ns;
    const handled = sent.sent - drops;
    return {
      config,
      setup,
      run,
      command: COMMANDS[config],
      sent: sent.sent,
      warmSent: warm,
      trailerSent,
      offeredPps: Math.round(sent.sent / sent.seconds),
      drops,
      interfaceDrops,
      processed,
      records,
      recordsLost,
      windowRecords,
      cpuMs: Math.round(cpuNs / 1e5) / 10,
      userMs: meter.split.userMs,
      systemMs: meter.split.systemMs,
      nsPerPacket: cpuNs / handled,
      threads: Object.fromEntries([...threads].map(([n, ns]) => [n, Math.round((ns / handled) * 10) / 10] as const).filter(([, v]) => v >= 0.5)),
      collected,
      exportedMinusSent: collected.packets - (warm + sent.sent),
      rssMiB: rss,
    };
  } finally {
    for (const child of [exporter, collector]) {
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// The harness's own threads (and its /proc reading) stay on the generators' CPU.
if (cpus().length > 1) spawnSync("taskset", ["-a", "-p", "-c", GEN_CPU, String(process.pid)], { stdio: "ignore" });

const startedAt = new Date().toISOString();
const loadBefore = loadavg();
const samples: Sample[] = [];
{
  using bench = createBench();
  console.error(`flow_export: ${RUNS} run(s), configs ${configs.join(", ")}, setups ${setups.join(", ")}, ${FLOWS} flows, ` +
    `namespace ${bench.name}, load ${loadBefore.map((l) => l.toFixed(2)).join(" ")}`);
  for (const setup of setups) {
    for (let run = 1; run <= RUNS; run++) {
      for (const config of configs) {
        const s = await runOne(bench, config, setup, run);
        samples.push(s);
        console.error(`  ${setup} #${run} ${config}: ${s.nsPerPacket.toFixed(1)} ns/pkt (${JSON.stringify(s.threads)}; user ${s.userMs} ms, system ${s.systemMs} ms), ` +
          `${s.sent} sent at ${s.offeredPps} pps, ${s.drops} drops, ${s.windowRecords} records in the window, ` +
          `collector ${s.collected.packets} packets in ${s.collected.flows} records (exported - sent = ${s.exportedMinusSent}), ` +
          `seq errors ${s.collected.sequenceErrors}`);
      }
    }
  }
}
const loadAfter = loadavg();

const spread = (xs: number[], digits = 1) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}..${Math.max(...xs).toFixed(digits)})`;
/** The median share of system time in the CPU of `ss` ("-" when the interval was too short for clock ticks). */
const sysShare = (ss: Sample[]) => {
  const shares = ss.filter((s) => s.userMs + s.systemMs > 0).map((s) => s.systemMs / (s.userMs + s.systemMs));
  return shares.length ? `${Math.round(100 * median(shares))}%` : "-";
};
const range = (xs: number[]) => (Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}..${Math.max(...xs)}`);

interface Ratio {
  setup: string;
  config: string;
  perRun: number[];
  median: number;
}
const ratios: Ratio[] = [];
const lines = [
  "| setup | config | offered pps | CPU ns/packet, median (min..max) | of which system | / softflowd, per run | median | drops | records in window | records at collector | packets exported - sent | nfcapd sequence errors | RSS MiB |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
];
for (const setup of setups) {
  for (const config of configs) {
    const ss = samples.filter((s) => s.setup === setup && s.config === config);
    if (!ss.length) continue;
    const perRun: number[] = [];
    for (const s of ss) {
      const base = samples.find((b) => b.setup === setup && b.config === "softflowd" && b.run === s.run);
      if (base && config !== "softflowd") perRun.push(s.nsPerPacket / base.nsPerPacket);
    }
    if (perRun.length) ratios.push({ setup, config, perRun, median: median(perRun) });
    lines.push(`| ${setup} | ${config} | ${Math.round(median(ss.map((s) => s.offeredPps)))} | ${spread(ss.map((s) => s.nsPerPacket))} | ` +
      `${sysShare(ss)} | ` +
      `${perRun.length ? perRun.map((r) => r.toFixed(2)).join(", ") : "-"} | ${perRun.length ? `${median(perRun).toFixed(2)}x` : "-"} | ` +
      `${range(ss.map((s) => s.drops))} | ${range(ss.map((s) => s.windowRecords))} | ${range(ss.map((s) => s.collected.flows))} | ` +
      `${range(ss.map((s) => s.exportedMinusSent))} | ${range(ss.map((s) => s.collected.sequenceErrors))} | ` +
      `${median(ss.map((s) => s.rssMiB)).toFixed(0)} |`);
  }
}
console.log(lines.join("\n"));
const goals = ratios.filter((r) => r.config === "ringcap-w2").map((r) => ({
  goal: `${r.setup}: ringcap --workers 2 CPU/packet <= 0.5x softflowd's`,
  met: r.median <= 0.5,
  detail: `${r.median.toFixed(2)}x (runs ${r.perRun.map((x) => x.toFixed(2)).join(", ")})`,
}));
if (goals.length && !smoke) console.log(`\ngoals:\n${goals.map((g) => `  ${g.met ? "met   " : "MISSED"} ${g.goal}: ${g.detail}`).join("\n")}`);

if (values.out) {
  mkdirSync(values.out, { recursive: true });
  const model = /model name\s*:\s*(.*)/.exec(spawnSync("cat", ["/proc/cpuinfo"], { encoding: "utf8" }).stdout)?.[1] ?? "unknown";
  const version = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    return `${r.stdout}${r.stderr}`.split("\n").find((l) => /version/i.test(l))?.trim();
  };
  writeFileSync(join(values.out, "flow-export.json"), JSON.stringify({
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `bun bench/flow_export.ts ${process.argv.slice(2).join(" ")}`.trim(),
    machine: {
      nproc: cpus().length,
      cpu: model,
      kernel: release(),
      bun: process.versions.bun,
      softflowd: version("softflowd", ["-h"]),
      nfcapd: version("nfcapd", ["-V"]),
    },
    loadavg: { before: loadBefore, after: loadAfter },
    settings: { runs: RUNS, rate: RATE, count: COUNT, warmup: WARMUP, flows: FLOWS, mix: MIX.map((m) => m.name), activeTimeout: ACTIVE_TIMEOUT, trailer: TRAILER, maxFlows: MAX_FLOWS, bufferKiB: BUFFER_KIB, genCpu: GEN_CPU, exporterCpu: EXP_CPU },
    commands: COMMANDS,
    ratios,
    goals,
    samples,
  }, null, 2) + "\n");
}
if (smoke) {
  // The harness's own check: every exporter was measured, and the collector received every
  // packet sent (no drops at the smoke's low rate) in records of both IP versions.
  const bad = samples.filter((s) =>
    !(s.nsPerPacket > 0) || s.exportedMinusSent !== 0 || s.drops !== 0 || !(s.collected.ipv6Packets > 0) || s.collected.ipv6Packets >= s.collected.packets
  );
  if (bad.length) {
    console.error("flow_export smoke failed:", JSON.stringify(bad, null, 2));
    process.exit(1);
  }
}

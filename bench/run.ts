/**
 * The benchmark harness: the seed article's progression (recv -> recvmmsg -> ring -> ring +
 * fanout) and tcpdump, on this machine, inside a namespace it makes. The generator runs on
 * CPU 0 and the capturer on CPU 1, each capturer is its own process, and its CPU time is read
 * from the kernel's accounting (/proc/PID/task/TID/schedstat: on-CPU nanoseconds, user +
 * system) between its "ready" signal and the end of the traffic, so start-up is excluded.
 *
 *   bun bench/run.ts [--runs 3] [--count 2000000] [--paced-rate 200000] [--configs a,b,...]
 *                    [--setups full,paced,latency] [--block-timeout-ms 10] [--warmup 200000] [--json FILE] [--smoke]
 *
 * Before the measured part each capturer gets --warmup frames (not counted), so the JIT has
 * compiled the hot loop; the JIT threads' time is still reported, in its own column.
 * Runs alternate configurations (A B C A B C ...) and report the median of the runs with the
 * spread (min..max). The headline ratios come from the same runs.
 */

import { parseArgs } from "node:util";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { createBench } from "../src/netns.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    count: { type: "string", default: "2000000" },
    "paced-rate": { type: "string", default: "200000" },
    "paced-count": { type: "string", default: "1000000" },
    configs: { type: "string" },
    setups: { type: "string", default: "full,paced,latency" },
    json: { type: "string" },
    smoke: { type: "boolean" },
    "block-timeout-ms": { type: "string", default: "10" },
    warmup: { type: "string", default: "200000" },
  },
});

const smoke = !!values.smoke;
const RUNS = smoke ? 1 : Number(values.runs);
const FULL_COUNT = smoke ? 20_000 : Number(values.count);
const PACED_RATE = smoke ? 50_000 : Number(values["paced-rate"]);
const PACED_COUNT = smoke ? 20_000 : Number(values["paced-count"]);
const WARMUP = smoke ? 2_000 : Number(values.warmup);
const BUN = process.execPath;
const HERE = new URL(".", import.meta.url).pathname;
const CLI = new URL("../src/cli.ts", import.meta.url).pathname;
const GEN_CPU = "0";
const CAP_CPU = cpus().length > 1 ? "1" : "0";
const hasTcpdump = spawnSync("sh", ["-c", "command -v tcpdump"]).status === 0;

const ALL_CONFIGS = ["recv", "recvmmsg", "ring-zig", "ring-bun", "ring-bun-view", "fanout-zig", "fanout-bun", "tcpdump"];
const configs = (values.configs?.split(",") ?? ALL_CONFIGS).filter((c) => c !== "tcpdump" || hasTcpdump);
const setups = values.setups!.split(",");

interface Sample {
  config: string;
  setup: string;
  offeredPps: number;
  capturedPps: number;
  sent: number;
  captured: number;
  drops: number;
  cpuNsPerPacket: number;
  rssMiB: number;
  /** Where the CPU went: ns per packet per thread name (threads of one name summed). */
  threads: Record<string, number>;
  /** CPU ns per packet without the JIT compiler's threads (JSC's JITWorker): the steady state. */
  steadyNsPerPacket: number;
  /** Milliseconds the JIT compiler threads ran during the measured interval. */
  jitMs: number;
  latencyMs?: { median: number; max: number };
}

/** On-CPU nanoseconds of every live thread of `pid` (user + system), from schedstat. */
function cpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return total;
}

/** On-CPU nanoseconds per thread name (threads of the same name summed), user + system. */
function cpuByThread(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      out.set(name, (out.get(name) ?? 0) + ns);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** JavaScriptCore's compiler threads: a one-time cost per hot function, not per packet. */
const JIT_THREADS = /^(JITWorker|JSCWarmUp|FTL|DFG)/;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

function waitForLine(child: ChildProcess, stream: "stdout" | "stderr", pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern} from capturer within ${timeoutMs} ms: ${buf}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d;
      const m = pattern.exec(buf);
      if (m) {
        clearTimeout(timer);
        child[stream]!.off("data", onData);
        resolve(buf);
      }
    };
    child[stream]!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`capturer exited ${code} before ready: ${buf}`));
    });
  });
}

function collect(child: ChildProcess): { out: () => string; err: () => string; exit: Promise<number> } {
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (err += d));
  const exit = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
  return { out: () => out, err: () => err, exit };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const bench = createBench();

function startCapturer(config: string, latency: boolean): ChildProcess {
  if (config === "tcpdump") {
    const args = ["-c", CAP_CPU, "ip", "netns", "exec", bench.name, "tcpdump", "-i", bench.rx, "-n", "-s", "262144", "-B", "65536"];
    args.push(...(latency ? ["-l", "-tt"] : ["-w", "/dev/null"]));
    return spawn("taskset", args, { stdio: ["pipe", "pipe", "pipe"] });
  }
  // No --count: the capturer reads until the harness stops it, so CPU is sampled while it lives.
  const args = ["-c", CAP_CPU, BUN, `${HERE}capturer.ts`, config, bench.rx, "--netns", bench.name, "--max-seconds", "300",
    "--block-timeout-ms", values["block-timeout-ms"]!];
  if (latency) args.push("--latency");
  return spawn("taskset", args, { stdio: ["pipe", "pipe", "pipe"] });
}

/** Runs the generator on its own CPU and returns its JSON summary. */
async function sendFrames(count: number, rate: number): Promise<{ sent: number; pps: number; seconds: number }> {
  const gen = spawn("taskset", ["-c", GEN_CPU, BUN, CLI, "gen", "-i", bench.tx, "--netns", bench.name, "--count", String(count),
    "--rate", String(rate), "--flows", "256", "--size", "64", "--max-seconds", "120", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
  const g = collect(gen);
  const genCode = await g.exit;
  if (genCode !== 0) throw new Error(`generator failed (${genCode}): ${g.err()}`);
  return JSON.parse(g.out().trim().split("\n").pop()!);
}

async function runOne(config: string, setup: string): Promise<Sample> {
  const latency = setup === "latency";
  const count = setup === "full" ? FULL_COUNT : setup === "paced" ? PACED_COUNT : 40;
  const rate = setup === "full" ? 0 : setup === "paced" ? PACED_RATE : 20;
  const child = startCapturer(config, latency);
  const io = collect(child);
  const tcpdumpLatencies: number[] = [];
  if (config === "tcpdump" && latency) {
    child.stdout!.on("data", (d: Buffer) => {
      const now = Date.now() / 1000;
      for (const line of String(d).split("\n")) {
        const ts = Number(line.split(" ")[0]);
        if (ts > 0) tcpdumpLatencies.push((now - ts) * 1000);
      }
    });
  }
  if (config === "tcpdump") await waitForLine(child, "stderr", /listening on/, 10_000);
  else await waitForLine(child, "stdout", /READY|R\n/, 10_000);
  const pid = child.pid!;
  await Bun.sleep(50);
  if (!existsSync(`/proc/${pid}/task`)) throw new Error(`${config} ended before the traffic: ${io.out()} ${io.err()}`);
  // Warm-up: the same frames before the measured part, so the JIT has compiled the hot loop
  // and the ring's pages have been touched once (the start-up of every capturer is excluded).
  const warm = latency ? 0 : WARMUP;
  if (warm > 0) {
    await sendFrames(warm, 0);
    await Bun.sleep(config === "tcpdump" ? 1500 : 300);
  }
  const cpu0 = cpuNs(pid);
  const threads0 = cpuByThread(pid);
  const sent = await sendFrames(count, rate);
  // Let the last partly filled blocks (10 ms timeout; tcpdump: 1 s) reach the reader.
  await Bun.sleep(config === "tcpdump" ? 1500 : 300);
  const cpu1 = cpuNs(pid);
  const threads1 = cpuByThread(pid);
  const rss = rssMiB(pid);
  let jitNs = 0;
  for (const [name, ns] of threads1) if (JIT_THREADS.test(name)) jitNs += ns - (threads0.get(name) ?? 0);
  if (config === "tcpdump") child.kill("SIGINT");
  else child.stdin!.write("stop\n");
  const code = await Promise.race([io.exit, Bun.sleep(15_000).then(() => -99)]);
  if (code === -99) {
    child.kill("SIGKILL");
    throw new Error(`${config} did not stop`);
  }
  let captured: number;
  let drops: number;
  let latencyMs: Sample["latencyMs"];
  if (config === "tcpdump") {
    captured = Number(/(\d+) packets? captured/.exec(io.err())?.[1] ?? NaN) - warm;
    drops = Number(/(\d+) packets? dropped by kernel/.exec(io.err())?.[1] ?? NaN);
    if (latency && tcpdumpLatencies.length) latencyMs = { median: median(tcpdumpLatencies), max: Math.max(...tcpdumpLatencies) };
  } else {
    const r = JSON.parse(io.out().trim().split("\n").pop()!);
    captured = r.packets - warm;
    drops = r.drops;
    if (r.latencyMs) latencyMs = { median: r.latencyMs.median, max: r.latencyMs.max };
  }
  return {
    config,
    setup,
    offeredPps: sent.pps,
    capturedPps: Math.round(captured / sent.seconds),
    sent: sent.sent,
    captured,
    drops,
    cpuNsPerPacket: captured > 0 ? (cpu1 - cpu0) / captured : NaN,
    rssMiB: rss,
    threads: Object.fromEntries(
      [...threads1].map(([name, ns]) => [name, Math.round(((ns - (threads0.get(name) ?? 0)) / Math.max(1, captured)) * 10) / 10])
        .filter(([, v]) => (v as number) >= 0.5),
    ),
    steadyNsPerPacket: captured > 0 ? (cpu1 - cpu0 - jitNs) / captured : NaN,
    jitMs: jitNs / 1e6,
    latencyMs,
  };
}

const samples: Sample[] = [];
try {
  console.error(`bench: ${RUNS} run(s), configs ${configs.join(", ")}, setups ${setups.join(", ")}, namespace ${bench.name}`);
  for (const setup of setups) {
    const list = setup === "latency" ? configs.filter((c) => c === "ring-bun" || c === "tcpdump") : configs;
    for (let run = 0; run < RUNS; run++) {
      for (const config of list) {
        const s = await runOne(config, setup);
        samples.push(s);
        console.error(`  ${setup} #${run + 1} ${config}: ${s.captured}/${s.sent} captured, ${s.drops} drops, ` +
          `${s.cpuNsPerPacket.toFixed(1)} ns/pkt (without JIT ${s.steadyNsPerPacket.toFixed(1)}; ${JSON.stringify(s.threads)})` +
          `${s.latencyMs ? `, latency ${s.latencyMs.median.toFixed(1)} ms` : ""}`);
      }
    }
  }
} finally {
  bench.destroy();
}

const rows: string[] = [];
rows.push("| setup | config | offered pps | captured pps | drops | CPU ns/packet (median, min..max) | without JIT | JIT ms | latency ms (median/max) | RSS MiB |");
rows.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
const summary: Record<string, Record<string, number>> = {};
const steady: Record<string, Record<string, number>> = {};
for (const setup of setups) {
  for (const config of configs) {
    const ss = samples.filter((s) => s.setup === setup && s.config === config);
    if (!ss.length) continue;
    const cpu = ss.map((s) => s.cpuNsPerPacket);
    const med = median(cpu);
    (summary[setup] ??= {})[config] = med;
    (steady[setup] ??= {})[config] = median(ss.map((s) => s.steadyNsPerPacket));
    const lat = ss.filter((s) => s.latencyMs);
    rows.push(`| ${setup} | ${config} | ${Math.round(median(ss.map((s) => s.offeredPps)))} | ${Math.round(median(ss.map((s) => s.capturedPps)))} | ` +
      `${median(ss.map((s) => s.drops))} | ${med.toFixed(1)} (${Math.min(...cpu).toFixed(1)}..${Math.max(...cpu).toFixed(1)}) | ` +
      `${steady[setup][config].toFixed(1)} | ${median(ss.map((s) => s.jitMs)).toFixed(0)} | ` +
      `${lat.length ? `${median(lat.map((s) => s.latencyMs!.median)).toFixed(1)}/${Math.max(...lat.map((s) => s.latencyMs!.max)).toFixed(1)}` : "-"} | ` +
      `${median(ss.map((s) => s.rssMiB)).toFixed(0)} |`);
  }
}
console.log(rows.join("\n"));
for (const setup of ["full", "paced"]) {
  const s = summary[setup];
  const t = steady[setup];
  if (!s) continue;
  const parts: string[] = [];
  const ratio = (a: string, b: string, label: string) => {
    if (s[a] && s[b]) parts.push(`${label} = ${(s[a] / s[b]).toFixed(2)}x (without JIT ${(t[a] / t[b]).toFixed(2)}x)`);
  };
  ratio("ring-bun", "ring-zig", "ringcap Bun / Zig loop");
  ratio("ring-bun", "tcpdump", "ringcap Bun / tcpdump");
  ratio("fanout-bun", "fanout-zig", "fanout Bun / fanout Zig");
  if (parts.length) console.log(`\n${setup}: CPU per packet, ${parts.join("; ")}`);
}
if (values.json) {
  mkdirSync(new URL("./out/", import.meta.url).pathname, { recursive: true });
  writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), runs: RUNS, samples }, null, 2));
}
if (smoke) {
  // The smoke run checks the harness, not the speed: every capturer saw traffic and the
  // ring designs lost nothing at the paced rate.
  const bad = samples.filter((s) => !(s.captured > 0) || !Number.isFinite(s.cpuNsPerPacket));
  const lossy = samples.filter((s) => s.setup === "paced" && s.config.startsWith("ring") && s.captured + s.drops !== s.sent);
  if (bad.length || lossy.length) {
    console.error("bench smoke failed:", JSON.stringify({ bad, lossy }));
    process.exit(1);
  }
}

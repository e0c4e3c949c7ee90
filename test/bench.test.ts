// The benchmark harness runs end to end with small counts, so it cannot rot. Speed goals
// live in BENCHMARKS.md (full runs), not here: this checks that every configuration was
// measured, that the figures are accounted (nothing lost, fanout members summing to the
// total), and that `ringcap bench` is the same harness.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { privileged } from "./_netns.ts";

const CLI = new URL("../src/cli/main.ts", import.meta.url).pathname;
const RING_DESIGNS = [
  "ring-zig",
  "ring-bun",
  "ring-bun-view",
  "ring-bun-readers",
  "blocks-readers",
  "blocks-decode",
  "blocks-bytes",
  "fanout-zig",
  "fanout-bun",
  "ring-bun-immediate",
  "blocks-readers-immediate",
];
/** The configs the latency setup measures (tcpdump too when installed). */
const LATENCY_CONFIGS = ["ring-bun", "blocks-readers", "ring-bun-immediate", "blocks-readers-immediate"];
const hasTcpdump = spawnSync("sh", ["-c", "command -v tcpdump"]).status === 0;

interface Sample {
  config: string;
  api: string;
  setup: string;
  sent: number;
  warmSent: number;
  captured: number;
  lost: number;
  perWorker?: number[];
  cpuNsPerPacket: number;
  coldNsPerPacket: number;
  threads: Record<string, number>;
  latencyMs?: { median: number; p99: number; max: number; samples: number; blockTimeoutMs?: number };
}

interface IdleSample {
  runtime: string;
  mode: string;
  cpuMs: number;
}

test("ringcap bench --help prints the harness's usage and exits 0", () => {
  const r = spawnSync(process.execPath, [CLI, "bench", "--help"], { encoding: "utf8", timeout: 30_000 });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain("usage: ringcap bench");
  expect(r.stdout).toContain("--smoke");
});

test("ringcap bench rejects an unknown configuration with exit code 2", () => {
  const r = spawnSync(process.execPath, [CLI, "bench", "--configs", "ring-bun,warp-drive"], { encoding: "utf8", timeout: 30_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain("unknown config warp-drive");
});

describe.skipIf(!privileged())("the bench smoke run", () => {
  test("measures every configuration, accounts for every frame and keeps its samples as JSON", () => {
    const dir = mkdtempSync(join(tmpdir(), "ringcap-bench-"));
    try {
      const json = join(dir, "smoke.json");
      const r = spawnSync(process.execPath, [CLI, "bench", "--smoke", "--json", json], { encoding: "utf8", timeout: 150_000 });
      if (r.status !== 0) console.error(r.stderr, r.stdout);
      expect(r.status).toBe(0);
      const configs = ["recv", "recvmmsg", ...RING_DESIGNS, ...(hasTcpdump ? ["tcpdump"] : [])];
      for (const setup of ["full", "paced"]) {
        for (const config of configs) expect(r.stdout).toMatch(new RegExp(`\\| ${setup} \\| ${config} \\|`));
      }
      for (const config of LATENCY_CONFIGS) expect(r.stdout).toMatch(new RegExp(`\\| latency \\| ${config} \\|`));
      expect(r.stdout).toMatch(/paced: CPU per packet, README path \(blocks-readers\) \/ Zig loop = \d+\.\d\dx/);
      expect(r.stdout).toMatch(/paced: CPU per packet, .*ringcap Bun \/ Zig loop = \d+\.\d\dx/);
      // The first table printed is the README path's, with its ratios to the Zig loop (and tcpdump).
      expect(r.stdout.trimStart()).toStartWith("README path (blocks-readers)");
      expect(r.stdout).toMatch(/\| paced \| blocks-readers \| for await blocks\(\)\+for\.\.\.of\+getUint32 \(README\) \| [\d.]+ \([\d.]+\.\.[\d.]+\) \| [\d.]+ \| [\d.]+ \| [\d.]+x/);
      // The idle table: blocks() against a timer, per runtime.
      expect(r.stdout).toMatch(/\| bun \| [\d.]+ \([\d.]+\.\.[\d.]+\) \| [\d.]+ \([\d.]+\.\.[\d.]+\) \| [\d.]+ \| [\d.]+x \|/);

      const out = JSON.parse(readFileSync(json, "utf8"));
      expect(out.machine.nproc).toBeGreaterThan(0);
      expect(out.command).toContain("--smoke");
      const samples = out.samples as Sample[];
      expect(samples.length).toBe(configs.length * 2 + LATENCY_CONFIGS.length + (hasTcpdump ? 1 : 0));
      for (const s of samples) {
        // Every capturer read the measured frames, and its CPU was seen by the kernel's accounting.
        expect(s.captured).toBeGreaterThan(0);
        expect(s.cpuNsPerPacket).toBeGreaterThan(0);
        expect(s.coldNsPerPacket).toBeGreaterThan(0);
        expect(s.api).toBe(out.apiPaths[s.config]);
        expect(Object.keys(s.threads).length).toBeGreaterThan(0);
      }
      for (const config of LATENCY_CONFIGS) {
        const l = samples.find((s) => s.setup === "latency" && s.config === config)!.latencyMs!;
        expect(l.samples).toBeGreaterThan(0);
        expect(l.p99).toBeGreaterThanOrEqual(l.median);
        // Immediate mode has no block timeout to read its latency against.
        expect(l.blockTimeoutMs).toBe(config.endsWith("-immediate") ? undefined : out.settings.blockTimeoutMs);
      }
      const idle = out.idleSamples as IdleSample[];
      expect(idle.filter((s) => s.runtime === "bun").map((s) => s.mode).sort()).toEqual(["blocks", "timer"]);
      for (const s of idle) expect(s.cpuMs).toBeGreaterThan(0);
      for (const s of samples.filter((s) => s.setup === "paced" && RING_DESIGNS.includes(s.config))) {
        expect({ config: s.config, lost: s.lost, captured: s.captured }).toEqual({ config: s.config, lost: 0, captured: s.sent });
      }
      for (const s of samples.filter((s) => s.config.startsWith("fanout-"))) {
        expect(s.perWorker!.length).toBe(2);
        expect(s.perWorker!.reduce((a, b) => a + b, 0)).toBe(s.captured + s.warmSent);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 160_000);
});

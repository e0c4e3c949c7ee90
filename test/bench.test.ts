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
const RING_DESIGNS = ["ring-zig", "ring-bun", "ring-bun-view", "fanout-zig", "fanout-bun"];
const hasTcpdump = spawnSync("sh", ["-c", "command -v tcpdump"]).status === 0;

interface Sample {
  config: string;
  setup: string;
  sent: number;
  warmSent: number;
  captured: number;
  lost: number;
  perWorker?: number[];
  cpuNsPerPacket: number;
  threads: Record<string, number>;
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
      const r = spawnSync(process.execPath, [CLI, "bench", "--smoke", "--json", json], { encoding: "utf8", timeout: 100_000 });
      if (r.status !== 0) console.error(r.stderr, r.stdout);
      expect(r.status).toBe(0);
      const configs = ["recv", "recvmmsg", ...RING_DESIGNS, ...(hasTcpdump ? ["tcpdump"] : [])];
      for (const setup of ["full", "paced"]) {
        for (const config of configs) expect(r.stdout).toMatch(new RegExp(`\\| ${setup} \\| ${config} \\|`));
      }
      expect(r.stdout).toMatch(/\| latency \| ring-bun \|/);
      expect(r.stdout).toMatch(/paced: CPU per packet, ringcap Bun \/ Zig loop = \d+\.\d\dx/);

      const out = JSON.parse(readFileSync(json, "utf8"));
      expect(out.machine.nproc).toBeGreaterThan(0);
      expect(out.command).toContain("--smoke");
      const samples = out.samples as Sample[];
      expect(samples.length).toBe(configs.length * 2 + (hasTcpdump ? 2 : 1));
      for (const s of samples) {
        // Every capturer read the measured frames, and its CPU was seen by the kernel's accounting.
        expect(s.captured).toBeGreaterThan(0);
        expect(s.cpuNsPerPacket).toBeGreaterThan(0);
        expect(Object.keys(s.threads).length).toBeGreaterThan(0);
      }
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
  }, 110_000);
});

// The flow-export benchmark (bench/flow_export.ts) runs end to end with small counts, so it
// cannot rot: softflowd, `ringcap flows --ipfix` and the same with --workers 2 each export the
// same mixed traffic to nfcapd, and nfdump (the oracle) must count every packet sent, IPv4 and
// IPv6, for each of them. Speed goals live in BENCHMARKS.md, not here.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { privileged } from "./_netns.ts";

const SCRIPT = new URL("../bench/flow_export.ts", import.meta.url).pathname;

interface Sample {
  config: string;
  sent: number;
  warmSent: number;
  drops: number;
  nsPerPacket: number;
  collected: { flows: number; packets: number; ipv6Packets: number; trailerPackets: number };
  exportedMinusSent: number;
}

test("bench/flow_export.ts --help prints its usage and exits 0", () => {
  const r = spawnSync(process.execPath, [SCRIPT, "--help"], { encoding: "utf8", timeout: 30_000 });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain("usage: bun bench/flow_export.ts");
});

test("bench/flow_export.ts rejects an unknown config with exit code 2", () => {
  const r = spawnSync(process.execPath, [SCRIPT, "--configs", "softflowd,nprobe"], { encoding: "utf8", timeout: 30_000 });
  expect(r.status).toBe(2);
});

test.skipIf(!privileged())("--smoke: every exporter's records at nfcapd hold every packet sent, both IP versions", () => {
  const out = mkdtempSync(join(tmpdir(), "ringcap-flowbench-test-"));
  try {
    const r = spawnSync(process.execPath, [SCRIPT, "--smoke", "--out", out], { encoding: "utf8", timeout: 50_000 });
    expect(r.status, r.stderr).toBe(0);
    const { samples } = JSON.parse(readFileSync(join(out, "flow-export.json"), "utf8")) as { samples: Sample[] };
    expect(samples.map((s) => s.config)).toEqual(["softflowd", "ringcap", "ringcap-w2"]);
    for (const s of samples) {
      expect(s.drops).toBe(0);
      expect(s.collected.packets).toBe(s.warmSent + s.sent);
      expect(s.collected.ipv6Packets).toBeGreaterThan(0);
      expect(s.collected.ipv6Packets).toBeLessThan(s.collected.packets);
      expect(s.collected.trailerPackets).toBeGreaterThan(0);
      expect(s.nsPerPacket).toBeGreaterThan(0);
    }
    // The same traffic: every exporter saw the same frames.
    expect(new Set(samples.map((s) => s.warmSent + s.sent)).size).toBe(1);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 60_000);

// The benchmark harness runs end to end with small counts, so it cannot rot. Speed goals
// live in BENCHMARKS.md (full runs), not here.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { privileged } from "./_netns.ts";

const canCapture = privileged();

test.skipIf(!canCapture)("the bench smoke run measures every configuration and loses nothing at the paced rate", () => {
  const harness = new URL("../bench/run.ts", import.meta.url).pathname;
  const r = spawnSync(process.execPath, [harness, "--smoke"], { encoding: "utf8", timeout: 240_000 });
  if (r.status !== 0) console.error(r.stderr, r.stdout);
  expect(r.status).toBe(0);
  for (const config of ["recv", "recvmmsg", "ring-zig", "ring-bun", "fanout-zig", "fanout-bun"]) {
    expect(r.stdout).toMatch(new RegExp(`\\| paced \\| ${config} \\|`));
  }
  expect(r.stdout).toMatch(/\| latency \| ring-bun \|/);
  expect(r.stdout).toMatch(/CPU per packet, ringcap Bun \/ Zig loop = [\d.]+x/);
}, 250_000);

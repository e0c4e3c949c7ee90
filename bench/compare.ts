/**
 * Compares two sets of benchmark results (the JSON that `ringcap bench --json FILE` writes):
 * CPU per packet of every configuration and setup, "before" against "after", as the median of
 * each side and the median of the pairwise ratios (run i of before against run i of after, so
 * run the two sides in turn: A B A B ...).
 *
 *   bun bench/compare.ts before-1.json before-2.json ... -- after-1.json after-2.json ...
 *
 * Prints a markdown table; a ratio above 1 means "after" spends more CPU per packet.
 */

import { readFileSync } from "node:fs";
import { median } from "./_stats.ts";

/** The median of the figures a run produced (a config missing from a run is NaN there). */
const medianOf = (xs: number[]) => median(xs.filter((x) => Number.isFinite(x)));

interface Sample {
  config: string;
  setup: string;
  cpuNsPerPacket: number;
  steadyNsPerPacket: number;
  lost: number;
}

const args = process.argv.slice(2);
const split = args.indexOf("--");
if (split < 1 || split === args.length - 1) {
  console.error("usage: bun bench/compare.ts BEFORE.json... -- AFTER.json...");
  process.exit(2);
}

/** Every file's samples of each config/setup, one number per file (the median of its runs). */
function load(files: string[], field: "cpuNsPerPacket" | "steadyNsPerPacket"): Map<string, number[]> {
  const out = new Map<string, number[]>();
  files.forEach((file, i) => {
    const samples = (JSON.parse(readFileSync(file, "utf8")) as { samples: Sample[] }).samples;
    const byKey = new Map<string, number[]>();
    for (const s of samples) {
      if (s.setup === "latency") continue;
      const key = `${s.config} ${s.setup}`;
      byKey.set(key, [...(byKey.get(key) ?? []), s[field]]);
    }
    for (const [key, values] of byKey) {
      const list = out.get(key) ?? [];
      list[i] = medianOf(values);
      out.set(key, list);
    }
  });
  return out;
}


const beforeFiles = args.slice(0, split);
const afterFiles = args.slice(split + 1);
console.log("| config | setup | before ns/pkt (median; runs) | after ns/pkt (median; runs) | after/before, paired (median; min..max) | without JIT, paired |");
console.log("| --- | --- | --- | --- | --- | --- |");
const before = load(beforeFiles, "cpuNsPerPacket");
const after = load(afterFiles, "cpuNsPerPacket");
const beforeSteady = load(beforeFiles, "steadyNsPerPacket");
const afterSteady = load(afterFiles, "steadyNsPerPacket");
const fmt = (x: number) => x.toFixed(1);
for (const [key, b] of before) {
  const a = after.get(key);
  if (!a) continue;
  const ratios = b.map((x, i) => a[i] / x).filter((r) => Number.isFinite(r));
  const steady = (beforeSteady.get(key) ?? []).map((x, i) => (afterSteady.get(key) ?? [])[i] / x).filter((r) => Number.isFinite(r));
  const [config, setup] = key.split(" ");
  console.log(
    `| ${config} | ${setup} | ${fmt(medianOf(b))} (${b.map(fmt).join(", ")}) | ${fmt(medianOf(a))} (${a.map(fmt).join(", ")}) | ` +
      `${medianOf(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}..${Math.max(...ratios).toFixed(3)}) | ${medianOf(steady).toFixed(3)} |`,
  );
}

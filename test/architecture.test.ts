// The shape of the house, read from the code's own imports (Bun's transpiler): no import
// cycles, no import that runs up a floor, nothing outside src/cli/ imports the CLI, a worker
// handler imports only library modules, bench/ and examples/ use only the public modules, and
// README's file map names every place in src/.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const transpiler = new Bun.Transpiler({ loader: "ts" });

/**
 * The floors, lowest first. A module may import its own floor or lower ones, never higher.
 * A new file in src/ must be given a floor here (the test says so), which is the point:
 * where a change belongs is a decision, not an accident.
 */
const FLOORS: [floor: number, pattern: RegExp][] = [
  [0, /^src\/native\//], // the C ABI table, the library binding, Bun-vs-Deno
  [0, /^src\/(errors|options|interfaces|privileges)\.ts$/],
  [1, /^src\/bpf\//], // filters: program model, libpcap, VLAN rewrite
  [1, /^src\/(decode|packet|pcap|rotate|format|format_icmp|flows|file)\.ts$/], // zero-copy views, decoders, tcpdump-style lines, files (writing, rotating and reading)
  [2, /^src\/(capture|gen)\.ts$/], // the resources that own a socket
  [2, /^src\/export\//], // flow records out of the machine: lifecycle, IPFIX / NetFlow v9, transport
  [3, /^src\/fanout\//], // the worker pool (and a saved file as its source: file_source.ts, file_feed.ts)
  [3, /^src\/testing\//], // the namespace bench (ringcap/testing)
  [4, /^src\/cli\//], // the command line, on top of everything
];

function floorOf(file: string): number | undefined {
  return FLOORS.find(([, re]) => re.test(file))?.[0];
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** Relative imports of `file`, as repository paths. */
function importsOf(file: string): string[] {
  const code = readFileSync(join(ROOT, file), "utf8").replace(/^#!.*\n/, "\n");
  return transpiler
    .scanImports(code)
    .map((i) => i.path)
    .filter((p) => p.startsWith("."))
    .map((p) => relative(ROOT, resolve(ROOT, dirname(file), p)));
}

const shipped = ["mod.ts", "testing.ts", ...tsFiles("src"), ...tsFiles("bench"), ...tsFiles("examples")];
const graph = new Map(shipped.map((f) => [f, importsOf(f)]));

describe("the import graph", () => {
  test("has no cycles", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "visiting") {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
        return;
      }
      state.set(file, "visiting");
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, "done");
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  test("every file in src/ has a floor", () => {
    expect(tsFiles("src").filter((f) => floorOf(f) === undefined)).toEqual([]);
  });

  test("no import runs up a floor", () => {
    const upward: string[] = [];
    for (const [file, imports] of graph) {
      const from = floorOf(file);
      if (from === undefined) continue;
      for (const to of imports) {
        const target = floorOf(to);
        if (target !== undefined && target > from) upward.push(`${file} (floor ${from}) -> ${to} (floor ${target})`);
      }
    }
    expect(upward).toEqual([]);
  });

  test("nothing outside src/cli/ imports it, and a CLI worker handler imports only library modules", () => {
    const bad: string[] = [];
    for (const [file, imports] of graph) {
      const inCli = file.startsWith("src/cli/");
      const handler = inCli && file.endsWith("_handler.ts");
      for (const to of imports) {
        if (to.startsWith("src/cli/") && (!inCli || handler)) bad.push(`${file} -> ${to}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("bench/ and examples/ use only the public modules (mod.ts, testing.ts) and their own files", () => {
    const bad: string[] = [];
    for (const [file, imports] of graph) {
      const home = file.split("/")[0];
      if (home !== "bench" && home !== "examples") continue;
      for (const to of imports) {
        if (to !== "mod.ts" && to !== "testing.ts" && !to.startsWith(`${home}/`)) bad.push(`${file} -> ${to}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("this test reads real imports (it would see a cycle or an upward arrow)", () => {
    expect(graph.get("mod.ts")).toContain("src/capture.ts");
    expect(graph.get("src/capture.ts")).toContain("src/packet.ts");
    expect(floorOf("src/cli/main.ts")).toBeGreaterThan(floorOf("src/capture.ts")!);
  });
});

test("README's file map names every folder and file of src/", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const at = readme.indexOf("## File map");
  expect(at).toBeGreaterThanOrEqual(0);
  const map = readme.slice(at, readme.indexOf("\n## ", at + 1) >>> 0);
  const places = new Set(tsFiles("src").map((f) => (f.split("/").length > 2 ? `src/${f.split("/")[1]}/` : f)));
  const missing = [...places].filter((p) => !map.includes(p));
  expect(missing).toEqual([]);
});

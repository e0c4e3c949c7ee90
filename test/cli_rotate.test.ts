// `ringcap capture -w FILE -C MB [-W COUNT] [-G SECONDS] [-z CMD]`: the -w file rotated as tcpdump
// rotates it. On a saved file (-r), rotation by size is deterministic, so the file names and
// bytes are compared with tcpdump -r's own; live, on the namespace bench, the rotated files
// together hold every sent frame exactly once (one ring and --workers 2), -z runs once per
// closed file, and a ring of 3 files holds the newest frames without a gap.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PcapWriter } from "../src/pcap.ts";
import { RotatingWriter, rotatedName, ringDigits } from "../src/rotate.ts";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { BUN, CLI, readFrames, ringcap, seqs, summary, tool, until } from "./_cli.ts";
import { runGen } from "./_traffic.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ringcap-rotate-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A deterministic pcap of `count` frames of 60 to 1514 bytes (a small LCG: no randomness between runs). */
function makeInput(path: string, count: number): void {
  using w = PcapWriter.open(path, { format: "pcap" });
  let x = 12345;
  const frame = new Uint8Array(1514);
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const n = 60 + (x % 1455);
    frame.fill(i & 0xff, 0, n);
    w.write(frame.subarray(0, n), n, 1_700_000_000 + Math.floor(i / 100), (i % 100) * 1000 + 7);
  }
}

/** Runs a command in `cwd` and returns its exit code and stderr. */
function runIn(cwd: string, cmd: string, args: string[]): { code: number | null; err: string } {
  const r = Bun.spawnSync([cmd, ...args], { cwd, stdout: "ignore", stderr: "pipe", timeout: 60_000 });
  return { code: r.exitCode, err: r.stderr.toString() };
}

/** A script for -z that appends its argument to `log`. */
function logScript(name: string, log: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\necho "$1" >> ${log}\n`);
  chmodSync(path, 0o755);
  return path;
}

test("rotatedName and ringDigits name files as tcpdump does (checked on tcpdump itself below)", () => {
  expect([1, 3, 10, 11, 100, 101].map(ringDigits)).toEqual([0, 1, 1, 2, 2, 3]);
  expect(rotatedName("out", 0, 0)).toBe("out");
  expect(rotatedName("out", 3, 0)).toBe("out3");
  expect(rotatedName("out", 3, 2)).toBe("out03");
  expect(rotatedName("c-%Y%m%d-%H%M%S-%%", 0, 0, new Date(2026, 11, 3, 9, 8, 7))).toBe("c-20261203-090807-%");
  expect(() => rotatedName("c-%Q", 0, 0, new Date())).toThrow(/%Q is not a pattern/);
  expect(() => RotatingWriter.open(join(dir, "w"), {}, { files: 3 })).toThrow(/needs maxBytes/);
});

test("RotatingWriter by time (a clock of our own): a file per period named by its start, -W stops after COUNT files, -C numbers within a period", () => {
  let ms = Date.UTC(2026, 0, 1, 0, 0, 0) + 500;
  const closed: string[] = [];
  const frame = new Uint8Array(100).fill(7);
  const w = RotatingWriter.open(join(dir, "t-%s.pcapng"), {}, { seconds: 10, files: 2, now: () => ms, onRotate: (p) => closed.push(p) });
  const first = w.path;
  expect(first).toBe(join(dir, `t-${Math.floor(ms / 1000)}.pcapng`));
  expect(w.write(frame, 100, 1, 0)).toBe(true);
  ms += 9_000; // 9.5 s into the first period: same file
  expect(w.write(frame, 100, 2, 0)).toBe(true);
  expect(w.path).toBe(first);
  ms += 1_000; // 10 whole seconds of the clock: the second file
  expect(w.write(frame, 100, 3, 0)).toBe(true);
  expect(w.path).toBe(join(dir, `t-${Math.floor(ms / 1000)}.pcapng`));
  ms += 10_000; // the third period: -W 2 has written its files
  expect(w.write(frame, 100, 4, 0)).toBe(false);
  expect({ done: w.done, closed: w.closed, packets: w.packets, flushed: w.flushedPackets }).toEqual({ done: true, closed: true, packets: 3, flushed: 3 });
  expect(closed).toEqual([first, join(dir, `t-${Math.floor((ms - 10_000) / 1000)}.pcapng`)]);
  expect(readFrames(closed[0]).length).toBe(2);
  expect(readFrames(closed[1]).length).toBe(1);
  // Both rules: the numbers start again in each period (no -W: none on a period's first file).
  ms = Date.UTC(2026, 0, 1) + 500;
  const both = RotatingWriter.open(join(dir, "b-%s.pcap"), {}, { seconds: 10, maxBytes: 200, now: () => ms });
  const names = [];
  for (let i = 0; i < 3; i++) (both.write(frame, 100, i, 0), names.push(both.path));
  ms += 10_000;
  for (let i = 0; i < 2; i++) (both.write(frame, 100, i, 0), names.push(both.path));
  both.close();
  const s0 = Math.floor(Date.UTC(2026, 0, 1) / 1000);
  expect(names.map((n) => n.slice(dir.length + 1))).toEqual([`b-${s0}.pcap`, `b-${s0}.pcap`, `b-${s0}.pcap1`, `b-${s0 + 10}.pcap`, `b-${s0 + 10}.pcap`]);
});

describe("capture -r -w -C/-W/-z against tcpdump -r -w -C/-W/-z", () => {
  let input: string;
  beforeAll(() => {
    input = join(dir, "in.pcap");
    makeInput(input, 6000); // about 4.7 MB
  });

  test.each([[["-C", "1"]], [["-C", "1", "-W", "3"]], [["-C", "2", "-W", "11"]], [["-C", "1", "-W", "1"]]])(
    "%p: the same file names, each file byte for byte, and -z run on the same closed files",
    async (flags: string[]) => {
      const tag = flags.join("");
      const want = join(dir, `t${tag}`);
      const got = join(dir, `r${tag}`);
      mkdirSync(want);
      mkdirSync(got);
      const wantLog = join(dir, `t${tag}.log`);
      const gotLog = join(dir, `r${tag}.log`);
      const t = runIn(want, "tcpdump", ["-Z", "root", "--time-stamp-precision=nano", "-r", input, "-w", "out", ...flags, "-z", logScript(`tz${tag}`, wantLog)]);
      expect(t.code).toBe(0);
      const r = runIn(got, BUN, [CLI, "capture", "-r", input, "-w", "out", ...flags, "-z", logScript(`rz${tag}`, gotLog)]);
      expect(r).toEqual({ code: 0, err: expect.any(String) });
      const names = readdirSync(want).sort();
      expect(names.length).toBe(flags.includes("-W") ? Math.min(3, Number(flags[3])) : 5);
      expect(readdirSync(got).sort()).toEqual(names);
      for (const n of names) expect(Buffer.compare(readFileSync(join(got, n)), readFileSync(join(want, n)))).toBe(0);
      // -z runs without being waited for: both logs are complete once every run has appended.
      const lines = (p: string) => {
        try {
          return readFileSync(p, "utf8").trim().split("\n").filter((l) => l).sort();
        } catch {
          return [];
        }
      };
      // Bounded: wait for both to have as many lines, then a moment for any late one.
      await until(() => lines(wantLog).length > 0 && lines(gotLog).length === lines(wantLog).length, 5000);
      await Bun.sleep(200);
      expect(lines(wantLog).length).toBeGreaterThan(0);
      expect(lines(gotLog)).toEqual(lines(wantLog));
    },
  );

  test("pcapng: each rotated file is whole on its own (tcpdump reads it), and together they hold every packet once, in order", () => {
    const got = join(dir, "ng");
    mkdirSync(got);
    const r = runIn(got, BUN, [CLI, "capture", "-r", input, "-w", "out.pcapng", "-C", "1"]);
    expect(r.code).toBe(0);
    const names = readdirSync(got).sort((a, b) => a.length - b.length || a.localeCompare(b));
    expect(names[0]).toBe("out.pcapng");
    expect(names.length).toBeGreaterThan(3);
    const all = readFrames(input).map((f) => Buffer.from(f.data).toString("hex"));
    const joined: string[] = [];
    for (const n of names) {
      const t = tool("tcpdump", ["-r", join(got, n), "-n"]);
      expect({ n, code: t.code, truncated: /truncated/.test(t.err) }).toEqual({ n, code: 0, truncated: false });
      for (const f of readFrames(join(got, n))) joined.push(Buffer.from(f.data).toString("hex"));
    }
    expect(joined.length).toBe(all.length);
    expect(joined).toEqual(all);
  });

  test("combinations tcpdump refuses, and those with nothing to rotate, exit 2 with the reason", () => {
    const cases: [string[], RegExp][] = [
      [["-C", "0", "-w", "x"], /-C must be a whole number from 1/],
      [["-C", "1", "-W", "0", "-w", "x"], /-W must be a whole number from 1/],
      [["-W", "3", "-w", "x"], /-W counts rotated files: it needs -C MB or -G SECONDS/],
      [["-C", "1"], /-C rotates the -w file: it needs -w FILE/],
      [["-G", "5", "-w", "-"], /standard output cannot be rotated/],
      [["-z", "gzip", "-w", "x"], /-z runs on each file a rotation closes: it needs -C MB or -G SECONDS/],
    ];
    for (const [flags, reason] of cases) {
      const r = runIn(dir, BUN, [CLI, "capture", "-r", input, ...flags]);
      expect({ flags, code: r.code, reason: reason.test(r.err) }).toEqual({ flags, code: 2, reason: true });
    }
    const live = runIn(dir, BUN, [CLI, "capture", "-i", "lo", "--workers", "2", "--per-worker-files", "-w", "x", "-C", "1"]);
    expect(live.code).toBe(2);
    expect(live.err).toContain("--per-worker-files cannot rotate");
  });
});

describe.skipIf(!privileged())("live rotation on the namespace bench", () => {
  let bench: Bench;
  beforeAll(() => {
    bench = createBench();
  });
  afterAll(() => {
    bench?.destroy();
  });

  /** Captures `count` generated frames of 300 bytes into rotated files under a fresh directory. */
  async function rotated(name: string, flags: string[], count: number, rate: number, file = "cap") {
    const out = join(dir, name);
    mkdirSync(out);
    const cap = ringcap(["capture", "--netns", bench.name, "-i", bench.rx, "-w", join(out, file), ...flags, "-c", String(count), "--seconds", "25"], 40_000);
    await cap.started;
    const gen = await runGen(bench, ["--count", String(count), "--rate", String(rate), "--size", "300"]);
    expect(gen.sent).toBe(count);
    const r = await cap.done;
    expect(r.code).toBe(0);
    const files = readdirSync(out).filter((n) => n.startsWith("cap")).sort();
    return { out, files, err: r.err, captured: summary(r.err).captured };
  }

  /** Every file read whole by tcpdump; the sequence numbers of all of them. */
  function allSeqs(out: string, files: string[]): number[] {
    const got: number[] = [];
    for (const f of files) {
      const t = tool("tcpdump", ["-r", join(out, f), "-n"]);
      expect({ f, code: t.code, truncated: /truncated/.test(t.err) }).toEqual({ f, code: 0, truncated: false });
      got.push(...seqs(join(out, f)));
    }
    return got;
  }

  test("-C 1 -W 20 (one ring and --workers 2): every frame in exactly one file, each file whole; -z ran once per closed file", async () => {
    for (const workers of [[], ["--workers", "2"]]) {
      const log = join(dir, `z${workers.length}.log`);
      const z = logScript(`z${workers.length}.sh`, log);
      const { out, files, captured } = await rotated(`c20-${workers.length}`, ["-C", "1", "-W", "20", "-z", z, ...workers], 40_000, 40_000);
      expect(captured).toBe(40_000);
      expect(files.length).toBeGreaterThan(5);
      expect(files.length).toBeLessThan(20); // no file was overwritten: the ring did not wrap
      const got = allSeqs(out, files).sort((a, b) => a - b);
      expect(got.length).toBe(40_000);
      expect(got.every((s, i) => s === i)).toBe(true);
      // -z: once for each file closed by a rotation (all but the one being written at the end).
      const ran = () => (readFileSync(log, { encoding: "utf8", flag: "a+" }).trim().split("\n").filter((l) => l));
      await until(() => ran().length >= files.length - 1, 5000);
      const last = files.sort((a, b) => a.length - b.length || a.localeCompare(b)).at(-1)!;
      expect(ran().map((p) => p.split("/").pop()).sort()).toEqual(files.filter((f) => f !== last).sort());
    }
  }, 60_000);

  test("-C 1 -W 3: the three files left hold the newest frames, each once, with no gap", async () => {
    const { out, files } = await rotated("c3", ["-C", "1", "-W", "3"], 30_000, 40_000);
    expect(files).toEqual(["cap0", "cap1", "cap2"]);
    const got = allSeqs(out, files).sort((a, b) => a - b);
    expect(new Set(got).size).toBe(got.length);
    expect(got.at(-1)).toBe(29_999);
    expect(got.every((s, i) => i === 0 || s === got[i - 1] + 1)).toBe(true);
    expect(got.length).toBeGreaterThan(6000); // about 3 MB of 316-byte records
  }, 30_000);

  test("-G 1 (one ring and --workers 2): files named by strftime, every frame in exactly one of them", async () => {
    for (const workers of [[], ["--workers", "2"]]) {
      const { out, files } = await rotated(`g1-${workers.length}`, ["-G", "1", ...workers], 50_000, 20_000, "cap-%Y%m%d-%H%M%S");
      expect(files.length).toBeGreaterThan(1);
      for (const f of files) expect(f).toMatch(/^cap-\d{8}-\d{6}$/);
      const got = allSeqs(out, files).sort((a, b) => a - b);
      expect(got.length).toBe(50_000);
      expect(got.every((s, i) => s === i)).toBe(true);
    }
  }, 40_000);
});

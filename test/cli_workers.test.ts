// `ringcap capture --workers N`: the capture spread over fanout workers, merged into one file in
// timestamp order or written one file per worker, checked frame by frame against what was sent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Subprocess, spawn, spawnSync } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { BUN, CLI, runGen, SeqTally } from "./_traffic.ts";
import { readPcap } from "./_pcap_read.ts";
import { BatchMerger, perWorkerPaths } from "../src/cli/capture_workers.ts";
import { RECORD, RECORD_HEADER_BYTES } from "../src/cli/capture_handler.ts";

interface Running {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Resolves once the CLI says it is capturing (all workers have their rings). */
  started: Promise<void>;
  /** Resolves to the exit code and what was printed. */
  result: Promise<{ code: number; out: string; err: string }>;
}

/** Starts `ringcap capture ARGS` inside the bench's namespace. */
function startCapture(bench: Bench, args: string[], timeoutMs = 60_000): Running {
  const proc = spawn([BUN, CLI, "capture", "--netns", bench.name, "-i", bench.rx, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    timeout: timeoutMs,
  });
  let err = "";
  let onStart = () => {};
  const started = new Promise<void>((resolve) => (onStart = resolve));
  const errDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      err += decoder.decode(chunk, { stream: true });
      if (err.includes("capturing on")) onStart();
    }
  })();
  const result = (async () => {
    const out = await new Response(proc.stdout).text();
    const code = await proc.exited;
    await errDone;
    onStart();
    return { code, out, err };
  })();
  return { proc, started, result };
}

/** Sequence numbers in a pcap file, plus whether timestamps never go backwards. */
function tallyFile(path: string, tally: SeqTally): { packets: number; ordered: boolean } {
  let last = -1;
  let ordered = true;
  const packets = readPcap(path, (view, r) => {
    const t = r.sec * 1e9 + r.nsec; // order only: the rounding of large values is the same for both
    if (t < last) ordered = false;
    last = t;
    tally.add(view, r.offset, r.caplen);
  });
  return { packets, ordered };
}

test("perWorkerPaths puts the worker's index before the extension", () => {
  expect(perWorkerPaths("/tmp/out.pcapng", 2)).toEqual(["/tmp/out.0.pcapng", "/tmp/out.1.pcapng"]);
  expect(perWorkerPaths("dir.d/capture", 2)).toEqual(["dir.d/capture.0", "dir.d/capture.1"]);
  expect(perWorkerPaths(".hidden", 1)).toEqual([".hidden.0"]);
});

test("BatchMerger lets packets out oldest first, and waits for a worker that may still send older ones", () => {
  const batch = (times: number[]) => {
    const size = RECORD_HEADER_BYTES + 1;
    const buf = new ArrayBuffer(times.length * size);
    const dv = new DataView(buf);
    times.forEach((t, i) => {
      dv.setUint32(i * size + RECORD.sec, t, true);
      dv.setUint32(i * size + RECORD.nsec, 0, true);
      dv.setUint32(i * size + RECORD.caplen, 1, true);
      dv.setUint32(i * size + RECORD.wireLength, 60, true);
      dv.setInt32(i * size + RECORD.ifindex, 2, true);
      dv.setUint8(i * size + RECORD_HEADER_BYTES, t & 0xff);
    });
    return { buffer: buf, bytes: buf.byteLength, packets: times.length };
  };
  const consumed: number[] = [0, 0];
  const m = new BatchMerger(2, (w, bytes) => (consumed[w] += bytes));
  const out: number[] = [];
  const emit = (_b: Uint8Array, _v: DataView, _s: number, _c: number, _w: number, sec: number) => {
    out.push(sec);
    return true;
  };
  // Far in the future, so the hold time never lets a packet out early.
  const now = Math.floor(Date.now() / 1000) + 1000;
  m.push(0, batch([now + 1, now + 3, now + 5]));
  m.drain(false, emit);
  expect(out).toEqual([]); // worker 1 may still send something older
  m.push(1, batch([now + 2, now + 4]));
  m.drain(false, emit);
  expect(out).toEqual([now + 1, now + 2, now + 3, now + 4]); // worker 1 is empty again: wait
  m.end(1);
  m.drain(false, emit);
  expect(out).toEqual([now + 1, now + 2, now + 3, now + 4, now + 5]);
  expect(consumed).toEqual([3 * (RECORD_HEADER_BYTES + 1), 2 * (RECORD_HEADER_BYTES + 1)]);
  // Old enough packets go out without waiting for the others.
  const m2 = new BatchMerger(2, () => {});
  const old: number[] = [];
  m2.push(0, batch([1_000_000]));
  m2.drain(false, (_b, _v, _s, _c, _w, sec) => (old.push(sec), true));
  expect(old).toEqual([1_000_000]);
});

describe.skipIf(!privileged())("ringcap capture --workers on the namespace bench", () => {
  let bench: Bench;
  let dir: string;
  beforeAll(() => {
    bench = createBench();
    dir = mkdtempSync(join(tmpdir(), "ringcap-cliw-"));
  });
  afterAll(() => {
    bench?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("--workers 2 -w merges 100,000 frames into one pcap in timestamp order, each exactly once", async () => {
    const file = join(dir, "merged.pcap");
    const cap = startCapture(bench, ["--workers", "2", "-w", file, "--seconds", "30", "-c", "100000"]);
    await cap.started;
    const gen = await runGen(bench, ["--count", "100000", "--rate", "100000", "--flows", "256"]);
    expect(gen.sent).toBe(100_000);
    const r = await cap.result;
    expect(r.code).toBe(0);
    const tally = new SeqTally(100_000);
    const { packets, ordered } = tallyFile(file, tally);
    expect({ packets, unique: tally.unique, duplicates: tally.duplicates, foreign: tally.foreign, ordered })
      .toEqual({ packets: 100_000, unique: 100_000, duplicates: 0, foreign: 0, ordered: true });
    expect(r.err).toContain("100000 packets captured");
    expect(r.err).toMatch(/0 packets dropped by kernel/);
    // Both workers took part, and the summary shows the split.
    const split = /per worker: (\d+)\/(\d+) packets seen/.exec(r.err)!;
    expect(Number(split[1])).toBeGreaterThan(0);
    expect(Number(split[2])).toBeGreaterThan(0);
    // The real tools agree on the count.
    const td = spawnSync(["tcpdump", "-r", file, "-nn", "-q"], { stderr: "pipe" });
    expect(td.exitCode).toBe(0);
    expect(td.stdout.toString().trimEnd().split("\n").length).toBe(100_000);
  }, 60_000);

  test("--per-worker-files writes one pcapng per worker; together they hold every frame once and each flow lives in one file", async () => {
    const file = join(dir, "split.pcapng");
    const cap = startCapture(bench, ["--workers", "2", "--per-worker-files", "-w", file, "-c", "50000", "--seconds", "30"]);
    await cap.started;
    const gen = await runGen(bench, ["--count", "50000", "--rate", "100000", "--flows", "64", "--vlan", "7"]);
    const r = await cap.result;
    expect(r.code).toBe(0);
    const tally = new SeqTally(50_000, 46); // the VLAN tag is put back: the payload moves by 4
    const flowsIn = perWorkerPaths(file, 2).map((path) => {
      const flows = new Set<number>();
      readPcap(path, (view, rec) => {
        expect(view.getUint16(rec.offset + 12)).toBe(0x8100);
        expect(view.getUint16(rec.offset + 14) & 0x0fff).toBe(7);
        expect([rec.wire, rec.caplen]).toEqual([gen.frameLength, gen.frameLength]);
        if (tally.add(view, rec.offset, rec.caplen) >= 0) flows.add(view.getUint32(rec.offset + 46 + 12));
      });
      return flows;
    });
    expect({ unique: tally.unique, duplicates: tally.duplicates, foreign: tally.foreign }).toEqual({ unique: 50_000, duplicates: 0, foreign: 0 });
    expect(flowsIn[0].size).toBeGreaterThan(0);
    expect(flowsIn[1].size).toBeGreaterThan(0);
    expect([...flowsIn[0]].filter((f) => flowsIn[1].has(f))).toEqual([]);
    expect(flowsIn[0].size + flowsIn[1].size).toBe(64);
    // tshark reads each file and sees the interface name in its interface block.
    const ts = spawnSync(["tshark", "-r", perWorkerPaths(file, 2)[0], "-c", "1", "-T", "fields", "-e", "frame.interface_name"], { stderr: "pipe" });
    expect(ts.stdout.toString().trim()).toBe(bench.rx);
    expect(r.err).toContain("50000 packets captured");
  }, 60_000);

  test("-c stops after exactly COUNT packets over all workers, and printing works as without workers", async () => {
    const cap = startCapture(bench, ["--workers", "2", "-c", "25", "-tt", "--seconds", "20"]);
    await cap.started;
    await runGen(bench, ["--count", "2000", "--rate", "20000", "--flows", "16"]);
    const r = await cap.result;
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines.length).toBe(25);
    for (const line of lines) expect(line).toMatch(/^\d+\.\d{6} IP 198\.18\.0\.\d+\.10000 > 198\.19\.0\.1\.9: UDP, length \d+$/);
    const times = lines.map((l) => Number(l.split(" ")[0]));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(r.err).toContain("25 packets captured");
  }, 30_000);

  test("--workers prints the same lines as one capture does (-e -q -t), VLAN tags and all", async () => {
    const flags = ["-e", "-q", "-t", "-c", "40", "--seconds", "20"];
    const one = startCapture(bench, flags);
    const two = startCapture(bench, ["--workers", "2", ...flags]);
    await Promise.all([one.started, two.started]);
    await runGen(bench, ["--count", "20", "--rate", "2000", "--flows", "4", "--tcp", "--vlan", "7"]);
    await runGen(bench, ["--count", "20", "--rate", "2000", "--flows", "4", "--ipv6", "--seq-start", "20"]);
    const [a, b] = await Promise.all([one.result, two.result]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const lines = a.out.trimEnd().split("\n");
    expect(lines.length).toBe(40);
    expect(lines.filter((l) => l.includes("vlan 7")).length).toBe(20);
    expect(b.out.trimEnd().split("\n")).toEqual(lines);
  }, 30_000);

  test("SIGINT during a --workers capture leaves a complete file holding every packet the summary counts", async () => {
    const file = join(dir, "sigint.pcapng");
    const cap = startCapture(bench, ["--workers", "2", "-w", file, "--seconds", "30"]);
    await cap.started;
    const sending = runGen(bench, ["--count", "120000", "--rate", "50000", "--flows", "32"]);
    await Bun.sleep(1500);
    cap.proc.kill("SIGINT");
    const r = await cap.result;
    await sending;
    expect(r.code).toBe(0);
    const captured = Number(/(\d+) packets captured/.exec(r.err)![1]);
    expect(captured).toBeGreaterThan(1000);
    const tally = new SeqTally(120_000);
    const { packets, ordered } = tallyFile(file, tally);
    expect({ packets, duplicates: tally.duplicates, ordered }).toEqual({ packets: captured, duplicates: 0, ordered: true });
    const ts = spawnSync(["tshark", "-r", file, "-T", "fields", "-e", "frame.len"], { stderr: "pipe" });
    expect(ts.exitCode).toBe(0);
    expect(ts.stdout.toString().trimEnd().split("\n").length).toBe(captured);
  }, 60_000);

  test("bad --workers usage ends with exit 2, and an unwritable per-worker file with exit 6", async () => {
    const mode = await startCapture(bench, ["--workers", "2", "--fanout", "sideways"]).result;
    expect(mode.code).toBe(2);
    expect(mode.err).toContain("--fanout must be one of hash, lb, cpu, rollover, rnd, qm");
    const noFile = await startCapture(bench, ["--workers", "2", "--per-worker-files"]).result;
    expect(noFile.code).toBe(2);
    expect(noFile.err).toContain("--per-worker-files needs -w FILE");
    // Root ignores file permissions: a path under a regular file cannot be created by anyone.
    writeFileSync(join(dir, "placeholder"), "");
    const unwritable = await startCapture(bench, ["--workers", "2", "--per-worker-files", "-w", join(dir, "placeholder", "x.pcap")]).result;
    expect(unwritable.code).toBe(6);
    expect(unwritable.err).toContain("placeholder/x.0.pcap");
  }, 30_000);
});

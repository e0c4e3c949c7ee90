// `ringcap capture` when things go wrong: killed (SIGKILL) or ended by any stop signal, a disk
// that fills up (or is full from the start), stdout's reader going away (`| head`), the
// interface going down or away. Each case runs the CLI as a user does, on a namespace bench,
// one ring and --workers 2, and checks the file with tcpdump and the summary against the file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { Generator, type GeneratorOptions } from "../src/gen.ts";
import { BUN, CLI, type Finished, Proc, ringcap, seqs, summary, tcpdumpRead, until } from "./_cli.ts";
import { canMountTmpfs, mountTmpfs, type Tmpfs } from "./_tmpfs.ts";

const RING = ["-B", "2048"]; // 2 MiB rings: the traffic here is small, and many captures run at once
const WORKERS = ["--workers", "2"];
const MODES = [{ name: "one ring", flags: [] as string[] }, { name: "--workers 2", flags: WORKERS }];
const STACK_TRACE = /^\s+at /m;

/** Sends `count` frames at once (paced at `rate` when given). */
function send(bench: Bench, count: number, options: GeneratorOptions = {}): number {
  using g = new Generator(bench.tx, { netns: bench.name, ...options });
  return g.send(count, { maxMs: 10_000 }).sent;
}

/**
 * Sends one frame every `everyMs` (sequence numbers from 0) until `count` are sent, `maxMs`
 * has passed or `stop()` says so; resolves to each frame's send time (performance.now()).
 */
async function trickle(bench: Bench, everyMs: number, count: number, maxMs: number, stop: () => boolean = () => false): Promise<number[]> {
  using g = new Generator(bench.tx, { netns: bench.name });
  const times: number[] = [];
  const end = performance.now() + maxMs;
  while (times.length < count && performance.now() < end && !stop()) {
    g.send(1, { maxMs: 1000 });
    times.push(performance.now());
    await Bun.sleep(everyMs);
  }
  return times;
}

/** The packets in `files` (by tcpdump, which must read each whole), and their sequence numbers. */
function inFiles(files: string[]): { packets: number; seqs: number[] } {
  let packets = 0;
  const all: number[] = [];
  for (const f of files) {
    const t = tcpdumpRead(f);
    expect({ file: f, code: t.code, truncated: t.truncated }).toEqual({ file: f, code: 0, truncated: false });
    packets += t.packets;
    all.push(...seqs(f));
  }
  expect(all.length).toBe(packets);
  return { packets, seqs: all.sort((a, b) => a - b) };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe.skipIf(!privileged())("ringcap capture: the file survives", () => {
  let bench: Bench;
  let dir: string;
  let on: string[];

  beforeAll(() => {
    bench = createBench();
    dir = mkdtempSync(join(tmpdir(), "ringcap-faults-"));
    on = ["-i", bench.rx, "--netns", bench.name, ...RING];
  });
  afterAll(() => {
    bench?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("SIGKILL loses only the last moments: every packet sent 2 s before the kill is in a file tcpdump reads whole (default flush, -U, --workers 2 merged and per-worker files)", async () => {
    // The default flush is every second; -U writes each packet at once. The margins leave a
    // loaded machine a second of slack.
    const cases = [
      { name: "default", flags: ["-w", join(dir, "kill.pcap")], files: [join(dir, "kill.pcap")], marginMs: 2000 },
      { name: "-U", flags: ["-U", "-w", join(dir, "kill-U.pcapng")], files: [join(dir, "kill-U.pcapng")], marginMs: 1000 },
      { name: "--workers 2", flags: [...WORKERS, "-w", join(dir, "kill--workers.pcap")], files: [join(dir, "kill--workers.pcap")], marginMs: 2000 },
      {
        name: "--workers 2 --per-worker-files",
        flags: [...WORKERS, "--per-worker-files", "-w", join(dir, "kill-pw.pcap")],
        files: [join(dir, "kill-pw.0.pcap"), join(dir, "kill-pw.1.pcap")],
        marginMs: 2000,
      },
    ];
    const procs = cases.map((c) => ringcap(["capture", ...on, ...c.flags], 60_000));
    await Promise.all(procs.map((p) => p.started));
    // 20 frames a second for 4 s, then SIGKILL at once.
    const times = await trickle(bench, 50, 80, 8000);
    const killAt = performance.now();
    const results = await Promise.all(procs.map((p) => p.stop("SIGKILL")));
    cases.forEach((c, i) => {
      expect({ name: c.name, signal: results[i].signal }).toEqual({ name: c.name, signal: "SIGKILL" });
      const { seqs } = inFiles(c.files);
      const due = times.filter((t) => t <= killAt - c.marginMs).length;
      expect(due).toBeGreaterThan(20);
      // No packet twice, none that was not sent, and every one that was due.
      expect({ name: c.name, unique: new Set(seqs).size, inRange: seqs.every((s) => s >= 0 && s < times.length) })
        .toEqual({ name: c.name, unique: seqs.length, inRange: true });
      expect({ name: c.name, due: range(due).every((s) => seqs.includes(s)) }).toEqual({ name: c.name, due: true });
    });
  });

  test("SIGHUP, SIGINT, SIGTERM and SIGQUIT each end the capture with exit 0, the summary and a complete file (one ring and --workers 2)", async () => {
    const signals: NodeJS.Signals[] = ["SIGHUP", "SIGINT", "SIGTERM", "SIGQUIT"];
    const cases = signals.flatMap((signal) =>
      MODES.map((m) => ({ signal, mode: m.name, flags: m.flags, file: join(dir, `${signal}-${m.flags.length ? "G" : "one"}.pcap`) }))
    );
    const procs = cases.map((c) => ringcap(["capture", ...on, ...c.flags, "-w", c.file], 60_000));
    await Promise.all(procs.map((p) => p.started));
    expect(send(bench, 300, { rate: 3000 })).toBe(300);
    // The frames are on their way through the veth's backlog; the signal then keeps what has arrived.
    await Bun.sleep(500);
    cases.forEach((c, i) => procs[i].child.kill(c.signal));
    const results = await Promise.all(procs.map((p) => p.done));
    cases.forEach((c, i) => {
      const r = results[i];
      const { signal, mode } = c;
      expect({ signal, mode, code: r.code, killedBy: r.signal, trace: STACK_TRACE.test(r.err) }).toEqual({ signal, mode, code: 0, killedBy: null, trace: false });
      expect({ signal, mode, summary: summary(r.err) }).toEqual({ signal, mode, summary: { captured: 300, received: 300, dropped: 0 } });
      expect({ signal, mode, seqs: inFiles([c.file]).seqs }).toEqual({ signal, mode, seqs: range(300) });
    });
  });

  test("under nohup (SIGHUP ignored from the start) SIGHUP does not end the capture; SIGTERM then does", async () => {
    const file = join(dir, "nohup.pcap");
    const proc = new Proc("nohup", [BUN, CLI, "capture", ...on, "-w", file], undefined, 60_000);
    await proc.started;
    send(bench, 10);
    proc.child.kill("SIGHUP");
    // Long enough for a handler to have ended it, had there been one.
    await Bun.sleep(1000);
    expect(proc.running).toBe(true);
    const r = await proc.stop("SIGTERM");
    expect(r.code).toBe(0);
    expect(summary(r.err).captured).toBe(10);
    expect(inFiles([file]).packets).toBe(10);
  });

  test("stdout's reader going away (| head) ends the capture at once with exit 0 and no stack trace: printing and -w -, one ring and --workers 2", async () => {
    const cases = MODES.flatMap((m) => [
      // printing: `| head -n 2`
      { name: `${m.name}, printing`, flags: m.flags, enough: (p: Proc) => p.outLines >= 2 },
      // -w -: `| head -c 24` (the file header, which is written when the file opens)
      { name: `${m.name}, -w -`, flags: [...m.flags, "-w", "-"], enough: (p: Proc) => p.outBytes >= 24 },
    ]);
    const procs = cases.map((c) => ringcap(["capture", ...on, ...c.flags], 40_000));
    await Promise.all(procs.map((p) => p.started));
    const closed = cases.map(() => false);
    // Frames keep coming (50 a second, at most 20 s) until every capture has ended.
    const traffic = trickle(bench, 20, 1000, 20_000, () => procs.every((p) => !p.running));
    const watcher = until(() => {
      cases.forEach((c, i) => {
        if (!closed[i] && c.enough(procs[i])) {
          procs[i].closeStdout();
          closed[i] = true;
        }
      });
      return closed.every((x) => x);
    }, 20_000);
    const results: Finished[] = await Promise.all(procs.map((p) => p.done));
    await watcher;
    const sent = (await traffic).length;
    cases.forEach((c, i) => {
      const r = results[i];
      expect({ name: c.name, code: r.code, killedBy: r.signal, trace: STACK_TRACE.test(r.err), epipe: /EPIPE|broken pipe/i.test(r.err) })
        .toEqual({ name: c.name, code: 0, killedBy: null, trace: false, epipe: false });
      // Printed lines went out before the reader left; with -w - the packets after the header
      // never reached it, and the summary counts only what did.
      if (c.name.endsWith("printing")) expect(summary(r.err).captured).toBeGreaterThan(0);
      else expect(summary(r.err).captured).toBe(0);
    });
    // It ended because its reader went, not because the traffic did.
    expect(sent).toBeLessThan(1000);
  });
});

describe.skipIf(!privileged() || !canMountTmpfs())("ringcap capture on a full disk (a 1 MiB tmpfs)", () => {
  let bench: Bench;
  let on: string[];
  const mounts: Tmpfs[] = [];
  const tmpfs = (kib: number) => {
    const fs = mountTmpfs(kib);
    mounts.push(fs);
    return fs.dir;
  };

  beforeAll(() => {
    bench = createBench();
    on = ["-i", bench.rx, "--netns", bench.name, ...RING];
  });
  afterAll(() => {
    for (const m of mounts) m[Symbol.dispose]();
    bench?.destroy();
  });

  test("the capture ends by itself with exit 6 once the disk is full, and the summary counts exactly the packets the file holds (one ring, --workers 2, --per-worker-files)", async () => {
    const cases = [
      { name: "one ring", flags: [] as string[], file: "full.pcap", files: ["full.pcap"] },
      { name: "--workers 2", flags: WORKERS, file: "full.pcapng", files: ["full.pcapng"] },
      { name: "--workers 2 --per-worker-files", flags: [...WORKERS, "--per-worker-files"], file: "pw.pcap", files: ["pw.0.pcap", "pw.1.pcap"] },
    ].map((c) => ({ ...c, dir: tmpfs(1024) }));
    // No --seconds: a capture that did not end by itself would be killed after 40 s, and fail.
    const procs = cases.map((c) => ringcap(["capture", ...on, ...c.flags, "-w", join(c.dir, c.file)], 40_000));
    await Promise.all(procs.map((p) => p.started));
    // 3000 frames of 1000 bytes: about three times what fits.
    expect(send(bench, 3000, { size: 1000, rate: 5000, flows: 8 })).toBe(3000);
    const results = await Promise.all(procs.map((p) => p.done));
    cases.forEach((c, i) => {
      const r = results[i];
      expect({ name: c.name, code: r.code, trace: STACK_TRACE.test(r.err) }).toEqual({ name: c.name, code: 6, trace: false });
      expect(r.err).toContain("no space left on device");
      expect(r.err).toContain(c.dir);
      // Every file is there, none empty: at least its header, then whole records only.
      for (const f of c.files) expect({ f, size: statSync(join(c.dir, f)).size > 0 }).toEqual({ f, size: true });
      const { packets, seqs } = inFiles(c.files.map((f) => join(c.dir, f)));
      const { captured } = summary(r.err);
      expect({ name: c.name, captured }).toEqual({ name: c.name, captured: packets });
      expect(packets).toBeGreaterThan(0);
      expect(packets).toBeLessThan(3000);
      expect(new Set(seqs).size).toBe(packets);
    });
  });

  test("a disk full from the start fails at open with exit 6, before capturing, and leaves no empty file", async () => {
    const cases = [
      { name: "one ring", flags: [] as string[], file: "x.pcap" },
      { name: "--workers 2", flags: WORKERS, file: "x.pcap" },
      { name: "--workers 2 --per-worker-files", flags: [...WORKERS, "--per-worker-files"], file: "x.pcap" },
    ].map((c) => {
      const d = tmpfs(64);
      // Fill it.
      const fd = openSync(join(d, "filler"), "w");
      try {
        for (let i = 0; i < 64; i++) writeSync(fd, new Uint8Array(4096));
      } catch {
        // ENOSPC: full.
      } finally {
        closeSync(fd);
      }
      return { ...c, dir: d };
    });
    const results = await Promise.all(cases.map((c) => ringcap(["capture", ...on, ...c.flags, "--seconds", "30", "-w", join(c.dir, c.file)], 40_000).done));
    cases.forEach((c, i) => {
      const r = results[i];
      expect({ name: c.name, code: r.code, capturing: r.err.includes("capturing on"), trace: STACK_TRACE.test(r.err) })
        .toEqual({ name: c.name, code: 6, capturing: false, trace: false });
      expect(r.err).toContain("no space left on device");
      expect({ name: c.name, left: readdirSync(c.dir) }).toEqual({ name: c.name, left: ["filler"] });
    });
  });
});

describe.skipIf(!privileged())("ringcap capture when the interface goes down or away", () => {
  const cases = MODES.flatMap((m) => (["set down", "deleted"] as const).map((what) => ({ ...m, what })));

  test.each(cases)("$name, interface $what: exit 5 at once, the file complete with every packet the ring held", async ({ flags, what }) => {
    using bench = createBench();
    const dir = mkdtempSync(join(tmpdir(), "ringcap-down-"));
    try {
      const file = join(dir, "down.pcap");
      const proc = ringcap(["capture", "-i", bench.rx, "--netns", bench.name, ...RING, ...flags, "-w", file], 30_000);
      await proc.started;
      expect(send(bench, 50)).toBe(50);
      await Bun.sleep(500);
      if (what === "set down") bench.ip("link", "set", "dev", bench.rx, "down");
      else bench.ip("link", "del", bench.rx);
      // Bounded by the process's 30 s: one that did not notice would be killed (code null).
      const r = await proc.done;
      expect({ code: r.code, trace: STACK_TRACE.test(r.err) }).toEqual({ code: 5, trace: false });
      expect(r.err).toContain("network down");
      expect(summary(r.err).captured).toBe(50);
      expect(existsSync(file)).toBe(true);
      expect(inFiles([file]).seqs).toEqual(range(50));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

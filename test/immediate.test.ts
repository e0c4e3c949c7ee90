// Immediate mode (issue 13): a TPACKET_V2 ring whose frames the library hands over as they
// arrive, in blocks shaped as every other block. Checked against the kernel in a namespace of
// the test's own: every frame exactly once (one interface, "any", a fanout pool), a lone frame
// without waiting for the block timeout, and the rest of the library reading the blocks
// unchanged (VLAN tags, snaplen, filters, stats). No timing goals: BENCHMARKS.md has those.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Capture, openCapture } from "../src/capture.ts";
import { openFanout } from "../src/fanout/pool.ts";
import { Generator } from "../src/gen.ts";
import { LINKTYPE, PACKET_TYPE } from "../mod.ts";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { drainUntil, runGen, SeqTally } from "./_traffic.ts";
import { BUN, CLI, Proc, seqOf, until } from "./_cli.ts";
import { spawnSync } from "node:child_process";
import type { SeqReport } from "./_fanout_handlers/seq.ts";
import { immediateMode } from "../src/cli/capture_output.ts";
import { parseCaptureArgs } from "../src/cli/capture_options.ts";
import { UsageError } from "../src/cli/flags.ts";

/** A block timeout far longer than any wait below: a frame that came, came without it. */
const LONG_TIMEOUT = { blockTimeoutMs: 2000 };
const SMALL = { blockSize: 1 << 16, blockCount: 16, frameSize: 2048, ...LONG_TIMEOUT };

describe.skipIf(!privileged())("immediate mode on the namespace bench", () => {
  let bench: Bench;
  beforeAll(() => {
    bench = createBench();
  });
  afterAll(() => bench?.destroy());

  const open = (opts: Parameters<typeof openCapture>[1] = {}): Capture =>
    openCapture(bench.rx, { netns: bench.name, immediate: true, ...opts });
  const gen = (opts: ConstructorParameters<typeof Generator>[1] = {}) =>
    new Generator(bench.tx, { netns: bench.name, ...opts });

  test("a lone frame comes without waiting for the block timeout (nextBlock and blocks()); without immediate mode it waits", async () => {
    using cap = open({ ring: SMALL });
    expect(cap.info.immediate).toBe(true);
    using g = gen();
    for (let i = 0; i < 3; i++) {
      expect(g.send(1).sent).toBe(1);
      // 500 ms is a quarter of the block timeout: only immediate mode hands the frame over.
      const block = cap.nextBlock(500);
      expect(block).not.toBeNull();
      expect(block!.packetCount).toBe(1);
      const [p] = [...block!];
      expect(Math.abs(Date.now() - p.timestampMs)).toBeLessThan(60_000);
      block!.release();
    }
    setTimeout(() => g.send(1), 20);
    let got = 0;
    for await (const block of cap.blocks({ signal: AbortSignal.timeout(1000) })) {
      got += block.packetCount;
      if (got) break;
    }
    expect(got).toBe(1);
    expect(cap.stats().received).toBe(4);

    // The same with a TPACKET_V3 ring: the frame waits in its block for the 2 s timer.
    using v3 = open({ ring: SMALL, immediate: false });
    expect(v3.info.immediate).toBe(false);
    expect(g.send(1).sent).toBe(1);
    expect(v3.nextBlock(500)).toBeNull();
  });

  test("20,000 sequence-numbered frames at a paced rate are each seen exactly once, and stats count them", async () => {
    using cap = open();
    const count = 20_000;
    const tally = new SeqTally(count);
    const sent = runGen(bench, ["--count", String(count), "--rate", "20000", "--flows", "16", "--max-seconds", "30"]);
    let blocks = 0;
    await drainUntil(cap, sent, (v, off, len) => tally.add(v, off, len), { graceMs: 300 });
    expect((await sent).sent).toBe(count);
    expect({ duplicates: tally.duplicates, missing: tally.missing(), foreign: tally.foreign }).toEqual({ duplicates: 0, missing: 0, foreign: 0 });
    const stats = cap.stats();
    expect(stats).toEqual({ received: count, drops: 0, freezes: 0, interfaceDrops: 0 });
    // A burst fills a block with many frames: the copy is per batch, not per frame.
    using g = gen();
    expect(g.send(500).sent).toBe(500);
    let seen = 0;
    while (seen < 500) {
      const block = cap.nextBlock(1000);
      if (!block) break;
      blocks++;
      seen += block.packetCount;
      block.release();
    }
    expect(seen).toBe(500);
    expect(blocks).toBeLessThan(500);
  }, 60_000);

  test("a full V2 ring is counted as drops, and seen + dropped = sent", async () => {
    // 4 frames of ring: a burst of 2000 overruns it.
    using cap = open({ ring: { blockSize: 4096, blockCount: 2, frameSize: 2048 } });
    using g = gen();
    expect(g.send(2000).sent).toBe(2000);
    let seen = 0;
    await drainUntil(cap, Promise.resolve(), () => seen++, { graceMs: 200 });
    const s = cap.stats();
    expect(s.drops).toBeGreaterThan(0);
    expect(seen + s.drops).toBe(2000);
    expect(s.received).toBe(seen);
  });

  test("VLAN tags, snaplen, filters and decode read immediate blocks as any other, and as a V3 ring's", () => {
    using tagged = open({ ring: SMALL });
    using ring = open({ ring: { ...SMALL, blockTimeoutMs: 5 }, immediate: false });
    using g = gen({ vlan: { id: 100, priority: 5 }, size: 200 });
    g.send(1);
    const [p] = [...tagged.nextBlock(1000)!];
    const [q] = [...ring.nextBlock(1000)!];
    expect([p.vlanValid, p.vlanTci & 0xfff, p.vlanTci >> 13, p.vlanTpid]).toEqual([true, 100, 5, 0x8100]);
    expect(p.length).toBe(g.frameLength - 4);
    expect(p.caplen).toBe(p.length);
    expect(p.withVlanTag().length).toBe(g.frameLength);
    const d = p.decode();
    expect([d.vlanId, d.ipVersion, d.ipv4Src !== undefined]).toEqual([100, 4, true]);
    // The same frame through a TPACKET_V3 ring: the same metadata and bytes.
    const fields = (x: typeof p) => [x.packetType, x.ifindex, x.length, x.caplen, x.vlanTci, x.vlanTpid, Buffer.from(x.withVlanTag()).toString("hex")];
    expect(fields(p)).toEqual(fields(q));
    expect(p.ifindex).toBe(tagged.info.ifindex);

    using cut = open({ ring: SMALL, snaplen: 64, filter: "udp and net 198.18.0.0/15" });
    using plain = gen({ size: 300 });
    using v6 = gen({ ipv6: true });
    v6.send(1); // refused by the filter
    plain.send(1);
    const block = cut.nextBlock(1000)!;
    const all = [...block];
    expect(all.length).toBe(1);
    expect([all[0].caplen, all[0].length]).toEqual([64, 300]);
  });

  test('"any" in immediate mode: each frame exactly once each way, with its LINUX_SLL2 header', async () => {
    using cap = openCapture("any", { netns: bench.name, immediate: true, filter: "udp and net 198.18.0.0/15", ring: SMALL });
    expect(cap.info.linkType).toBe(LINKTYPE.LINUX_SLL2);
    const count = 200;
    using g = gen();
    const seen = new Map<string, number>();
    const sending = (async () => {
      for (let i = 0; i < count; i += 20) {
        expect(g.send(20).sent).toBe(20);
        await Bun.sleep(2);
      }
    })();
    await drainUntil(cap, sending, (view, off, caplen) => {
      expect(view.getUint16(off)).toBe(0x0800); // SLL2 protocol
      const ifindex = view.getInt32(off + 4);
      const kind = cap.bytes[off + 10];
      const seq = seqOf(cap.bytes.subarray(off, off + caplen));
      const key = `${seq} ${cap.interfaceName(ifindex)} ${kind === PACKET_TYPE.outgoing ? "out" : "in"}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }, { graceMs: 300 });
    const expected = Array.from({ length: count }, (_, i) => [`${i} ${bench.tx} out`, `${i} ${bench.rx} in`]).flat().sort();
    expect([...seen.keys()].sort()).toEqual(expected);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  /** The TPACKET version (ss's "ver": 1 is V2, 2 is V3) of the packet socket bound to `iface` in the bench, if one is. */
  function ringVersion(iface: string): number | undefined {
    const r = spawnSync("ip", ["netns", "exec", bench.name, "ss", "-0", "-e"], { encoding: "utf8", timeout: 10_000 });
    const lines = r.stdout.split("\n");
    const at = lines.findIndex((l) => l.includes(`*:${iface} `));
    const ver = at < 0 ? undefined : /ver:(\d+)/.exec(lines[at + 1] ?? "")?.[1];
    return ver === undefined ? undefined : Number(ver);
  }

  test("capture's ring: TPACKET_V2 with --immediate-mode as tcpdump's, and by default when printing to a terminal (script's pseudo-terminal)", async () => {
    const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
    const ringcap = (...more: string[]) => [BUN, CLI, "capture", "-i", bench.rx, "--netns", bench.name, "-c", "1", ...more, "udp"];
    const tcpdump = (...more: string[]) => ["ip", "netns", "exec", bench.name, "tcpdump", "-i", bench.rx, "-n", "-c", "1", ...more, "udp"];
    const runs: Record<string, { cmd: string[]; tty: boolean }> = {
      "ringcap --immediate-mode | cat": { cmd: ringcap("--immediate-mode"), tty: false },
      "tcpdump --immediate-mode | cat": { cmd: tcpdump("--immediate-mode"), tty: false },
      "ringcap | cat": { cmd: ringcap(), tty: false },
      "tcpdump | cat": { cmd: tcpdump(), tty: false },
      "ringcap on a terminal": { cmd: ringcap(), tty: true },
      "ringcap -w FILE on a terminal": { cmd: ringcap("-w", "/dev/null"), tty: true },
      "ringcap --block-timeout 10 on a terminal": { cmd: ringcap("--block-timeout", "10"), tty: true },
    };
    using g = gen();
    const seen: Record<string, number | undefined> = {};
    for (const [name, { cmd, tty }] of Object.entries(runs)) {
      const p = tty ? new Proc("script", ["-q", "-e", "-c", cmd.map(quote).join(" "), "/dev/null"], /^$/, 30_000) : new Proc(cmd[0], cmd.slice(1), /^$/, 30_000);
      let version: number | undefined;
      await until(() => (version = ringVersion(bench.rx)) !== undefined || !p.running, 15_000);
      // One frame ends it (-c 1); a few more in case the first came before the socket was bound.
      for (let i = 0; i < 5 && p.running; i++) {
        g.send(1);
        await until(() => !p.running, 1000);
      }
      const r = await p.stop();
      expect({ name, code: r.code }).toEqual({ name, code: 0 });
      seen[name] = version;
    }
    // ss's "ver": 1 is TPACKET_V2 (immediate), 2 is TPACKET_V3.
    expect(seen).toEqual({
      "ringcap --immediate-mode | cat": 1,
      "tcpdump --immediate-mode | cat": 1,
      "ringcap | cat": 2,
      "tcpdump | cat": 2,
      "ringcap on a terminal": 1,
      "ringcap -w FILE on a terminal": 2,
      "ringcap --block-timeout 10 on a terminal": 2,
    });
  }, 90_000);

  test("a fanout pool in immediate mode: every frame exactly once over its workers", async () => {
    const count = 20_000;
    const pool = await openFanout<{ count: number }, SeqReport>(bench.rx, {
      netns: bench.name,
      workers: 2,
      mode: "hash",
      immediate: true,
      ring: { blockSize: 1 << 20, blockCount: 4, frameSize: 2048 },
      worker: new URL("./_fanout_handlers/seq.ts", import.meta.url),
      workerData: { count },
      reportIntervalMs: 200,
    });
    try {
      expect(pool.info.every((i) => i?.immediate === true)).toBe(true);
      const sent = await runGen(bench, ["--count", String(count), "--rate", "20000", "--flows", "64", "--max-seconds", "30"]);
      expect(sent.sent).toBe(count);
      await until(() => pool.stats().total.packets >= count, 5000);
    } finally {
      await pool.close();
    }
    const { total, perWorker } = pool.stats();
    expect(total).toMatchObject({ received: count, drops: 0, packets: count });
    expect(perWorker.every((w) => w.packets > 0)).toBe(true);
    const finals = pool.result() as SeqReport[];
    expect(finals.reduce((n, f) => n + f.unique, 0)).toBe(count);
    expect(finals.every((f) => f.duplicates === 0 && f.foreign === 0)).toBe(true);
  }, 60_000);
});

describe("immediate mode's options", () => {
  test("immediate must be a boolean", () => {
    expect(() => openCapture("lo", { immediate: "yes" as unknown as boolean })).toThrow(/immediate must be true or false/);
  });

  test("the CLI: --immediate-mode, --block-timeout for not, else on when printing to a terminal", () => {
    const parse = (args: string[]) => {
      const r = parseCaptureArgs(["-i", "lo", ...args]);
      if (r.kind !== "capture") throw new Error(r.kind);
      return r.options;
    };
    expect(parse(["--immediate-mode"]).immediate).toBe(true);
    expect(parse(["--block-timeout", "50"]).immediate).toBe(false);
    expect(parse([]).immediate).toBeUndefined();
    // As tcpdump: printed lines to a terminal; not to a pipe or a file, not with -w.
    expect(immediateMode(parse([]), true)).toBe(true);
    expect(immediateMode(parse([]), false)).toBe(false);
    expect(immediateMode(parse(["-w", "/tmp/x.pcap"]), true)).toBe(false);
    expect(immediateMode(parse(["-w", "/tmp/x.pcap", "--immediate-mode"]), false)).toBe(true);
    expect(immediateMode(parse(["--block-timeout", "50"]), true)).toBe(false);
    expect(() => parse(["--immediate-mode", "--block-timeout", "50"])).toThrow(UsageError);
    expect(() => parseCaptureArgs(["-r", "x.pcap", "--immediate-mode"])).toThrow(/--immediate-mode cannot apply with -r/);
  });
});

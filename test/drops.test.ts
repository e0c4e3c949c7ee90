// Honest drops and timestamp types (issue 13): the interface's own drop counters in stats(), in
// a pool (once, not per worker) and in the CLI summary; -j on an interface without a hardware
// clock; --time-stamp-precision micro against tcpdump's own microsecond files.
//
// The drops are real ones, made deterministically: the capture's veth end gets an MTU of 1000
// and frames of 1400 bytes are sent to it; the kernel drops each on receive (veth forwards
// nothing longer than the receiver's MTU) and counts it in that interface's rx_dropped, before
// any packet socket sees it. The sending end has a pfifo queue, so the sender's send succeeds
// once per frame and each frame is dropped exactly once. libpcap 1.10.3 counts only rx_missed_errors and rx_fifo_errors (and
// only in promiscuous mode), which no veth raises, so tcpdump has no figure to compare with here:
// the oracle for the count is the kernel's own counter, read from sysfs inside the namespace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { Generator, type GeneratorOptions } from "../src/gen.ts";
import { openCapture, openFanout, type RingcapError, timestampTypes } from "../mod.ts";
import { BUN, CLI, framesSoFar, Proc, ringcap, tool, until } from "./_cli.ts";

const RING = { blockSize: 1 << 16, blockCount: 4, frameSize: 2048, blockTimeoutMs: 5 };
/** Longer than the receiving end's MTU (1000): the veth drops it on receive. */
const OVERSIZE = 1400;

function send(bench: Bench, options: GeneratorOptions, count: number): number {
  using g = new Generator(bench.tx, { netns: bench.name, ...options });
  return g.send(count, { maxMs: 5000 }).sent;
}

describe.skipIf(!privileged())("interface drops and timestamp types", () => {
  let bench: Bench;
  let dir: string;
  let on: string[];
  const rxDropped = () => bench.counter(bench.rx, "rx_dropped");

  beforeAll(() => {
    bench = createBench();
    bench.ip("link", "set", "dev", bench.rx, "mtu", "1000");
    // A queue on the sending end: a frame the veth then drops was still sent (without one, the
    // sender's socket is told ENOBUFS and the generator sends it again).
    tool("ip", ["netns", "exec", bench.name, "tc", "qdisc", "add", "dev", bench.tx, "root", "pfifo", "limit", "1000"]);
    dir = mkdtempSync(join(tmpdir(), "ringcap-drops-"));
    on = ["-i", bench.rx, "--netns", bench.name];
  });
  afterAll(() => {
    bench?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("stats().interfaceDrops counts what the interface dropped since the open, as its rx_dropped does", async () => {
    expect(send(bench, { size: OVERSIZE }, 5)).toBe(5); // before the open: not this capture's
    const before = rxDropped();
    expect(before).toBeGreaterThanOrEqual(5);
    using cap = openCapture(bench.rx, { netns: bench.name, ring: RING });
    expect(cap.stats().interfaceDrops).toBe(0);
    expect(send(bench, { size: OVERSIZE }, 7)).toBe(7);
    expect(send(bench, {}, 3)).toBe(3);
    await until(() => cap.stats().received >= 3, 3000);
    const dropped = rxDropped() - before;
    expect(dropped).toBe(7);
    expect(cap.stats().interfaceDrops).toBe(dropped);
    // The ring saw none of them: the frames that fit only.
    let seen = 0;
    while (true) {
      const b = cap.nextBlock(0);
      if (!b) break;
      for (const p of b) if (p.wireLength === OVERSIZE) seen++;
      b.release();
    }
    expect(seen).toBe(0);
  });

  test('"any" counts the drops of every interface of the namespace; several interfaces sum theirs', async () => {
    using any = openCapture("any", { netns: bench.name, ring: RING });
    using both = openCapture([bench.rx, bench.tx], { netns: bench.name, ring: RING });
    using other = openCapture(bench.tx, { netns: bench.name, ring: RING });
    const before = rxDropped();
    expect(send(bench, { size: OVERSIZE }, 4)).toBe(4);
    expect(rxDropped() - before).toBe(4);
    expect(any.stats().interfaceDrops).toBe(4);
    expect(both.stats().interfaceDrops).toBe(4);
    expect(other.stats().interfaceDrops).toBe(0);
  });

  test("a fanout pool counts the interface's drops once, not once per worker", async () => {
    await using pool = await openFanout(bench.rx, {
      netns: bench.name,
      ring: RING,
      workers: 2,
      reportIntervalMs: 50,
      worker: new URL("./_fanout_handlers/count.ts", import.meta.url),
    });
    const before = rxDropped();
    expect(send(bench, { size: OVERSIZE }, 6)).toBe(6);
    expect(rxDropped() - before).toBe(6);
    await until(() => pool.stats().perWorker.every((w) => w.interfaceDrops >= 6), 3000);
    await pool.close();
    const { total, perWorker } = pool.stats();
    expect(perWorker.map((w) => w.interfaceDrops)).toEqual([6, 6]);
    expect(total.interfaceDrops).toBe(6);
  });

  test('the CLI summary adds tcpdump\'s "N packets dropped by interface" line, and only when N is not 0', async () => {
    const run = async (oversize: number) => {
      const file = join(dir, `summary-${oversize}.pcap`);
      const p = ringcap(["capture", ...on, "-B", "1024", "-U", "-w", file, "--no-status"]);
      await p.started;
      expect(send(bench, { size: OVERSIZE }, oversize)).toBe(oversize);
      expect(send(bench, {}, 2)).toBe(2);
      await until(() => framesSoFar(file).length >= 2, 5000);
      const r = await p.stop();
      expect(r.code).toBe(0);
      return r.err;
    };
    expect(await run(3)).toMatch(/^\d+ packets captured\n\d+ packets received by filter\n0 packets dropped by kernel\n3 packets dropped by interface\n?$/m);
    expect(await run(1)).toMatch(/\n0 packets dropped by kernel\n1 packet dropped by interface\n?$/);
    expect(await run(0)).toMatch(/\n0 packets dropped by kernel\n?$/);
  }, 30_000);

  test("flows --json reports the interface's drops in its interfaceDrops field", async () => {
    const p = new Proc(BUN, [CLI, "flows", ...on, "-B", "1024", "--json", "--interval", "0.2", "--seconds", "10"], /./, 20_000);
    // The first JSON line means the capture is open.
    await until(() => p.outLines >= 1, 10_000);
    expect(send(bench, { size: OVERSIZE }, 5)).toBe(5);
    const seen = p.outLines;
    await until(() => p.outLines >= seen + 2, 5000);
    const r = await p.stop();
    const last = JSON.parse(r.out.trim().split("\n").pop()!);
    expect(last.interfaceDrops).toBe(5);
    expect(last.drops).toBe(0);
  }, 30_000);

  test("-j adapter on a veth: exit 2 with tcpdump's words (where tcpdump warns and falls back to the host's clock)", async () => {
    // tcpdump -d opens the device (and says so) before it prints the program.
    const t = tool("ip", ["netns", "exec", bench.name, "tcpdump", "-j", "adapter", "-i", bench.rx, "-d"]);
    const warning = /When trying to set timestamp type 'adapter' on \S+: (.+)$/m.exec(t.err);
    expect(warning).not.toBeNull();
    for (const type of ["adapter", "adapter_unsynced"]) {
      const r = await ringcap(["capture", ...on, "-j", type, "-c", "1"], 20_000).done;
      expect(r.code).toBe(2);
      expect(r.err).toContain(`When trying to set timestamp type '${type}' on ${bench.rx}: ${warning![1]}`);
    }
    const bogus = await ringcap(["capture", ...on, "-j", "bogus", "-c", "1"], 20_000).done;
    expect(bogus.code).toBe(2);
    expect(bogus.err).toContain("invalid time stamp type bogus");
    let code = "";
    try {
      openCapture(bench.rx, { netns: bench.name, ring: RING, timestampType: "adapter_unsynced" }).close();
    } catch (e) {
      code = (e as RingcapError).code;
    }
    expect(code).toBe("timestamp_type_not_supported");
  }, 30_000);

  test("-J lists the timestamp types as tcpdump -J does (a veth: host only)", async () => {
    const t = tool("ip", ["netns", "exec", bench.name, "tcpdump", "-J", "-i", bench.rx]);
    expect(t.code).toBe(0);
    const r = await ringcap(["capture", ...on, "-J"], 20_000).done;
    expect(r.code).toBe(0);
    expect(r.err).toBe(t.err); // tcpdump 4.99 lists them on stderr
    expect(r.out).toBe("");
    expect(timestampTypes(bench.rx, { netns: bench.name })).toEqual(["host"]);
    const any = await ringcap(["capture", "-i", "any", "--netns", bench.name, "-J"], 20_000).done;
    expect(any.err).toBe(tool("ip", ["netns", "exec", bench.name, "tcpdump", "-J", "-i", "any"]).err);
    let code = "";
    try {
      timestampTypes("nosuch0", { netns: bench.name });
    } catch (e) {
      code = (e as RingcapError).code;
    }
    expect(code).toBe("no_such_interface");
  }, 30_000);

  test("a host-stamped packet says its stamp is the host's clock, never a NIC's", async () => {
    using cap = openCapture(bench.rx, { netns: bench.name, ring: RING, timestampType: "host" });
    expect(send(bench, {}, 2)).toBe(2);
    await until(() => cap.stats().received >= 2, 3000);
    const sources = new Set<string>();
    while (true) {
      const b = cap.nextBlock(0);
      if (!b) break;
      for (const p of b) sources.add(p.timestampSource);
      b.release();
    }
    // TS_SOFTWARE when the stack stamped the frame on receive, no bit when nothing on the host
    // asked for receive stamps and the ring's own read of the clock stands.
    expect(sources.size).toBeGreaterThan(0);
    for (const s of sources) expect(["software", "none"]).toContain(s);
  });

  test("--time-stamp-precision micro writes the microsecond pcap tcpdump writes, byte for byte, and a pcapng tcpdump reads alike", async () => {
    const nano = join(dir, "nano.pcap");
    const p = ringcap(["capture", ...on, "-B", "1024", "-U", "-w", nano, "--no-status"]);
    await p.started;
    expect(send(bench, { flows: 3, size: 200 }, 20)).toBe(20);
    await until(() => framesSoFar(nano).length >= 20, 5000);
    expect((await p.stop()).code).toBe(0);

    const ours = join(dir, "micro.pcap");
    const theirs = join(dir, "tcpdump-micro.pcap");
    const oursNg = join(dir, "micro.pcapng");
    expect((await ringcap(["capture", "-r", nano, "-w", ours, "--time-stamp-precision", "micro"]).done).code).toBe(0);
    expect((await ringcap(["capture", "-r", nano, "-w", oursNg, "--time-stamp-precision", "micro"]).done).code).toBe(0);
    expect(tool("tcpdump", ["-r", nano, "--time-stamp-precision", "micro", "-w", theirs]).code).toBe(0);
    const bytes = readFileSync(ours);
    expect(bytes.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(Buffer.compare(bytes, readFileSync(theirs))).toBe(0);
    const lines = (f: string) => tool("tcpdump", ["-r", f, "-n", "-tt"]).out;
    const expected = lines(nano);
    expect(expected.split("\n").filter((l) => l).length).toBeGreaterThanOrEqual(20);
    expect(lines(ours)).toBe(expected);
    expect(lines(oursNg)).toBe(expected);

    // Live, straight to a microsecond file.
    const live = join(dir, "live-micro.pcap");
    const q = ringcap(["capture", ...on, "-B", "1024", "-U", "-w", live, "--time-stamp-precision", "micro", "--no-status"]);
    await q.started;
    expect(send(bench, {}, 5)).toBe(5);
    await until(() => framesSoFar(live).length >= 5, 5000);
    expect((await q.stop()).code).toBe(0);
    expect(readFileSync(live).readUInt32LE(0)).toBe(0xa1b2c3d4);
    const read = tool("tcpdump", ["-r", live, "-n", "-tt"]);
    expect(read.code).toBe(0);
    expect(read.out.split("\n").filter((l) => /^\d+\.\d{6} /.test(l)).length).toBeGreaterThanOrEqual(5);
    const refused = await ringcap(["capture", ...on, "--time-stamp-precision", "micro", "-c", "1"]).done;
    expect(refused.code).toBe(2);
  }, 40_000);
});

// Capture against the real kernel, inside a namespace of the test's own (see _netns.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Capture, openCapture, Waker } from "../src/capture.ts";
import { PACKET_TYPE } from "../src/packet.ts";
import { ClosedError, InterfaceError, RingcapError } from "../src/errors.ts";
import { Generator } from "../src/gen.ts";
import { type BpfProgram, programFromInstructions } from "../src/bpf/program.ts";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { BUN, drainUntil, runGen, SeqTally } from "./_traffic.ts";

const canCapture = privileged();
const small = { blockSize: 1 << 16, blockCount: 8, frameSize: 2048, blockTimeoutMs: 10 };

describe.skipIf(!canCapture)("capture on the namespace bench", () => {
  let bench: Bench;
  beforeAll(() => {
    bench = createBench();
  });
  afterAll(() => bench?.destroy());

  const open = (opts: Parameters<typeof openCapture>[1] = {}): Capture =>
    openCapture(bench.rx, { netns: bench.name, ...opts });
  const gen = (opts: ConstructorParameters<typeof Generator>[1] = {}) =>
    new Generator(bench.tx, { netns: bench.name, ...opts });

  test("1,000,000 sequence-numbered frames at a paced rate are each seen exactly once", async () => {
    using cap = open();
    const count = 1_000_000;
    const tally = new SeqTally(count);
    const txDroppedBefore = bench.counter(bench.tx, "tx_dropped");
    const sent = runGen(bench, ["--count", String(count), "--rate", "250000", "--flows", "256", "--max-seconds", "60"]);
    await drainUntil(cap, sent, (v, off, len) => tally.add(v, off, len));
    const result = await sent;
    const stats = cap.stats();
    const vethDrops = bench.counter(bench.tx, "tx_dropped") - txDroppedBefore;
    expect(result.sent).toBe(count);
    expect({ duplicates: tally.duplicates, missing: tally.missing(), foreign: tally.foreign }).toEqual({
      duplicates: 0,
      missing: 0,
      foreign: 0,
    });
    // Every frame is accounted for: seen, or counted as a drop by the ring or by the veth.
    expect(stats.drops).toBe(0);
    expect(vethDrops).toBe(0);
    expect(stats.received).toBe(count);
  }, 90_000);

  test("a single frame at low rate arrives within the block timeout plus a small margin", () => {
    using cap = open({ ring: { ...small, blockTimeoutMs: 10 } });
    using g = gen();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      expect(g.send(1).sent).toBe(1);
      const block = cap.nextBlock(1000);
      const waited = performance.now() - t0;
      expect(block).not.toBeNull();
      expect(block!.packetCount).toBe(1);
      delays.push(waited);
    }
    // The kernel retires a partly filled block when its timer fires (at most one timeout
    // after the block opened); 40 ms of margin covers scheduling on a loaded 2-core box.
    expect(Math.max(...delays)).toBeLessThan(10 + 40);
  });

  test("blocks() delivers a lone frame without blocking the event loop", async () => {
    using cap = open({ ring: small });
    using g = gen();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    setTimeout(() => g.send(1), 20);
    let got = 0;
    for await (const block of cap.blocks({ signal: AbortSignal.timeout(2000) })) {
      got += block.packetCount;
      if (got) break;
    }
    clearInterval(timer);
    expect(got).toBe(1);
    expect(performance.now() - t0).toBeLessThan(20 + 10 + 60);
    expect(ticks).toBeGreaterThan(5);
  });

  test("blocks() waits without waking: one watcher thread that sleeps until a block is ready, gone when the loop ends", async () => {
    using cap = open({ ring: small });
    using g = gen();
    const ac = new AbortController();
    let got = 0;
    let during: { watchers: number; switches: number } | null = null;
    const loop = (async () => {
      for await (const block of cap.blocks({ signal: ac.signal })) got += block.packetCount;
    })();
    await Bun.sleep(100);
    const [tid] = watcherThreads();
    expect(tid).toBeDefined();
    const before = contextSwitches(tid);
    // 400 ms of a quiet interface: the polling iterator woke up to 5 ms at a time (80+ wakes).
    await Bun.sleep(400);
    during = { watchers: watcherThreads().length, switches: contextSwitches(tid) - before };
    // A frame wakes it (one switch per wake-up), and the loop sees it.
    g.send(3);
    for (let i = 0; i < 100 && got < 3; i++) await Bun.sleep(10);
    ac.abort();
    await loop;
    expect(during).toEqual({ watchers: 1, switches: 0 });
    expect(got).toBe(3);
    expect(watcherThreads()).toEqual([]);
  });

  test("close() ends a for await that is waiting, at once, and leaves no thread or descriptor", async () => {
    const fdsBefore = openFds();
    const cap = open({ ring: small });
    let ended = -1;
    setTimeout(() => cap.close(), 50);
    const t0 = performance.now();
    for await (const _ of cap.blocks()) ended = -2;
    ended = performance.now() - t0;
    expect(ended).toBeGreaterThanOrEqual(45);
    expect(ended).toBeLessThan(50 + 200);
    expect(watcherThreads()).toEqual([]);
    // Nothing the capture opened (socket, epoll, eventfd, pipe) is left; others may have closed.
    // Bun reads the pipe through a duplicate of its own, which it closes a moment later.
    const left = () => openFds().filter((fd) => !fdsBefore.includes(fd));
    for (let i = 0; i < 50 && left().length; i++) await Bun.sleep(10);
    expect(left()).toEqual([]);
  });

  test("an abort ends a waiting for await; a second loop at the same time is refused; a later loop works", async () => {
    using cap = open({ ring: small });
    using g = gen();
    const ac = new AbortController();
    const first = (async () => {
      for await (const _ of cap.blocks({ signal: ac.signal }));
    })();
    await Bun.sleep(20);
    const second = cap.blocks()[Symbol.asyncIterator]().next();
    expect((await second.catch((e) => e)).message).toContain("already being iterated");
    ac.abort();
    await first;
    expect(watcherThreads()).toEqual([]);
    setTimeout(() => g.send(2), 20);
    let got = 0;
    for await (const block of cap.blocks({ signal: AbortSignal.timeout(2000) })) {
      got += block.packetCount;
      if (got >= 2) break;
    }
    expect(got).toBe(2);
    expect(watcherThreads()).toEqual([]);
  });

  test("each packet says its interface and what it was (sockaddr_ll): received by MAC kind, or sent by this host", () => {
    using rx = open({ ring: small });
    using tx = openCapture(bench.tx, { netns: bench.name, ring: small });
    const kinds: [string, number][] = [
      ["02:00:5e:00:00:02", PACKET_TYPE.otherhost],
      ["ff:ff:ff:ff:ff:ff", PACKET_TYPE.broadcast],
      ["01:00:5e:00:00:fb", PACKET_TYPE.multicast],
    ];
    for (const [dstMac, type] of kinds) {
      using g = gen({ dstMac });
      expect(g.send(3).sent).toBe(3);
      for (const [cap, want] of [[rx, type], [tx, PACKET_TYPE.outgoing]] as const) {
        const seen: number[][] = [];
        const byCursor: number[][] = [];
        // Bounded: the 3 frames come in one block, or two if the block timer falls between them.
        for (let i = 0; i < 5 && seen.length < 3; i++) {
          const block = cap.nextBlock(1000);
          if (!block) continue;
          for (const p of block) {
            seen.push([p.ifindex, p.packetType]);
            expect(p.interfaceName).toBe(cap.info.interface);
          }
          const c = block.cursor();
          while (c.next()) byCursor.push([c.ifindex, c.packetType]);
          block.release();
        }
        expect({ dstMac, seen }).toEqual({ dstMac, seen: Array(3).fill([cap.info.ifindex, want]) });
        expect(byCursor).toEqual(seen);
      }
    }
    expect(rx.info.ifindex).not.toBe(tx.info.ifindex);
  });

  test('direction "out" takes only what this host sent, "in" only what it received, in the kernel, with a filter too', () => {
    // Frames sent on tx leave tx (outgoing there) and arrive on rx; frames sent on rx arrive on tx.
    const counts: Record<string, number> = {};
    for (const [name, options] of [
      ["tx out", { direction: "out" }],
      ["tx out udp", { direction: "out", filter: "udp" }],
      ["tx out tcp", { direction: "out", filter: "tcp" }],
      ["tx in", { direction: "in" }],
      ["tx inout", { direction: "inout" }],
      ["rx out", { direction: "out" }],
    ] as const) {
      const iface = name.startsWith("tx") ? bench.tx : bench.rx;
      using cap = openCapture(iface, { netns: bench.name, ring: small, ...options });
      using fromTx = new Generator(bench.tx, { netns: bench.name });
      using fromRx = new Generator(bench.rx, { netns: bench.name });
      expect(fromTx.send(3).sent + fromRx.send(2).sent).toBe(5);
      let n = 0;
      for (let i = 0; i < 4; i++) {
        const block = cap.nextBlock(i === 0 ? 500 : 60);
        if (!block) continue;
        for (const p of block) {
          n++;
          if (options.direction === "out") expect(p.packetType).toBe(PACKET_TYPE.outgoing);
          if (options.direction === "in") expect(p.packetType).not.toBe(PACKET_TYPE.outgoing);
        }
        block.release();
      }
      counts[name] = n;
    }
    expect(counts).toEqual({ "tx out": 3, "tx out udp": 3, "tx out tcp": 0, "tx in": 2, "tx inout": 5, "rx out": 2 });
    expect(() => open({ direction: "out", ignoreOutgoing: true })).toThrow("use one of them");
    expect(() => open({ direction: "up" as never })).toThrow('direction must be "in", "out" or "inout"');
  });

  test("stats accumulate across reads and equal what was seen", async () => {
    using cap = open({ ring: small });
    using g = gen({ rate: 50_000 });
    let seen = 0;
    const totals = { received: 0, drops: 0 };
    for (let round = 0; round < 3; round++) {
      g.send(2000);
      await drainUntil(cap, Promise.resolve(), () => seen++, { graceMs: 100 });
      const s = cap.stats();
      totals.received = s.received;
      totals.drops = s.drops;
      expect(s.received).toBe(2000 * (round + 1));
    }
    expect(totals).toEqual({ received: 6000, drops: 0 });
    expect(seen).toBe(6000);
  });

  test("a full ring is counted as kernel drops, and seen + dropped = sent", async () => {
    using cap = open({ ring: { blockSize: 4096, blockCount: 2, frameSize: 2048, blockTimeoutMs: 10 } });
    using g = gen();
    expect(g.send(5000).sent).toBe(5000);
    let seen = 0;
    await drainUntil(cap, Promise.resolve(), () => seen++, { graceMs: 100 });
    const s = cap.stats();
    expect(s.drops).toBeGreaterThan(0);
    expect(seen + s.drops).toBe(5000);
    expect(s.received).toBe(seen);
  });

  test("dispatch() with max resumes a block where it stopped", async () => {
    using cap = open({ ring: small });
    using g = gen();
    g.send(300);
    await Bun.sleep(30);
    let total = 0;
    for (let i = 0; i < 100 && total < 300; i++) {
      const n = cap.dispatch(() => {}, { max: 7, timeoutMs: 50 });
      expect(n).toBeLessThanOrEqual(7);
      total += n;
    }
    expect(total).toBe(300);
  });

  test("a VLAN tag stripped by the kernel is exposed and can be put back", () => {
    using cap = open({ ring: small });
    using g = gen({ vlan: { id: 100, priority: 5 } });
    g.send(1);
    const block = cap.nextBlock(1000)!;
    const [p] = [...block];
    expect(p.vlanValid).toBe(true);
    expect(p.vlanTci & 0x0fff).toBe(100);
    expect(p.vlanTci >> 13).toBe(5);
    expect(p.vlanTpid).toBe(0x8100);
    expect(p.length).toBe(g.frameLength - 4); // the stripped tag is not in the length
    const d = p.decode();
    expect([d.vlanId, d.vlanPriority, d.vlanCount, d.ipVersion]).toEqual([100, 5, 1, 4]);
    const wire = p.withVlanTag();
    expect(wire.length).toBe(g.frameLength);
    expect(Array.from(wire.subarray(12, 18))).toEqual([0x81, 0x00, 0xa0, 0x64, 0x08, 0x00]);
  });

  test("VLAN 0 with priority bits keeps its priority", () => {
    using cap = open({ ring: small });
    using g = gen({ vlan: { id: 0, priority: 3 } });
    g.send(1);
    const [p] = [...cap.nextBlock(1000)!];
    expect(p.vlanValid).toBe(true);
    expect(p.vlanTci).toBe(3 << 13);
    expect(p.decode().vlanId).toBe(0);
  });

  test("an 802.1ad outer tag reports TPID 0x88a8, and QinQ keeps the inner tag in the bytes", () => {
    using cap = open({ ring: small });
    using ad = gen({ vlan: { id: 200, tpid: 0x88a8 } });
    using qq = gen({ qinq: { outer: 300, inner: 42 } });
    ad.send(1);
    let [p] = [...cap.nextBlock(1000)!];
    expect([p.vlanTci & 0xfff, p.vlanTpid]).toEqual([200, 0x88a8]);
    qq.send(1);
    [p] = [...cap.nextBlock(1000)!];
    expect([p.vlanTci & 0xfff, p.vlanTpid]).toEqual([300, 0x88a8]);
    const d = p.decode();
    expect([d.vlanCount, d.vlanId, d.vlanTpid, d.innerVlanId, d.ipVersion]).toEqual([2, 300, 0x88a8, 42, 4]);
    expect(Array.from(p.withVlanTag().subarray(12, 20))).toEqual([0x88, 0xa8, 0x01, 0x2c, 0x81, 0x00, 0x00, 0x2a]);
  });

  test("snaplen truncation is reported: caplen is cut, length is the wire length", () => {
    using cap = open({ ring: small, snaplen: 64 });
    using g = gen({ size: 200 });
    g.send(3);
    const block = cap.nextBlock(1000)!;
    expect(block.packetCount).toBe(3);
    for (const p of block) {
      expect([p.caplen, p.length, p.truncated]).toEqual([64, 200, true]);
      expect(p.bytes.length).toBe(64);
      const d = p.decode();
      expect(d.srcPort).toBe(10000);
      expect(d.payloadLength).toBeLessThanOrEqual(64 - 42);
    }
  });

  test("IPv6 and TCP frames decode with the generator's addresses and ports", () => {
    using cap = open({ ring: small });
    using g = gen({ ipv6: true, tcp: true, flows: 4, dstPort: 443 });
    g.send(4);
    const keys: string[] = [];
    for (const p of cap.nextBlock(1000)!) {
      const d = p.decode();
      expect([d.ipVersion, d.ipProtocol, d.dstPort]).toEqual([6, 6, 443]);
      expect(d.dstAddress()).toBe("2001:db8:0:2::1");
      keys.push(d.srcAddress());
    }
    expect(keys).toEqual(["2001:db8:0:1::", "2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1::3"]);
  });

  test("packet metadata: kernel timestamps are recent and rx hashes are filled", () => {
    using cap = open({ ring: small });
    using g = gen({ flows: 8 });
    g.send(8);
    const now = Date.now();
    const hashes = new Set<number>();
    for (const p of cap.nextBlock(1000)!) {
      expect(Math.abs(p.timestampMs - now)).toBeLessThan(5000);
      expect(p.nsec).toBeLessThan(1e9);
      hashes.add(p.rxHash);
    }
    expect(hashes.size).toBeGreaterThan(1);
  });

  test("a fanout member that joins during traffic never sees a frame another member also sees", async () => {
    // Between bind and the fanout join a socket would get every frame on its own; the library
    // holds a drop-all filter over that window. Members join and leave 40 times under traffic.
    const count = 200_000;
    const tally = new SeqTally(count);
    const ring = { blockSize: 1 << 20, blockCount: 16, frameSize: 2048, blockTimeoutMs: 5 };
    const groupId = 4000 + (process.pid % 20000);
    using a = open({ ring, fanout: { groupId, mode: "hash" } });
    const drain = (cap: Capture) => {
      for (let b = cap.nextBlock(0); b; b = cap.nextBlock(0)) for (const p of b) tally.add(cap.view, p.offset, p.caplen);
    };
    let finished = false;
    const sent = runGen(bench, ["--count", String(count), "--rate", "100000", "--flows", "64", "--max-seconds", "30"])
      .finally(() => (finished = true));
    let joins = 0;
    const deadline = performance.now() + 20_000;
    while (!finished && joins < 40 && performance.now() < deadline) {
      const b = open({ ring: small, fanout: { groupId, mode: "hash" } });
      joins++;
      const until = performance.now() + 15;
      while (performance.now() < until) {
        drain(a);
        drain(b);
      }
      b.close();
      await Bun.sleep(1);
    }
    await sent;
    await Bun.sleep(50);
    drain(a);
    expect(joins).toBeGreaterThanOrEqual(10);
    expect(tally.unique).toBeGreaterThan(count / 2);
    expect({ duplicates: tally.duplicates, foreign: tally.foreign }).toEqual({ duplicates: 0, foreign: 0 });
  }, 60_000);

  test("a signalled waker ends a blocking wait at once", () => {
    using waker = new Waker();
    using cap = open({ ring: small, wakeFd: waker.fd });
    waker.signal();
    const t0 = performance.now();
    expect(cap.nextBlock(-1)).toBeNull();
    expect(performance.now() - t0).toBeLessThan(50);
    waker.reset();
    expect(cap.nextBlock(20)).toBeNull(); // now it times out instead
  });

  test("close() is idempotent and every method throws afterwards", () => {
    const cap = open({ ring: small });
    cap.close();
    cap.close();
    expect(() => cap.nextBlock(0)).toThrow(ClosedError);
    expect(() => cap.stats()).toThrow(ClosedError);
    expect(() => cap.dispatch(() => {})).toThrow(ClosedError);
  });

  test("a view or block used after release or close throws instead of reading the ring", () => {
    const cap = open({ ring: small });
    using g = gen();
    g.send(2);
    const block = cap.nextBlock(1000)!;
    const [p] = [...block];
    expect(p.length).toBe(60);
    block.release();
    expect(() => p.length).toThrow(/released/);
    expect(() => [...block]).toThrow(/released/);
    expect(() => block.cursor()).toThrow(/released/);
    g.send(1);
    const next = cap.nextBlock(1000)!;
    const [q] = [...next];
    cap.close();
    expect(() => q.caplen).toThrow(/closed/);
    expect(() => [...next]).toThrow(ClosedError);
    expect(() => next.cursor()).toThrow(ClosedError);
  });

  test("asking for the next block releases the one held", () => {
    using cap = open({ ring: { ...small, blockTimeoutMs: 5 } });
    using g = gen();
    g.send(1);
    const first = cap.nextBlock(1000)!;
    g.send(1);
    const second = cap.nextBlock(1000)!;
    expect(first.live).toBe(false);
    expect(second.live).toBe(true);
    expect(second.sequence).toBe(first.sequence + 1n);
  });

  test("each geometry rule is reported by name", () => {
    const cases: Array<[Record<string, number>, string]> = [
      [{ blockSize: 4096 * 3 + 1 }, "block_size_not_page_multiple"],
      [{ blockSize: 4096 * 4, frameSize: 4096 * 3 }, "block_size_not_frame_multiple"],
      [{ frameSize: 40 }, "frame_size_invalid"],
      [{ frameSize: 2050 }, "frame_size_invalid"],
      [{ blockCount: 0 }, "block_count_invalid"],
      [{ blockSize: 1 << 20, frameSize: 128, blockCount: 0xffffffff }, "ring_too_large"],
      [{ blockTimeoutMs: 70000 }, "block_timeout_invalid"],
    ];
    for (const [ring, code] of cases) {
      let err: RingcapError | null = null;
      try {
        open({ ring }).close();
      } catch (e) {
        err = e as RingcapError;
      }
      expect(err?.code).toBe(code);
    }
    expect(() => open({ ring: { blockSize: -1 } })).toThrow(/ring.blockSize/);
  });

  test("a missing interface names the ones that exist", () => {
    let err: InterfaceError | null = null;
    try {
      openCapture("nosuch0", { netns: bench.name });
    } catch (e) {
      err = e as InterfaceError;
    }
    expect(err).toBeInstanceOf(InterfaceError);
    expect(err!.code).toBe("no_such_interface");
    expect(err!.available).toContain(bench.rx);
    expect(err!.message).toContain("rcrx");
  });

  test("a down interface is refused unless allowDown is set", () => {
    bench.ip("link", "add", "rcdown", "type", "veth", "peer", "name", "rcdown1");
    try {
      expect(() => openCapture("rcdown", { netns: bench.name })).toThrow(/interface down/);
      openCapture("rcdown", { netns: bench.name, allowDown: true, ring: small }).close();
    } finally {
      bench.ip("link", "del", "rcdown");
    }
  });

  test("bad names and options are refused before reaching the kernel", () => {
    expect(() => openCapture("", {})).toThrow(/interface name/);
    expect(() => openCapture("x".repeat(16), {})).toThrow(/interface name/);
    expect(() => openCapture(bench.rx, { netns: "no-such-namespace-here" })).toThrow(/netns/);
    expect(() => open({ fanout: { mode: "bogus" as "hash" } })).toThrow(/fanout mode/);
    expect(() => open({ fanout: { groupId: 70000 } })).toThrow(/groupId/);
  });
});

/** The error `fn` throws (the test fails if it returns). */
function thrown(fn: () => unknown): RingcapError {
  try {
    fn();
  } catch (e) {
    return e as RingcapError;
  }
  throw new Error("expected a throw");
}

/** MemAvailable from /proc/meminfo, in bytes: what the library reads too. */
function memAvailableBytes(): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"));
  if (!m) throw new Error("no MemAvailable in /proc/meminfo");
  return Number(m[1]) * 1024;
}

describe.skipIf(!canCapture)("faults and hostile input (issue 10)", () => {
  let bench: Bench;
  const scripts = mkdtempSync(join(tmpdir(), "ringcap-faults-"));
  chmodSync(scripts, 0o755); // the children run as nobody
  beforeAll(() => {
    bench = createBench();
  });
  afterAll(() => {
    bench?.destroy();
    rmSync(scripts, { recursive: true, force: true });
  });
  const open = (opts: Parameters<typeof openCapture>[1] = {}): Capture =>
    openCapture(bench.rx, { netns: bench.name, ...opts });
  const gen = (opts: ConstructorParameters<typeof Generator>[1] = {}) =>
    new Generator(bench.tx, { netns: bench.name, ...opts });

  // Every oversized ring here is asked for on an interface that does not exist: should the
  // library's check ever be lost, the open still fails at the interface lookup, before the
  // kernel is asked for a ring. The check comes before the lookup, so it answers first.
  test("a ring larger than half of MemAvailable is refused before anything is opened, with the numbers", () => {
    const available = memAvailableBytes();
    const blockSize = 1 << 22;
    const blockCount = Math.ceil((available * 0.75) / blockSize);
    const ring = { blockSize, blockCount, frameSize: 2048 };
    const err = thrown(() => openCapture("nosuch0", { netns: bench.name, ring }));
    expect(err).toBeInstanceOf(RingcapError);
    expect(err.code).toBe("ring_exceeds_memory");
    expect(err.message).toContain(`${blockSize * blockCount} bytes`);
    expect(err.message).toMatch(/MemAvailable \d+ bytes/);
    expect(err.message).toContain("allowLarge");
    // allowLarge raises the limit to MemAvailable itself: the same ring passes the check, and
    // the open fails where it always would, at the interface name.
    const passed = thrown(() => openCapture("nosuch0", { netns: bench.name, ring: { ...ring, allowLarge: true } }));
    expect(passed.code).toBe("no_such_interface");
    // Never beyond MemAvailable.
    const beyond = { blockSize, blockCount: Math.ceil((available * 2) / blockSize), frameSize: 2048, allowLarge: true };
    const refused = thrown(() => openCapture("nosuch0", { netns: bench.name, ring: beyond }));
    expect(refused.code).toBe("ring_exceeds_memory");
    expect(refused.message).toContain(`${beyond.blockSize * beyond.blockCount} bytes`);
    expect(() => open({ ring: { ...small, allowLarge: "yes" as unknown as boolean } })).toThrow(/allowLarge/);
  });

  for (const how of ["set down", "deleted"] as const) {
    test(`blocks() ends with network_down when the interface is ${how}, after every frame sent before`, async () => {
      using b = createBench();
      const cap = openCapture(b.rx, { netns: b.name, ring: small });
      using g = new Generator(b.tx, { netns: b.name });
      let seen = 0;
      let error: RingcapError | null = null;
      setTimeout(() => {
        g.send(5);
        if (how === "deleted") b.ip("link", "del", b.rx);
        else b.ip("link", "set", "dev", b.rx, "down");
      }, 30);
      try {
        // Bounded: without the fix the loop would only end here, with no error.
        for await (const block of cap.blocks({ signal: AbortSignal.timeout(10_000) })) seen += block.packetCount;
      } catch (e) {
        error = e as RingcapError;
      }
      expect(error?.code).toBe("network_down");
      expect(error?.message).toContain(b.rx);
      expect(seen).toBe(5);
      // It stays down: a later look says so again instead of waiting for ever.
      expect(thrown(() => cap.nextBlock(0)).code).toBe("network_down");
      cap.close();
    }, 20_000);
  }

  test("nextBlock(0) alone notices an interface set down", async () => {
    using b = createBench();
    using cap = openCapture(b.rx, { netns: b.name, ring: small });
    b.ip("link", "set", "dev", b.rx, "down");
    let error: RingcapError | null = null;
    for (let i = 0; i < 2000 && !error; i++) {
      try {
        cap.nextBlock(0);
      } catch (e) {
        error = e as RingcapError;
      }
      await Bun.sleep(5);
    }
    expect(error?.code).toBe("network_down");
  }, 20_000);

  test("a BpfProgram whose length does not fit its buffer is refused before the native call (filter and fanout)", () => {
    const accept = programFromInstructions([[0x06, 0, 0, 0xffff]]);
    const bad: unknown[] = [
      { instructions: accept.instructions, length: 4096 },
      { instructions: accept.instructions, length: 2 },
      { instructions: accept.instructions, length: 0 },
      { instructions: new Uint8Array(4097 * 8), length: 4097 },
      { instructions: accept.instructions, length: 1.5 },
      { instructions: accept.instructions, length: -1 },
      { instructions: accept.instructions, length: "1" },
      { instructions: new Uint8Array(4), length: 1 },
      { instructions: [6, 0, 0, 0], length: 1 },
      { instructions: accept.instructions.buffer, length: 1 },
      { instructions: new Uint32Array(2), length: 1 },
      { length: 1 },
      42,
    ];
    for (const program of bad) {
      const f = thrown(() => open({ ring: small, filter: program as BpfProgram }));
      expect({ program, code: f.code }).toEqual({ program, code: "invalid_argument" });
      expect(f.message).toMatch(/^filter: /);
      const fan = thrown(() => open({ ring: small, fanout: { mode: "cbpf", program: program as BpfProgram } }));
      expect({ program, code: fan.code }).toEqual({ program, code: "invalid_argument" });
      expect(fan.message).toMatch(/^fanout program: /);
    }
    // The same program, whole, is taken.
    open({ ring: small, filter: accept }).close();
  });

  test("a valid program larger than the kernel's optmem_max allows is filter_too_large, naming optmem_max and its size", () => {
    using b = createBench();
    // The namespace's own limit (net.core.optmem_max is per namespace): the old default.
    spawnSync("ip", ["netns", "exec", b.name, "sh", "-c", "echo 20480 > /proc/sys/net/core/optmem_max"]);
    const insns: [number, number, number, number][] = Array.from({ length: 1599 }, () => [0x28, 0, 0, 12]);
    insns.push([0x06, 0, 0, 0xffff]);
    const err = thrown(() => openCapture(b.rx, { netns: b.name, ring: small, filter: programFromInstructions(insns) }));
    expect(err.code).toBe("filter_too_large");
    expect(err.message).toContain("1600 instructions");
    expect(err.message).toContain("net.core.optmem_max");
    expect(err.message).toContain("20480");
    // A short program still fits.
    openCapture(b.rx, { netns: b.name, ring: small, filter: programFromInstructions([[0x06, 0, 0, 0xffff]]) }).close();
  });

  /** Runs `code` (a module importing mod.ts) in a child Bun under `wrapper` and returns its JSON line. */
  function child(wrapper: string[], code: string, args: string[]): Record<string, unknown> {
    const file = join(scripts, `child-${Math.random().toString(16).slice(2)}.ts`);
    writeFileSync(file, code.replace("MOD", new URL("../mod.ts", import.meta.url).pathname), { mode: 0o644 });
    const r = spawnSync(wrapper[0], [...wrapper.slice(1), BUN, file, ...args], { encoding: "utf8", timeout: 30_000 });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`child printed no JSON (exit ${r.status}): ${r.stdout}${r.stderr}`);
    }
  }
  const tryOpen = `
    import { openCapture } from "MOD";
    const [iface, netns, promisc] = process.argv.slice(2);
    try {
      const cap = openCapture(iface, { netns: netns || undefined, promisc: promisc === "promisc", ring: { blockSize: 4096, blockCount: 2 } });
      const flags = Number.parseInt(require("node:fs").readFileSync(\`/sys/class/net/\${iface}/flags\`, "utf8"), 16);
      cap.close();
      console.log(JSON.stringify({ opened: true, promisc: (flags & 0x100) !== 0 }));
    } catch (e) {
      console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message }));
    }`;

  test("netns without CAP_SYS_ADMIN says entering a namespace needs CAP_SYS_ADMIN, not CAP_NET_RAW", () => {
    // Root, with every capability but CAP_SYS_ADMIN (CAP_NET_RAW among them).
    const r = child(["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"], tryOpen, [bench.rx, bench.name]);
    expect(r.code).toBe("permission_denied");
    expect(r.name).toBe("PermissionError");
    expect(r.message).toContain("CAP_SYS_ADMIN");
    expect(r.message).not.toContain("needs CAP_NET_RAW");
  });

  test("promiscuous mode needs only CAP_NET_RAW", () => {
    // Inside the namespace (no netns option), as nobody with CAP_NET_RAW alone.
    const r = child(["ip", "netns", "exec", bench.name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
      "--inh-caps=-all,+net_raw", "--ambient-caps=+net_raw"], tryOpen, [bench.rx, "", "promisc"]);
    expect(r).toEqual({ opened: true, promisc: true });
  });

  test("close() inside a dispatch callback ends the dispatch with the count so far", async () => {
    const cap = open({ ring: small });
    using g = gen();
    g.send(10);
    await Bun.sleep(30);
    let calls = 0;
    const lengths: number[] = [];
    const n = cap.dispatch((p) => {
      calls++;
      lengths.push(p.length);
      if (calls === 3) cap.close();
    }, { max: 10, timeoutMs: 1000 });
    expect({ n, calls, lengths, closed: cap.closed }).toEqual({ n: 3, calls: 3, lengths: [60, 60, 60], closed: true });
  });

  test("a generator frame larger than the interface's MTU is refused at open, naming the MTU", () => {
    const err = thrown(() => gen({ size: 1515 }));
    expect(err.code).toBe("frame_too_large");
    expect(err.message).toContain("MTU 1500");
    expect(err.message).toContain("1514");
    expect(err.message).not.toContain("errno 90");
    using cap = open({ ring: small });
    using fits = gen({ size: 1514 });
    expect(fits.send(1).sent).toBe(1);
    // A VLAN tag gets its 4 bytes on top, as the kernel allows.
    using tagged = gen({ size: 1518, vlan: { id: 7 } });
    expect(tagged.send(1).sent).toBe(1);
    expect(thrown(() => gen({ size: 1519, vlan: { id: 7 } })).message).toContain("1518");
  });
});

/** The TIDs of this process's blocks() watcher threads (libringcap names them). */
function watcherThreads(): number[] {
  return readdirSync("/proc/self/task").map(Number).filter((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() === "ringcap-watch";
    } catch {
      return false; // ended meanwhile
    }
  });
}

/** How many times thread `tid` went to sleep and was woken (voluntary context switches). */
function contextSwitches(tid: number): number {
  const status = readFileSync(`/proc/self/task/${tid}/status`, "utf8");
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)![1]);
}

/** This process's open descriptors, each with what it refers to. */
function openFds(): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      return [`${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`];
    } catch {
      return []; // the descriptor readdir itself used
    }
  }).sort();
}

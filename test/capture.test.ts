// Capture against the real kernel, inside a namespace of the test's own (see _netns.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Capture, openCapture, Waker } from "../src/capture.ts";
import { ClosedError, InterfaceError, RingcapError } from "../src/errors.ts";
import { Generator } from "../src/gen.ts";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { drainUntil, runGen, SeqTally } from "./_traffic.ts";

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

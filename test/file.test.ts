// openFile: pcap and pcapng files read into the same Blocks and PacketViews a live capture
// yields. Files are written by PcapWriter and by hand (both byte orders, nanosecond pcap,
// pcapng with two interfaces of different if_tsresol, epb_flags, simple and obsolete packet
// blocks, blocks to skip), and tcpdump is the oracle: on every file it reads, the packets, their
// timestamps (to the nanosecond), lengths and bytes equal what tcpdump prints and re-writes.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CaptureFile, openFile, PcapWriter, RingcapError } from "../mod.ts";
import { TPACKET3_HDR } from "../src/native/abi.ts";
import { readPcap } from "./_pcap_read.ts";

const dir = mkdtempSync(join(tmpdir(), "ringcap-file-"));
afterAll(() => {
  if (!process.env.KEEP_FILES) rmSync(dir, { recursive: true, force: true });
});
let fileNo = 0;
function save(bytes: Uint8Array, ext = "pcapng"): string {
  const path = join(dir, `f${fileNo++}.${ext}`);
  writeFileSync(path, bytes);
  return path;
}

// ---- building files by hand ----

class Out {
  parts: number[] = [];
  constructor(readonly le: boolean) {}
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    const b = [v & 0xff, (v >> 8) & 0xff];
    this.parts.push(...(this.le ? b : b.reverse()));
    return this;
  }
  u32(v: number): this {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    this.parts.push(...(this.le ? b : b.reverse()));
    return this;
  }
  u64(v: bigint): this {
    const hi = Number(BigInt.asUintN(64, v) >> 32n);
    const lo = Number(BigInt.asUintN(64, v) & 0xffffffffn);
    return this.le ? this.u32(lo).u32(hi) : this.u32(hi).u32(lo);
  }
  bytes(b: ArrayLike<number>, pad = false): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]);
    if (pad) while (this.parts.length % 4) this.parts.push(0);
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

type Option = [code: number, value: Uint8Array];
const text = (s: string) => new TextEncoder().encode(s);
const u8opt = (code: number, v: number): Option => [code, Uint8Array.of(v)];
function u32opt(le: boolean, code: number, v: number): Option {
  return [code, new Out(le).u32(v).done()];
}
function options(o: Out, opts: Option[]): void {
  if (opts.length === 0) return;
  for (const [code, value] of opts) o.u16(code).u16(value.length).bytes(value, true);
  o.u16(0).u16(0);
}
function pcapngBlock(le: boolean, type: number, body: (o: Out) => void): Uint8Array {
  const inner = new Out(le);
  body(inner);
  const b = inner.done();
  const total = 12 + b.length;
  return new Out(le).u32(type).u32(total).bytes(b).u32(total).done();
}
const shb = (le: boolean) => pcapngBlock(le, 0x0a0d0d0a, (o) => o.u32(0x1a2b3c4d).u16(1).u16(0).u64(-1n));
const idb = (le: boolean, linkType: number, snaplen: number, opts: Option[] = []) =>
  pcapngBlock(le, 1, (o) => {
    o.u16(linkType).u16(0).u32(snaplen);
    options(o, opts);
  });
function epb(le: boolean, iface: number, ticks: bigint, data: Uint8Array, length = data.length, opts: Option[] = []): Uint8Array {
  return pcapngBlock(le, 6, (o) => {
    o.u32(iface).u32(Number(ticks >> 32n)).u32(Number(ticks & 0xffffffffn)).u32(data.length).u32(length).bytes(data, true);
    options(o, opts);
  });
}
const pb = (le: boolean, iface: number, ticks: bigint, data: Uint8Array, length = data.length) =>
  pcapngBlock(le, 2, (o) => o.u16(iface).u16(0).u32(Number(ticks >> 32n)).u32(Number(ticks & 0xffffffffn)).u32(data.length).u32(length).bytes(data, true));
const spb = (le: boolean, data: Uint8Array, length = data.length) => pcapngBlock(le, 3, (o) => o.u32(length).bytes(data, true));
/** A custom block (type 0x00000bad) and an interface statistics block: both skipped. */
const skippable = (le: boolean) => [
  pcapngBlock(le, 0x00000bad, (o) => o.u32(32473).bytes(text("opaque"), true)),
  pcapngBlock(le, 5, (o) => o.u32(0).u32(0).u32(0)),
];

function pcapFile(le: boolean, nano: boolean, records: [sec: number, frac: number, data: Uint8Array, length?: number][], snaplen = 262144, linkType = 1): Uint8Array {
  const o = new Out(le).u32(nano ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(snaplen).u32(linkType);
  for (const [sec, frac, data, length] of records) o.u32(sec).u32(frac).u32(data.length).u32(length ?? data.length).bytes(data);
  return o.done();
}

function concat(...parts: (Uint8Array | Uint8Array[])[]): Uint8Array {
  const flat = parts.flat();
  const out = new Uint8Array(flat.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of flat) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An Ethernet + IPv4 + UDP frame of `size` bytes whose payload starts with `seq`. */
function frame(seq: number, size = 60, ethertype = 0x0800): Uint8Array {
  const f = new Uint8Array(Math.max(size, 14));
  f.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, ethertype >> 8, ethertype & 0xff]);
  if (size >= 42 && ethertype === 0x0800) {
    const ipLen = size - 14;
    f.set([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 19, 0, 2], 14);
    f.set([0x30, 0x39, 0x00, 0x35, (ipLen - 20) >> 8, (ipLen - 20) & 0xff, 0, 0], 34);
    if (size >= 46) new DataView(f.buffer).setUint32(42, seq);
  }
  return f;
}

// ---- reading with openFile ----

interface Got {
  sec: number;
  nsec: number;
  caplen: number;
  length: number;
  ifindex: number;
  pkttype: number;
  protocol: number;
  family: number;
  hex: string;
  name: string;
}

const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Every packet of the file through both walks (iterator and cursor), with what the sockaddr_ll says. */
async function readAll(path: string, blockBytes?: number): Promise<{ packets: Got[]; blocks: number; error?: RingcapError; file: CaptureFile }> {
  const file = await openFile(path, { blockBytes });
  const packets: Got[] = [];
  let blocks = 0;
  let error: RingcapError | undefined;
  try {
    for await (const block of file.blocks()) {
      blocks++;
      const view = file.view;
      const c = block.cursor();
      for (const p of block) {
        expect(c.next()).toBe(true);
        expect([c.offset, c.caplen, c.length, c.ifindex, c.packetType]).toEqual([p.offset, p.caplen, p.length, p.ifindex, p.packetType]);
        const sll = c.header + TPACKET3_HDR.size;
        packets.push({
          sec: p.sec,
          nsec: p.nsec,
          caplen: p.caplen,
          length: p.length,
          family: view.getUint16(sll, true),
          protocol: view.getUint16(sll + 2, false),
          ifindex: p.ifindex,
          pkttype: p.packetType,
          name: p.interfaceName,
          hex: toHex(p.bytes),
        });
      }
      expect(c.next()).toBe(false);
    }
  } catch (e) {
    if (!(e instanceof RingcapError)) throw e;
    error = e;
  }
  file.close();
  return { packets, blocks, error, file };
}

// ---- tcpdump, the oracle ----

interface Oracle {
  /** -tt -nn -e --nano lines: timestamp text and the frame's length. */
  lines: { ts: string; length: number }[];
  /** What tcpdump -w re-wrote (nanosecond pcap): time, caplen, length and bytes. */
  records: { sec: number; nsec: number; caplen: number; length: number; hex: string }[];
  stderr: string;
}

function tcpdump(path: string): Oracle {
  const print = spawnSync("tcpdump", ["-r", path, "-tt", "-nn", "-e", "--time-stamp-precision=nano"], { encoding: "utf8" });
  const lines = print.stdout
    .split("\n")
    .filter((l) => /^\d+\.\d{9} /.test(l))
    .map((l) => ({ ts: l.split(" ")[0], length: Number(/, length (\d+)/.exec(l)?.[1] ?? -1) }));
  const out = join(dir, `oracle${fileNo++}.pcap`);
  spawnSync("tcpdump", ["-r", path, "-w", out, "--time-stamp-precision=nano"], { encoding: "utf8" });
  const records: Oracle["records"] = [];
  try {
    readPcap(out, (view, r) => {
      records.push({ sec: r.sec, nsec: r.nsec, caplen: r.caplen, length: r.wire, hex: toHex(new Uint8Array(view.buffer, view.byteOffset + r.offset, r.caplen)) });
    });
  } catch {
    // no output file: tcpdump could not read the input at all
  }
  return { lines, records, stderr: print.stderr };
}

/** openFile's packets equal tcpdump's: count, timestamps (ns), lengths, captured bytes. */
function expectSameAsTcpdump(packets: Got[], oracle: Oracle): void {
  expect(packets.length).toBe(oracle.records.length);
  expect(packets.map((p) => ({ sec: p.sec, nsec: p.nsec, caplen: p.caplen, length: p.length, hex: p.hex }))).toEqual(oracle.records);
  if (oracle.lines.length > 0) {
    // Ethernet files: tcpdump's printed timestamps and -e lengths too.
    expect(packets.map((p) => ({ ts: `${p.sec}.${String(p.nsec).padStart(9, "0")}`, length: p.length }))).toEqual(oracle.lines);
  }
}

describe("pcap", () => {
  for (const [le, nano] of [[true, false], [false, false], [true, true], [false, true]] as const) {
    test(`${nano ? "nanosecond" : "microsecond"} pcap, ${le ? "little" : "big"}-endian, equals tcpdump`, async () => {
      const frac = nano ? 123_456_789 : 123_456;
      const path = save(pcapFile(le, nano, [
        [1_700_000_000, frac, frame(1)],
        [1_700_000_001, 0, frame(2, 1514)],
        [1_700_000_002, nano ? 999_999_999 : 999_999, frame(3, 100).subarray(0, 64), 100], // cut by a snaplen
        [2_147_000_000, 1, frame(4, 42)],
      ]), "pcap");
      const { packets, blocks, error, file } = await readAll(path);
      expect(error).toBeUndefined();
      expect(blocks).toBe(1);
      expect(file.format).toBe("pcap");
      expect(file.linkType).toBe(1);
      expect(file.interfaces).toEqual([{ linkType: 1, snaplen: 262144, tsresol: nano ? 9 : 6, tsoffset: 0 }]);
      expect(packets.map((p) => [p.sec, p.nsec, p.caplen, p.length])).toEqual([
        [1_700_000_000, nano ? 123_456_789 : 123_456_000, 60, 60],
        [1_700_000_001, 0, 1514, 1514],
        [1_700_000_002, 999_999_999 - (nano ? 0 : 999), 64, 100],
        [2_147_000_000, nano ? 1 : 1000, 42, 42],
      ]);
      expect(packets.every((p) => p.ifindex === 1 && p.pkttype === 0 && p.family === 17 && p.protocol === 0x0800)).toBe(true);
      expectSameAsTcpdump(packets, tcpdump(path));
    });
  }

  test("PcapWriter's pcap and pcapng files read back as written, and as tcpdump reads them", async () => {
    for (const format of ["pcap", "pcapng"] as const) {
      const path = join(dir, `writer${fileNo++}.${format}`);
      const w = PcapWriter.open(path, { format, ifName: "eth7" });
      for (let i = 0; i < 100; i++) w.write(frame(i, 60 + i * 13), 60 + i * 13, 1_700_000_000 + i, i * 7_654_321);
      w.close();
      const { packets, error, file } = await readAll(path);
      expect(error).toBeUndefined();
      expect(packets.length).toBe(100);
      expect(packets[99]).toMatchObject({ sec: 1_700_000_099, nsec: 99 * 7_654_321, caplen: 60 + 99 * 13, length: 60 + 99 * 13, ifindex: 1 });
      if (format === "pcapng") expect(file.interfaces[0]).toMatchObject({ linkType: 1, name: "eth7" });
      expectSameAsTcpdump(packets, tcpdump(path));
    }
  });

  test("PacketView works unchanged: readers, decode(), copy(), timestampMs; a view dies with its block", async () => {
    const path = save(pcapFile(true, true, [[1_700_000_000, 500_000_000, frame(77, 80)]]), "pcap");
    await using f = await openFile(path);
    let kept: Uint8Array | null = null;
    let stale: { getUint8(at: number): number } | null = null;
    for await (const block of f.blocks()) {
      for (const p of block) {
        expect(p.getUint16(12)).toBe(0x0800);
        expect(p.getUint32(42)).toBe(77);
        const d = p.decode();
        expect([d.srcAddress(), d.dstAddress(), d.srcPort, d.dstPort]).toEqual(["198.18.0.1", "198.19.0.2", 12345, 53]);
        expect(p.timestampMs).toBe(1_700_000_000_500);
        expect(p.wireLength).toBe(80);
        expect(p.vlanValid).toBe(false);
        kept = p.copy();
        stale = p;
      }
    }
    expect(kept!.length).toBe(80);
    expect(() => stale!.getUint8(0)).toThrow(/released/);
  });
});

describe("pcapng", () => {
  for (const le of [true, false]) {
    test(`${le ? "little" : "big"}-endian: two interfaces with different if_tsresol, names, flags, SPB, PB and skipped blocks; equals tcpdump`, async () => {
      const bytes = concat(
        shb(le),
        idb(le, 1, 0, [[2, text("eth0")], [3, text("first port")], u8opt(9, 6)]), // microseconds
        idb(le, 1, 0, [[2, text("eth1")], u8opt(9, 9)]), // nanoseconds (libpcap reads only equal snaplens)
        skippable(le),
        epb(le, 0, 1_700_000_000_123_456n, frame(1), 60, [u32opt(le, 2, 1)]), // inbound
        epb(le, 1, 1_700_000_001_987_654_321n, frame(2, 200), 200, [u32opt(le, 2, 2)]), // outbound
        epb(le, 1, 1_700_000_002_000_000_001n, frame(3, 61).subarray(0, 50), 61, [u32opt(le, 2, 1 | (3 << 2))]), // inbound broadcast
        pb(le, 0, 1_700_000_003_000_001n, frame(4)),
        epb(le, 0, 1_700_000_004_000_000n, frame(5, 64, 0x86dd)),
      );
      const path = save(bytes);
      const { packets, error, file } = await readAll(path);
      expect(error).toBeUndefined();
      expect(file.format).toBe("pcapng");
      expect(file.interfaces).toEqual([
        { linkType: 1, snaplen: 0, name: "eth0", description: "first port", tsresol: 6, tsoffset: 0 },
        { linkType: 1, snaplen: 0, name: "eth1", tsresol: 9, tsoffset: 0 },
      ]);
      expect(packets.map((p) => [p.sec, p.nsec, p.caplen, p.length, p.ifindex, p.pkttype, p.protocol, p.name])).toEqual([
        [1_700_000_000, 123_456_000, 60, 60, 1, 0, 0x0800, "eth0"],
        [1_700_000_001, 987_654_321, 200, 200, 2, 4, 0x0800, "eth1"],
        [1_700_000_002, 1, 50, 61, 2, 1, 0x0800, "eth1"],
        [1_700_000_003, 1000, 60, 60, 1, 0, 0x0800, "eth0"],
        [1_700_000_004, 0, 64, 64, 1, 0, 0x86dd, "eth0"],
      ]);
      expectSameAsTcpdump(packets, tcpdump(path));
    });
  }

  test("a simple packet block: interface 0, cut to its snaplen, no timestamp; equals tcpdump", async () => {
    const path = save(concat(shb(true), idb(true, 1, 100), spb(true, frame(9, 100), 100), spb(true, frame(10, 60))));
    const { packets, error } = await readAll(path);
    expect(error).toBeUndefined();
    expect(packets.map((p) => [p.sec, p.nsec, p.caplen, p.length, p.ifindex])).toEqual([[0, 0, 100, 100, 1], [0, 0, 60, 60, 1]]);
    expectSameAsTcpdump(packets, tcpdump(path));
  });

  test("several sections, the second big-endian: interface ids start again, ifindex counts on", async () => {
    const path = save(concat(
      shb(true), idb(true, 1, 0, [[2, text("a")]]), epb(true, 0, 1_000_000n, frame(1)),
      shb(false), idb(false, 1, 0, [[2, text("b")]]), epb(false, 0, 2_000_000n, frame(2)),
    ));
    const { packets, error, file } = await readAll(path);
    expect(error).toBeUndefined();
    expect(file.interfaces.map((i) => i.name)).toEqual(["a", "b"]);
    expect(packets.map((p) => [p.sec, p.ifindex, p.name])).toEqual([[1, 1, "a"], [2, 2, "b"]]);
  });

  test("binary if_tsresol, if_tsoffset and a non-Ethernet link type kept as stored", async () => {
    const raw = frame(1, 60).subarray(14);
    const path = save(concat(
      shb(true),
      idb(true, 101, 0, [u8opt(9, 0x80 | 10), [14, new Out(true).u64(1_000n).done()]]), // 2^-10 s ticks, +1000 s
      epb(true, 0, (5n << 10n) | 512n, raw), // 5.5 s
    ));
    const { packets, error, file } = await readAll(path);
    expect(error).toBeUndefined();
    expect(file.linkType).toBe(101);
    expect(packets).toMatchObject([{ sec: 1005, nsec: 500_000_000, caplen: 46, protocol: 0x0800, hex: toHex(raw) }]);
  });
});

describe("blocks and streaming", () => {
  test("50,000 packets stream through small blocks, every packet once and in order, as tcpdump counts them", async () => {
    const path = join(dir, "many.pcap");
    const w = PcapWriter.open(path);
    const count = 50_000;
    for (let i = 0; i < count; i++) w.write(frame(i, 60 + (i % 200)), 60 + (i % 200), 1_700_000_000 + Math.floor(i / 1000), (i % 1000) * 1000);
    w.close();
    await using f = await openFile(path, { blockBytes: 16 << 10 });
    let expected = 0;
    let blocks = 0;
    let sequence = 0n;
    for await (const block of f.blocks()) {
      blocks++;
      expect(block.sequence).toBe(++sequence);
      const view = f.view;
      const c = block.cursor();
      while (c.next()) {
        expect(view.getUint32(c.offset + 42)).toBe(expected);
        expect(c.caplen).toBe(60 + (expected % 200));
        expected++;
      }
    }
    expect(expected).toBe(count);
    expect(f.packets).toBe(count);
    expect(blocks).toBeGreaterThan(count / 100);
    const lines = spawnSync("tcpdump", ["-r", path, "-nn", "-q"], { encoding: "utf8", maxBuffer: 64 << 20 }).stdout.trim().split("\n");
    expect(lines.length).toBe(count);
  });

  test("a packet larger than the block buffer gets a block of its own", async () => {
    const path = save(pcapFile(true, false, [[1, 0, frame(1)], [2, 0, frame(2, 9000)], [3, 0, frame(3)]]), "pcap");
    const { packets, blocks, error } = await readAll(path, 1024);
    expect(error).toBeUndefined();
    expect(blocks).toBe(3);
    expect(packets.map((p) => p.caplen)).toEqual([60, 9000, 60]);
    expectSameAsTcpdump(packets, tcpdump(path));
  });
});

describe("bad files", () => {
  const good = (n: number) => Array.from({ length: n }, (_, i) => [1_700_000_000 + i, 0, frame(i, 100)] as [number, number, Uint8Array]);

  test("a truncated pcap yields every whole packet (as tcpdump does), then file_truncated naming the offset", async () => {
    const whole = pcapFile(true, false, good(5));
    for (const cut of [whole.length - 1, whole.length - 100, 24 + 3 * 116 + 10]) {
      const path = save(whole.subarray(0, cut), "pcap");
      const { packets, error } = await readAll(path, 300); // several blocks, the error after the last
      const complete = Math.floor((cut - 24) / 116);
      expect(packets.length).toBe(complete);
      expect(error?.code).toBe("file_truncated");
      expect(error?.message).toContain(`byte offset ${24 + complete * 116}`);
      expect(error?.message).toContain(`ends at byte offset ${cut}`);
      const oracle = tcpdump(path);
      expect(oracle.stderr).toMatch(/truncated/);
      expectSameAsTcpdump(packets, oracle);
    }
  });

  test("a pcap record with a caplen over MAX_SNAPLEN: file_corrupt at its offset, after the good packets", async () => {
    const bytes = pcapFile(true, false, good(3));
    new DataView(bytes.buffer).setUint32(24 + 2 * 116 + 8, 300_000, true);
    const path = save(bytes, "pcap");
    const { packets, error } = await readAll(path);
    expect(packets.length).toBe(2);
    expect(error?.code).toBe("file_corrupt");
    expect(error?.message).toContain(`byte offset ${24 + 2 * 116}`);
    expect(tcpdump(path).records.length).toBe(2);
  });

  test("pcapng: a block whose trailing length disagrees, a length not a multiple of 4, an unknown interface, a cut block", async () => {
    const head = concat(shb(true), idb(true, 1, 0));
    const ok = concat(epb(true, 0, 1n, frame(1)), epb(true, 0, 2n, frame(2)));
    const bad = epb(true, 0, 3n, frame(3));
    const cases: [string, Uint8Array, string, number][] = [];
    const trailer = bad.slice();
    new DataView(trailer.buffer).setUint32(trailer.length - 4, 999, true);
    cases.push(["trailing length", trailer, "file_corrupt", head.length + ok.length]);
    const odd = bad.slice();
    new DataView(odd.buffer).setUint32(4, 90, true);
    cases.push(["length 90", odd, "file_corrupt", head.length + ok.length]);
    cases.push(["interface 5", epb(true, 5, 3n, frame(3)), "file_corrupt", head.length + ok.length]);
    cases.push(["cut", bad.subarray(0, 40), "file_truncated", head.length + ok.length]);
    const huge = bad.slice();
    new DataView(huge.buffer).setUint32(20, 1 << 20, true);
    cases.push(["caplen", huge, "file_corrupt", head.length + ok.length]);
    for (const [what, tail, code, offset] of cases) {
      const path = save(concat(head, ok, tail));
      const { packets, error } = await readAll(path);
      expect({ what, packets: packets.length, code: error?.code }).toEqual({ what, packets: 2, code });
      expect(error?.message).toContain(`byte offset ${offset}`);
      expect(tcpdump(path).records.length).toBe(2);
    }
  });

  test("not a capture file, an empty file, a missing file", async () => {
    const err = async (path: string) => {
      try {
        await openFile(path);
      } catch (e) {
        return e as RingcapError;
      }
      throw new Error("openFile did not throw");
    };
    expect((await err(save(text("hello, world, this is text"), "txt"))).code).toBe("file_format");
    expect((await err(save(new Uint8Array(0), "pcap"))).code).toBe("file_truncated");
    expect((await err(save(pcapFile(true, false, []).subarray(0, 10), "pcap"))).code).toBe("file_truncated");
    expect((await err(join(dir, "missing.pcap"))).code).toBe("file_unreadable");
    // A file with only its header is a file with no packets.
    const { packets, blocks, error } = await readAll(save(pcapFile(false, true, []), "pcap"));
    expect([packets.length, blocks, error]).toEqual([0, 0, undefined]);
  });
});

test("close() ends blocks() and kills the views; blocks() is one loop at a time", async () => {
  const path = save(pcapFile(true, false, Array.from({ length: 50 }, (_, i) => [i, 0, frame(i)] as [number, number, Uint8Array])), "pcap");
  const f = await openFile(path, { blockBytes: 512 });
  const it = f.blocks();
  const first = (await it.next()).value!;
  expect(first.live).toBe(true);
  await expect(f.blocks().next()).rejects.toThrow(/one loop at a time/);
  f.close();
  expect(first.live).toBe(false);
  expect((await it.next()).done).toBe(true);
  await expect(f.nextBlock()).rejects.toThrow(/closed/);
  expect(readFileSync(path).length).toBeGreaterThan(0);
});

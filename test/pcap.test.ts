// Files written by PcapWriter, read back by tcpdump and tshark.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClosedError, RingcapError } from "../src/errors.ts";
import { type PcapFormat, PcapWriter } from "../src/pcap.ts";
import { canMountTmpfs, mountTmpfs } from "./_tmpfs.ts";

const dir = mkdtempSync(join(tmpdir(), "ringcap-pcap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hasTshark = spawnSync("tshark", ["--version"]).status === 0;
const hasTcpdump = spawnSync("tcpdump", ["--version"]).status === 0;

interface Sample {
  data: Uint8Array;
  wire: number;
  sec: number;
  nsec: number;
}

/** An Ethernet/IPv4/UDP frame of `length` bytes (shorter lengths cut the headers) between 198.18.0.0/15 hosts. */
function udpFrame(i: number, length: number): Uint8Array {
  const full = Math.max(length, 42);
  const f = new Uint8Array(full);
  const dv = new DataView(f.buffer);
  f.set([0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02]);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  dv.setUint16(16, full - 14);
  dv.setUint16(18, i & 0xffff);
  f[22] = 64;
  f[23] = 17;
  f.set([198, 18, (i >> 8) & 0xff, i & 0xff, 198, 19, 0, 1], 26);
  dv.setUint16(34, 1024 + (i % 1000));
  dv.setUint16(36, 53);
  dv.setUint16(38, full - 34);
  for (let j = 42; j < full; j++) f[j] = (i * 7 + j) & 0xff;
  return f.subarray(0, length);
}

/** A few hundred packets: odd and tiny sizes, jumbo frames, and captures shorter than the wire. */
function samples(): Sample[] {
  const out: Sample[] = [];
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const fixed = [1, 2, 13, 14, 41, 42, 43, 60, 61, 1514, 1515, 9000];
  for (let i = 0; i < 300; i++) {
    const length = i < fixed.length ? fixed[i] : 42 + rand(1500);
    const frame = udpFrame(i, length);
    // Every fifth packet was cut short by a capture snaplen: the wire saw more.
    const wire = i % 5 === 4 ? length + 1 + rand(3000) : length;
    out.push({ data: frame, wire, sec: 1_700_000_000 + i * 3, nsec: i === 7 ? 999_999_999 : rand(1_000_000_000) });
  }
  out.push({ data: udpFrame(999, 64), wire: 64, sec: 0, nsec: 1 });
  out.push({ data: udpFrame(1000, 64), wire: 64, sec: 0xffffffff, nsec: 999_999_999 });
  return out;
}

const epoch = (sec: number, nsec: number) => `${sec}.${String(nsec).padStart(9, "0")}`;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function writeFile(path: string, list: Sample[], options: Parameters<typeof PcapWriter.open>[1] = {}): PcapWriter {
  const w = PcapWriter.open(path, options);
  for (const s of list) w.write(s.data, s.wire, s.sec, s.nsec);
  w.close();
  return w;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** tshark's view of each frame: wire length, captured length, epoch time, interface name. */
function tsharkFields(path: string): string[][] {
  return run("tshark", ["-r", path, "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.time_epoch", "-e", "frame.interface_name"])
    .trimEnd().split("\n").map((l) => l.split("\t"));
}

/** tcpdump's view: nanosecond time and the captured bytes in hex, per packet. */
function tcpdumpPackets(path: string): { time: string; bytes: string }[] {
  const out = run("tcpdump", ["-r", path, "-nn", "-tt", "--time-stamp-precision=nano", "-xx"]);
  const packets: { time: string; bytes: string }[] = [];
  for (const line of out.split("\n")) {
    // tcpdump prints "[Error converting time]" for times past 2038, so keep the whole head.
    if (line && !line.startsWith("\t")) packets.push({ time: line.split(" ")[0], bytes: "" });
    else if (line.startsWith("\t0x")) packets[packets.length - 1].bytes += line.slice(line.indexOf(":") + 1).replace(/\s+/g, "");
  }
  return packets;
}

describe.each(["pcap", "pcapng"] as PcapFormat[])("PcapWriter in %s format", (format) => {
  const list = samples();
  const path = join(dir, `many.${format}`);
  const snaplen = 2000;
  const kept = (s: Sample) => s.data.subarray(0, Math.min(s.data.length, snaplen));
  const writer = writeFile(path, list, { ifName: "rc-test0", snaplen });

  test.skipIf(!hasTshark)("tshark reads every packet with its wire length, captured length and nanosecond time", () => {
    const rows = tsharkFields(path);
    expect(rows.length).toBe(list.length);
    expect(rows.map((r) => r.slice(0, 3))).toEqual(
      list.map((s) => [String(Math.max(s.wire, kept(s).length)), String(kept(s).length), epoch(s.sec, s.nsec)]),
    );
  });

  test.skipIf(!hasTcpdump)("tcpdump reads back exactly the bytes that were written, cut at snaplen", () => {
    const packets = tcpdumpPackets(path);
    expect(packets.length).toBe(list.length);
    expect(packets.map((p) => p.bytes)).toEqual(list.map((s) => hex(kept(s))));
    const before2038 = list.map((s, i) => [s, i] as const).filter(([s]) => s.sec <= 0x7fffffff);
    expect(before2038.map(([, i]) => packets[i].time)).toEqual(before2038.map(([s]) => epoch(s.sec, s.nsec)));
  });

  test("packets and bytesWritten count what went into the file", () => {
    expect(writer.packets).toBe(list.length);
    expect(writer.bytesWritten).toBe(readFileSync(path).length);
  });

  if (format === "pcapng") {
    test.skipIf(!hasTshark)("the pcapng interface block carries if_name", () => {
      expect(new Set(tsharkFields(path).map((r) => r[3]))).toEqual(new Set(["rc-test0"]));
    });
  }
});

describe("PcapWriter file headers", () => {
  test("a .pcapng path gets pcapng and any other path pcap, unless format says otherwise", () => {
    const magic = (p: string) => readFileSync(p).readUInt32LE(0);
    PcapWriter.open(join(dir, "h.pcapng")).close();
    PcapWriter.open(join(dir, "h.cap")).close();
    PcapWriter.open(join(dir, "h2.cap"), { format: "pcapng" }).close();
    expect(magic(join(dir, "h.pcapng"))).toBe(0x0a0d0d0a);
    expect(magic(join(dir, "h.cap"))).toBe(0xa1b23c4d);
    expect(magic(join(dir, "h2.cap"))).toBe(0x0a0d0d0a);
  });

  test("the classic header has the nanosecond magic, version 2.4, snaplen and link type", () => {
    const p = join(dir, "hdr.pcap");
    PcapWriter.open(p, { snaplen: 96, linkType: 101 }).close();
    const b = readFileSync(p);
    expect(b.length).toBe(24);
    expect([b.readUInt32LE(0), b.readUInt16LE(4), b.readUInt16LE(6), b.readUInt32LE(16), b.readUInt32LE(20)]).toEqual([
      0xa1b23c4d, 2, 4, 96, 101,
    ]);
  });

  test.skipIf(!hasTshark)("capinfos sees nanosecond resolution and ringcap as the writing application", () => {
    if (!existsSync("/usr/bin/capinfos")) return;
    const p = join(dir, "info.pcapng");
    writeFile(p, samples().slice(0, 3), { ifName: "eth7" });
    const info = run("capinfos", [p]);
    expect(info).toMatch(/Capture application:\s+ringcap/);
    expect(info).toMatch(/Time precision = nanoseconds \(9\)/);
    expect(info).toMatch(/Name = eth7/);
  });

  test("a packet larger than the 1 MiB buffer is written straight through, between buffered ones", () => {
    // tshark and tcpdump refuse Ethernet records over 262144 bytes, so this file is walked here.
    const p = join(dir, "big.pcapng");
    const big = new Uint8Array((3 << 20) + 1).map((_, i) => i * 31);
    const w = PcapWriter.open(p, { snaplen: 0x7fffffff });
    w.write(udpFrame(1, 100), 100, 1, 1);
    w.write(big, big.length, 2, 2);
    w.write(udpFrame(2, 101), 101, 3, 3);
    w.close();
    const file = new Uint8Array(readFileSync(p));
    const dv = new DataView(file.buffer);
    expect(file.length).toBe(w.bytesWritten);
    const captured: Uint8Array[] = [];
    for (let at = 0; at < file.length;) {
      const type = dv.getUint32(at, true);
      const total = dv.getUint32(at + 4, true);
      expect(dv.getUint32(at + total - 4, true)).toBe(total);
      expect(total % 4).toBe(0);
      if (type === 6) captured.push(file.subarray(at + 28, at + 28 + dv.getUint32(at + 20, true)));
      at += total;
    }
    expect(captured.map(hex)).toEqual([hex(udpFrame(1, 100)), hex(big), hex(udpFrame(2, 101))]);
  });

  test("an open file descriptor can be written to and is left open", () => {
    const { openSync, closeSync, fstatSync } = require("node:fs");
    const fd = openSync(join(dir, "fd.pcap"), "w");
    const w = PcapWriter.open(fd);
    w.write(udpFrame(1, 60), 60, 1, 2);
    w.close();
    expect(fstatSync(fd).size).toBe(24 + 16 + 60);
    closeSync(fd);
  });
});

describe("PcapWriter errors", () => {
  test("a path that cannot be created throws file_unwritable with the system's reason and the path", () => {
    let err: unknown;
    try {
      PcapWriter.open("/proc/nonexistent-dir/x.pcap");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RingcapError);
    expect((err as RingcapError).code).toBe("file_unwritable");
    expect((err as RingcapError).message).toContain("/proc/nonexistent-dir/x.pcap");
    expect((err as RingcapError).message).toContain("ENOENT");
  });

  test("a disk full from the start fails at open (the header), with disk_full", () => {
    let err: unknown;
    try {
      PcapWriter.open("/dev/full");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RingcapError);
    expect((err as RingcapError).code).toBe("disk_full");
    expect((err as RingcapError).errno).toBe(28);
    expect((err as RingcapError).message).toContain("/dev/full");
    expect((err as RingcapError).message).toContain("free some space or write elsewhere");
    // /dev/full is a device: never removed, whatever the writer does on failure.
    expect(existsSync("/dev/full")).toBe(true);
  });

  test("writing after close throws ClosedError and closing twice is fine", () => {
    const w = PcapWriter.open(join(dir, "closed.pcap"));
    w.close();
    w.close();
    expect(() => w.write(udpFrame(1, 60), 60, 1, 0)).toThrow(ClosedError);
    expect(() => w.flush()).toThrow(ClosedError);
  });

  test("using disposes the writer and flushes what was buffered", () => {
    const p = join(dir, "using.pcap");
    {
      using w = PcapWriter.open(p);
      w.write(udpFrame(1, 60), 60, 1, 0);
    }
    expect(readFileSync(p).length).toBe(24 + 16 + 60);
  });

  test("bad lengths, times and options are refused before anything is written", () => {
    const w = PcapWriter.open(join(dir, "bad.pcap"));
    const f = udpFrame(1, 60);
    expect(() => w.write(f, 59, 1, 0)).toThrow(/wireLength/);
    expect(() => w.write(f, 60, -1, 0)).toThrow(/time/);
    expect(() => w.write(f, 60, 1, 1e9)).toThrow(/time/);
    expect(() => w.write(f, 60, 1.5, 0)).toThrow(/time/);
    expect(w.packets).toBe(0);
    w.close();
    expect(() => PcapWriter.open(join(dir, "bad2.pcap"), { snaplen: 0 })).toThrow(/snaplen/);
    expect(() => PcapWriter.open(join(dir, "bad3.pcap"), { linkType: 70000 })).toThrow(/linkType/);
    expect(() => PcapWriter.open(join(dir, "bad4.pcap"), { format: "erf" as PcapFormat })).toThrow(/format/);
  });
});

/** Whole records of a pcap or pcapng file, walked here; throws on a record cut short. */
function wholeRecords(path: string): number {
  const b = readFileSync(path);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let n = 0;
  if (dv.getUint32(0, true) === 0xa1b23c4d) {
    let at = 24;
    for (; at + 16 <= b.length; n++) at += 16 + dv.getUint32(at + 8, true);
    if (at !== b.length) throw new Error(`${path}: a record cut short at byte ${at} of ${b.length}`);
    return n;
  }
  let at = 0;
  for (; at + 12 <= b.length;) {
    const type = dv.getUint32(at, true);
    at += dv.getUint32(at + 4, true);
    if (type === 6) n++;
  }
  if (at !== b.length) throw new Error(`${path}: a block cut short at byte ${at} of ${b.length}`);
  return n;
}

describe("PcapWriter durability", () => {
  test.each(["pcap", "pcapng"] as PcapFormat[])("the %s header is in the file as soon as it opens, before any packet or flush", (format) => {
    const p = join(dir, `early.${format}`);
    const w = PcapWriter.open(p, { format, ifName: "rc-test0" });
    try {
      const b = readFileSync(p);
      expect(b.length).toBe(w.bytesWritten);
      expect(b.length).toBeGreaterThan(0);
      expect(b.readUInt32LE(0)).toBe(format === "pcap" ? 0xa1b23c4d : 0x0a0d0d0a);
      if (hasTcpdump) expect(spawnSync("tcpdump", ["-r", p]).status).toBe(0);
    } finally {
      w.close();
    }
  });

  test("flush() puts what was written in the file; flushedPackets counts only what reached it", () => {
    const p = join(dir, "flushed.pcap");
    const w = PcapWriter.open(p);
    w.write(udpFrame(1, 60), 60, 1, 0);
    w.write(udpFrame(2, 60), 60, 1, 0);
    expect([w.packets, w.flushedPackets, statSync(p).size]).toEqual([2, 0, 24]);
    w.flush();
    expect([w.packets, w.flushedPackets, statSync(p).size]).toEqual([2, 2, 24 + 2 * 76]);
    w.write(udpFrame(3, 60), 60, 1, 0);
    expect(w.flushedPackets).toBe(2);
    expect(w.closed).toBe(false);
    w.close();
    expect([w.packets, w.flushedPackets, w.closed]).toEqual([3, 3, true]);
    expect(wholeRecords(p)).toBe(3);
  });

  test("a reader that has gone (EPIPE) is write_failed with errno 32, and the writer closes", () => {
    const fifo = join(dir, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    // A reader first (without it, opening the FIFO for writing would wait for one).
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const w = PcapWriter.open(fifo);
    closeSync(reader);
    w.write(udpFrame(1, 60), 60, 1, 0);
    let err: unknown;
    try {
      w.flush();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RingcapError);
    expect({ code: (err as RingcapError).code, errno: (err as RingcapError).errno }).toEqual({ code: "write_failed", errno: 32 });
    expect([w.closed, w.flushedPackets]).toEqual([true, 0]);
    expect(() => w.close()).not.toThrow();
    // A FIFO is not a capture file to remove or cut: it is still there.
    expect(existsSync(fifo)).toBe(true);
  });
});

describe.skipIf(!canMountTmpfs())("PcapWriter on a full disk (a 256 KiB tmpfs)", () => {
  test.each(["pcap", "pcapng"] as PcapFormat[])("%s: the file is cut back to its last whole record, which flushedPackets counts", (format) => {
    using fs = mountTmpfs(256);
    const p = join(fs.dir, `full.${format}`);
    const w = PcapWriter.open(p, { format });
    let err: unknown;
    let i = 0;
    try {
      // 1000-byte frames: far more than 256 KiB, bounded.
      for (; i < 2000; i++) w.write(udpFrame(i, 1000), 1000, 1_700_000_000 + i, 0);
      w.close();
    } catch (e) {
      err = e;
    }
    expect((err as RingcapError).code).toBe("disk_full");
    expect(w.closed).toBe(true);
    expect(w.flushedPackets).toBeGreaterThan(0);
    expect(w.flushedPackets).toBeLessThan(w.packets);
    // The file holds exactly the packets counted, each whole: tcpdump reads them without a
    // "truncated dump file" complaint.
    expect(wholeRecords(p)).toBe(w.flushedPackets);
    if (hasTcpdump) {
      const r = spawnSync("tcpdump", ["-r", p, "-n"], { encoding: "utf8" });
      expect({ code: r.status, lines: r.stdout.trimEnd().split("\n").length, truncated: r.stderr.includes("truncated") })
        .toEqual({ code: 0, lines: w.flushedPackets, truncated: false });
    }
  });

  test("a record larger than the buffer that does not fit leaves the file as it was before it", () => {
    using fs = mountTmpfs(256);
    const p = join(fs.dir, "large.pcapng");
    const w = PcapWriter.open(p, { snaplen: 0x7fffffff });
    w.write(udpFrame(1, 100), 100, 1, 0);
    const big = new Uint8Array((1 << 20) + 5);
    expect(() => w.write(big, big.length, 2, 0)).toThrow(/no space left on device/);
    expect([w.closed, w.packets, w.flushedPackets]).toEqual([true, 1, 1]);
    expect(wholeRecords(p)).toBe(1);
  });

  test("a disk with no room for the header fails at open and leaves no empty file behind", () => {
    using fs = mountTmpfs(64);
    // Fill it: one file as large as it takes.
    const filler = join(fs.dir, "filler");
    const chunk = new Uint8Array(4096);
    const fd = openSync(filler, "w");
    try {
      for (let i = 0; i < 64; i++) writeFileSync(fd, chunk);
    } catch {
      // ENOSPC: full.
    } finally {
      closeSync(fd);
    }
    const p = join(fs.dir, "none.pcap");
    let err: unknown;
    try {
      PcapWriter.open(p);
    } catch (e) {
      err = e;
    }
    expect((err as RingcapError).code).toBe("disk_full");
    expect((err as RingcapError).message).toContain(p);
    expect(existsSync(p)).toBe(false);
  });
});

// Files written by PcapWriter, read back by tcpdump and tshark.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClosedError, RingcapError } from "../src/errors.ts";
import { type PcapFormat, PcapWriter } from "../src/pcap.ts";

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

  test("a full disk throws disk_full and leaves the writer closed", () => {
    const w = PcapWriter.open("/dev/full");
    w.write(udpFrame(1, 60), 60, 1, 0);
    let err: unknown;
    try {
      w.flush();
    } catch (e) {
      err = e;
    }
    expect((err as RingcapError).code).toBe("disk_full");
    expect((err as RingcapError).errno).toBe(28);
    expect((err as RingcapError).message).toContain("/dev/full");
    expect(() => w.write(udpFrame(1, 60), 60, 1, 0)).toThrow(ClosedError);
    expect(() => w.close()).not.toThrow();
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

// `ringcap capture -r FILE [EXPR]` against `tcpdump -r FILE [EXPR]` on a file built here, byte by
// byte and deterministically (no root, no traffic): the packets -w writes equal tcpdump's, the
// printed lines equal tcpdump -r -S's, and a truncated file, -r with -i and a missing file end
// as documented. `-r -` reads the same from standard input (as tcpdump -r - -w -), and
// `flows -r` counts per 5-tuple what tshark counts on the same file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { flowsPrinter } from "../src/cli/flows_output.ts";
import { PcapWriter } from "../src/pcap.ts";
import { BUN, CLI, FILTER_CORPUS, tool } from "./_cli.ts";
import { readPcap } from "./_pcap_read.ts";
import { prng } from "./_prng.ts";

const SNAPLEN = 256;
const COUNT = 600;
/** Times print as UTC, for both programs. */
const ENV = { ...process.env, TZ: "UTC" };

function run(cmd: string, args: string[]): { code: number | null; out: string; err: string } {
  const r = Bun.spawnSync([cmd, ...args], { env: ENV, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}
const ringcap = (args: string[]) => run(BUN, [CLI, ...args]);
/** Runs `cmd args` with `input` as its standard input (a pipe); stdout as bytes. */
function runFed(cmd: string, args: string[], input: Uint8Array): { code: number | null; out: Buffer; err: string } {
  const r = Bun.spawnSync([cmd, ...args], { env: ENV, stdin: input, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: Buffer.from(r.stdout), err: r.stderr.toString() };
}

function ipv4(n: number): number[] {
  return [198, 18 + (n >> 8 & 1), 0, n & 0xff];
}
function ipv6(n: number): number[] {
  return [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n >> 8 & 0xff, n & 0xff];
}
const u16 = (v: number) => [v >> 8 & 0xff, v & 0xff];
const u32 = (v: number) => [v >>> 24 & 0xff, v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff];

/** One frame: Ethernet, up to two tags, IPv4 or IPv6, then TCP, UDP or ICMP, `payload` bytes of payload. */
interface Kind {
  tags?: Array<[tpid: number, tci: number]>;
  v6?: boolean;
  proto: "tcp" | "udp" | "icmp";
  flags?: number;
  dport?: number;
}

function frame(k: Kind, seq: number, src: number, dst: number, payload: number): Uint8Array {
  const body: number[] = [];
  const sport = 40000 + (src % 8);
  if (k.proto === "tcp") body.push(...u16(sport), ...u16(k.dport ?? 443), ...u32(seq * 1000 + 1), ...u32(k.flags! & 0x10 ? seq * 7 + 5 : 0), 0x50, k.flags ?? 0x02, ...u16(64240), 0, 0, 0, 0);
  else if (k.proto === "udp") body.push(...u16(sport), ...u16(k.dport ?? 4433), ...u16(8 + payload), 0, 0);
  else body.push(k.v6 ? (seq % 2 ? 129 : 128) : (seq % 2 ? 0 : 8), 0, 0, 0, ...u16(0x1234), ...u16(seq & 0xffff));
  for (let i = 0; i < payload; i++) body.push((seq + i) & 0xff);
  const ip: number[] = [];
  const protoNumber = k.proto === "tcp" ? 6 : k.proto === "udp" ? 17 : k.v6 ? 58 : 1;
  if (k.v6) ip.push(0x60, 0, 0, 0, ...u16(body.length), protoNumber, 64, ...ipv6(src), ...ipv6(0x100 + dst));
  else ip.push(0x45, 0, ...u16(20 + body.length), ...u16(seq & 0xffff), 0x40, 0, 64, protoNumber, 0, 0, ...ipv4(src), ...ipv4(0x100 + dst));
  const eth = [2, 0, 0, 0, 0, 0x10 + dst, 2, 0, 0, 0, 0, src & 0xff];
  for (const [tpid, tci] of k.tags ?? []) eth.push(...u16(tpid), ...u16(tci));
  eth.push(...u16(k.v6 ? 0x86dd : 0x0800));
  return new Uint8Array([...eth, ...ip, ...body]);
}

const KINDS: Kind[] = [
  { proto: "udp" },
  { proto: "udp", dport: 4434 },
  { proto: "tcp", flags: 0x02, dport: 70 },
  { proto: "tcp", flags: 0x12, dport: 443 },
  { proto: "tcp", flags: 0x18, dport: 443 },
  { proto: "tcp", flags: 0x11, dport: 8443 },
  { proto: "tcp", flags: 0x04, dport: 8443 },
  { proto: "icmp" },
  { v6: true, proto: "tcp", flags: 0x02, dport: 443 },
  { v6: true, proto: "udp", dport: 4433 },
  { v6: true, proto: "icmp" },
  { tags: [[0x8100, 100]], proto: "udp" },
  { tags: [[0x8100, 0xa000 | 100]], proto: "tcp", flags: 0x02, dport: 70 },
  { tags: [[0x8100, 200]], v6: true, proto: "tcp", flags: 0x02 },
  { tags: [[0x88a8, 300]], proto: "udp", dport: 4433 },
  { tags: [[0x88a8, 300], [0x8100, 301]], proto: "udp" },
  { tags: [[0x88a8, 300], [0x8100, 302]], v6: true, proto: "tcp", flags: 0x10 },
  { tags: [[0x9100, 400]], proto: "udp", dport: 70 },
];

/** The live tests' corpus, and what only a saved file's traffic here has (ICMP, a v6 host, IP lengths). */
const FILTERS = [...FILTER_CORPUS, "icmp", "icmp6", "less 100", "ip6 host 2001:db8::3", "ip[2:2] > 600"];
const PRINT_FLAGS = [[], ["-e"], ["-q"], ["-t"], ["-tt"], ["-e", "-q", "-t"], ["-v"], ["-vv", "-e"]];

let dir = "";
let pcap = "";
let pcapng = "";

/** The file's records as [sec, nsec, caplen, wire, bytes in hex]. */
function records(path: string): Array<[number, number, number, number, string]> {
  const out: Array<[number, number, number, number, string]> = [];
  readPcap(path, (view, r) => {
    out.push([r.sec, r.nsec, r.caplen, r.wire, Buffer.from(view.buffer, view.byteOffset + r.offset, r.caplen).toString("hex")]);
  });
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ringcap-read-"));
  pcap = join(dir, "mix.pcap");
  pcapng = join(dir, "mix.pcapng");
  const rand = prng(12);
  const writers = [PcapWriter.open(pcap, { snaplen: SNAPLEN }), PcapWriter.open(pcapng, { snaplen: SNAPLEN, ifName: "eth0" })];
  for (let i = 0; i < COUNT; i++) {
    const k = KINDS[Math.floor(rand() * KINDS.length)];
    // Mostly small, some larger than the snaplen (cut), a few near a full MTU.
    const r = rand();
    const payload = r < 0.6 ? Math.floor(rand() * 80) : r < 0.9 ? 200 + Math.floor(rand() * 400) : 1300 + Math.floor(rand() * 100);
    const f = frame(k, i, 1 + Math.floor(rand() * 4), 1 + Math.floor(rand() * 2), payload);
    // Whole microseconds, so tcpdump's printed (microsecond) time is exact; some odd nanoseconds below.
    const nsec = i % 5 === 0 ? Math.floor(rand() * 1e9) : Math.floor(rand() * 1e6) * 1000;
    for (const w of writers) w.write(f, f.length, 1_700_000_000 + i, nsec);
  }
  for (const w of writers) w.close();
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("capture -r", () => {
  test("the test file is what it should be: 600 packets, some cut by the snaplen", () => {
    const recs = records(pcap);
    expect(recs.length).toBe(COUNT);
    expect(recs.some((r) => r[2] < r[3])).toBe(true);
    expect(records(pcapng)).toEqual(recs);
  });

  test("-w writes exactly the packets tcpdump -r -w writes, for every filter and from pcap and pcapng", () => {
    const accepted: Record<string, number> = {};
    for (const expr of ["", ...FILTERS]) {
      const want = join(dir, "want.pcap");
      const t = run("tcpdump", ["--time-stamp-precision=nano", "-r", pcap, "-w", want, ...(expr ? [expr] : [])]);
      expect({ expr, code: t.code }).toEqual({ expr, code: 0 });
      const wanted = records(want);
      for (const [input, ext] of [[pcap, "pcap"], [pcapng, "pcapng"]]) {
        const out = join(dir, `got.${ext}`);
        const r = ringcap(["capture", "-r", input, "-w", out, ...(expr ? [expr] : [])]);
        expect({ expr, input, code: r.code, err: r.err }).toEqual({
          expr,
          input,
          code: 0,
          err: `reading from file ${input}, link-type EN10MB (Ethernet), snapshot length ${SNAPLEN}\n`,
        });
        expect({ expr, input, records: records(out) }).toEqual({ expr, input, records: wanted });
        if (ext === "pcap") {
          // The same file tcpdump writes, header and all (nanosecond pcap, the file's snaplen and link type).
          expect({ expr, same: Buffer.compare(readFileSync(out), readFileSync(want)) }).toEqual({ expr, same: 0 });
        }
      }
      accepted[expr] = wanted.length;
    }
    // Every filter keeps some packets and drops some.
    for (const expr of FILTERS) expect({ expr, some: accepted[expr] > 0 && accepted[expr] < COUNT }).toEqual({ expr, some: true });
  });

  test("printed lines equal tcpdump -r -S's (-e, -q, -t, -tt, -v, -vv), with and without a filter", () => {
    for (const flags of PRINT_FLAGS) {
      for (const expr of ["", "vlan and udp", "ip6 or icmp"]) {
        const e = expr ? [expr] : [];
        const want = run("tcpdump", ["-r", pcap, "-n", "-S", ...flags, ...e]);
        expect(want.code).toBe(0);
        const got = ringcap(["capture", "-r", pcap, ...flags, ...e]);
        expect({ flags, expr, code: got.code }).toEqual({ flags, expr, code: 0 });
        expect({ flags, expr, lines: got.out.trimEnd().split("\n") }).toEqual({ flags, expr, lines: want.out.trimEnd().split("\n") });
        expect(got.err).toBe(want.err);
      }
    }
  });

  test("-c COUNT takes the first COUNT accepted packets", () => {
    const got = ringcap(["capture", "-r", pcap, "-c", "7", "-t", "udp"]);
    const want = run("tcpdump", ["-r", pcap, "-n", "-S", "-c", "7", "-t", "udp"]);
    expect(got.code).toBe(0);
    expect(got.out).toBe(want.out);
    expect(got.out.trimEnd().split("\n").length).toBe(7);
  });

  test("-w OUT.pcapng rewrites as pcapng: the same packets, nanosecond timestamps and the interface's name", () => {
    const out = join(dir, "out.pcapng");
    const r = ringcap(["capture", "-r", pcapng, "-w", out, "tcp"]);
    expect(r.code).toBe(0);
    const want = join(dir, "tcp.pcap");
    expect(run("tcpdump", ["--time-stamp-precision=nano", "-r", pcap, "-w", want, "tcp"]).code).toBe(0);
    expect(records(out)).toEqual(records(want));
    expect(records(out).some((rec) => rec[1] % 1000 !== 0)).toBe(true);
    const names = run("tshark", ["-r", out, "-T", "fields", "-e", "frame.interface_name", "-c", "1"]);
    if (names.code === 0) expect(names.out.trim()).toBe("eth0");
  });

  test("-d prints the program compiled for the file (as tcpdump -r -ddd prints it, like the live -d)", () => {
    const got = ringcap(["capture", "-r", pcap, "-d", "vlan and udp"]);
    const want = run("tcpdump", ["-r", pcap, "-ddd", "vlan and udp"]);
    expect(got.code).toBe(0);
    expect(got.out).toBe(want.out);
  });

  test("a truncated file: every good packet, then the error naming the byte offset, exit 1", () => {
    const whole = readFileSync(pcap);
    const cut = join(dir, "cut.pcap");
    // 24-byte header, then records; cut in the middle of the 101st packet's data.
    let at = 24;
    for (let i = 0; i < 100; i++) at += 16 + whole.readUInt32LE(at + 8);
    writeFileSync(cut, whole.subarray(0, at + 16 + 5));
    const printed = ringcap(["capture", "-r", cut, "-t"]);
    expect(printed.code).toBe(1);
    expect(printed.out.trimEnd().split("\n").length).toBe(100);
    expect(printed.out).toBe(run("tcpdump", ["-r", pcap, "-n", "-S", "-t", "-c", "100"]).out);
    expect(printed.err).toContain(String(at));
    expect(printed.err).toMatch(/truncated/);
    const out = join(dir, "cut-out.pcap");
    const written = ringcap(["capture", "-r", cut, "-w", out]);
    expect(written.code).toBe(1);
    expect(records(out)).toEqual(records(pcap).slice(0, 100));
  });

  test("usage errors exit 2 with a reason: -r with -i, and flags that cannot apply to a file", () => {
    const cases: Array<[string[], RegExp]> = [
      [["-i", "lo"], /-i cannot apply with -r/],
      [["-B", "4096"], /-B cannot apply with -r/],
      [["--netns", "x"], /--netns cannot apply with -r/],
      [["--workers", "2"], /--workers cannot apply with -r/],
      [["-s", "100"], /-s cannot apply with -r/],
      [["--seconds", "1"], /--seconds cannot apply with -r/],
      [["-w", "x.pcap", "-e"], /-e changes printed packet lines/],
    ];
    for (const [flags, why] of cases) {
      const r = ringcap(["capture", "-r", pcap, ...flags]);
      expect({ flags, code: r.code, out: r.out }).toEqual({ flags, code: 2, out: "" });
      expect(r.err).toMatch(why);
    }
    const bad = ringcap(["capture", "-r", pcap, "udp and"]);
    expect(bad.code).toBe(2);
  });

  test("a missing file or one that is no capture file exits 6, naming it", () => {
    const missing = join(dir, "nope.pcap");
    const r = ringcap(["capture", "-r", missing]);
    expect(r.code).toBe(6);
    expect(r.err).toContain(missing);
    const text = join(dir, "text.pcap");
    writeFileSync(text, "this is not a capture file at all\n");
    const t = ringcap(["capture", "-r", text]);
    expect(t.code).toBe(6);
    expect(t.err).toMatch(/not a pcap or pcapng file/);
  });
});

describe("capture -r - (standard input)", () => {
  test("-r - -w reads a pipe into the same file as -r FILE -w, and as tcpdump -r - -w - does", () => {
    const input = readFileSync(pcap);
    for (const expr of ["", "vlan and udp", "ip6 or icmp", "tcp[tcpflags] & tcp-syn != 0"]) {
      const e = expr ? [expr] : [];
      const out = join(dir, "from-file.pcap");
      expect(ringcap(["capture", "-r", pcap, "-w", out, ...e]).code).toBe(0);
      const piped = runFed(BUN, [CLI, "capture", "-r", "-", "-w", "-", ...e], input);
      expect({ expr, code: piped.code, err: piped.err }).toEqual({
        expr,
        code: 0,
        err: `reading from file -, link-type EN10MB (Ethernet), snapshot length ${SNAPLEN}\n`,
      });
      expect({ expr, same: Buffer.compare(piped.out, readFileSync(out)) }).toEqual({ expr, same: 0 });
      const t = runFed("tcpdump", ["--time-stamp-precision=nano", "-r", "-", "-w", "-", ...e], input);
      expect(t.code).toBe(0);
      expect({ expr, same: Buffer.compare(piped.out, t.out) }).toEqual({ expr, same: 0 });
    }
    // pcapng on standard input: the same packets.
    const ng = runFed(BUN, [CLI, "capture", "-r", "-", "-w", "-", "udp"], readFileSync(pcapng));
    const want = join(dir, "udp-want.pcap");
    expect(run("tcpdump", ["--time-stamp-precision=nano", "-r", pcap, "-w", want, "udp"]).code).toBe(0);
    expect(Buffer.compare(ng.out, readFileSync(want))).toBe(0);
  });

  test("-r - with input redirected from a file prints what -r FILE prints", () => {
    const r = Bun.spawnSync([BUN, CLI, "capture", "-r", "-", "-t", "vlan"], { env: ENV, stdin: Bun.file(pcap), stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toBe(ringcap(["capture", "-r", pcap, "-t", "vlan"]).out);
  });

  test("truncated standard input: every good packet, then the error naming the byte offset from the stream's start, exit 1", () => {
    const whole = readFileSync(pcap);
    let at = 24;
    for (let i = 0; i < 50; i++) at += 16 + whole.readUInt32LE(at + 8);
    const cut = whole.subarray(0, at + 16 + 3);
    const printed = runFed(BUN, [CLI, "capture", "-r", "-", "-t"], cut);
    expect(printed.code).toBe(1);
    expect(printed.out.toString()).toBe(run("tcpdump", ["-r", pcap, "-n", "-S", "-t", "-c", "50"]).out);
    expect(printed.err).toMatch(/standard input: truncated pcap file/);
    expect(printed.err).toContain(`byte offset ${at}`);
    const flows = runFed(BUN, [CLI, "flows", "-r", "-", "--json", "--top", "1000"], cut);
    expect(flows.code).toBe(1);
    const line = JSON.parse(flows.out.toString()) as { top: { packets: number }[] };
    expect(line.top.reduce((n, f) => n + f.packets, 0)).toBe(50);
    expect(flows.err).toMatch(/truncated/);
    const text = runFed(BUN, [CLI, "capture", "-r", "-"], new TextEncoder().encode("not a capture file at all\n"));
    expect(text.code).toBe(6);
    expect(text.err).toMatch(/standard input: not a pcap or pcapng file/);
  });
});

/** Packets and bytes per directed 5-tuple as tshark dissects FILE (with a read filter), in flows' own notation. */
function tsharkFlows(path: string, expr: string): Map<string, { packets: number; bytes: number }> {
  const fields = ["frame.len", "ip.src", "ip.dst", "ip.proto", "ipv6.src", "ipv6.dst", "ipv6.nxt", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"];
  const args = ["-r", path, "-n", "-T", "fields", "-E", "separator=;", ...fields.flatMap((f) => ["-e", f])];
  // tshark's own filter language differs: take tcpdump's selection of the packets first.
  let input = path;
  if (expr) {
    input = join(dir, "selected.pcap");
    expect(run("tcpdump", ["--time-stamp-precision=nano", "-r", path, "-w", input, expr]).code).toBe(0);
    args[1] = input;
  }
  const r = run("tshark", args);
  expect(r.code).toBe(0);
  const names: Record<string, string> = { 6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6" };
  const out = new Map<string, { packets: number; bytes: number }>();
  for (const line of r.out.trimEnd().split("\n")) {
    const [len, s4, d4, p4, s6, d6, p6, ts, td, us, ud] = line.split(";");
    const v6 = s6 !== "";
    // The outer header's fields come first when a field repeats (ICMP errors quote another).
    const first = (v: string) => v.split(",")[0];
    const proto = names[first(v6 ? p6 : p4)];
    const src = first(v6 ? s6 : s4), dst = first(v6 ? d6 : d4);
    const sp = first(ts || us), dp = first(td || ud);
    const key = sp ? (v6 ? `${proto} [${src}]:${sp} > [${dst}]:${dp}` : `${proto} ${src}:${sp} > ${dst}:${dp}`) : `${proto} ${src} > ${dst}`;
    const c = out.get(key) ?? { packets: 0, bytes: 0 };
    c.packets++;
    c.bytes += Number(len);
    out.set(key, c);
  }
  return out;
}

describe("flows -r", () => {
  test("the flows of a saved file (and of standard input) total what tshark counts per 5-tuple, with and without a filter", () => {
    for (const expr of ["", "udp", "vlan and ip6", "tcp[tcpflags] & tcp-syn != 0"]) {
      const e = expr ? [expr] : [];
      const want = tsharkFlows(pcap, expr);
      for (const [input, fed] of [[pcap, false], [pcapng, false], ["-", true]] as const) {
        const args = [CLI, "flows", "-r", input, "--json", "--top", "10000", ...e];
        const r = fed ? runFed(BUN, args, readFileSync(pcap)) : run(BUN, args);
        const out = r.out.toString();
        expect({ expr, input, code: r.code }).toEqual({ expr, input, code: 0 });
        const lines = out.trimEnd().split("\n");
        expect(lines.length).toBe(1);
        const got = JSON.parse(lines[0]) as { flows: number; untracked: number; top: { flow: string; packets: number; bytes: number }[] };
        expect(got.untracked).toBe(0);
        const counted = new Map(got.top.map((f) => [f.flow, { packets: f.packets, bytes: f.bytes }]));
        expect({ expr, input, flows: [...counted].sort() }).toEqual({ expr, input, flows: [...want].sort() });
        expect(got.flows).toBe(want.size);
      }
    }
  });

  test("the table form (on a terminal) names the file and has no live-only parts; piped, one JSON line", () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: () => {}, errIsTty: false };
    const row = { flow: "udp 198.18.0.1:1 > 198.19.0.1:2", packets: 3, bytes: 300, pps: 1, bps: 800 };
    flowsPrinter(io, { json: false, iface: "", read: pcap, maxFlows: 10, workers: 1 })({ flows: 1, untracked: 0, drops: 0, top: [row] });
    flowsPrinter(io, { json: false, iface: "", read: "-", maxFlows: 10, workers: 1 })({ flows: 1, untracked: 0, drops: 0, top: [row] });
    expect(lines[0]).toContain(`ringcap flows of file ${pcap}: 1 flows\n`);
    expect(lines[0]).not.toContain("Ctrl-C");
    expect(lines[1]).toContain("ringcap flows of standard input: 1 flows\n");
    const r = ringcap(["flows", "-r", pcap, "--top", "3"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).top.length).toBe(3);
    expect(r.err).toBe(`reading from file ${pcap}, link-type EN10MB (Ethernet), snapshot length ${SNAPLEN}\n`);
  });

  test("a truncated file: the flows of every good packet, then the error, exit 1", () => {
    const whole = readFileSync(pcap);
    let at = 24;
    for (let i = 0; i < 80; i++) at += 16 + whole.readUInt32LE(at + 8);
    const cut = join(dir, "flows-cut.pcap");
    writeFileSync(cut, whole.subarray(0, at + 9));
    const r = ringcap(["flows", "-r", cut, "--json", "--top", "10000"]);
    expect(r.code).toBe(1);
    const line = JSON.parse(r.out) as { top: { packets: number }[] };
    expect(line.top.reduce((n, f) => n + f.packets, 0)).toBe(80);
    expect(r.err).toContain(`byte offset ${at}`);
  });

  test("usage errors exit 2 with a reason; a missing or non-capture file exits 6", () => {
    const cases: Array<[string[], RegExp]> = [
      [["-i", "lo"], /-i cannot apply with -r/],
      [["--workers", "2"], /--workers cannot apply with -r/],
      [["-B", "4096"], /-B cannot apply with -r/],
      [["--block-timeout", "10"], /--block-timeout cannot apply with -r/],
      [["--netns", "x"], /--netns cannot apply with -r/],
      [["--seconds", "1"], /--seconds cannot apply with -r/],
      [["--interval", "2"], /--interval cannot apply with -r/],
      [["-s", "100"], /-s cannot apply with -r/],
      [["-p"], /Unknown option '-p'/],
      [["udp and"], /syntax|parse/i],
    ];
    for (const [flags, why] of cases) {
      const r = ringcap(["flows", "-r", pcap, ...flags]);
      expect({ flags, code: r.code, out: r.out }).toEqual({ flags, code: 2, out: "" });
      expect(r.err).toMatch(why);
    }
    const missing = ringcap(["flows", "-r", join(dir, "nope.pcap")]);
    expect(missing.code).toBe(6);
    const text = join(dir, "flows-text.pcap");
    writeFileSync(text, "no capture here\n");
    expect(ringcap(["flows", "-r", text]).code).toBe(6);
    expect(ringcap(["flows", "-r", ""]).code).toBe(2);
  });
});

// `ringcap capture -r FILE [EXPR]` against `tcpdump -r FILE [EXPR]` over a corpus of files
// built here (test/_corpus.ts): every link type ringcap decodes (Ethernet, raw IP, raw IPv4 and
// IPv6, Linux cooked v1 and v2, BSD and OpenBSD loopback), pcap in both byte orders with micro-
// and nanosecond timestamps, pcapng of ours (one and two interfaces, both byte orders) and of
// editcap. For each file and each expression, the packets -w writes are byte for byte tcpdump's
// (an expression libpcap cannot compile for the link type is refused by both), and the printed
// lines are tcpdump -n -S's. Malformed files end with a clear error after the good packets.
//
// The file × expression matrix runs the CLI in this process (main() with its own CommandIO,
// -w to a file), a thousand runs in seconds; a few runs per link type spawn `ringcap` as a user
// does, for `-w -` on a real stdout and the exit codes of a real process.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, CLI, FILTER_CORPUS, packetsOf, ringcapHere } from "./_cli.ts";
import { BASE_SEC, type Framed, framesFor, LT, type NgInterface, pcapFile, pcapngFile } from "./_corpus.ts";

const SNAPLEN = 128;
const LINK_NAMES: Record<number, string> = {
  [LT.ETHERNET]: "ethernet",
  [LT.RAW]: "raw",
  [LT.IPV4]: "ipv4",
  [LT.IPV6]: "ipv6",
  [LT.LINUX_SLL]: "sll",
  [LT.LINUX_SLL2]: "sll2",
  [LT.NULL]: "null",
  [LT.LOOP]: "loop",
};

/**
 * The shared corpus (which assumes Ethernet and VLANs; on other link types some of it does not
 * compile, and both programs must refuse it) and what the link types here add: ARP, ICMPv6,
 * fragments of both IP versions, extension headers, directions and interface indexes.
 */
const EXPRESSIONS = [
  ...FILTER_CORPUS,
  "icmp",
  "icmp6",
  "arp",
  "ip6 and udp",
  "ip[6:2] & 0x1fff != 0",
  "ip[6] & 0x20 != 0",
  "ip6 proto 44",
  "ip6 protochain 6",
  "ip6[6] == 0",
  "ip6 host 2001:db8::5",
  "net 198.19.0.0/16 and tcp",
  "less 100",
  "inbound",
  "outbound",
  "ifindex 2",
  "ip or ip6",
  "ip broadcast",
];


interface CorpusFile {
  name: string;
  path: string;
  link: number;
  /** The packets in file order: packet i has the timestamp BASE_SEC + i. */
  packets: Framed[];
}

let dir = "";
const files: CorpusFile[] = [];

function tool(cmd: string, args: string[]): { code: number | null; out: Buffer; err: string } {
  const r = spawnSync(cmd, args, { maxBuffer: 64 << 20, env: { ...process.env, TZ: "UTC" } });
  return { code: r.status, out: r.stdout, err: r.stderr.toString() };
}



/** The packet index (timestamp - BASE_SEC) of each record of a pcap file's bytes. */
function indexesOf(pcap: Buffer): number[] {
  const dv = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  const le = dv.getUint32(0, true) === 0xa1b2c3d4 || dv.getUint32(0, true) === 0xa1b23c4d;
  const out: number[] = [];
  for (let at = 24; at + 16 <= pcap.length; at += 16 + dv.getUint32(at + 8, le)) out.push(dv.getUint32(at, le) - BASE_SEC);
  return out;
}

function addFile(name: string, link: number, packets: Framed[], bytes: Uint8Array): CorpusFile {
  const f = { name, path: join(dir, name), link, packets };
  writeFileSync(f.path, bytes);
  files.push(f);
  return f;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ringcap-corpus-"));
  for (const link of Object.values(LT)) {
    const n = LINK_NAMES[link];
    const le = framesFor(link, true);
    // A big-endian file of DLT_NULL comes from a big-endian host: its families are big-endian too.
    const be = framesFor(link, false);
    const raw = (p: Framed[]) => p.map((x) => x.frame);
    addFile(`${n}.le-usec.pcap`, link, le, pcapFile(link, SNAPLEN, raw(le), { littleEndian: true, nano: false }));
    addFile(`${n}.be-nsec.pcap`, link, be, pcapFile(link, SNAPLEN, raw(be), { littleEndian: false, nano: true }));
    addFile(`${n}.pcapng`, link, le, pcapngFile([{ link, snaplen: SNAPLEN, name: "if0" }], raw(le), true));
  }
  const eth = framesFor(LT.ETHERNET);
  const ethFrames = eth.map((x) => x.frame);
  addFile("ethernet.le-nsec-full.pcap", LT.ETHERNET, eth, pcapFile(LT.ETHERNET, 65535, ethFrames, { littleEndian: true, nano: true }));
  addFile("ethernet.be-usec-full.pcap", LT.ETHERNET, eth, pcapFile(LT.ETHERNET, 262144, ethFrames, { littleEndian: false, nano: false }));
  // The same snaplen on both: libpcap (and so tcpdump) refuses interfaces whose snaplens differ.
  const two: NgInterface[] = [{ link: LT.ETHERNET, snaplen: SNAPLEN, name: "eth0" }, { link: LT.ETHERNET, snaplen: SNAPLEN, name: "eth1" }];
  addFile("ethernet.two-interfaces.be.pcapng", LT.ETHERNET, eth, pcapngFile(two, ethFrames, false, (i) => i % 2));
  const sll2 = framesFor(LT.LINUX_SLL2);
  const twoSll2: NgInterface[] = [{ link: LT.LINUX_SLL2, snaplen: SNAPLEN, name: "any" }, { link: LT.LINUX_SLL2, snaplen: SNAPLEN, name: "any2" }];
  addFile("sll2.two-interfaces.pcapng", LT.LINUX_SLL2, sll2, pcapngFile(twoSll2, sll2.map((x) => x.frame), true, (i) => (i * 7) % 2));
  // A pcapng written by Wireshark's own tools, not by us.
  const converted = join(dir, "ethernet.editcap.pcapng");
  const e = tool("editcap", ["-F", "pcapng", join(dir, "ethernet.le-usec.pcap"), converted]);
  if (e.code === 0) files.push({ name: "ethernet.editcap.pcapng", path: converted, link: LT.ETHERNET, packets: files[0].packets });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the corpus", () => {
  test("holds every link type in every encoding, with packets cut by the snaplen", () => {
    expect(files.length).toBeGreaterThanOrEqual(28);
    expect(new Set(files.map((f) => f.link))).toEqual(new Set(Object.values(LT)));
    for (const f of files) {
      const t = tool("tcpdump", ["-r", f.path, "-w", "/dev/null"]);
      const err = t.err.replace(/^reading from file.*\n/, "").replace("Warning: interface names might be incorrect\n", "");
      expect({ file: f.name, code: t.code, err }).toEqual({ file: f.name, code: 0, err: "" });
    }
    expect(files[0].packets.some((p) => p.frame.length > SNAPLEN)).toBe(true);
    expect(EXPRESSIONS.length).toBeGreaterThanOrEqual(40);
  });
});

describe("capture -r over the corpus equals tcpdump -r", () => {
  test(
    "-w writes exactly the packets tcpdump -r -w writes, for every file and expression; an expression one cannot compile, neither can the other",
    async () => {
      const out = join(dir, "out.pcap");
      let compared = 0;
      let refused = 0;
      for (const f of files) {
        for (const expr of EXPRESSIONS) {
          const t = tool("tcpdump", ["--time-stamp-precision=nano", "-r", f.path, "-w", "-", expr]);
          rmSync(out, { force: true });
          const r = await ringcapHere(["capture", "-r", f.path, "-w", out, expr]);
          if (t.code !== 0) {
            // libpcap refuses it for this link type (vlan on raw IP, ether[...] on cooked, ...).
            expect({ file: f.name, expr, code: r.code, refused: /tcpdump: /.test(t.err) }).toEqual({ file: f.name, expr, code: 2, refused: true });
            refused++;
            continue;
          }
          expect({ file: f.name, expr, code: r.code, err: r.err.replace(/^reading from file.*$/m, "").trim() }).toEqual({ file: f.name, expr, code: 0, err: "" });
          const got = readFileSync(out);
          if (!got.equals(t.out)) {
            expect({ file: f.name, expr, packets: indexesOf(got) }).toEqual({ file: f.name, expr, packets: indexesOf(t.out) });
            expect({ file: f.name, expr, bytes: got.toString("hex") }).toEqual({ file: f.name, expr, bytes: t.out.toString("hex") });
          }
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(files.length * 20);
      expect(refused).toBeGreaterThan(0);
    },
    120_000,
  );

  test(
    "printed lines equal tcpdump -n -S's, with and without -e, -q, -v and -vv, for every file; and with a filter, the lines of the packets tcpdump takes",
    async () => {
      for (const f of files) {
        for (const flags of [[], ["-e"], ["-q"], ["-e", "-q"], ["-v"], ["-vv"], ["-e", "-v"]]) {
          const t = tool("tcpdump", ["-n", "-S", "-tt", ...flags, "-r", f.path]);
          expect(t.code).toBe(0);
          const r = await ringcapHere(["capture", "-tt", ...flags, "-r", f.path]);
          expect({ file: f.name, flags, code: r.code }).toEqual({ file: f.name, flags, code: 0 });
          expectSameLines(f, flags, packetsOf(r.out), packetsOf(t.out.toString()));
          // tcpdump warns that a cooked v2 file's interface indexes are resolved here.
          expect(r.err.includes("Warning: interface names might be incorrect")).toBe(t.err.includes("Warning: interface names might be incorrect"));
        }
        // A packet's line does not depend on the filter: with one, the lines are those of the
        // packets tcpdump's -w takes (the -w test above showed ringcap takes the same).
        const all = packetsOf(tool("tcpdump", ["-n", "-S", "-tt", "-r", f.path]).out.toString());
        for (const expr of EXPRESSIONS) {
          const taken = tool("tcpdump", ["-r", f.path, "-w", "-", expr]);
          if (taken.code !== 0) continue;
          const r = await ringcapHere(["capture", "-tt", "-r", f.path, expr]);
          expect({ file: f.name, expr, code: r.code }).toEqual({ file: f.name, expr, code: 0 });
          const want = indexesOf(taken.out).map((i) => all[i]);
          expectSameLines(f, [expr], packetsOf(r.out), want);
        }
      }
    },
    120_000,
  );

  test("-w - from a real process is byte for byte tcpdump -r -w -'s, for every link type", () => {
    for (const f of files.filter((x) => x.name.endsWith(".be-nsec.pcap"))) {
      for (const expr of ["ip6 or arp", "udp and not ip[6:2] & 0x1fff != 0"]) {
        const t = tool("tcpdump", ["--time-stamp-precision=nano", "-r", f.path, "-w", "-", expr]);
        const r = tool(BUN, [CLI, "capture", "-r", f.path, "-w", "-", expr]);
        if (t.code !== 0) {
          // ip[...] on a raw IPv6 file: libpcap cannot compile it, and the usage error exits 2.
          expect({ file: f.name, expr, code: r.code, out: r.out.length, err: /ringcap capture: .+/.test(r.err) }).toEqual({ file: f.name, expr, code: 2, out: 0, err: true });
          continue;
        }
        expect({ file: f.name, expr, code: r.code, same: r.out.equals(t.out), packets: indexesOf(r.out).length > 0 }).toEqual({
          file: f.name,
          expr,
          code: 0,
          same: true,
          packets: true,
        });
      }
    }
  });
});

test("-r - reads a cooked v2 capture from a pipe as tcpdump -r - does: the same packets written, the same lines printed", () => {
  const f = files.find((x) => x.name === "sll2.pcapng")!;
  const input = readFileSync(f.path);
  const fed = (cmd: string, args: string[]) => spawnSync(cmd, args, { input, maxBuffer: 64 << 20, env: { ...process.env, TZ: "UTC" } });
  const written = fed(BUN, [CLI, "capture", "-r", "-", "-w", "-", "ip6 or arp"]);
  const want = fed("tcpdump", ["--time-stamp-precision=nano", "-r", "-", "-w", "-", "ip6 or arp"]);
  expect({ code: written.status, same: Buffer.from(written.stdout).equals(Buffer.from(want.stdout)) }).toEqual({ code: 0, same: true });
  const printed = fed(BUN, [CLI, "capture", "-tt", "-r", "-", "udp"]);
  const lines = fed("tcpdump", ["-n", "-S", "-tt", "-r", "-", "udp"]);
  expect(printed.status).toBe(0);
  expect(printed.stdout.toString()).toBe(lines.stdout.toString());
  expect(printed.stderr.toString()).toContain("Warning: interface names might be incorrect");
});

/**
 * Our lines against tcpdump's, packet by packet (the -tt timestamp names the packet). Every
 * packet of the corpus is compared in full: it holds nothing ringcap prints with less detail
 * than tcpdump (GRE, SCTP chunks, IGMP and the like print as `ip-proto-N LENGTH` here).
 */
function expectSameLines(f: CorpusFile, how: string[], got: string[], want: string[]): void {
  expect({ file: f.name, how, count: got.length }).toEqual({ file: f.name, how, count: want.length });
  for (let k = 0; k < want.length; k++) {
    const index = Number(/^(\d+)\./.exec(want[k])?.[1]) - BASE_SEC;
    const packet = f.packets[index]?.name;
    expect({ file: f.name, how, packet, line: got[k] }).toEqual({ file: f.name, how, packet, line: want[k] });
  }
}

/** The offset of record `n` (0-based) of a pcap file in `le` byte order, or of its end. */
function recordAt(bytes: Uint8Array, n: number, le: boolean): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 24;
  for (let i = 0; i < n; i++) at += 16 + dv.getUint32(at + 8, le);
  return at;
}

/** The offset of block `n` (0-based, the section header is block 0) of a pcapng file. */
function blockAt(bytes: Uint8Array, n: number, le: boolean): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (let i = 0; i < n; i++) at += dv.getUint32(at + 4, le);
  return at;
}

describe("malformed files end with a clear error after the good packets", () => {
  /**
   * Writes `bytes` as `name`, then reads it with both programs: both fail, ringcap with exit
   * `code` and an error matching `why`; its -w holds the packets tcpdump's -w holds, and it
   * prints as many packets as tcpdump prints.
   */
  async function bothFail(name: string, bytes: Uint8Array, why: RegExp, code: number): Promise<void> {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    const t = tool("tcpdump", ["--time-stamp-precision=nano", "-r", path, "-w", "-"]);
    expect({ name, tcpdumpFailed: t.code !== 0 }).toEqual({ name, tcpdumpFailed: true });
    const out = join(dir, `${name}.out.pcap`);
    const r = await ringcapHere(["capture", "-r", path, "-w", out]);
    expect({ name, code: r.code, why: why.test(r.err) ? "matches" : r.err }).toEqual({ name, code, why: "matches" });
    // A file refused before its first packet leaves ringcap no -w output; tcpdump's then has no
    // packet either (a header at most).
    const got = existsSync(out) ? indexesOf(readFileSync(out)) : [];
    expect({ name, packets: got }).toEqual({ name, packets: t.out.length >= 24 ? indexesOf(t.out) : [] });
    const printed = await ringcapHere(["capture", "-r", path, "-tt"]);
    const tp = tool("tcpdump", ["-n", "-S", "-tt", "-r", path]);
    expect({ name, code: printed.code, lines: packetsOf(printed.out).length }).toEqual({ name, code, lines: packetsOf(tp.out.toString()).length });
  }

  test("a pcap cut in the middle of a record (both byte orders): the packets before it, then 'truncated' with the offset, exit 1", async () => {
    for (const [f, le] of [[files.find((x) => x.name === "sll2.le-usec.pcap")!, true], [files.find((x) => x.name === "null.be-nsec.pcap")!, false]] as const) {
      const whole = readFileSync(f.path);
      const at = recordAt(whole, 9, le);
      await bothFail(`cut-${f.name}`, whole.subarray(0, at + 16 + 7), new RegExp(`truncated.*${at}|${at}.*truncated`), 1);
      // Inside the record header, too.
      await bothFail(`cut-header-${f.name}`, whole.subarray(0, at + 9), /truncated/, 1);
    }
  });

  test("a file with a bad magic number is no capture file: exit 6, naming it", async () => {
    const whole = new Uint8Array(readFileSync(files[0].path));
    whole.set([0x12, 0x34, 0x56, 0x78], 0);
    await bothFail("bad-magic.pcap", whole, /bad-magic\.pcap.*(pcap|capture)/, 6);
  });

  test("pcapng with a corrupt block length (not a multiple of 4, trailer disagreeing, too short): the packets before it, then 'corrupt' with the offset, exit 1", async () => {
    const f = files.find((x) => x.name === "loop.pcapng")!;
    const whole = readFileSync(f.path);
    const at = blockAt(whole, 2 + 6, true); // section header, interface, then the 7th packet
    const odd = new Uint8Array(whole);
    new DataView(odd.buffer).setUint32(at + 4, new DataView(odd.buffer).getUint32(at + 4, true) + 2, true);
    await bothFail("odd-length.pcapng", odd, new RegExp(`corrupt.*${at}`), 1);
    const trailer = new Uint8Array(whole);
    const length = new DataView(trailer.buffer).getUint32(at + 4, true);
    new DataView(trailer.buffer).setUint32(at + length - 4, length + 4, true);
    await bothFail("trailer.pcapng", trailer, /corrupt/, 1);
    const short = new Uint8Array(whole);
    new DataView(short.buffer).setUint32(at + 4, 8, true);
    await bothFail("short-block.pcapng", short, new RegExp(`corrupt.*${at}`), 1);
  });

  test("pcapng whose interfaces have different link types: refused as libpcap refuses it (a file ringcap does not read: exit 6)", async () => {
    const eth = framesFor(LT.ETHERNET).slice(0, 4).map((x) => x.frame);
    const raw = framesFor(LT.RAW).slice(0, 4).map((x) => x.frame);
    const ifaces: NgInterface[] = [{ link: LT.ETHERNET, snaplen: SNAPLEN, name: "eth0" }, { link: LT.RAW, snaplen: SNAPLEN, name: "tun0" }];
    await bothFail("mixed.pcapng", pcapngFile(ifaces, [...eth, ...raw], true, (i) => (i < 4 ? 0 : 1)), /link type/, 6);
  });
});

describe("flows -r over the corpus", () => {
  test("every link type counts the same flows of the same IP packets (the raw IP file's)", async () => {
    // Only Ethernet frames carry tags here (and only Ethernet can compile "vlan"; after it, libpcap
    // reads what follows 4 bytes further in, hence last).
    const flowsOf = async (path: string, link: number) => {
      const r = await ringcapHere(["flows", "-r", path, "--json", "--top", "100", link === LT.ETHERNET ? "(ip or ip6) and not vlan" : "ip or ip6"]);
      expect({ path, code: r.code }).toEqual({ path, code: 0 });
      const top = (JSON.parse(r.out) as { top: Array<{ flow: string; packets: number }> }).top;
      return Object.fromEntries(top.map((t) => [t.flow, t.packets]));
    };
    const want = await flowsOf(files.find((x) => x.name === "raw.le-usec.pcap")!.path, LT.RAW);
    expect(Object.keys(want).length).toBeGreaterThan(15);
    // DLT_NULL frames with Linux's AF_INET6 (10) are not IP to libpcap and tcpdump, nor here.
    const notLinux6 = await flowsOf(files.find((x) => x.name === "null.le-usec.pcap")!.path, LT.NULL);
    const linux6 = framesFor(LT.NULL).filter((p) => p.frame[0] === 10 || p.frame[3] === 10).length;
    const total = (flows: Record<string, number>) => Object.values(flows).reduce((a, b) => a + b, 0);
    expect(linux6).toBeGreaterThan(0);
    expect(total(notLinux6)).toBe(total(want) - linux6);
    for (const f of files.filter((x) => x.link !== LT.IPV4 && x.link !== LT.IPV6)) {
      expect({ file: f.name, flows: await flowsOf(f.path, f.link) }).toEqual({ file: f.name, flows: f.link === LT.NULL ? notLinux6 : want });
    }
  });
});

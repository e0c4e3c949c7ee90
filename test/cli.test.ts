// The `ringcap` command line, single capture (no --workers), run as a user runs it: `bun src/cli/main.ts ...`
// as a subprocess with --netns, on a namespace of its own. What it writes is checked with
// tcpdump, tshark and capinfos; what it prints and accepts is compared with tcpdump's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { Generator, type GeneratorOptions } from "../src/gen.ts";
import { PcapWriter } from "../src/pcap.ts";
import { FANOUT_DEFAULTS } from "../mod.ts";
import { BUN, CLI, FILTER_CORPUS, type Finished, framesSoFar, Proc, readFrames, ringcap, seqOf, seqs, summary, tool, until } from "./_cli.ts";

const STATUS = /^(\d+) packets, (\d+) pps, (\d+\.\d) Mbps, (\d+) dropped by kernel$/;

/** Sends frames from inside the test process (the CLI processes run on their own). */
function send(bench: Bench, options: GeneratorOptions, count: number, maxMs = 10_000): { sent: number; frameLength: number } {
  using g = new Generator(bench.tx, { netns: bench.name, ...options });
  const { sent } = g.send(count, { maxMs });
  return { sent, frameLength: g.frameLength };
}

/**
 * The traffic every filter is tried on, sequence numbers in one run: UDP and TCP with several
 * flag sets, IPv6, 802.1Q (which the kernel strips), 802.1ad, QinQ and a 0x9100 tag (which it
 * does not), four sources, several ports and sizes. The ports are ones tcpdump has no
 * application dissector for, so its lines end where ringcap's do.
 */
const MIX: Array<{ count: number; options: GeneratorOptions }> = [
  { count: 24, options: { flows: 4 } },
  { count: 12, options: { flows: 2, dstPort: 4433, size: 300 } },
  { count: 10, options: { tcp: true, tcpFlags: 0x02, dstPort: 70, flows: 3 } },
  { count: 8, options: { tcp: true, tcpFlags: 0x12, dstPort: 443, flows: 2 } },
  { count: 8, options: { tcp: true, dstPort: 443, size: 1000 } },
  { count: 4, options: { tcp: true, tcpFlags: 0x11, dstPort: 8443 } },
  { count: 4, options: { tcp: true, tcpFlags: 0x04, dstPort: 8443 } },
  { count: 4, options: { tcp: true, tcpFlags: 0x31, dstPort: 8443 } },
  { count: 8, options: { ipv6: true, tcp: true, dstPort: 443, flows: 2 } },
  { count: 8, options: { ipv6: true, dstPort: 4433 } },
  { count: 8, options: { vlan: { id: 100 }, flows: 2 } },
  { count: 6, options: { vlan: { id: 100, priority: 5 }, tcp: true, tcpFlags: 0x02, dstPort: 70 } },
  { count: 6, options: { vlan: { id: 200 }, ipv6: true, tcp: true, tcpFlags: 0x02 } },
  // 252 bytes with its tag, 248 without: "greater 250" tells whether a filter counts the stripped tag.
  { count: 6, options: { vlan: { id: 300, tpid: 0x88a8 }, dstPort: 4433, size: 252 } },
  { count: 6, options: { qinq: { outer: 300, inner: 301 } } },
  { count: 6, options: { qinq: { outer: 300, inner: 302 }, ipv6: true, tcp: true } },
  { count: 4, options: { vlan: { id: 400, tpid: 0x9100 }, dstPort: 70 } },
];
const TOTAL = MIX.reduce((n, m) => n + m.count, 0);

const PRINT_FLAGS = [[], ["-e"], ["-q"], ["-t"], ["-tt"], ["-e", "-q", "-t"], ["-v"], ["-vv", "-e"]];
const RING = ["-B", "2048"]; // 2 MiB rings: the traffic here is small, and many captures run at once

describe.skipIf(!privileged())("ringcap CLI (single capture)", () => {
  let bench: Bench;
  let dir: string;
  let on: string[]; // -i RX --netns NAME

  beforeAll(() => {
    bench = createBench();
    dir = mkdtempSync(join(tmpdir(), "ringcap-cli-"));
    on = ["-i", bench.rx, "--netns", bench.name];
  });
  afterAll(() => {
    bench?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** One traffic run that most tests below read: the mix, seen by many captures at once. */
  interface MainRun {
    ref: string;
    lengths: number[];
    files: Record<"pcap" | "pcapng" | "formatFlag" | "stdout" | "snap", string>;
    writers: Finished[];
    prints: Finished[];
    filtered: Array<{ expr: string; file: string; result: Finished }>;
  }
  let main: Promise<MainRun> | null = null;
  function mainRun(): Promise<MainRun> {
    return (main ??= (async () => {
      const ref = join(dir, "ref.pcap");
      const files = {
        pcap: join(dir, "all.pcap"),
        pcapng: join(dir, "all.pcapng"),
        formatFlag: join(dir, "all.dat"),
        stdout: join(dir, "stdout.pcap"),
        snap: join(dir, "snap.pcapng"),
      };
      // The reference: tcpdump capturing the same interface.
      // Immediate mode puts libpcap on TPACKET_V2, whose frames are sized for the snaplen: with
      // -s 0 its 2 MiB ring holds 7 frames, and the burst below lost 3 once in CI. The frames
      // here are at most 1,018 bytes: 2,048 keeps them whole, and 8 MiB holds thousands.
      const tcpdump = new Proc("ip", ["netns", "exec", bench.name, "tcpdump", "-i", bench.rx, "-s", "2048", "-B", "8192", "--immediate-mode", "-w", ref]);
      const writers = [
        ringcap(["capture", ...on, ...RING, "-w", files.pcap]),
        ringcap(["capture", ...on, ...RING, "-w", files.pcapng]),
        ringcap(["capture", ...on, ...RING, "--format", "pcapng", "-w", files.formatFlag]),
        ringcap(["capture", ...on, ...RING, "-w", "-"]),
        ringcap(["capture", ...on, ...RING, "-s", "128", "-w", files.snap]),
      ];
      const prints = PRINT_FLAGS.map((flags) => ringcap(["capture", ...on, ...RING, ...flags]));
      const filtered = FILTER_CORPUS.map((expr, i) => {
        const file = join(dir, `filter-${i}.pcap`);
        return { expr, file, proc: ringcap(["capture", ...on, ...RING, "-w", file, expr]) };
      });
      const all = [tcpdump, ...writers, ...prints, ...filtered.map((f) => f.proc)];
      await Promise.all(all.map((p) => p.started));
      let seq = 0;
      const lengths: number[] = [];
      for (const { count, options } of MIX) {
        const { sent, frameLength } = send(bench, { ...options, seqStart: seq }, count);
        expect(sent).toBe(count);
        for (let i = 0; i < count; i++) lengths.push(frameLength);
        seq += count;
      }
      // The frames are on their way through the veth's backlog; Ctrl-C then keeps what has arrived.
      await Bun.sleep(300);
      const [tcpdumpResult, ...results] = await Promise.all(all.map((p) => p.stop()));
      expect(tcpdumpResult.code).toBe(0);
      writeFileSync(files.stdout, results[3].raw);
      return {
        ref,
        lengths,
        files,
        writers: results.slice(0, writers.length),
        prints: results.slice(writers.length, writers.length + prints.length),
        filtered: filtered.map((f, i) => ({ expr: f.expr, file: f.file, result: results[writers.length + prints.length + i] })),
      };
    })());
  }

  test("-Q out and -Q in take what tcpdump -Q out / -Q in take, on frames sent both ways", async () => {
    const tx = ["-i", bench.tx, "--netns", bench.name];
    const file = (name: string) => join(dir, `q-${name}.pcap`);
    const tcpdump = (q: string) =>
      new Proc("ip", ["netns", "exec", bench.name, "tcpdump", "-i", bench.tx, "-Q", q, "-s", "2048", "-B", "8192", "--immediate-mode", "-U", "-w", file(`tcpdump-${q}`)]);
    const procs = [
      ringcap(["capture", ...tx, ...RING, "-Q", "out", "-w", file("out")]),
      ringcap(["capture", ...tx, ...RING, "-Q", "in", "-w", file("in")]),
      tcpdump("out"),
      tcpdump("in"),
    ];
    await Promise.all(procs.map((p) => p.started));
    // Sent on tx: outgoing there. Sent on rx: received on tx.
    // Paced: tcpdump's immediate-mode ring is small, and a burst can overrun it.
    using fromTx = new Generator(bench.tx, { netns: bench.name, seqStart: 0, rate: 2000 });
    using fromRx = new Generator(bench.rx, { netns: bench.name, seqStart: 1000, rate: 2000 });
    expect(fromTx.send(20).sent + fromRx.send(30).sent).toBe(50);
    // tcpdump reads its ring when it is scheduled, and a SIGINT ends it without reading the
    // rest: wait (bounded) until its files (-U: written per packet) hold what was sent.
    const held = (name: string) => framesSoFar(file(name)).length;
    await until(() => held("tcpdump-out") >= 20 && held("tcpdump-in") >= 30, 3000);
    await Bun.sleep(100);
    const results = await Promise.all(procs.map((p) => p.stop()));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
    expect(seqs(file("tcpdump-out"))).toEqual(range(0, 20));
    expect(seqs(file("tcpdump-in"))).toEqual(range(1000, 30));
    expect(seqs(file("out"))).toEqual(seqs(file("tcpdump-out")));
    expect(seqs(file("in"))).toEqual(seqs(file("tcpdump-in")));
    const bad = await ringcap(["capture", ...tx, "-Q", "both"]).done;
    expect([bad.code, bad.err]).toEqual([2, expect.stringContaining("-Q must be in, out or inout")]);
  });

  test("capture -w writes pcap and pcapng that tcpdump and tshark read back with every frame as sent", async () => {
    const run = await mainRun();
    const expected = Array.from({ length: TOTAL }, (_, i) => i);
    // The reference saw every frame, so it can stand for what was sent.
    expect(seqs(run.ref)).toEqual(expected);
    const refTcpdump = tool("tcpdump", ["-r", run.ref, "-n", "-t", "-xx"]);
    const refTshark = tool("tshark", ["-r", run.ref, "-x"]);
    expect(refTcpdump.out.length).toBeGreaterThan(0);
    for (const w of run.writers) {
      expect(w.code).toBe(0);
      expect(summary(w.err)).toEqual({ captured: TOTAL, received: TOTAL, dropped: 0 });
    }
    // -w - writes the file to stdout and nothing else there.
    expect(run.writers[3].raw.readUInt32LE(0)).toBe(0xa1b23c4d);
    const magics = { pcap: 0xa1b23c4d, pcapng: 0x0a0d0d0a, formatFlag: 0x0a0d0d0a, stdout: 0xa1b23c4d } as const;
    for (const [kind, magic] of Object.entries(magics)) {
      const file = run.files[kind as keyof typeof magics];
      expect({ kind, magic: readFileSync(file).readUInt32LE(0) }).toEqual({ kind, magic });
      const frames = readFrames(file);
      expect(frames.map((f) => seqOf(f.data))).toEqual(expected);
      expect(frames.map((f) => f.len)).toEqual(run.lengths);
      expect(frames.map((f) => f.caplen)).toEqual(run.lengths);
      // Same count, lengths and bytes, VLAN tags back in place, as both tools read them.
      const byTcpdump = tool("tcpdump", ["-r", file, "-n", "-t", "-xx"]);
      expect({ kind, code: byTcpdump.code }).toEqual({ kind, code: 0 });
      expect(byTcpdump.out).toBe(refTcpdump.out);
      const byTshark = tool("tshark", ["-r", file, "-x"]);
      expect({ kind, code: byTshark.code }).toEqual({ kind, code: 0 });
      expect(byTshark.out).toBe(refTshark.out);
    }
    // -s 128: each frame cut at 128 bytes, its wire length kept.
    const refFrames = readFrames(run.ref);
    const snap = readFrames(run.files.snap);
    expect(snap.length).toBe(TOTAL);
    snap.forEach((f, i) => {
      const r = refFrames[i];
      expect({ i, len: f.len, caplen: f.caplen, data: Buffer.from(f.data).toString("hex") })
        .toEqual({ i, len: r.len, caplen: Math.min(r.len, 128), data: Buffer.from(r.data.subarray(0, 128)).toString("hex") });
    });
    const snapByTshark = tool("tshark", ["-r", run.files.snap, "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len"]);
    expect(snapByTshark.out.trimEnd().split("\n")).toEqual(refFrames.map((r) => `${r.len}\t${Math.min(r.len, 128)}`));
  });

  test("a pcapng file's interface block names the interface, link type, snaplen and nanosecond resolution", async () => {
    const run = await mainRun();
    for (const [file, snaplen] of [[run.files.pcapng, 262144], [run.files.snap, 128]] as const) {
      const info = tool("capinfos", ["-I", file]);
      expect(info.code).toBe(0);
      expect(info.out).toContain(`Name = ${bench.rx}`);
      expect(info.out).toContain("Encapsulation = Ethernet (1 - ether)");
      expect(info.out).toContain(`Capture length = ${snaplen}`);
      expect(info.out).toContain("Time precision = nanoseconds (9)");
    }
    const fields = tool("tshark", ["-r", run.files.pcapng, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.time_epoch"]);
    const rows = fields.out.trimEnd().split("\n").map((l) => l.split("\t"));
    expect(rows.length).toBe(TOTAL);
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set([bench.rx]));
    // Nanoseconds for real: kernel timestamps are not all whole microseconds.
    const nanos = rows.map((r) => /\.(\d{9})$/.exec(r[1])?.[1]);
    expect(nanos.every((n) => n !== undefined)).toBe(true);
    expect(nanos.some((n) => !n!.endsWith("000"))).toBe(true);
  });

  test("without -w it prints one line per packet as tcpdump -r -S prints the same packets (-e, -q, -t, -tt, -v, -vv)", async () => {
    const run = await mainRun();
    const timeRe = { local: /^(\d\d):(\d\d):(\d\d)\.(\d{6}) /, epoch: /^(\d+)\.(\d{6}) / };
    const split = (line: string, style: "local" | "epoch" | "none"): { time: number; text: string } => {
      if (style === "none") return { time: 0, text: line };
      const m = timeRe[style].exec(line);
      if (!m) return { time: NaN, text: line };
      const time = style === "local" ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1e6 : Number(m[1]) + Number(m[2]) / 1e6;
      return { time, text: line.slice(m[0].length) };
    };
    PRINT_FLAGS.forEach((flags, i) => {
      const printed = run.prints[i];
      expect(printed.code).toBe(0);
      expect(summary(printed.err).captured).toBe(TOTAL);
      const style = flags.includes("-t") ? "none" : flags.includes("-tt") ? "epoch" : "local";
      // tcpdump numbers TCP sequences relative to a connection's first packet unless -S; ringcap
      // keeps no per-connection state and prints them absolute, as -S does.
      const want = tool("tcpdump", ["-r", run.ref, "-n", "-S", ...flags]).out.trimEnd().split("\n").map((l) => split(l, style));
      const got = printed.out.trimEnd().split("\n").map((l) => split(l, style));
      expect({ flags, lines: got.map((l) => l.text) }).toEqual({ flags, lines: want.map((l) => l.text) });
      // Another socket timestamps the same frame a few microseconds apart, in the same format
      // (-v's second lines have none; their text was compared above).
      const worst = Math.max(...got.map((l, j) => Math.abs(l.time - want[j].time)).filter((d, j) => !Number.isNaN(want[j].time) || !Number.isNaN(d)));
      expect({ flags, close: worst < 0.5 }).toEqual({ flags, close: true });
    });
  });

  test("filter expressions accept exactly the packets tcpdump -r accepts from the unfiltered file", async () => {
    const run = await mainRun();
    const got: Record<string, number[]> = {};
    const want: Record<string, number[]> = {};
    const counts: Record<string, { accepted: number; summary: number }> = {};
    for (const { expr, file, result } of run.filtered) {
      expect({ expr, code: result.code, err: result.code === 0 ? "" : result.err }).toEqual({ expr, code: 0, err: "" });
      const byTcpdump = join(dir, "by-tcpdump.pcap");
      const r = tool("tcpdump", ["-r", run.files.pcap, "-w", byTcpdump, expr]);
      expect({ expr, code: r.code }).toEqual({ expr, code: 0 });
      got[expr] = seqs(file);
      want[expr] = seqs(byTcpdump);
      counts[expr] = { accepted: want[expr].length, summary: summary(result.err).captured };
    }
    expect(got).toEqual(want);
    // Every filter tells packets apart here: it keeps some and drops some.
    for (const [expr, { accepted, summary }] of Object.entries(counts)) {
      expect({ expr, some: accepted > 0 && accepted < TOTAL, summary }).toEqual({ expr, some: true, summary: accepted });
    }
    // Wireshark's reader agrees on each file's packet count.
    const info = tool("capinfos", ["-c", "-M", "-T", "-r", ...run.filtered.map((f) => f.file)]);
    expect(info.code).toBe(0);
    const table = info.out.trimEnd().split("\n").map((l) => l.split("\t"));
    expect(table.map((row) => Number(row[1]))).toEqual(run.filtered.map((f) => got[f.expr].length));
  });

  test("SIGINT while the generator runs leaves a complete file holding exactly the packets the summary counts", async () => {
    const file = join(dir, "sigint.pcapng");
    const cap = ringcap(["capture", ...on, "-w", file]);
    await cap.started;
    const count = 60_000;
    const gen = ringcap(["gen", "-i", bench.tx, "--netns", bench.name, "--count", String(count), "--rate", "40000", "--flows", "8", "--json"]);
    await Bun.sleep(700);
    cap.child.kill("SIGINT");
    const r = await cap.done;
    const g = await gen.done;
    expect(g.code).toBe(0);
    expect(JSON.parse(g.out).sent).toBe(count);
    expect(r.code).toBe(0);
    // Ctrl-C ends the capture at that moment, with every packet the kernel had taken by then:
    // captured or dropped, nothing left behind in the ring. Frames kept coming after it.
    const { captured, received, dropped } = summary(r.err);
    expect(captured + dropped).toBe(received);
    expect(captured).toBeGreaterThan(0);
    expect(received).toBeLessThan(count);
    const inFile = seqs(file);
    expect(inFile.length).toBe(captured);
    if (dropped === 0) expect(inFile).toEqual(Array.from({ length: captured }, (_, i) => i));
    else expect(new Set(inFile).size).toBe(captured);
    for (const [cmd, args] of [["tcpdump", ["-r", file]], ["tshark", ["-r", file]]] as const) {
      const t = tool(cmd, [...args]);
      expect({ cmd, code: t.code, lines: t.out.trimEnd().split("\n").length }).toEqual({ cmd, code: 0, lines: captured });
    }
  });

  test("--status shows pps, Mbps and kernel drops on stderr once a second, never on stdout; drops are accounted for", async () => {
    const file = join(dir, "status.pcap");
    // A 128 KiB ring and a stopped reader: the kernel has to drop.
    const cap = ringcap(["capture", ...on, "-B", "64", "--status", "-w", file]);
    await cap.started;
    const t0 = performance.now();
    const first = send(bench, { rate: 5000 }, 6000, 1300).sent;
    cap.child.kill("SIGSTOP");
    const burst = send(bench, { seqStart: first }, 5000).sent;
    cap.child.kill("SIGCONT");
    await Bun.sleep(2200);
    const seconds = (performance.now() - t0) / 1000;
    const r = await cap.stop();
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    const lines = r.err.split("\n").filter((l) => STATUS.test(l)).map((l) => STATUS.exec(l)!.slice(1).map(Number));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    const { captured, received, dropped } = summary(r.err);
    expect(dropped).toBeGreaterThan(0);
    // Every frame reached the socket: captured or dropped, nothing unaccounted for.
    expect({ captured: captured + dropped, received }).toEqual({ captured: first + burst, received: first + burst });
    expect(new Set(seqs(file)).size).toBe(captured);
    // While frames flowed the line showed their rate, and Mbps matches pps for 60-byte frames.
    const moving = lines.find(([, pps]) => pps > 1000);
    expect(moving).toBeDefined();
    const [, pps, mbps] = moving!;
    expect(Math.abs(mbps - (pps * 60 * 8) / 1e6)).toBeLessThanOrEqual(0.1 + 0.2 * mbps);
    // The last lines show the drops, and the packet counts only grow.
    expect(lines[lines.length - 1][3]).toBe(dropped);
    expect(lines.every((l, i) => i === 0 || l[0] >= lines[i - 1][0])).toBe(true);
  });

  test("printing with --status keeps stdout to packet lines", async () => {
    const cap = ringcap(["capture", ...on, ...RING, "--status", "-t", "udp"]);
    await cap.started;
    send(bench, { rate: 200 }, 250, 3000);
    const r = await cap.stop();
    expect(r.code).toBe(0);
    const out = r.out.trimEnd().split("\n");
    expect(out.length).toBe(250);
    expect(new Set(out)).toEqual(new Set(["IP 198.18.0.0.10000 > 198.19.0.1.9: UDP, length 18"]));
    expect(r.err.split("\n").some((l) => STATUS.test(l))).toBe(true);
  });

  test("an unknown interface exits 3 and lists the interfaces that exist", async () => {
    const r = await ringcap(["capture", "-i", "nosuch0", "--netns", bench.name, "-c", "1"]).done;
    expect(r.code).toBe(3);
    for (const name of ["lo", bench.rx, bench.tx]) expect(r.err).toContain(name);
  });

  test("without CAP_NET_RAW it exits 4 and says how to grant it", async () => {
    // Inside the namespace (no --netns, which would need CAP_SYS_ADMIN), as nobody.
    const r = await new Proc("ip", ["netns", "exec", bench.name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
      "--inh-caps=-all", BUN, CLI, "capture", "-i", bench.rx, "-c", "1"]).done;
    expect({ code: r.code, err: r.err }).toEqual({ code: 4, err: expect.stringContaining("CAP_NET_RAW") });
    expect(r.err).toContain("setcap cap_net_raw");
  });

  test("an interface that is down exits 5 and says how to bring it up", async () => {
    bench.ip("link", "add", "rcdown0", "type", "veth", "peer", "name", "rcdown1");
    const r = await ringcap(["capture", "-i", "rcdown0", "--netns", bench.name, "-c", "1"]).done;
    expect(r.code).toBe(5);
    expect(r.err).toContain("ip link set dev");
  });

  test("a bad filter exits 2 with libpcap's own message, as tcpdump shows it", async () => {
    const empty = join(dir, "empty.pcap");
    PcapWriter.open(empty).close();
    for (const expr of ["port nonsense", "udp and", "vlan 5000"]) {
      const t = tool("tcpdump", ["-r", empty, expr]);
      const message = /tcpdump: (.*)/.exec(t.err)?.[1];
      expect(message).toBeDefined();
      const r = await ringcap(["capture", ...on, "-c", "1", expr]).done;
      expect({ expr, code: r.code, err: r.err.trim() }).toEqual({ expr, code: 2, err: `ringcap capture: ${message}` });
    }
  });

  test("a file that cannot be written exits 6: no such directory, or a disk that is full", async () => {
    writeFileSync(join(dir, "plain"), "");
    for (const target of ["/nonexistent-ringcap-dir/x.pcap", join(dir, "plain", "x.pcap")]) {
      const r = await ringcap(["capture", ...on, "-c", "1", "-w", target]).done;
      expect({ target, code: r.code }).toEqual({ target, code: 6 });
      expect(r.err).toContain(`cannot open ${target} for writing`);
    }
    // A disk full from the start fails when the file opens (its header), before any capture,
    // not after the capture has run to its end.
    const r = await ringcap(["capture", ...on, "-c", "5", "--seconds", "20", "-w", "/dev/full"], 20_000).done;
    expect(r.code).toBe(6);
    expect(r.err).toContain("no space left on device");
    expect(r.err).toContain("free some space or write elsewhere");
    expect(r.err).not.toContain("capturing on");
    expect(r.err).not.toMatch(/packets captured/);
  });

  test("usage errors exit 2 and point at --help", async () => {
    const cases = [
      ["capture", "--netns", bench.name, "-c", "1"],
      ["capture", ...on, "-c", "many"],
      ["capture", ...on, "--bogus"],
      ["capture", "-i", "nosuch0", "--format", "xml", "-w", join(dir, "x")],
      ["capture", "-d"],
      ["gen", "-i", bench.tx, "--netns", bench.name],
      ["flows", "--netns", bench.name],
      ["flows", ...on, "--interval", "0"],
      ["capture", ...on, "--block-timeout", "0"],
      ["flows", ...on, "-B", "12"],
    ];
    const results = await Promise.all(cases.map((args) => ringcap(args).done));
    results.forEach((r, i) => {
      expect({ args: cases[i], code: r.code, help: r.err.includes("--help") }).toEqual({ args: cases[i], code: 2, help: true });
    });
    const unknown = await ringcap(["frob"]).done;
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown command "frob"');
    // No command at all: the help goes to stderr, not into a pipe that expects packets.
    const none = await ringcap([]).done;
    expect({ code: none.code, out: none.out, help: none.err.includes("usage: ringcap <command>") }).toEqual({ code: 2, out: "", help: true });
  });

  test("malformed values exit 2 naming the flag: blank, hex and exponent numbers, -w '', --workers above the pool's maximum, a 16-byte interface name", async () => {
    const bounded = [...on, "--seconds", "5"];
    const cases: Array<[string[], string]> = [
      [["capture", ...bounded, "-c", ""], `-c must be a whole number from 0 to`],
      [["capture", ...bounded, "-c", " "], `-c must be a whole number from 0 to`],
      [["capture", ...bounded, "-c", " 5"], `got " 5"`],
      [["capture", ...bounded, "-c", "0x10"], `got "0x10"`],
      [["capture", ...bounded, "-c", "1e3"], `got "1e3"`],
      [["capture", ...bounded, "-c", "0b11"], `got "0b11"`],
      [["capture", ...bounded, "-c", "+5"], `got "+5"`],
      [["capture", ...bounded, "-c", "5."], `got "5."`],
      [["capture", ...bounded, "-c", "1__0"], `got "1__0"`],
      [["capture", ...bounded, "-s", "0x40"], `-s must be a whole number`],
      [["capture", ...bounded, "-B", "1e4"], `-B must be a whole number`],
      [["flows", ...bounded, "--interval", "1e-1"], `--interval (seconds) must be a number from 0.1 to 3600`],
      [["gen", "-i", bench.tx, "--netns", bench.name, "--count", "0x10"], `--count must be a whole number`],
      [["capture", ...bounded, "--workers", String(FANOUT_DEFAULTS.maxWorkers + 1)], `--workers must be a whole number from 1 to ${FANOUT_DEFAULTS.maxWorkers}`],
      [["capture", ...bounded, "-w", ""], `-w needs a file name ("-" for stdout)`],
      [["capture", ...bounded, "--flush-ms", "0", "-w", join(dir, "f.pcap")], `--flush-ms must be a whole number from 1 to 60000`],
      [["capture", ...bounded, "--flush-ms", "100"], "--flush-ms needs -w FILE"],
      [["capture", ...bounded, "-U", "--flush-ms", "100", "-w", join(dir, "f.pcap")], "give -U (each packet written out at once) or --flush-ms MS, not both"],
      [["capture", "-i", "0123456789abcdef", "--netns", bench.name, "--seconds", "5"], "interface name must be 1 to 15 characters"],
    ];
    const results = await Promise.all(cases.map(([args]) => ringcap(args, 20_000).done));
    results.forEach((r, i) => {
      const [args, message] = cases[i];
      expect({ args, code: r.code, out: r.out, message: r.err.includes(message), trace: r.err.includes("    at ") })
        .toEqual({ args, code: 2, out: "", message: true, trace: false });
    });
    // The interface check stays: a name of the right length that does not exist is exit 3.
    const missing = await ringcap(["capture", "-i", "012345678901234", "--netns", bench.name, "--seconds", "5"], 20_000).done;
    expect(missing.code).toBe(3);
    // --help gives the maximum the check applies, the pool's own.
    const help = await ringcap(["capture", "--help"]).done;
    expect(help.out).toContain(`1 to ${FANOUT_DEFAULTS.maxWorkers}`);
  });

  // The library refuses the ring before it opens anything; the interface and the namespace do
  // not exist either, so nothing could be allocated even if it did not.
  const availableKiB = Number(/^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  const tooLargeKiB = Math.min(16 * 1024 * 1024, availableKiB);
  test.skipIf(tooLargeKiB * 2 <= availableKiB)("a ring larger than half of MemAvailable (-B) exits 2 with the numbers and the -B hint, one ring and --workers 2", async () => {
    const results = await Promise.all([[], ["--workers", "2"]].map((workers) =>
      ringcap(["capture", "-i", "nosuch0", "--netns", "ringcap-nosuch-ns", "-B", String(tooLargeKiB), ...workers, "--seconds", "5"], 20_000).done
    ));
    for (const r of results) {
      expect({ code: r.code, trace: r.err.includes("    at ") }).toEqual({ code: 2, trace: false });
      expect(r.err).toContain("is more than the limit of");
      expect(r.err).toContain("MemAvailable");
      expect(r.err).toContain("give a smaller -B KiB");
    }
  });

  test("-F and --bpf with a missing file or a directory exit 2 naming the path, without a stack trace", async () => {
    const cases: Array<[string, string, string]> = [
      ["-F", join(dir, "no-such-filter"), "no such file"],
      ["-F", dir, "it is a directory"],
      ["--bpf", join(dir, "no-such-program"), "no such file"],
      ["--bpf", dir, "it is a directory"],
    ];
    const results = await Promise.all(cases.map(([flag, path]) => ringcap(["capture", ...on, "--seconds", "5", flag, path], 20_000).done));
    results.forEach((r, i) => {
      const [flag, path, why] = cases[i];
      expect({ flag, path, code: r.code, says: r.err.includes(`${flag} ${path}: cannot read it (${why})`), trace: r.err.includes("    at ") })
        .toEqual({ flag, path, code: 2, says: true, trace: false });
    });
  });

  test("a flag that cannot apply exits 2 and says why, before capturing anything", async () => {
    const exprFile = join(dir, "expr.txt");
    writeFileSync(exprFile, "udp\n");
    // --seconds bounds each run, should a flag be let through: it would then exit 0.
    const bounded = [...on, "--seconds", "5"];
    const cases: Array<[string[], string]> = [
      [["capture", ...bounded, "--fanout", "lb"], "--fanout chooses how --workers N share the packets: it needs --workers 2 or more"],
      [["capture", ...bounded, "--workers", "1", "--fanout", "hash"], "--fanout chooses how --workers N share the packets"],
      [["capture", ...bounded, "--per-worker-files", "-w", join(dir, "pwf.pcap")], "--per-worker-files needs --workers N (2 or more) and -w FILE"],
      [["capture", ...bounded, "--workers", "2", "--fanout", "cbpf"], `--fanout must be one of hash, lb, cpu, rollover, rnd, qm, got "cbpf"`],
      [["capture", ...bounded, "--workers", "2", "--fanout", "ebpf"], "which the command line cannot give"],
      [["capture", ...bounded, "-e", "-w", join(dir, "e.pcap")], "-e changes printed packet lines, and with -w none are printed"],
      [["capture", ...bounded, "-q", "-w", "-"], "-q changes printed packet lines"],
      [["capture", ...bounded, "-tt", "-w", join(dir, "tt.pcap")], "-tt changes printed packet lines"],
      [["capture", ...bounded, "--workers", "2", "-t", "-w", join(dir, "t.pcap")], "-t changes printed packet lines"],
      [["capture", ...bounded, "--format", "pcapng"], "--format needs -w FILE"],
      [["capture", ...bounded, "--status", "--no-status"], "give --status or --no-status, not both"],
      [["capture", ...bounded, "-F", exprFile, "tcp"], "give a filter expression or -F FILE, not both"],
      [["capture", ...bounded, "--bpf", exprFile, "-F", exprFile], "give -F FILE or --bpf FILE, not both"],
      [["gen", "-i", bench.tx, "--netns", bench.name, "--count", "1", "--vlan", "5", "--qinq", "1,2"], "give --vlan or --qinq, not both"],
      [["gen", "-i", bench.tx, "--netns", bench.name, "--count", "1", "--qinq", "5"], "--qinq needs OUTER,INNER"],
      [["flows", ...bounded, "--interval", "0.05"], "--interval (seconds) must be a number from 0.1 to 3600"],
    ];
    const results = await Promise.all(cases.map(([args]) => ringcap(args, 20_000).done));
    results.forEach((r, i) => {
      const [args, message] = cases[i];
      expect({ args, code: r.code, out: r.out, message: r.err.includes(message), help: r.err.includes(`see \`ringcap ${args[0]} --help\``) })
        .toEqual({ args, code: 2, out: "", message: true, help: true });
    });
  });

  test("-n is accepted and changes nothing (ringcap prints numbers, as tcpdump -n does)", async () => {
    const help = await ringcap(["capture", "--help"]).done;
    expect(help.out).toContain("-n           numbers only");
    const cap = ringcap(["capture", ...on, ...RING, "-n", "-t", "-c", "3", "--seconds", "20", "udp"]);
    await cap.started;
    send(bench, {}, 3);
    const r = await cap.done;
    expect(r.code).toBe(0);
    expect(r.out.trimEnd().split("\n")).toEqual(Array(3).fill("IP 198.18.0.0.10000 > 198.19.0.1.9: UDP, length 18"));
  });

  test.each([[[]], [["--workers", "2"]]])("flows --json %p prints one JSON line per interval with the generator's flows", async (workers: string[]) => {
    const proc = new Proc(BUN, [CLI, "flows", ...on, ...workers, "--json", "--seconds", "3", "--interval", "0.5", "--top", "3"]);
    // It is capturing once the first line is out.
    for (let i = 0; i < 200 && proc.outBytes === 0 && proc.child.exitCode === null; i++) await Bun.sleep(25);
    send(bench, { flows: 4, rate: 2000 }, 400);
    send(bench, { flows: 2, ipv6: true, tcp: true, dstPort: 443, size: 200, seqStart: 400 }, 100);
    const r = await proc.done;
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const last = lines[lines.length - 1];
    expect(last.flows).toBe(6);
    expect(last.drops).toBe(0);
    // The top 3 by bytes: both IPv6 flows (50 frames of 200 bytes), then one of the UDP flows.
    expect(last.top.slice(0, 2).map((f: { flow: string; packets: number; bytes: number }) => [f.flow, f.packets, f.bytes]).sort()).toEqual([
      ["tcp [2001:db8:0:1::1]:10000 > [2001:db8:0:2::1]:443", 50, 10000],
      ["tcp [2001:db8:0:1::]:10000 > [2001:db8:0:2::1]:443", 50, 10000],
    ]);
    expect(last.top[2]).toMatchObject({ flow: expect.stringMatching(/^udp 198\.18\.0\.[0-3]:10000 > 198\.19\.0\.1:9$/), packets: 100, bytes: 6000 });
    expect(last.top.length).toBe(3);
    expect(lines.some((l) => l.top.some((f: { pps: number }) => f.pps > 0))).toBe(true);
  });

  test("gen sends the number of frames it reports, as a capture confirms", async () => {
    const file = join(dir, "gen.pcap");
    const cap = ringcap(["capture", ...on, ...RING, "-c", "300", "-w", file, "--seconds", "30"]);
    await cap.started;
    const gen = await ringcap(["gen", "-i", bench.tx, "--netns", bench.name, "--count", "300", "--rate", "10000", "--flows", "3"]).done;
    expect(gen.code).toBe(0);
    const m = /^sent (\d+) frames of (\d+) bytes in [\d.]+ s \(\d+ pps\)$/m.exec(gen.out);
    expect(m?.slice(1, 3)).toEqual(["300", "60"]);
    const r = await cap.done;
    expect(r.code).toBe(0);
    expect(summary(r.err).captured).toBe(300);
    const frames = readFrames(file);
    expect(frames.map((f) => seqOf(f.data))).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(new Set(frames.map((f) => f.len))).toEqual(new Set([60]));
  });
});

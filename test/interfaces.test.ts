// Captures of more than one interface: "any" (cooked, LINUX_SLL2) and several named ones on one
// socket, in the library and in the CLI, compared with tcpdump -i any and read back by tcpdump
// and tshark. Two veth pairs in one namespace: frames sent on each tx end are outgoing there and
// received on its rx end, so "any" sees every frame twice, once each way.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { Generator } from "../src/gen.ts";
import { type Capture, LINKTYPE, openCapture, PACKET_TYPE } from "../mod.ts";
import { FILTER_CORPUS, framesSoFar, Proc, readFrames, ringcap, seqOf, tool, until } from "./_cli.ts";

const RING = ["-B", "2048"];
/**
 * tcpdump's: immediate mode puts libpcap on TPACKET_V2, whose frames are sized for the snaplen,
 * so with -s 0 its 2 MiB ring holds 7 frames and a short burst overruns it. Our frames are short:
 * 2048 bytes keeps them whole, and 8 MiB holds thousands.
 */
const TCPDUMP_RING = ["-s", "2048", "-B", "8192", "--immediate-mode", "-U"];
const SMALL_RING = { blockSize: 1 << 16, blockCount: 8, frameSize: 2048, blockTimeoutMs: 5 };
/** Our frames only: the namespace's own chatter (IPv6 router solicitations, MLD) is left out. */
const OURS = "udp and net 198.18.0.0/15";
const TX2 = "rc2tx";
/**
 * Expressions tried on an "any" capture (compiled for LINUX_SLL2, moved to the cooked socket):
 * loads behind the header, the header's protocol, packet type and interface index as ancillary
 * loads, TCP flags through the IP header length, lengths. (VLAN tests do not compile for
 * LINUX_SLL2: libpcap refuses them there too.)
 */
const ANY_FILTERS = [
  ...FILTER_CORPUS.filter((e) => !/vlan|ether\[/.test(e)),
  "ip",
  "ether proto 0x86dd",
  "inbound",
  "outbound",
  "outbound and tcp",
  "ifindex RX2",
  "ifindex TX and udp",
  "less 100",
  "ip[8] = 64",
  "ip6 and ip6[6] = 6",
  "udp[8:4] = 0x52434150",
];
const RX2 = "rc2rx";

describe.skipIf(!privileged())("several interfaces in one capture", () => {
  let bench: Bench;
  let dir: string;

  beforeAll(() => {
    bench = createBench();
    bench.ip("link", "add", TX2, "type", "veth", "peer", "name", RX2);
    for (const dev of [TX2, RX2]) bench.ip("link", "set", "dev", dev, "up");
    dir = mkdtempSync(join(tmpdir(), "ringcap-ifaces-"));
  });
  afterAll(() => {
    bench?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Sends `n` frames on each pair, one of each a millisecond: seq 0.. on the first, 1000.. on the second. */
  function sendBoth(n: number): void {
    using a = new Generator(bench.tx, { netns: bench.name, seqStart: 0 });
    using b = new Generator(TX2, { netns: bench.name, seqStart: 1000 });
    for (let i = 0; i < n; i++) {
      expect(a.send(1).sent + b.send(1).sent).toBe(2);
      Bun.sleepSync(1);
    }
  }

  const file = (name: string) => join(dir, name);
  const inNs = (cmd: string, args: string[]) => tool("ip", ["netns", "exec", bench.name, cmd, ...args]);

  test('openCapture("any") labels each frame with its interface and direction; "any" with others is refused', () => {
    using cap = openCapture("any", { netns: bench.name, filter: OURS, ring: SMALL_RING });
    expect(cap.info.linkType).toBe(LINKTYPE.LINUX_SLL2);
    expect(cap.info.interfaces).toEqual(["any"]);
    sendBoth(5);
    const seen: string[] = [];
    const end = Date.now() + 3000;
    while (seen.length < 20 && Date.now() < end) {
      const block = cap.nextBlock(50);
      if (!block) continue;
      for (const p of block) {
        // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address.
        expect(cap.view.getUint16(p.offset)).toBe(0x0800);
        expect(cap.view.getInt32(p.offset + 4)).toBe(p.ifindex);
        expect(cap.bytes[p.offset + 10]).toBe(p.packetType);
        const dir = p.packetType === PACKET_TYPE.outgoing ? "out" : p.packetType === PACKET_TYPE.host || p.packetType === PACKET_TYPE.otherhost ? "in" : "?";
        seen.push(`${seqOf(cap.bytes.subarray(p.offset, p.offset + p.caplen))} ${p.interfaceName} ${dir}`);
      }
    }
    const expected = [0, 1, 2, 3, 4].flatMap((i) => [
      `${i} ${bench.tx} out`,
      `${i} ${bench.rx} in`,
      `${1000 + i} ${TX2} out`,
      `${1000 + i} ${RX2} in`,
    ]);
    expect(seen.sort()).toEqual(expected.sort());
    expect(() => openCapture(["any", bench.rx], { netns: bench.name })).toThrow(/"any" already captures every interface/);
    // Byte 2 of the SLL2 header (reserved) has no ancillary load: refused, not run wrong.
    expect(() => openCapture("any", { netns: bench.name, filter: "ether[2] = 0" })).toThrow(/reads byte 2 of the LINUX_SLL2 header/);
    expect(() => openCapture([bench.rx, bench.rx], { netns: bench.name })).toThrow(/named twice/);
    expect(() => openCapture(Array.from({ length: 9 }, (_, i) => `x${i}`), { netns: bench.name })).toThrow(/1 to 8 interfaces/);
  });

  test("-i any writes what tcpdump -i any writes: same frames, interfaces and directions, read back by tcpdump and tshark; -Q out keeps the sent ones", async () => {
    const any = ["capture", "-i", "any", "--netns", bench.name, ...RING];
    const tcpdump = (name: string, extra: string[]) =>
      new Proc("ip", ["netns", "exec", bench.name, "tcpdump", "-i", "any", ...extra, ...TCPDUMP_RING, "-w", file(name), OURS]);
    const procs = [
      ringcap([...any, "-w", file("any.pcap"), OURS]),
      ringcap([...any, "-Q", "out", "-w", file("any-out.pcap"), OURS]),
      ringcap([...any, "--workers", "2", "-w", file("any-workers.pcap"), OURS]),
      tcpdump("tcpdump-any.pcap", []),
      tcpdump("tcpdump-any-out.pcap", ["-Q", "out"]),
      // Printed lines: ringcap's (one ring, and workers) and tcpdump's own, live.
      ringcap([...any, "-t", OURS]),
      ringcap([...any, "--workers", "2", "-t", OURS]),
      new Proc("ip", ["netns", "exec", bench.name, "tcpdump", "-i", "any", ...TCPDUMP_RING.slice(0, 5), "-l", "-n", "-t", OURS]),
      // After -Z the namespace cannot be entered to list its interfaces: they were listed before.
      ringcap([...any, "--workers", "2", "-Z", "nobody", "-t", OURS]),
    ];
    await Promise.all(procs.map((p) => p.started));
    sendBoth(10);
    const count = (name: string) => framesSoFar(file(name)).length;
    await until(() => count("tcpdump-any.pcap") >= 40 && count("tcpdump-any-out.pcap") >= 20 && procs.slice(5).every((p) => p.outLines >= 40), 4000);
    await Bun.sleep(100);
    const results = await Promise.all(procs.map((p) => p.stop()));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Live lines, as tcpdump -i any -n prints them: interface (padded), direction, packet.
    const printed = (r: { out: string }) => r.out.trim().split("\n").sort();
    expect(printed(results[7]).length).toBe(40);
    expect(printed(results[5])).toEqual(printed(results[7]));
    expect(printed(results[6])).toEqual(printed(results[7]));
    expect(printed(results[8])).toEqual(printed(results[7]));

    // Same frames, byte for byte: the SLL2 header (interface index, ARPHRD type, packet type,
    // address) and the packet after it; in the order each capture took them.
    const frames = (name: string) => readFrames(file(name)).map((f) => Buffer.from(f.data).toString("hex")).sort();
    expect(frames("tcpdump-any.pcap").length).toBe(40);
    expect(frames("any.pcap")).toEqual(frames("tcpdump-any.pcap"));
    expect(frames("any-workers.pcap")).toEqual(frames("tcpdump-any.pcap"));
    expect(frames("tcpdump-any-out.pcap").length).toBe(20);
    expect(frames("any-out.pcap")).toEqual(frames("tcpdump-any-out.pcap"));

    // tcpdump, reading in the namespace, names the interfaces and directions alike.
    const lines = (name: string) => {
      const r = inNs("tcpdump", ["-r", file(name), "-n", "-t"]);
      expect(r.code).toBe(0);
      return r.out.trim().split("\n").sort();
    };
    const ours = lines("any.pcap");
    expect(ours).toEqual(lines("tcpdump-any.pcap"));
    // tcpdump pads the name to 5 and the direction to 3 characters.
    expect(ours.filter((l) => new RegExp(`^${bench.tx} +Out IP `).test(l)).length).toBe(10);
    expect(ours.filter((l) => new RegExp(`^${RX2} +P   IP `).test(l)).length).toBe(10);
    // tshark: the same link type, interface indexes and packet types.
    const fields = (name: string) => {
      const r = tool("tshark", ["-r", file(name), "-T", "fields", "-e", "frame.encap_type", "-e", "sll.ifindex", "-e", "sll.pkttype"]);
      expect(r.code).toBe(0);
      return r.out.trim().split("\n").sort();
    };
    expect(fields("any.pcap")).toEqual(fields("tcpdump-any.pcap"));
  });

  test("each filter on an any capture takes exactly the frames tcpdump's libpcap takes from tcpdump -i any's file", async () => {
    const ifindex = (dev: string) => bench.ip("-o", "link", "show", "dev", dev).split(":")[0].trim();
    const exprs = ANY_FILTERS.map((e) => e.replace("RX2", ifindex(RX2)).replace("TX", ifindex(bench.tx)));
    const ref = file("filters-ref.pcap");
    const tcpdump = new Proc("ip", ["netns", "exec", bench.name, "tcpdump", "-i", "any", ...TCPDUMP_RING, "-w", ref]);
    const caps: Capture[] = exprs.map((filter) => openCapture("any", { netns: bench.name, filter, ring: SMALL_RING }));
    const taken: string[][] = exprs.map(() => []);
    const drain = () =>
      caps.forEach((cap, i) => {
        for (let block = cap.nextBlock(0); block; block = cap.nextBlock(0)) {
          for (const p of block) taken[i].push(Buffer.from(cap.bytes.subarray(p.offset, p.offset + p.caplen)).toString("hex"));
        }
      });
    try {
      await tcpdump.started;
      const mix = [
        { n: 6, o: {} },
        { n: 4, o: { dstPort: 4433, size: 300, flows: 2 } },
        { n: 4, o: { tcp: true, tcpFlags: 0x02, dstPort: 70 } },
        { n: 4, o: { tcp: true, tcpFlags: 0x12, dstPort: 443 } },
        { n: 3, o: { tcp: true, tcpFlags: 0x11, dstPort: 8443 } },
        { n: 4, o: { ipv6: true, tcp: true, dstPort: 443 } },
        { n: 4, o: { ipv6: true, dstPort: 4433 } },
      ];
      let seq = 0;
      for (const { n, o } of mix) {
        for (const dev of [bench.tx, TX2]) {
          using g = new Generator(dev, { netns: bench.name, seqStart: seq, rate: 2000, ...o });
          expect(g.send(n).sent).toBe(n);
          seq += n;
          drain();
        }
      }
      const total = seq;
      const ours = (path: string) => framesSoFar(path).filter((f) => seqOf(f.data) >= 0).length;
      await until(() => ours(ref) >= 2 * total, 4000);
      await Bun.sleep(50);
      drain();
    } finally {
      caps.forEach((c) => c.close());
      expect((await tcpdump.stop()).code).toBe(0);
    }
    exprs.forEach((expr, i) => {
      const out = file(`filter-${i}.pcap`);
      const r = tool("sh", ["-c", `tcpdump -r ${ref} -w ${out} '${expr}' 2>/dev/null`]);
      expect(r.code).toBe(0);
      const expected = readFrames(out).filter((f) => seqOf(f.data) >= 0).map((f) => Buffer.from(f.data).toString("hex")).sort();
      const got = taken[i].filter((hex) => seqOf(Buffer.from(hex, "hex")) >= 0).sort();
      expect({ expr, count: got.length, frames: got }).toEqual({ expr, count: expected.length, frames: expected });
    });
    // Not a filter that takes nothing and agrees by accident: most take something, some not all.
    const counts = taken.map((t) => t.filter((hex) => seqOf(Buffer.from(hex, "hex")) >= 0).length);
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan(exprs.length - 3);
    expect(counts.filter((n) => n < Math.max(...counts)).length).toBeGreaterThan(exprs.length / 2);
  });

  test("flows -i any (one ring, and --workers 2) counts each frame once per interface it crossed", async () => {
    const flows = (extra: string[]) =>
      ringcap(["flows", "-i", "any", "--netns", bench.name, ...RING, ...extra, "--seconds", "5", "--interval", "0.5", "--json", "udp and net 198.18.0.0/15"]);
    const procs = [flows([]), flows(["--workers", "2"])];
    // flows --json says nothing before its first line: that line says it is counting.
    expect(await until(() => procs.every((p) => p.outLines >= 1), 4500)).toBe(true);
    sendBoth(7);
    for (const r of await Promise.all(procs.map((p) => p.done))) {
      expect(r.code).toBe(0);
      const last = JSON.parse(r.out.trim().split("\n").at(-1)!);
      // Both pairs carry the generator's one flow: out on each tx end, in on each rx end.
      expect(last.top.map((f: { flow: string; packets: number }) => [f.flow, f.packets])).toEqual([["udp 198.18.0.0:10000 > 198.19.0.1:9", 28]]);
    }
   }, 20_000);

  test("-i A -i B -w f.pcapng: tshark shows both interfaces by name, every frame once; pcap is refused", async () => {
    const both = ["capture", "-i", bench.rx, "-i", RX2, "--netns", bench.name, ...RING];
    const procs = [
      ringcap([...both, "-w", file("both.pcapng")]),
      ringcap([...both, "--workers", "2", "-w", file("both-workers.pcapng")]),
    ];
    await Promise.all(procs.map((p) => p.started));
    sendBoth(15);
    await until(() => framesSoFar(file("both.pcapng")).length >= 30, 2000);
    await Bun.sleep(200);
    const results = await Promise.all(procs.map((p) => p.stop()));
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    for (const name of ["both.pcapng", "both-workers.pcapng"]) {
      const r = tool("tshark", ["-r", file(name), "-T", "fields", "-e", "frame.interface_name", "-e", "frame.interface_id", "-Y", "udp"]);
      expect(r.code).toBe(0);
      const seqsByInterface = new Map<string, number[]>();
      const rows = r.out.trim().split("\n");
      const data = readFrames(file(name)).filter((f) => seqOf(f.data) >= 0);
      expect(rows.length).toBe(data.length);
      rows.forEach((row, i) => {
        const [ifname] = row.split("\t");
        seqsByInterface.set(ifname, [...(seqsByInterface.get(ifname) ?? []), seqOf(data[i].data)]);
      });
      const range = (from: number) => Array.from({ length: 15 }, (_, i) => from + i);
      expect(seqsByInterface.get(bench.rx)?.sort((a, b) => a - b)).toEqual(range(0));
      expect(seqsByInterface.get(RX2)?.sort((a, b) => a - b)).toEqual(range(1000));
    }
    const pcap = await ringcap([...both, "-w", file("both.pcap")]).done;
    expect([pcap.code, pcap.err]).toEqual([2, expect.stringContaining("with 2 interfaces write pcapng")]);
    const mixed = await ringcap(["capture", "-i", "any", "-i", bench.rx, "--netns", bench.name]).done;
    expect(mixed.code).not.toBe(0);
    expect(mixed.err).toContain('"any" already captures every interface');
  });
});

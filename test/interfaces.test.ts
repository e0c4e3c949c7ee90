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
import { LINKTYPE_LINUX_SLL2, openCapture, PACKET_TYPE } from "../mod.ts";
import { Proc, readFrames, ringcap, seqOf, tool, until } from "./_cli.ts";

const RING = ["-B", "2048"];
const SMALL_RING = { blockSize: 1 << 16, blockCount: 8, frameSize: 2048, blockTimeoutMs: 5 };
/** Our frames only: the namespace's own chatter (IPv6 router solicitations, MLD) is left out. */
const OURS = "udp and net 198.18.0.0/15";
const TX2 = "rc2tx";
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

  /** Sends `n` frames on each pair, paced (tcpdump's immediate-mode ring is small): seq 0.. on the first, 1000.. on the second. */
  function sendBoth(n: number): void {
    using a = new Generator(bench.tx, { netns: bench.name, seqStart: 0, rate: 2000 });
    using b = new Generator(TX2, { netns: bench.name, seqStart: 1000, rate: 2000 });
    for (let i = 0; i < n; i++) expect(a.send(1).sent + b.send(1).sent).toBe(2);
  }

  const file = (name: string) => join(dir, name);
  const inNs = (cmd: string, args: string[]) => tool("ip", ["netns", "exec", bench.name, cmd, ...args]);

  test('openCapture("any") labels each frame with its interface and direction; "any" with others is refused', () => {
    using cap = openCapture("any", { netns: bench.name, filter: OURS, ring: SMALL_RING });
    expect(cap.info.linkType).toBe(LINKTYPE_LINUX_SLL2);
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
    expect(() => openCapture([bench.rx, bench.rx], { netns: bench.name })).toThrow(/named twice/);
    expect(() => openCapture(Array.from({ length: 9 }, (_, i) => `x${i}`), { netns: bench.name })).toThrow(/1 to 8 interfaces/);
  });

  test("-i any writes what tcpdump -i any writes: same frames, interfaces and directions, read back by tcpdump and tshark; -Q out keeps the sent ones", async () => {
    const any = ["capture", "-i", "any", "--netns", bench.name, ...RING];
    const tcpdump = (name: string, extra: string[]) =>
      new Proc("ip", ["netns", "exec", bench.name, "tcpdump", "-i", "any", ...extra, "-s", "0", "--immediate-mode", "-U", "-w", file(name), OURS]);
    const procs = [
      ringcap([...any, "-w", file("any.pcap"), OURS]),
      ringcap([...any, "-Q", "out", "-w", file("any-out.pcap"), OURS]),
      ringcap([...any, "-G", "2", "-w", file("any-workers.pcap"), OURS]),
      tcpdump("tcpdump-any.pcap", []),
      tcpdump("tcpdump-any-out.pcap", ["-Q", "out"]),
    ];
    await Promise.all(procs.map((p) => p.started));
    sendBoth(10);
    const count = (name: string) => {
      try {
        return readFrames(file(name)).length;
      } catch {
        return 0; // not yet a whole file
      }
    };
    await until(() => count("tcpdump-any.pcap") >= 40 && count("tcpdump-any-out.pcap") >= 20, 4000);
    await Bun.sleep(100);
    const results = await Promise.all(procs.map((p) => p.stop()));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0]);

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

  test("-i A -i B -w f.pcapng: tshark shows both interfaces by name, every frame once; pcap is refused", async () => {
    const both = ["capture", "-i", bench.rx, "-i", RX2, "--netns", bench.name, ...RING];
    const procs = [
      ringcap([...both, "-w", file("both.pcapng")]),
      ringcap([...both, "-G", "2", "-w", file("both-workers.pcapng")]),
    ];
    await Promise.all(procs.map((p) => p.started));
    sendBoth(15);
    await until(() => {
      try {
        return readFrames(file("both.pcapng")).length >= 30;
      } catch {
        return false;
      }
    }, 2000);
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

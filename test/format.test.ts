// One-line packet descriptions compared with what tcpdump prints for the same bytes.
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LINKTYPE, PacketDecoder } from "../src/decode.ts";
import { describePacket } from "../src/format.ts";
import { PcapWriter } from "../src/pcap.ts";
import { buildFrame, type FrameSpec } from "./_frames.ts";

const dir = mkdtempSync(join(tmpdir(), "ringcap-format-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hasTcpdump = spawnSync("tcpdump", ["--version"]).status === 0;
const decoder = new PacketDecoder();

function describe(frame: Uint8Array, caplen = frame.length): string {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  return describePacket(decoder.decode(frame, view, 0, caplen), frame, 0, caplen, frame.length, false);
}

const echo = (spec: FrameSpec, idSeq: number[], size: number): Uint8Array =>
  buildFrame({ ...spec, payload: [...idSeq, ...new Array(size).fill(0x61)] });

test.skipIf(!hasTcpdump)("ICMP and ICMPv6 echoes are described as tcpdump describes them: id, seq and the message's length", () => {
  const v4 = { ipv4: { src: "198.18.0.1", dst: "198.19.0.1" } };
  const v6 = { ipv6: { src: "2001:db8::1", dst: "2001:db8::2" } };
  // buildFrame writes id 1, seq 1 into the header; the payload's first bytes follow it.
  const frames = [
    echo({ ...v4, icmp: { type: 8, code: 0 } }, [], 56),
    echo({ ...v4, icmp: { type: 0, code: 0 } }, [], 0),
    echo({ ...v4, vlans: [{ id: 5 }], icmp: { type: 8, code: 0 } }, [], 10),
    echo({ ...v6, icmpv6: { type: 128, code: 0 } }, [], 8),
    echo({ ...v6, icmpv6: { type: 129, code: 0 } }, [], 100),
  ];
  const file = join(dir, "icmp.pcap");
  const w = PcapWriter.open(file);
  for (const f of frames) w.write(f, f.length, 1_700_000_000, 0);
  w.close();
  const r = spawnSync("tcpdump", ["-r", file, "-n", "-t"], { encoding: "utf8" });
  expect(r.status).toBe(0);
  expect(frames.map((f) => describe(f))).toEqual(r.stdout.trimEnd().split("\n"));
});

test("an ICMP echo cut before its id and sequence number is described without them", () => {
  const f = echo({ ipv4: { src: "198.18.0.1", dst: "198.19.0.1" }, icmp: { type: 8, code: 0 } }, [], 20);
  expect(describe(f, 14 + 20 + 6)).toBe("IP 198.18.0.1 > 198.19.0.1: ICMP echo request, length 28");
});

test("a Linux cooked v2 packet names its interface through the interfaceName hook, '?' without one (as tcpdump prints an index it cannot resolve)", () => {
  const ip = buildFrame({ ipv4: { src: "198.18.0.1", dst: "198.19.0.1" }, udp: { src: 40000, dst: 4433 }, payload: [1, 2, 3, 4] }).subarray(14);
  const frame = new Uint8Array([0x08, 0x00, 0, 0, 0, 0, 0, 9, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0, ...ip]);
  const view = new DataView(frame.buffer);
  const d = new PacketDecoder();
  d.linkType = LINKTYPE.LINUX_SLL2;
  d.decode(frame, view, 0, frame.length);
  const names = (i: number) => (i === 9 ? "veth-long0" : undefined);
  expect(describePacket(d, frame, 0, frame.length, frame.length, false, { interfaceName: names })).toBe(
    "veth-long0 Out IP 198.18.0.1.40000 > 198.19.0.1.4433: UDP, length 4",
  );
  expect(describePacket(d, frame, 0, frame.length, frame.length, false)).toBe("?     Out IP 198.18.0.1.40000 > 198.19.0.1.4433: UDP, length 4");
  expect(describePacket(d, frame, 0, frame.length, frame.length, true, { interfaceName: () => "lo" })).toBe(
    "lo    Out ifindex 9 02:00:00:00:00:01 ethertype IPv4 (0x0800), length 52: 198.18.0.1.40000 > 198.19.0.1.4433: UDP, length 4",
  );
});

// FlowTable: exact counts per 5-tuple, bounded, with the flow's parts for labels.
import { expect, test } from "bun:test";
import { FlowTable } from "../src/flows.ts";
import { PacketDecoder } from "../src/decode.ts";
import { buildFrame, type FrameSpec } from "./_frames.ts";

const decoder = new PacketDecoder();

function add(table: FlowTable, spec: FrameSpec, times = 1): void {
  const f = buildFrame(spec);
  const view = new DataView(f.buffer, f.byteOffset, f.byteLength);
  for (let i = 0; i < times; i++) table.add(decoder.decode(f, view, 0, f.length), f.length);
}

const udp = (i: number): FrameSpec => ({
  ipv4: { src: `198.18.${(i >> 8) & 0xff}.${i & 0xff}`, dst: "198.19.0.1" },
  udp: { src: 10000 + (i >> 16), dst: 53 },
});

test("FlowTable counts packets and bytes per flow and gives the top by bytes or packets", () => {
  const t = new FlowTable();
  add(t, { ...udp(1), padTo: 100 }, 3);
  add(t, udp(2), 5);
  add(t, { ipv6: { src: "2001:db8::1", dst: "2001:db8::2" }, tcp: { src: 443, dst: 50000 } }, 1);
  add(t, { etherType: 0x0806, padTo: 60 }, 2);
  expect(t.size).toBe(4);
  const byBytes = t.top(10);
  expect(byBytes.map((f) => [f.flow, f.packets, f.bytes])).toEqual([
    ["udp 198.18.0.1:10000 > 198.19.0.1:53", 3, 300],
    ["udp 198.18.0.2:10000 > 198.19.0.1:53", 5, 5 * 42],
    ["ether 0x0806", 2, 120],
    ["tcp [2001:db8::1]:443 > [2001:db8::2]:50000", 1, 74],
  ]);
  expect(t.top(1, "packets")[0].flow).toBe("udp 198.18.0.2:10000 > 198.19.0.1:53");
  expect(t.top(0)).toEqual([]);
  const v6 = byBytes[3];
  expect({ v: v6.ipVersion, p: v6.protocol, name: v6.protocolName, src: v6.src, sport: v6.srcPort, dst: v6.dst, dport: v6.dstPort })
    .toEqual({ v: 6, p: 6, name: "tcp", src: "2001:db8::1", sport: 443, dst: "2001:db8::2", dport: 50000 });
  expect(byBytes[2]).toMatchObject({ ipVersion: 0, protocol: -1, etherType: 0x0806, src: "", srcPort: -1 });
});

// Among these 100,000 tuples two pairs share a 32-bit flow hash, so the collision path runs.
test("FlowTable keeps 100,000 flows apart exactly, hash collisions included", () => {
  const t = new FlowTable({ maxFlows: 100_000 });
  for (let i = 0; i < 100_000; i++) add(t, udp(i), 1 + (i % 3));
  expect(t.size).toBe(100_000);
  expect(t.untracked).toBe(0);
  const all = t.top(100_000, "packets");
  const expected = new Map<string, number>();
  for (let i = 0; i < 100_000; i++) expected.set(`udp 198.18.${(i >> 8) & 0xff}.${i & 0xff}:${10000 + (i >> 16)} > 198.19.0.1:53`, 1 + (i % 3));
  expect(all.every((f) => expected.get(f.flow) === f.packets)).toBe(true);
  expect(new Set(all.map((f) => f.flow)).size).toBe(100_000);
});

test("a full FlowTable counts new flows as untracked and keeps counting the old ones", () => {
  const t = new FlowTable({ maxFlows: 2 });
  add(t, udp(1));
  add(t, udp(2));
  add(t, udp(3), 4);
  add(t, udp(1));
  expect({ size: t.size, untracked: t.untracked }).toEqual({ size: 2, untracked: 4 });
  expect(t.top(1, "packets")[0]).toMatchObject({ flow: "udp 198.18.0.1:10000 > 198.19.0.1:53", packets: 2 });
  t.clear();
  expect({ size: t.size, untracked: t.untracked, top: t.top(5) }).toEqual({ size: 0, untracked: 0, top: [] });
});

test("mark() starts a new interval for the since-mark counters", () => {
  const t = new FlowTable();
  add(t, udp(1), 3);
  t.mark();
  add(t, udp(1), 2);
  add(t, udp(2), 1);
  const rows = t.top(2, "packets");
  expect(rows.map((f) => [f.packets, f.packetsSinceMark, f.bytesSinceMark])).toEqual([[5, 2, 84], [1, 1, 42]]);
});

test("bad FlowTable sizes are refused", () => {
  for (const maxFlows of [0, -1, 1.5, 2 ** 25]) expect(() => new FlowTable({ maxFlows })).toThrow(/maxFlows must be an integer/);
});

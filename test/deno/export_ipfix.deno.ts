// IpfixExporter runs unchanged under Deno (node:dgram, node:net): test/_ipfix_child.ts, run by
// Deno inside a namespace, sends records over UDP and over TCP to a collector on its 127.0.0.1;
// the collector gets every byte the exporter counts as sent. (The encoding itself, tshark's and
// nfdump's view of it are checked under Bun in test/export_ipfix.test.ts.)
// Run by test/run-all.sh as: deno test --allow-all --no-check --no-lock test/deno/*.deno.ts
import { deepStrictEqual as assertEquals } from "node:assert";
import { spawnSync } from "node:child_process";
import { createBench } from "../../testing.ts";

const CHILD = new URL("../_ipfix_child.ts", import.meta.url).pathname;

function records(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    ipVersion: i % 3 === 0 ? 6 : 4,
    protocol: 17,
    srcAddress: i % 3 === 0 ? [0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), i] : [198, 18, 0, i],
    dstAddress: i % 3 === 0 ? [0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 200] : [198, 19, 0, 1],
    srcPort: 1000 + i,
    dstPort: 53,
    packets: i + 1,
    octets: 100 * (i + 1),
    startMs: 1_764_000_000_000 + i,
    endMs: 1_764_000_001_000 + i,
    tcpFlags: 0,
    ingressInterface: 2,
    vlanId: -1,
    endReason: 1,
  }));
}

for (const mode of ["udp", "tcp"] as const) {
  Deno.test(`Deno: IpfixExporter over ${mode.toUpperCase()} to a collector in a namespace`, () => {
    using bench = createBench();
    const job = { mode, protocol: "ipfix", port: 4739, odid: 1, records: records(100) };
    const r = spawnSync("ip", ["netns", "exec", bench.name, Deno.execPath(), "run", "--allow-all", "--no-check", "--no-lock", CHILD, JSON.stringify(job)], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...Deno.env.toObject(), NO_COLOR: "1" },
    });
    assertEquals(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assertEquals([out.stats.recordsSent, out.stats.recordsLost], [100, 0]);
    assertEquals(out.receivedBytes, out.stats.bytesSent);
    assertEquals(out.stats.messagesSent > 1, true);
    if (mode === "tcp") assertEquals(out.stats.connections, 1);
    else assertEquals(out.received.length, out.stats.messagesSent);
  });
}

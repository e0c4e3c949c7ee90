/**
 * What encoding flow records costs: --records FlowRecords (one in four IPv6, interleaved) are
 * encoded by ExportEncoder into IPFIX and NetFlow v9 messages of at most 1472 bytes, 7 rounds
 * each; prints the median round as records per second and the messages it made. No socket.
 *
 *   bun bench/_ipfix_encode.ts [--records 100000]
 */

import { parseArgs } from "node:util";
import { ExportEncoder, FLOW_END_REASON, type FlowRecord } from "../mod.ts";
import { median } from "./_stats.ts";

const { values } = parseArgs({ options: { records: { type: "string", default: "100000" } } });
const N = Math.min(Math.max(Number(values.records), 1000), 1_000_000);
const records: FlowRecord[] = Array.from({ length: N }, (_, i) => {
  const v6 = i % 4 === 0;
  return {
    ipVersion: v6 ? 6 : 4,
    protocol: 6,
    srcAddress: v6 ? Uint8Array.from([0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 1]) : Uint8Array.from([198, 18, i >> 8 & 255, i & 255]),
    dstAddress: v6 ? Uint8Array.from([0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 2]) : Uint8Array.from([198, 19, 0, 1]),
    srcPort: 1024 + (i % 60000),
    dstPort: 443,
    packets: 1 + (i % 100),
    octets: 60 * (1 + (i % 100)),
    startMs: 1_764_000_000_000 + i,
    endMs: 1_764_000_001_000 + i,
    tcpFlags: 0x1b,
    ingressInterface: 2,
    vlanId: -1,
    endReason: FLOW_END_REASON.idleTimeout,
  };
});
for (const protocol of ["ipfix", "netflow9"] as const) {
  const enc = new ExportEncoder({ protocol, bootMs: 1_763_000_000_000 });
  enc.encode(records.slice(0, 1000), Date.now(), true); // warm-up
  const rounds: number[] = [];
  let messages = 0;
  for (let k = 0; k < 7; k++) {
    const t = performance.now();
    messages = enc.encode(records, Date.now(), true).length;
    rounds.push(performance.now() - t);
  }
  const ms = median(rounds);
  console.log(`${protocol}: ${(N / ms / 1000).toFixed(2)} M records/s (median of 7 rounds of ${N}), ${messages} messages of <= 1472 bytes`);
}

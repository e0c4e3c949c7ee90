// FlowTracker runs unchanged under Deno: a saved file's packets, cut by a snaplen, become flow
// records whose packets and IP octets add up to what was written, split by the active timeout.
// Run by test/run-all.sh as: deno test --allow-all --no-check --no-lock test/deno/*.deno.ts
import { deepStrictEqual as assertEquals } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FLOW_END_REASON, type FlowRecord, FlowTracker, openFile, PcapWriter } from "../../mod.ts";

Deno.test("Deno: FlowTracker counts a saved file's flows exactly, in packet time", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ringcap-records-deno-"));
  try {
    const path = join(dir, "t.pcapng");
    const w = PcapWriter.open(path, { ifName: "eth0" });
    const frame = new Uint8Array(1514);
    const v = new DataView(frame.buffer);
    frame.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 19, 0, 1]);
    const want = new Map<number, { packets: number; octets: number }>();
    for (let i = 0; i < 3000; i++) {
      const length = 60 + ((i * 37) % 1400);
      const port = 10000 + (i % 4);
      v.setUint16(16, length - 14); // IPv4 total length
      v.setUint16(34, port);
      v.setUint16(36, 9);
      v.setUint16(38, length - 34); // UDP length
      w.write(frame.subarray(0, Math.min(length, 64)), length, 1_700_000_000 + Math.floor(i / 10), (i % 10) * 100_000_000);
      const e = want.get(port) ?? { packets: 0, octets: 0 };
      want.set(port, { packets: e.packets + 1, octets: e.octets + length - 14 });
    }
    w.close();
    const records: FlowRecord[] = [];
    const tracker = new FlowTracker({ onRecord: (r) => records.push(r) });
    await using f = await openFile(path, { blockBytes: 8192 });
    for await (const block of f.blocks()) {
      for (const p of block) tracker.add(p.decode(), p.timestampMs, p.ifindex);
      tracker.expire();
    }
    tracker.flush();
    const got = new Map<number, { packets: number; octets: number }>();
    for (const r of records) {
      const e = got.get(r.srcPort) ?? { packets: 0, octets: 0 };
      got.set(r.srcPort, { packets: e.packets + r.packets, octets: e.octets + r.octets });
    }
    assertEquals(got, want);
    // 300 s of packets: each flow reported at the 120 s active timeout twice, then at the flush.
    assertEquals(records.filter((r) => r.endReason === FLOW_END_REASON.activeTimeout).length, 8);
    assertEquals(records.filter((r) => r.endReason === FLOW_END_REASON.forcedEnd).length, 4);
    assertEquals(records[0].ingressInterface, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

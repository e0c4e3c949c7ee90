// A saved file as a fanout pool's source under Deno (Deno Workers, Atomics.waitAsync): the same
// handler module as under Bun, every packet once and in file order, a conversation in one worker,
// a truncated file's error after its good packets, close() in the middle. No root needed.
// Run by test/run-all.sh as: deno test --allow-all --no-check --no-lock test/deno/*.deno.ts
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { mkdtempSync, rmSync, statSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlowTable, openFanout, openFile, PacketDecoder, type RingcapError } from "../../mod.ts";
import type { FlowsFileReport } from "../_fanout_handlers/flows_file.ts";
import { testPackets, writePcap } from "../_file_frames.ts";

const worker = new URL("../_fanout_handlers/flows_file.ts", import.meta.url);

async function fileFlows(path: string): Promise<Map<string, number>> {
  await using f = await openFile(path);
  const decoder = new PacketDecoder();
  const table = new FlowTable();
  for await (const block of f.blocks()) {
    const c = block.cursor();
    while (c.next()) {
      const d = decoder.decode(f.bytes, f.view, c.offset, c.caplen);
      if (d.ipVersion !== 0) table.add(d, c.length);
    }
  }
  return new Map(table.top(1 << 20).map((r) => [r.flow, r.packets]));
}

const conversation = (flow: string) => {
  const at = flow.indexOf(" ");
  return `${flow.slice(0, at)} ${flow.slice(at + 1).split(" > ").sort().join(" ")}`;
};

async function run(path: string, workers: number): Promise<{ flows: Map<string, number>; packets: number; error: RingcapError | null }> {
  const pool = await openFanout<unknown, FlowsFileReport>({ file: path, blockBytes: 262_272 }, { worker, workers, reportIntervalMs: 200 });
  let error: RingcapError | null = null;
  await pool.done.catch((e) => (error = e));
  const flows = new Map<string, number>();
  const owner = new Map<string, number>();
  (pool.result() as FlowsFileReport[]).forEach((r, w) => {
    assertEquals(r.outOfOrder, 0);
    for (const f of r.flows) {
      assert(!flows.has(f.flow), `${f.flow} in two workers`);
      flows.set(f.flow, f.packets);
      const c = conversation(f.flow);
      assertEquals(owner.get(c) ?? w, w);
      owner.set(c, w);
    }
  });
  return { flows, packets: pool.stats().total.packets, error };
}

Deno.test("Deno: openFanout({ file }) delivers every packet once, by conversation, in file order", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ringcap-deno-fanout-file-"));
  try {
    const path = join(dir, "flows.pcap");
    const packets = testPackets(6000);
    writePcap(path, packets);
    const want = await fileFlows(path);
    for (const workers of [1, 2]) {
      const r = await run(path, workers);
      assertEquals(r.error, null);
      assertEquals(r.packets, packets.length);
      assertEquals(new Map([...r.flows].sort()), new Map([...want].sort()));
    }
    // Truncated: the good packets, then file_truncated.
    truncateSync(path, statSync(path).size - 5);
    const cut = await run(path, 2);
    assertEquals(cut.error?.code, "file_truncated");
    assertEquals(cut.packets, packets.length - 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("Deno: close() in the middle of a file ends the pool", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ringcap-deno-fanout-file-"));
  try {
    const path = join(dir, "flows.pcap");
    writePcap(path, testPackets(8000));
    const pool = await openFanout({ file: path, blockBytes: 262_272 }, { worker, workers: 2, workerData: { delayMs: 40 } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await pool.close();
    const total = pool.stats().total.packets;
    assert(total > 0 && total < 8000, `${total} packets`);
    assert(pool.stats().perWorker.every((w) => w.state === "closed"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

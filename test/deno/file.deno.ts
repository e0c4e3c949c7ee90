// openFile runs unchanged under Deno (node:fs reads, no native library, no root): a file
// written by PcapWriter reads back packet for packet, in several blocks.
// Run by test/run-all.sh as: deno test --allow-all --no-check --no-lock test/deno/*.deno.ts
import { deepStrictEqual as assertEquals } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFile, PcapWriter, RingcapError } from "../../mod.ts";

Deno.test("Deno: openFile reads a pcapng file into blocks, every packet once with its time and length", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ringcap-file-deno-"));
  try {
    const path = join(dir, "t.pcapng");
    const w = PcapWriter.open(path, { ifName: "eth0" });
    const frame = new Uint8Array(200);
    frame.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    for (let i = 0; i < 5000; i++) {
      new DataView(frame.buffer).setUint32(42, i);
      w.write(frame.subarray(0, 60 + (i % 140)), 60 + (i % 140), 1_700_000_000 + i, i);
    }
    w.close();
    await using f = await openFile(path, { blockBytes: 8192 });
    assertEquals(f.interfaces[0].name, "eth0");
    let n = 0;
    let blocks = 0;
    for await (const block of f.blocks()) {
      blocks++;
      for (const p of block) {
        assertEquals([p.getUint32(42), p.sec, p.nsec, p.caplen, p.length], [n, 1_700_000_000 + n, n, 60 + (n % 140), 60 + (n % 140)]);
        n++;
      }
    }
    assertEquals(n, 5000);
    assertEquals(blocks > 1, true);
    // A cut file: every whole packet, then the error naming the offset.
    const cut = join(dir, "cut.pcap");
    const c = PcapWriter.open(cut);
    for (let i = 0; i < 3; i++) c.write(frame.subarray(0, 100), 100, i, 0);
    c.close();
    Deno.truncateSync(cut, 24 + 2 * 116 + 50);
    let seen = 0;
    let error: unknown;
    await using cf = await openFile(cut);
    try {
      for await (const block of cf.blocks()) seen += block.packetCount;
    } catch (e) {
      error = e;
    }
    assertEquals([seen, (error as RingcapError).code, (error as Error).message.includes(`byte offset ${24 + 2 * 116}`)], [2, "file_truncated", true]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

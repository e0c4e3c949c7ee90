/**
 * What each way of walking a block costs per packet with no socket and no wake-up: a block of
 * --frames 64-byte UDP frames (198.18.0.0/15 sources) is written to a pcap file, read back
 * with openFile into one held Block (the same Block and PacketView a capture gives), and each
 * walk of bench/_source_counter.ts goes over it --rounds times, 15 batches; prints the
 * fastest and the median batch in ns per packet.
 *
 *   bun bench/_walk_cost.ts [--frames 6000] [--rounds 100]
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Block, openFile, PcapWriter } from "../mod.ts";
import { countSources, countSourcesByBytes, countSourcesByDecode, countSourcesByReaders, SourceCounter } from "./_source_counter.ts";
import { median } from "./_stats.ts";

const { values } = parseArgs({ options: { frames: { type: "string", default: "6000" }, rounds: { type: "string", default: "100" } } });
const FRAMES = Math.min(Number(values.frames), 100_000);
const ROUNDS = Math.min(Number(values.rounds), 10_000);
const BATCHES = 15;

/** Ethernet + IPv4 + UDP, 64 bytes, source 198.18.x.y. */
function frame(i: number): Uint8Array {
  const f = new Uint8Array(64);
  f.set([0x02, 0, 0x5e, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
  f.set([0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, (i >> 8) & 0xff, i & 0xff, 198, 19, 0, 1], 14);
  f.set([0x27, 0x10, 0, 9, 0, 30, 0, 0], 34);
  return f;
}

const dir = mkdtempSync(join(tmpdir(), "ringcap-walk-"));
try {
  const path = join(dir, "walk.pcap");
  const out = PcapWriter.open(path, { format: "pcap" });
  // 256 sources, as the benchmark's generator sends (the counter has 4,096 slots).
  for (let i = 0; i < FRAMES; i++) out.write(frame(i % 256), 64, 1_700_000_000, i);
  out.close();
  await using f = await openFile(path, { blockBytes: 64 << 20 });
  const block = await f.nextBlock();
  if (!block || block.packetCount !== FRAMES) throw new Error(`expected one block of ${FRAMES} packets`);
  const counts = new SourceCounter();
  const walks: Record<string, (b: Block) => number> = {
    "cursor() + view": (b) => countSources(b, f.view, counts),
    "for...of + readers": (b) => countSourcesByReaders(b, counts),
    "for...of + decode()": (b) => countSourcesByDecode(b, counts),
    "for...of + p.bytes": (b) => countSourcesByBytes(b, counts),
  };
  for (const [name, walk] of Object.entries(walks)) {
    for (let i = 0; i < ROUNDS * 3; i++) walk(block); // warm: the JIT's top tier
    const batches: number[] = [];
    for (let k = 0; k < BATCHES; k++) {
      const t0 = performance.now();
      for (let i = 0; i < ROUNDS; i++) walk(block);
      batches.push(((performance.now() - t0) * 1e6) / (ROUNDS * FRAMES));
    }
    console.log(JSON.stringify({ walk: name, nsPerPacketMin: +Math.min(...batches).toFixed(2), nsPerPacketMedian: +median(batches).toFixed(2) }));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

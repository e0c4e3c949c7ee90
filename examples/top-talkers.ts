/**
 * Top talkers: which source addresses send the most bytes, refreshed every second.
 *
 *   bun examples/top-talkers.ts -i eth0 [--top 10] [--seconds 30] [--netns NAME]
 *   bun examples/top-talkers.ts -r saved.pcapng [--top 10]
 *
 * One capture (or a saved file, read the same way), read without blocking the event loop; per
 * packet the decoder reads the source address and the wire length. Prints a table each second
 * and a final one.
 */

import { PacketDecoder } from "../mod.ts";
import { exampleArgs, openSource, sourceName, stopSignal } from "./_args.ts";

const args = exampleArgs("bun examples/top-talkers.ts -i IFACE | -r FILE [--top N] [--seconds S] [--netns NAME]", {
  top: { type: "string", default: "10" },
});
const top = Number(args.values.top);

interface Talker { address: string; packets: number; bytes: number }
const talkers = new Map<string | number, Talker>();
const decoder = new PacketDecoder();

using cap = await openSource(args, { snaplen: 128 });
const signal = stopSignal(args.seconds);
console.log(`top-talkers: ${args.file === undefined ? "capturing on" : "reading"} ${sourceName(args)}`);

function print(final: boolean): void {
  const rows = [...talkers.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top);
  const stats = cap.stats();
  console.log(`${final ? "final" : new Date().toISOString()}: ${talkers.size} sources, ${stats.received} packets, ${stats.drops} dropped`);
  for (const t of rows) console.log(`  ${t.address.padEnd(40)} ${String(t.packets).padStart(10)} pkts ${String(t.bytes).padStart(12)} bytes`);
}
const ticker = setInterval(() => print(false), 1000);

for await (const block of cap.blocks({ signal })) {
  const ring = cap.bytes;
  const view = cap.view;
  const c = block.cursor();
  while (c.next()) {
    const d = decoder.decode(ring, view, c.offset, c.caplen);
    if (d.ipVersion === 0) continue;
    // IPv4 sources are counted by number (no string per packet); IPv6 by their text.
    const key = d.ipVersion === 4 ? d.ipv4Src : d.srcAddress();
    let t = talkers.get(key);
    if (!t) talkers.set(key, (t = { address: d.srcAddress(), packets: 0, bytes: 0 }));
    t.packets++;
    t.bytes += c.length;
  }
}
clearInterval(ticker);
print(true);

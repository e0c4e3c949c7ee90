/**
 * Writes pcapng files rotated by size or by time, like tcpdump -C / -G:
 * out-0000.pcapng, out-0001.pcapng, ... Each file is complete and valid on its own.
 *
 *   bun examples/pcap-rotate.ts -i eth0 -w out [--max-mb 100] [--max-seconds 60] [--files 10] [--seconds S] [--netns NAME] [FILTER]
 *
 * A new file starts once the current one holds --max-mb millions of bytes or is --max-seconds
 * old (0 turns either rule off), checked as each packet arrives. --files keeps only the newest
 * N files (a ring of files); 0 keeps them all. Runs until --seconds pass or Ctrl-C, then
 * prints { packets, files, drops } as JSON; "writing FILE" lines go to stderr.
 */

import { parseArgs } from "node:util";
import { rmSync } from "node:fs";
import { openCapture, PcapWriter } from "../mod.ts";
import { stopSignal } from "./_args.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    interface: { type: "string", short: "i" },
    write: { type: "string", short: "w" },
    "max-mb": { type: "string", default: "100" },
    "max-seconds": { type: "string", default: "0" },
    files: { type: "string", default: "0" },
    seconds: { type: "string", default: "0" },
    netns: { type: "string" },
  },
});
if (!values.interface || !values.write) {
  console.error("usage: bun examples/pcap-rotate.ts -i IFACE -w PREFIX [--max-mb N] [--max-seconds S] [--files N] [--seconds S] [FILTER]");
  process.exit(2);
}
const maxBytes = Number(values["max-mb"]) * 1e6;
const maxMs = Number(values["max-seconds"]) * 1000;
const keep = Number(values.files);
if (!(maxBytes >= 0 && maxMs >= 0 && Number.isInteger(keep) && keep >= 0)) {
  console.error("--max-mb and --max-seconds must be numbers >= 0, --files an integer >= 0");
  process.exit(2);
}
const filter = positionals.join(" ") || undefined;

using cap = openCapture(values.interface, { netns: values.netns, filter });
const signal = stopSignal(Number(values.seconds));
const written: string[] = [];
let index = 0;
let writer: PcapWriter;
let openedAt = 0;

function rotate(): void {
  writer?.close();
  const path = `${values.write}-${String(index++).padStart(4, "0")}.pcapng`;
  writer = PcapWriter.open(path, { ifName: values.interface });
  openedAt = performance.now();
  written.push(path);
  while (keep > 0 && written.length > keep) rmSync(written.shift()!, { force: true });
  console.error(`writing ${path}`);
}
rotate();

let packets = 0;
for await (const block of cap.blocks({ signal })) {
  for (const p of block) {
    if ((maxBytes > 0 && writer!.bytesWritten >= maxBytes) || (maxMs > 0 && performance.now() - openedAt >= maxMs)) rotate();
    writer!.writePacket(p); // a stripped VLAN tag put back, as it was on the wire
    packets++;
  }
}
writer!.close();
console.log(JSON.stringify({ packets, files: written, drops: cap.stats().drops }));

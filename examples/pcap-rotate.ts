/**
 * Writes pcapng files rotated by size or by time, like tcpdump -C / -G:
 * out-0000.pcapng, out-0001.pcapng, ... Each file is complete and valid on its own.
 *
 *   bun examples/pcap-rotate.ts -i eth0 -w out [--max-mb 100] [--max-seconds 60] [--files 10] [--seconds S] [--netns NAME] [FILTER]
 *   bun examples/pcap-rotate.ts -r saved.pcapng -w out [--max-mb 100] [--max-seconds 60] [--files 10]
 *
 * A new file starts once the current one holds --max-mb millions of bytes or its first packet
 * is --max-seconds older than the next one (packet time, so a saved file is split as it was
 * captured; 0 turns either rule off), checked as each packet arrives. --files keeps only the
 * newest N files (a ring of files); 0 keeps them all. Runs until --seconds pass, Ctrl-C or the
 * end of the file, then prints { packets, files, drops } as JSON; "writing FILE" lines go to
 * stderr. FILTER (a tcpdump expression) is run in the kernel, so it is live only: filter a file
 * on its way in instead (`ringcap capture -r in.pcap -w - udp | bun examples/pcap-rotate.ts -r - -w out`).
 * This example rotates by packet time with names of its own; for tcpdump's rules and names
 * (wall clock, FILE0.., -z) use `ringcap capture -w FILE -C MB -G S -W N -z CMD`, or
 * RotatingWriter from the library.
 */

import { rmSync } from "node:fs";
import { PcapWriter } from "../mod.ts";
import { exampleArgs, openSource, stopSignal } from "./_args.ts";

const usage = "bun examples/pcap-rotate.ts -i IFACE | -r FILE -w PREFIX [--max-mb N] [--max-seconds S] [--files N] [--seconds S] [FILTER]";
const args = exampleArgs(usage, {
  write: { type: "string", short: "w" },
  "max-mb": { type: "string", default: "100" },
  "max-seconds": { type: "string", default: "0" },
  files: { type: "string", default: "0" },
}, { positionals: true });
const { values, positionals } = args;
if (!values.write) {
  console.error(`usage: ${usage}`);
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
if (filter !== undefined && args.file !== undefined) {
  console.error("a FILTER runs in the kernel, live only: filter the file on its way in (ringcap capture -r FILE -w - EXPR | ... -r -)");
  process.exit(2);
}

using cap = await openSource(args, { filter });
// The interface name each file carries: the live one, or the saved file's own (pcapng if_name).
const ifName = "interfaces" in cap ? cap.interfaces[0]?.name : args.iface;
const linkType = "interfaces" in cap ? cap.linkType : undefined;
const signal = stopSignal(args.seconds);
const written: string[] = [];
let index = 0;
let writer: PcapWriter;
/** The first packet's time in the current file (ms), or -1 while it has none. */
let firstMs = -1;

function rotate(): void {
  writer?.close();
  const path = `${values.write}-${String(index++).padStart(4, "0")}.pcapng`;
  writer = PcapWriter.open(path, { ifName, linkType });
  firstMs = -1;
  written.push(path);
  while (keep > 0 && written.length > keep) rmSync(written.shift()!, { force: true });
  console.error(`writing ${path}`);
}
rotate();

let packets = 0;
for await (const block of cap.blocks({ signal })) {
  for (const p of block) {
    const t = p.timestampMs;
    if ((maxBytes > 0 && writer!.bytesWritten >= maxBytes) || (maxMs > 0 && firstMs >= 0 && t - firstMs >= maxMs)) rotate();
    if (firstMs < 0) firstMs = t;
    writer!.writePacket(p); // a stripped VLAN tag put back, as it was on the wire
    packets++;
  }
}
writer!.close();
console.log(JSON.stringify({ packets, files: written, drops: cap.stats().drops }));

/**
 * SYN flood detection: counts TCP SYNs (without ACK) per destination address in one-second
 * windows and prints an alert when a destination receives more than --threshold per second.
 *
 *   bun examples/syn-flood-detect.ts -i eth0 [--threshold 1000] [--seconds 60] [--netns NAME]
 *
 * The kernel filter "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" keeps everything else out
 * of the ring, so the script only sees SYNs.
 */

import { formatIPv4, openCapture, PacketDecoder } from "../mod.ts";
import { exampleArgs, stopSignal } from "./_args.ts";

const args = exampleArgs("bun examples/syn-flood-detect.ts -i IFACE [--threshold N] [--seconds S] [--netns NAME]", {
  threshold: { type: "string", default: "1000" },
});
const threshold = Number(args.values.threshold);

using cap = openCapture(args.iface, {
  netns: args.netns,
  snaplen: 96,
  filter: "(tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn) or (ip6 and ip6[53] & 0x12 == 0x02)",
});
const signal = stopSignal(args.seconds);
const decoder = new PacketDecoder();
let window = new Map<string, number>();
let alerts = 0;

const ticker = setInterval(() => {
  for (const [dst, syns] of window) {
    if (syns > threshold) {
      alerts++;
      console.log(JSON.stringify({ time: new Date().toISOString(), alert: "syn-flood", destination: dst, synPerSecond: syns, threshold }));
    }
  }
  window = new Map();
}, 1000);

const ring = cap.bytes;
const view = cap.view;
for await (const block of cap.blocks({ signal })) {
  const c = block.cursor();
  while (c.next()) {
    const d = decoder.decode(ring, view, c.offset, c.caplen);
    if (d.ipProtocol !== 6 || (d.tcpFlags & 0x12) !== 0x02) continue;
    const dst = d.ipVersion === 4 ? formatIPv4(d.ipv4Dst) : d.dstAddress();
    window.set(dst, (window.get(dst) ?? 0) + 1);
  }
}
clearInterval(ticker);
console.log(JSON.stringify({ done: true, alerts, drops: cap.stats().drops }));

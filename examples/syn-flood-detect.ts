/**
 * SYN flood detection: counts TCP SYNs (without ACK) per destination address in one-second
 * windows and prints an alert when a destination receives more than --threshold per second.
 *
 *   bun examples/syn-flood-detect.ts -i eth0 [--threshold 1000] [--seconds 60] [--netns NAME]
 *
 * The kernel filter "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" (and its IPv6 twin, for
 * TCP right after the fixed header) keeps everything else out of the ring, so the script sees
 * little but SYNs; the decoder confirms each one. It prints one JSON line per alert and a
 * summary line ({ done, syns, alerts, drops }) when it stops.
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
  filter: "(tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn) or (ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02)",
});
const signal = stopSignal(args.seconds);
const decoder = new PacketDecoder();
// IPv4 destinations are counted by number (no string per SYN in a flood); IPv6 by their text.
let window = new Map<number | string, number>();
let alerts = 0;
let syns = 0;
console.log(`syn-flood-detect: capturing on ${args.iface}, alerting above ${threshold} SYN/s per destination`);

const ticker = setInterval(() => {
  for (const [dst, count] of window) {
    if (count > threshold) {
      alerts++;
      const destination = typeof dst === "number" ? formatIPv4(dst) : dst;
      console.log(JSON.stringify({ time: new Date().toISOString(), alert: "syn-flood", destination, synPerSecond: count, threshold }));
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
    const dst = d.ipVersion === 4 ? d.ipv4Dst : d.dstAddress();
    window.set(dst, (window.get(dst) ?? 0) + 1);
    syns++;
  }
}
clearInterval(ticker);
console.log(JSON.stringify({ done: true, syns, alerts, drops: cap.stats().drops }));

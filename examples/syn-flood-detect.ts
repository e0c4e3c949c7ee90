/**
 * SYN flood detection: counts TCP SYNs (without ACK) per destination address in one-second
 * windows of packet time and prints an alert when a destination receives more than
 * --threshold in one.
 *
 *   bun examples/syn-flood-detect.ts -i eth0 [--threshold 1000] [--seconds 60] [--netns NAME]
 *   bun examples/syn-flood-detect.ts -r saved.pcapng [--threshold 1000]
 *
 * Live, the kernel filter "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" (and its IPv6 twin,
 * for TCP right after the fixed header) keeps everything else out of the ring, so the script
 * sees little but SYNs; the decoder confirms each one (on a file it is the only check). Windows
 * go by the packets' timestamps, so a saved file gives the alerts the live run gave. A window
 * closes when a SYN of a later second comes, when live traffic has been quiet for a second,
 * or at the end. It prints one JSON line per alert and a summary line ({ done, syns, alerts,
 * drops }) when it stops.
 */

import { formatIPv4 } from "../mod.ts";
import { exampleArgs, openSource, sourceName, stopSignal } from "./_args.ts";

const args = exampleArgs("bun examples/syn-flood-detect.ts -i IFACE | -r FILE [--threshold N] [--seconds S] [--netns NAME]", {
  threshold: { type: "string", default: "1000" },
});
const threshold = Number(args.values.threshold);

using cap = await openSource(args, {
  snaplen: 96,
  filter: "(tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn) or (ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02)",
});
const signal = stopSignal(args.seconds);
// IPv4 destinations are counted by number (no string per SYN in a flood); IPv6 by their text.
let window = new Map<number | string, number>();
/** The second (packet time) the window counts, or -1 before the first SYN. */
let windowSec = -1;
let alerts = 0;
let syns = 0;
console.log(`syn-flood-detect: ${args.file === undefined ? "capturing on" : "reading"} ${sourceName(args)}, alerting above ${threshold} SYN/s per destination`);

function closeWindow(): void {
  for (const [dst, count] of window) {
    if (count > threshold) {
      alerts++;
      const destination = typeof dst === "number" ? formatIPv4(dst) : dst;
      const time = new Date(windowSec * 1000).toISOString();
      console.log(JSON.stringify({ time, alert: "syn-flood", destination, synPerSecond: count, threshold }));
    }
  }
  window = new Map();
  windowSec = -1;
}

// Live, a window whose second is over (and a second more, for late blocks) is closed even if
// no further SYN comes.
const ticker = setInterval(() => {
  if (windowSec >= 0 && Date.now() / 1000 >= windowSec + 2) closeWindow();
}, 1000);

for await (const block of cap.blocks({ signal })) {
  for (const p of block) {
    const d = p.decode();
    if (d.ipProtocol !== 6 || (d.tcpFlags & 0x12) !== 0x02) continue;
    if (p.sec !== windowSec) {
      if (windowSec >= 0) closeWindow();
      windowSec = p.sec;
    }
    const dst = d.ipVersion === 4 ? d.ipv4Dst : d.dstAddress();
    window.set(dst, (window.get(dst) ?? 0) + 1);
    syns++;
  }
}
clearInterval(ticker);
if (windowSec >= 0) closeWindow();
console.log(JSON.stringify({ done: true, syns, alerts, drops: cap.stats().drops }));

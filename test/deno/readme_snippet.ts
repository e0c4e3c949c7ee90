import { openCapture } from "ringcap";

using cap = openCapture("eth0", { filter: "udp" });
let packets = 0;
for await (const block of cap.blocks({ signal: AbortSignal.timeout(5_000) })) {
  packets += block.packetCount;
  if (packets >= 1000) break;
}
console.log(`${packets} packets`, cap.stats());

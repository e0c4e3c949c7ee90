/** Test handler: counts packets; a default export, to check both export styles. */
import type { Block } from "../../src/packet.ts";

export default function createHandler() {
  let packets = 0;
  return {
    onBlock(block: Block) {
      packets += block.packetCount;
    },
    report: () => ({ packets }),
  };
}

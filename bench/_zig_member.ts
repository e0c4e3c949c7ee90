/**
 * A Worker of the fanout-zig benchmark: one fanout member whose whole run is one call into the
 * Zig loop. It stops on the count, the deadline, or when stdin (fd 0, the wake fd) is readable.
 */
import { openCapture } from "../src/capture.ts";

interface Start {
  iface: string;
  netns?: string;
  ring: { blockTimeoutMs: number };
  groupId: number;
  maxPackets: number;
  maxMs: number;
}

self.onmessage = (e: MessageEvent<Start>) => {
  const { iface, netns, ring, groupId, maxPackets, maxMs } = e.data;
  const cap = openCapture(iface, { netns, ring, wakeFd: 0, fanout: { groupId, mode: "hash" } });
  try {
    postMessage("ready");
    const r = cap.nativeLoop(maxPackets, maxMs);
    postMessage({ mode: "fanout-zig", packets: r.packets, bytes: r.bytes, drops: cap.stats().drops, sources: r.sources });
  } finally {
    cap.close();
  }
};

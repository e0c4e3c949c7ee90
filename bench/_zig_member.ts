/**
 * A Worker of the fanout-zig benchmark: one fanout member whose whole run is one call into the
 * Zig loop. It stops on the count, the deadline, or when stdin (fd 0, the wake fd) is readable.
 */
import { NativeLoop } from "./native.ts";

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
  using loop = NativeLoop.ring({ iface, netns, ring, wakeFd: 0, fanout: { groupId } });
  postMessage("ready");
  const r = loop.run(maxPackets, maxMs);
  postMessage({ mode: "fanout-zig", packets: r.packets, bytes: r.bytes, drops: r.drops, sources: r.sources });
};

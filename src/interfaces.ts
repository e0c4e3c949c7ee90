/** Network interfaces and namespaces as the capture and the generator name them. @module */

import { readdirSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

/** A netns name as `ip netns` knows it, or an absolute path such as /proc/PID/ns/net. */
export function netnsPath(netns: string): string {
  return netns.includes("/") ? netns : `/var/run/netns/${netns}`;
}

/** Names of the interfaces in this (or the named) network namespace, for error messages. */
export function interfaceNames(netns?: string): string[] {
  return [...interfacesByIndex(netns).values()].sort();
}

/**
 * Interface names by index in this (or the named) network namespace: how a packet's ifindex
 * (an "any" capture's LINUX_SLL2 header, a sockaddr_ll) is named when no capture socket is at
 * hand to ask. Empty when they cannot be listed.
 */
export function interfacesByIndex(netns?: string): Map<number, string> {
  const names = new Map<number, string>();
  try {
    if (!netns) {
      for (const name of readdirSync("/sys/class/net")) {
        try {
          names.set(Number(readFileSync(`/sys/class/net/${name}/ifindex`, "utf8").trim()), name);
        } catch {
          // An interface that went away between the two reads has no name to give.
        }
      }
      return names;
    }
    const r = spawnSync("ip", ["-n", netns, "-o", "link", "show"], { encoding: "utf8", timeout: 5000 });
    for (const line of String(r.stdout ?? "").split("\n")) {
      const m = /^(\d+): ([^:@\s]+)/.exec(line);
      if (m) names.set(Number(m[1]), m[2]);
    }
  } catch {
    // No sysfs, no ip: every index stays unnamed.
  }
  return names;
}

/** Network interfaces and namespaces as the capture and the generator name them. @module */

import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";

/** A netns name as `ip netns` knows it, or an absolute path such as /proc/PID/ns/net. */
export function netnsPath(netns: string): string {
  return netns.includes("/") ? netns : `/var/run/netns/${netns}`;
}

/** Names of the interfaces in this (or the named) network namespace, for error messages. */
export function interfaceNames(netns?: string): string[] {
  try {
    if (!netns) return readdirSync("/sys/class/net").sort();
    const r = spawnSync("ip", ["-n", netns, "-o", "link", "show"], { encoding: "utf8", timeout: 5000 });
    return String(r.stdout ?? "")
      .split("\n")
      .map((line) => line.split(": ")[1]?.split("@")[0])
      .filter((n): n is string => !!n)
      .sort();
  } catch {
    return [];
  }
}

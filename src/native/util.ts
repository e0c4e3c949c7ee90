/** Small helpers shared by the capture, generator and CLI. @module */

import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { RingcapError } from "../errors.ts";

const encoder = new TextEncoder();

/** Writes `value` NUL-terminated into `buf[offset, offset+size)`, refusing what does not fit. */
export function encodeFixedString(buf: Uint8Array, offset: number, size: number, value: string, what: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length >= size || bytes.includes(0)) {
    throw new RingcapError("invalid_argument", `${what} must be at most ${size - 1} bytes without NUL, got ${JSON.stringify(value)}`);
  }
  buf.set(bytes, offset);
  buf[offset + bytes.length] = 0;
}

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

/** Parses "aa:bb:cc:dd:ee:ff" into 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  const bytes = parts.map((p) => Number.parseInt(p, 16));
  if (parts.length !== 6 || bytes.some((b, i) => !/^[0-9a-fA-F]{1,2}$/.test(parts[i]) || b < 0 || b > 255)) {
    throw new RingcapError("invalid_argument", `not a MAC address: ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(bytes);
}

/**
 * What every resource's options share: the one integer check and the limits that more than one
 * module needs. Each resource (capture, pool, generator, writer, flow table) normalises its own
 * options once, with this, in its constructor; the native library checks again as the last
 * line of defence.
 * @module
 */

import { RingcapError } from "./errors.ts";

/**
 * The largest snapshot length, as tcpdump's MAXIMUM_SNAPLEN: the "whole packet" value of pcap
 * headers and of compiled filters' accept return. A capture's `snaplen: 0` means this.
 */
export const MAX_SNAPLEN = 262144;

/** The snapshot length that `snaplen` (0: whole packets) comes to: `snaplen`, or MAX_SNAPLEN for 0. */
export function snaplenOrMax(snaplen: number): number {
  return snaplen === 0 ? MAX_SNAPLEN : snaplen;
}

/** An inclusive range of whole numbers, with the error code for a value outside it. */
export interface IntRange {
  min: number;
  max: number;
  /** The RingcapError code of a bad value. @default "invalid_argument" */
  code?: string;
}

/**
 * `value` when it is a whole number within `range`, `fallback` when it is undefined; anything
 * else throws a RingcapError naming the option (`name`) and the range.
 *
 * @example
 * ```ts
 * const blockCount = intOption(options.blockCount, "ring.blockCount", { min: 1, max: 0xffffffff }, 64);
 * ```
 */
export function intOption(value: unknown, name: string, range: IntRange, fallback?: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < range.min || v > range.max) {
    throw new RingcapError(
      range.code ?? "invalid_argument",
      `${name} must be an integer from ${range.min} to ${range.max}, got ${typeof value === "string" ? JSON.stringify(value) : value}`,
    );
  }
  return v;
}

/** The range of a u32 field of the native config structs. */
export const U32: IntRange = { min: 0, max: 0xffffffff };

/** Filling libringcap's extern structs from TypeScript values. @module */

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

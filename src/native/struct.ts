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

// The engine's own getters: a subclass or a redefined property cannot change what they return.
const typedArrayByteLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "byteLength")!.get!;
const dataViewByteLength = Object.getOwnPropertyDescriptor(DataView.prototype, "byteLength")!.get!;

/**
 * The real size in bytes of a typed array or DataView (what native code may touch through its
 * pointer), or null for anything else. 0 once its buffer is detached.
 */
export function viewByteLength(value: unknown): number | null {
  if (!ArrayBuffer.isView(value)) return null;
  try {
    return typedArrayByteLength.call(value) as number;
  } catch {
    return dataViewByteLength.call(value) as number;
  }
}

// The two sides of the boundary agree: every offset and size TypeScript uses equals Zig's.
import { expect, test } from "bun:test";
import { nativeLayout } from "../src/native/library.ts";
import { LAYOUT_TABLES } from "../src/native/layout.ts";
import { STATUS_NAMES } from "../src/errors.ts";

test("every struct offset and size in TypeScript matches Zig's @offsetOf/@sizeOf", () => {
  const layout = nativeLayout();
  const entries = Object.entries(layout).filter(([k]) => !k.startsWith("status."));
  expect(entries.length).toBeGreaterThan(80);
  for (const [key, value] of entries) {
    const [table, field] = key.split(".");
    expect({ key, value: LAYOUT_TABLES[table]?.[field] }).toEqual({ key, value });
  }
  // And nothing on the TypeScript side is unknown to Zig.
  for (const [table, fields] of Object.entries(LAYOUT_TABLES)) {
    for (const field of Object.keys(fields)) expect(layout).toHaveProperty([`${table}.${field}`]);
  }
});

test("every status code has the same name on both sides", () => {
  const layout = nativeLayout();
  const native = Object.entries(layout).filter(([k]) => k.startsWith("status."));
  expect(native.length).toBe(Object.keys(STATUS_NAMES).length);
  for (const [key, value] of native) expect(STATUS_NAMES[value]).toBe(key.slice("status.".length));
});

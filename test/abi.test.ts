// The two sides of the boundary agree: the library's description of its own ABI (built at
// compile time from zig/abi.zig) equals the one table TypeScript binds (src/native/abi.ts).
import { expect, test } from "bun:test";
import { describeLibrary } from "../src/native/library.ts";
import { ABI, ABI_VERSION, FLAGS, LAYOUT, STATUS, SYMBOLS } from "../src/native/abi.ts";
import { STATUS_NAMES } from "../src/errors.ts";

type Description = typeof ABI;
const described = () => describeLibrary() as Description;

test("the library describes the ABI version TypeScript expects", () => {
  expect(described().version).toBe(ABI_VERSION);
});

test("every struct offset and size in TypeScript matches Zig's @offsetOf/@sizeOf", () => {
  const layout = described().layout;
  const count = Object.values(layout).reduce((n, fields) => n + Object.keys(fields).length, 0);
  expect(count).toBeGreaterThan(80);
  // Field by field, both ways, so a failure names the field.
  for (const [struct, fields] of Object.entries(layout)) {
    for (const [field, value] of Object.entries(fields)) {
      const ours = (LAYOUT as Record<string, Record<string, number>>)[struct]?.[field];
      expect({ key: `${struct}.${field}`, value: ours }).toEqual({ key: `${struct}.${field}`, value });
    }
  }
  expect(layout).toEqual(LAYOUT);
});

test("every status code has the same name on both sides", () => {
  const status = described().status;
  expect(status).toEqual(STATUS);
  for (const [name, value] of Object.entries(status)) expect(STATUS_NAMES[value]).toBe(name);
});

test("every exported symbol has the signature TypeScript binds, and no other is exported", () => {
  expect(described().symbols).toEqual(SYMBOLS);
});

test("flag bits, fanout modes and constants agree", () => {
  const d = described();
  expect(d.flags).toEqual(FLAGS);
  expect(d.fanout_modes).toEqual(ABI.fanout_modes);
  expect(d.constants).toEqual(ABI.constants);
  expect(d).toEqual(ABI);
});

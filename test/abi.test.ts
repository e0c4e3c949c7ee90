// The two sides of the boundary agree: the library's description of its own ABI (built at
// compile time from zig/abi.zig) equals the one table TypeScript binds (src/native/abi.ts).
import { expect, test } from "bun:test";
import { describeLibrary, native, POINTER_RULES } from "../src/native/library.ts";
import { ABI, ABI_VERSION, FLAGS, LAYOUT, STATUS, SYMBOLS } from "../src/native/abi.ts";
import { RingcapError, STATUS_NAMES, statusError } from "../src/errors.ts";

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

test("every pointer argument has a size rule, and a count it depends on is a u32 argument", () => {
  for (const [name, sig] of Object.entries(SYMBOLS)) {
    const pointers = (sig.args as readonly string[]).flatMap((t, i) => (t === "ptr" ? [i] : []));
    const rules = POINTER_RULES[name as keyof typeof SYMBOLS];
    expect({ name, ruled: Object.keys(rules).map(Number) }).toEqual({ name, ruled: pointers });
    for (const rule of Object.values(rules)) {
      if ("lengthArg" in rule) expect({ name, count: sig.args[rule.lengthArg] }).toEqual({ name, count: "u32" });
    }
  }
});

test("a buffer shorter than the call reads or writes, or not a buffer at all, is refused before it crosses", () => {
  const lib = native();
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(RingcapError);
      return (e as RingcapError).code;
    }
    return "crossed";
  };
  const config = new Uint8Array(LAYOUT.CaptureConfig.size);
  const info = new Uint8Array(LAYOUT.CaptureInfo.size);
  const asPointer = (v: unknown) => v as Uint8Array;
  const refused = [
    () => lib.describe(new Uint8Array(4), 4096),
    () => lib.capture_open(config.subarray(8), null, 0, null, 0, info),
    () => lib.capture_open(config, new Uint8Array(8), 2, null, 0, info),
    () => lib.capture_open(config, null, 0, new Uint8Array(16), 4096, info),
    () => lib.capture_open(config, new Uint8Array(8), -1, null, 0, info),
    () => lib.capture_open(config, new Uint8Array(8), 1.5, null, 0, info),
    () => lib.capture_open(config, null, 0, null, 0, info.subarray(1)),
    () => lib.capture_open(config, asPointer(12345), 1, null, 0, info),
    () => lib.capture_open(config, asPointer([1, 2, 3]), 0, null, 0, info),
    () => lib.capture_open(config, asPointer(undefined), 0, null, 0, info),
    () => lib.capture_next_block(0, 0, new Uint8Array(LAYOUT.BlockInfo.size - 1)),
    () => lib.capture_stats(0, asPointer(12345)),
    () => lib.waker_open(new Int32Array(0)),
    () => lib.gen_open(new Uint8Array(LAYOUT.GenConfig.size), new Uint8Array(8)),
    () => lib.gen_send(0, 1, 1, new Uint8Array(LAYOUT.GenResult.size - 8)),
  ];
  expect(refused.map(code)).toEqual(refused.map(() => "invalid_argument"));
  // Right-sized calls cross, and the library answers for itself.
  expect(lib.describe(null, 0)).toBeGreaterThan(100);
  expect(lib.capture_open(config, null, 0, null, 0, info)).toBe(STATUS.interface_name_invalid);
  expect(lib.capture_stats(0, new Uint8Array(LAYOUT.CaptureStats.size))).toBe(STATUS.bad_handle);
});

test("both permission statuses are a PermissionError with code permission_denied, each naming its capability", () => {
  const raw = statusError(STATUS.permission_denied, "x", 1);
  const netns = statusError(STATUS.netns_permission_denied, "x", 1);
  expect([raw.name, raw.code, netns.name, netns.code]).toEqual(["PermissionError", "permission_denied", "PermissionError", "permission_denied"]);
  expect(raw.message).toContain("CAP_NET_RAW");
  expect(netns.message).toContain("CAP_SYS_ADMIN");
});

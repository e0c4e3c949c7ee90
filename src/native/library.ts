/**
 * libringcap, loaded: the functions of {@link SYMBOLS} bound for this runtime. The library is
 * found and opened on first use, so importing ringcap for its decoders or pcap writer never
 * needs it.
 * @module
 */

import { existsSync } from "node:fs";
import { PermissionError, RingcapError } from "../errors.ts";
import { ABI_VERSION, type AbiType, LAYOUT, SYMBOLS } from "./abi.ts";
import { type CType, dlopen, envVar, type ForeignSignature, mapMemory, permissionRefusal, runtimeArch } from "./runtime.ts";
import { viewByteLength } from "./struct.ts";

/** What a typed array passed as "ptr" may be. */
type Pointer = Uint8Array | Uint32Array | Int32Array | null;
type JsType<T> = T extends "u32" | "i32" ? number : T extends "u64" ? bigint : T extends "ptr" ? Pointer : void;
type JsArgs<T extends readonly AbiType[]> = { -readonly [K in keyof T]: JsType<T[K]> };
type Signature = { readonly args: readonly AbiType[]; readonly returns: AbiType };
type Bound<S extends Signature> = (...args: JsArgs<S["args"]>) => JsType<S["returns"]>;

/** Every native entry point of {@link SYMBOLS}, by the same names, plus the ring mapping. */
export type Native =
  & { readonly [K in keyof typeof SYMBOLS]: Bound<(typeof SYMBOLS)[K]> }
  & {
    readonly path: string;
    /** An ArrayBuffer over native memory, without copying. Made once per capture. */
    mapMemory(address: bigint, length: number): ArrayBuffer;
  };

/** The files searched for the library, in order: $RINGCAP_LIB, a local build, the prebuilt one. */
export function libraryCandidates(): string[] {
  const here = (rel: string) => new URL(rel, import.meta.url).pathname;
  const list = [here("../../zig-out/lib/libringcap.so"), here(`../../prebuilt/${runtimeArch()}-linux/libringcap.so`)];
  const override = envVar("RINGCAP_LIB");
  if (override) list.unshift(override);
  return list;
}

function signatures(): Record<string, ForeignSignature> {
  const type = (t: AbiType): CType => (t === "ptr" ? "buf" : t);
  const out: Record<string, ForeignSignature> = {};
  for (const [name, sig] of Object.entries(SYMBOLS)) {
    out[`ringcap_${name}`] = { args: (sig.args as readonly AbiType[]).map(type), returns: type(sig.returns) };
  }
  return out;
}

/**
 * What a pointer argument must be: null, or a typed array of at least `bytes` bytes, or of at
 * least `unit` times the value of argument `lengthArg` (a count the library will read that
 * many of). The library trusts a pointer for as many bytes as the rule says; nothing else
 * can check it.
 */
export type PointerRule = { readonly bytes: number } | { readonly lengthArg: number; readonly unit: number };

/**
 * The rule of every "ptr" argument of {@link SYMBOLS}, by symbol and argument index. Each call
 * is checked against it before it crosses to the library (test/abi.test.ts checks that every
 * pointer argument has one), so a wrong buffer is a RingcapError, never memory read or written
 * past its end.
 */
export const POINTER_RULES: { readonly [K in keyof typeof SYMBOLS]: Readonly<Record<number, PointerRule>> } = {
  abi_version: {},
  describe: { 0: { lengthArg: 1, unit: 1 } },
  capture_open: {
    0: { bytes: LAYOUT.CaptureConfig.size },
    1: { lengthArg: 2, unit: 8 }, // struct sock_filter
    3: { lengthArg: 4, unit: 8 },
    5: { bytes: LAYOUT.CaptureInfo.size },
  },
  capture_next_block: { 2: { bytes: LAYOUT.BlockInfo.size } },
  capture_interface_name: { 2: { lengthArg: 3, unit: 1 } },
  capture_release_block: {},
  capture_stats: { 1: { bytes: LAYOUT.CaptureStats.size } },
  capture_errno: {},
  capture_close: {},
  capture_watch: { 1: { bytes: 4 } },
  capture_arm: {},
  capture_unwatch: {},
  watch_close_reader: {},
  waker_open: { 0: { bytes: 4 } },
  waker_signal: {},
  waker_reset: {},
  waker_close: {},
  timestamp_types: { 0: { bytes: LAYOUT.CaptureConfig.size } },
  gen_open: { 0: { bytes: LAYOUT.GenConfig.size }, 1: { bytes: LAYOUT.GenInfo.size } },
  gen_send: { 3: { bytes: LAYOUT.GenResult.size } },
  gen_close: {},
  flows_open: { 0: { bytes: LAYOUT.FlowConfig.size }, 1: { bytes: 4 } },
  flows_close: {},
  flows_block: {},
  flows_expire: { 1: { bytes: 8 } },
  flows_flush: {},
  flows_take: { 1: { lengthArg: 2, unit: LAYOUT.FlowRecord.size } },
  flows_stats: { 1: { bytes: LAYOUT.FlowStats.size } },
};

/** Throws unless argument `index` of `args` is null or a typed array its rule allows. */
function checkPointer(name: string, args: readonly unknown[], index: number, rule: PointerRule): void {
  const value = args[index];
  if (value === null) return;
  const what = `ringcap_${name} argument ${index + 1}`;
  const size = viewByteLength(value);
  if (size === null) {
    throw new RingcapError("invalid_argument", `${what} must be a typed array or null, got ${value === undefined ? "undefined" : typeof value}`);
  }
  let needed: number;
  if ("bytes" in rule) needed = rule.bytes;
  else {
    const count = args[rule.lengthArg];
    if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > 0xffffffff) {
      throw new RingcapError("invalid_argument", `ringcap_${name} argument ${rule.lengthArg + 1} must be a count from 0 to 4294967295, got ${String(count)}`);
    }
    needed = count * rule.unit;
  }
  if (size < needed) {
    throw new RingcapError("invalid_argument", `${what} has ${size} bytes but the call reads or writes ${needed}`);
  }
}

/** `fn`, checking its pointer arguments first (or `fn` itself when it takes none). */
function guarded(name: string, fn: (...args: unknown[]) => unknown, rules: Readonly<Record<number, PointerRule>>): unknown {
  const checks = Object.entries(rules).map(([index, rule]) => [Number(index), rule] as const);
  if (checks.length === 0) return fn;
  return (...args: unknown[]) => {
    for (const [index, rule] of checks) checkPointer(name, args, index, rule);
    return fn(...args);
  };
}

function bind(path: string): Native {
  const lib = dlopen(path, signatures());
  const native: Record<string, unknown> = { path, mapMemory };
  for (const name of Object.keys(SYMBOLS) as (keyof typeof SYMBOLS)[]) {
    native[name] = guarded(name, lib.symbols[`ringcap_${name}`], POINTER_RULES[name]);
  }
  return native as Native;
}

/**
 * The error for a runtime that refused to let ringcap look for or load its library (Deno
 * without --allow-ffi, --allow-read or --allow-env); null for any other failure.
 */
function refusedError(cause: unknown): RingcapError | null {
  const refusal = permissionRefusal(cause);
  if (refusal === null) return null;
  return new PermissionError(
    `Deno refused what loading libringcap needs (${refusal}): run deno with --allow-ffi --allow-read --allow-env ` +
      "(ffi to load the library, read to find it, env for RINGCAP_LIB), or with -A",
    undefined,
    { cause },
  );
}

let loaded: Native | null = null;

/** Opens libringcap on first call and returns the same binding afterwards. */
export function native(): Native {
  if (loaded) return loaded;
  try {
    loaded = load();
  } catch (e) {
    throw refusedError(e) ?? e;
  }
  return loaded;
}

function load(): Native {
  const candidates = libraryCandidates();
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new RingcapError(
      "library_missing",
      `libringcap.so not found (looked in ${candidates.join(", ")}): run \`make\` in the ringcap folder to build it, ` +
        `or install a ringcap package that ships the prebuilt library for linux-${runtimeArch()}`,
    );
  }
  let lib: Native;
  try {
    lib = bind(path);
  } catch (cause) {
    throw refusedError(cause) ?? new RingcapError("library_unloadable", `could not load ${path}: ${(cause as Error).message}`, { cause });
  }
  const version = lib.abi_version();
  if (version !== ABI_VERSION) {
    throw new RingcapError(
      "library_mismatch",
      `${path} has ABI version ${version} but this ringcap expects ${ABI_VERSION}: rebuild it with \`make\``,
    );
  }
  return lib;
}

/** The library's description of its own ABI, in the shape of `ABI` (src/native/abi.ts). */
export function describeLibrary(): unknown {
  const lib = native();
  const len = lib.describe(null, 0);
  const buf = new Uint8Array(len);
  lib.describe(buf, len);
  return JSON.parse(new TextDecoder().decode(buf));
}

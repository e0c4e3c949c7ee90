/**
 * libringcap, loaded: the functions of {@link SYMBOLS} bound for this runtime. The library is
 * found and opened on first use, so importing ringcap for its decoders or pcap writer never
 * needs it.
 * @module
 */

import { existsSync } from "node:fs";
import { RingcapError } from "../errors.ts";
import { ABI_VERSION, type AbiType, SYMBOLS } from "./abi.ts";
import { type CType, dlopen, envVar, type ForeignSignature, mapMemory, runtimeArch } from "./runtime.ts";

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

function bind(path: string): Native {
  const lib = dlopen(path, signatures());
  const native: Record<string, unknown> = { path, mapMemory };
  for (const name of Object.keys(SYMBOLS)) native[name] = lib.symbols[`ringcap_${name}`];
  return native as Native;
}

let loaded: Native | null = null;

/** Opens libringcap on first call and returns the same binding afterwards. */
export function native(): Native {
  if (loaded) return loaded;
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
    throw new RingcapError("library_unloadable", `could not load ${path}: ${(cause as Error).message}`, { cause });
  }
  const version = lib.abi_version();
  if (version !== ABI_VERSION) {
    throw new RingcapError(
      "library_mismatch",
      `${path} has ABI version ${version} but this ringcap expects ${ABI_VERSION}: rebuild it with \`make\``,
    );
  }
  loaded = lib;
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

/**
 * The binding to libringcap: one interface, two runtimes (bun:ffi and Deno.dlopen).
 * The library is found and opened on first use, so importing ringcap for its decoders or
 * pcap writer never needs the native library.
 * @module
 */

import { existsSync } from "node:fs";
import { RingcapError } from "../errors.ts";

/** Every native entry point, with arguments as plain numbers and typed arrays. */
export interface Native {
  readonly path: string;
  abiVersion(): number;
  layoutJson(buf: Uint8Array | null, len: number): number;
  captureOpen(
    cfg: Uint8Array,
    filter: Uint8Array | null,
    filterLen: number,
    fanoutProg: Uint8Array | null,
    fanoutProgLen: number,
    info: Uint8Array,
  ): number;
  captureNextBlock(handle: number, timeoutMs: number, out: Uint8Array | null): number;
  captureReleaseBlock(handle: number): number;
  captureStats(handle: number, out: Uint8Array): number;
  captureErrno(handle: number): number;
  captureClose(handle: number): void;
  wakerOpen(outFd: Int32Array): number;
  wakerSignal(fd: number): number;
  wakerReset(fd: number): number;
  wakerClose(fd: number): void;
  genOpen(cfg: Uint8Array, outHandle: Uint32Array, outErrno: Int32Array): number;
  genSend(handle: number, count: number, maxMs: number, out: Uint8Array): number;
  genFrameLength(handle: number): number;
  genClose(handle: number): void;
  nativeLoop(handle: number, maxPackets: number, maxMs: number, out: Uint8Array): number;
  recvLoop(cfg: Uint8Array, batch: number, maxPackets: number, maxMs: number, readyFd: number, out: Uint8Array): number;
  /** An ArrayBuffer over native memory, without copying. Made once per capture. */
  mapMemory(address: bigint, length: number): ArrayBuffer;
}

/** The ABI version this TypeScript expects; `zig/lib.zig` has the other half. */
export const ABI_VERSION = 2;

type Sig = { args: string[]; returns: string };

const SIGNATURES: Record<string, Sig> = {
  ringcap_abi_version: { args: [], returns: "u32" },
  ringcap_layout_json: { args: ["ptr", "u32"], returns: "u32" },
  ringcap_capture_open: { args: ["ptr", "ptr", "u32", "ptr", "u32", "ptr"], returns: "i32" },
  ringcap_capture_next_block: { args: ["u32", "i32", "ptr"], returns: "i32" },
  ringcap_capture_release_block: { args: ["u32"], returns: "i32" },
  ringcap_capture_stats: { args: ["u32", "ptr"], returns: "i32" },
  ringcap_capture_errno: { args: ["u32"], returns: "i32" },
  ringcap_capture_close: { args: ["u32"], returns: "void" },
  ringcap_waker_open: { args: ["ptr"], returns: "i32" },
  ringcap_waker_signal: { args: ["i32"], returns: "i32" },
  ringcap_waker_reset: { args: ["i32"], returns: "i32" },
  ringcap_waker_close: { args: ["i32"], returns: "void" },
  ringcap_gen_open: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  ringcap_gen_send: { args: ["u32", "u32", "u32", "ptr"], returns: "i32" },
  ringcap_gen_frame_length: { args: ["u32"], returns: "i32" },
  ringcap_gen_close: { args: ["u32"], returns: "void" },
  ringcap_native_loop: { args: ["u32", "u32", "u32", "ptr"], returns: "i32" },
  ringcap_recv_loop: { args: ["ptr", "u32", "u32", "u32", "i32", "ptr"], returns: "i32" },
};

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/** The directories searched for the library, in order. */
export function libraryCandidates(): string[] {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const arch = runtimeArch();
  const here = (rel: string) => new URL(rel, import.meta.url).pathname;
  const list = [here("../zig-out/lib/libringcap.so"), here(`../prebuilt/${arch}-linux/libringcap.so`)];
  if (env?.RINGCAP_LIB) list.unshift(env.RINGCAP_LIB);
  return list;
}

function runtimeArch(): string {
  const g = globalThis as { process?: { arch?: string }; Deno?: { build: { arch: string } } };
  const arch = g.Deno?.build.arch ?? g.process?.arch ?? "x64";
  return arch === "x64" || arch === "x86_64" ? "x86_64" : arch === "arm64" || arch === "aarch64" ? "aarch64" : arch;
}


const BUN_FFI = "bun:ffi";
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
// Held in a variable so that Deno never tries to resolve a Bun-only specifier.
// deno-lint-ignore no-explicit-any
const bunFfi: any = isBun ? await import(BUN_FFI) : null;

/** The Native interface over a loaded library's symbols, the same for both runtimes. */
function bindSymbols(path: string, s: Record<string, AnyFn>, mapMemory: Native["mapMemory"]): Native {
  return {
    path,
    abiVersion: s.ringcap_abi_version,
    layoutJson: s.ringcap_layout_json,
    captureOpen: s.ringcap_capture_open,
    captureNextBlock: s.ringcap_capture_next_block,
    captureReleaseBlock: s.ringcap_capture_release_block,
    captureStats: s.ringcap_capture_stats,
    captureErrno: s.ringcap_capture_errno,
    captureClose: s.ringcap_capture_close,
    wakerOpen: s.ringcap_waker_open,
    wakerSignal: s.ringcap_waker_signal,
    wakerReset: s.ringcap_waker_reset,
    wakerClose: s.ringcap_waker_close,
    genOpen: s.ringcap_gen_open,
    genSend: s.ringcap_gen_send,
    genFrameLength: s.ringcap_gen_frame_length,
    genClose: s.ringcap_gen_close,
    nativeLoop: s.ringcap_native_loop,
    recvLoop: s.ringcap_recv_loop,
    mapMemory,
  };
}

function openBun(path: string): Native {
  const { dlopen, toArrayBuffer } = bunFfi;
  const symbols: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, sig] of Object.entries(SIGNATURES)) symbols[name] = { args: sig.args, returns: sig.returns };
  const s = dlopen(path, symbols).symbols as Record<string, AnyFn>;
  return bindSymbols(path, s, (address, length) => toArrayBuffer(Number(address), 0, length));
}

function openDeno(path: string): Native {
  // deno-lint-ignore no-explicit-any
  const Deno = (globalThis as any).Deno;
  const denoType = (t: string) => (t === "ptr" ? "buffer" : t);
  const symbols: Record<string, { parameters: string[]; result: string }> = {};
  for (const [name, sig] of Object.entries(SIGNATURES)) {
    symbols[name] = { parameters: sig.args.map(denoType), result: denoType(sig.returns) };
  }
  const s = Deno.dlopen(path, symbols).symbols as Record<string, AnyFn>;
  // Deno's argument order is (length, offset), the reverse of Bun's toArrayBuffer.
  return bindSymbols(path, s, (address, length) =>
    Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(address), length, 0));
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
    lib = isBun ? openBun(path) : openDeno(path);
  } catch (cause) {
    throw new RingcapError("library_unloadable", `could not load ${path}: ${(cause as Error).message}`, { cause });
  }
  const version = lib.abiVersion();
  if (version !== ABI_VERSION) {
    throw new RingcapError(
      "library_mismatch",
      `${path} has ABI version ${version} but this ringcap expects ${ABI_VERSION}: rebuild it with \`make\``,
    );
  }
  loaded = lib;
  return lib;
}

/** The layout table the library was built with (offsets and sizes by name, and status codes). */
export function nativeLayout(): Record<string, number> {
  const lib = native();
  const len = lib.layoutJson(null, 0);
  const buf = new Uint8Array(len);
  lib.layoutJson(buf, len);
  return JSON.parse(new TextDecoder().decode(buf));
}

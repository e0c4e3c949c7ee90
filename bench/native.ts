/**
 * The benchmark's binding of libringcap_bench.so (zig/bench.zig): the Zig loops that ringcap's
 * TypeScript readers are measured against. Bun only, like the rest of the harness. `make` builds
 * the library into zig-out/lib/ beside libringcap.so; the published package does not carry it.
 *
 * Offsets, statuses and flag bits come from the library's own description
 * (`ringcap_bench_describe`), so nothing here repeats a number the Zig side defines.
 *
 * @example
 * ```ts
 * using loop = NativeLoop.ring({ iface: "veth0", netns: "bench", wakeFd: 0 });
 * console.log("READY");
 * const r = loop.run(1_000_000, 10_000);
 * ```
 */

import { dlopen, FFIType, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import { DEFAULT_RING } from "../mod.ts";

/** The library version this binding speaks (zig/bench.zig's `bench_version`). */
const BENCH_VERSION = 1;
const LIBRARY = new URL("../zig-out/lib/libringcap_bench.so", import.meta.url).pathname;

interface Description {
  version: number;
  status: Record<string, number>;
  layout: { CaptureConfig: Record<string, number>; LoopResult: Record<string, number> };
  flags: { capture: Record<string, number> };
  fanout_modes: Record<string, number>;
  constants: { ifname_size: number; netns_path_size: number; recv_batch_max: number };
}

/** True when `make` has built the bench library (a checkout; the published package has none). */
export function benchLibraryBuilt(): boolean {
  return existsSync(LIBRARY);
}

function open() {
  if (!existsSync(LIBRARY)) {
    throw new Error(`the bench's native loops are not built (${LIBRARY} is missing): run \`make\` in the ringcap checkout`);
  }
  const { ptr, u32, i32 } = FFIType;
  const lib = dlopen(LIBRARY, {
    ringcap_bench_version: { args: [], returns: u32 },
    ringcap_bench_describe: { args: [ptr, u32], returns: u32 },
    ringcap_bench_ring_open: { args: [ptr, ptr, ptr], returns: i32 },
    ringcap_bench_recv_open: { args: [ptr, u32, ptr, ptr], returns: i32 },
    ringcap_bench_loop_run: { args: [ptr, u32, u32, ptr], returns: i32 },
    ringcap_bench_loop_close: { args: [ptr], returns: FFIType.void },
  });
  const found = lib.symbols.ringcap_bench_version();
  if (found !== BENCH_VERSION) {
    throw new Error(`${LIBRARY} is version ${found}, this harness needs ${BENCH_VERSION}: run \`make\` to rebuild it`);
  }
  const size = lib.symbols.ringcap_bench_describe(null, 0);
  const text = new Uint8Array(size);
  lib.symbols.ringcap_bench_describe(text, size);
  const description = JSON.parse(new TextDecoder().decode(text)) as Description;
  const statusNames = new Map(Object.entries(description.status).map(([name, code]) => [code, name]));
  return { fn: lib.symbols, description, statusName: (code: number) => statusNames.get(code) ?? `status ${code}` };
}

let loaded: ReturnType<typeof open> | undefined;
const library = () => (loaded ??= open());

/** Where one loop reads: an interface, as `openCapture` names it. */
export interface LoopOptions {
  iface: string;
  /** A namespace name (under /var/run/netns, as `ip netns` keeps them) or a path. */
  netns?: string;
  /** A descriptor that stops the loop once readable (the capturers use stdin, fd 0). */
  wakeFd: number;
  /** Ring geometry for a ring loop. @default DEFAULT_RING, field by field */
  ring?: Partial<typeof DEFAULT_RING>;
  /** Join this fanout group (hash mode), for a ring loop. */
  fanout?: { groupId: number };
}

/** What one run saw. `blocks` counts reads that returned packets (ring blocks, recv calls). */
export interface LoopResult {
  packets: number;
  bytes: number;
  blocks: number;
  drops: number;
  sources: number;
}

function putString(cfg: Uint8Array, offset: number, size: number, value: string, what: string): void {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length >= size) throw new Error(`${what} ${JSON.stringify(value)} is longer than ${size - 1} bytes`);
  cfg.set(bytes, offset);
}

/**
 * A CaptureConfig as `openCapture(iface, { netns, wakeFd, ring, fanout: { groupId, mode: "hash" } })`
 * fills it with its defaults: no filter, whole frames, rxhash filled.
 */
function captureConfig(options: LoopOptions): Uint8Array {
  const { description: d } = library();
  const at = d.layout.CaptureConfig;
  const cfg = new Uint8Array(at.size);
  const dv = new DataView(cfg.buffer);
  putString(cfg, at.ifname, d.constants.ifname_size, options.iface, "interface name");
  if (options.netns) {
    const path = options.netns.includes("/") ? options.netns : `/var/run/netns/${options.netns}`;
    putString(cfg, at.netns_path, d.constants.netns_path_size, path, "netns path");
  }
  const ring = { ...DEFAULT_RING, ...options.ring };
  dv.setUint32(at.block_size_bytes, ring.blockSize, true);
  dv.setUint32(at.block_count, ring.blockCount, true);
  dv.setUint32(at.frame_size_bytes, ring.frameSize, true);
  dv.setUint32(at.block_timeout_ms, ring.blockTimeoutMs, true);
  let flags = d.flags.capture.fill_rxhash;
  if (options.fanout) {
    flags |= d.flags.capture.fanout;
    dv.setUint32(at.fanout_group_id, options.fanout.groupId, true);
    dv.setUint32(at.fanout_mode, d.fanout_modes.hash, true);
  }
  dv.setUint32(at.flags, flags, true);
  dv.setInt32(at.fanout_ebpf_fd, -1, true);
  dv.setInt32(at.wake_fd, options.wakeFd, true);
  return cfg;
}

/** One of the bench library's loops with its socket open: `run` it, then `close` it. */
export class NativeLoop {
  #loop: Pointer | null;
  readonly #what: string;

  private constructor(loop: Pointer, what: string) {
    this.#loop = loop;
    this.#what = what;
  }

  /** A TPACKET_V3 ring set up as `openCapture` would, read by the Zig loop. */
  static ring(options: LoopOptions): NativeLoop {
    return NativeLoop.#open(`ring loop on ${options.iface}`, (cfg, out, errno) => library().fn.ringcap_bench_ring_open(cfg, out, errno), options);
  }

  /** A plain socket read with one recvmsg per packet (`batch` 1) or recvmmsg batches. */
  static recv(options: LoopOptions, batch: number): NativeLoop {
    return NativeLoop.#open(`recv loop on ${options.iface}`, (cfg, out, errno) => library().fn.ringcap_bench_recv_open(cfg, batch, out, errno), options);
  }

  static #open(what: string, call: (cfg: Uint8Array, out: BigUint64Array, errno: Int32Array) => number, options: LoopOptions): NativeLoop {
    const out = new BigUint64Array(1);
    const errno = new Int32Array(1);
    const status = call(captureConfig(options), out, errno);
    if (status < 0) throw new Error(`cannot open the ${what}: ${library().statusName(status)} (errno ${errno[0]})`);
    return new NativeLoop(Number(out[0]) as Pointer, what);
  }

  /** Reads until `maxPackets` were seen, `maxMs` passed, or the wake fd became readable. */
  run(maxPackets: number, maxMs: number): LoopResult {
    if (this.#loop === null) throw new Error(`the ${this.#what} is closed`);
    const { fn, description, statusName } = library();
    const at = description.layout.LoopResult;
    const out = new Uint8Array(at.size);
    const status = fn.ringcap_bench_loop_run(this.#loop, maxPackets, maxMs, out);
    const dv = new DataView(out.buffer);
    if (status < 0) throw new Error(`the ${this.#what} failed: ${statusName(status)} (errno ${dv.getInt32(at.errno, true)})`);
    return {
      packets: Number(dv.getBigUint64(at.packets, true)),
      bytes: Number(dv.getBigUint64(at.bytes, true)),
      blocks: Number(dv.getBigUint64(at.blocks, true)),
      drops: Number(dv.getBigUint64(at.drops, true)),
      sources: dv.getUint32(at.distinct_sources, true),
    };
  }

  close(): void {
    if (this.#loop === null) return;
    library().fn.ringcap_bench_loop_close(this.#loop);
    this.#loop = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

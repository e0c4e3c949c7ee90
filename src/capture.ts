/**
 * A capture: one AF_PACKET socket with a TPACKET_V3 ring mapped into one ArrayBuffer.
 * @module
 */

import { ClosedError, InterfaceError, RingcapError, statusError } from "./errors.ts";
import { interfaceNames, netnsPath } from "./interfaces.ts";
import { CONSTANTS, FANOUT_MODE_VALUES, FLAGS, LAYOUT, STATUS, TIMESTAMP_TYPE_VALUES } from "./native/abi.ts";
import { native, type Native } from "./native/library.ts";
import { type PipeReader, readPipe } from "./native/runtime.ts";
import { encodeFixedString } from "./native/struct.ts";
import { intOption, snaplenOrMax, U32 } from "./options.ts";
import { Block, type PacketView, type RingOwner } from "./packet.ts";
import { type BpfProgram, compileFilter } from "./bpf/compile.ts";
import { checkBpfProgram, forCookedSocket, onlyOutgoing } from "./bpf/program.ts";
import { LINKTYPE } from "./decode.ts";
import { linkTypeFor } from "./pcap.ts";

const CAPTURE_CONFIG = LAYOUT.CaptureConfig;
const CAPTURE_INFO = LAYOUT.CaptureInfo;
const BLOCK_INFO = LAYOUT.BlockInfo;
const CAPTURE_STATS = LAYOUT.CaptureStats;

/**
 * Ring geometry. The defaults hold 64 MiB: at one million minimum-size frames a second
 * (about 128 bytes each in the ring) that is half a second of slack if the reader stalls,
 * while a pool of one capture per core stays affordable. 1 MiB blocks are allocated by the
 * kernel as contiguous pages without strain; the 10 ms timeout bounds the delay of a
 * packet at low rates (libpcap's one-second default is what makes tcpdump feel slow).
 */
export interface RingOptions {
  /** Bytes per block: a multiple of the page size and of `frameSize`. @default 1048576 */
  blockSize?: number;
  /** Blocks in the ring. @default 64 */
  blockCount?: number;
  /** Frame size; for TPACKET_V3 it only has to divide the block size. @default 2048 */
  frameSize?: number;
  /** How long the kernel waits before handing over a block that is not full. 0 lets the kernel pick. @default 10 */
  blockTimeoutMs?: number;
  /**
   * Let the ring take up to all of the memory available (MemAvailable in /proc/meminfo, read
   * at each open) instead of half of it. A larger ring is refused before the kernel is asked
   * (RingcapError "ring_exceeds_memory"): the kernel allocates a ring at once, and cannot be
   * interrupted while it does. @default false
   */
  allowLarge?: boolean;
}

/** Which packets a capture takes: received ("in"), sent by this host ("out"), or both. */
export type Direction = "in" | "out" | "inout";

/**
 * Whose clock stamps each packet, by libpcap's names (tcpdump's `-j`): "host", the kernel's
 * clock (the default); "adapter", the NIC's clock converted to system time by the kernel
 * (SOF_TIMESTAMPING_SYS_HARDWARE, which kernels since 3.17 no longer offer); "adapter_unsynced",
 * the NIC's clock as it runs (RAW_HARDWARE). Each must be offered by the interface
 * ({@link timestampTypes}, `-J`): otherwise (veth, lo, a NIC without a clock) the open fails
 * with code "timestamp_type_not_supported" instead of falling back to the host's clock.
 */
export type TimestampType = keyof typeof TIMESTAMP_TYPE_VALUES;

/** The timestamp types by name. */
export const TIMESTAMP_TYPES: readonly TimestampType[] = Object.keys(TIMESTAMP_TYPE_VALUES) as TimestampType[];

/** PACKET_FANOUT modes. */
export type FanoutMode = "hash" | "lb" | "cpu" | "rollover" | "rnd" | "qm" | "cbpf" | "ebpf";

/** The PACKET_FANOUT mode numbers by name. */
export const FANOUT_MODES: Readonly<Record<FanoutMode, number>> = FANOUT_MODE_VALUES;

export interface FanoutOptions {
  /** The group to join (0..65535). Without it the kernel picks a free id (`uniqueId`). */
  groupId?: number;
  /** @default "hash" */
  mode?: FanoutMode;
  /** Reassemble IP fragments before hashing, so they land with their flow. @default false */
  defrag?: boolean;
  /** Spill to another socket when this one's ring is full. @default false */
  rollover?: boolean;
  /** Let the kernel choose a group id nobody uses (when `groupId` is not given). */
  uniqueId?: boolean;
  /** Leave out frames this host sends. @default false */
  ignoreOutgoing?: boolean;
  /** The classic BPF program for the "cbpf" mode; it returns the member index. */
  program?: BpfProgram;
  /** An eBPF program fd for the "ebpf" mode. */
  ebpfFd?: number;
}

export interface CaptureOptions {
  ring?: RingOptions;
  /** Put the interface in promiscuous mode while the capture is open. @default false */
  promisc?: boolean;
  /** Bytes captured per frame; 0 captures whole frames. @default 0 */
  snaplen?: number;
  /**
   * A tcpdump expression (compiled with libpcap) or a compiled program. An expression accepts
   * what `tcpdump -r` accepts from a saved file, also for frames whose VLAN tag the kernel
   * stripped (`vlan 100` matches them; `udp` alone does not match tagged UDP).
   */
  filter?: string | BpfProgram;
  /** Join a PACKET_FANOUT group. */
  fanout?: FanoutOptions;
  /** Leave out frames this host sends (PACKET_IGNORE_OUTGOING; on `lo` this removes the duplicate). @default false */
  ignoreOutgoing?: boolean;
  /**
   * Which packets, as tcpdump's `-Q`: "in" (received: `ignoreOutgoing`), "out" (sent by this
   * host: a filter in the kernel keeps only those, in front of `filter`) or "inout" (both).
   * @default "inout"
   */
  direction?: Direction;
  /** Ask the kernel to fill each packet's rx hash. @default true */
  rxHash?: boolean;
  /** Whose clock stamps the packets (see {@link TimestampType}). @default "host" */
  timestampType?: TimestampType;
  /** Open the socket inside this network namespace (a name from `ip netns` or a path). */
  netns?: string;
  /** Open even if the interface is down. @default false */
  allowDown?: boolean;
  /** An eventfd (see `Waker`) whose signal ends a blocking wait: how a pool stops its workers. */
  wakeFd?: number;
  /**
   * Immediate mode (as libpcap's pcap_set_immediate_mode): each frame is handed over as it
   * arrives, not when its block is full or `ring.blockTimeoutMs` has passed. The kernel's ring
   * is then TPACKET_V2 (one status per frame) and the library copies the frames ready into one
   * block of its own, shaped as every other block, so blocks, packets and filters read the
   * same; `ring.blockTimeoutMs` does not apply, a frame longer than about `ring.frameSize` -
   * 80 bytes is cut there (raise `ring.frameSize` for large frames), and rx hashes are 0.
   * It costs a copy and a wake-up per frame or burst: for low rates and interactive use.
   * @default false
   */
  immediate?: boolean;
}

/** Accumulated kernel statistics (PACKET_STATISTICS resets on each read; these do not). */
export interface CaptureStats {
  /** Frames the kernel delivered to the ring. */
  received: number;
  /** Frames the kernel dropped because the ring was full. */
  drops: number;
  /** Times the ring was frozen because the reader was behind. */
  freezes: number;
  /**
   * Frames the capture's interfaces dropped themselves since it opened, before any socket saw
   * them: the sum of rx_dropped, rx_missed_errors and rx_fifo_errors of each interface (every
   * interface of the namespace for "any"), read in the capture's namespace. tcpdump prints it
   * as "N packets dropped by interface".
   */
  interfaceDrops: number;
}

/**
 * What a capture reads: one interface by name; `"any"`, every interface of the namespace (as
 * `tcpdump -i any`: frames are cooked, each starting with a LINUX_SLL2 header that names its
 * interface and packet type); or several names, read through one socket in the order the kernel
 * received them (each packet's `ifindex` and `interfaceName` say which; all must share a link
 * type). At most {@link MAX_INTERFACES}.
 */
export type CaptureInterfaces = string | readonly string[];

/** The most interfaces one capture may name. */
export const MAX_INTERFACES: number = CONSTANTS.interfaces_max;

/** What the kernel and the library settled on when the capture opened. */
export interface CaptureInfo {
  /** The interface's name; for several, their names joined by commas. */
  interface: string;
  /** Every interface named, in order (`["any"]` for an any capture). */
  interfaces: readonly string[];
  /** The first interface's index (0 for "any"). */
  ifindex: number;
  /** The index of each of `interfaces` (empty for "any"). */
  ifindexes: readonly number[];
  /** ARPHRD_* link type of the interface (1 = Ethernet, 772 = loopback; 0xffff for "any"). */
  arpType: number;
  /** The pcap LINKTYPE of the frames in the ring: 276 (LINUX_SLL2) for "any", else by `arpType`. */
  linkType: number;
  mtu: number;
  mac: string;
  blockSize: number;
  blockCount: number;
  frameSize: number;
  blockTimeoutMs: number;
  snaplen: number;
  /** The bytes `Capture.bytes` maps: the ring, or in immediate mode the one block the library fills. */
  ringBytes: number;
  /** The fanout group joined (the kernel's choice when it picked one), or -1. */
  fanoutGroupId: number;
  /** Whether frames are handed over as they arrive (`CaptureOptions.immediate`). */
  immediate: boolean;
}

/** The ring a capture gets when `ring` leaves a field out (64 MiB: 64 blocks of 1 MiB). */
export const DEFAULT_RING: Readonly<Required<RingOptions>> = Object.freeze({
  blockSize: 1 << 20,
  blockCount: 64,
  frameSize: 2048,
  blockTimeoutMs: 10,
  allowLarge: false,
});

/**
 * The fanout mode named `mode` ("hash" when undefined); any other name is a RingcapError
 * "fanout_invalid" that lists the modes. The pool, the CLI and the capture all check with this.
 */
export function fanoutMode(mode: unknown): FanoutMode {
  const m = mode ?? "hash";
  if (typeof m !== "string" || !Object.hasOwn(FANOUT_MODES, m)) {
    throw new RingcapError("fanout_invalid", `unknown fanout mode ${JSON.stringify(mode)}: use one of ${Object.keys(FANOUT_MODES).join(", ")}`);
  }
  return m as FanoutMode;
}

/** A fanout group id: an integer from 0 to 65535 (a RingcapError "fanout_invalid" otherwise). */
export function fanoutGroupId(id: unknown): number {
  return intOption(id, "fanout groupId", { min: 0, max: 0xffff, code: "fanout_invalid" });
}

/**
 * Opens a capture on `iface`.
 *
 * @example
 * ```ts
 * using cap = openCapture("eth0", { filter: "udp", snaplen: 128 });
 * const block = cap.nextBlock(1000);
 * if (block) for (const p of block) console.log(p.length);
 * ```
 */
export function openCapture(iface: CaptureInterfaces, options: CaptureOptions = {}): Capture {
  return new Capture(iface, options);
}

/**
 * A TPACKET_V3 capture. Read it block by block: `blocks()` (async, never blocks the event
 * loop) or `nextBlock(timeoutMs)` (synchronous, for workers and scripts); walk a block with
 * `for (const p of block)` (readable) or `block.cursor()` (fastest). `dispatch(fn, { max })`
 * hands out packets one at a time across blocks, as libpcap's pcap_dispatch does.
 * Only one block is held at a time; asking for the next releases the previous one.
 */
export class Capture {
  readonly info: CaptureInfo;
  /** The whole ring as bytes: frames are at `PacketView.offset` / `FrameCursor.offset`. */
  readonly bytes: Uint8Array;
  /** The whole ring as a DataView, for reading frame fields at those offsets. */
  readonly view: DataView;
  #ring: RingOwner;
  #lib: Native;
  #handle: number;
  #held: Block | null = null;
  #blockOut = new Uint8Array(BLOCK_INFO.size);
  #blockOutView = new DataView(this.#blockOut.buffer);
  #statsOut = new Uint8Array(CAPTURE_STATS.size);
  #pending: { block: Block; next: number } | null = null;
  #woken = false;
  #iterating = false;

  constructor(iface: CaptureInterfaces, options: CaptureOptions = {}) {
    const config = encodeCaptureConfig(iface, options);
    this.#lib = native();
    const out = new Uint8Array(CAPTURE_INFO.size);
    const { filter, fanoutProgram } = config;
    const status = this.#lib.capture_open(
      config.bytes,
      filter ? filter.instructions : null,
      filter ? filter.length : 0,
      fanoutProgram ? fanoutProgram.instructions : null,
      fanoutProgram ? fanoutProgram.length : 0,
      out,
    );
    const info = new DataView(out.buffer);
    if (status < 0) throw openError(config.names.join(","), options, config, status, info);
    this.#handle = info.getUint32(CAPTURE_INFO.handle, true);
    const ringBytes = Number(info.getBigUint64(CAPTURE_INFO.ring_size_bytes, true));
    const buffer = this.#lib.mapMemory(info.getBigUint64(CAPTURE_INFO.ring_address, true), ringBytes);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.#ring = {
      bytes: this.bytes,
      view: this.view,
      words: new Uint32Array(buffer),
      generation: 0,
      closed: false,
      releaseHeld: (block) => this.#release(block),
      interfaceName: (ifindex) => this.interfaceName(ifindex),
    };
    this.info = decodeInfo(config, out, ringBytes, options.fanout !== undefined, options.immediate === true);
    this.#ring.linkType = this.info.linkType;
    this.info.ifindexes.forEach((index, i) => this.#names.set(index, this.info.interfaces[i]));
  }

  /** Interface names by index: the ones the capture named, and those an "any" capture met. */
  #names = new Map<number, string>();

  /**
   * The name of interface `ifindex` in the capture's namespace ("" when it has none now): for
   * "any", asked of the kernel the first time an index is seen, then kept. What a packet's
   * `interfaceName` says.
   */
  interfaceName(ifindex: number): string {
    const known = this.#names.get(ifindex);
    if (known !== undefined || this.info.ifindexes.length > 0 || this.#ring.closed) return known ?? "";
    const buf = new Uint8Array(CONSTANTS.ifname_size);
    const n = this.#lib.capture_interface_name(this.#handle, ifindex | 0, buf, buf.length);
    if (n < 0) return "";
    const name = new TextDecoder().decode(buf.subarray(0, n));
    this.#names.set(ifindex, name);
    return name;
  }

  get closed(): boolean {
    return this.#ring.closed;
  }

  /**
   * The native handle (a number valid in every thread of the process). A fanout pool uses it
   * to close the capture of a worker that died without closing it.
   */
  get handle(): number {
    return this.#handle;
  }

  /** True when the last `nextBlock` returned null because the wake fd fired (not a timeout). */
  get woken(): boolean {
    return this.#woken;
  }

  #ensureOpen(): void {
    if (this.#ring.closed) throw new ClosedError("capture");
  }

  #release(block: Block): void {
    if (this.#held !== block) return;
    this.#held = null;
    this.#pending = null;
    this.#ring.generation++;
    const status = this.#lib.capture_release_block(this.#handle);
    if (status < 0) throw statusError(status, "cannot release block", this.#lib.capture_errno(this.#handle));
  }

  /**
   * Waits up to `timeoutMs` (negative: until a block or a wake-up) for the next block and
   * holds it. Releases the block held before. Returns null on timeout or wake-up.
   * Blocks the calling thread while it waits: use it in workers, or with timeout 0.
   */
  nextBlock(timeoutMs = -1): Block | null {
    this.#ensureOpen();
    this.#held?.release();
    const r = this.#lib.capture_next_block(this.#handle, timeoutMs | 0, this.#blockOut);
    this.#woken = r === STATUS.woken;
    if (r < 0) {
      if (r === STATUS.timed_out || r === STATUS.woken) return null;
      throw statusError(r, `capture on ${this.info.interface} failed`, this.#lib.capture_errno(this.#handle));
    }
    const o = this.#blockOutView;
    const block = new Block(
      this.#ring,
      r,
      o.getUint32(BLOCK_INFO.offset_bytes, true),
      o.getUint32(BLOCK_INFO.packet_count, true),
      o.getBigUint64(BLOCK_INFO.sequence, true),
    );
    this.#held = block;
    return block;
  }

  /**
   * Yields blocks as the kernel hands them over, without ever blocking the event loop and
   * without timers: when no block is ready, a native thread waits on the ring (epoll) and wakes
   * the event loop through a pipe the moment one is, so a quiet capture costs no CPU. The
   * previous block is released when the loop asks for the next one. Ends when the capture is
   * closed (at once, even while waiting) or `signal` aborts; throws RingcapError
   * "network_down" once the interface went down or away and every block it had was yielded.
   * One loop at a time per capture.
   *
   * @example
   * ```ts
   * for await (const block of cap.blocks({ signal: AbortSignal.timeout(5000) })) {
   *   for (const p of block) count++;
   * }
   * ```
   */
  async *blocks(options: { signal?: AbortSignal } = {}): AsyncGenerator<Block, void, undefined> {
    this.#ensureOpen();
    if (this.#iterating) throw new RingcapError("invalid_argument", "blocks(): this capture is already being iterated (one loop at a time)");
    this.#iterating = true;
    const { signal } = options;
    let watch: { fd: number; reader: PipeReader } | null = null;
    try {
      while (!this.#ring.closed && !signal?.aborted) {
        const block = this.nextBlock(0);
        if (block) {
          yield block;
          continue;
        }
        watch ??= await this.#watch();
        if (!watch || !this.#arm()) continue;
        if (!(await waitOrAbort(watch.reader, signal))) break;
      }
    } finally {
      this.#iterating = false;
      if (!this.#ring.closed) this.#held?.release();
      if (watch) await this.#unwatch(watch);
    }
  }

  /** Starts the ring's watcher thread and reads its pipe (null if the capture closed meanwhile). */
  async #watch(): Promise<{ fd: number; reader: PipeReader } | null> {
    const out = new Int32Array(1);
    const status = this.#lib.capture_watch(this.#handle, out);
    if (status < 0) throw statusError(status, `capture on ${this.info.interface}: cannot start its watcher`, this.#lib.capture_errno(this.#handle));
    const fd = out[0];
    try {
      const reader = await readPipe(fd);
      if (!this.#ring.closed) return { fd, reader };
      await reader.close();
    } catch (e) {
      this.#lib.capture_unwatch(this.#handle);
      this.#lib.watch_close_reader(fd);
      throw e;
    }
    this.#lib.watch_close_reader(fd);
    return null;
  }

  /** True when the watcher is armed (a byte will come); false when a block is ready now. */
  #arm(): boolean {
    const r = this.#lib.capture_arm(this.#handle);
    if (r < 0) throw statusError(r, `capture on ${this.info.interface} failed`, this.#lib.capture_errno(this.#handle));
    return r === 0;
  }

  async #unwatch(watch: { fd: number; reader: PipeReader }): Promise<void> {
    // The thread stops first (the reader then sees end-of-file); the read end is closed only
    // once the runtime no longer reads it.
    if (!this.#ring.closed) this.#lib.capture_unwatch(this.#handle);
    await watch.reader.close();
    this.#lib.watch_close_reader(watch.fd);
  }

  /**
   * Calls `fn` for each packet that is ready, up to `max` packets, waiting at most
   * `timeoutMs` for the first block (0: do not wait). Returns the number of packets seen.
   * A block cut short by `max` is resumed by the next call. A callback that closes the
   * capture (or takes blocks itself with `nextBlock`) ends the dispatch: it returns the
   * packets seen so far.
   */
  dispatch(fn: (packet: PacketView) => unknown, options: { max?: number; timeoutMs?: number } = {}): number {
    this.#ensureOpen();
    const max = options.max ?? Infinity;
    let seen = 0;
    let wait = options.timeoutMs ?? 0;
    while (seen < max) {
      if (!this.#pending) {
        const block = this.nextBlock(wait);
        if (!block) break;
        this.#pending = { block, next: 0 };
      }
      wait = 0;
      const pending = this.#pending;
      let index = 0;
      for (const p of pending.block) {
        if (index++ < pending.next) continue;
        if (seen >= max) break;
        fn(p);
        seen++;
        pending.next = index;
        // The callback closed the capture or released the block: nothing here is ours to read.
        if (this.#pending !== pending) return seen;
      }
      if (pending.next >= pending.block.packetCount) {
        this.#pending = null;
        pending.block.release();
      }
    }
    return seen;
  }

  /** Kernel statistics accumulated since the capture opened. */
  stats(): CaptureStats {
    this.#ensureOpen();
    const status = this.#lib.capture_stats(this.#handle, this.#statsOut);
    if (status < 0) throw statusError(status, "cannot read capture statistics", this.#lib.capture_errno(this.#handle));
    const dv = new DataView(this.#statsOut.buffer);
    const packets = Number(dv.getBigUint64(CAPTURE_STATS.packets, true));
    const drops = Number(dv.getBigUint64(CAPTURE_STATS.drops, true));
    return {
      received: packets - drops,
      drops,
      freezes: Number(dv.getBigUint64(CAPTURE_STATS.freezes, true)),
      interfaceDrops: Number(dv.getBigUint64(CAPTURE_STATS.interface_drops, true)),
    };
  }

  /** Closes the socket and unmaps the ring. Idempotent; every view and block stops working. */
  close(): void {
    if (this.#ring.closed) return;
    this.#ring.closed = true;
    this.#held = null;
    this.#pending = null;
    this.#ring.generation++;
    // Detach the ring's ArrayBuffer before unmapping it: every view over it (ours and any the
    // caller kept, such as `capture.view`) then throws on access instead of touching memory
    // that is no longer mapped.
    (this.bytes.buffer as ArrayBuffer & { transfer(n: number): ArrayBuffer }).transfer(0);
    this.#lib.capture_close(this.#handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Throws RingcapError "interface_name_invalid" unless `iface` is 1 to 15 characters (IFNAMSIZ). */
export function checkInterfaceName(iface: unknown): void {
  if (typeof iface !== "string" || iface.length === 0 || iface.length >= CONSTANTS.ifname_size) {
    throw new RingcapError("interface_name_invalid", `interface name must be 1 to 15 characters, got ${JSON.stringify(iface)}`);
  }
}

/**
 * Closes a capture by its native handle, from any thread: how a fanout pool closes the capture
 * of a worker that ended without closing it (its thread is gone, so nothing reads the ring).
 */
export function closeCaptureHandle(handle: number): void {
  native().capture_close(handle);
}

/** The bytes of a CaptureConfig, with the programs that go beside it. */
interface EncodedConfig {
  names: readonly string[];
  cooked: boolean;
  bytes: Uint8Array;
  filter: BpfProgram | null;
  fanoutProgram: BpfProgram | null;
  snaplen: number;
}

/**
 * The timestamp types interface `iface` offers (in `options.netns`), as tcpdump's `-J` lists
 * them: "host" always; "adapter" and "adapter_unsynced" when its NIC can stamp every received
 * packet with its own clock (ETHTOOL_GET_TS_INFO). Needs no capability but entering a namespace.
 *
 * @example
 * ```ts
 * if (timestampTypes("eth0").includes("adapter_unsynced")) openCapture("eth0", { timestampType: "adapter_unsynced" });
 * ```
 */
export function timestampTypes(iface: string, options: { netns?: string } = {}): TimestampType[] {
  const bytes = new Uint8Array(CAPTURE_CONFIG.size);
  encodeFixedString(bytes, CAPTURE_CONFIG.ifname, CONSTANTS.ifname_size, captureInterfaces(iface)[0], "interface name");
  if (options.netns) encodeFixedString(bytes, CAPTURE_CONFIG.netns_path, CONSTANTS.netns_path_size, netnsPath(options.netns), "netns path");
  const bits = native().timestamp_types(bytes);
  if (bits < 0) {
    const err = statusError(bits, `cannot list the timestamp types of ${iface}${options.netns ? ` in netns ${options.netns}` : ""}`);
    if (err.code !== "no_such_interface") throw err;
    const names = interfaceNames(options.netns);
    throw new InterfaceError(err.code, `${err.message}; interfaces here: ${names.join(", ") || "(none found)"}`, names);
  }
  return TIMESTAMP_TYPES.filter((t) => (bits & (1 << TIMESTAMP_TYPE_VALUES[t])) !== 0);
}

function timestampTypeValue(type: TimestampType | undefined): number {
  if (type === undefined) return TIMESTAMP_TYPE_VALUES.host;
  if (Object.hasOwn(TIMESTAMP_TYPE_VALUES, type)) return TIMESTAMP_TYPE_VALUES[type];
  throw new RingcapError("invalid_argument", `unknown timestampType ${JSON.stringify(type)}: use one of ${TIMESTAMP_TYPES.join(", ")}`);
}

/** Checks every option once and fills the CaptureConfig struct the library reads. */
function encodeCaptureConfig(iface: CaptureInterfaces, options: CaptureOptions): EncodedConfig {
  const names = captureInterfaces(iface);
  const cooked = names[0] === "any";
  const ring = options.ring ?? {};
  const bytes = new Uint8Array(CAPTURE_CONFIG.size);
  const dv = new DataView(bytes.buffer);
  encodeFixedString(bytes, CAPTURE_CONFIG.ifname, CONSTANTS.ifname_size, names[0], "interface name");
  names.slice(1).forEach((name, i) => {
    encodeFixedString(bytes, CAPTURE_CONFIG.more_ifnames + i * CONSTANTS.ifname_size, CONSTANTS.ifname_size, name, "interface name");
  });
  if (options.netns) {
    encodeFixedString(bytes, CAPTURE_CONFIG.netns_path, CONSTANTS.netns_path_size, netnsPath(options.netns), "netns path");
  }
  dv.setUint32(CAPTURE_CONFIG.block_size_bytes, intOption(ring.blockSize, "ring.blockSize", U32, DEFAULT_RING.blockSize), true);
  dv.setUint32(CAPTURE_CONFIG.block_count, intOption(ring.blockCount, "ring.blockCount", U32, DEFAULT_RING.blockCount), true);
  dv.setUint32(CAPTURE_CONFIG.frame_size_bytes, intOption(ring.frameSize, "ring.frameSize", U32, DEFAULT_RING.frameSize), true);
  const timeout = intOption(ring.blockTimeoutMs, "ring.blockTimeoutMs", U32, DEFAULT_RING.blockTimeoutMs);
  dv.setUint32(CAPTURE_CONFIG.block_timeout_ms, timeout, true);
  const snaplen = intOption(options.snaplen, "snaplen", U32, 0);
  dv.setUint32(CAPTURE_CONFIG.snaplen_bytes, snaplen, true);
  let flags = 0;
  if (options.promisc) flags |= FLAGS.capture.promisc;
  const direction = checkDirection(options.direction);
  if (direction === "out" && options.ignoreOutgoing) {
    throw new RingcapError("invalid_argument", 'direction "out" keeps only the frames ignoreOutgoing leaves out: use one of them');
  }
  if (options.ignoreOutgoing || direction === "in") flags |= FLAGS.capture.ignore_outgoing;
  if (options.rxHash ?? true) flags |= FLAGS.capture.fill_rxhash;
  if (options.allowDown) flags |= FLAGS.capture.allow_down;
  if (ring.allowLarge !== undefined && typeof ring.allowLarge !== "boolean") {
    throw new RingcapError("invalid_argument", `ring.allowLarge must be true or false, got ${JSON.stringify(ring.allowLarge)}`);
  }
  if (ring.allowLarge) flags |= FLAGS.capture.allow_large_ring;
  if (options.immediate !== undefined && typeof options.immediate !== "boolean") {
    throw new RingcapError("invalid_argument", `immediate must be true or false, got ${JSON.stringify(options.immediate)}`);
  }
  if (options.immediate) flags |= FLAGS.capture.immediate;
  let fanoutProgram: BpfProgram | null = null;
  let ebpfFd = -1;
  if (options.fanout) {
    flags |= FLAGS.capture.fanout;
    const f = encodeFanout(options.fanout);
    dv.setUint32(CAPTURE_CONFIG.fanout_group_id, f.groupId, true);
    dv.setUint32(CAPTURE_CONFIG.fanout_mode, f.mode, true);
    dv.setUint32(CAPTURE_CONFIG.fanout_flags, f.flags, true);
    fanoutProgram = options.fanout.program === undefined ? null : checkBpfProgram(options.fanout.program, "fanout program");
    ebpfFd = options.fanout.ebpfFd ?? -1;
  }
  dv.setUint32(CAPTURE_CONFIG.flags, flags, true);
  dv.setInt32(CAPTURE_CONFIG.fanout_ebpf_fd, ebpfFd, true);
  dv.setInt32(CAPTURE_CONFIG.wake_fd, options.wakeFd ?? -1, true);
  dv.setUint32(CAPTURE_CONFIG.timestamp_type, timestampTypeValue(options.timestampType), true);
  // A string is compiled as libpcap judges a saved file (asOnWire): stripped VLAN tags count.
  // An any capture's is compiled for its LINUX_SLL2 frames, then moved to the cooked socket.
  const given = typeof options.filter === "string"
    ? compileFilter(options.filter, cooked ? { snaplen: snaplenOrMax(snaplen), linkType: LINKTYPE.LINUX_SLL2 } : { snaplen: snaplenOrMax(snaplen), asOnWire: true })
    : options.filter === undefined || options.filter === null
    ? null
    : checkBpfProgram(options.filter, "filter");
  const compiled = cooked && given ? forCookedSocket(given) : given;
  const filter = direction === "out" ? onlyOutgoing(compiled, snaplenOrMax(snaplen)) : compiled;
  return { names, cooked, bytes, filter, fanoutProgram, snaplen };
}

/**
 * The names `iface` stands for, checked: 1 to {@link MAX_INTERFACES} valid names, none twice,
 * "any" only alone (a RingcapError "interface_name_invalid" otherwise).
 */
export function captureInterfaces(iface: unknown): readonly string[] {
  const names = typeof iface === "string" ? [iface] : Array.isArray(iface) ? [...iface] : null;
  if (names === null || names.length === 0 || names.length > MAX_INTERFACES) {
    throw new RingcapError(
      "interface_name_invalid",
      `a capture names one interface, "any", or a list of 1 to ${MAX_INTERFACES} interfaces, got ${Array.isArray(iface) ? `${iface.length} names` : JSON.stringify(iface)}`,
    );
  }
  names.forEach(checkInterfaceName);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new RingcapError("interface_name_invalid", `interface ${twice} is named twice`);
  if (names.length > 1 && names.includes("any")) {
    throw new RingcapError("interface_name_invalid", `"any" already captures every interface: name it alone, not with ${names.filter((n) => n !== "any").join(", ")}`);
  }
  return Object.freeze(names);
}

/** Throws RingcapError "invalid_argument" unless `direction` is "in", "out", "inout" or undefined. */
export function checkDirection(direction: unknown): Direction {
  if (direction === undefined) return "inout";
  if (direction === "in" || direction === "out" || direction === "inout") return direction;
  throw new RingcapError("invalid_argument", `direction must be "in", "out" or "inout", got ${JSON.stringify(direction)}`);
}

/** The group id, mode number and PACKET_FANOUT flag bits of `f`. */
function encodeFanout(f: FanoutOptions): { groupId: number; mode: number; flags: number } {
  const mode = FANOUT_MODES[fanoutMode(f.mode)];
  const unique = f.groupId === undefined || f.uniqueId === true;
  const groupId = f.groupId === undefined ? 0 : fanoutGroupId(f.groupId);
  let flags = 0;
  if (f.rollover) flags |= FLAGS.fanout.rollover;
  if (unique) flags |= FLAGS.fanout.unique_id;
  if (f.ignoreOutgoing) flags |= FLAGS.fanout.ignore_outgoing;
  if (f.defrag) flags |= FLAGS.fanout.defrag;
  return { groupId: unique ? 0 : groupId, mode, flags };
}

/**
 * The error of a failed open, with what the library reported: the interfaces there when the
 * name is unknown, the memory figures for a ring too large, the optmem limit for a filter.
 */
function openError(iface: string, options: CaptureOptions, config: EncodedConfig, status: number, info: DataView): RingcapError {
  const netns = options.netns;
  const errno = info.getInt32(CAPTURE_INFO.errno, true);
  const err = statusError(status, `cannot capture on ${iface}${netns ? ` in netns ${netns}` : ""}`, errno);
  const u64 = (at: number) => Number(info.getBigUint64(at, true));
  switch (err.code) {
    case "not_supported":
      if (config.names.length > 1) {
        return new RingcapError(
          err.code,
          `cannot capture on ${iface} together: their frames have different link types (one file, one link type); capture them separately, or use "any" (cooked frames)`,
          { errno },
        );
      }
      break;
    case "timestamp_type_not_supported":
      // tcpdump's own words (libpcap's PCAP_WARNING_TSTAMP_TYPE_NOTSUP), but an error here: a
      // capture asked for the NIC's clock never gets the host's without saying so.
      return new RingcapError(
        err.code,
        `When trying to set timestamp type '${options.timestampType}' on ${iface}: That type of time stamp is not supported by that device` +
          `${netns ? ` (netns ${netns})` : ""}: ${iface === "any" ? '"any" names no device to stamp; ' : ""}` +
          `capture with timestamp type "host" (tcpdump -j host), or on an interface with a hardware clock (\`ethtool -T ${iface}\`)`,
        { errno },
      );
    case "no_such_interface": {
      const names = interfaceNames(netns);
      return new InterfaceError(err.code, `${err.message}; interfaces here: ${names.join(", ") || "(none found)"}`, names, errno);
    }
    case "ring_exceeds_memory": {
      const ring = u64(CAPTURE_INFO.ring_size_bytes);
      const available = u64(CAPTURE_INFO.mem_available_bytes);
      const limit = u64(CAPTURE_INFO.ring_limit_bytes);
      const what = `cannot capture on ${iface}: a ring of ${bytes(ring)} is more than the limit of ${bytes(limit)}`;
      const advice = "use fewer or smaller blocks (ring.blockCount, ring.blockSize)";
      return new RingcapError(
        err.code,
        options.ring?.allowLarge
          ? `${what}, all of the memory available now (MemAvailable ${bytes(available)}), the most even ring.allowLarge allows: ${advice}`
          : `${what}, half of the memory available now (MemAvailable ${bytes(available)}): ${advice}, ` +
            "or pass ring.allowLarge: true to allow up to all of it",
      );
    }
    case "filter_too_large": {
      const optmem = info.getUint32(CAPTURE_INFO.optmem_max_bytes, true);
      const n = config.filter?.length ?? 0;
      return new RingcapError(
        err.code,
        `cannot capture on ${iface}: the kernel could not attach a filter of ${n} instructions (${n * 8} bytes of classic BPF, ` +
          `more once the kernel translates it): it is charged to the socket's option memory, limited by ` +
          `net.core.optmem_max${optmem ? ` (${optmem} bytes${netns ? ` in netns ${netns}` : ""})` : ""}: raise it ` +
          `(\`sysctl -w net.core.optmem_max=${Math.max(2 * optmem, 262144)}\`${netns ? " inside the namespace" : ""}) or use a shorter filter`,
        { errno },
      );
    }
  }
  return err;
}

/** "20971520000 bytes (19.5 GiB)". */
function bytes(n: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = "";
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return unit ? `${n} bytes (${value.toFixed(1)} ${unit})` : `${n} bytes`;
}

/** The CaptureInfo the library filled in. */
function decodeInfo(config: EncodedConfig, out: Uint8Array, ringBytes: number, fanout: boolean, immediate: boolean): CaptureInfo {
  const info = new DataView(out.buffer);
  const mac = Array.from(out.subarray(CAPTURE_INFO.mac, CAPTURE_INFO.mac + 6), (b) => b.toString(16).padStart(2, "0"));
  const count = info.getUint32(CAPTURE_INFO.interface_count, true);
  const ifindexes = [info.getInt32(CAPTURE_INFO.ifindex, true)];
  for (let i = 1; i < count; i++) ifindexes.push(info.getInt32(CAPTURE_INFO.more_ifindexes + (i - 1) * 4, true));
  const arpType = info.getUint32(CAPTURE_INFO.link_type, true);
  const snaplen = config.snaplen;
  return Object.freeze({
    interface: config.names.join(","),
    interfaces: config.names,
    ifindex: ifindexes[0],
    ifindexes: Object.freeze(count === 0 ? [] : ifindexes),
    arpType,
    linkType: config.cooked ? LINKTYPE.LINUX_SLL2 : linkTypeFor(arpType),
    mtu: info.getUint32(CAPTURE_INFO.mtu, true),
    mac: mac.join(":"),
    blockSize: info.getUint32(CAPTURE_INFO.block_size_bytes, true),
    blockCount: info.getUint32(CAPTURE_INFO.block_count, true),
    frameSize: info.getUint32(CAPTURE_INFO.frame_size_bytes, true),
    blockTimeoutMs: info.getUint32(CAPTURE_INFO.block_timeout_ms, true),
    snaplen,
    ringBytes,
    fanoutGroupId: fanout ? info.getUint32(CAPTURE_INFO.fanout_group_id, true) : -1,
    immediate,
  });
}

/** Resolves true when the watcher's byte arrives, false at its end-of-file or when `signal` aborts. */
function waitOrAbort(reader: PipeReader, signal?: AbortSignal): Promise<boolean> {
  if (!signal) return reader.wait();
  return new Promise((resolve, reject) => {
    const done = (value: boolean) => {
      signal.removeEventListener("abort", abort);
      resolve(value);
    };
    const abort = () => done(false);
    signal.addEventListener("abort", abort, { once: true });
    reader.wait().then(done, (e) => {
      signal.removeEventListener("abort", abort);
      reject(e);
    });
  });
}

/**
 * A wake-up handle shared by threads: signal it and every capture opened with its `fd` as
 * `wakeFd` returns from a blocking wait at once. It stays signalled until `reset()`.
 */
export class Waker {
  readonly fd: number;
  #lib: Native;
  #closed = false;

  constructor() {
    this.#lib = native();
    const out = new Int32Array(1);
    const status = this.#lib.waker_open(out);
    if (status < 0) throw statusError(status, "cannot create waker");
    this.fd = out[0];
  }

  signal(): void {
    if (this.#closed) throw new ClosedError("waker");
    this.#lib.waker_signal(this.fd);
  }

  reset(): void {
    if (this.#closed) throw new ClosedError("waker");
    this.#lib.waker_reset(this.fd);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.waker_close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A capture: one AF_PACKET socket with a TPACKET_V3 ring mapped into one ArrayBuffer.
 * @module
 */

import { ClosedError, InterfaceError, RingcapError, statusError } from "./errors.ts";
import { native, type Native } from "./native/library.ts";
import { BLOCK_INFO, CAPTURE_CONFIG, CAPTURE_FLAG, CAPTURE_INFO, CAPTURE_STATS } from "./native/layout.ts";
import { Block, type PacketView, type RingOwner } from "./packet.ts";
import { encodeFixedString, interfaceNames, netnsPath } from "./native/util.ts";
import { type BpfProgram, compileFilter } from "./bpf/filter.ts";

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
}

/** PACKET_FANOUT modes. */
export type FanoutMode = "hash" | "lb" | "cpu" | "rollover" | "rnd" | "qm" | "cbpf" | "ebpf";

export const FANOUT_MODES: Readonly<Record<FanoutMode, number>> = {
  hash: 0,
  lb: 1,
  cpu: 2,
  rollover: 3,
  rnd: 4,
  qm: 5,
  cbpf: 6,
  ebpf: 7,
};

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
  /** Ask the kernel to fill each packet's rx hash. @default true */
  rxHash?: boolean;
  /** Open the socket inside this network namespace (a name from `ip netns` or a path). */
  netns?: string;
  /** Open even if the interface is down. @default false */
  allowDown?: boolean;
  /** An eventfd (see `Waker`) whose signal ends a blocking wait. @internal for pools */
  wakeFd?: number;
}

/** Accumulated kernel statistics (PACKET_STATISTICS resets on each read; these do not). */
export interface CaptureStats {
  /** Frames the kernel delivered to the ring. */
  received: number;
  /** Frames the kernel dropped because the ring was full. */
  drops: number;
  /** Times the ring was frozen because the reader was behind. */
  freezes: number;
}

/** What the kernel and the library settled on when the capture opened. */
export interface CaptureInfo {
  interface: string;
  ifindex: number;
  /** ARPHRD_* link type of the interface (1 = Ethernet, 772 = loopback). */
  arpType: number;
  mtu: number;
  mac: string;
  blockSize: number;
  blockCount: number;
  frameSize: number;
  blockTimeoutMs: number;
  snaplen: number;
  ringBytes: number;
  /** The fanout group joined (the kernel's choice when it picked one), or -1. */
  fanoutGroupId: number;
}

/** The ring a capture gets when `ring` leaves a field out (64 MiB: 64 blocks of 1 MiB). */
export const DEFAULT_RING: Readonly<Required<RingOptions>> = Object.freeze({
  blockSize: 1 << 20,
  blockCount: 64,
  frameSize: 2048,
  blockTimeoutMs: 10,
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
export function openCapture(iface: string, options: CaptureOptions = {}): Capture {
  return new Capture(iface, options);
}

/**
 * A TPACKET_V3 capture. Read it block by block: `blocks()` (async, never blocks the event
 * loop), `nextBlock(timeoutMs)` (synchronous, for workers and scripts), or `dispatch(fn)`.
 * Only one block is held at a time; asking for the next releases the previous one.
 */
export class Capture implements RingOwner {
  readonly info: CaptureInfo;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly words: Uint32Array;
  generation = 0;
  #lib: Native;
  #handle: number;
  #closed = false;
  #held: Block | null = null;
  #blockOut = new Uint8Array(BLOCK_INFO.size);
  #blockOutView = new DataView(this.#blockOut.buffer);
  #statsOut = new Uint8Array(CAPTURE_STATS.size);
  #cursor: { block: Block; next: number } | null = null;
  /** True when the last `nextBlock` returned null because the wake fd fired (not a timeout). */
  woken = false;

  constructor(iface: string, options: CaptureOptions = {}) {
    if (typeof iface !== "string" || iface.length === 0 || iface.length > 15) {
      throw new RingcapError("interface_name_invalid", `interface name must be 1 to 15 characters, got ${JSON.stringify(iface)}`);
    }
    const ring = { ...DEFAULT_RING, ...options.ring };
    const cfg = new Uint8Array(CAPTURE_CONFIG.size);
    const dv = new DataView(cfg.buffer);
    encodeFixedString(cfg, CAPTURE_CONFIG.ifname, 16, iface, "interface name");
    if (options.netns) encodeFixedString(cfg, CAPTURE_CONFIG.netns_path, 108, netnsPath(options.netns), "netns path");
    dv.setUint32(CAPTURE_CONFIG.block_size_bytes, u32Option(ring.blockSize, DEFAULT_RING.blockSize, "ring.blockSize"), true);
    dv.setUint32(CAPTURE_CONFIG.block_count, u32Option(ring.blockCount, DEFAULT_RING.blockCount, "ring.blockCount"), true);
    dv.setUint32(CAPTURE_CONFIG.frame_size_bytes, u32Option(ring.frameSize, DEFAULT_RING.frameSize, "ring.frameSize"), true);
    dv.setUint32(CAPTURE_CONFIG.block_timeout_ms, u32Option(ring.blockTimeoutMs, DEFAULT_RING.blockTimeoutMs, "ring.blockTimeoutMs"), true);
    const snaplen = u32Option(options.snaplen, 0, "snaplen");
    dv.setUint32(CAPTURE_CONFIG.snaplen_bytes, snaplen, true);
    let flags = 0;
    if (options.promisc) flags |= CAPTURE_FLAG.PROMISC;
    if (options.ignoreOutgoing) flags |= CAPTURE_FLAG.IGNORE_OUTGOING;
    if (options.rxHash ?? true) flags |= CAPTURE_FLAG.FILL_RXHASH;
    if (options.allowDown) flags |= CAPTURE_FLAG.ALLOW_DOWN;
    let fanoutProg: BpfProgram | null = null;
    let ebpfFd = -1;
    if (options.fanout) {
      const f = options.fanout;
      const mode = FANOUT_MODES[f.mode ?? "hash"];
      if (mode === undefined) {
        throw new RingcapError("fanout_invalid", `unknown fanout mode ${JSON.stringify(f.mode)}: use one of ${Object.keys(FANOUT_MODES).join(", ")}`);
      }
      const unique = f.groupId === undefined || f.uniqueId === true;
      if (f.groupId !== undefined && (!Number.isInteger(f.groupId) || f.groupId < 0 || f.groupId > 0xffff)) {
        throw new RingcapError("fanout_invalid", `fanout groupId must be an integer from 0 to 65535, got ${f.groupId}`);
      }
      let fflags = 0;
      if (f.rollover) fflags |= 0x1000;
      if (unique) fflags |= 0x2000;
      if (f.ignoreOutgoing) fflags |= 0x4000;
      if (f.defrag) fflags |= 0x8000;
      flags |= CAPTURE_FLAG.FANOUT;
      dv.setUint32(CAPTURE_CONFIG.fanout_group_id, unique ? 0 : f.groupId!, true);
      dv.setUint32(CAPTURE_CONFIG.fanout_mode, mode, true);
      dv.setUint32(CAPTURE_CONFIG.fanout_flags, fflags, true);
      fanoutProg = f.program ?? null;
      ebpfFd = f.ebpfFd ?? -1;
    }
    dv.setUint32(CAPTURE_CONFIG.flags, flags, true);
    dv.setInt32(CAPTURE_CONFIG.fanout_ebpf_fd, ebpfFd, true);
    dv.setInt32(CAPTURE_CONFIG.wake_fd, options.wakeFd ?? -1, true);

    const filter = typeof options.filter === "string" ? compile(options.filter, snaplen) : options.filter ?? null;

    this.#lib = native();
    const out = new Uint8Array(CAPTURE_INFO.size);
    const status = this.#lib.captureOpen(
      cfg,
      filter ? filter.instructions : null,
      filter ? filter.length : 0,
      fanoutProg ? fanoutProg.instructions : null,
      fanoutProg ? fanoutProg.length : 0,
      out,
    );
    const info = new DataView(out.buffer);
    if (status < 0) {
      const errno = info.getInt32(CAPTURE_INFO.errno, true);
      const err = statusError(status, `cannot capture on ${iface}${options.netns ? ` in netns ${options.netns}` : ""}`, errno);
      if (err.code === "no_such_interface") {
        const names = interfaceNames(options.netns);
        throw new InterfaceError(err.code, `${err.message}; interfaces here: ${names.join(", ") || "(none found)"}`, names, errno);
      }
      throw err;
    }
    this.#handle = info.getUint32(CAPTURE_INFO.handle, true);
    const ringBytes = Number(info.getBigUint64(CAPTURE_INFO.ring_size_bytes, true));
    const buffer = this.#lib.mapMemory(info.getBigUint64(CAPTURE_INFO.ring_address, true), ringBytes);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.words = new Uint32Array(buffer);
    const mac = Array.from(out.subarray(CAPTURE_INFO.mac, CAPTURE_INFO.mac + 6), (b) => b.toString(16).padStart(2, "0"));
    this.info = Object.freeze({
      interface: iface,
      ifindex: info.getInt32(CAPTURE_INFO.ifindex, true),
      arpType: info.getUint32(CAPTURE_INFO.link_type, true),
      mtu: info.getUint32(CAPTURE_INFO.mtu, true),
      mac: mac.join(":"),
      blockSize: info.getUint32(CAPTURE_INFO.block_size_bytes, true),
      blockCount: info.getUint32(CAPTURE_INFO.block_count, true),
      frameSize: info.getUint32(CAPTURE_INFO.frame_size_bytes, true),
      blockTimeoutMs: info.getUint32(CAPTURE_INFO.block_timeout_ms, true),
      snaplen,
      ringBytes,
      fanoutGroupId: options.fanout ? info.getUint32(CAPTURE_INFO.fanout_group_id, true) : -1,
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The native handle (a number valid in every thread of the process). @internal A fanout pool
   * uses it to close the capture of a worker that died without closing it.
   */
  get handle(): number {
    return this.#handle;
  }

  #ensureOpen(): void {
    if (this.#closed) throw new ClosedError("capture");
  }

  /** @internal Called by Block.release(). */
  releaseHeld(block: Block): void {
    if (this.#held !== block) return;
    this.#held = null;
    this.#cursor = null;
    this.generation++;
    const status = this.#lib.captureReleaseBlock(this.#handle);
    if (status < 0) throw statusError(status, "cannot release block", this.#lib.captureErrno(this.#handle));
  }

  /**
   * Waits up to `timeoutMs` (negative: until a block or a wake-up) for the next block and
   * holds it. Releases the block held before. Returns null on timeout or wake-up.
   * Blocks the calling thread while it waits: use it in workers, or with timeout 0.
   */
  nextBlock(timeoutMs = -1): Block | null {
    this.#ensureOpen();
    this.#held?.release();
    const r = this.#lib.captureNextBlock(this.#handle, timeoutMs | 0, this.#blockOut);
    this.woken = r === -2;
    if (r < 0) {
      if (r === -1 || r === -2) return null;
      throw statusError(r, `capture on ${this.info.interface} failed`, this.#lib.captureErrno(this.#handle));
    }
    const o = this.#blockOutView;
    const block = new Block(
      this,
      r,
      o.getUint32(BLOCK_INFO.offset_bytes, true),
      o.getUint32(BLOCK_INFO.packet_count, true),
      o.getBigUint64(BLOCK_INFO.sequence, true),
    );
    this.#held = block;
    return block;
  }

  /**
   * Yields blocks as the kernel hands them over, without ever blocking the event loop:
   * when no block is ready it sleeps briefly (up to a few milliseconds) and looks again.
   * The previous block is released when the loop asks for the next one. Ends when the
   * capture is closed or `signal` aborts.
   *
   * @example
   * ```ts
   * for await (const block of cap.blocks({ signal: AbortSignal.timeout(5000) })) {
   *   for (const p of block) count++;
   * }
   * ```
   */
  async *blocks(options: { signal?: AbortSignal; idleMaxMs?: number } = {}): AsyncGenerator<Block, void, undefined> {
    const idleMax = Math.max(1, options.idleMaxMs ?? Math.min(5, Math.max(1, this.info.blockTimeoutMs >> 1)));
    let idle = 0;
    try {
      while (!this.#closed && !options.signal?.aborted) {
        const block = this.nextBlock(0);
        if (block) {
          idle = 0;
          yield block;
          continue;
        }
        idle = Math.min(idle === 0 ? 1 : idle * 2, idleMax);
        await sleep(idle, options.signal);
      }
    } finally {
      if (!this.#closed) this.#held?.release();
    }
  }

  /**
   * Calls `fn` for each packet that is ready, up to `max` packets, waiting at most
   * `timeoutMs` for the first block (0: do not wait). Returns the number of packets seen.
   * A block cut short by `max` is resumed by the next call.
   */
  dispatch(fn: (packet: PacketView) => unknown, options: { max?: number; timeoutMs?: number } = {}): number {
    this.#ensureOpen();
    const max = options.max ?? Infinity;
    let seen = 0;
    let wait = options.timeoutMs ?? 0;
    while (seen < max) {
      if (!this.#cursor) {
        const block = this.nextBlock(wait);
        if (!block) break;
        this.#cursor = { block, next: 0 };
      }
      wait = 0;
      const cursor = this.#cursor;
      cursor.block.forEach((p, i) => {
        if (i < cursor.next) return true;
        if (seen >= max) return false;
        fn(p);
        seen++;
        cursor.next = i + 1;
        return true;
      });
      if (this.#closed) break;
      if (cursor.next >= cursor.block.packetCount) {
        this.#cursor = null;
        cursor.block.release();
      }
    }
    return seen;
  }

  /** Kernel statistics accumulated since the capture opened. */
  stats(): CaptureStats {
    this.#ensureOpen();
    const status = this.#lib.captureStats(this.#handle, this.#statsOut);
    if (status < 0) throw statusError(status, "cannot read capture statistics", this.#lib.captureErrno(this.#handle));
    const dv = new DataView(this.#statsOut.buffer);
    const packets = Number(dv.getBigUint64(CAPTURE_STATS.packets, true));
    const drops = Number(dv.getBigUint64(CAPTURE_STATS.drops, true));
    return { received: packets - drops, drops, freezes: Number(dv.getBigUint64(CAPTURE_STATS.freezes, true)) };
  }

  /**
   * Runs the native reader (libringcap's own loop: per packet it reads the IPv4 source and
   * counts sources) until `maxPackets`, `maxMs`, or a wake-up. For benchmarks.
   */
  nativeLoop(maxPackets: number, maxMs: number): { packets: number; bytes: number; blocks: number; sources: number } {
    this.#ensureOpen();
    this.#held?.release();
    const out = new Uint8Array(40);
    const status = this.#lib.nativeLoop(this.#handle, maxPackets, maxMs, out);
    if (status < 0) throw statusError(status, "native loop failed", this.#lib.captureErrno(this.#handle));
    const dv = new DataView(out.buffer);
    return {
      packets: Number(dv.getBigUint64(0, true)),
      bytes: Number(dv.getBigUint64(8, true)),
      blocks: Number(dv.getBigUint64(16, true)),
      sources: dv.getUint32(24, true),
    };
  }

  /** Closes the socket and unmaps the ring. Idempotent; every view and block stops working. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#held = null;
    this.#cursor = null;
    this.generation++;
    // Detach the ring's ArrayBuffer before unmapping it: every view over it (ours and any the
    // caller kept, such as `capture.view`) then throws on access instead of touching memory
    // that is no longer mapped.
    (this.bytes.buffer as ArrayBuffer & { transfer(n: number): ArrayBuffer }).transfer(0);
    this.#lib.captureClose(this.#handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function compile(expr: string, snaplen: number): BpfProgram {
  // libpcap is loaded by the filter module on its first use, not when ringcap is imported.
  return compileFilter(expr, { snaplen: snaplen || 262144, asOnWire: true });
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
    const status = this.#lib.wakerOpen(out);
    if (status < 0) throw statusError(status, "cannot create waker");
    this.fd = out[0];
  }

  signal(): void {
    if (this.#closed) throw new ClosedError("waker");
    this.#lib.wakerSignal(this.fd);
  }

  reset(): void {
    if (this.#closed) throw new ClosedError("waker");
    this.#lib.wakerReset(this.fd);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.wakerClose(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

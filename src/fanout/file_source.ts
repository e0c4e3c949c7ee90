/**
 * A saved file as the source of a fanout pool (`openFanout({ file: "saved.pcap" }, options)`):
 * the pool's side. {@link FileFeeder} reads the file with `openFile`, sends each packet to one
 * worker by a symmetric hash of its addresses and ports (what PACKET_FANOUT's hash mode does
 * for a flow: both directions of a 5-tuple go to the same worker), and copies it into that
 * worker's shared blocks (file_feed.ts). It waits whenever the next block of a worker is still
 * being read, so memory stays constant and the file is read no faster than the slowest worker.
 * @internal
 * @module
 */

import { BLOCK_DESC, CONSTANTS, SOCKADDR_LL, TP_STATUS } from "../native/abi.ts";
import { FLOW_KEY_WORDS, PacketDecoder } from "../decode.ts";
import { RingcapError } from "../errors.ts";
import { type CaptureFile, openFile } from "../file.ts";
import { intOption, MAX_SNAPLEN, snaplenOrMax } from "../options.ts";
import { DOORBELL, FEED_HEADER, FEED_SLOTS, type FeedInit, PUBLISHED, slotOffset, statusIndex } from "./file_feed.ts";
import type { FanoutPoolOptions } from "./types.ts";

/**
 * A saved capture file as the source of a fanout pool: `openFanout({ file: "saved.pcap" }, options)`.
 *
 * @example
 * ```ts
 * const source: FanoutFileSource = { file: "saved.pcapng", blockBytes: 1 << 20 };
 * ```
 */
export interface FanoutFileSource {
  /** A pcap or pcapng file, or "-" for standard input (as `openFile`). */
  file: string;
  /**
   * Bytes of each block handed to a worker (each worker has 4). At least 262,272, so that a
   * packet of MAX_SNAPLEN fits one. @default 1 MiB
   */
  blockBytes?: number;
}

/** Options that describe a live socket and mean nothing for a file. */
const LIVE_ONLY = [
  "defrag",
  "rollover",
  "uniqueId",
  "groupId",
  "ignoreOutgoing",
  "program",
  "ebpfFd",
  "ring",
  "filter",
  "promisc",
  "netns",
  "rxHash",
  "immediate",
] as const;

const FIRST_PACKET = BLOCK_DESC.size;
/** Where a frame starts in a record, as openFile lays it out. */
const MAC = (CONSTANTS.sockaddr_ll_offset + SOCKADDR_LL.size + 15) & ~15;
const MIN_BLOCK_BYTES = FIRST_PACKET + ((MAC + MAX_SNAPLEN + 15) & ~15);
const DEFAULT_BLOCK_BYTES = 1 << 20;
/** The longest wait for a slot before the stop flag is looked at again (a bound, not a poll). */
const WAIT_SLICE_MS = 1000;
/** ARPHRD_ETHER, and ARPHRD_VOID for link types without an ARPHRD. */
const ARPHRD_ETHER = 1;
const ARPHRD_VOID = 0xffff;

/** True when `source` names a file rather than an interface. */
export function isFileSource(source: unknown): source is FanoutFileSource {
  return typeof source === "object" && source !== null && !Array.isArray(source) && "file" in source;
}

/**
 * Checks a file source and the pool's options for it; throws RingcapError "invalid_argument"
 * for what only a live socket has (a ring, a filter, a namespace, restarts, a mode other than hash).
 */
export function checkFileSource(source: FanoutFileSource, options: Omit<FanoutPoolOptions, "merge">): { path: string; blockBytes: number } {
  if (typeof source.file !== "string" || source.file === "") {
    throw new RingcapError("invalid_argument", "openFanout({ file }): file must be a path (or \"-\" for standard input)");
  }
  const given: string[] = LIVE_ONLY.filter((k) => options?.[k] !== undefined);
  if (options?.mode !== undefined && options.mode !== "hash") given.push("mode");
  if (options?.direction !== undefined && options.direction !== "inout") given.push("direction");
  if (options?.restart) given.push("restart");
  if (given.length > 0) {
    throw new RingcapError(
      "invalid_argument",
      `openFanout({ file }): ${given.join(", ")} only apply to a live interface (a file's packets are spread by flow hash, ` +
        "as mode \"hash\", each exactly once)",
    );
  }
  const blockBytes = intOption(source.blockBytes, "blockBytes", { min: MIN_BLOCK_BYTES, max: 1 << 30 }, DEFAULT_BLOCK_BYTES) & ~15;
  return { path: source.file, blockBytes };
}

/** Mixes `v` into the hash `h` (a multiply-xorshift round). */
function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return h ^ (h >>> 16);
}

/** The feeder's decoder and a flow key to write into: one each, reused for every packet. */
const decoder = new PacketDecoder();
const key = new Uint32Array(FLOW_KEY_WORDS);

/**
 * Which of `workers` gets the frame at `at` in `bytes`/`view` (`caplen` bytes of link type
 * `linkType`), decoded as `PacketDecoder` decodes it (every link type it reads, VLAN tags, IPv6
 * extension headers): a hash of its protocol and its two endpoints (address, and port for
 * TCP, UDP, SCTP and UDP-Lite) that is the same both ways, so a flow's two directions meet in
 * one worker. Fragments hash without ports, so all of a datagram's go where its addresses send
 * them. Frames that are not IP go to worker 0.
 */
export function flowWorker(bytes: Uint8Array, view: DataView, at: number, caplen: number, linkType: number, workers: number): number {
  if (workers === 1) return 0;
  decoder.linkType = linkType;
  const d = decoder.decode(bytes, view, at, caplen);
  if (d.ipVersion === 0) return 0;
  // Words 1-4 of the key are the source address, 5-8 the destination (IPv4 in the first).
  d.writeFlowKey(key, 0);
  let a = 0x2545f491;
  let b = 0x2545f491;
  for (let i = 1; i <= 4; i++) {
    a = mix(a, key[i]);
    b = mix(b, key[i + 4]);
  }
  if (!d.isFragment && d.srcPort >= 0) {
    a = mix(a, d.srcPort);
    b = mix(b, d.dstPort);
  }
  return (mix(a ^ b, d.ipProtocol) >>> 0) % workers;
}

/** One worker's shared memory and where the feeder is in it. */
interface Lane {
  init: FeedInit;
  i32: Int32Array;
  words: Uint32Array;
  view: DataView;
  f64: Float64Array;
  /** The slot being filled. */
  slot: number;
  /** Byte offset of the slot being filled, and where its next record goes. */
  base: number;
  at: number;
  /** Offset of the last record written in the slot (-1: none yet). */
  prev: number;
  count: number;
  /** The slot was free when filling started (the feeder waited for it). */
  ready: boolean;
  sequence: bigint;
  published: number;
}

/**
 * Reads a file for a pool and feeds its workers (see the module comment). `open()` before the
 * workers start, `init(i)` for each, `run()` once they are ready, `stop()` from close().
 */
export class FileFeeder {
  readonly path: string;
  #blockBytes: number;
  #workers: number;
  #snaplen: number;
  #file: CaptureFile | null = null;
  #lanes: Lane[] = [];
  #stopped = false;

  constructor(source: FanoutFileSource, options: Omit<FanoutPoolOptions, "merge">, workers: number) {
    const { path, blockBytes } = checkFileSource(source, options);
    this.path = path;
    this.#blockBytes = blockBytes;
    this.#workers = workers;
    this.#snaplen = snaplenOrMax(intOption(options.snaplen, "snaplen", { min: 0, max: MAX_SNAPLEN }, 0));
  }

  /** Opens the file (its errors reject openFanout before any worker starts) and makes each worker's memory. */
  async open(): Promise<void> {
    const file = await openFile(this.path, { blockBytes: this.#blockBytes });
    this.#file = file;
    const interfaces = file.interfaces.map((i) => i.name ?? "");
    const arpType = file.linkType === 1 ? ARPHRD_ETHER : ARPHRD_VOID;
    for (let w = 0; w < this.#workers; w++) {
      const buffer = new SharedArrayBuffer(FEED_HEADER + FEED_SLOTS * this.#blockBytes);
      const init: FeedInit = {
        buffer,
        slots: FEED_SLOTS,
        slotBytes: this.#blockBytes,
        label: this.path,
        interfaces,
        arpType,
        linkType: file.linkType,
        snaplen: this.#snaplen,
      };
      const base = slotOffset(0, this.#blockBytes);
      this.#lanes.push({
        init,
        i32: new Int32Array(buffer),
        words: new Uint32Array(buffer),
        view: new DataView(buffer),
        f64: new Float64Array(buffer, 0, FEED_HEADER / 8),
        slot: 0,
        base,
        at: base + FIRST_PACKET,
        prev: -1,
        count: 0,
        ready: true,
        sequence: 0n,
        published: 0,
      });
    }
  }

  /** What worker `index` reads. */
  init(index: number): FeedInit {
    return this.#lanes[index].init;
  }

  /**
   * Feeds the whole file to the workers, then waits until they have handed back every block.
   * Resolves to the file's error (truncated, corrupt, unreadable), which comes after every
   * good packet was delivered, or null; early, with null, after `stop()`.
   */
  async run(): Promise<RingcapError | null> {
    const file = this.#file;
    if (!file) throw new RingcapError("invalid_argument", "FileFeeder.run() before open()");
    let error: RingcapError | null = null;
    try {
      try {
        await this.#feed(file);
      } catch (e) {
        error = e instanceof RingcapError ? e : new RingcapError("file_unreadable", `${this.path}: ${(e as Error)?.message ?? e}`, { cause: e });
      }
      if (this.#stopped) return null;
      for (const lane of this.#lanes) if (lane.count > 0) this.#publish(lane);
      // Delivered means handled: wait for every worker to hand back every slot.
      for (const lane of this.#lanes) {
        for (let s = 0; s < FEED_SLOTS && !this.#stopped; s++) await this.#free(lane, slotOffset(s, this.#blockBytes));
      }
      return this.#stopped ? null : error;
    } finally {
      file.close();
    }
  }

  /** Stops feeding (the pool is closing): wakes the workers and the feeder's own wait. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#file?.close();
    for (const lane of this.#lanes) {
      Atomics.add(lane.i32, DOORBELL, 1);
      Atomics.notify(lane.i32, DOORBELL);
      for (let s = 0; s < FEED_SLOTS; s++) Atomics.notify(lane.i32, statusIndex(slotOffset(s, this.#blockBytes)));
    }
  }

  /** Copies every packet of the file into its worker's blocks. */
  async #feed(file: CaptureFile): Promise<void> {
    const workers = this.#workers;
    const snaplen = this.#snaplen;
    const lanes = this.#lanes;
    let source = file.bytes;
    let words = new Uint32Array(source.buffer);
    let view = file.view;
    const interfaces = file.interfaces;
    for (;;) {
      const block = await file.nextBlock();
      if (!block || this.#stopped) return;
      if (file.bytes !== source) {
        // An oversized packet grew the file's buffer.
        source = file.bytes;
        words = new Uint32Array(source.buffer);
        view = file.view;
      }
      const c = block.cursor();
      while (c.next()) {
        const linkType = interfaces[c.ifindex - 1]?.linkType ?? -1;
        const lane = lanes[flowWorker(source, view, c.offset, c.caplen, linkType, workers)];
        const caplen = c.caplen < snaplen ? c.caplen : snaplen;
        const head = c.offset - c.header;
        const size = (head + caplen + 15) & ~15;
        if (lane.at + size > lane.base + this.#blockBytes) {
          this.#publish(lane);
        }
        if (!lane.ready) {
          await this.#free(lane, lane.base);
          if (this.#stopped) return;
          lane.ready = true;
        }
        // Word by word (records are 16-byte aligned): no view object per packet.
        const dst = lane.words;
        const to = lane.at >>> 2;
        const from = c.header >>> 2;
        for (let k = 0, n = size >>> 2; k < n; k++) dst[to + k] = words[from + k];
        dst[to] = 0; // tp_next_offset: set when a next record follows
        dst[to + 3] = caplen;
        if (lane.prev >= 0) dst[lane.prev >>> 2] = lane.at - lane.prev;
        lane.prev = lane.at;
        lane.at += size;
        lane.count++;
      }
    }
  }

  /** Hands the lane's slot to its worker and moves the lane on to its next slot. */
  #publish(lane: Lane): void {
    const v = lane.view;
    const b = lane.base;
    const first = b + FIRST_PACKET;
    v.setUint32(b + BLOCK_DESC.version, 3, true);
    v.setUint32(b + BLOCK_DESC.version + 4, FIRST_PACKET, true); // offset_to_priv
    v.setUint32(b + BLOCK_DESC.num_pkts, lane.count, true);
    v.setUint32(b + BLOCK_DESC.offset_to_first_pkt, FIRST_PACKET, true);
    v.setUint32(b + BLOCK_DESC.blk_len, lane.at - b, true);
    v.setBigUint64(b + BLOCK_DESC.seq_num, ++lane.sequence, true);
    v.setUint32(b + BLOCK_DESC.ts_first_pkt, v.getUint32(first + 4, true), true);
    v.setUint32(b + BLOCK_DESC.ts_first_pkt + 4, v.getUint32(first + 8, true), true);
    v.setUint32(b + BLOCK_DESC.ts_last_pkt, v.getUint32(lane.prev + 4, true), true);
    v.setUint32(b + BLOCK_DESC.ts_last_pkt + 4, v.getUint32(lane.prev + 8, true), true);
    lane.published += lane.count;
    lane.f64[PUBLISHED] = lane.published;
    Atomics.store(lane.i32, statusIndex(b), TP_STATUS.user);
    Atomics.add(lane.i32, DOORBELL, 1);
    Atomics.notify(lane.i32, DOORBELL);
    lane.slot = (lane.slot + 1) % FEED_SLOTS;
    lane.base = slotOffset(lane.slot, this.#blockBytes);
    lane.at = lane.base + FIRST_PACKET;
    lane.prev = -1;
    lane.count = 0;
    lane.ready = Atomics.load(lane.i32, statusIndex(lane.base)) !== TP_STATUS.user;
  }

  /** Resolves once the worker has handed back the slot at `base` (or the feeder stopped). */
  async #free(lane: Lane, base: number): Promise<void> {
    const status = statusIndex(base);
    while (!this.#stopped && Atomics.load(lane.i32, status) === TP_STATUS.user) {
      const r = Atomics.waitAsync(lane.i32, status, TP_STATUS.user, WAIT_SLICE_MS);
      if (r.async) await r.value;
    }
  }
}

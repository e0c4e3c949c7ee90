/**
 * The memory a file-reading fanout pool shares with each of its workers, and the worker's side
 * of it. The pool (file_source.ts) copies each packet of the file into one worker's
 * SharedArrayBuffer, laid out like a small TPACKET_V3 ring: a few blocks ("slots"), each a
 * block descriptor followed by `tpacket3_hdr` + `sockaddr_ll` + frame records. A slot's
 * `block_status` says who owns it, as in the kernel's ring: 0 the pool (filling it),
 * TP_STATUS_USER the worker (reading it). The worker reads slots in order and hands each back
 * when its handler returns, which is what lets the pool read the file no faster than the
 * workers consume it.
 *
 * The worker's side is {@link FeedCapture}: the members of a Capture that the worker loop and
 * a handler read (`bytes`, `view`, `info`, `nextBlock`, `stats`, `close`), over that memory.
 * @internal
 * @module
 */

import type { CaptureInfo, CaptureStats } from "../capture.ts";
import { ClosedError } from "../errors.ts";
import { BLOCK_DESC, TP_STATUS } from "../native/abi.ts";
import { Block, type RingOwner } from "../packet.ts";
import { type FeedInit, RUN } from "./protocol.ts";

export type { FeedInit };

/** Bytes before the first slot: the doorbell (Int32 at 0) and the packets published (Float64 at 8). */
export const FEED_HEADER = 64;
/** Int32 index of the doorbell: the pool adds one whenever it publishes a slot or stops. */
export const DOORBELL = 0;
/** Float64 index of the count of packets the pool has published to this worker. */
export const PUBLISHED = 1;
/** Slots per worker: the pool may be this many blocks ahead of a worker. */
export const FEED_SLOTS = 4;

/** Byte offset of slot `slot` in the shared buffer. */
export function slotOffset(slot: number, slotBytes: number): number {
  return FEED_HEADER + slot * slotBytes;
}

/** Int32 index of the `block_status` of the slot at byte `offset`. */
export function statusIndex(offset: number): number {
  return (offset + BLOCK_DESC.block_status) >> 2;
}

/**
 * A worker's reader of its slots, standing in for a Capture (the worker loop calls the same
 * members, and a handler reads frames through `bytes`/`view` as it does from a ring).
 */
export class FeedCapture {
  readonly info: CaptureInfo;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** No native capture: the pool has nothing to close for this worker. */
  readonly handle = -1;
  #owner: RingOwner;
  #i32: Int32Array;
  #f64: Float64Array;
  #stop: Int32Array;
  #slots: number;
  #slotBytes: number;
  #slot = 0;
  #sequence = 0n;
  #held: Block | null = null;

  /** Reads `init.buffer`; `stop` is the pool's stop flag, so a wait ends as soon as it is raised. */
  constructor(init: FeedInit, stop: SharedArrayBuffer) {
    const buffer = init.buffer;
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.#i32 = new Int32Array(buffer);
    this.#f64 = new Float64Array(buffer, 0, FEED_HEADER / 8);
    this.#stop = new Int32Array(stop);
    this.#slots = init.slots;
    this.#slotBytes = init.slotBytes;
    const names = init.interfaces;
    this.#owner = {
      bytes: this.bytes,
      view: this.view,
      words: new Uint32Array(buffer),
      generation: 0,
      closed: false,
      releaseHeld: (block) => this.#release(block),
      interfaceName: (ifindex) => names[ifindex - 1] ?? "",
      linkType: init.linkType,
    };
    this.info = {
      interface: init.label,
      interfaces: names,
      ifindex: 0,
      // A file's interfaces are numbered from 1 in the order it describes them.
      ifindexes: names.map((_, i) => i + 1),
      arpType: init.arpType,
      linkType: init.linkType,
      mtu: 0,
      mac: "",
      blockSize: init.slotBytes,
      blockCount: init.slots,
      frameSize: 0,
      blockTimeoutMs: 0,
      snaplen: init.snaplen,
      ringBytes: init.slots * init.slotBytes,
      fanoutGroupId: -1,
      immediate: false,
    };
  }

  get closed(): boolean {
    return this.#owner.closed;
  }

  /**
   * The next slot the pool has filled, releasing the block held before; null when none came
   * within `timeoutMs` (-1: no limit) or the pool's stop flag is up and the next slot is empty.
   */
  nextBlock(timeoutMs = -1): Block | null {
    if (this.#owner.closed) throw new ClosedError("capture");
    this.#held?.release();
    const at = slotOffset(this.#slot, this.#slotBytes);
    const status = statusIndex(at);
    const i32 = this.#i32;
    if (Atomics.load(i32, status) !== TP_STATUS.user) {
      // The doorbell is read before the stop flag, and the pool raises the flag before it
      // rings: a stop between the two makes the wait return at once.
      const bell = Atomics.load(i32, DOORBELL);
      if (Atomics.load(this.#stop, 0) !== RUN) return null;
      if (Atomics.load(i32, status) !== TP_STATUS.user) {
        if (timeoutMs !== 0) Atomics.wait(i32, DOORBELL, bell, timeoutMs < 0 ? Infinity : timeoutMs);
        if (Atomics.load(i32, status) !== TP_STATUS.user) return null;
      }
    }
    const count = this.view.getUint32(at + BLOCK_DESC.num_pkts, true);
    const block = new Block(this.#owner, this.#slot, at, count, ++this.#sequence);
    this.#held = block;
    this.#slot = (this.#slot + 1) % this.#slots;
    return block;
  }

  /** Packets the pool has handed to this worker so far (`received`); nothing is dropped. */
  stats(): CaptureStats {
    return { received: this.#f64[PUBLISHED], drops: 0, freezes: 0, interfaceDrops: 0 };
  }

  /** Stops reading; blocks over the memory stop working. Idempotent. */
  close(): void {
    if (this.#owner.closed) return;
    this.#owner.closed = true;
    this.#owner.generation++;
    this.#held = null;
  }

  /** Hands the slot back to the pool and wakes it if it waits for this slot. */
  #release(block: Block): void {
    if (this.#held !== block) return;
    this.#held = null;
    this.#owner.generation++;
    const status = statusIndex(block.offset);
    Atomics.store(this.#i32, status, 0);
    Atomics.notify(this.#i32, status);
  }
}

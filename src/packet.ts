/**
 * Zero-copy views over the mapped ring: a {@link Block} of packets handed over by the kernel,
 * and one reusable {@link PacketView} per walk that is `reset` to each packet in turn.
 * @module
 */

import { ClosedError, RingcapError } from "./errors.ts";
import { BLOCK_DESC, CONSTANTS, SOCKADDR_LL, TP_STATUS, TPACKET3_HDR } from "./native/abi.ts";
import { PacketDecoder } from "./decode.ts";

/** Bytes of one 802.1Q/802.1ad tag (TPID and TCI). */
export const VLAN_TAG_BYTES = 4;

/**
 * What the kernel says a packet was (sockaddr_ll's sll_pkttype): `PacketView.packetType` and
 * `FrameCursor.packetType`. `outgoing` is a packet this host sent; the others were received.
 */
export const PACKET_TYPE = {
  /** Addressed to this host. */
  host: 0,
  /** Sent to the link-layer broadcast address. */
  broadcast: 1,
  /** Sent to a link-layer multicast address. */
  multicast: 2,
  /** Addressed to another host (seen in promiscuous mode, or on a bridge or veth). */
  otherhost: 3,
  /** Sent by this host. */
  outgoing: 4,
} as const;

/** Offsets from a packet's tpacket3_hdr of the two sockaddr_ll fields the views read. */
const IFINDEX_AT = CONSTANTS.sockaddr_ll_offset + SOCKADDR_LL.ifindex;
const PKTTYPE_AT = CONSTANTS.sockaddr_ll_offset + SOCKADDR_LL.pkttype;

/**
 * What a block and its views need from the capture that owns the ring: an object the capture
 * keeps to itself. `generation` changes every time a block is released, which is how a stale
 * view knows it must not read.
 */
export interface RingOwner {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** The ring as 32-bit words: packet headers are 16-byte aligned, so their fields are words. */
  readonly words: Uint32Array;
  generation: number;
  closed: boolean;
  releaseHeld(block: Block): void;
  /** The name of the interface with index `ifindex` (the sockaddr_ll's), or "" if unknown. */
  interfaceName(ifindex: number): string;
  /**
   * A saved file's interfaces, at their ifindex - 1: `PacketView.decode()` reads a frame by its
   * interface's pcap link type. Absent for a live ring, whose frames are read as Ethernet.
   */
  readonly interfaces?: ReadonlyArray<{ readonly linkType: number }>;
  /** The pcap link type of every frame (a live ring's: LINUX_SLL2 for "any"); absent: Ethernet. */
  linkType?: number;
}

/**
 * One packet inside a held block. Getters read the ring directly and return numbers;
 * nothing is copied unless you ask (`bytes` makes a view object, `copy()` copies).
 *
 * @example
 * ```ts
 * for await (const block of capture.blocks()) {
 *   for (const p of block) console.log(p.length, p.decode().srcAddress());
 * }
 * ```
 */
/** Where a packet's timestamp came from (see `PacketView.timestampSource`). */
export type TimestampSource = "software" | "sys_hardware" | "raw_hardware" | "none";

export class PacketView {
  #owner: RingOwner;
  #generation = -1;
  #hdr = 0;
  // The header fields every walk reads, taken from the ring once per packet by `reset` (a held
  // block's memory does not change): the frame's ring offset, captured and wire lengths.
  #frame = 0;
  #caplen = 0;
  #length = 0;
  #decoder: PacketDecoder | null = null;

  constructor(owner: RingOwner) {
    this.#owner = owner;
  }

  /** Points the view at the packet header at `hdrOffset` in the ring. @internal */
  reset(hdrOffset: number, generation: number): this {
    const w = this.#owner.words;
    const i = hdrOffset >>> 2;
    this.#hdr = hdrOffset;
    this.#generation = generation;
    this.#frame = hdrOffset + (w[i + (TPACKET3_HDR.mac >> 2)] & 0xffff);
    this.#caplen = w[i + (TPACKET3_HDR.snaplen >> 2)];
    this.#length = w[i + (TPACKET3_HDR.len >> 2)];
    return this;
  }

  #check(): DataView {
    if (this.#generation !== this.#owner.generation) {
      throw new RingcapError(
        "view_released",
        this.#owner.closed
          ? "packet view used after the capture was closed"
          : "packet view used after its block was released: copy() what you keep",
      );
    }
    return this.#owner.view;
  }

  /** Byte offset in the ring of the frame's first byte (the Ethernet destination). */
  get offset(): number {
    this.#check();
    return this.#frame;
  }
  /** Bytes captured (at most the snaplen). */
  get caplen(): number {
    this.#check();
    return this.#caplen;
  }
  /** Length of the frame on the wire (without a stripped VLAN tag). */
  get length(): number {
    this.#check();
    return this.#length;
  }
  /**
   * Length of the frame as it was on the wire: `length`, plus the 4 bytes of a VLAN tag the
   * kernel stripped into `vlanTci`. What tcpdump and pcap files call the original length.
   */
  get wireLength(): number {
    const length = this.length;
    return this.vlanValid ? length + VLAN_TAG_BYTES : length;
  }
  /** True when fewer bytes were captured than were on the wire. */
  get truncated(): boolean {
    return this.caplen < this.length;
  }
  /** Seconds part of the kernel's receive timestamp (Unix time). */
  get sec(): number {
    return this.#check().getUint32(this.#hdr + TPACKET3_HDR.sec, true);
  }
  /** Nanoseconds part of the kernel's receive timestamp. */
  get nsec(): number {
    return this.#check().getUint32(this.#hdr + TPACKET3_HDR.nsec, true);
  }
  /** The timestamp in nanoseconds since the Unix epoch (allocates a BigInt). */
  get timestampNs(): bigint {
    return BigInt(this.sec) * 1_000_000_000n + BigInt(this.nsec);
  }
  /** The timestamp in milliseconds since the Unix epoch, as a float (microsecond precision). */
  get timestampMs(): number {
    return this.sec * 1000 + this.nsec / 1e6;
  }
  /** tp_status bits (see TP_STATUS). */
  get status(): number {
    return this.#check().getUint32(this.#hdr + TPACKET3_HDR.status, true);
  }
  /**
   * Where the packet's stamp came from, by its tp_status bits: "software" (the kernel's clock,
   * TP_STATUS_TS_SOFTWARE), "raw_hardware" (the NIC's clock, TS_RAW_HARDWARE: a capture with
   * timestampType "adapter" or "adapter_unsynced"), "sys_hardware" (the NIC's clock converted by
   * kernels before 3.17), or "none" (no bit: also the host's clock, read by the kernel as it put
   * the frame in the ring, when nothing on the host had turned on receive stamps; or a packet
   * read from a saved file).
   */
  get timestampSource(): TimestampSource {
    const status = this.status;
    if ((status & TP_STATUS.ts_raw_hardware) !== 0) return "raw_hardware";
    if ((status & TP_STATUS.ts_sys_hardware) !== 0) return "sys_hardware";
    if ((status & TP_STATUS.ts_software) !== 0) return "software";
    return "none";
  }
  /** The kernel's flow hash (RSS), when the capture asked for it (`rxHash`, on by default). */
  get rxHash(): number {
    return this.#check().getUint32(this.#hdr + TPACKET3_HDR.rxhash, true);
  }
  /** Index of the interface the packet arrived on or left by (sockaddr_ll's sll_ifindex). */
  get ifindex(): number {
    this.#check();
    return this.#owner.words[(this.#hdr + IFINDEX_AT) >>> 2] | 0;
  }
  /**
   * The name of the interface the packet arrived on or left by ("" when the source cannot
   * name it): the capture's interface, or a saved file's interface name (pcapng if_name).
   * The same string every time, not a new one.
   */
  get interfaceName(): string {
    return this.#owner.interfaceName(this.ifindex);
  }
  /** What the packet was: a {@link PACKET_TYPE} value (`outgoing` for one this host sent). */
  get packetType(): number {
    this.#check();
    return this.#owner.bytes[this.#hdr + PKTTYPE_AT];
  }
  /** True when the kernel stripped a VLAN tag from this frame into `vlanTci`. */
  get vlanValid(): boolean {
    return (this.status & TP_STATUS.vlan_valid) !== 0;
  }
  /** The stripped tag's TCI (priority, DEI and id), or -1. The id is `vlanTci & 0x0fff`. */
  get vlanTci(): number {
    return this.vlanValid ? this.#check().getUint32(this.#hdr + TPACKET3_HDR.vlan_tci, true) & 0xffff : -1;
  }
  /** The stripped tag's TPID (0x8100, 0x88a8), or -1. Kernels that do not report it give 0x8100. */
  get vlanTpid(): number {
    if (!this.vlanValid) return -1;
    if ((this.status & TP_STATUS.vlan_tpid_valid) === 0) return 0x8100;
    return this.#check().getUint16(this.#hdr + TPACKET3_HDR.vlan_tpid, true);
  }
  /**
   * The ring offset of bytes `[at, at + size)` of the frame, after checking they were captured.
   * A RangeError names the offset and caplen: a reader never reads past the frame.
   */
  #frameOffset(at: number, size: number): number {
    if (at >= 0 && at + size <= this.#caplen && (at | 0) === at) return this.#frame + at;
    throw new RangeError(`packet offset ${at} (${size} bytes) is outside the ${this.#caplen} captured bytes`);
  }
  /**
   * The byte at `at` of the frame (0 is the first byte of the Ethernet destination). Reads the
   * ring without allocating; a RangeError past `caplen`.
   *
   * @example
   * ```ts
   * for (const p of block) if (p.caplen >= 34 && p.getUint16(12) === 0x0800) sources.add(p.getUint32(26));
   * ```
   */
  getUint8(at: number): number {
    return this.#check().getUint8(this.#frameOffset(at, 1));
  }
  /** The 16-bit number at `at` of the frame, network byte order unless `littleEndian`. No allocation. */
  getUint16(at: number, littleEndian = false): number {
    return this.#check().getUint16(this.#frameOffset(at, 2), littleEndian);
  }
  /** The 32-bit number at `at` of the frame, network byte order unless `littleEndian`. No allocation. */
  getUint32(at: number, littleEndian = false): number {
    return this.#check().getUint32(this.#frameOffset(at, 4), littleEndian);
  }
  /** The 64-bit number at `at` of the frame, network byte order unless `littleEndian` (a BigInt). */
  getBigUint64(at: number, littleEndian = false): bigint {
    return this.#check().getBigUint64(this.#frameOffset(at, 8), littleEndian);
  }
  /**
   * The captured bytes as a view into the ring. Allocates a Uint8Array object per call (not the
   * bytes): in a per-packet loop prefer the readers (`getUint8`, `getUint16`, ...) or `decode()`.
   */
  get bytes(): Uint8Array {
    const start = this.offset;
    return this.#owner.bytes.subarray(start, start + this.caplen);
  }
  /** A copy of the captured bytes that stays valid after the block is released. */
  copy(): Uint8Array {
    return this.bytes.slice();
  }
  /**
   * The captured frame with the stripped VLAN tag put back after the MAC addresses, as it
   * was on the wire (a copy). Without a stripped tag, the same as `copy()`.
   */
  withVlanTag(): Uint8Array {
    const out = new Uint8Array(this.caplen + (this.vlanValid ? VLAN_TAG_BYTES : 0));
    this.copyWithVlanTag(out);
    return out;
  }
  /**
   * Copies the captured frame, with a stripped VLAN tag put back, into `out` at `at`, without
   * allocating; returns the bytes written (caplen, plus 4 with a tag). `out` must have room.
   */
  copyWithVlanTag(out: Uint8Array, at = 0): number {
    const start = this.offset;
    const caplen = this.caplen;
    const ring = this.#owner.bytes;
    const tci = this.vlanTci;
    if (tci < 0) {
      out.set(ring.subarray(start, start + caplen), at);
      return caplen;
    }
    const macs = Math.min(12, caplen);
    const tpid = this.vlanTpid;
    out.set(ring.subarray(start, start + macs), at);
    out[at + macs] = tpid >> 8;
    out[at + macs + 1] = tpid & 0xff;
    out[at + macs + 2] = tci >> 8;
    out[at + macs + 3] = tci & 0xff;
    out.set(ring.subarray(start + macs, start + caplen), at + macs + VLAN_TAG_BYTES);
    return caplen + VLAN_TAG_BYTES;
  }
  /**
   * Decodes the layers (link to L4) with one decoder reused by this view. A saved file's frames
   * are read by their interface's link type (Ethernet, raw IP, Linux cooked, loopback: see
   * `PacketDecoder.linkType`), a live ring's by the capture's (LINUX_SLL2 for "any").
   */
  decode(): PacketDecoder {
    const view = this.#check();
    const d = (this.#decoder ??= this.#newDecoder());
    const w = this.#owner.words;
    const i = this.#hdr >>> 2;
    const interfaces = this.#owner.interfaces;
    if (interfaces !== undefined) d.linkType = interfaces[w[i + (IFINDEX_AT >> 2)] - 1]?.linkType ?? -1;
    const status = w[i + (TPACKET3_HDR.status >> 2)];
    if ((status & TP_STATUS.vlan_valid) === 0) return d.decode(this.#owner.bytes, view, this.#frame, this.#caplen);
    return d.decode(this.#owner.bytes, view, this.#frame, this.#caplen, w[i + (TPACKET3_HDR.vlan_tci >> 2)] & 0xffff, this.vlanTpid);
  }

  /** The view's decoder, set once for its ring's link type (a file's is set per packet above). */
  #newDecoder(): PacketDecoder {
    const d = new PacketDecoder();
    if (this.#owner.linkType !== undefined) d.linkType = this.#owner.linkType;
    return d;
  }
}

/**
 * The fastest way through a block: a cursor whose plain fields are updated by `next()`.
 * No closure per packet and no getter, so the JIT keeps the loop tight. Read the frame
 * through the capture's `view`/`bytes` at `offset`.
 *
 * @example
 * ```ts
 * const view = cap.view;
 * const c = block.cursor();
 * while (c.next()) {
 *   if (c.caplen >= 34 && view.getUint16(c.offset + 12) === 0x0800) sources.add(view.getUint32(c.offset + 26));
 * }
 * ```
 */
export class FrameCursor {
  /** Byte offset in the ring of the current frame's first byte. */
  offset = 0;
  /** Captured bytes of the current frame. */
  caplen = 0;
  /** Wire length of the current frame. */
  length = 0;
  /** Index of the current packet in the block, -1 before the first `next()`. */
  index = -1;
  /** Index of the interface the current packet arrived on or left by. */
  ifindex = 0;
  /** What the current packet was: a {@link PACKET_TYPE} value. */
  packetType = 0;
  /** Byte offset of the current packet's tpacket3_hdr (for PacketView.reset). */
  header = 0;
  #words: Uint32Array;
  #next = 0;
  #count = 0;

  constructor(words: Uint32Array) {
    this.#words = words;
  }

  /** @internal */
  start(firstHeader: number, count: number): this {
    this.#next = firstHeader;
    this.#count = count;
    this.index = -1;
    return this;
  }

  /** Moves to the next packet; false when the block has no more. */
  next(): boolean {
    if (this.index + 1 >= this.#count) return false;
    const w = this.#words;
    const hdr = this.#next;
    const i = hdr >>> 2;
    this.index++;
    this.header = hdr;
    this.offset = hdr + (w[i + (TPACKET3_HDR.mac >> 2)] & 0xffff);
    this.caplen = w[i + (TPACKET3_HDR.snaplen >> 2)];
    this.length = w[i + (TPACKET3_HDR.len >> 2)];
    this.ifindex = w[i + (IFINDEX_AT >> 2)] | 0;
    this.packetType = (w[i + (PKTTYPE_AT >> 2)] >>> ((PKTTYPE_AT & 3) * 8)) & 0xff;
    this.#next = hdr + w[i + (TPACKET3_HDR.next_offset >> 2)];
    return true;
  }
}

/**
 * The iterator behind `for (const p of block)`: a plain class rather than a generator (a
 * generator's resume and per-step result object cost about 80 ns per packet). It hands out
 * the block's one PacketView, moved to each packet in turn, in one reused result object.
 */
class PacketIterator implements IterableIterator<PacketView> {
  #view: PacketView;
  #words: Uint32Array;
  #hdr: number;
  #left: number;
  #generation: number;
  #result: IteratorYieldResult<PacketView>;

  constructor(view: PacketView, words: Uint32Array, firstHeader: number, count: number, generation: number) {
    this.#view = view;
    this.#words = words;
    this.#hdr = firstHeader;
    this.#left = count;
    this.#generation = generation;
    this.#result = { value: view, done: false };
  }

  next(): IteratorResult<PacketView> {
    if (this.#left <= 0) return { value: undefined, done: true };
    this.#left--;
    const hdr = this.#hdr;
    this.#view.reset(hdr, this.#generation);
    this.#hdr = hdr + this.#words[(hdr + TPACKET3_HDR.next_offset) >>> 2];
    return this.#result;
  }

  [Symbol.iterator](): IterableIterator<PacketView> {
    return this;
  }
}

/**
 * A block of packets handed over by the kernel. Walk it one of two ways:
 * - `for (const p of block)`: the readable way; one reusable {@link PacketView} with getters,
 *   `p.decode()`, `p.copy()`.
 * - `block.cursor()`: the fastest way; plain number fields, read the frame through the
 *   capture's `view`/`bytes`.
 *
 * It stays valid until released (by `release()`, by asking the capture for the next block,
 * or by closing the capture).
 */
export class Block {
  readonly #owner: RingOwner;
  readonly #generation: number;
  /** Index of the block in the ring. */
  readonly index: number;
  /** Byte offset of the block in the ring. */
  readonly offset: number;
  /** Packets in the block (may be 0 for a block retired empty by the timeout). */
  readonly packetCount: number;
  /** The kernel's block sequence number; consecutive blocks differ by one. */
  readonly sequence: bigint;
  #view: PacketView | null = null;
  #cursor: FrameCursor | null = null;

  /** @internal */
  constructor(owner: RingOwner, index: number, offset: number, packetCount: number, sequence: bigint) {
    this.#owner = owner;
    this.#generation = owner.generation;
    this.index = index;
    this.offset = offset;
    this.packetCount = packetCount;
    this.sequence = sequence;
  }

  /** True until the block is released. */
  get live(): boolean {
    return this.#generation === this.#owner.generation && !this.#owner.closed;
  }

  #check(): DataView {
    if (!this.live) {
      if (this.#owner.closed) throw new ClosedError("capture");
      throw new RingcapError("block_released", "block used after it was released");
    }
    return this.#owner.view;
  }

  /** Offset in the ring of the first packet header. */
  get firstPacketOffset(): number {
    return this.offset + this.#check().getUint32(this.offset + BLOCK_DESC.offset_to_first_pkt, true);
  }

  /**
   * A cursor over the block's packets (one per block, reused): the fastest walk.
   * Like any view, read through it only while the block is held.
   */
  cursor(): FrameCursor {
    this.#check();
    return (this.#cursor ??= new FrameCursor(this.#owner.words)).start(this.firstPacketOffset, this.packetCount);
  }

  /** Iterates the packets with one reusable view. */
  [Symbol.iterator](): IterableIterator<PacketView> {
    this.#check();
    const p = (this.#view ??= new PacketView(this.#owner));
    return new PacketIterator(p, this.#owner.words, this.firstPacketOffset, this.packetCount, this.#generation);
  }

  /** Hands the block back to the kernel. Idempotent; views over it stop working. */
  release(): void {
    if (this.live) this.#owner.releaseHeld(this);
  }
}

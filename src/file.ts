/**
 * Reading saved captures: {@link openFile} reads a pcap or pcapng file and hands out the same
 * {@link Block}s and {@link PacketView}s a live capture does, so a handler written for live
 * traffic runs unchanged on a file, without root.
 *
 * Each packet is copied into one reusable buffer laid out like a TPACKET_V3 block (a block
 * descriptor, then per packet a `tpacket3_hdr`, a `sockaddr_ll` and the frame, 16-byte
 * aligned), which the Block reads as it reads a ring. The file is read in chunks, so its size
 * does not matter: memory is the block buffer plus a read buffer of about 256 KiB.
 * @module
 */

import { closeSync, openSync, read as fsRead } from "node:fs";
import { LINKTYPE } from "./decode.ts";
import { ClosedError, RingcapError } from "./errors.ts";
import { BLOCK_DESC, CONSTANTS, SOCKADDR_LL, TP_STATUS, TPACKET3_HDR } from "./native/abi.ts";
import { intOption, MAX_SNAPLEN } from "./options.ts";
import { Block, type RingOwner } from "./packet.ts";

/** The file formats {@link openFile} reads. */
export type FileFormat = "pcap" | "pcapng";

/** One interface of a saved file: pcap has one; pcapng one per Interface Description Block. */
export interface FileInterface {
  /** The LINKTYPE_* of its packets (1: Ethernet, 101: raw IP, 113/276: Linux cooked, ...). */
  readonly linkType: number;
  /** The snapshot length the file records (0 in pcapng: none). */
  readonly snaplen: number;
  /** pcapng `if_name`, when the file has it. */
  readonly name?: string;
  /** pcapng `if_description`, when the file has it. */
  readonly description?: string;
  /**
   * The timestamp resolution as pcapng's `if_tsresol` byte: 6 (microseconds, the default and
   * classic pcap), 9 (nanoseconds, pcap's nanosecond magic); with the high bit set, a power of two.
   */
  readonly tsresol: number;
  /** pcapng `if_tsoffset`: seconds added to every timestamp (0 when absent). */
  readonly tsoffset: number;
}

/** Options for {@link openFile}. */
export interface OpenFileOptions {
  /**
   * Bytes of the block buffer packets are copied into: a block holds as many packets as fit.
   * A packet larger than the buffer gets a block of its own (the buffer then grows once, to
   * the largest packet MAX_SNAPLEN allows). @default 1 MiB
   */
  blockBytes?: number;
}

/**
 * Where a reader's bytes come from, read in order: a file descriptor (a file, or standard
 * input, which may be a pipe); a stream can implement the same two methods. @internal
 */
export interface ByteSource {
  /** Reads up to `length` bytes into `into` at `at`; resolves to 0 at the end. */
  read(into: Uint8Array, at: number, length: number): Promise<number>;
  close(): void;
}

const DEFAULT_BLOCK_BYTES = 1 << 20;
/** openFile("-") reads this descriptor. */
const STDIN = 0;
const READ_BYTES = 256 << 10;
/** The first packet header of a block, right after the block descriptor. */
const FIRST_PACKET = BLOCK_DESC.size;
/** The sockaddr_ll after each tpacket3_hdr, as the kernel writes it. */
const SLL = CONSTANTS.sockaddr_ll_offset;
/** Where a frame starts in its record: after the header and the sockaddr_ll, 16-byte aligned. */
const MAC = (SLL + SOCKADDR_LL.size + 15) & ~15;
const recordBytes = (caplen: number) => (MAC + caplen + 15) & ~15;
/** The largest block a single packet needs. */
const MAX_BLOCK_FOR_ONE = FIRST_PACKET + recordBytes(MAX_SNAPLEN);
/** The longest pcapng block read whole (a packet of MAX_SNAPLEN with 64 KiB of options). */
const MAX_INPUT_BLOCK = MAX_SNAPLEN + (64 << 10);

const AF_PACKET = 17;
const PACKET_HOST = 0;
const PACKET_BROADCAST = 1;
const PACKET_MULTICAST = 2;
const PACKET_OTHERHOST = 3;
const PACKET_OUTGOING = 4;
const ARPHRD_ETHER = 1;
const ARPHRD_NONE = 0xfffe;
const ARPHRD_VOID = 0xffff;

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAP_MODIFIED = 0xa1b2cd34;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 1;
const PCAPNG_PB = 2;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** step() results. */
const PACKET = 0;
const NEED = 1;
const SKIPPED = 2;

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function hex(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
}

/**
 * A file descriptor read in order with node:fs `read` (Bun and Deno both have it), from its
 * current position (position null), so a pipe reads as well as a file. `owned`: closed by close().
 */
class FdSource implements ByteSource {
  #fd: number;
  #owned: boolean;
  #reading = false;
  #closed = false;
  constructor(fd: number, owned = true) {
    this.#fd = fd;
    this.#owned = owned;
  }
  read(into: Uint8Array, at: number, length: number): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    this.#reading = true;
    return new Promise((resolve, reject) => {
      fsRead(this.#fd, into, at, length, null, (err, n) => {
        this.#reading = false;
        // A close() while the read was in flight closes the descriptor now that it is done.
        if (this.#closed && this.#owned) closeSync(this.#fd);
        if (err) reject(err);
        else resolve(n);
      });
    });
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#reading && this.#owned) closeSync(this.#fd);
  }
}

/** The bytes read and not yet consumed: `buf[pos, end)` is the file from byte `base + pos`. */
class Input {
  buf = new Uint8Array(READ_BYTES);
  dv = new DataView(this.buf.buffer);
  pos = 0;
  end = 0;
  /** File offset of buf[0]. */
  base = 0;
  eof = false;
  #source: ByteSource;
  #label: string;
  constructor(source: ByteSource, label: string) {
    this.#source = source;
    this.#label = label;
  }
  get avail(): number {
    return this.end - this.pos;
  }
  /** File offset of the next unconsumed byte. */
  get offset(): number {
    return this.base + this.pos;
  }
  /** Reads until `need` bytes from `pos` are here or the file ends. */
  async fill(need: number): Promise<void> {
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, this.buf.length * 2));
      grown.set(this.buf.subarray(this.pos, this.end));
      this.base += this.pos;
      this.end -= this.pos;
      this.pos = 0;
      this.buf = grown;
      this.dv = new DataView(grown.buffer);
    } else if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.end);
      this.base += this.pos;
      this.end -= this.pos;
      this.pos = 0;
    }
    while (this.end - this.pos < need && !this.eof) {
      let n: number;
      try {
        n = await this.#source.read(this.buf, this.end, this.buf.length - this.end);
      } catch (cause) {
        throw new RingcapError("file_unreadable", `${this.#label}: read failed at byte offset ${this.base + this.end}: ${(cause as Error).message}`, { cause });
      }
      if (n === 0) this.eof = true;
      else this.end += n;
    }
  }
}

/** What the block builder needs per interface, worked out once. */
interface IfaceState {
  info: FileInterface;
  hatype: number;
  /** Decimal resolution with at most 9 digits: 10^digits ticks per second; else 0 (BigInt path). */
  divisor: number;
  /** Nanoseconds per tick for the decimal path. */
  nsPerTick: number;
}

function ifaceState(info: FileInterface): IfaceState {
  const lt = info.linkType;
  // Raw IP of every kind (DLT_RAW is 12 or 14 on some systems) is what a tun device (ARPHRD_NONE) gives.
  const raw = lt === LINKTYPE.RAW || lt === 12 || lt === 14 || lt === LINKTYPE.IPV4 || lt === LINKTYPE.IPV6;
  const hatype = lt === LINKTYPE.ETHERNET ? ARPHRD_ETHER : raw ? ARPHRD_NONE : ARPHRD_VOID;
  const decimal = (info.tsresol & 0x80) === 0 && info.tsresol <= 9;
  return {
    info,
    hatype,
    divisor: decimal ? 10 ** info.tsresol : 0,
    nsPerTick: decimal ? 10 ** (9 - info.tsresol) : 0,
  };
}

/**
 * Parses records out of the Input, one per `step()`; a packet's fields are left in the
 * public fields for the block builder. Throws RingcapError "file_corrupt" naming the offset.
 */
class Parser {
  readonly format: FileFormat;
  readonly interfaces: FileInterface[] = [];
  readonly states: IfaceState[] = [];
  #in: Input;
  #label: string;
  #le = true;
  #nano = false;
  /** pcapng: the section's interface ids -> index in `interfaces`. */
  #section: number[] = [];
  #skipLeft = 0;
  /** Bytes wanted at `pos` after a NEED. */
  need = 0;
  /** File offset of the record being parsed (for errors). */
  recordStart = 0;
  // The packet found by the last step() that returned PACKET.
  dataAt = 0;
  caplen = 0;
  length = 0;
  sec = 0;
  nsec = 0;
  iface = 0;
  /** epb_flags / pack_flags (0 when absent). */
  flags = 0;
  size = 0;

  constructor(input: Input, label: string, format: FileFormat, le: boolean, nano: boolean) {
    this.#in = input;
    this.#label = label;
    this.format = format;
    this.#le = le;
    this.#nano = nano;
  }

  corrupt(what: string, at = this.recordStart): RingcapError {
    return new RingcapError("file_corrupt", `${this.#label}: corrupt ${this.format} file at byte offset ${at}: ${what}`);
  }

  truncated(): RingcapError {
    const i = this.#in;
    return new RingcapError(
      "file_truncated",
      `${this.#label}: truncated ${this.format} file: the record at byte offset ${this.recordStart} needs ` +
        `${this.#skipLeft > 0 ? this.#skipLeft + i.avail : this.need} bytes, the file ends at byte offset ${i.base + i.end}`,
    );
  }

  /** Reads the pcap file header (24 bytes, already in the input). */
  pcapHeader(): void {
    const dv = this.#in.dv;
    const snaplen = dv.getUint32(16, this.#le);
    const linkType = dv.getUint32(20, this.#le) & 0x03ffffff;
    const major = dv.getUint16(4, this.#le);
    if (major !== 2) throw new RingcapError("file_format", `${this.#label}: pcap version ${major}.${dv.getUint16(6, this.#le)} is not supported (2.x is)`);
    this.#addInterface({ linkType, snaplen, tsresol: this.#nano ? 9 : 6, tsoffset: 0 });
    this.#section = [0];
    this.#in.pos += 24;
  }

  #addInterface(info: FileInterface): void {
    this.#section.push(this.interfaces.length);
    this.interfaces.push(info);
    this.states.push(ifaceState(info));
  }

  step(): number {
    const i = this.#in;
    if (this.#skipLeft > 0) {
      const n = Math.min(i.avail, this.#skipLeft);
      i.pos += n;
      this.#skipLeft -= n;
      this.need = 1;
      return this.#skipLeft > 0 ? NEED : SKIPPED;
    }
    this.recordStart = i.offset;
    return this.format === "pcap" ? this.#pcapStep() : this.#pcapngStep();
  }

  #pcapStep(): number {
    const i = this.#in;
    if (i.avail < 16) {
      this.need = 16;
      return NEED;
    }
    const dv = i.dv;
    const at = i.pos;
    const le = this.#le;
    const caplen = dv.getUint32(at + 8, le);
    if (caplen > MAX_SNAPLEN) throw this.corrupt(`packet record with caplen ${caplen}, more than the ${MAX_SNAPLEN} a packet may have`);
    if (i.avail < 16 + caplen) {
      this.need = 16 + caplen;
      return NEED;
    }
    let sec = dv.getUint32(at, le);
    let frac = dv.getUint32(at + 4, le);
    if (!this.#nano) frac *= 1000;
    if (frac >= 1e9) {
      sec += Math.floor(frac / 1e9);
      frac %= 1e9;
      if (sec > 0xffffffff) throw this.corrupt("timestamp beyond the 32-bit seconds of a packet header");
    }
    this.sec = sec;
    this.nsec = frac;
    this.caplen = caplen;
    this.length = dv.getUint32(at + 12, le);
    this.dataAt = at + 16;
    this.iface = 0;
    this.flags = 0;
    this.size = 16 + caplen;
    return PACKET;
  }

  #pcapngStep(): number {
    const i = this.#in;
    if (i.avail < 12) {
      this.need = 12;
      return NEED;
    }
    const dv = i.dv;
    const at = i.pos;
    let type = dv.getUint32(at, this.#le);
    if (type === PCAPNG_SHB) {
      const bom = dv.getUint32(at + 8, true);
      if (bom === BYTE_ORDER_MAGIC) this.#le = true;
      else if (bom === swap32(BYTE_ORDER_MAGIC)) this.#le = false;
      else throw this.corrupt(`section header block with byte-order magic ${hex(bom)}`);
    }
    const le = this.#le;
    type = dv.getUint32(at, le);
    const len = dv.getUint32(at + 4, le);
    const min = type === PCAPNG_SHB ? 28 : type === PCAPNG_IDB ? 20 : type === PCAPNG_EPB || type === PCAPNG_PB ? 32 : type === PCAPNG_SPB ? 16 : 12;
    if (len % 4 !== 0 || len < min) throw this.corrupt(`block of type ${hex(type)} with length ${len} (at least ${min}, a multiple of 4)`);
    const packet = type === PCAPNG_EPB || type === PCAPNG_PB;
    if (packet && i.avail >= 28) {
      const caplen = dv.getUint32(at + 20, le);
      if (caplen > MAX_SNAPLEN) throw this.corrupt(`packet block with caplen ${caplen}, more than the ${MAX_SNAPLEN} a packet may have`);
      if (32 + caplen > len) throw this.corrupt(`packet block of length ${len} cannot hold its caplen ${caplen}`);
    }
    const known = packet || type === PCAPNG_SHB || type === PCAPNG_IDB || type === PCAPNG_SPB;
    if (len > MAX_INPUT_BLOCK) {
      if (known) throw this.corrupt(`block of type ${hex(type)} with length ${len}, more than ${MAX_INPUT_BLOCK}`);
      this.#skipLeft = len;
      return this.step();
    }
    if (i.avail < len) {
      this.need = len;
      return NEED;
    }
    const trailer = dv.getUint32(at + len - 4, le);
    if (trailer !== len) throw this.corrupt(`block of type ${hex(type)}: its trailing length ${trailer} differs from its length ${len}`);
    // A packet block is consumed by the builder once copied (`size`); any other block here.
    // Nothing throws after consuming: a record that fails fails again when stepped again.
    switch (type) {
      case PCAPNG_SHB: {
        const major = dv.getUint16(at + 12, le);
        if (major !== 1) throw this.corrupt(`section header block of version ${major}.${dv.getUint16(at + 14, le)} (1.x is read)`);
        this.#section = [];
        i.pos = at + len;
        return SKIPPED;
      }
      case PCAPNG_IDB: {
        const info: { -readonly [K in keyof FileInterface]: FileInterface[K] } = {
          linkType: dv.getUint16(at + 8, le),
          snaplen: dv.getUint32(at + 12, le),
          tsresol: 6,
          tsoffset: 0,
        };
        this.#options(at + 16, at + len - 4, (code, v, n) => {
          if (code === 2) info.name = new TextDecoder().decode(i.buf.subarray(v, v + n));
          else if (code === 3) info.description = new TextDecoder().decode(i.buf.subarray(v, v + n));
          else if (code === 9 && n >= 1) info.tsresol = i.buf[v];
          else if (code === 14 && n >= 8) info.tsoffset = Number(dv.getBigInt64(v, le));
        });
        this.#addInterface(info);
        i.pos = at + len;
        return SKIPPED;
      }
      case PCAPNG_EPB:
      case PCAPNG_PB: {
        const local = type === PCAPNG_EPB ? dv.getUint32(at + 8, le) : dv.getUint16(at + 8, le);
        if (local >= this.#section.length) {
          throw this.corrupt(`packet block for interface ${local}, but the section describes ${this.#section.length}`);
        }
        const caplen = dv.getUint32(at + 20, le);
        this.iface = this.#section[local];
        this.#time(dv.getUint32(at + 12, le), dv.getUint32(at + 16, le));
        this.caplen = caplen;
        this.length = dv.getUint32(at + 24, le);
        this.dataAt = at + 28;
        this.flags = 0;
        const optionsAt = at + 28 + ((caplen + 3) & ~3);
        if (optionsAt < at + len - 4) {
          this.#options(optionsAt, at + len - 4, (code, v, n) => {
            if (code === 2 && n >= 4) this.flags = dv.getUint32(v, le);
          });
        }
        break;
      }
      case PCAPNG_SPB: {
        if (this.#section.length === 0) throw this.corrupt("simple packet block before any interface description block");
        const iface = this.#section[0];
        const length = dv.getUint32(at + 8, le);
        const snaplen = this.interfaces[iface].snaplen;
        let caplen = Math.min(length, len - 16);
        if (snaplen > 0) caplen = Math.min(caplen, snaplen);
        if (caplen > MAX_SNAPLEN) throw this.corrupt(`simple packet block with ${caplen} bytes, more than the ${MAX_SNAPLEN} a packet may have`);
        this.iface = iface;
        this.sec = 0; // a simple packet block has no timestamp
        this.nsec = 0;
        this.caplen = caplen;
        this.length = length;
        this.dataAt = at + 12;
        this.flags = 0;
        break;
      }
      default:
        // Name resolution, statistics, decryption secrets, custom blocks: not packets.
        i.pos = at + len;
        return SKIPPED;
    }
    this.size = len;
    return PACKET;
  }

  /** Calls `fn(code, valueOffset, valueLength)` for each option in [from, to); stops at a malformed one. */
  #options(from: number, to: number, fn: (code: number, v: number, n: number) => void): void {
    const dv = this.#in.dv;
    const le = this.#le;
    for (let o = from; o + 4 <= to;) {
      const code = dv.getUint16(o, le);
      const n = dv.getUint16(o + 2, le);
      if (code === 0 || o + 4 + n > to) return;
      fn(code, o + 4, n);
      o += 4 + ((n + 3) & ~3);
    }
  }

  /** Sets sec/nsec from a pcapng timestamp in the interface's units. */
  #time(hi: number, lo: number): void {
    const s = this.states[this.iface];
    let sec: number;
    let nsec: number;
    const d = s.divisor;
    if (d > 0) {
      // hi * 2^32 + lo divided by d without losing bits: in 16-bit steps, every product < 2^53.
      const qh = Math.floor(hi / d);
      const x = (hi - qh * d) * 65536 + (lo >>> 16);
      const q1 = Math.floor(x / d);
      const y = (x - q1 * d) * 65536 + (lo & 0xffff);
      const q2 = Math.floor(y / d);
      sec = qh * 4294967296 + q1 * 65536 + q2;
      nsec = (y - q2 * d) * s.nsPerTick;
    } else {
      const r = s.info.tsresol;
      const ticks = (BigInt(hi) << 32n) | BigInt(lo);
      const perSecond = (r & 0x80) !== 0 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
      sec = Number(ticks / perSecond);
      nsec = Number(((ticks % perSecond) * 1_000_000_000n) / perSecond);
    }
    sec += s.info.tsoffset;
    if (sec < 0 || sec > 0xffffffff) throw this.corrupt(`timestamp of ${sec} seconds does not fit the 32-bit seconds of a packet header`);
    this.sec = sec;
    this.nsec = nsec;
  }
}

/**
 * An open pcap or pcapng file, read block by block into the same {@link Block}s a
 * {@link Capture} yields. Made by {@link openFile}.
 *
 * Per packet, the header the kernel would write is filled in: `sec`/`nsec` (pcapng timestamps
 * in the interface's `if_tsresol`, plus `if_tsoffset`), `caplen` (bytes in the file) and
 * `length` (the original length), and a `sockaddr_ll` after the `tpacket3_hdr` (at header
 * offset 48, as in the ring): family AF_PACKET, the protocol (Ethernet's ethertype, raw IP's
 * version, the cooked header's protocol; else 0), ifindex = the packet's index in
 * `interfaces` + 1 (pcap: 1; pcapng: its interface id + 1), the ARPHRD type, the packet type
 * (pcapng `epb_flags`: outbound is PACKET_OUTGOING, the reception type gives
 * host/broadcast/multicast/otherhost; cooked captures' own header; else PACKET_HOST) and
 * Ethernet's source address. Frames keep their bytes as stored: a VLAN tag stays in the frame
 * (`vlanValid` is false), and frames of other link types are not rewritten: `p.decode()`
 * reads them by their interface's link type (see `PacketDecoder.linkType`).
 *
 * Errors: a file that is not pcap or pcapng, or a version it does not read, fails `openFile`
 * with RingcapError "file_format"; a corrupt record (a block length that does not fit, a
 * caplen over MAX_SNAPLEN, a packet for an undescribed interface) gives "file_corrupt" and a
 * file that ends inside a record "file_truncated", both naming the byte offset, and only
 * after every whole packet before it was yielded. A failed read is "file_unreadable".
 * pcapng's obsolete Packet Block is read like an Enhanced Packet Block; a Simple Packet Block
 * belongs to interface 0 and has no timestamp (0). Other blocks (name resolution, statistics,
 * custom) are skipped.
 *
 * @example
 * ```ts
 * await using f = await openFile("capture.pcapng");
 * for await (const block of f.blocks()) {
 *   for (const p of block) console.log(p.timestampMs, p.length, f.interfaces[0].linkType);
 * }
 * ```
 */
export class CaptureFile {
  /** The path given to openFile. */
  readonly path: string;
  readonly format: FileFormat;
  #source: ByteSource;
  #input: Input;
  #parser: Parser;
  #owner: RingOwner & { bytes: Uint8Array; view: DataView; words: Uint32Array };
  #held: Block | null = null;
  #error: RingcapError | null = null;
  #done = false;
  #iterating = false;
  #sequence = 0;
  #packets = 0;
  #blockBytes: number;

  /** @internal */
  constructor(path: string, source: ByteSource, input: Input, parser: Parser, blockBytes: number) {
    this.path = path;
    this.format = parser.format;
    this.#source = source;
    this.#input = input;
    this.#parser = parser;
    this.#blockBytes = blockBytes;
    const buffer = new ArrayBuffer(blockBytes);
    this.#owner = {
      bytes: new Uint8Array(buffer),
      view: new DataView(buffer),
      words: new Uint32Array(buffer),
      generation: 0,
      closed: false,
      releaseHeld: (block) => {
        if (this.#held !== block) return;
        this.#held = null;
        this.#owner.generation++;
      },
      // Packets carry their interface's position in `interfaces` + 1.
      interfaceName: (ifindex) => this.#parser.interfaces[ifindex - 1]?.name ?? "",
      interfaces: parser.interfaces,
    };
  }

  /**
   * The file's interfaces, in order (pcapng: as their Interface Description Blocks were read;
   * openFile reads those before the first packet, a later one is added when reached).
   */
  get interfaces(): readonly FileInterface[] {
    return this.#parser.interfaces;
  }

  /** The link type of the first interface (pcap: the file's), or -1 before any was described. */
  get linkType(): number {
    return this.#parser.interfaces[0]?.linkType ?? -1;
  }

  /**
   * The block buffer's bytes, for reading frames at a cursor's `offset`. Read it after each
   * block arrives: a packet larger than `blockBytes` replaces the buffer (once).
   */
  get bytes(): Uint8Array {
    return this.#owner.bytes;
  }

  /** The block buffer as a DataView (see `bytes`). */
  get view(): DataView {
    return this.#owner.view;
  }

  /** Packets yielded so far. */
  get packets(): number {
    return this.#packets;
  }

  /** Bytes of the file consumed so far. */
  get offset(): number {
    return this.#input.offset;
  }

  get closed(): boolean {
    return this.#owner.closed;
  }

  /**
   * The next block of packets, releasing the one held before; null at the end of the file.
   * Throws the file's error (corrupt, truncated) once every packet before it was returned.
   */
  async nextBlock(): Promise<Block | null> {
    if (this.#owner.closed) throw new ClosedError("file");
    this.#held?.release();
    if (this.#error) throw this.#error;
    if (this.#done) return null;
    const block = await this.#fill();
    if (block && !this.#owner.closed) this.#held = block;
    return block;
  }

  /**
   * Yields the file's blocks in order; the previous block is released when the loop asks for
   * the next one (as `Capture.blocks()`). Ends at the end of the file, on `close()`, or when
   * `signal` aborts (checked before each block, as a drop-in for `Capture.blocks()`); throws
   * a "file_corrupt" / "file_truncated" RingcapError after the last good block.
   *
   * @example
   * ```ts
   * for await (const block of f.blocks()) for (const p of block) if (p.getUint16(12) === 0x0800) ipv4++;
   * ```
   */
  async *blocks(options: { signal?: AbortSignal } = {}): AsyncGenerator<Block, void, undefined> {
    if (this.#iterating) throw new RingcapError("invalid_argument", "blocks(): this file is already being iterated (one loop at a time)");
    this.#iterating = true;
    const signal = options.signal;
    try {
      while (!this.#owner.closed && !signal?.aborted) {
        const block = await this.nextBlock();
        if (!block) return;
        yield block;
      }
    } finally {
      this.#iterating = false;
      this.#held?.release();
    }
  }

  /**
   * Counters in the shape of `Capture.stats()`, so that code written for a capture runs on a
   * file: `received` is the packets yielded so far; a file drops nothing.
   */
  stats(): { received: number; drops: number; freezes: number; interfaceDrops: number } {
    return { received: this.#packets, drops: 0, freezes: 0, interfaceDrops: 0 };
  }

  /** Closes the file; blocks and views over it stop working. Idempotent. */
  close(): void {
    if (this.#owner.closed) return;
    this.#held = null;
    this.#owner.closed = true;
    this.#owner.generation++;
    this.#source.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Copies packets into the block buffer until the next one does not fit. */
  async #fill(): Promise<Block | null> {
    const input = this.#input;
    const parser = this.#parser;
    let o = this.#owner;
    let at = FIRST_PACKET;
    let prev = -1;
    let count = 0;
    let firstSec = 0;
    let firstNsec = 0;
    for (;;) {
      let r: number;
      try {
        r = parser.step();
        if (r === NEED) {
          if (input.eof) {
            if (input.avail > 0) throw parser.truncated();
            this.#done = true;
            break;
          }
          await input.fill(parser.need);
          if (this.#owner.closed) return null;
          continue;
        }
      } catch (e) {
        if (!(e instanceof RingcapError)) throw e;
        this.#error = e;
        if (count === 0) throw e;
        break;
      }
      if (r === SKIPPED) continue;
      const caplen = parser.caplen;
      const size = recordBytes(caplen);
      const oversized = at + size > this.#blockBytes;
      if (oversized) {
        if (count > 0) break; // it starts the next block
        // A packet larger than blockBytes: a block of its own, in a buffer grown once.
        if (FIRST_PACKET + size > o.bytes.length) {
          this.#grow(Math.max(FIRST_PACKET + size, MAX_BLOCK_FOR_ONE));
          o = this.#owner;
        }
      }
      this.#writePacket(at, caplen);
      if (prev >= 0) o.words[prev >>> 2] = at - prev;
      else {
        firstSec = parser.sec;
        firstNsec = parser.nsec;
      }
      prev = at;
      at += size;
      count++;
      input.pos += parser.size;
      if (oversized) break;
    }
    if (count === 0) return null;
    const dv = o.view;
    dv.setUint32(BLOCK_DESC.version, 3, true);
    dv.setUint32(BLOCK_DESC.version + 4, FIRST_PACKET, true); // offset_to_priv
    dv.setUint32(BLOCK_DESC.block_status, TP_STATUS.user, true);
    dv.setUint32(BLOCK_DESC.num_pkts, count, true);
    dv.setUint32(BLOCK_DESC.offset_to_first_pkt, FIRST_PACKET, true);
    dv.setUint32(BLOCK_DESC.blk_len, at, true);
    dv.setBigUint64(BLOCK_DESC.seq_num, BigInt(++this.#sequence), true);
    dv.setUint32(BLOCK_DESC.ts_first_pkt, firstSec, true);
    dv.setUint32(BLOCK_DESC.ts_first_pkt + 4, firstNsec, true);
    dv.setUint32(BLOCK_DESC.ts_last_pkt, dv.getUint32(prev + TPACKET3_HDR.sec, true), true);
    dv.setUint32(BLOCK_DESC.ts_last_pkt + 4, dv.getUint32(prev + TPACKET3_HDR.nsec, true), true);
    this.#packets += count;
    return new Block(o, 0, 0, count, BigInt(this.#sequence));
  }

  #grow(bytes: number): void {
    const buffer = new ArrayBuffer(bytes);
    const o = this.#owner;
    o.bytes = new Uint8Array(buffer);
    o.view = new DataView(buffer);
    o.words = new Uint32Array(buffer);
  }

  /** Writes the parser's packet as a tpacket3_hdr, sockaddr_ll and frame at `at`. */
  #writePacket(at: number, caplen: number): void {
    const p = this.#parser;
    const o = this.#owner;
    const w = o.words;
    const dv = o.view;
    const bytes = o.bytes;
    const i = at >>> 2;
    const state = p.states[p.iface];
    const linkType = state.info.linkType;
    const frame = at + MAC;
    bytes.set(this.#input.buf.subarray(p.dataAt, p.dataAt + caplen), frame);
    w[i] = 0; // tp_next_offset: set when a next packet follows
    w[i + 1] = p.sec;
    w[i + 2] = p.nsec;
    w[i + 3] = caplen;
    w[i + 4] = p.length;
    w[i + 5] = TP_STATUS.user;
    dv.setUint16(at + TPACKET3_HDR.mac, MAC, true);
    dv.setUint16(at + TPACKET3_HDR.net, linkType === LINKTYPE.ETHERNET && caplen >= 14 ? MAC + 14 : MAC, true);
    for (let k = 7; k < 17; k++) w[i + k] = 0; // rxhash, vlan, padding, and the sockaddr_ll's ifindex and address
    // sockaddr_ll
    const sll = at + SLL;
    let protocol = 0;
    let pkttype = PACKET_HOST;
    let halen = 0;
    if (linkType === LINKTYPE.ETHERNET) {
      if (caplen >= 14) {
        const t = (bytes[frame + 12] << 8) | bytes[frame + 13];
        if (t >= 0x600) protocol = t;
      }
      if (caplen >= 12) {
        halen = 6;
        bytes.copyWithin(sll + 12, frame + 6, frame + 12);
      }
    } else if (linkType === LINKTYPE.RAW || linkType === 12 || linkType === 14 || linkType === LINKTYPE.IPV4 || linkType === LINKTYPE.IPV6) {
      const v = caplen >= 1 ? bytes[frame] >> 4 : 0;
      protocol = v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
    } else if (linkType === LINKTYPE.LINUX_SLL && caplen >= 16) {
      protocol = (bytes[frame + 14] << 8) | bytes[frame + 15];
      pkttype = bytes[frame + 1];
    } else if (linkType === LINKTYPE.LINUX_SLL2 && caplen >= 20) {
      protocol = (bytes[frame] << 8) | bytes[frame + 1];
      pkttype = bytes[frame + 10];
    }
    const flags = p.flags;
    if ((flags & 3) === 2) pkttype = PACKET_OUTGOING;
    else if (flags !== 0) {
      const reception = (flags >>> 2) & 7;
      if (reception === 2) pkttype = PACKET_MULTICAST;
      else if (reception === 3) pkttype = PACKET_BROADCAST;
      else if (reception === 4) pkttype = PACKET_OTHERHOST;
      else if (reception === 1) pkttype = PACKET_HOST;
    }
    dv.setUint16(sll, AF_PACKET, true);
    bytes[sll + 2] = protocol >> 8; // network byte order, as the kernel writes it
    bytes[sll + 3] = protocol & 0xff;
    dv.setInt32(sll + 4, p.iface + 1, true);
    dv.setUint16(sll + 8, state.hatype, true);
    bytes[sll + 10] = pkttype;
    bytes[sll + 11] = halen;
  }
}

/**
 * Opens a pcap (micro- or nanosecond, either byte order) or pcapng (any byte order, several
 * sections and interfaces) file for reading into {@link Block}s, as a live capture yields
 * them. Reads the file header (and pcapng's interface descriptions before the first packet)
 * now; the packets as `blocks()` asks for them, in constant memory whatever the file's size.
 * Throws RingcapError "file_unreadable" when the file cannot be opened and "file_format"
 * when it is not a capture file this reads.
 *
 * `"-"` reads standard input instead (as `tcpdump -r -`): a file or a pipe, read once in order
 * in the same constant memory, byte offsets in errors counted from the start of the stream;
 * `close()` leaves standard input open. (A file named `-` is `"./-"`.)
 *
 * @example Count a saved file's IPv4 packets (no root needed)
 * ```ts
 * await using f = await openFile("trace.pcapng");
 * let ipv4 = 0;
 * for await (const block of f.blocks()) {
 *   for (const p of block) if (p.caplen >= 14 && p.getUint16(12) === 0x0800) ipv4++;
 * }
 * console.log(f.packets, "packets,", ipv4, "IPv4 on", f.interfaces.map((i) => i.name ?? i.linkType));
 * ```
 *
 * @example Read a capture piped in (`tcpdump -w - | bun count.ts`)
 * ```ts
 * await using f = await openFile("-");
 * for await (const block of f.blocks()) for (const p of block) console.log(p.timestampMs, p.length);
 * ```
 */
export async function openFile(path: string, options: OpenFileOptions = {}): Promise<CaptureFile> {
  const blockBytes = intOption(options.blockBytes, "blockBytes", { min: FIRST_PACKET + recordBytes(0), max: 1 << 30 }, DEFAULT_BLOCK_BYTES) & ~15;
  let fd = STDIN;
  if (path !== "-") {
    try {
      fd = openSync(path, "r");
    } catch (cause) {
      throw new RingcapError("file_unreadable", `cannot open ${path} for reading: ${(cause as Error).message}`, { cause });
    }
  }
  const source = new FdSource(fd, fd !== STDIN);
  // Errors name the input: the path, or "standard input".
  const label = fd === STDIN ? "standard input" : path;
  try {
    const input = new Input(source, label);
    await input.fill(24);
    if (input.avail < 4) throw new RingcapError("file_truncated", `${label}: truncated: the file ends at byte offset ${input.avail}, inside the file header`);
    const magic = input.dv.getUint32(0, true);
    let parser: Parser;
    if (magic === PCAPNG_SHB) {
      parser = new Parser(input, label, "pcapng", true, false);
    } else if (magic === PCAP_US || magic === PCAP_NS || swap32(magic) === PCAP_US || swap32(magic) === PCAP_NS) {
      if (input.avail < 24) throw new RingcapError("file_truncated", `${label}: truncated: the file ends at byte offset ${input.avail}, inside the 24-byte pcap file header`);
      const le = magic === PCAP_US || magic === PCAP_NS;
      parser = new Parser(input, label, "pcap", le, (le ? magic : swap32(magic)) === PCAP_NS);
      parser.pcapHeader();
    } else if (magic === PCAP_MODIFIED || swap32(magic) === PCAP_MODIFIED) {
      throw new RingcapError("file_format", `${label}: a "modified" (Kuznetzov) pcap file, which is not supported: rewrite it with \`tcpdump -r ${path} -w out.pcap\``);
    } else {
      throw new RingcapError("file_format", `${label}: not a pcap or pcapng file (magic ${hex(magic)} at byte offset 0)`);
    }
    // pcapng: read the section header and the interface descriptions up to the first packet,
    // so `interfaces` is known before the first block. An error here is left for the first
    // nextBlock() to throw (the record is read again), as it would be after good packets.
    if (parser.format === "pcapng") {
      for (;;) {
        let r: number;
        try {
          r = parser.step();
        } catch {
          break;
        }
        if (r === SKIPPED) continue;
        if (r === NEED && !input.eof) {
          await input.fill(parser.need);
          continue;
        }
        break;
      }
    }
    return new CaptureFile(path, source, input, parser, blockBytes);
  } catch (e) {
    source.close();
    throw e;
  }
}

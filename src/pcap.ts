/**
 * Writes captured packets to pcap (nanosecond variant) or pcapng files that tcpdump, tshark
 * and Wireshark read. Records are gathered in one reusable buffer and written with
 * `node:fs` `writeSync`, which Bun and Deno both provide: no allocation per packet.
 * @module
 */

import { closeSync, fstatSync, ftruncateSync, lstatSync, openSync, unlinkSync, writeSync } from "node:fs";
import { LINKTYPE } from "./decode.ts";
import { ClosedError, RingcapError } from "./errors.ts";
import { intOption, MAX_SNAPLEN } from "./options.ts";
import { type PacketView, VLAN_TAG_BYTES } from "./packet.ts";

/** The file format: classic pcap with nanosecond timestamps, or pcapng. */
export type PcapFormat = "pcap" | "pcapng";

/**
 * The pcap LINKTYPE for an interface's ARPHRD type (`CaptureInfo.arpType`): AF_PACKET's raw
 * sockets give Ethernet framing on Ethernet and on loopback (a fake Ethernet header), raw IP
 * on ARPHRD_NONE (tun).
 */
export function linkTypeFor(arpType: number): number {
  return arpType === ARPHRD_NONE ? LINKTYPE.RAW : LINKTYPE.ETHERNET;
}

const ARPHRD_NONE = 0xfffe;


/** Options for {@link PcapWriter.open}. */
export interface PcapWriterOptions {
  /** The file format. @default "pcapng" when the path ends in .pcapng, else "pcap" */
  format?: PcapFormat;
  /** The LINKTYPE_* of the frames. @default 1 (Ethernet) */
  linkType?: number;
  /** Longest captured length kept per packet; longer data is truncated. @default MAX_SNAPLEN */
  snaplen?: number;
  /** The interface name recorded in the pcapng Interface Description Block (if_name). @default none */
  ifName?: string;
  /**
   * pcapng only: one Interface Description Block per entry, in order, and each packet written
   * with `writePacket` tagged with the one whose `ifindex` it came through (the first for an
   * index not listed): what a capture of several interfaces writes (`CaptureInfo.interfaces`
   * and `ifindexes`). Replaces `ifName`.
   */
  interfaces?: ReadonlyArray<{ name: string; ifindex: number }>;
  /**
   * The timestamps' precision (tcpdump's `--time-stamp-precision`): "nano" writes a nanosecond
   * pcap (magic a1b23c4d) or pcapng with if_tsresol 9; "micro" a microsecond pcap (magic
   * a1b2c3d4, what every reader takes) or pcapng with if_tsresol 6, each time cut to its
   * microsecond (as libpcap does). @default "nano"
   */
  precision?: TimestampPrecision;
}

/** The precision of a file's timestamps: microseconds or nanoseconds. */
export type TimestampPrecision = "micro" | "nano";

const BUFFER_BYTES = 1 << 20;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 0x00000001;
const PCAPNG_EPB = 0x00000006;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const EPB_FIXED_BYTES = 32;
/** An Enhanced Packet Block up to its packet data. */
const EPB_HEADER_BYTES = 28;
const PCAP_RECORD_HEADER_BYTES = 16;
const TWO_32 = 0x1_0000_0000;
const USER_APPL = new TextEncoder().encode("ringcap");
// A non-blocking stdout can refuse a write; wait and retry a bounded number of times.
const EAGAIN_RETRIES = 10_000;
const _sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * A pcap or pcapng file being written. The file header is written when the file opens;
 * packets are buffered (about 1 MiB) and reach the file when the buffer fills, on `flush()`
 * and on `close()`. Call `flush()` on a timer (or after each packet) to bound what a crash
 * or SIGKILL can lose: the file always ends on a whole record.
 *
 * When a write fails (disk full, a closed pipe) the writer closes itself; a file it opened by
 * path is cut back to its last whole record, so it holds exactly `flushedPackets` packets,
 * and tcpdump reads it without complaint.
 *
 * @example Save 1000 packets from eth0 (run as root)
 * ```ts
 * using cap = openCapture("eth0");
 * using out = PcapWriter.open("eth0.pcapng", { ifName: "eth0" });
 * for await (const block of cap.blocks()) {
 *   for (const p of block) out.writePacket(p);
 *   if (out.packets >= 1000) break;
 * }
 * ```
 */
export class PcapWriter {
  /** The path (or "fd N") in error messages. */
  readonly path: string;
  readonly format: PcapFormat;
  readonly linkType: number;
  readonly snaplen: number;
  /** The timestamps' precision. */
  readonly precision: TimestampPrecision;
  #fd: number;
  #ownsFd: boolean;
  #closed = false;
  #buf = new Uint8Array(BUFFER_BYTES);
  #dv = new DataView(this.#buf.buffer);
  #used = 0;
  #packets = 0;
  #bytes = 0;
  /** Whole records in the buffer (the buffer never holds part of a record). */
  #bufferedPackets = 0;
  /** Bytes the file holds for sure: written out, whole records only. */
  #fileBytes = 0;
  /** Packets whose records are in the file in full. */
  #filePackets = 0;
  /** pcapng interface ids by ifindex, with several interfaces; null with one. */
  #interfaceIds: Map<number, number> | null = null;

  private constructor(fd: number, ownsFd: boolean, label: string, format: PcapFormat, linkType: number, snaplen: number, precision: TimestampPrecision) {
    this.precision = precision;
    this.#fd = fd;
    this.#ownsFd = ownsFd;
    this.path = label;
    this.format = format;
    this.linkType = linkType;
    this.snaplen = snaplen;
  }

  /**
   * Creates (or truncates) `target` and writes the file header. A number is taken as an open
   * file descriptor, written to but not closed by `close()`.
   * Throws RingcapError "file_unwritable" with the system's reason when the file cannot be opened.
   *
   * @example
   * ```ts
   * using w = PcapWriter.open("out.pcap", { snaplen: 128 });
   * w.write(frame, frame.length, 1_700_000_000, 123_456_789);
   * ```
   */
  static open(target: string | number, options: PcapWriterOptions = {}): PcapWriter {
    const linkType = intOption(options.linkType, "linkType", { min: 0, max: 0xffff }, LINKTYPE.ETHERNET);
    const snaplen = intOption(options.snaplen, "snaplen", { min: 1, max: 0x7fffffff }, MAX_SNAPLEN);
    const format = options.format ?? (typeof target === "string" && target.endsWith(".pcapng") ? "pcapng" : "pcap");
    if (format !== "pcap" && format !== "pcapng") {
      throw new RingcapError("invalid_argument", `format must be "pcap" or "pcapng", got ${JSON.stringify(format)}`);
    }
    const precision = options.precision ?? "nano";
    if (precision !== "micro" && precision !== "nano") {
      throw new RingcapError("invalid_argument", `precision must be "micro" or "nano", got ${JSON.stringify(precision)}`);
    }
    const interfaces = writerInterfaces(options, format);
    let fd: number;
    if (typeof target === "number") {
      if (!Number.isInteger(target) || target < 0) throw new RingcapError("invalid_argument", `not a file descriptor: ${target}`);
      fd = target;
    } else {
      try {
        fd = openSync(target, "w");
      } catch (cause) {
        throw new RingcapError("file_unwritable", `cannot open ${target} for writing: ${(cause as Error).message}`, {
          errno: _errno(cause),
          cause,
        });
      }
    }
    const w = new PcapWriter(fd, typeof target === "string", typeof target === "string" ? target : `fd ${target}`, format, linkType, snaplen, precision);
    if (format === "pcap") w.#pcapHeader();
    else {
      w.#pcapngHeader(interfaces.map((i) => i.name));
      if (interfaces.length > 1) w.#interfaceIds = new Map(interfaces.map((i, id) => [i.ifindex, id]));
    }
    // The header goes out now: a file that cannot take it (disk full) fails here, before any
    // capture, and a file that is cut short later still starts as a capture file.
    const regular = typeof target === "string" ? _regularFile(fd) : null;
    try {
      w.#flushBuffer();
    } catch (e) {
      // Leave no empty file that looks like a capture: remove what this open created, when the
      // path still names that same regular file (never a device such as /dev/full).
      if (regular && typeof target === "string") _unlinkIfSame(target, regular);
      throw e;
    }
    return w;
  }

  /**
   * The pcapng interface id of the interface with index `ifindex` (see `interfaces`): 0 for
   * an index not listed, and always with one interface.
   */
  interfaceIdOf(ifindex: number): number {
    return this.#interfaceIds?.get(ifindex) ?? 0;
  }

  /** Packets written so far. */
  get packets(): number {
    return this.#packets;
  }

  /** Bytes of file produced so far, headers included, counting what is still in the buffer. */
  get bytesWritten(): number {
    return this.#bytes;
  }

  /**
   * Packets that have reached the file in full (not those still in the buffer). After a
   * successful `close()` it equals `packets`; after a failed write it is what the file holds.
   */
  get flushedPackets(): number {
    return this.#filePackets;
  }

  /** True once closed: by `close()`, or by a failed write. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds one packet: `data` is the captured bytes (copied at once, so a view over the ring is
   * fine), `wireLength` the length on the wire, the time as seconds and nanoseconds.
   * Data beyond `snaplen` is dropped from the record, as a capture would.
   */
  write(data: Uint8Array, wireLength: number, sec: number, nsec: number, interfaceId = 0): void {
    const captured = this.#checkRecord(data.length, wireLength, sec, nsec);
    const bytes = data.length === captured ? data : data.subarray(0, captured);
    const total = this.#recordBytes(captured);
    if (!(interfaceId === 0 || (this.#interfaceIds && Number.isInteger(interfaceId) && interfaceId >= 0 && interfaceId < this.#interfaceIds.size))) {
      throw new RingcapError("invalid_argument", `interfaceId ${interfaceId} names no interface of this file`);
    }
    if (total > this.#buf.length) {
      this.#writeLarge(bytes, wireLength, sec, nsec, interfaceId);
      return;
    }
    this.#reserve(total);
    this.#buf.set(bytes, this.#recordHeader(this.#used, total, captured, wireLength, sec, nsec, interfaceId));
    this.#endRecord(total, captured);
  }

  /**
   * Adds a captured packet straight from the ring, with a VLAN tag the kernel stripped put back
   * and its wire length counting the tag (`p.wireLength`): one copy, no allocation.
   *
   * @example
   * ```ts
   * for (const p of block) out.writePacket(p);
   * ```
   */
  writePacket(p: PacketView): void {
    const length = p.caplen + (p.vlanValid ? VLAN_TAG_BYTES : 0);
    const total = this.#recordBytes(length);
    const id = this.#interfaceIds === null ? 0 : this.interfaceIdOf(p.ifindex);
    // Cut by snaplen, or larger than the buffer: the general path.
    if (length > this.snaplen || total > this.#buf.length) {
      this.write(p.withVlanTag(), p.wireLength, p.sec, p.nsec, id);
      return;
    }
    this.#checkRecord(length, p.wireLength, p.sec, p.nsec);
    this.#reserve(total);
    p.copyWithVlanTag(this.#buf, this.#recordHeader(this.#used, total, length, p.wireLength, p.sec, p.nsec, id));
    this.#endRecord(total, length);
  }

  /** Checks a record's lengths and time; returns the bytes it keeps (at most `snaplen`). */
  #checkRecord(length: number, wireLength: number, sec: number, nsec: number): number {
    if (this.#closed) throw new ClosedError("PcapWriter");
    const captured = Math.min(length, this.snaplen);
    if (!(wireLength >= captured && wireLength <= 0xffffffff && Number.isInteger(wireLength))) {
      throw new RingcapError("invalid_argument", `wireLength must be an integer from the captured length ${captured} to 2^32-1, got ${wireLength}`);
    }
    if (!(sec >= 0 && sec <= 0xffffffff && Number.isInteger(sec) && nsec >= 0 && nsec < 1e9 && Number.isInteger(nsec))) {
      throw new RingcapError("invalid_argument", `time must be whole seconds (0 to 2^32-1) and nanoseconds (0 to 999999999), got ${sec}, ${nsec}`);
    }
    return captured;
  }

  /** The size of a record of `captured` bytes, headers and padding included. */
  #recordBytes(captured: number): number {
    return this.format === "pcap" ? PCAP_RECORD_HEADER_BYTES + captured : EPB_FIXED_BYTES + ((captured + 3) & ~3);
  }

  /** Writes a record's header into the buffer at `at`; returns where its data goes. */
  #recordHeader(at: number, total: number, captured: number, wireLength: number, sec: number, nsec: number, interfaceId = 0): number {
    const dv = this.#dv;
    const micro = this.precision === "micro";
    // Microseconds are cut, not rounded, as libpcap cuts a nanosecond stamp.
    const frac = micro ? Math.floor(nsec / 1000) : nsec;
    const perSecond = micro ? 1e6 : 1e9;
    if (this.format === "pcap") {
      dv.setUint32(at, sec, true);
      dv.setUint32(at + 4, frac, true);
      dv.setUint32(at + 8, captured, true);
      dv.setUint32(at + 12, wireLength, true);
      return at + PCAP_RECORD_HEADER_BYTES;
    }
    // 64-bit nano- (or micro-) seconds since the epoch, split into 32-bit halves without
    // BigInt: each partial product stays below 2^53.
    const secLow = sec % 65536;
    const secHigh = (sec - secLow) / 65536;
    const upper = secHigh * perSecond; // to be scaled by 2^16
    const lower = secLow * perSecond + frac;
    const upperLow = upper % 65536;
    const mid = upperLow * 65536 + lower;
    const tsLow = mid % TWO_32;
    const tsHigh = (upper - upperLow) / 65536 + (mid - tsLow) / TWO_32;
    dv.setUint32(at, PCAPNG_EPB, true);
    dv.setUint32(at + 4, total, true);
    dv.setUint32(at + 8, interfaceId, true);
    dv.setUint32(at + 12, tsHigh, true);
    dv.setUint32(at + 16, tsLow, true);
    dv.setUint32(at + 20, captured, true);
    dv.setUint32(at + 24, wireLength, true);
    return at + EPB_HEADER_BYTES;
  }

  /** Completes the record of `total` bytes whose data was just put at the buffer's end. */
  #endRecord(total: number, captured: number): void {
    if (this.format === "pcapng") {
      const at = this.#used;
      this.#buf.fill(0, at + EPB_HEADER_BYTES + captured, at + total - 4);
      this.#dv.setUint32(at + total - 4, total, true);
    }
    this.#used += total;
    this.#bytes += total;
    this.#packets++;
    this.#bufferedPackets++;
  }

  /** Writes the buffered records to the file. */
  flush(): void {
    if (this.#closed) throw new ClosedError("PcapWriter");
    this.#flushBuffer();
  }

  /** Flushes and closes the file; calling it again does nothing. Throws if the last write fails. */
  close(): void {
    if (this.#closed) return;
    try {
      this.#flushBuffer();
    } finally {
      this.#release(true);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #pcapHeader(): void {
    const dv = this.#dv;
    dv.setUint32(0, this.precision === "micro" ? PCAP_MAGIC_US : PCAP_MAGIC_NS, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setInt32(8, 0, true); // thiszone
    dv.setUint32(12, 0, true); // sigfigs
    dv.setUint32(16, this.snaplen, true);
    dv.setUint32(20, this.linkType, true);
    this.#used = this.#bytes = 24;
  }

  #pcapngHeader(ifNames: ReadonlyArray<string | undefined>): void {
    const dv = this.#dv;
    let at = 0;
    const option = (code: number, value: Uint8Array) => {
      dv.setUint16(at, code, true);
      dv.setUint16(at + 2, value.length, true);
      this.#buf.set(value, at + 4);
      const padded = (value.length + 3) & ~3;
      this.#buf.fill(0, at + 4 + value.length, at + 4 + padded);
      at += 4 + padded;
    };
    const block = (type: number, body: () => void) => {
      const start = at;
      dv.setUint32(at, type, true);
      at += 8;
      body();
      dv.setUint32(at, 0, true); // opt_endofopt
      at += 4;
      const total = at + 4 - start;
      dv.setUint32(start + 4, total, true);
      dv.setUint32(at, total, true);
      at += 4;
    };
    block(PCAPNG_SHB, () => {
      dv.setUint32(at, PCAPNG_BYTE_ORDER_MAGIC, true);
      dv.setUint16(at + 4, 1, true);
      dv.setUint16(at + 6, 0, true);
      dv.setInt32(at + 8, -1, true); // section length unknown: -1 as a 64-bit value
      dv.setInt32(at + 12, -1, true);
      at += 16;
      option(4, USER_APPL); // shb_userappl
    });
    for (const name of ifNames) {
      block(PCAPNG_IDB, () => {
        dv.setUint16(at, this.linkType, true);
        dv.setUint16(at + 2, 0, true);
        dv.setUint32(at + 4, this.snaplen, true);
        at += 8;
        if (name !== undefined) option(2, new TextEncoder().encode(name)); // if_name
        option(9, Uint8Array.of(this.precision === "micro" ? 6 : 9)); // if_tsresol: 10^-6 or 10^-9 s
      });
    }
    this.#used = this.#bytes = at;
  }

  /** Makes room for a record of `n` bytes (at most the buffer's size) in the buffer. */
  #reserve(n: number): void {
    if (this.#used + n > this.#buf.length) this.#flushBuffer();
  }

  /**
   * A record larger than the buffer: the buffer goes out first, then the record in three
   * writes (its header, built at the buffer's start; the data; the trailer: padding and, in
   * pcapng, the length again). A failure part-way cuts the file back to before the record.
   */
  #writeLarge(bytes: Uint8Array, wireLength: number, sec: number, nsec: number, interfaceId: number): void {
    this.#flushBuffer();
    const captured = bytes.length;
    const total = this.#recordBytes(captured);
    const headBytes = this.#recordHeader(0, total, captured, wireLength, sec, nsec, interfaceId);
    const pad = this.format === "pcapng" ? total - EPB_HEADER_BYTES - captured - 4 : 0;
    const tail = new Uint8Array(this.format === "pcapng" ? pad + 4 : 0);
    if (this.format === "pcapng") new DataView(tail.buffer).setUint32(pad, total, true);
    for (const part of [this.#buf.subarray(0, headBytes), bytes, tail]) {
      const failure = this.#writeAll(part);
      // Nothing of this record counts (the buffer is empty): the file is cut back to before it.
      if (failure) this.#fail(failure, 0);
    }
    this.#fileBytes += total;
    this.#bytes += total;
    this.#packets++;
    this.#filePackets++;
  }

  #flushBuffer(): void {
    if (this.#used === 0) return;
    const n = this.#used;
    const failure = this.#writeAll(this.#buf.subarray(0, n));
    if (failure) this.#fail(failure, failure.done);
    this.#used = 0;
    this.#fileBytes += n;
    this.#filePackets += this.#bufferedPackets;
    this.#bufferedPackets = 0;
  }

  /** Writes all of `bytes`; on failure, returns the error and how many bytes did go out. */
  #writeAll(bytes: Uint8Array): { cause: unknown; done: number } | null {
    let done = 0;
    let retries = 0;
    while (done < bytes.length) {
      try {
        done += writeSync(this.#fd, bytes, done, bytes.length - done);
      } catch (cause) {
        const code = (cause as { code?: string }).code;
        if (code === "EAGAIN" && retries++ < EAGAIN_RETRIES) {
          Atomics.wait(_sleeper, 0, 0, 1);
          continue;
        }
        return { cause, done };
      }
    }
    return null;
  }

  /**
   * After a failed write of which `done` bytes of the buffer went out: counts the whole
   * records among them, cuts a file this writer opened back to its last whole record, closes
   * the writer and throws "disk_full" (ENOSPC, EDQUOT) or "write_failed" (EPIPE for a reader
   * that has gone, among others) with the system's reason.
   */
  #fail(failure: { cause: unknown; done: number }, done: number): never {
    let whole = 0;
    let at = 0;
    const headerBytes = this.format === "pcap" ? PCAP_RECORD_HEADER_BYTES : 8;
    for (let n = 0; n < this.#bufferedPackets && at + headerBytes <= done; n++) {
      const size = this.format === "pcap" ? PCAP_RECORD_HEADER_BYTES + this.#dv.getUint32(at + 8, true) : this.#dv.getUint32(at + 4, true);
      if (at + size > done) break;
      at += size;
      whole++;
    }
    this.#filePackets += whole;
    this.#fileBytes += at;
    if (this.#ownsFd) {
      try {
        ftruncateSync(this.#fd, this.#fileBytes);
      } catch {
        // Not a regular file, or it cannot be cut: what was written stays as it is.
      }
    }
    this.#release(false);
    const { cause } = failure;
    const code = (cause as { code?: string }).code;
    const full = code === "ENOSPC" || code === "EDQUOT";
    throw new RingcapError(
      full ? "disk_full" : "write_failed",
      `cannot write to ${this.path}: ${(cause as Error).message}${full ? ": free some space or write elsewhere" : ""}`,
      { errno: _errno(cause), cause },
    );
  }

  /**
   * Marks the writer closed and closes the file. After a failed write the write's error is the
   * one to report; on a normal close a failing close(2) (NFS, for one) can mean lost data.
   */
  #release(reportCloseError: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#used = 0;
    if (!this.#ownsFd) return;
    try {
      closeSync(this.#fd);
    } catch (cause) {
      if (reportCloseError) {
        throw new RingcapError("write_failed", `cannot close ${this.path}: ${(cause as Error).message}`, { errno: _errno(cause), cause });
      }
    }
  }
}

/** The identity of the regular file open as `fd`, or null for anything else (a device, a pipe). */
function _regularFile(fd: number): { dev: number; ino: number } | null {
  try {
    const st = fstatSync(fd);
    return st.isFile() ? { dev: st.dev, ino: st.ino } : null;
  } catch {
    return null;
  }
}

/** Removes `path` if it is still the regular file `file` (not a link to it, not another file). */
function _unlinkIfSame(path: string, file: { dev: number; ino: number }): void {
  try {
    const st = lstatSync(path);
    if (st.isFile() && st.dev === file.dev && st.ino === file.ino) unlinkSync(path);
  } catch {
    // Gone already, or not ours to remove.
  }
}

function _errno(e: unknown): number | undefined {
  const n = (e as { errno?: number }).errno;
  return typeof n === "number" ? Math.abs(n) : undefined;
}

/**
 * The writer options that describe a capture's interfaces (`CaptureInfo.interfaces` and
 * `ifindexes`): several, each by name and index, or one by name.
 *
 * @example
 * ```ts
 * using w = PcapWriter.open("both.pcapng", { linkType: cap.info.linkType, ...interfaceOptions(cap.info) });
 * ```
 */
export function interfaceOptions(info: { interfaces: readonly string[]; ifindexes: readonly number[] }): Pick<PcapWriterOptions, "ifName" | "interfaces"> {
  if (info.ifindexes.length <= 1) return { ifName: info.interfaces.join(",") };
  return { interfaces: info.interfaces.map((name, i) => ({ name, ifindex: info.ifindexes[i] })) };
}

/** The interfaces a writer's pcapng header describes: `interfaces`, or one (named `ifName`). */
function writerInterfaces(options: PcapWriterOptions, format: PcapFormat): ReadonlyArray<{ name?: string; ifindex: number }> {
  const list = options.interfaces;
  if (list === undefined) return [{ name: options.ifName, ifindex: 0 }];
  if (!Array.isArray(list) || list.length === 0 || list.length > 255) {
    throw new RingcapError("invalid_argument", "interfaces must be a list of 1 to 255 { name, ifindex } entries");
  }
  if (format !== "pcapng" && list.length > 1) {
    throw new RingcapError("invalid_argument", `a pcap file has no field for the interface: ${list.length} interfaces need pcapng`);
  }
  for (const i of list) {
    if (typeof i?.name !== "string" || !Number.isInteger(i.ifindex)) {
      throw new RingcapError("invalid_argument", `each interface needs a name (a string) and an ifindex (an integer), got ${JSON.stringify(i)}`);
    }
  }
  return list;
}

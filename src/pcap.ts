/**
 * Writes captured packets to pcap (nanosecond variant) or pcapng files that tcpdump, tshark
 * and Wireshark read. Records are gathered in one reusable buffer and written with
 * `node:fs` `writeSync`, which Bun and Deno both provide: no allocation per packet.
 * @module
 */

import { closeSync, openSync, writeSync } from "node:fs";
import { ClosedError, RingcapError } from "./errors.ts";
import { intOption, MAX_SNAPLEN } from "./options.ts";

/** The file format: classic pcap with nanosecond timestamps, or pcapng. */
export type PcapFormat = "pcap" | "pcapng";

/**
 * The pcap LINKTYPE for an interface's ARPHRD type (`CaptureInfo.arpType`): AF_PACKET's raw
 * sockets give Ethernet framing on Ethernet and on loopback (a fake Ethernet header), raw IP
 * on ARPHRD_NONE (tun).
 */
export function linkTypeFor(arpType: number): number {
  switch (arpType) {
    case 1: // ARPHRD_ETHER
    case 772: // ARPHRD_LOOPBACK
      return LINKTYPE_ETHERNET;
    case 0xfffe: // ARPHRD_NONE
      return LINKTYPE_RAW;
    default:
      return LINKTYPE_ETHERNET;
  }
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;

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
}

const BUFFER_BYTES = 1 << 20;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 0x00000001;
const PCAPNG_EPB = 0x00000006;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const EPB_FIXED_BYTES = 32;
const PCAP_RECORD_HEADER_BYTES = 16;
const TWO_32 = 0x1_0000_0000;
const USER_APPL = new TextEncoder().encode("ringcap");
// A non-blocking stdout can refuse a write; wait and retry a bounded number of times.
const EAGAIN_RETRIES = 10_000;
const _sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * A pcap or pcapng file being written. Packets are buffered (about 1 MiB) and reach the file
 * when the buffer fills, on `flush()` and on `close()`.
 *
 * @example Save 1000 packets from eth0 (run as root)
 * ```ts
 * using cap = openCapture("eth0");
 * using out = PcapWriter.open("eth0.pcapng", { ifName: "eth0" });
 * for await (const block of cap.blocks()) {
 *   for (const p of block) out.write(p.bytes, p.length, p.sec, p.nsec);
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
  #fd: number;
  #ownsFd: boolean;
  #closed = false;
  #buf = new Uint8Array(BUFFER_BYTES);
  #dv = new DataView(this.#buf.buffer);
  #used = 0;
  #packets = 0;
  #bytes = 0;

  private constructor(fd: number, ownsFd: boolean, label: string, format: PcapFormat, linkType: number, snaplen: number) {
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
    const linkType = intOption(options.linkType, "linkType", { min: 0, max: 0xffff }, LINKTYPE_ETHERNET);
    const snaplen = intOption(options.snaplen, "snaplen", { min: 1, max: 0x7fffffff }, MAX_SNAPLEN);
    const format = options.format ?? (typeof target === "string" && target.endsWith(".pcapng") ? "pcapng" : "pcap");
    if (format !== "pcap" && format !== "pcapng") {
      throw new RingcapError("invalid_argument", `format must be "pcap" or "pcapng", got ${JSON.stringify(format)}`);
    }
    const ifName = options.ifName === undefined ? null : new TextEncoder().encode(options.ifName);
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
    const w = new PcapWriter(fd, typeof target === "string", typeof target === "string" ? target : `fd ${target}`, format, linkType, snaplen);
    if (format === "pcap") w.#pcapHeader();
    else w.#pcapngHeader(ifName);
    return w;
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
   * Adds one packet: `data` is the captured bytes (copied at once, so a view over the ring is
   * fine), `wireLength` the length on the wire, the time as seconds and nanoseconds.
   * Data beyond `snaplen` is dropped from the record, as a capture would.
   */
  write(data: Uint8Array, wireLength: number, sec: number, nsec: number): void {
    if (this.#closed) throw new ClosedError("PcapWriter");
    const captured = Math.min(data.length, this.snaplen);
    if (!(wireLength >= captured && wireLength <= 0xffffffff && Number.isInteger(wireLength))) {
      throw new RingcapError("invalid_argument", `wireLength must be an integer from the captured length ${captured} to 2^32-1, got ${wireLength}`);
    }
    if (!(sec >= 0 && sec <= 0xffffffff && Number.isInteger(sec) && nsec >= 0 && nsec < 1e9 && Number.isInteger(nsec))) {
      throw new RingcapError("invalid_argument", `time must be whole seconds (0 to 2^32-1) and nanoseconds (0 to 999999999), got ${sec}, ${nsec}`);
    }
    const bytes = data.length === captured ? data : data.subarray(0, captured);
    if (this.format === "pcap") {
      this.#reserve(PCAP_RECORD_HEADER_BYTES);
      const dv = this.#dv;
      const at = this.#used;
      dv.setUint32(at, sec, true);
      dv.setUint32(at + 4, nsec, true);
      dv.setUint32(at + 8, captured, true);
      dv.setUint32(at + 12, wireLength, true);
      this.#used += PCAP_RECORD_HEADER_BYTES;
      this.#data(bytes);
      this.#bytes += PCAP_RECORD_HEADER_BYTES + captured;
    } else {
      const padded = (captured + 3) & ~3;
      const total = EPB_FIXED_BYTES + padded;
      // 64-bit nanoseconds since the epoch, split into 32-bit halves without BigInt:
      // each partial product stays below 2^53.
      const secLow = sec % 65536;
      const secHigh = (sec - secLow) / 65536;
      const upper = secHigh * 1e9; // to be scaled by 2^16
      const lower = secLow * 1e9 + nsec;
      const upperLow = upper % 65536;
      const mid = upperLow * 65536 + lower;
      const tsLow = mid % TWO_32;
      const tsHigh = (upper - upperLow) / 65536 + (mid - tsLow) / TWO_32;
      this.#reserve(28);
      const dv = this.#dv;
      const at = this.#used;
      dv.setUint32(at, PCAPNG_EPB, true);
      dv.setUint32(at + 4, total, true);
      dv.setUint32(at + 8, 0, true);
      dv.setUint32(at + 12, tsHigh, true);
      dv.setUint32(at + 16, tsLow, true);
      dv.setUint32(at + 20, captured, true);
      dv.setUint32(at + 24, wireLength, true);
      this.#used += 28;
      this.#data(bytes);
      this.#reserve(8);
      const end = this.#used;
      for (let i = captured; i < padded; i++) this.#buf[end + i - captured] = 0;
      dv.setUint32(end + padded - captured, total, true);
      this.#used += padded - captured + 4;
      this.#bytes += total;
    }
    this.#packets++;
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
    dv.setUint32(0, PCAP_MAGIC_NS, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setInt32(8, 0, true); // thiszone
    dv.setUint32(12, 0, true); // sigfigs
    dv.setUint32(16, this.snaplen, true);
    dv.setUint32(20, this.linkType, true);
    this.#used = this.#bytes = 24;
  }

  #pcapngHeader(ifName: Uint8Array | null): void {
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
    block(PCAPNG_IDB, () => {
      dv.setUint16(at, this.linkType, true);
      dv.setUint16(at + 2, 0, true);
      dv.setUint32(at + 4, this.snaplen, true);
      at += 8;
      if (ifName) option(2, ifName); // if_name
      option(9, Uint8Array.of(9)); // if_tsresol: 10^-9 s
    });
    this.#used = this.#bytes = at;
  }

  /** Makes room for `n` bytes (n is small) in the buffer. */
  #reserve(n: number): void {
    if (this.#used + n > this.#buf.length) this.#flushBuffer();
  }

  /** Copies packet bytes into the buffer, or writes them straight through when they do not fit. */
  #data(bytes: Uint8Array): void {
    if (this.#used + bytes.length > this.#buf.length) {
      this.#flushBuffer();
      if (bytes.length > this.#buf.length) {
        this.#writeAll(bytes);
        return;
      }
    }
    this.#buf.set(bytes, this.#used);
    this.#used += bytes.length;
  }

  #flushBuffer(): void {
    if (this.#used === 0) return;
    const n = this.#used;
    this.#used = 0;
    this.#writeAll(this.#buf.subarray(0, n));
  }

  #writeAll(bytes: Uint8Array): void {
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
        this.#release(false);
        const full = code === "ENOSPC" || code === "EDQUOT";
        throw new RingcapError(
          full ? "disk_full" : "write_failed",
          `cannot write to ${this.path}: ${(cause as Error).message}${full ? ": free some space or write elsewhere" : ""}`,
          { errno: _errno(cause), cause },
        );
      }
    }
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

function _errno(e: unknown): number | undefined {
  const n = (e as { errno?: number }).errno;
  return typeof n === "number" ? Math.abs(n) : undefined;
}

/**
 * Capture files that rotate as tcpdump's `-C`, `-G`, `-W` and `-z` rotate them: a
 * {@link RotatingWriter} writes like a {@link PcapWriter} and starts a new file (its own header,
 * pcapng SHB and IDBs included, so each file is complete on its own) by size, by time, or both,
 * keeping a ring of files or stopping after a number of them.
 * @module
 */

import { RingcapError } from "./errors.ts";
import type { PacketView } from "./packet.ts";
import { type PcapFormat, PcapWriter, type PcapWriterOptions } from "./pcap.ts";

/** When {@link RotatingWriter} starts a new file, and how many it keeps. */
export interface RotateOptions {
  /**
   * tcpdump -C, in bytes (tcpdump's -C MB is MB x 1,000,000): before each packet, a file that
   * already holds more than this many bytes (its header included) is closed and the next one
   * started. A file thus exceeds it by at most one record. 0 or absent: no size rule.
   */
  maxBytes?: number;
  /**
   * tcpdump -G: before each packet, once this many seconds of the clock (`now`, whole seconds)
   * have passed since the current file was started by time, a new one is started; the path's
   * strftime patterns (`%Y%m%d-%H%M%S`) are expanded with the local time of that moment.
   * 0 or absent: no time rule.
   */
  seconds?: number;
  /**
   * tcpdump -W: with `maxBytes`, a ring of this many files (numbered 0 to files-1, zero padded
   * to the digits of files-1; the oldest is overwritten); with `seconds` alone, the writer
   * stops after this many files (`write` then returns false and `done` is true).
   */
  files?: number;
  /** Called with each file's path as a rotation closes it (tcpdump -z runs its command there); not for the last file, closed by `close()`. */
  onRotate?: (closedPath: string) => void;
  /** The clock for `seconds`, in milliseconds. @default Date.now */
  now?: () => number;
}

/**
 * The file name tcpdump gives a rotated file: `pattern` with strftime patterns expanded (when
 * `time` is given), then the number `index`, zero padded to `digits` (none when both are 0).
 *
 * @example
 * ```ts
 * rotatedName("ring.pcap", 2, 1); // "ring.pcap2"
 * rotatedName("cap-%H%M.pcap", 0, 0, new Date(2026, 0, 1, 9, 5)); // "cap-0905.pcap"
 * ```
 */
export function rotatedName(pattern: string, index: number, digits: number, time?: Date): string {
  const base = time ? strftime(pattern, time) : pattern;
  if (index === 0 && digits === 0) return base;
  return base + String(index).padStart(digits, "0");
}

/** tcpdump's padding for -W COUNT: the digits of COUNT-1 (none for 1). */
export function ringDigits(files: number): number {
  let c = 0;
  for (let x = files - 1; x > 0; x = Math.floor(x / 10)) c++;
  return c;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** The strftime patterns file names use, in local time, as the C library expands them in the C locale. */
export function strftime(pattern: string, t: Date): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  return pattern.replace(/%(.)/g, (all, c: string) => {
    switch (c) {
      case "Y": return String(t.getFullYear());
      case "y": return p2(t.getFullYear() % 100);
      case "m": return p2(t.getMonth() + 1);
      case "d": return p2(t.getDate());
      case "e": return String(t.getDate()).padStart(2, " ");
      case "H": return p2(t.getHours());
      case "M": return p2(t.getMinutes());
      case "S": return p2(t.getSeconds());
      case "j": {
        const start = new Date(t.getFullYear(), 0, 1);
        const day = Math.round((new Date(t.getFullYear(), t.getMonth(), t.getDate()).getTime() - start.getTime()) / 86_400_000) + 1;
        return String(day).padStart(3, "0");
      }
      case "s": return String(Math.floor(t.getTime() / 1000));
      case "F": return `${t.getFullYear()}-${p2(t.getMonth() + 1)}-${p2(t.getDate())}`;
      case "T": return `${p2(t.getHours())}:${p2(t.getMinutes())}:${p2(t.getSeconds())}`;
      case "a": return DAYS[t.getDay()];
      case "b": return MONTHS[t.getMonth()];
      case "%": return "%";
      default:
        throw new RingcapError("invalid_argument", `file name pattern ${JSON.stringify(pattern)}: ${all} is not a pattern ringcap expands (use %Y %y %m %d %e %H %M %S %j %s %F %T %a %b %%)`);
    }
  });
}

/**
 * A capture file that rotates as tcpdump -C/-G/-W rotates its -w file. It writes as a
 * {@link PcapWriter} does (one reusable buffer, no allocation per packet) and checks the rules
 * before each packet, so no packet is split across files, lost or written twice at a rotation;
 * each closed file is a complete pcap or pcapng file (its own header; pcapng: SHB and IDBs).
 *
 * @example A ring of three files of about 1 MB, as `tcpdump -w ring.pcap -C 1 -W 3` (as root)
 * ```ts
 * using cap = openCapture("eth0");
 * using out = RotatingWriter.open("ring.pcap", {}, { maxBytes: 1_000_000, files: 3 });
 * for await (const block of cap.blocks()) {
 *   for (const p of block) out.writePacket(p);
 *   if (out.packets >= 30_000) break;
 * }
 * // ring.pcap0, ring.pcap1, ring.pcap2 hold the newest packets
 * ```
 */
export class RotatingWriter {
  readonly #pattern: string;
  readonly #options: PcapWriterOptions;
  readonly #maxBytes: number;
  readonly #seconds: number;
  readonly #files: number;
  readonly #digits: number;
  readonly #onRotate?: (path: string) => void;
  readonly #now: () => number;
  #current: PcapWriter;
  /** Whole seconds of the clock when the current time period began. */
  #periodStart: number;
  #periods = 0;
  #index = 0;
  /** Packets in files already closed. */
  #closedPackets = 0;
  #closedBytes = 0;
  #done = false;

  private constructor(pattern: string, options: PcapWriterOptions, rotate: RotateOptions) {
    this.#pattern = pattern;
    this.#options = { ...options, format: options.format ?? (pattern.endsWith(".pcapng") ? "pcapng" : "pcap") };
    this.#maxBytes = nonNegative(rotate.maxBytes, "maxBytes");
    this.#seconds = nonNegative(rotate.seconds, "seconds");
    this.#files = nonNegative(rotate.files, "files");
    if (this.#files > 0 && !this.#maxBytes && !this.#seconds) {
      throw new RingcapError("invalid_argument", "files (tcpdump -W) needs maxBytes (-C) or seconds (-G): it counts rotated files");
    }
    this.#digits = this.#maxBytes && this.#files ? ringDigits(this.#files) : 0;
    this.#onRotate = rotate.onRotate;
    this.#now = rotate.now ?? Date.now;
    this.#periodStart = Math.floor(this.#now() / 1000);
    this.#current = PcapWriter.open(this.#name(), this.#options);
  }

  /**
   * Opens the first file: `pattern` (strftime patterns expanded with `seconds`), followed by
   * its number when `maxBytes` is set (none for the first without `files`, as tcpdump names them).
   * Throws as {@link PcapWriter.open} does, and RingcapError "invalid_argument" for wrong rules.
   */
  static open(pattern: string, options: PcapWriterOptions = {}, rotate: RotateOptions = {}): RotatingWriter {
    return new RotatingWriter(pattern, options, rotate);
  }

  /** The file being written now. */
  get path(): string {
    return this.#current.path;
  }

  get format(): PcapFormat {
    return this.#current.format;
  }

  /** Packets written, over every file. */
  get packets(): number {
    return this.#closedPackets + (this.#done ? 0 : this.#current.packets);
  }

  /** Packets that reached their files in full, over every file (see PcapWriter.flushedPackets). */
  get flushedPackets(): number {
    return this.#closedPackets + (this.#done ? 0 : this.#current.flushedPackets);
  }

  /** Bytes produced over every file, headers included. */
  get bytesWritten(): number {
    return this.#closedBytes + (this.#done ? 0 : this.#current.bytesWritten);
  }

  /** True once closed: by `close()`, a failed write, or the -W limit with -G alone. */
  get closed(): boolean {
    return this.#current.closed;
  }

  /** True once `files` files have been written with `seconds` alone (tcpdump -G -W: "Maximum file limit reached"). */
  get done(): boolean {
    return this.#done;
  }

  /** See PcapWriter.interfaceIdOf (the same in every file). */
  interfaceIdOf(ifindex: number): number {
    return this.#current.interfaceIdOf(ifindex);
  }

  /** As PcapWriter.write, after rotating if a rule says so; false (nothing written) once `done`. */
  write(data: Uint8Array, wireLength: number, sec: number, nsec: number, interfaceId = 0): boolean {
    if (!this.#rotateIfDue()) return false;
    this.#current.write(data, wireLength, sec, nsec, interfaceId);
    return true;
  }

  /** As PcapWriter.writePacket, after rotating if a rule says so; false (nothing written) once `done`. */
  writePacket(p: PacketView): boolean {
    if (!this.#rotateIfDue()) return false;
    this.#current.writePacket(p);
    return true;
  }

  flush(): void {
    this.#current.flush();
  }

  /** Flushes and closes the current file (no `onRotate` for it, as tcpdump -z skips the last file). */
  close(): void {
    this.#current.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** tcpdump's order: the time rule first (which starts the numbering again), then the size rule. */
  #rotateIfDue(): boolean {
    if (this.#done) return false;
    if (this.#seconds) {
      const t = Math.floor(this.#now() / 1000);
      if (t - this.#periodStart >= this.#seconds) {
        this.#periodStart = t;
        this.#periods++;
        this.#closeCurrent();
        if (!this.#maxBytes && this.#files && this.#periods >= this.#files) {
          this.#done = true;
          return false;
        }
        this.#index = 0;
        this.#current = PcapWriter.open(this.#name(), this.#options);
      }
    }
    if (this.#maxBytes && this.#current.bytesWritten > this.#maxBytes) {
      this.#closeCurrent();
      this.#index++;
      if (this.#files && this.#index >= this.#files) this.#index = 0;
      this.#current = PcapWriter.open(this.#name(), this.#options);
    }
    return true;
  }

  #closeCurrent(): void {
    const w = this.#current;
    w.close();
    this.#closedPackets += w.packets;
    this.#closedBytes += w.bytesWritten;
    this.#onRotate?.(w.path);
  }

  #name(): string {
    const time = this.#seconds ? new Date(this.#periodStart * 1000) : undefined;
    return rotatedName(this.#pattern, this.#index, this.#digits, time);
  }
}

function nonNegative(v: number | undefined, name: string): number {
  if (v === undefined) return 0;
  if (!(Number.isSafeInteger(v) && v >= 0)) throw new RingcapError("invalid_argument", `${name} must be a whole number >= 0, got ${v}`);
  return v;
}

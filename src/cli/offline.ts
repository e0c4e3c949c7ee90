/**
 * What every command that reads a saved file with `-r FILE` (or `-r -`, standard input) shares:
 * the filter compiled for the file's link type, snaplen and byte order on a handle reading a
 * file, as `tcpdump -r` compiles it, and run on each packet by libpcap's own bpf_filter
 * ({@link OfflineFilter}); tcpdump's "reading from file" line; which link types can be printed
 * and the interface names of this namespace. `capture -r` and `flows -r` both use it.
 * @module
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileFilter } from "../bpf/compile.ts";
import { libpcapCompileSaved, libpcapFilter } from "../bpf/libpcap.ts";
import type { BpfProgram } from "../bpf/program.ts";
import { decodesLinkType, LINKTYPE } from "../decode.ts";
import { RingcapError } from "../errors.ts";
import { interfacesByIndex } from "../interfaces.ts";
import type { CaptureFile } from "../file.ts";
import { MAX_SNAPLEN } from "../options.ts";
import type { PacketView } from "../packet.ts";
import { UsageError } from "./flags.ts";

/** tcpdump's names for the usual link types (pcap_datalink_val_to_name / _description). */
export const LINK_NAMES: Readonly<Record<number, string>> = {
  0: "NULL (BSD loopback)",
  1: "EN10MB (Ethernet)",
  101: "RAW (Raw IP)",
  105: "IEEE802_11 (802.11)",
  108: "LOOP (OpenBSD loopback)",
  113: "LINUX_SLL (Linux cooked v1)",
  127: "IEEE802_11_RADIO (802.11 plus radiotap header)",
  228: "IPV4 (Raw IPv4)",
  229: "IPV6 (Raw IPv6)",
  276: "LINUX_SLL2 (Linux cooked v2)",
};

/** A link type as tcpdump names it. */
export function linkName(linkType: number): string {
  return LINK_NAMES[linkType] ?? String(linkType);
}

/** tcpdump -r's first line on stderr. */
export function readingLine(path: string, linkType: number, snaplen: number): string {
  return `reading from file ${path}, link-type ${linkName(linkType)}, snapshot length ${snaplen}`;
}

/**
 * Throws the usage error for printing (or counting flows of) packets of a link type the decoder
 * does not read: `what` is what could not be done ("printed", "counted as flows").
 */
export function requireDecodable(path: string, linkType: number, what: string): void {
  if (decodesLinkType(linkType)) return;
  throw new UsageError(
    `${path} has link type ${linkName(linkType)}: only Ethernet, raw IP, Linux cooked (v1, v2) and loopback (NULL, LOOP) packets can be ${what}; rewrite them with -w`,
  );
}

/** tcpdump's warning for a Linux cooked v2 file: its interface indexes are resolved here, not where it was captured. */
export const SLL2_WARNING = "Warning: interface names might be incorrect";

let namesByIndex: Map<number, string> | null = null;

/**
 * The name of the interface with index `ifindex` in this process's network namespace, as
 * tcpdump resolves a Linux cooked v2 header's index; undefined when there is none (as without
 * sysfs). The names are read from /sys/class/net once and kept.
 */
export function localInterfaceName(ifindex: number): string | undefined {
  namesByIndex ??= interfacesByIndex();
  return namesByIndex.get(ifindex);
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * `expression` compiled as tcpdump -r compiles it, on a handle reading a file rather than a
 * dead one: libpcap's code depends on that. It maps the file's LINKTYPE to its DLT (raw IP's
 * 101 is no DLT), refuses `inbound`/`outbound`/`ifindex` where only a live Linux socket has
 * them (anything but Linux cooked), tests every BSD AF_INET6 value on loopback rather than
 * this host's, and compares a DLT_NULL family byte-swapped when the file's byte order is not
 * the host's. The handle reads a pcap header written for the purpose, in `littleEndian` order.
 */
function compileForSavefile(expression: string, linkType: number, snaplen: number, littleEndian: boolean): BpfProgram {
  const header = new DataView(new ArrayBuffer(24));
  header.setUint32(0, 0xa1b2c3d4, littleEndian);
  header.setUint16(4, 2, littleEndian);
  header.setUint16(6, 4, littleEndian);
  header.setUint32(16, snaplen, littleEndian);
  header.setUint32(20, linkType, littleEndian);
  // compileFilter refuses what no libpcap may see (a NUL in the expression) with its own error.
  if (expression.includes("\0")) return compileFilter(expression, { linkType, snaplen });
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), "ringcap-filter-"));
  } catch {
    // Nowhere to write the header: a dead handle compiles the same for most link types.
    return compileFilter(expression, { linkType, snaplen });
  }
  try {
    const path = join(dir, "header.pcap");
    writeFileSync(path, new Uint8Array(header.buffer));
    return libpcapCompileSaved({ expression, linkType, snaplen, optimize: true, netmask: FILE_NETMASK }, path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** tcpdump -r compiles with netmask 0 (no interface to ask), so `ip broadcast` tests 255.255.255.255 and 0.0.0.0. */
const FILE_NETMASK = 0;

/** A filter as the command line gave it: an expression to compile for the file, or a program. */
export interface OfflineFilterSource {
  expression?: string;
  program?: BpfProgram;
}

/**
 * The packets of a saved file a filter accepts, judged as `tcpdump -r` judges them: the
 * expression is compiled for the file's first interface's link type and snaplen, and run by
 * libpcap's bpf_filter on a copy of each packet. A packet of an interface with another link
 * type is an error (libpcap does not read such files either).
 */
export class OfflineFilter {
  /** The file's link type (its first interface's; Ethernet when it has none). */
  readonly linkType: number;
  /** The file's snaplen, MAX_SNAPLEN when it gives none: for compiling and for rewriting. */
  readonly snaplen: number;
  /** The program run on each packet; undefined without a filter. */
  readonly program?: BpfProgram;
  readonly #file: CaptureFile;
  /** DLT_NULL only: the program for frames whose family is in the other byte order. */
  readonly #swappedProgram?: BpfProgram;
  #scratch = new Uint8Array(1 << 16);

  constructor(file: CaptureFile, source: OfflineFilterSource) {
    const first = file.interfaces[0];
    // A pcapng file with no interface (and so no packet) is read as libpcap would: nothing to do.
    this.linkType = first ? first.linkType : LINKTYPE.ETHERNET;
    this.snaplen = first && first.snaplen > 0 ? first.snaplen : MAX_SNAPLEN;
    this.#file = file;
    // libpcap fails on reading an interface of another link type, before the packets after it:
    // those described before the first packet fail the file before any packet.
    file.interfaces.forEach((_, i) => this.#checkInterface(i));
    if (source.program || source.expression === undefined) {
      this.program = source.program;
      return;
    }
    this.program = compileForSavefile(source.expression, this.linkType, this.snaplen, HOST_LITTLE_ENDIAN);
    if (this.linkType === LINKTYPE.NULL) this.#swappedProgram = compileForSavefile(source.expression, this.linkType, this.snaplen, !HOST_LITTLE_ENDIAN);
  }

  /** tcpdump -r's "reading from file" line for this file, as opened under `path`. */
  readingLine(path: string): string {
    return readingLine(path, this.linkType, this.#file.interfaces[0]?.snaplen ?? 0);
  }

  /** Throws for interface `i` of the file when its link type is not the first's. */
  #checkInterface(i: number): void {
    const f = this.#file;
    const iface = f.interfaces[i];
    if (iface && iface.linkType !== this.linkType) {
      throw new RingcapError(
        "file_format",
        `${f.path}: interface ${i} has link type ${iface.linkType}, the first ${this.linkType}: files mixing link types are not supported (as in libpcap)`,
      );
    }
  }

  /** Whether the filter takes packet `p` of the file's current block; throws for a packet of another link type. */
  accepts(p: PacketView): boolean {
    const f = this.#file;
    this.#checkInterface(p.ifindex - 1);
    if (!this.program) return true;
    const caplen = p.caplen;
    if (caplen > this.#scratch.length) this.#scratch = new Uint8Array(caplen);
    const scratch = this.#scratch;
    scratch.set(f.bytes.subarray(p.offset, p.offset + caplen));
    let program = this.program;
    // A DLT_NULL family is in the byte order of the host that captured, the file's: a family is
    // small, so one whose high bytes (in this host's order) are set was written the other way.
    const high = HOST_LITTLE_ENDIAN ? scratch[2] | scratch[3] : scratch[0] | scratch[1];
    const low = HOST_LITTLE_ENDIAN ? scratch[0] | scratch[1] : scratch[2] | scratch[3];
    if (this.#swappedProgram && caplen >= 4 && high !== 0 && low === 0) {
      program = this.#swappedProgram;
    }
    return libpcapFilter(program, scratch, p.wireLength, caplen) !== 0;
  }
}

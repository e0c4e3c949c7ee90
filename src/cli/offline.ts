/**
 * What every command that reads a saved file with `-r FILE` (or `-r -`, standard input) shares:
 * the filter compiled for the file's link type and snaplen on a dead handle and run on each
 * packet by libpcap's own bpf_filter, as `tcpdump -r` runs it ({@link OfflineFilter}), and
 * tcpdump's "reading from file" line. `capture -r` and `flows -r` both use it.
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { compileFilter } from "../bpf/compile.ts";
import { libpcapFilter } from "../bpf/libpcap.ts";
import type { BpfProgram } from "../bpf/program.ts";
import { decodesLinkType, LINKTYPE } from "../decode.ts";
import { RingcapError } from "../errors.ts";
import type { CaptureFile } from "../file.ts";
import { MAX_SNAPLEN } from "../options.ts";
import type { PacketView } from "../packet.ts";
import { UsageError } from "./flags.ts";

export const LINKTYPE_ETHERNET = LINKTYPE.ETHERNET;

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
 * tcpdump resolves a Linux cooked v2 header's index; undefined when there is none. The names
 * are read from /sys/class/net once and kept.
 */
export function localInterfaceName(ifindex: number): string | undefined {
  if (namesByIndex === null) {
    namesByIndex = new Map();
    try {
      for (const name of readdirSync("/sys/class/net")) {
        try {
          namesByIndex.set(Number(readFileSync(`/sys/class/net/${name}/ifindex`, "utf8").trim()), name);
        } catch {
          // An interface that went away between the two reads has no name to give.
        }
      }
    } catch {
      // No sysfs (a container without it): every index prints as tcpdump prints an unknown one.
    }
  }
  return namesByIndex.get(ifindex);
}

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
  #scratch = new Uint8Array(1 << 16);

  constructor(file: CaptureFile, source: OfflineFilterSource) {
    const first = file.interfaces[0];
    // A pcapng file with no interface (and so no packet) is read as libpcap would: nothing to do.
    this.linkType = first ? first.linkType : LINKTYPE_ETHERNET;
    this.snaplen = first && first.snaplen > 0 ? first.snaplen : MAX_SNAPLEN;
    this.program = source.program ??
      (source.expression === undefined ? undefined : compileFilter(source.expression, { linkType: this.linkType, snaplen: this.snaplen }));
    this.#file = file;
  }

  /** tcpdump -r's "reading from file" line for this file, as opened under `path`. */
  readingLine(path: string): string {
    return readingLine(path, this.linkType, this.#file.interfaces[0]?.snaplen ?? 0);
  }

  /** Whether the filter takes packet `p` of the file's current block; throws for a packet of another link type. */
  accepts(p: PacketView): boolean {
    const f = this.#file;
    const iface = f.interfaces[p.ifindex - 1];
    if (iface && iface.linkType !== this.linkType) {
      throw new RingcapError(
        "file_format",
        `${f.path}: interface ${p.ifindex - 1} has link type ${iface.linkType}, the first ${this.linkType}: files mixing link types are not supported (as in libpcap)`,
      );
    }
    if (!this.program) return true;
    const caplen = p.caplen;
    if (caplen > this.#scratch.length) this.#scratch = new Uint8Array(caplen);
    const scratch = this.#scratch;
    scratch.set(f.bytes.subarray(p.offset, p.offset + caplen));
    // libpcap compiles a BSD loopback family for a file of the other byte order byte-swapped
    // (tcpdump's handle knows the file is swapped; a dead handle does not), so swap the header
    // here instead: a family is small, so a big one in host (little-endian) order is swapped.
    if (this.linkType === LINKTYPE.NULL && caplen >= 4 && (scratch[2] | scratch[3]) !== 0 && (scratch[0] | scratch[1]) === 0) {
      scratch.subarray(0, 4).reverse();
    }
    return libpcapFilter(this.program, scratch, p.wireLength, caplen) !== 0;
  }
}

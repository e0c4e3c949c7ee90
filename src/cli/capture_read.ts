/**
 * `ringcap capture -r FILE`: packets from a saved pcap or pcapng file (openFile), filtered as
 * `tcpdump -r` filters them (EXPR compiled by libpcap for the file's link type and snaplen on a
 * dead handle, run on each packet by libpcap's own bpf_filter), then printed with the live
 * capture's packet lines or rewritten with -w.
 * @module
 */

import { compileFilter } from "../bpf/compile.ts";
import { libpcapFilter } from "../bpf/libpcap.ts";
import { type BpfProgram, programText } from "../bpf/program.ts";
import { RingcapError } from "../errors.ts";
import { type CaptureFile, openFile } from "../file.ts";
import { MAX_SNAPLEN } from "../options.ts";
import { PcapWriter } from "../pcap.ts";
import type { ReadOptions } from "./capture_options.ts";
import { isClosedPipe, PacketLines, stdoutFailure } from "./capture_output.ts";
import { UsageError } from "./flags.ts";
import type { CommandIO } from "./io.ts";

const LINKTYPE_ETHERNET = 1;

/** tcpdump's names for the usual link types (pcap_datalink_val_to_name / _description). */
const LINK_NAMES: Readonly<Record<number, string>> = {
  0: "NULL (BSD loopback)",
  1: "EN10MB (Ethernet)",
  101: "RAW (Raw IP)",
  105: "IEEE802_11 (802.11)",
  113: "LINUX_SLL (Linux cooked v1)",
  127: "IEEE802_11_RADIO (802.11 plus radiotap header)",
  228: "IPV4 (Raw IPv4)",
  229: "IPV6 (Raw IPv6)",
  276: "LINUX_SLL2 (Linux cooked v2)",
};

/** tcpdump -r's first line on stderr. */
export function readingLine(path: string, linkType: number, snaplen: number): string {
  return `reading from file ${path}, link-type ${LINK_NAMES[linkType] ?? String(linkType)}, snapshot length ${snaplen}`;
}

/** Runs `capture -r FILE ...`; resolves to the exit code, throws the file's or the output's error. */
export async function captureFromFile(o: ReadOptions, io: CommandIO): Promise<number> {
  const f = await openFile(o.path);
  try {
    return await readFile(f, o, io);
  } finally {
    f.close();
  }
}

async function readFile(f: CaptureFile, o: ReadOptions, io: CommandIO): Promise<number> {
  const first = f.interfaces[0];
  // A pcapng file with no interface (and so no packet) is read as libpcap would: nothing to do.
  const linkType = first ? first.linkType : LINKTYPE_ETHERNET;
  const snaplen = first && first.snaplen > 0 ? first.snaplen : MAX_SNAPLEN;
  const program = o.program ?? (o.expression === undefined ? undefined : compileFilter(o.expression, { linkType, snaplen }));
  if (o.dump) {
    if (!program) throw new UsageError("-d needs a filter expression");
    io.out(programText(program));
    return 0;
  }
  if (o.write === undefined && linkType !== LINKTYPE_ETHERNET) {
    throw new UsageError(`${o.path} has link type ${LINK_NAMES[linkType] ?? linkType}: only Ethernet packets can be printed; rewrite them with -w`);
  }
  io.err(readingLine(o.path, linkType, first ? first.snaplen : 0));
  const writer = o.write === undefined ? null : PcapWriter.open(o.write === "-" ? 1 : o.write, {
    format: o.format,
    snaplen,
    ifName: first?.name,
    linkType,
  });
  const lines = new PacketLines(o.print);
  const filter = program ? new FileFilter(program) : null;
  const limit = o.count || Infinity;
  const out: string[] = [];
  let taken = 0;
  let failure: unknown = null;
  try {
    for await (const block of f.blocks()) {
      const bytes = f.bytes;
      for (const p of block) {
        if (taken >= limit) break;
        const iface = f.interfaces[p.ifindex - 1];
        if (iface && iface.linkType !== linkType) {
          throw new RingcapError(
            "file_format",
            `${o.path}: interface ${p.ifindex - 1} has link type ${iface.linkType}, the first ${linkType}: files mixing link types are not supported (as in libpcap)`,
          );
        }
        if (filter && !filter.accepts(bytes, p.offset, p.caplen, p.wireLength)) continue;
        taken++;
        if (writer) writer.writePacket(p);
        else out.push(lines.line(p.decode(), bytes, p.offset, p.caplen, p.wireLength, p.sec, p.nsec));
      }
      if (out.length) {
        io.out(out.join("\n"));
        out.length = 0;
      }
      if (writer && o.packetBuffered) writer.flush();
      if (taken >= limit || io.outClosed?.aborted) break;
    }
  } catch (e) {
    failure = e;
  }
  try {
    writer?.close();
  } catch (e) {
    failure ??= e;
  }
  failure ??= stdoutFailure(io);
  if (failure && !isClosedPipe(failure)) throw failure;
  return 0;
}

/** A program run on saved packets by libpcap's bpf_filter, each packet copied into one reused buffer. */
class FileFilter {
  readonly #program: BpfProgram;
  #scratch = new Uint8Array(1 << 16);

  constructor(program: BpfProgram) {
    this.#program = program;
  }

  accepts(bytes: Uint8Array, offset: number, caplen: number, wireLength: number): boolean {
    if (caplen > this.#scratch.length) this.#scratch = new Uint8Array(caplen);
    this.#scratch.set(bytes.subarray(offset, offset + caplen));
    return libpcapFilter(this.#program, this.#scratch, wireLength, caplen) !== 0;
  }
}

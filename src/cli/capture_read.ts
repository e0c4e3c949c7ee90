/**
 * `ringcap capture -r FILE`: packets from a saved pcap or pcapng file (openFile), filtered as
 * `tcpdump -r` filters them (EXPR compiled by libpcap for the file's link type and snaplen on a
 * dead handle, run on each packet by libpcap's own bpf_filter), then printed with the live
 * capture's packet lines or rewritten with -w.
 * @module
 */

import { programText } from "../bpf/program.ts";
import { type CaptureFile, openFile } from "../file.ts";
import { PcapWriter } from "../pcap.ts";
import type { ReadOptions } from "./capture_options.ts";
import { isClosedPipe, PacketLines, stdoutFailure } from "./capture_output.ts";
import { UsageError } from "./flags.ts";
import type { CommandIO } from "./io.ts";
import { LINKTYPE_ETHERNET, linkName, OfflineFilter } from "./offline.ts";

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
  const filter = new OfflineFilter(f, o);
  const { linkType, snaplen, program } = filter;
  if (o.dump) {
    if (!program) throw new UsageError("-d needs a filter expression");
    io.out(programText(program));
    return 0;
  }
  if (o.write === undefined && linkType !== LINKTYPE_ETHERNET) {
    throw new UsageError(`${o.path} has link type ${linkName(linkType)}: only Ethernet packets can be printed; rewrite them with -w`);
  }
  io.err(filter.readingLine(o.path));
  const writer = o.write === undefined ? null : PcapWriter.open(o.write === "-" ? 1 : o.write, {
    format: o.format,
    snaplen,
    ifName: f.interfaces[0]?.name,
    linkType,
  });
  const lines = new PacketLines(o.print);
  const limit = o.count || Infinity;
  const out: string[] = [];
  let taken = 0;
  let failure: unknown = null;
  try {
    for await (const block of f.blocks()) {
      const bytes = f.bytes;
      for (const p of block) {
        if (taken >= limit) break;
        if (!filter.accepts(p)) continue;
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

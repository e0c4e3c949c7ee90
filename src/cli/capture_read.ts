/**
 * `ringcap capture -r FILE`: packets from a saved pcap or pcapng file (openFile), filtered as
 * `tcpdump -r` filters them (EXPR compiled by libpcap for the file as tcpdump -r compiles it,
 * run on each packet by libpcap's own bpf_filter: see offline.ts), then printed as tcpdump -n
 * prints them (Ethernet, raw IP, Linux cooked v1 and v2, loopback; the interface of a cooked v2
 * packet by its index in this namespace, as tcpdump resolves it) or rewritten with -w.
 * @module
 */

import { programText } from "../bpf/program.ts";
import { LINKTYPE } from "../decode.ts";
import { type CaptureFile, openFile } from "../file.ts";
import { type DescribeOptions, describePacket, formatTime } from "../format.ts";
import type { PacketView } from "../packet.ts";
import type { ReadOptions } from "./capture_options.ts";
import { fileLimitLine, isClosedPipe, openFileOutput, stdoutFailure } from "./capture_output.ts";
import { relinquish, UsageError } from "./flags.ts";
import type { CommandIO } from "./io.ts";
import { localInterfaceName, OfflineFilter, requireDecodable, SLL2_WARNING } from "./offline.ts";

/** Runs `capture -r FILE ...`; resolves to the exit code, throws the file's or the output's error. */
export async function captureFromFile(o: ReadOptions, io: CommandIO): Promise<number> {
  const f = await openFile(o.path);
  try {
    relinquish(o.user); // -Z: the file is open; the output is made as the user
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
  if (o.write === undefined) requireDecodable(o.path, linkType, "printed");
  io.err(filter.readingLine(o.path));
  if (o.write === undefined && linkType === LINKTYPE.LINUX_SLL2) io.err(SLL2_WARNING);
  const writer = o.write === undefined ? null : openFileOutput(o.write, {
    format: o.format,
    precision: o.precision,
    snaplen,
    ifName: f.interfaces[0]?.name,
    linkType,
  }, o.rotate, io);
  const describe: DescribeOptions = { quiet: o.print.quiet, verbose: o.print.verbose, interfaceName: localInterfaceName };
  const line = (p: PacketView) =>
    formatTime(p.sec, p.nsec, o.print.time) + describePacket(p.decode(), f.bytes, p.offset, p.caplen, p.wireLength, o.print.linkLevel, describe);
  const limit = o.count || Infinity;
  const out: string[] = [];
  let taken = 0;
  let limitReached = false;
  let failure: unknown = null;
  try {
    for await (const block of f.blocks()) {
      for (const p of block) {
        if (taken >= limit) break;
        if (!filter.accepts(p)) continue;
        if (writer) {
          // -G -W: the last file is written; reading ends here, as tcpdump's does.
          if (writer.writePacket(p) === false) {
            io.err(fileLimitLine(o));
            limitReached = true;
            break;
          }
        } else out.push(line(p));
        taken++;
      }
      if (out.length) {
        io.out(out.join("\n"));
        out.length = 0;
      }
      if (writer && o.packetBuffered && !writer.closed) writer.flush();
      if (taken >= limit || limitReached || io.outClosed?.aborted) break;
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

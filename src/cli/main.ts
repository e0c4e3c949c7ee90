#!/usr/bin/env bun
/**
 * The `ringcap` command line: `ringcap <command> [options]`. Run `ringcap help` for the list.
 * This file is the entry point only: the command table, the help, and the exit code of each
 * kind of failure. Each command lives in a file of its own beside it.
 * @module
 */

import { RingcapError } from "../errors.ts";
import { bench } from "./bench.ts";
import { capture } from "./capture.ts";
import { UsageError } from "./flags.ts";
import { flows } from "./flows.ts";
import { gen } from "./gen.ts";
import type { CommandIO } from "./io.ts";

export type { CommandIO } from "./io.ts";

/**
 * The process's own stdout and stderr. A write error on stdout (its reader gone: EPIPE; a full
 * disk) closes it for the run (`outClosed`), and lines after that are dropped; an error on
 * stderr (a terminal that has gone, after SIGHUP) is ignored: nothing more can be told there.
 * Neither is ever an uncaught exception.
 */
function processIO(): CommandIO {
  const closed = new AbortController();
  process.stdout.on("error", (e: Error) => {
    if (!closed.signal.aborted) closed.abort(e);
  });
  process.stderr.on("error", () => {});
  const write = (stream: NodeJS.WriteStream, line: string) => {
    try {
      stream.write(line + "\n");
    } catch (e) {
      if (stream === process.stdout && !closed.signal.aborted) closed.abort(e);
    }
  };
  return {
    out: (line) => {
      if (!closed.signal.aborted) write(process.stdout, line);
    },
    err: (line) => write(process.stderr, line),
    errIsTty: !!process.stderr.isTTY,
    outClosed: closed.signal,
  };
}

const HELP = `usage: ringcap <command> [options]

commands:
  capture   capture packets like tcpdump: print them, or write pcap/pcapng (-w)
  flows     top-talkers table by 5-tuple: live, or of a saved file (-r); or
            flow records to an IPFIX / NetFlow v9 collector (--ipfix HOST:PORT)
  gen       send synthetic frames (for testing a setup)
  bench     run the benchmark in a namespace of its own (see BENCHMARKS.md)
  help      this text

Run \`ringcap <command> --help\` for a command's options.

Exit codes: 0 ok, 1 failure, 2 usage or filter error, 3 no such interface, 4 no permission,
5 interface down or gone, 6 file unwritable or disk full, or (-r) missing, unreadable or not a capture file.`;

const COMMANDS: Record<string, (args: string[], io: CommandIO) => Promise<number>> = { capture, flows, gen, bench };

/**
 * Exit codes, documented in `ringcap help`: 1 other failure, 2 usage or filter syntax (and a
 * ring larger than the memory allows), 3 no such interface, 4 no permission, 5 interface down
 * (at the start, or gone down or away during the capture), 6 file unwritable or disk full, or
 * a file to read (-r) missing, unreadable or not a capture file (a corrupt or truncated one is 1).
 */
export const EXIT = { failure: 1, usage: 2, noInterface: 3, permission: 4, interfaceDown: 5, file: 6 } as const;

/** The exit code of a RingcapError that ended a command. */
export function exitCodeFor(e: RingcapError): number {
  switch (e.code) {
    case "filter_syntax":
    case "invalid_argument":
    case "bpf_text_invalid":
    case "filter_vlan_unsupported":
    case "filter_too_large":
    case "interface_name_invalid":
    case "ring_exceeds_memory":
    case "frame_too_large":
    case "timestamp_type_not_supported":
      return EXIT.usage;
    case "no_such_interface":
      return EXIT.noInterface;
    case "permission_denied":
      return EXIT.permission;
    case "interface_down":
    case "network_down":
      return EXIT.interfaceDown;
    case "file_unwritable":
    case "disk_full":
    case "write_failed":
    case "file_unreadable":
    case "file_format":
      return EXIT.file;
    default:
      return EXIT.failure;
  }
}

/** What a library error means on the command line, where its options are flags. */
const CLI_HINTS: Readonly<Record<string, string>> = {
  ring_exceeds_memory: " (on the command line: give a smaller -B KiB; with --workers it is per worker)",
};

/** Runs the CLI with `argv` (without the program name); resolves to the exit code. */
export async function main(argv: string[], io: CommandIO = processIO()): Promise<number> {
  const [command, ...rest] = argv;
  if (!command) {
    // Usage errors go to stderr: stdout may be a pipe that expects packets.
    io.err(HELP);
    return EXIT.usage;
  }
  if (command === "help" || command === "--help" || command === "-h") {
    io.out(HELP);
    return 0;
  }
  const fn = COMMANDS[command];
  if (!fn) {
    io.err(`ringcap: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await fn(rest, io);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`ringcap ${command}: ${(e as Error).message} (see \`ringcap ${command} --help\`)`);
      return EXIT.usage;
    }
    if (e instanceof RingcapError) {
      io.err(`ringcap ${command}: ${e.message}${CLI_HINTS[e.code] ?? ""}`);
      return exitCodeFor(e);
    }
    throw e;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}

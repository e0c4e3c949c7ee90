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

const defaultIO: CommandIO = {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  errIsTty: !!process.stderr.isTTY,
};

const HELP = `usage: ringcap <command> [options]

commands:
  capture   capture packets like tcpdump: print them, or write pcap/pcapng (-w)
  flows     live top-talkers table by 5-tuple
  gen       send synthetic frames (for testing a setup)
  bench     run the benchmark in a namespace of its own (see BENCHMARKS.md)
  help      this text

Run \`ringcap <command> --help\` for a command's options.`;

const COMMANDS: Record<string, (args: string[], io: CommandIO) => Promise<number>> = { capture, flows, gen, bench };

/**
 * Exit codes, documented in `ringcap help`: 1 other failure, 2 usage or filter syntax,
 * 3 no such interface, 4 no permission, 5 interface down, 6 file unwritable or disk full.
 */
export const EXIT = { failure: 1, usage: 2, noInterface: 3, permission: 4, interfaceDown: 5, file: 6 } as const;

function exitCodeFor(e: RingcapError): number {
  switch (e.code) {
    case "filter_syntax":
    case "invalid_argument":
    case "bpf_text_invalid":
    case "filter_vlan_unsupported":
      return EXIT.usage;
    case "no_such_interface":
    case "interface_name_invalid":
      return EXIT.noInterface;
    case "permission_denied":
      return EXIT.permission;
    case "interface_down":
      return EXIT.interfaceDown;
    case "file_unwritable":
    case "disk_full":
    case "write_failed":
      return EXIT.file;
    default:
      return EXIT.failure;
  }
}

/** Runs the CLI with `argv` (without the program name); resolves to the exit code. */
export async function main(argv: string[], io: CommandIO = defaultIO): Promise<number> {
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
      io.err(`ringcap ${command}: ${e.message}`);
      return exitCodeFor(e);
    }
    throw e;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}

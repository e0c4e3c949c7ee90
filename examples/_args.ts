/**
 * The options every example shares: a live interface (-i) or a saved file (-r), namespace, and a
 * bound on the run; and `openSource`, which opens either as one reader of blocks.
 */
import { parseArgs } from "node:util";
import { type Capture, type CaptureFile, type CaptureOptions, openCapture, openFile } from "../mod.ts";

export interface ExampleArgs {
  /** The interface to capture on ("" with -r). */
  iface: string;
  /** The saved pcap or pcapng file to read instead (-r FILE; "-" for standard input). */
  file?: string;
  netns?: string;
  /** Stop after this many seconds (0: until Ctrl-C, or the end of the file). */
  seconds: number;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses the shared options and `extra`; prints `usage` and exits 2 on a misuse. `positionals`: the example takes some (a filter). */
export function exampleArgs(
  usage: string,
  extra: Record<string, { type: "string" | "boolean"; default?: string; short?: string }> = {},
  { positionals: takesPositionals = false } = {},
): ExampleArgs {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      interface: { type: "string", short: "i" },
      read: { type: "string", short: "r" },
      netns: { type: "string" },
      seconds: { type: "string", default: "0" },
      help: { type: "boolean", short: "h" },
      ...extra,
    },
  });
  const live = values.interface !== undefined;
  const saved = values.read !== undefined;
  if (values.help || live === saved || (saved && values.netns !== undefined) || (!takesPositionals && positionals.length > 0)) {
    console.error(`usage: ${usage}\n  -i IFACE captures live; -r FILE reads a saved pcap/pcapng file instead (no root; --netns is live only)`);
    process.exit(values.help ? 0 : 2);
  }
  return {
    iface: (values.interface as string | undefined) ?? "",
    file: values.read as string | undefined,
    netns: values.netns as string | undefined,
    seconds: Number(values.seconds),
    values,
    positionals,
  };
}

/**
 * Opens what `args` names: a live capture with `options`, or the saved file. Both hand out the
 * same Blocks through `blocks({ signal })`, with `bytes`/`view` to read frames through (read
 * them per block: a file's buffer can grow once) and `stats()`. With a file, `options` are left
 * out: the examples pass only a snaplen, and filters their own code checks again.
 */
export async function openSource(args: ExampleArgs, options: CaptureOptions = {}): Promise<Capture | CaptureFile> {
  if (args.file !== undefined) return await openFile(args.file);
  return openCapture(args.iface, { ...options, netns: args.netns });
}

/** What a source is called in messages: the interface, or the file. */
export const sourceName = (args: ExampleArgs): string => args.file ?? args.iface;

/** An AbortSignal that fires on Ctrl-C, SIGTERM, or after `seconds` (when > 0). */
export function stopSignal(seconds: number): AbortSignal {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (seconds > 0) setTimeout(stop, seconds * 1000).unref?.();
  return ac.signal;
}

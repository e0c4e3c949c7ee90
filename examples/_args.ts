/** The options every example shares: interface, namespace, and a bound on the run. */
import { parseArgs } from "node:util";

export interface ExampleArgs {
  iface: string;
  netns?: string;
  /** Stop after this many seconds (0: until Ctrl-C). */
  seconds: number;
  values: Record<string, string | boolean | undefined>;
}

export function exampleArgs(usage: string, extra: Record<string, { type: "string" | "boolean"; default?: string }> = {}): ExampleArgs {
  const { values } = parseArgs({
    options: {
      interface: { type: "string", short: "i" },
      netns: { type: "string" },
      seconds: { type: "string", default: "0" },
      help: { type: "boolean", short: "h" },
      ...extra,
    },
  });
  if (values.help || !values.interface) {
    console.error(`usage: ${usage}`);
    process.exit(values.help ? 0 : 2);
  }
  return { iface: values.interface as string, netns: values.netns as string | undefined, seconds: Number(values.seconds), values };
}

/** An AbortSignal that fires on Ctrl-C, SIGTERM, or after `seconds` (when > 0). */
export function stopSignal(seconds: number): AbortSignal {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (seconds > 0) setTimeout(stop, seconds * 1000).unref?.();
  return ac.signal;
}

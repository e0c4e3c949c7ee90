/**
 * `ringcap bench`: runs the benchmark harness (bench/run.ts) in a child process of the same
 * runtime, passing the flags through. A child rather than an import: the harness pins its own
 * threads to CPU 0 and exits when done, which a CLI process that imported it could not undo.
 * @module
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { isBun } from "../native/runtime.ts";
import type { CommandIO } from "./io.ts";

/** The harness, found relative to this file: the package ships bench/*.ts beside src/. */
export const HARNESS = new URL("../../bench/run.ts", import.meta.url).pathname;

/**
 * Runs the benchmark with `args` (the harness's flags: `--runs`, `--smoke`, `--json FILE`, ...)
 * and resolves to its exit code. Its output is passed through line by line.
 *
 * @example
 * ```ts
 * const code = await bench(["--smoke"], { out: console.log, err: console.error, errIsTty: false });
 * ```
 */
export async function bench(args: string[], io: CommandIO): Promise<number> {
  if (!existsSync(HARNESS)) {
    io.err(`ringcap bench: the harness is missing (${HARNESS}); reinstall ringcap, whose package ships bench/*.ts`);
    return 1;
  }
  if (!isBun) {
    io.err("ringcap bench: the harness runs under Bun (its capturers are Bun processes): run `bunx ringcap bench`");
    return 1;
  }
  const child = spawn(process.execPath, [HARNESS, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const relay = (stream: NodeJS.ReadableStream, write: (line: string) => void) => {
    let partial = "";
    stream.on("data", (d: Buffer) => {
      const lines = (partial + d).split("\n");
      partial = lines.pop()!;
      for (const line of lines) write(line);
    });
    return new Promise<void>((resolve) => stream.on("end", () => {
      if (partial) write(partial);
      resolve();
    }));
  };
  const done = Promise.all([relay(child.stdout!, io.out), relay(child.stderr!, io.err)]);
  const forward = () => child.kill("SIGINT");
  process.on("SIGINT", forward);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", (c, signal) => resolve(c ?? (signal ? 130 : 1)));
    });
    await done;
    return code;
  } finally {
    process.off("SIGINT", forward);
  }
}

/**
 * What every `ringcap` command runs with: where its lines go ({@link CommandIO}) and when its
 * run ends ({@link RunStop}, {@link readUntilStopped}), and how a worker's error ends it
 * ({@link unwrapWorkerFailure}).
 * Imports nothing from the rest of the CLI.
 * @module
 */

import { readFileSync } from "node:fs";
import type { Capture } from "../capture.ts";
import { RingcapError } from "../errors.ts";
import type { Block } from "../packet.ts";
import { onStopSignals } from "../native/runtime.ts";

/** Where a command writes: lines to stdout and stderr. Tests pass their own. */
export interface CommandIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** True when stderr is a terminal (live status lines may redraw in place). */
  errIsTty: boolean;
  /**
   * Aborted once nothing more can reach `out`: its reader has gone (`ringcap capture | head`,
   * EPIPE) or writing failed (a full disk, EIO). The abort's reason is the error.
   */
  outClosed?: AbortSignal;
}

/**
 * The signals that end a run cleanly, beside SIGINT and SIGTERM: SIGHUP (the terminal or ssh
 * session closed) and SIGQUIT (Ctrl-\). As tcpdump does, SIGHUP is left alone when the process
 * started with it ignored (`nohup ringcap ...`).
 */
const MORE_STOP_SIGNALS: ReadonlyArray<"SIGHUP" | "SIGQUIT"> = ignoredAtStart(1) ? ["SIGQUIT"] : ["SIGHUP", "SIGQUIT"];

/** Whether signal `signo` was ignored when this process started (SigIgn in /proc/self/status). */
function ignoredAtStart(signo: number): boolean {
  try {
    const mask = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & (1n << BigInt(signo - 1))) !== 0n;
  } catch {
    return false;
  }
}

/**
 * The end of a run: Ctrl-C, SIGTERM, SIGHUP, SIGQUIT, `--seconds S`, stdout's reader going
 * away (with `io`), or the command itself (`stop()`).
 * It listens from construction, so make it before printing "Ctrl-C to stop": a Ctrl-C right
 * after that line must end the run cleanly. `release()` stops listening (idempotent).
 *
 * @example
 * ```ts
 * const stop = new RunStop(seconds, io);
 * try {
 *   for await (const block of cap.blocks({ signal: stop.signal })) take(block);
 * } finally {
 *   stop.release();
 * }
 * ```
 */
export class RunStop {
  readonly #controller = new AbortController();
  readonly #unlisten: () => void;
  readonly #deadline: ReturnType<typeof setTimeout> | null;
  readonly #outClosed: AbortSignal | undefined;
  readonly #stopNow = () => this.stop();
  /** Resolves once the run is to stop. */
  readonly stopped: Promise<void>;

  /** `seconds`: stop after this long (0: only on a signal or `stop()`); `io`: stop when its `out` closes. */
  constructor(seconds: number, io?: CommandIO) {
    const signal = this.#controller.signal;
    this.stopped = new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    const unlisten = onStopSignals(this.#stopNow);
    for (const sig of MORE_STOP_SIGNALS) process.on(sig, this.#stopNow);
    this.#unlisten = () => {
      unlisten();
      for (const sig of MORE_STOP_SIGNALS) process.off(sig, this.#stopNow);
    };
    this.#deadline = seconds > 0 ? setTimeout(this.#stopNow, seconds * 1000) : null;
    this.#outClosed = io?.outClosed;
    if (this.#outClosed?.aborted) this.stop();
    else this.#outClosed?.addEventListener("abort", this.#stopNow, { once: true });
  }

  /** Aborted once the run is to stop. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  stop(): void {
    this.#controller.abort();
  }

  /** Stops listening for signals and for the deadline; what happens after is the command's. */
  release(): void {
    this.#unlisten();
    this.#outClosed?.removeEventListener("abort", this.#stopNow);
    if (this.#deadline) clearTimeout(this.#deadline);
  }
}

/**
 * A failure inside a worker arrives as "worker_failed" with the worker's own error as its cause;
 * the worker's own code (a disk full, the interface gone: network_down) ends the CLI as it
 * does without workers.
 */
export function unwrapWorkerFailure(e: unknown): unknown {
  if (!(e instanceof RingcapError) || e.code !== "worker_failed") return e;
  let cause = e.cause as (Error & { code?: string; errno?: number; cause?: unknown }) | undefined;
  while (cause && !(cause as { code?: string }).code && cause.cause) cause = cause.cause as typeof cause;
  const code = cause?.code;
  if (code && code !== "worker_failed") return new RingcapError(code, e.message, { errno: cause?.errno, cause: e });
  return e;
}

/** How long a stopped run waits for the last packets the kernel had taken (a partly filled block comes within its timeout). */
export const DRAIN_MAX_MS = 2000;

/**
 * Hands `cap`'s blocks to `take` until `signal` aborts (Ctrl-C, --seconds), then goes on until
 * every packet the kernel had put in the ring at that moment is taken: its count then
 * (`stats().received`), since the ring is read in order and a partly filled block is handed
 * over within the block timeout. Nothing the kernel reported captured is left out; nothing
 * after the stop is taken but the rest of the last block. Resolves to the packets taken.
 */
export async function readUntilStopped(cap: Capture, signal: AbortSignal, take: (block: Block) => void): Promise<number> {
  let taken = 0;
  for await (const block of cap.blocks({ signal })) {
    take(block);
    taken += block.packetCount;
  }
  if (!signal.aborted || cap.closed) return taken;
  const target = cap.stats().received;
  if (taken >= target) return taken;
  for await (const block of cap.blocks({ signal: AbortSignal.timeout(DRAIN_MAX_MS) })) {
    take(block);
    taken += block.packetCount;
    if (taken >= target) break;
  }
  return taken;
}

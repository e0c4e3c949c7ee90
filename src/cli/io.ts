/**
 * What every `ringcap` command runs with: where its lines go ({@link CommandIO}) and when its
 * run ends ({@link RunStop}). Imports nothing from the rest of the CLI.
 * @module
 */

import { onStopSignals } from "../native/runtime.ts";

/** Where a command writes: lines to stdout and stderr. Tests pass their own. */
export interface CommandIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** True when stderr is a terminal (live status lines may redraw in place). */
  errIsTty: boolean;
}

/**
 * The end of a run: Ctrl-C, SIGTERM, `--seconds S`, or the command itself (`stop()`).
 * It listens from construction, so make it before printing "Ctrl-C to stop": a Ctrl-C right
 * after that line must end the run cleanly. `release()` stops listening (idempotent).
 *
 * @example
 * ```ts
 * const stop = new RunStop(seconds);
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
  /** Resolves once the run is to stop. */
  readonly stopped: Promise<void>;

  /** `seconds`: stop after this long (0: only on a signal or `stop()`). */
  constructor(seconds: number) {
    const signal = this.#controller.signal;
    this.stopped = new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    this.#unlisten = onStopSignals(() => this.stop());
    this.#deadline = seconds > 0 ? setTimeout(() => this.stop(), seconds * 1000) : null;
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
    if (this.#deadline) clearTimeout(this.#deadline);
  }
}

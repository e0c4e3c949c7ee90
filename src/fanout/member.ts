/**
 * One member of a fanout pool: the Worker of its current run and the history of its runs.
 *
 * A run goes: start (a new Worker gets its WorkerInit) -> "opened" (the worker's capture
 * exists: from now on the member closes it if the worker ends without doing so) -> "ready"
 * (handler loaded; `start()` resolves) -> reports -> "closed" (the worker closed its capture)
 * -> end. The end is Bun's "close" event; Deno's Worker has none, so there the end is the
 * worker's last message ("exit") or `kill()`, after which the member waits for the thread to
 * be gone from /proc before it ends the run (reaping). A run that fails before it was ready
 * rejects `start()`; one that fails later goes to the pool, which may start the member again.
 * @internal
 * @module
 */

import { type CaptureInfo, closeCaptureHandle } from "../capture.ts";
import { RingcapError } from "../errors.ts";
import { isDeno, threadEnded } from "../native/runtime.ts";
import { PHASE, PHASE_NAMES, type ReportMessage, type ToPool, type WorkerInit, workerError } from "./protocol.ts";
import type { FanoutCounters, FanoutMessage, FanoutReport, FanoutWorkerState, FanoutWorkerStats } from "./types.ts";

/** How long a Deno worker's thread may take to end after its last message or `terminate()`. */
const THREAD_END_MAX_MS = 5000;

/** Counters of nothing yet. */
export const zeroCounters = (): FanoutCounters => ({ received: 0, drops: 0, freezes: 0, interfaceDrops: 0, packets: 0, bytes: 0, blocks: 0 });

/**
 * A pool's total from its workers' counters: their sum, but for the interface drops, which
 * every member reads from the same interfaces: the largest of them, so that a drop counts once
 * for the pool and not once per worker.
 */
export function poolCounters(a: FanoutCounters, worker: FanoutCounters): FanoutCounters {
  return { ...addCounters(a, worker), interfaceDrops: Math.max(a.interfaceDrops, worker.interfaceDrops) };
}

/** The sum of two sets of counters. */
export function addCounters(a: FanoutCounters, b: FanoutCounters): FanoutCounters {
  return {
    received: a.received + b.received,
    drops: a.drops + b.drops,
    freezes: a.freezes + b.freezes,
    // One worker's runs follow each other: their interface drops add up. Across workers they
    // do not (see `poolCounters`).
    interfaceDrops: a.interfaceDrops + b.interfaceDrops,
    packets: a.packets + b.packets,
    bytes: a.bytes + b.bytes,
    blocks: a.blocks + b.blocks,
  };
}

/** A promise with its settle functions. */
interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

/** A deferred promise whose rejection never counts as unhandled (callers see it through `done`). */
export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** What a member tells its pool, and asks it. */
export interface MemberHooks {
  /** True once the pool is closing: a member that becomes ready then is "stopping". */
  closing(): boolean;
  ready(member: PoolMember, info: CaptureInfo): void;
  report(report: FanoutReport): void;
  message(message: FanoutMessage): void;
  /**
   * A run ended: `failure` is null when it closed cleanly. A run that was not ready yet has
   * rejected its `start()` with the failure before this is called.
   */
  ended(member: PoolMember, failure: RingcapError | null, wasReady: boolean): void;
}

/** One run: one Worker, from its start to its end. */
interface Run {
  readonly worker: Worker;
  readonly started: Deferred<void>;
  /** Where the worker's thread is (PHASE), written by the worker. */
  readonly phase: Int32Array;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The native capture handle, from "opened" until the worker closed it (or we did). */
  handle: number;
  /** The worker's kernel thread id, or -1 when /proc could not tell it. */
  tid: number;
  /** The first thing that went wrong: later ones are consequences. */
  failure: RingcapError | null;
  ready: boolean;
  closedCleanly: boolean;
  reaping: boolean;
  ended: boolean;
}

/** One place in the pool: its current run's Worker, its state, and the counters of its runs. */
export class PoolMember {
  readonly index: number;
  state: FanoutWorkerState = "starting";
  /** Runs after the first. */
  restarts = 0;
  /** What the capture of the latest ready run settled on. */
  info: CaptureInfo | null = null;
  #hooks: MemberHooks;
  #run: Run | null = null;
  /** Counters of the current run, from its latest report. */
  #current = zeroCounters();
  /** Counters of earlier runs (restarts). */
  #earlier = zeroCounters();
  #latest: FanoutReport | null = null;
  /** Final reports' data of earlier runs, kept for `results()`. */
  #retired: unknown[] = [];

  constructor(index: number, hooks: MemberHooks) {
    this.index = index;
    this.#hooks = hooks;
  }

  /** True while a run's Worker has not ended. */
  get alive(): boolean {
    return this.#run !== null;
  }

  /**
   * Starts a run: a new Worker that gets `init`. Resolves when the worker is ready; rejects
   * with its error when it ends first or does not get ready within `timeoutMs`.
   */
  start(init: Omit<WorkerInit, "phase">, timeoutMs: number): Promise<void> {
    const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    const phase = new SharedArrayBuffer(4);
    const run: Run = {
      worker,
      started: deferred<void>(),
      phase: new Int32Array(phase),
      timer: undefined,
      handle: -1,
      tid: -1,
      failure: null,
      ready: false,
      closedCleanly: false,
      reaping: false,
      ended: false,
    };
    this.#run = run;
    this.state = "starting";
    this.#current = zeroCounters();
    this.#latest = null;
    run.timer = setTimeout(() => {
      run.failure ??= new RingcapError("worker_failed", `fanout worker ${this.index} did not start within ${timeoutMs} ms`);
      this.#kill(run);
    }, timeoutMs);
    worker.addEventListener("message", (event: MessageEvent) => this.#onMessage(run, event.data as ToPool));
    worker.addEventListener("error", (event: Event) => this.#onError(run, event as ErrorEvent));
    if (!isDeno) {
      worker.addEventListener("close", (event: Event) => this.#end(run, (event as CloseEvent & { code?: number }).code ?? 0));
    }
    worker.postMessage({ ...init, phase } satisfies WorkerInit);
    return run.started.promise;
  }

  /**
   * Ends the current run's thread at once (Worker.terminate, plus what Deno needs after it) because
   * it did not stop `within` (e.g. "within closeTimeoutMs (5000 ms) of close()"). The run's
   * failure names what the thread was in, e.g. "did not return from onBlock within ...".
   */
  kill(within: string): void {
    const run = this.#run;
    if (!run) return;
    run.failure ??= new RingcapError("worker_failed", `fanout worker ${this.index} ${this.stuck()} ${within}; terminated`);
    this.#kill(run);
  }

  /** What the current run's thread is in, as "did not return from onBlock" (or "did not stop"). */
  stuck(): string {
    const phase = this.#run ? Atomics.load(this.#run.phase, 0) : PHASE.loop;
    return phase === PHASE.loop ? "did not stop" : `did not return from ${PHASE_NAMES[phase] ?? "its handler"}`;
  }

  /** A running or starting member is now stopping (the pool raised the stop flag). */
  stopping(): void {
    if (this.state === "running" || this.state === "starting") this.state = "stopping";
  }

  /** Folds the failed current run into the history, so that totals keep counting it. */
  retire(): void {
    this.#earlier = addCounters(this.#earlier, this.#current);
    this.#current = zeroCounters();
    if (this.#latest?.data !== undefined) this.#retired.push(this.#latest.data);
    this.#latest = null;
  }

  /** Counters over all runs, as of the latest report, with the state and restarts. */
  stats(): FanoutWorkerStats {
    return { workerIndex: this.index, state: this.state, restarts: this.restarts, ...addCounters(this.#earlier, this.#current) };
  }

  /** The handler's results: the final ones of earlier runs, then the latest of this run. */
  results(): unknown[] {
    const all = [...this.#retired];
    if (this.#latest?.data !== undefined) all.push(this.#latest.data);
    return all;
  }

  #onMessage(run: Run, msg: ToPool): void {
    switch (msg.type) {
      case "opened":
        run.handle = msg.handle;
        run.tid = msg.tid;
        break;
      case "ready":
        run.ready = true;
        clearTimeout(run.timer);
        run.handle = msg.handle;
        this.info = msg.info;
        this.state = this.#hooks.closing() ? "stopping" : "running";
        this.#hooks.ready(this, msg.info);
        run.started.resolve();
        break;
      case "report":
        this.#onReport(msg);
        break;
      case "data":
        this.#hooks.message({ workerIndex: this.index, data: msg.data });
        break;
      case "error":
        run.failure ??= workerError(this.index, msg.error, !run.ready);
        break;
      case "closed":
        run.closedCleanly = true;
        run.handle = -1;
        break;
      case "exit":
        void this.#reap(run, msg.code);
        break;
    }
  }

  #onReport(msg: ReportMessage): void {
    const { received, drops, freezes } = msg.stats;
    const interfaceDrops = msg.stats.interfaceDrops ?? 0;
    const counters: FanoutCounters = { received, drops, freezes, interfaceDrops, packets: msg.packets, bytes: msg.bytes, blocks: msg.blocks };
    this.#current = counters;
    this.#latest = { workerIndex: this.index, final: msg.final, counters, data: msg.data };
    this.#hooks.report(this.#latest);
  }

  #onError(run: Run, e: ErrorEvent): void {
    run.failure ??= workerError(this.index, e.message || String(e.error ?? "uncaught error"), !run.ready);
    if (isDeno) {
      // Unhandled, Deno rethrows a worker's error in this thread. The worker has ended anyway.
      e.preventDefault();
      this.#kill(run);
    }
  }

  #kill(run: Run): void {
    if (run.ended) return;
    run.worker.terminate();
    if (isDeno) void this.#reap(run, 1);
  }

  /**
   * A Deno worker's end, in place of Bun's "close" event: after its last message or after
   * terminate(), wait for its thread to be gone, then end the run as the event would.
   * Deno's terminate() returns before the thread stops (a native call it is in finishes
   * first), and its ring must not be unmapped under it.
   */
  async #reap(run: Run, code: number): Promise<void> {
    if (run.reaping) return;
    run.reaping = true;
    let gone = true;
    if (run.tid >= 0) gone = await threadEnded(run.tid, THREAD_END_MAX_MS);
    // Without /proc read access the thread cannot be watched: give it a moment to leave native code.
    else if (run.handle >= 0) await new Promise((resolve) => setTimeout(resolve, 250));
    if (!gone && run.handle >= 0) {
      // Still in native code after all this time: leave its ring mapped rather than pull it away.
      run.failure ??= new RingcapError(
        "worker_failed",
        `fanout worker ${this.index} did not end within ${THREAD_END_MAX_MS} ms; its capture stays open`,
      );
      run.handle = -1;
    }
    this.#end(run, code);
  }

  #end(run: Run, code: number): void {
    if (run.ended) return;
    run.ended = true;
    clearTimeout(run.timer);
    this.#run = null;
    if (run.handle >= 0) {
      // The worker ended without closing its capture (it crashed or was terminated). Its
      // thread is gone, so nothing reads the ring any more: close the socket for it.
      closeCaptureHandle(run.handle);
      run.handle = -1;
    }
    const ok = run.closedCleanly && code === 0 && run.failure === null;
    if (!ok) run.failure ??= workerError(this.index, `exited with code ${code} before it had closed`, !run.ready);
    this.state = ok ? "closed" : "failed";
    if (!run.ready) run.started.reject(run.failure);
    this.#hooks.ended(this, ok ? null : run.failure, run.ready);
  }
}

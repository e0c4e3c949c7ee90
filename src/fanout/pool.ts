/**
 * A fanout pool: one Worker (Bun's or Deno's) per PACKET_FANOUT member. Each worker opens its
 * own socket and ring, joins the pool's fanout group, and runs your per-block handler; the
 * kernel spreads the traffic over the members (by flow hash, round robin, CPU, ...). Results
 * come back as small periodic reports that the pool keeps, merges, and hands out.
 *
 * The handler lives in a module of its own (a worker cannot run a closure from the main
 * thread). It exports `createHandler(ctx)` (or a default function) that returns the handler:
 *
 * ```ts
 * // count-udp.ts
 * import type { FanoutHandlerContext } from "ringcap";
 * import type { Block } from "ringcap";
 *
 * export function createHandler(ctx: FanoutHandlerContext) {
 *   const view = ctx.capture.view;
 *   let udp = 0;
 *   return {
 *     onBlock(block: Block) {
 *       const c = block.cursor();
 *       while (c.next()) if (c.caplen >= 34 && view.getUint8(c.offset + 23) === 17) udp++;
 *     },
 *     report: () => ({ udp }),
 *   };
 * }
 * ```
 *
 * @module
 */

import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import {
  type Capture,
  type CaptureInfo,
  type CaptureOptions,
  type CaptureStats,
  FANOUT_MODES,
  type FanoutMode,
  type RingOptions,
  Waker,
} from "../capture.ts";
import { ClosedError, PermissionError, RingcapError } from "../errors.ts";
import { native } from "../native/library.ts";
import type { BpfProgram } from "../bpf/filter.ts";
import type { Block } from "../packet.ts";

/** What a handler module's `createHandler` receives, and what `onBlock` gets again. */
export interface FanoutHandlerContext<D = unknown> {
  /** This worker's place in the pool, 0 to `workers - 1`. */
  readonly workerIndex: number;
  /** How many workers the pool has. */
  readonly workers: number;
  /** How often this worker's place was restarted before (0 for the first run). */
  readonly restarts: number;
  /** The pool's `workerData`, structured-cloned into this worker. */
  readonly data: D;
  /** This worker's capture: read frames through `capture.view`/`capture.bytes`. */
  readonly capture: Capture;
  /**
   * Sends `data` to the pool at once, where `pool.on("message", ...)` receives it, in order
   * with this worker's reports. For streams that cannot wait for the next report (copied
   * packets, alerts). Transfer only buffers this worker made, never ring memory: the ring is
   * the kernel's again once the block is released.
   */
  post(data: unknown, transfer?: Transferable[]): void;
}

/**
 * The per-worker handler. `onBlock` runs for every non-empty block in a loop with no await
 * in it; the block is released when it returns, so copy whatever must outlive it.
 */
export interface FanoutHandler<R = unknown> {
  onBlock(block: Block, ctx: FanoutHandlerContext): void;
  /**
   * Your partial result: numbers and small plain objects (it is structured-cloned to the
   * pool). Called every `reportIntervalMs` and once more with `final` true before the worker
   * ends. The pool keeps the latest one of each worker; return totals so far, not deltas,
   * if you want `pool.result()` to mean "everything".
   */
  report?(final: boolean): R;
  /** Called once after the final report, before the capture closes. */
  close?(): void;
}

/** The shape of a handler module. */
export type CreateFanoutHandler<D = unknown, R = unknown> = (
  ctx: FanoutHandlerContext<D>,
) => FanoutHandler<R> | Promise<FanoutHandler<R>>;

export interface FanoutPoolOptions<D = unknown, R = unknown> {
  /** The handler module, e.g. `new URL("./handler.ts", import.meta.url)`. */
  worker: URL | string;
  /** Passed to every handler as `ctx.data` (structured-cloned). */
  workerData?: D;
  /** Workers, each with its own socket and ring. @default os.availableParallelism() */
  workers?: number;
  /** How the kernel spreads frames over the workers. @default "hash" */
  mode?: FanoutMode;
  /** Reassemble IP fragments before hashing, so they land with their flow. @default false */
  defrag?: boolean;
  /** Spill to another worker's ring when one is full. @default false */
  rollover?: boolean;
  /**
   * Let the kernel pick a group id nobody uses. Implied when `groupId` is not given; the
   * first worker creates the group and the others join the id it got. @default groupId === undefined
   */
  uniqueId?: boolean;
  /** A fixed group id (0..65535): for joining a group with members outside this pool. */
  groupId?: number;
  /** Leave out frames this host sends. @default false */
  ignoreOutgoing?: boolean;
  /** The classic BPF program for the "cbpf" mode. */
  program?: BpfProgram;
  /** An eBPF program fd for the "ebpf" mode. */
  ebpfFd?: number;
  /** Ring geometry of each worker (the default is 64 MiB per worker). */
  ring?: RingOptions;
  /** A tcpdump expression or a compiled program, applied by every worker. */
  filter?: string | BpfProgram;
  /** @default 0 (whole frames) */
  snaplen?: number;
  /** @default false */
  promisc?: boolean;
  /** Capture inside this network namespace (a name from `ip netns` or a path). */
  netns?: string;
  /** @default true */
  rxHash?: boolean;
  /** How often each worker reports. @default 1000 */
  reportIntervalMs?: number;
  /** Combines two reports' `data` for `pool.result()`. Without it, `result()` lists them. */
  merge?: (a: R, b: R) => R;
  /** Restart a worker that fails (it rejoins the group) instead of stopping the pool. @default false */
  restart?: boolean;
  /** Restarts allowed per worker before the pool gives up. @default 5 */
  maxRestarts?: number;
  /** Close the pool on SIGINT and SIGTERM, after each worker has read what its ring holds. @default false */
  handleSignals?: boolean;
  /** How long one worker may take to open its capture and load the handler. @default 15000 */
  startTimeoutMs?: number;
  /** How long `close()` waits for workers before terminating them. @default 5000 */
  closeTimeoutMs?: number;
}

/** Counters of one worker, or of the pool. `received`/`drops`/`freezes` are the kernel's. */
export interface FanoutCounters extends CaptureStats {
  /** Frames handed to the handler. */
  packets: number;
  /** Their wire length in bytes. */
  bytes: number;
  /** Non-empty blocks handed to the handler. */
  blocks: number;
}

/** One report from one worker, as it arrives. */
export interface FanoutReport<R = unknown> {
  workerIndex: number;
  /** True for the last report of a worker's run. */
  final: boolean;
  /** The worker's counters since it (re)started. */
  counters: FanoutCounters;
  /** What the handler's `report()` returned (undefined without one). */
  data: R | undefined;
}

export type FanoutWorkerState = "starting" | "running" | "stopping" | "closed" | "failed";

export interface FanoutWorkerStats extends FanoutCounters {
  workerIndex: number;
  state: FanoutWorkerState;
  restarts: number;
}

export interface FanoutPoolStats {
  /** Sums over all workers, including runs that were restarted. */
  total: FanoutCounters;
  /** One entry per worker, so that an uneven spread shows. As of each worker's latest report. */
  perWorker: FanoutWorkerStats[];
}

/** What a handler sent with `ctx.post()`. */
export interface FanoutMessage {
  workerIndex: number;
  data: unknown;
}

type FanoutEvents<R> = {
  report: (report: FanoutReport<R>) => void;
  message: (message: FanoutMessage) => void;
  error: (error: RingcapError) => void;
  restart: (info: { workerIndex: number; restarts: number; error: RingcapError }) => void;
};

/** @internal Values of the pool's stop flag: run, stop after the current block, or read what the ring holds first. */
export const RUN = 0;
/** @internal */
export const STOP_NOW = 1;
/** @internal */
export const STOP_AFTER_DRAIN = 2;

/** Options of {@link FanoutPool.close}. */
export interface FanoutCloseOptions {
  /**
   * Let each worker first hand its handler every frame the kernel had put in its ring when
   * close() was called (bounded: at most 2 s). @default false
   */
  drain?: boolean;
}

/** @internal The message that starts a worker. */
export interface WorkerInit {
  iface: string;
  capture: CaptureOptions;
  handlerUrl: string;
  workerIndex: number;
  workers: number;
  restarts: number;
  data: unknown;
  stop: SharedArrayBuffer;
  reportIntervalMs: number;
}

interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  errno?: number;
}

/** @internal Messages from a worker to the pool. */
export type ToPool =
  /** The capture is open: from now on the pool closes it if the worker ends without doing so. */
  | { type: "opened"; index: number; handle: number; tid: number }
  | { type: "ready"; index: number; info: CaptureInfo; handle: number }
  | {
    type: "report";
    index: number;
    seq: number;
    final: boolean;
    stats: CaptureStats;
    packets: number;
    bytes: number;
    blocks: number;
    data: unknown;
  }
  | { type: "data"; index: number; data: unknown }
  | { type: "error"; index: number; error: SerializedError }
  | { type: "closed"; index: number }
  /** Deno only, the worker's last message: Deno Workers have no "close" event. */
  | { type: "exit"; index: number; code: number };

interface Member {
  index: number;
  worker: Worker | null;
  state: FanoutWorkerState;
  restarts: number;
  /** The native capture handle of the current run, until the worker closes it. */
  handle: number;
  info: CaptureInfo | null;
  /** Counters of the current run, from its latest report. */
  current: FanoutCounters;
  /** Counters of earlier runs (restarts). */
  earlier: FanoutCounters;
  latest: FanoutReport | null;
  /** Final reports' data of earlier runs, kept for `result()`. */
  retired: unknown[];
  /** Ends the current run's thread at once (Worker.terminate, plus what Deno needs after it). */
  kill: () => void;
}

/** Deno's Worker has no "close" event: the pool then learns of a worker's end by other means. */
const IS_DENO = typeof (globalThis as { Bun?: unknown }).Bun === "undefined" &&
  typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

/** How long a Deno worker's thread may take to end after its last message or `terminate()`. */
const THREAD_END_MAX_MS = 5000;

/**
 * Resolves to true once thread `tid` of this process has ended, false if it is still there
 * after `maxMs`. Deno's `terminate()` returns before the thread stops (a native call it is in
 * finishes first), and its ring must not be unmapped under it.
 */
async function threadEnded(tid: number, maxMs: number): Promise<boolean> {
  const path = `/proc/self/task/${tid}`;
  const end = performance.now() + maxMs;
  for (let step = 1; existsSync(path); step = Math.min(step * 2, 50)) {
    if (performance.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, step));
  }
  return true;
}

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

interface DenoSignals {
  addSignalListener(signal: string, handler: () => void): void;
  removeSignalListener(signal: string, handler: () => void): void;
}

/** Calls `fn` on SIGINT and SIGTERM; returns the function that stops listening. */
function onSignals(fn: () => void): () => void {
  if (IS_DENO) {
    const deno = (globalThis as unknown as { Deno: DenoSignals }).Deno;
    for (const sig of SIGNALS) deno.addSignalListener(sig, fn);
    return () => {
      for (const sig of SIGNALS) deno.removeSignalListener(sig, fn);
    };
  }
  for (const sig of SIGNALS) process.on(sig, fn);
  return () => {
    for (const sig of SIGNALS) process.off(sig, fn);
  };
}

const zero = (): FanoutCounters => ({ received: 0, drops: 0, freezes: 0, packets: 0, bytes: 0, blocks: 0 });

function add(a: FanoutCounters, b: FanoutCounters): FanoutCounters {
  return {
    received: a.received + b.received,
    drops: a.drops + b.drops,
    freezes: a.freezes + b.freezes,
    packets: a.packets + b.packets,
    bytes: a.bytes + b.bytes,
    blocks: a.blocks + b.blocks,
  };
}

function rebuild(e: SerializedError): Error {
  const err = new Error(e.message) as Error & { code?: string; errno?: number };
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  // Kept so that callers can branch on what failed inside the worker (e.g. "disk_full").
  if (e.code !== undefined) err.code = e.code;
  if (e.errno !== undefined) err.errno = e.errno;
  return err;
}

/** The error a worker's failure becomes: its own code while starting, "worker_failed" later. */
function workerError(index: number, e: SerializedError | string, starting: boolean): RingcapError {
  if (typeof e === "string") return new RingcapError("worker_failed", `fanout worker ${index} failed: ${e}`);
  const cause = rebuild(e);
  if (starting && e.code) {
    const message = `fanout worker ${index}: ${e.message}`;
    if (e.code === "permission_denied") return new PermissionError(message, e.errno);
    return new RingcapError(e.code, message, { errno: e.errno, cause });
  }
  return new RingcapError("worker_failed", `fanout worker ${index} failed: ${e.name}: ${e.message}`, { cause, errno: e.errno });
}

function positiveInt(value: number | undefined, fallback: number, name: string, max = 0xffff): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RingcapError("invalid_argument", `${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return v;
}

/** A deferred promise whose rejection never counts as unhandled (callers see it through `done`). */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * Starts a pool of workers capturing on `iface`, each a member of one fanout group. Resolves
 * once every worker has opened its capture and loaded its handler: from then on no frame is
 * missed. Rejects (with the worker's own error code, e.g. "fanout_group_busy") when a worker
 * cannot start; the workers already started are stopped first.
 *
 * @example
 * ```ts
 * await using pool = await openFanout("eth0", {
 *   worker: new URL("./count-udp.ts", import.meta.url),
 *   workers: 4,
 *   mode: "hash",
 *   merge: (a, b) => ({ udp: a.udp + b.udp }),
 * });
 * pool.on("report", (r) => console.log(r.workerIndex, r.counters.packets));
 * await new Promise((resolve) => setTimeout(resolve, 10_000));
 * console.log(pool.result(), pool.stats().total);
 * ```
 */
export async function openFanout<D = unknown, R = unknown>(
  iface: string,
  options: FanoutPoolOptions<D, R>,
): Promise<FanoutPool<R>> {
  const pool = new FanoutPool<R>(iface, options);
  await pool.start();
  return pool;
}

/**
 * A running pool of fanout workers (made by {@link openFanout}). `close()` stops every worker
 * after its current block, waits for their final reports, and resolves when all have ended;
 * it rejects when a worker failed.
 */
export class FanoutPool<R = unknown> {
  readonly iface: string;
  /** Workers in the pool. */
  readonly workers: number;
  readonly mode: FanoutMode;
  #options: FanoutPoolOptions<unknown, R>;
  #groupId = -1;
  #waker: Waker;
  #stopBuffer = new SharedArrayBuffer(4);
  #stop = new Int32Array(this.#stopBuffer);
  #members: Member[];
  #live = 0;
  #allEnded = deferred<void>();
  #done = deferred<void>();
  #closing: Promise<void> | null = null;
  #error: RingcapError | null = null;
  #started = false;
  #listeners: { [K in keyof FanoutEvents<R>]: Set<FanoutEvents<R>[K]> } = {
    report: new Set(),
    message: new Set(),
    error: new Set(),
    restart: new Set(),
  };
  #queues = new Set<{ items: FanoutReport<R>[]; wake: (() => void) | null }>();
  #restartChain: Promise<void> = Promise.resolve();
  #signalsOff: (() => void) | null = null;
  #captureOptions: CaptureOptions;
  #handlerUrl: string;

  /** @internal Use {@link openFanout}. */
  constructor(iface: string, options: FanoutPoolOptions<unknown, R>) {
    if (!options || (typeof options.worker !== "string" && !(options.worker instanceof URL))) {
      throw new RingcapError("invalid_argument", "openFanout needs options.worker: the URL of a handler module, e.g. new URL(\"./handler.ts\", import.meta.url)");
    }
    if (typeof iface !== "string" || iface.length === 0 || iface.length > 15) {
      throw new RingcapError("interface_name_invalid", `interface name must be 1 to 15 characters, got ${JSON.stringify(iface)}`);
    }
    const mode = options.mode ?? "hash";
    if (!(mode in FANOUT_MODES)) {
      throw new RingcapError("fanout_invalid", `unknown fanout mode ${JSON.stringify(mode)}: use one of ${Object.keys(FANOUT_MODES).join(", ")}`);
    }
    if (options.groupId !== undefined) {
      if (!Number.isInteger(options.groupId) || options.groupId < 0 || options.groupId > 0xffff) {
        throw new RingcapError("fanout_invalid", `groupId must be an integer from 0 to 65535, got ${options.groupId}`);
      }
      if (options.uniqueId) throw new RingcapError("fanout_invalid", "give groupId or uniqueId, not both");
    } else if (options.uniqueId === false) {
      throw new RingcapError("fanout_invalid", "uniqueId: false needs a groupId");
    }
    if (mode === "cbpf" && !options.program) throw new RingcapError("fanout_invalid", "the cbpf mode needs a program");
    if (mode === "ebpf" && options.ebpfFd === undefined) throw new RingcapError("fanout_invalid", "the ebpf mode needs an ebpfFd");
    this.iface = iface;
    this.mode = mode;
    this.workers = positiveInt(options.workers, availableParallelism(), "workers", 256);
    positiveInt(options.reportIntervalMs, 1000, "reportIntervalMs", 3_600_000);
    this.#options = options;
    this.#handlerUrl = String(options.worker);
    this.#captureOptions = {
      ring: options.ring,
      filter: options.filter,
      snaplen: options.snaplen,
      promisc: options.promisc,
      netns: options.netns,
      rxHash: options.rxHash,
    };
    this.#members = Array.from({ length: this.workers }, (_, index) => ({
      index,
      worker: null,
      state: "starting",
      restarts: 0,
      handle: -1,
      info: null,
      current: zero(),
      earlier: zero(),
      latest: null,
      retired: [],
      kill: () => {},
    }));
    this.#waker = new Waker();
  }

  /** The fanout group id every worker joined (the kernel's choice unless `groupId` was given). */
  get groupId(): number {
    return this.#groupId;
  }

  /** What each worker's capture settled on (ring size, group id, ...). */
  get info(): readonly (CaptureInfo | null)[] {
    return this.#members.map((m) => m.info);
  }

  /** True once `close()` was called or a worker failed. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Settles when the pool has ended: resolves after `close()`, rejects with a RingcapError
   * "worker_failed" (its `cause` is the worker's error) when a worker failed.
   */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** @internal Starts the workers one at a time; called by {@link openFanout}. */
  async start(): Promise<void> {
    if (this.#started) throw new RingcapError("invalid_argument", "the pool was started already");
    this.#started = true;
    try {
      for (const m of this.#members) {
        // One at a time: the first creates the group (the others join the id it got), and
        // each worker's first dlopen happens alone.
        await this.#startWorker(m);
        if (this.#closing) break;
      }
    } catch (e) {
      await this.close().catch(() => {});
      throw e;
    }
    if (this.#closing) {
      // A worker failed after it was ready while later ones were starting.
      await this.#closing.catch(() => {});
      throw this.#error ?? new ClosedError("fanout pool");
    }
    if (this.#options.handleSignals) this.#signalsOff = onSignals(() => void this.close({ drain: true }).catch(() => {}));
  }

  #fanoutOptions(): CaptureOptions["fanout"] {
    const o = this.#options;
    const first = this.#groupId < 0;
    return {
      mode: this.mode,
      defrag: o.defrag,
      rollover: o.rollover,
      ignoreOutgoing: o.ignoreOutgoing,
      program: o.program,
      ebpfFd: o.ebpfFd,
      // Until a member has joined, let the kernel pick (or use the caller's id); after that,
      // everybody joins the id the group got. A lone worker's restart recreates the group.
      ...(first ? (o.groupId === undefined ? { uniqueId: true } : { groupId: o.groupId }) : { groupId: this.#groupId }),
    };
  }

  #startWorker(m: Member): Promise<void> {
    const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    m.worker = worker;
    m.state = "starting";
    m.handle = -1;
    m.current = zero();
    m.latest = null;
    this.#live++;
    let failure: RingcapError | null = null;
    let closedCleanly = false;
    let ready = false;
    const started = deferred<void>();
    const timeoutMs = this.#options.startTimeoutMs ?? 15_000;
    let tid = -1;
    let ended = false;
    // A Deno worker's end, in place of Bun's "close" event: after its last message or after
    // terminate(), wait for its thread to be gone, then end the run as the event would.
    let reaping = false;
    const reap = async (code: number) => {
      if (reaping) return;
      reaping = true;
      let gone = true;
      if (tid >= 0) gone = await threadEnded(tid, THREAD_END_MAX_MS);
      // Without /proc read access the thread cannot be watched: give it a moment to leave native code.
      else if (m.handle >= 0) await new Promise((resolve) => setTimeout(resolve, 250));
      if (!gone && m.handle >= 0) {
        // Still in native code after all this time: leave its ring mapped rather than pull it away.
        failure ??= new RingcapError(
          "worker_failed",
          `fanout worker ${m.index} did not end within ${THREAD_END_MAX_MS} ms; its capture stays open`,
        );
        m.handle = -1;
      }
      end(code);
    };
    m.kill = () => {
      worker.terminate();
      if (IS_DENO) void reap(1);
    };
    const timer = setTimeout(() => {
      failure ??= new RingcapError("worker_failed", `fanout worker ${m.index} did not start within ${timeoutMs} ms`);
      m.kill();
    }, timeoutMs);

    worker.addEventListener("message", (event: MessageEvent) => {
      const msg = event.data as ToPool;
      switch (msg.type) {
        case "opened":
          m.handle = msg.handle;
          tid = msg.tid;
          break;
        case "ready":
          ready = true;
          clearTimeout(timer);
          m.handle = msg.handle;
          m.info = msg.info;
          m.state = this.#closing ? "stopping" : "running";
          if (this.#groupId < 0) this.#groupId = msg.info.fanoutGroupId;
          started.resolve();
          break;
        case "report":
          this.#onReport(m, msg);
          break;
        case "data":
          for (const fn of this.#listeners.message) fn({ workerIndex: m.index, data: msg.data });
          break;
        case "error":
          failure ??= workerError(m.index, msg.error, !ready);
          break;
        case "closed":
          closedCleanly = true;
          m.handle = -1;
          break;
        case "exit":
          void reap(msg.code);
          break;
      }
    });
    worker.addEventListener("error", (event: Event) => {
      const e = event as ErrorEvent;
      failure ??= workerError(m.index, e.message || String(e.error ?? "uncaught error"), !ready);
      if (IS_DENO) {
        // Unhandled, Deno rethrows a worker's error in this thread. The worker has ended anyway.
        e.preventDefault();
        m.kill();
      }
    });
    const end = (code: number) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      m.worker = null;
      m.kill = () => {};
      if (m.handle >= 0) {
        // The worker ended without closing its capture (it crashed or was terminated). Its
        // thread is gone, so nothing reads the ring any more: close the socket for it.
        native().captureClose(m.handle);
        m.handle = -1;
      }
      const ok = closedCleanly && code === 0 && failure === null;
      if (!ok) failure ??= workerError(m.index, `exited with code ${code} before it had closed`, !ready);
      m.state = ok ? "closed" : "failed";
      if (!ready) started.reject(failure);
      else if (!ok) this.#onFailure(m, failure!);
      if (--this.#live === 0 && this.#closing) this.#allEnded.resolve();
    };
    if (!IS_DENO) {
      worker.addEventListener("close", (event: Event) => end((event as CloseEvent & { code?: number }).code ?? 0));
    }

    const init: WorkerInit = {
      iface: this.iface,
      capture: { ...this.#captureOptions, fanout: this.#fanoutOptions(), wakeFd: this.#waker.fd },
      handlerUrl: this.#handlerUrl,
      workerIndex: m.index,
      workers: this.workers,
      restarts: m.restarts,
      data: this.#options.workerData,
      stop: this.#stopBuffer,
      reportIntervalMs: this.#options.reportIntervalMs ?? 1000,
    };
    worker.postMessage(init);
    return started.promise;
  }

  #onReport(m: Member, msg: Extract<ToPool, { type: "report" }>): void {
    const counters: FanoutCounters = {
      received: msg.stats.received,
      drops: msg.stats.drops,
      freezes: msg.stats.freezes,
      packets: msg.packets,
      bytes: msg.bytes,
      blocks: msg.blocks,
    };
    m.current = counters;
    const report: FanoutReport<R> = { workerIndex: m.index, final: msg.final, counters, data: msg.data as R | undefined };
    m.latest = report;
    for (const fn of this.#listeners.report) fn(report);
    for (const q of this.#queues) {
      // Bounded: a consumer that stops reading loses the oldest reports, not memory.
      if (q.items.length >= 4096) q.items.shift();
      q.items.push(report);
      q.wake?.();
    }
  }

  #onFailure(m: Member, error: RingcapError): void {
    const o = this.#options;
    // Fold the failed run into the worker's history, so totals keep counting it.
    m.earlier = add(m.earlier, m.current);
    m.current = zero();
    if (m.latest?.data !== undefined) m.retired.push(m.latest.data);
    m.latest = null;
    if (!this.#closing && o.restart && m.restarts < (o.maxRestarts ?? 5)) {
      m.restarts++;
      for (const fn of this.#listeners.restart) fn({ workerIndex: m.index, restarts: m.restarts, error });
      if (this.#members.every((x) => x.worker === null)) this.#groupId = -1;
      this.#restartChain = this.#restartChain
        .then(() => (this.#closing ? undefined : this.#startWorker(m)))
        .catch((e) => this.#fail(e instanceof RingcapError ? e : workerError(m.index, String(e), false)));
      return;
    }
    this.#fail(error);
  }

  #fail(error: RingcapError): void {
    if (this.#error) return;
    this.#error = error.code === "worker_failed" ? error : new RingcapError("worker_failed", error.message, { cause: error });
    for (const fn of this.#listeners.error) fn(this.#error);
    void this.close().catch(() => {});
  }

  /**
   * Listens to reports as they arrive (every `reportIntervalMs` from each worker, and a final
   * one each), to what handlers `post()`, to failures, or to restarts. Returns a function that removes the listener.
   */
  on<K extends keyof FanoutEvents<R>>(event: K, fn: FanoutEvents<R>[K]): () => void {
    const set = this.#listeners[event] as Set<FanoutEvents<R>[K]>;
    set.add(fn);
    return () => set.delete(fn);
  }

  /**
   * The reports as they arrive, until the pool has ended (the final reports included).
   *
   * @example
   * ```ts
   * for await (const r of pool.reports()) console.log(r.workerIndex, r.data);
   * ```
   */
  async *reports(): AsyncGenerator<FanoutReport<R>, void, undefined> {
    const q: { items: FanoutReport<R>[]; wake: (() => void) | null } = { items: [], wake: null };
    this.#queues.add(q);
    const ended = this.#allEnded.promise.then(() => true);
    try {
      while (true) {
        while (q.items.length > 0) yield q.items.shift()!;
        if (this.#closing && this.#live === 0) return;
        const next = new Promise<boolean>((resolve) => (q.wake = () => resolve(false)));
        await Promise.race([next, ended]);
        q.wake = null;
      }
    } finally {
      this.#queues.delete(q);
    }
  }

  /** Counters per worker and in total, as of each worker's latest report. */
  stats(): FanoutPoolStats {
    let total = zero();
    const perWorker = this.#members.map((m) => {
      const c = add(m.earlier, m.current);
      total = add(total, c);
      return { workerIndex: m.index, state: m.state, restarts: m.restarts, ...c };
    });
    return { total, perWorker };
  }

  /**
   * The handlers' latest reports combined: with `merge`, one value (undefined before any
   * report); without, the list of them (runs before a restart included).
   */
  result(): R | R[] | undefined {
    const all: R[] = [];
    for (const m of this.#members) {
      for (const r of m.retired) all.push(r as R);
      if (m.latest?.data !== undefined) all.push(m.latest.data as R);
    }
    const merge = this.#options.merge;
    if (!merge) return all;
    return all.length === 0 ? undefined : all.reduce((a, b) => merge(a, b));
  }

  /**
   * Stops every worker after the block it is on, waits for the final reports, and resolves
   * when all workers have ended. Rejects with the failure when a worker failed. Idempotent
   * (the first call's options count). Frames still waiting in the rings are not read unless
   * `drain` is set: then each worker first takes what its ring held at this moment.
   *
   * @example
   * ```ts
   * process.on("SIGINT", () => void pool.close({ drain: true }));
   * ```
   */
  close(options: FanoutCloseOptions = {}): Promise<void> {
    this.#closing ??= this.#stopAll(options.drain === true);
    return this.#closing;
  }

  async #stopAll(drain: boolean): Promise<void> {
    Atomics.store(this.#stop, 0, drain ? STOP_AFTER_DRAIN : STOP_NOW);
    this.#waker.signal();
    for (const m of this.#members) if (m.state === "running" || m.state === "starting") m.state = "stopping";
    if (this.#live === 0) this.#allEnded.resolve();
    const limit = this.#options.closeTimeoutMs ?? 5000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, limit)));
    await Promise.race([this.#allEnded.promise, late]);
    if (this.#live > 0) {
      // A handler that never returns: end its thread. Its end (Bun's close event, or Deno's
      // thread gone from /proc) then closes its capture.
      for (const m of this.#members) m.kill();
      clearTimeout(timer);
      const killed = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)));
      await Promise.race([this.#allEnded.promise, killed]);
      // Deno's terminate() cannot stop a handler that never yields: say so instead of
      // resolving as if every thread had ended.
      const alive = this.#members.filter((m) => m.worker !== null).map((m) => m.index);
      if (alive.length > 0) {
        const message = `fanout worker ${alive.join(", ")} did not stop within ${limit + 1000} ms of close()`;
        this.#fail(new RingcapError("worker_failed", message));
      }
    }
    clearTimeout(timer);
    await this.#restartChain;
    this.#waker.close();
    this.#signalsOff?.();
    this.#signalsOff = null;
    for (const q of this.#queues) q.wake?.();
    if (this.#error) {
      this.#done.reject(this.#error);
      throw this.#error;
    }
    this.#done.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The fanout pool's public vocabulary: what a handler module exports and receives, the pool's
 * options, and what the pool reports. Types only, so a handler module can import them without
 * loading the pool.
 * @module
 */

import type { Capture, CaptureStats, Direction, FanoutMode, RingOptions, TimestampType } from "../capture.ts";
import type { RingcapError } from "../errors.ts";
import type { BpfProgram } from "../bpf/program.ts";
import type { Block } from "../packet.ts";

/**
 * What a handler module's `createHandler` receives, and what `onBlock` gets again.
 *
 * @example
 * ```ts
 * export function createHandler(ctx: FanoutHandlerContext<{ port: number }>) {
 *   console.log(`worker ${ctx.workerIndex} of ${ctx.workers}, port ${ctx.data.port}`);
 *   return { onBlock() {} };
 * }
 * ```
 */
export interface FanoutHandlerContext<D = unknown> {
  /** This worker's place in the pool, 0 to `workers - 1`. */
  readonly workerIndex: number;
  /** How many workers the pool has. */
  readonly workers: number;
  /** How often this worker's place was restarted before (0 for the first run). */
  readonly restarts: number;
  /** The pool's `workerData`, structured-cloned into this worker. */
  readonly data: D;
  /**
   * This worker's capture: read frames through `capture.view`/`capture.bytes`. In a pool over a
   * saved file (`openFanout({ file })`) it is a stand-in with the same `bytes`, `view`, `info`
   * and `stats()` over the blocks the pool fills for this worker (no socket: no `dispatch`,
   * `blocks` or filter of its own).
   */
  readonly capture: Capture;
  /**
   * Sends `data` to the pool at once, where `pool.on("message", ...)` receives it, in order
   * with this worker's reports. For streams that cannot wait for the next report (copied
   * packets, alerts). Transfer only buffers this worker made, never ring memory: the ring is
   * the kernel's again once the block is released, and unmapped when the worker ends. A
   * transfer list that holds ring memory (`capture.bytes.buffer` or a view of it) throws a
   * RingcapError "ring_memory_transfer" and nothing is sent: `copy()` what you send.
   */
  post(data: unknown, transfer?: Transferable[]): void;
}

/**
 * The per-worker handler. `onBlock` runs for every non-empty block in a loop with no await
 * in it; the block is released when it returns, so copy whatever must outlive it.
 *
 * @example
 * ```ts
 * const handler: FanoutHandler<{ packets: number }> = {
 *   onBlock(block) { packets += block.packetCount; },
 *   report: () => ({ packets }),
 * };
 * ```
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

/**
 * The shape of a handler module's `createHandler` (or default export).
 *
 * @example
 * ```ts
 * export const createHandler: CreateFanoutHandler = () => ({ onBlock() {} });
 * ```
 */
export type CreateFanoutHandler<D = unknown, R = unknown> = (
  ctx: FanoutHandlerContext<D>,
) => FanoutHandler<R> | Promise<FanoutHandler<R>>;

/**
 * How to run a pool (see `FANOUT_DEFAULTS` for what the optional fields come to).
 *
 * @example
 * ```ts
 * const options: FanoutPoolOptions = { worker: new URL("./count.ts", import.meta.url), workers: 4 };
 * ```
 */
export interface FanoutPoolOptions<D = unknown, R = unknown> {
  /** The handler module, e.g. `new URL("./handler.ts", import.meta.url)`. */
  worker: URL | string;
  /** Passed to every handler as `ctx.data` (structured-cloned). */
  workerData?: D;
  /** Workers, each with its own socket and ring (1 to 256). @default os.availableParallelism() */
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
  /** Which packets each worker's capture takes, as `CaptureOptions.direction`. @default "inout" */
  direction?: Direction;
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
  /** Whose clock stamps the packets, as `CaptureOptions.timestampType`. @default "host" */
  timestampType?: TimestampType;
  /** Each worker's capture in immediate mode, as `CaptureOptions.immediate`. @default false */
  immediate?: boolean;
  /** How often each worker reports (1 to 3,600,000). @default 1000 */
  reportIntervalMs?: number;
  /** Combines two reports' `data` for `pool.result()`. Without it, `result()` lists them. */
  merge?: (a: R, b: R) => R;
  /**
   * Restart a worker that fails (it rejoins the group) instead of stopping the pool; not when
   * the interface went down or away ("network_down"). @default false
   */
  restart?: boolean;
  /** Restarts allowed per worker before the pool gives up. @default 5 */
  maxRestarts?: number;
  /** Close the pool on SIGINT and SIGTERM, after each worker has read what its ring holds. @default false */
  handleSignals?: boolean;
  /** How long one worker may take to open its capture and load the handler. @default 15000 */
  startTimeoutMs?: number;
  /**
   * How long `close()` waits for workers before terminating them; the error then names what a
   * terminated worker was stuck in ("did not return from onBlock ..."). @default 5000
   */
  closeTimeoutMs?: number;
}

/**
 * Counters of one worker, or of the pool. `received`/`drops`/`freezes` are the kernel's.
 *
 * @example
 * ```ts
 * const { packets, drops }: FanoutCounters = pool.stats().total;
 * ```
 */
export interface FanoutCounters extends CaptureStats {
  /** Frames handed to the handler. */
  packets: number;
  /** Their wire length in bytes. */
  bytes: number;
  /** Non-empty blocks handed to the handler. */
  blocks: number;
}

/**
 * One report from one worker, as it arrives.
 *
 * @example
 * ```ts
 * pool.on("report", (r: FanoutReport) => console.log(r.workerIndex, r.counters.packets, r.data));
 * ```
 */
export interface FanoutReport<R = unknown> {
  workerIndex: number;
  /** True for the last report of a worker's run. */
  final: boolean;
  /** The worker's counters since it (re)started. */
  counters: FanoutCounters;
  /** What the handler's `report()` returned (undefined without one). */
  data: R | undefined;
}

/**
 * Where one worker is in its life.
 *
 * @example
 * ```ts
 * const states: FanoutWorkerState[] = pool.stats().perWorker.map((w) => w.state);
 * ```
 */
export type FanoutWorkerState = "starting" | "running" | "stopping" | "closed" | "failed";

/**
 * One worker's counters (its restarted runs included), state and restarts.
 *
 * @example
 * ```ts
 * for (const w of pool.stats().perWorker) console.log(w.workerIndex, w.state, w.packets);
 * ```
 */
export interface FanoutWorkerStats extends FanoutCounters {
  workerIndex: number;
  state: FanoutWorkerState;
  restarts: number;
}

/**
 * What `pool.stats()` returns.
 *
 * @example
 * ```ts
 * const { total, perWorker }: FanoutPoolStats = pool.stats();
 * ```
 */
export interface FanoutPoolStats {
  /** Sums over all workers, including runs that were restarted. */
  total: FanoutCounters;
  /** One entry per worker, so that an uneven spread shows. As of each worker's latest report. */
  perWorker: FanoutWorkerStats[];
}

/**
 * What a handler sent with `ctx.post()`.
 *
 * @example
 * ```ts
 * pool.on("message", (m: FanoutMessage) => console.log(m.workerIndex, m.data));
 * ```
 */
export interface FanoutMessage {
  workerIndex: number;
  data: unknown;
}

/**
 * The events of `pool.on(event, fn)`, by name.
 *
 * @example
 * ```ts
 * const onRestart: FanoutEvents["restart"] = (r) => console.warn(`worker ${r.workerIndex} restarted`);
 * ```
 */
export type FanoutEvents<R = unknown> = {
  report: (report: FanoutReport<R>) => void;
  message: (message: FanoutMessage) => void;
  error: (error: RingcapError) => void;
  restart: (info: { workerIndex: number; restarts: number; error: RingcapError }) => void;
};

/**
 * Options of `FanoutPool.close()`.
 *
 * @example
 * ```ts
 * await pool.close({ drain: true } satisfies FanoutCloseOptions);
 * ```
 */
export interface FanoutCloseOptions {
  /**
   * Let each worker first hand its handler every frame the kernel had put in its ring when
   * close() was called (bounded: at most 2 s). @default false
   */
  drain?: boolean;
}

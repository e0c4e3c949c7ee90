/**
 * A fanout pool's options, checked once and with the defaults filled in, before any worker
 * starts. Each worker's capture checks its own options again (ring, snaplen, filter) and fails
 * with its own error code; the native library is the last line of defence.
 * @module
 */

import { availableParallelism } from "node:os";
import { type CaptureInterfaces, type CaptureOptions, captureInterfaces, checkDirection, fanoutGroupId, fanoutMode, type FanoutMode, type FanoutOptions } from "../capture.ts";
import { checkBpfProgram } from "../bpf/program.ts";
import { RingcapError } from "../errors.ts";
import { intOption, U32 } from "../options.ts";
import type { FanoutPoolOptions } from "./types.ts";

/**
 * What a pool's optional settings come to when left out. `workers` defaults to
 * `os.availableParallelism()` (at most `maxWorkers`), which is not a constant.
 *
 * @example
 * ```ts
 * const pool = await openFanout("eth0", { worker, closeTimeoutMs: FANOUT_DEFAULTS.closeTimeoutMs * 2 });
 * ```
 */
export const FANOUT_DEFAULTS = Object.freeze({
  /** The capture's own default mode. */
  mode: fanoutMode(undefined),
  /** The most workers a pool may have (the kernel's PACKET_FANOUT_MAX of older kernels). */
  maxWorkers: 256,
  reportIntervalMs: 1000,
  restart: false,
  maxRestarts: 5,
  handleSignals: false,
  startTimeoutMs: 15_000,
  closeTimeoutMs: 5_000,
});

/** The longest delay setTimeout keeps (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 0x7fffffff;

/** The pool's options after `poolSettings`: every field decided. */
export interface PoolSettings<R = unknown> {
  handlerUrl: string;
  workerData: unknown;
  workers: number;
  mode: FanoutMode;
  /** The caller's fixed group id, or undefined to let the kernel pick one. */
  groupId: number | undefined;
  /** What every member's fanout options share; the group id is decided at each start. */
  fanout: Omit<FanoutOptions, "groupId" | "uniqueId">;
  /** What every member's capture options share (the pool adds `fanout` and `wakeFd`). */
  capture: CaptureOptions;
  reportIntervalMs: number;
  merge: ((a: R, b: R) => R) | undefined;
  restart: boolean;
  maxRestarts: number;
  handleSignals: boolean;
  startTimeoutMs: number;
  closeTimeoutMs: number;
}

/**
 * Checks `options` for a pool on `iface` (null: a file source, checked by file_source.ts) and
 * fills in the defaults; throws a RingcapError.
 */
export function poolSettings<R>(iface: CaptureInterfaces | null, options: FanoutPoolOptions<unknown, R>): PoolSettings<R> {
  if (!options || (typeof options.worker !== "string" && !(options.worker instanceof URL))) {
    throw new RingcapError("invalid_argument", "openFanout needs options.worker: the URL of a handler module, e.g. new URL(\"./handler.ts\", import.meta.url)");
  }
  // Checked here as well as by each worker's capture, so that a bad name starts no worker.
  if (iface !== null) captureInterfaces(iface);
  const mode = fanoutMode(options.mode);
  const groupId = groupIdOption(options);
  if (mode === "cbpf" && !options.program) throw new RingcapError("fanout_invalid", "the cbpf mode needs a program");
  // Checked here so that a bad program starts no worker (each worker's capture checks again).
  if (options.program !== undefined) checkBpfProgram(options.program, "program");
  if (typeof options.filter === "object" && options.filter !== null) checkBpfProgram(options.filter, "filter");
  if (mode === "ebpf" && options.ebpfFd === undefined) throw new RingcapError("fanout_invalid", "the ebpf mode needs an ebpfFd");
  const max = FANOUT_DEFAULTS.maxWorkers;
  return {
    handlerUrl: String(options.worker),
    workerData: options.workerData,
    workers: intOption(options.workers, "workers", { min: 1, max }, Math.min(availableParallelism(), max)),
    mode,
    groupId,
    fanout: {
      mode,
      defrag: options.defrag,
      rollover: options.rollover,
      ignoreOutgoing: options.ignoreOutgoing,
      program: options.program,
      ebpfFd: options.ebpfFd,
    },
    capture: {
      ring: options.ring,
      filter: options.filter,
      snaplen: options.snaplen,
      promisc: options.promisc,
      netns: options.netns,
      rxHash: options.rxHash,
      timestampType: options.timestampType,
      immediate: options.immediate,
      direction: checkDirection(options.direction),
    },
    ...timingOptions(options),
    merge: options.merge,
    restart: options.restart ?? FANOUT_DEFAULTS.restart,
    maxRestarts: intOption(options.maxRestarts, "maxRestarts", U32, FANOUT_DEFAULTS.maxRestarts),
    handleSignals: options.handleSignals ?? FANOUT_DEFAULTS.handleSignals,
  };
}

/** The caller's group id (checked), or undefined; `uniqueId` must not contradict it. */
function groupIdOption(options: Pick<FanoutPoolOptions, "groupId" | "uniqueId">): number | undefined {
  if (options.groupId !== undefined) {
    const id = fanoutGroupId(options.groupId);
    if (options.uniqueId) throw new RingcapError("fanout_invalid", "give groupId or uniqueId, not both");
    return id;
  }
  if (options.uniqueId === false) throw new RingcapError("fanout_invalid", "uniqueId: false needs a groupId");
  return undefined;
}

function timingOptions(options: Pick<FanoutPoolOptions, "reportIntervalMs" | "startTimeoutMs" | "closeTimeoutMs">) {
  const d = FANOUT_DEFAULTS;
  return {
    reportIntervalMs: intOption(options.reportIntervalMs, "reportIntervalMs", { min: 1, max: 3_600_000 }, d.reportIntervalMs),
    startTimeoutMs: intOption(options.startTimeoutMs, "startTimeoutMs", { min: 1, max: MAX_TIMER_MS }, d.startTimeoutMs),
    closeTimeoutMs: intOption(options.closeTimeoutMs, "closeTimeoutMs", { min: 0, max: MAX_TIMER_MS }, d.closeTimeoutMs),
  };
}

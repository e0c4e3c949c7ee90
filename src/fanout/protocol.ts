/**
 * The wire protocol between a fanout pool and its workers: the message that starts a worker,
 * the messages a worker sends back, the shared stop flag, and how an error crosses the thread
 * boundary. Both sides import this module and nothing of each other.
 * @internal
 * @module
 */

import type { CaptureInfo, CaptureInterfaces, CaptureOptions, CaptureStats } from "../capture.ts";
import { PermissionError, RingcapError } from "../errors.ts";

/** Value of the pool's stop flag (an Int32 in a SharedArrayBuffer): keep reading. */
export const RUN = 0;
/** Stop after the current block. */
export const STOP_NOW = 1;
/** Read what the ring held when the flag was raised, then stop. */
export const STOP_AFTER_DRAIN = 2;

/**
 * Where a worker's thread is, in an Int32 of a SharedArrayBuffer the worker writes and the pool
 * reads. When the pool has to end a worker that did not stop, the phase says what it was stuck
 * in (a handler that never returns from `onBlock` is reported as that, not as an exit).
 */
export const PHASE = Object.freeze({
  /** Opening the capture, loading the handler module, createHandler. */
  starting: 0,
  /** In the block loop, outside the handler (waiting for a block, counting). */
  loop: 1,
  onBlock: 2,
  report: 3,
  close: 4,
});

/** What each phase is called in a message, by value. */
export const PHASE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [PHASE.starting]: "loading the handler (createHandler)",
  [PHASE.loop]: "the block loop",
  [PHASE.onBlock]: "onBlock",
  [PHASE.report]: "report()",
  [PHASE.close]: "close()",
});

/** What a worker of a file-reading pool gets in place of capture options. */
export interface FeedInit {
  /** FEED_HEADER bytes (file_feed.ts), then `slots` slots of `slotBytes`. */
  buffer: SharedArrayBuffer;
  slots: number;
  slotBytes: number;
  /** The file's path (or "-"), for `info.interface`. */
  label: string;
  /** The file's interface names by position (pcapng `if_name`, "" without): ifindex - 1. */
  interfaces: string[];
  /** The file's first link type, as `info.arpType` reports it (ARPHRD_ETHER for Ethernet). */
  arpType: number;
  /** The file's first link type (LINKTYPE_*), for `info.linkType`. */
  linkType: number;
  snaplen: number;
}

/** The message that starts a worker. */
export interface WorkerInit {
  iface: CaptureInterfaces;
  capture: CaptureOptions;
  handlerUrl: string;
  workerIndex: number;
  workers: number;
  restarts: number;
  data: unknown;
  /** The stop flag: RUN, STOP_NOW or STOP_AFTER_DRAIN at index 0 of an Int32Array over it. */
  stop: SharedArrayBuffer;
  /** This run's phase: one of PHASE at index 0 of an Int32Array over it. */
  phase: SharedArrayBuffer;
  reportIntervalMs: number;
  /** A pool that reads a saved file: the worker reads this shared memory instead of opening a capture. */
  feed?: FeedInit;
}

/** An Error as plain data, so that it survives the structured clone. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  errno?: number;
}

/** A worker's periodic (and final) report. */
export interface ReportMessage {
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

/** Messages from a worker to the pool. */
export type ToPool =
  /** The capture is open: from now on the pool closes it if the worker ends without doing so. */
  | { type: "opened"; index: number; handle: number; tid: number }
  | { type: "ready"; index: number; info: CaptureInfo; handle: number }
  | ReportMessage
  | { type: "data"; index: number; data: unknown }
  | { type: "error"; index: number; error: SerializedError }
  | { type: "closed"; index: number }
  /** Deno only, the worker's last message: Deno Workers have no "close" event. */
  | { type: "exit"; index: number; code: number };

/** `e` as plain data, keeping `code` and `errno` so that the pool can branch on them. */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const err = e as Error & { code?: unknown; errno?: unknown };
    return {
      name: err.name,
      message: err.message,
      stack: err.stack,
      code: typeof err.code === "string" ? err.code : undefined,
      errno: typeof err.errno === "number" ? err.errno : undefined,
    };
  }
  return { name: "Error", message: String(e) };
}

/**
 * The Error that `serializeError` described, rebuilt on the pool's side: a RingcapError with the
 * worker's own code when it had one (so that callers can branch on `cause.code`, e.g.
 * "network_down" or "disk_full"), a plain Error otherwise.
 */
function rebuildError(e: SerializedError): Error {
  const err: Error & { errno?: number } = e.code !== undefined
    ? new RingcapError(e.code, e.message, { errno: e.errno })
    : new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  if (e.code === undefined && e.errno !== undefined) err.errno = e.errno;
  return err;
}

/** The error a worker's failure becomes: its own code while starting, "worker_failed" later. */
export function workerError(index: number, e: SerializedError | string, starting: boolean): RingcapError {
  if (typeof e === "string") return new RingcapError("worker_failed", `fanout worker ${index} failed: ${e}`);
  const cause = rebuildError(e);
  if (starting && e.code) {
    const message = `fanout worker ${index}: ${e.message}`;
    if (e.code === "permission_denied") return new PermissionError(message, e.errno);
    return new RingcapError(e.code, message, { errno: e.errno, cause });
  }
  return new RingcapError("worker_failed", `fanout worker ${index} failed: ${e.name}: ${e.message}`, { cause, errno: e.errno });
}

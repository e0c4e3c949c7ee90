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
 * The folder: `types.ts` (the public types; a handler module imports these), `settings.ts`
 * (the options, checked once, and FANOUT_DEFAULTS), `protocol.ts` (the messages between the pool
 * and a worker), `member.ts` (one member's Worker from start to end), `worker.ts` (the worker
 * thread's entry point), `file_source.ts` / `file_feed.ts` (a saved file as the source: the
 * pool's reader and the worker's blocks), and this file: the pool, which re-exports the public types.
 *
 * @module
 */

import { type CaptureInfo, type CaptureInterfaces, type CaptureOptions, type FanoutMode, Waker } from "../capture.ts";
import { ClosedError, RingcapError } from "../errors.ts";
import { onStopSignals } from "../native/runtime.ts";
import { type FanoutFileSource, FileFeeder, isFileSource } from "./file_source.ts";
import { deferred, type MemberHooks, PoolMember, poolCounters, zeroCounters } from "./member.ts";
import { STOP_AFTER_DRAIN, STOP_NOW, type WorkerInit, workerError } from "./protocol.ts";
import { type PoolSettings, poolSettings } from "./settings.ts";
import type { FanoutCloseOptions, FanoutEvents, FanoutPoolOptions, FanoutPoolStats, FanoutReport } from "./types.ts";

export type {
  CreateFanoutHandler,
  FanoutCloseOptions,
  FanoutCounters,
  FanoutEvents,
  FanoutHandler,
  FanoutHandlerContext,
  FanoutMessage,
  FanoutPoolOptions,
  FanoutPoolStats,
  FanoutReport,
  FanoutWorkerState,
  FanoutWorkerStats,
} from "./types.ts";
export type { FanoutFileSource } from "./file_source.ts";
export { FANOUT_DEFAULTS } from "./settings.ts";

/** How long close() waits for the threads it terminated to end. */
const TERMINATE_MAX_MS = 1000;

/**
 * Starts a pool of workers capturing on `iface`, each a member of one fanout group. Resolves
 * once every worker has opened its capture and loaded its handler: from then on no frame is
 * missed. Rejects (with the worker's own error code, e.g. "fanout_group_busy") when a worker
 * cannot start; the workers already started are stopped first.
 *
 * `{ file: "saved.pcap" }` in place of `iface` runs the same handler module on a saved pcap or
 * pcapng file (see {@link FanoutFileSource}): the pool reads it and sends each packet to one
 * worker by a symmetric hash of its 5-tuple (a conversation's two directions to the same
 * worker, as the "hash" mode), each exactly once and in file order, reading no faster than the
 * workers hand back their blocks. The pool then ends by itself once every packet was handled
 * (`done` resolves), or with the file's error ("file_truncated", "file_corrupt") after every
 * good packet. Options that only a live socket has (ring, filter, netns, groupId, a mode other
 * than "hash", restart, ...) are refused with "invalid_argument"; `snaplen` applies.
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
  iface: CaptureInterfaces | FanoutFileSource,
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
  /** The interface (or "any", or several) captured on ("" for a file source). */
  readonly iface: CaptureInterfaces;
  /** The saved file the pool reads (`openFanout({ file })`), or undefined when it captures live. */
  readonly file: string | undefined;
  /** Workers in the pool. */
  readonly workers: number;
  readonly mode: FanoutMode;
  #settings: PoolSettings<R>;
  #groupId = -1;
  #waker: Waker;
  #stopBuffer = new SharedArrayBuffer(4);
  #stop = new Int32Array(this.#stopBuffer);
  #members: PoolMember[];
  /** Members whose run has started and not ended yet. */
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
  /** Reads the file and feeds the workers, for a file source (file_source.ts). */
  #feeder: FileFeeder | null = null;

  /** @internal Use {@link openFanout}. */
  constructor(iface: CaptureInterfaces | FanoutFileSource, options: FanoutPoolOptions<unknown, R>) {
    const fromFile = isFileSource(iface);
    this.#settings = poolSettings(fromFile ? null : iface, options);
    if (fromFile) this.#feeder = new FileFeeder(iface, options, this.#settings.workers);
    this.iface = fromFile ? "" : iface;
    this.file = this.#feeder?.path;
    this.mode = this.#settings.mode;
    this.workers = this.#settings.workers;
    const hooks: MemberHooks = {
      closing: () => this.#closing !== null,
      ready: (_member, info) => {
        if (this.#groupId < 0) this.#groupId = info.fanoutGroupId;
      },
      report: (report) => this.#onReport(report as FanoutReport<R>),
      message: (message) => {
        for (const fn of this.#listeners.message) fn(message);
      },
      ended: (member, failure, wasReady) => this.#onEnded(member, failure, wasReady),
    };
    this.#members = Array.from({ length: this.workers }, (_, index) => new PoolMember(index, hooks));
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
   * "worker_failed" when a worker failed. Its `cause` is the worker's error: a RingcapError
   * with the worker's own code when it had one, e.g. "network_down" when the interface went
   * down or away (every worker wakes to that at once). A file source's pool also resolves by
   * itself once every packet was handled, and rejects with the file's own error
   * ("file_truncated", "file_corrupt") after its good packets.
   */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** @internal Starts the workers one at a time; called by {@link openFanout}. */
  async start(): Promise<void> {
    if (this.#started) throw new RingcapError("invalid_argument", "the pool was started already");
    this.#started = true;
    try {
      await this.#feeder?.open();
      for (const m of this.#members) {
        // One at a time: the first creates the group (the others join the id it got), and
        // each worker's first dlopen happens alone.
        await this.#startMember(m);
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
    if (this.#settings.handleSignals) this.#signalsOff = onStopSignals(() => void this.close({ drain: true }).catch(() => {}));
    if (this.#feeder) void this.#feed(this.#feeder);
  }

  /**
   * A file source: feeds the file to the workers, then ends the pool once they have handled
   * every packet; the file's error (truncated, corrupt) becomes the pool's, after those packets.
   */
  async #feed(feeder: FileFeeder): Promise<void> {
    const error = await feeder.run().catch((e) => new RingcapError("file_unreadable", String(e), { cause: e }));
    if (error && !this.#error && !this.#closing) {
      this.#error = error;
      for (const fn of this.#listeners.error) fn(error);
    }
    void this.close().catch(() => {});
  }

  #startMember(m: PoolMember): Promise<void> {
    const s = this.#settings;
    const init: Omit<WorkerInit, "phase"> = {
      iface: this.iface,
      capture: { ...s.capture, fanout: this.#fanoutOptions(), wakeFd: this.#waker.fd },
      handlerUrl: s.handlerUrl,
      workerIndex: m.index,
      workers: this.workers,
      restarts: m.restarts,
      data: s.workerData,
      stop: this.#stopBuffer,
      feed: this.#feeder?.init(m.index),
      reportIntervalMs: s.reportIntervalMs,
    };
    const started = m.start(init, s.startTimeoutMs);
    this.#live++;
    return started;
  }

  #fanoutOptions(): CaptureOptions["fanout"] {
    const { fanout, groupId } = this.#settings;
    // Until a member has joined, let the kernel pick (or use the caller's id); after that,
    // everybody joins the id the group got. A lone worker's restart recreates the group.
    if (this.#groupId >= 0) return { ...fanout, groupId: this.#groupId };
    return groupId === undefined ? { ...fanout, uniqueId: true } : { ...fanout, groupId };
  }

  #onReport(report: FanoutReport<R>): void {
    for (const fn of this.#listeners.report) fn(report);
    for (const q of this.#queues) {
      // Bounded: a consumer that stops reading loses the oldest reports, not memory.
      if (q.items.length >= 4096) q.items.shift();
      q.items.push(report);
      q.wake?.();
    }
  }

  #onEnded(m: PoolMember, failure: RingcapError | null, wasReady: boolean): void {
    // A member that fails before it was ready has rejected its start() instead.
    if (wasReady && failure) this.#onFailure(m, failure);
    if (--this.#live === 0 && this.#closing) this.#allEnded.resolve();
  }

  #onFailure(m: PoolMember, error: RingcapError): void {
    const s = this.#settings;
    m.retire();
    // The interface went down or away: a new worker could only fail to open it.
    const restartable = (error.cause as { code?: unknown } | undefined)?.code !== "network_down";
    if (!this.#closing && s.restart && restartable && m.restarts < s.maxRestarts) {
      m.restarts++;
      for (const fn of this.#listeners.restart) fn({ workerIndex: m.index, restarts: m.restarts, error });
      if (this.#members.every((x) => !x.alive)) this.#groupId = -1;
      this.#restartChain = this.#restartChain
        .then(() => (this.#closing ? undefined : this.#startMember(m)))
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
    let total = zeroCounters();
    const perWorker = this.#members.map((m) => {
      const w = m.stats();
      total = poolCounters(total, w);
      return w;
    });
    return { total, perWorker };
  }

  /**
   * The handlers' latest reports combined: with `merge`, one value (undefined before any
   * report); without, the list of them (runs before a restart included).
   */
  result(): R | R[] | undefined {
    const all = this.#members.flatMap((m) => m.results()) as R[];
    const merge = this.#settings.merge;
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
    this.#feeder?.stop();
    for (const m of this.#members) m.stopping();
    if (this.#live === 0) this.#allEnded.resolve();
    await this.#allEndedWithin(this.#settings.closeTimeoutMs);
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

  /** Waits `limit` ms for every worker to end, then ends those left, and fails if any stays. */
  async #allEndedWithin(limit: number): Promise<void> {
    if (await this.#allEndedBy(limit)) return;
    // A handler that never returns: end its thread. Its end (Bun's close event, or Deno's
    // thread gone from /proc) then closes its capture.
    const within = `within closeTimeoutMs (${limit} ms) of close()`;
    for (const m of this.#members) m.kill(within);
    await this.#allEndedBy(TERMINATE_MAX_MS);
    // Deno's terminate() cannot stop a handler that is running (a loop, or Atomics.wait): say
    // so instead of resolving as if every thread had ended.
    const alive = this.#members.filter((m) => m.alive);
    if (alive.length > 0) {
      const stuck = alive.map((m) => `fanout worker ${m.index} ${m.stuck()} ${within}`).join("; ");
      this.#fail(new RingcapError("worker_failed", `${stuck}; still running ${TERMINATE_MAX_MS} ms after terminate()`));
    }
  }

  /** True when every member's run has ended within `ms`. */
  async #allEndedBy(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.#allEnded.promise, late]);
    clearTimeout(timer);
    return this.#live === 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The flow lifecycle of {@link FlowTracker}, done natively over whole ring blocks (issue 14): a
 * {@link NativeFlowTracker} hands each block a live capture holds to libringcap's flow cache
 * (zig/flows.zig), which reads every frame as {@link PacketDecoder} does and keeps the flows as
 * FlowTracker does, so the records are the same, field by field, as FlowTracker's fed the same
 * packets one by one with `tracker.add(p.decode(), p.timestampMs, p.ifindex)`. JavaScript sees
 * only the records.
 *
 * Only a live capture's blocks can be given (the cache reads the block the capture holds, in the
 * ring); a saved file's blocks keep FlowTracker.
 * @module
 */

import type { Capture } from "../capture.ts";
import { ClosedError, RingcapError, statusError } from "../errors.ts";
import { LAYOUT } from "../native/abi.ts";
import { native } from "../native/library.ts";
import type { Block } from "../packet.ts";
import { FLOW_END_REASON, type FlowEndReason, type FlowRecord } from "./record.ts";
import { type FlowTrackerOptions, type FlowTrackerStats, trackerSettings } from "./records.ts";

const CONFIG = LAYOUT.FlowConfig;
const RECORD = LAYOUT.FlowRecord;
const STATS = LAYOUT.FlowStats;
/** Records taken from the cache per call. */
const TAKE_BATCH = 256;
const REASON_NAMES = Object.keys(FLOW_END_REASON) as (keyof typeof FLOW_END_REASON)[];

/**
 * FlowTracker's flow cache in libringcap, fed a live capture's blocks whole. The options,
 * `onRecord`, {@link expire}, {@link flush}, {@link drain} and {@link stats} are FlowTracker's;
 * {@link addBlock} stands for `add` over every packet of the block. Close it (or `using` it) to
 * free the native table.
 *
 * @example Records of a live capture
 * ```ts
 * using cap = openCapture("eth0");
 * using tracker = new NativeFlowTracker(cap, { onRecord: (r) => console.log(r) });
 * for await (const block of cap.blocks({ signal })) {
 *   tracker.addBlock(block);
 *   tracker.expire(Date.now()); // about once a second on a busy ring
 * }
 * tracker.flush();
 * ```
 */
export class NativeFlowTracker {
  /** See {@link FlowTrackerOptions.idleTimeoutMs}. */
  readonly idleTimeoutMs: number;
  /** See {@link FlowTrackerOptions.activeTimeoutMs}. */
  readonly activeTimeoutMs: number;
  /** See {@link FlowTrackerOptions.maxFlows}. */
  readonly maxFlows: number;
  /** See {@link FlowTrackerOptions.finLingerMs}. */
  readonly finLingerMs: number;

  #lib = native();
  #capture: Capture;
  #handle: number;
  #closed = false;
  #onRecord: ((record: FlowRecord) => void) | undefined;
  #queue: FlowRecord[] = [];
  #out = new Uint8Array(RECORD.size * TAKE_BATCH);
  #outView = new DataView(this.#out.buffer);
  #now = new Float64Array(1);
  /** `#now`'s bytes, as the library's pointer argument takes them. */
  #nowBytes = new Uint8Array(this.#now.buffer);
  #statsOut = new Uint8Array(STATS.size);
  #statsView = new DataView(this.#statsOut.buffer);

  /**
   * Opens a cache for `capture`'s blocks, allocating its table for `maxFlows` flows at once
   * (up to 136 bytes a flow); throws RingcapError "invalid_argument" for an option out of range.
   */
  constructor(capture: Capture, options: FlowTrackerOptions = {}) {
    ({ idleTimeoutMs: this.idleTimeoutMs, activeTimeoutMs: this.activeTimeoutMs, maxFlows: this.maxFlows, finLingerMs: this.finLingerMs } =
      trackerSettings(options));
    this.#onRecord = options.onRecord;
    this.#capture = capture;
    const config = new Uint8Array(CONFIG.size);
    const v = new DataView(config.buffer);
    v.setUint32(CONFIG.idle_timeout_ms, this.idleTimeoutMs, true);
    v.setUint32(CONFIG.active_timeout_ms, this.activeTimeoutMs, true);
    v.setUint32(CONFIG.max_flows, this.maxFlows, true);
    v.setUint32(CONFIG.fin_linger_ms, this.finLingerMs, true);
    v.setUint32(CONFIG.link_type, capture.info.linkType, true);
    const handle = new Uint32Array(1);
    const status = this.#lib.flows_open(config, handle);
    if (status < 0) throw statusError(status, "cannot open the native flow cache");
    this.#handle = handle[0];
  }

  /** Flows in the table now. */
  get size(): number {
    return this.#stat(STATS.active_flows);
  }

  /** The latest packet timestamp counted (ms), the default "now" of {@link expire}. */
  get latestMs(): number {
    this.#readStats();
    return this.#statsView.getFloat64(STATS.latest_ms, true);
  }

  /**
   * Counts every packet of `block`, which the tracker's capture holds now, as FlowTracker.add
   * would one by one (frames that are not IP are counted in `skipped`). Returns the records made.
   */
  addBlock(block: Block): number {
    this.#check();
    if (!block.live) throw new RingcapError("block_released", "block used after it was released");
    return this.#run(() => this.#lib.flows_block(this.#handle, this.#capture.handle, block.index), "the native flow cache cannot read the block");
  }

  /** FlowTracker.expire: `nowMs` on the packets' clock, by default the latest packet timestamp counted. Returns the records made. */
  expire(nowMs?: number): number {
    this.#check();
    let now: Uint8Array | null = null;
    if (nowMs !== undefined) {
      this.#now[0] = nowMs;
      now = this.#nowBytes;
    }
    return this.#run(() => this.#lib.flows_expire(this.#handle, now), "native flow cache");
  }

  /** FlowTracker.flush: ends every flow (forcedEnd; lingering ones endOfFlowDetected). Returns the records made. */
  flush(): number {
    this.#check();
    return this.#run(() => this.#lib.flows_flush(this.#handle), "native flow cache");
  }

  /** The records made since the last call (only without `onRecord`, which gets them instead). */
  drain(): FlowRecord[] {
    const out = this.#queue;
    this.#queue = [];
    return out;
  }

  /** The counters now (a copy), as FlowTracker.stats gives them. */
  stats(): FlowTrackerStats {
    this.#readStats();
    const v = this.#statsView;
    const recordsByReason = {} as FlowTrackerStats["recordsByReason"];
    let records = 0;
    for (const name of REASON_NAMES) {
      const n = Number(v.getBigUint64(STATS.records_by_reason + 8 * FLOW_END_REASON[name], true));
      recordsByReason[name] = n;
      records += n;
    }
    return {
      activeFlows: Number(v.getBigUint64(STATS.active_flows, true)),
      packets: Number(v.getBigUint64(STATS.packets, true)),
      skipped: Number(v.getBigUint64(STATS.skipped, true)),
      evictions: Number(v.getBigUint64(STATS.evictions, true)),
      records,
      recordsByReason,
    };
  }

  /** Frees the native table (flows not flushed are lost). Closing twice does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.flows_close(this.#handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #check(): void {
    if (this.#closed) throw new ClosedError("flow tracker");
  }

  #readStats(): void {
    this.#check();
    const status = this.#lib.flows_stats(this.#handle, this.#statsOut);
    if (status < 0) throw statusError(status, "native flow cache");
  }

  #stat(at: number): number {
    this.#readStats();
    return Number(this.#statsView.getBigUint64(at, true));
  }

  /**
   * Runs a resumable call of the cache (a block, an expire, a flush) to its end: it returns 1
   * when its record queue filled, and goes on where it stopped once the records are taken.
   * Returns the records made.
   */
  #run(call: () => number, what: string): number {
    let made = 0;
    for (;;) {
      const r = call();
      if (r < 0) throw statusError(r, what);
      made += this.#take();
      if (r === 0) return made;
    }
  }

  /** Takes every queued record out of the cache, to onRecord or the queue. */
  #take(): number {
    let made = 0;
    for (;;) {
      const n = this.#lib.flows_take(this.#handle, this.#out, TAKE_BATCH);
      if (n < 0) throw statusError(n, "native flow cache");
      const v = this.#outView;
      for (let i = 0; i < n; i++) {
        const at = i * RECORD.size;
        const version = v.getUint8(at + RECORD.ip_version) as 4 | 6;
        const size = version === 4 ? 4 : 16;
        const record: FlowRecord = {
          ipVersion: version,
          protocol: v.getUint8(at + RECORD.protocol),
          srcAddress: this.#out.slice(at + RECORD.src_address, at + RECORD.src_address + size),
          dstAddress: this.#out.slice(at + RECORD.dst_address, at + RECORD.dst_address + size),
          srcPort: v.getUint16(at + RECORD.src_port, true),
          dstPort: v.getUint16(at + RECORD.dst_port, true),
          packets: Number(v.getBigUint64(at + RECORD.packets, true)),
          octets: Number(v.getBigUint64(at + RECORD.octets, true)),
          startMs: v.getFloat64(at + RECORD.start_ms, true),
          endMs: v.getFloat64(at + RECORD.end_ms, true),
          tcpFlags: v.getUint16(at + RECORD.tcp_flags, true),
          ingressInterface: v.getUint32(at + RECORD.ingress_interface, true),
          vlanId: v.getInt32(at + RECORD.vlan_id, true),
          endReason: v.getUint32(at + RECORD.end_reason, true) as FlowEndReason,
        };
        if (this.#onRecord) this.#onRecord(record);
        else this.#queue.push(record);
      }
      made += n;
      if (n < TAKE_BATCH) return made;
    }
  }
}

/**
 * An exact, bounded flow table: packets and bytes per 5-tuple, keyed by the decoder's flow key
 * (so two flows whose hashes collide stay apart), with no allocation for a flow already seen.
 * `ringcap flows` and the examples count with it.
 * @module
 */

import { FLOW_KEY_WORDS, formatFlowKey, type FlowTuple, flowTuple, type PacketDecoder } from "./decode.ts";
import { intOption } from "./options.ts";

/** One flow, its parts and counters, as {@link FlowTable.top} hands them out (a copy). */
export interface FlowCount extends FlowTuple {
  /** The flow as text, e.g. `udp 198.18.0.1:10000 > 198.19.0.1:9` (see `PacketDecoder.flowKey`). */
  flow: string;
  packets: number;
  bytes: number;
  /** Packets since the last {@link FlowTable.mark}. */
  packetsSinceMark: number;
  /** Bytes since the last {@link FlowTable.mark}. */
  bytesSinceMark: number;
}

/** The most flows one table keeps apart. */
export const MAX_FLOWS = 1 << 24;

/** What a FlowTable gets when its options leave a field out. */
export const FLOW_TABLE_DEFAULTS = Object.freeze({ maxFlows: 65_536 });

export interface FlowTableOptions {
  /** Flows kept apart; packets of further flows are counted in `untracked`. @default 65536 */
  maxFlows?: number;
}

/**
 * @example Count flows on eth0 for ten seconds (run as root)
 * ```ts
 * using cap = openCapture("eth0", { snaplen: 128 });
 * const table = new FlowTable();
 * for await (const block of cap.blocks({ signal: AbortSignal.timeout(10_000) })) {
 *   for (const p of block) table.add(p.decode(), p.wireLength);
 * }
 * for (const f of table.top(5)) console.log(f.flow, f.packets, f.bytes);
 * ```
 */
export class FlowTable {
  readonly maxFlows: number;
  /** Packets of flows that did not fit. */
  untracked = 0;
  #keys: Uint32Array;
  /** Flow hash (moved on by one per collision) -> slot. */
  #slots = new Map<number, number>();
  #packets: Float64Array;
  #bytes: Float64Array;
  #markPackets: Float64Array;
  #markBytes: Float64Array;
  #used = 0;

  constructor(options: FlowTableOptions = {}) {
    const max = intOption(options.maxFlows, "maxFlows", { min: 1, max: MAX_FLOWS }, FLOW_TABLE_DEFAULTS.maxFlows);
    this.maxFlows = max;
    this.#keys = new Uint32Array(FLOW_KEY_WORDS * max);
    this.#packets = new Float64Array(max);
    this.#bytes = new Float64Array(max);
    this.#markPackets = new Float64Array(max);
    this.#markBytes = new Float64Array(max);
  }

  /** Distinct flows counted. */
  get size(): number {
    return this.#used;
  }

  /**
   * Counts one packet of `length` wire bytes for the flow `d` (a decoder that has just decoded
   * it). Returns false when the table is full and the flow is new (counted in `untracked`).
   */
  add(d: PacketDecoder, length: number): boolean {
    let h = d.flowHash();
    let slot = this.#slots.get(h);
    // Open addressing over the map's number keys: a collision moves on to the next hash.
    while (slot !== undefined && !d.flowKeyEquals(this.#keys, slot * FLOW_KEY_WORDS)) slot = this.#slots.get((h = (h + 1) >>> 0));
    if (slot === undefined) {
      if (this.#used === this.maxFlows) {
        this.untracked++;
        return false;
      }
      slot = this.#used++;
      d.writeFlowKey(this.#keys, slot * FLOW_KEY_WORDS);
      this.#slots.set(h, slot);
    }
    this.#packets[slot]++;
    this.#bytes[slot] += length;
    return true;
  }

  /** The `n` largest flows by bytes (or packets), largest first. */
  top(n: number, by: "bytes" | "packets" = "bytes"): FlowCount[] {
    const order = by === "bytes" ? this.#bytes : this.#packets;
    const slots = Array.from({ length: this.#used }, (_, i) => i);
    slots.sort((a, b) => order[b] - order[a]);
    return slots.slice(0, Math.max(0, n)).map((s) => this.#row(s));
  }

  /** Starts a new interval for `packetsSinceMark` / `bytesSinceMark` (e.g. once a second, for rates). */
  mark(): void {
    this.#markPackets.set(this.#packets.subarray(0, this.#used));
    this.#markBytes.set(this.#bytes.subarray(0, this.#used));
  }

  /** Forgets every flow. */
  clear(): void {
    this.#slots.clear();
    this.#used = 0;
    this.untracked = 0;
    this.#packets.fill(0);
    this.#bytes.fill(0);
    this.#markPackets.fill(0);
    this.#markBytes.fill(0);
  }

  #row(slot: number): FlowCount {
    return {
      flow: formatFlowKey(this.#keys, slot * FLOW_KEY_WORDS),
      ...flowTuple(this.#keys, slot * FLOW_KEY_WORDS)!,
      packets: this.#packets[slot],
      bytes: this.#bytes[slot],
      packetsSinceMark: this.#packets[slot] - this.#markPackets[slot],
      bytesSinceMark: this.#bytes[slot] - this.#markBytes[slot],
    };
  }
}

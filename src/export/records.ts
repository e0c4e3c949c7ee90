/**
 * The flow lifecycle (issue 14): packets in, finished {@link FlowRecord}s out. A
 * {@link FlowTracker} keeps one entry per unidirectional flow (the decoder's flow key plus the
 * outer VLAN id, the ICMP type and code, and the ingress interface) in typed arrays indexed by
 * slot, so a packet of a known flow allocates nothing; a record is made only when a flow ends
 * or is reported: idle timeout, active timeout, TCP FIN/RST, a full table, or a flush.
 * @module
 */

import { FLOW_KEY_WORDS, IPPROTO, type PacketDecoder, TCP_FLAGS } from "../decode.ts";
import { intOption } from "../options.ts";
import { FLOW_END_REASON, type FlowEndReason, type FlowRecord } from "./record.ts";

/**
 * What a FlowTracker gets when its options leave a field out. The timeouts are nProbe's
 * (`-d 30` idle, `-t 120` lifetime); softflowd instead keeps a timeout per protocol (TCP 3600 s,
 * UDP and ICMP 300 s) and a maximum life of a week, which suits a router better than a capture.
 * `finLingerMs` is ringcap's own (see {@link FlowTrackerOptions.finLingerMs}).
 */
export const FLOW_TRACKER_DEFAULTS = Object.freeze({
  idleTimeoutMs: 30_000,
  activeTimeoutMs: 120_000,
  maxFlows: 65_536,
  finLingerMs: 2_000,
});

/** The most flows one tracker keeps at once. */
export const MAX_TRACKED_FLOWS = 1 << 22;

const DAY_MS = 86_400_000;

/** A flow cache's options, checked, the defaults filled in: FlowTracker's and NativeFlowTracker's. */
export function trackerSettings(options: FlowTrackerOptions): Required<Omit<FlowTrackerOptions, "onRecord">> {
  const d = FLOW_TRACKER_DEFAULTS;
  return {
    idleTimeoutMs: intOption(options.idleTimeoutMs, "idleTimeoutMs", { min: 1, max: 7 * DAY_MS }, d.idleTimeoutMs),
    activeTimeoutMs: intOption(options.activeTimeoutMs, "activeTimeoutMs", { min: 1, max: 7 * DAY_MS }, d.activeTimeoutMs),
    maxFlows: intOption(options.maxFlows, "maxFlows", { min: 1, max: MAX_TRACKED_FLOWS }, d.maxFlows),
    finLingerMs: intOption(options.finLingerMs, "finLingerMs", { min: 0, max: 7 * DAY_MS }, d.finLingerMs),
  };
}

/** How a {@link FlowTracker} times flows out and how many it keeps (all optional). */
export interface FlowTrackerOptions {
  /** A flow without a packet for this long ends (reason idleTimeout). @default 30000 */
  idleTimeoutMs?: number;
  /**
   * A flow older than this is reported (reason activeTimeout) and counted afresh: a long flow
   * gives one record per period, whose counts add up to the flow's. @default 120000
   */
  activeTimeoutMs?: number;
  /**
   * Flows kept at once. A new flow in a full table evicts the least recently seen one, which is
   * reported (reason lackOfResources) and counted in `evictions`: no packet is lost. @default 65536
   */
  maxFlows?: number;
  /**
   * How long a TCP flow stays known after its FIN or RST was reported. Packets of the flow in
   * that time (the last ACK, a retransmitted FIN) are gathered into one more record, reported
   * with reason endOfFlowDetected when the linger ends, instead of opening a new flow that would
   * wait for the idle timeout. A SYN in that time starts a new flow at once. @default 2000
   */
  finLingerMs?: number;
  /**
   * Called with each record as it is made (inside `add`, `expire` or `flush`). Without it the
   * records queue up until {@link FlowTracker.drain}.
   */
  onRecord?: (record: FlowRecord) => void;
}

/** A FlowTracker's counters, as {@link FlowTracker.stats} gives them. */
export interface FlowTrackerStats {
  /** Flows in the table now (those lingering after a FIN or RST included). */
  activeFlows: number;
  /** Packets counted into flows. */
  packets: number;
  /** Packets that are not IP (no flow): not counted anywhere else. */
  skipped: number;
  /** Flows evicted from a full table (each reported with reason lackOfResources). */
  evictions: number;
  /** Records made, all reasons. */
  records: number;
  /** Records made, by end reason. */
  recordsByReason: Record<keyof typeof FLOW_END_REASON, number>;
}

/** Words per slot: the decoder's flow key, then VLAN and ICMP type/code, then the ifindex. */
const SLOT_WORDS = FLOW_KEY_WORDS + 2;
const FREE = 0;
const ACTIVE = 1;
/** Reported after a FIN or RST; lingering for the flow's last packets. */
const CLOSING = 2;
const REASON_NAMES = Object.keys(FLOW_END_REASON) as (keyof typeof FLOW_END_REASON)[];

/**
 * Turns decoded packets into flow records, as a NetFlow/IPFIX exporter's flow cache does.
 * Feed it every packet with {@link add}, call {@link expire} now and then (e.g. once a second)
 * to end idle flows and report long ones, and {@link flush} at shutdown.
 *
 * Time is whatever the caller passes: `add` takes the packet's timestamp and `expire` a "now" on
 * the same clock, by default the latest packet timestamp seen. That is right for a saved file
 * (replayed in packet time, however fast) and close to wall time on a live capture, where the
 * kernel stamps packets with the system clock; a live exporter that must also end flows while no
 * packet arrives passes `Date.now()`. Records carry the first and last packet timestamps of what
 * they cover, truncated to the millisecond.
 *
 * Counting: `octets` is the IP length from the header (IPv4 total length, IPv6 40 + payload
 * length, RFC 7012's octetDeltaCount), not the frame, and not cut by a snaplen. A flow is keyed
 * by IP version, protocol, addresses, ports (ICMP: type and code, reported as dstPort
 * type * 256 + code), outer VLAN id and ingress interface. Fragments after the first carry no
 * ports and so count as a flow of their own (protocol and addresses), as in FlowTable.
 *
 * @example Records of a saved file, in packet time
 * ```ts
 * await using f = await openFile("trace.pcap");
 * const tracker = new FlowTracker({ onRecord: (r) => console.log(r) });
 * for await (const block of f.blocks()) {
 *   for (const p of block) tracker.add(p.decode(), p.timestampMs, p.ifindex);
 *   tracker.expire(); // once per block here; about once a second live
 * }
 * tracker.flush();
 * ```
 */
export class FlowTracker {
  /** See {@link FlowTrackerOptions.idleTimeoutMs}. */
  readonly idleTimeoutMs: number;
  /** See {@link FlowTrackerOptions.activeTimeoutMs}. */
  readonly activeTimeoutMs: number;
  /** See {@link FlowTrackerOptions.maxFlows}. */
  readonly maxFlows: number;
  /** See {@link FlowTrackerOptions.finLingerMs}. */
  readonly finLingerMs: number;

  #onRecord: ((record: FlowRecord) => void) | undefined;
  #queue: FlowRecord[] = [];

  #keys: Uint32Array;
  #hashes: Uint32Array;
  #state: Uint8Array;
  #startMs: Float64Array;
  #lastMs: Float64Array;
  #packets: Float64Array;
  #octets: Float64Array;
  #flags: Uint16Array;
  /** Least recently seen first: a doubly linked list over slots (-1 ends it). */
  #prev: Int32Array;
  #next: Int32Array;
  #head = -1;
  #tail = -1;
  /** Free slots, a stack. */
  #free: Int32Array;
  #freeTop: number;
  /** Open addressing, linear probing: bucket -> slot, -1 empty. */
  #buckets: Int32Array;
  #mask: number;

  #used = 0;
  #latestMs = 0;
  #counted = 0;
  #skipped = 0;
  #evictions = 0;
  #byReason = new Float64Array(6);

  /** Allocates the table for `maxFlows` flows at once (about 100 bytes a flow); throws RingcapError "invalid_argument" for an option out of range. */
  constructor(options: FlowTrackerOptions = {}) {
    ({ idleTimeoutMs: this.idleTimeoutMs, activeTimeoutMs: this.activeTimeoutMs, maxFlows: this.maxFlows, finLingerMs: this.finLingerMs } =
      trackerSettings(options));
    this.#onRecord = options.onRecord;
    const max = this.maxFlows;
    this.#keys = new Uint32Array(SLOT_WORDS * max);
    this.#hashes = new Uint32Array(max);
    this.#state = new Uint8Array(max);
    this.#startMs = new Float64Array(max);
    this.#lastMs = new Float64Array(max);
    this.#packets = new Float64Array(max);
    this.#octets = new Float64Array(max);
    this.#flags = new Uint16Array(max);
    this.#prev = new Int32Array(max).fill(-1);
    this.#next = new Int32Array(max).fill(-1);
    this.#free = new Int32Array(max);
    for (let i = 0; i < max; i++) this.#free[i] = max - 1 - i;
    this.#freeTop = max;
    let buckets = 2;
    while (buckets < 2 * max) buckets *= 2;
    this.#buckets = new Int32Array(buckets).fill(-1);
    this.#mask = buckets - 1;
  }

  /** Flows in the table now. */
  get size(): number {
    return this.#used;
  }

  /** The latest packet timestamp passed to {@link add} (ms), the default "now" of {@link expire}. */
  get latestMs(): number {
    return this.#latestMs;
  }

  /**
   * Counts one packet: `d` has just decoded it, `timestampMs` is its timestamp (ms since the
   * epoch, fractions allowed, e.g. `PacketView.timestampMs`), `ifindex` the interface it came
   * through (0 when unknown). Returns false for a packet that is not IP (counted in `skipped`).
   * A TCP FIN or RST reports the flow at once; a flow past the active timeout is reported before
   * this packet is counted into its next record; a new flow in a full table evicts the least
   * recently seen one.
   */
  add(d: PacketDecoder, timestampMs: number, ifindex = 0): boolean {
    if (d.ipVersion === 0) {
      this.#skipped++;
      return false;
    }
    const t = timestampMs;
    if (t > this.#latestMs) this.#latestMs = t;
    const protocol = d.ipProtocol;
    const icmp = (protocol === IPPROTO.ICMP || protocol === IPPROTO.ICMPV6) && d.icmpType >= 0 ? (d.icmpType << 8) | d.icmpCode : 0;
    const extra = ((((d.vlanId + 1) & 0x1fff) << 16) | icmp) >>> 0;
    const ifx = ifindex >>> 0;
    const h = mix(d.flowHash(), extra, ifx);
    const flags = protocol === IPPROTO.TCP && d.tcpFlags > 0 ? d.tcpFlags : 0;

    let slot = this.#find(d, h, extra, ifx);
    if (slot >= 0 && this.#state[slot] === CLOSING && (flags & (TCP_FLAGS.SYN | TCP_FLAGS.ACK)) === TCP_FLAGS.SYN) {
      // The ports are used again: report what lingered and start a new flow.
      this.#end(slot, FLOW_END_REASON.endOfFlowDetected);
      slot = -1;
    }
    if (slot < 0) {
      slot = this.#insert(d, h, extra, ifx);
    } else if (this.#packets[slot] > 0 && t - this.#startMs[slot] >= this.activeTimeoutMs && this.#state[slot] === ACTIVE) {
      this.#report(slot, FLOW_END_REASON.activeTimeout);
    }
    if (this.#packets[slot] === 0) {
      this.#startMs[slot] = t;
      this.#lastMs[slot] = t;
    } else if (t > this.#lastMs[slot]) this.#lastMs[slot] = t;
    else if (t < this.#startMs[slot]) this.#startMs[slot] = t;
    this.#packets[slot]++;
    this.#octets[slot] += d.ipTotalLength > 0 ? d.ipTotalLength : 0;
    this.#flags[slot] |= flags;
    this.#counted++;
    this.#touch(slot);
    if ((flags & (TCP_FLAGS.FIN | TCP_FLAGS.RST)) !== 0) {
      this.#report(slot, FLOW_END_REASON.endOfFlowDetected);
      this.#state[slot] = CLOSING;
      if (this.finLingerMs === 0) this.#remove(slot);
    }
    return true;
  }

  /**
   * Ends the flows idle for `idleTimeoutMs` (reason idleTimeout), reports those whose record is
   * `activeTimeoutMs` old (reason activeTimeout, counted afresh), and forgets flows lingering
   * after a FIN or RST for `finLingerMs` (reporting the packets that came meanwhile). `nowMs` is
   * on the packets' clock, by default the latest packet timestamp seen. Returns the records
   * made. Walks every flow in the table: call it about once a second, not per packet, on a
   * large table.
   */
  expire(nowMs: number = this.#latestMs): number {
    let made = 0;
    for (let slot = this.#head; slot >= 0;) {
      const next = this.#next[slot];
      const idle = nowMs - this.#lastMs[slot];
      if (this.#state[slot] === CLOSING) {
        if (idle >= this.finLingerMs) made += this.#end(slot, FLOW_END_REASON.endOfFlowDetected);
      } else if (idle >= this.idleTimeoutMs) {
        made += this.#end(slot, FLOW_END_REASON.idleTimeout);
      } else if (this.#packets[slot] > 0 && nowMs - this.#startMs[slot] >= this.activeTimeoutMs) {
        made += this.#report(slot, FLOW_END_REASON.activeTimeout);
      }
      slot = next;
    }
    return made;
  }

  /** Ends every flow (reason forcedEnd; lingering ones as endOfFlowDetected), e.g. at shutdown. Returns the records made. */
  flush(): number {
    let made = 0;
    for (let slot = this.#head; slot >= 0;) {
      const next = this.#next[slot];
      made += this.#end(slot, this.#state[slot] === CLOSING ? FLOW_END_REASON.endOfFlowDetected : FLOW_END_REASON.forcedEnd);
      slot = next;
    }
    return made;
  }

  /** The records made since the last call (only without `onRecord`, which gets them instead). */
  drain(): FlowRecord[] {
    const out = this.#queue;
    this.#queue = [];
    return out;
  }

  /** The counters now (a copy). */
  stats(): FlowTrackerStats {
    const recordsByReason = {} as FlowTrackerStats["recordsByReason"];
    let records = 0;
    for (const name of REASON_NAMES) {
      const n = this.#byReason[FLOW_END_REASON[name]];
      recordsByReason[name] = n;
      records += n;
    }
    return { activeFlows: this.#used, packets: this.#counted, skipped: this.#skipped, evictions: this.#evictions, records, recordsByReason };
  }

  /** The slot of the packet's flow, or -1. */
  #find(d: PacketDecoder, h: number, extra: number, ifx: number): number {
    const buckets = this.#buckets;
    const keys = this.#keys;
    for (let i = h & this.#mask; ; i = (i + 1) & this.#mask) {
      const slot = buckets[i];
      if (slot < 0) return -1;
      const at = slot * SLOT_WORDS;
      if (this.#hashes[slot] === h && keys[at + FLOW_KEY_WORDS] === extra && keys[at + FLOW_KEY_WORDS + 1] === ifx && d.flowKeyEquals(keys, at)) {
        return slot;
      }
    }
  }

  #insert(d: PacketDecoder, h: number, extra: number, ifx: number): number {
    if (this.#used === this.maxFlows) {
      const victim = this.#head;
      if (this.#packets[victim] > 0) this.#evictions++;
      this.#end(victim, FLOW_END_REASON.lackOfResources);
    }
    const slot = this.#free[--this.#freeTop];
    const at = slot * SLOT_WORDS;
    d.writeFlowKey(this.#keys, at);
    this.#keys[at + FLOW_KEY_WORDS] = extra;
    this.#keys[at + FLOW_KEY_WORDS + 1] = ifx;
    this.#hashes[slot] = h;
    this.#state[slot] = ACTIVE;
    this.#packets[slot] = 0;
    this.#octets[slot] = 0;
    this.#flags[slot] = 0;
    let i = h & this.#mask;
    while (this.#buckets[i] >= 0) i = (i + 1) & this.#mask;
    this.#buckets[i] = slot;
    // Append to the recency list.
    this.#prev[slot] = this.#tail;
    this.#next[slot] = -1;
    if (this.#tail >= 0) this.#next[this.#tail] = slot;
    else this.#head = slot;
    this.#tail = slot;
    this.#used++;
    return slot;
  }

  /** Moves the slot to the most recently seen end. */
  #touch(slot: number): void {
    if (this.#tail === slot) return;
    this.#unlink(slot);
    this.#prev[slot] = this.#tail;
    this.#next[slot] = -1;
    this.#next[this.#tail] = slot;
    this.#tail = slot;
  }

  #unlink(slot: number): void {
    const p = this.#prev[slot];
    const n = this.#next[slot];
    if (p >= 0) this.#next[p] = n;
    else this.#head = n;
    if (n >= 0) this.#prev[n] = p;
    else this.#tail = p;
  }

  /** Reports the slot's counts (if any) and forgets the flow. Returns the records made (0 or 1). */
  #end(slot: number, reason: FlowEndReason): number {
    const made = this.#report(slot, reason);
    this.#remove(slot);
    return made;
  }

  #remove(slot: number): void {
    this.#unlink(slot);
    this.#state[slot] = FREE;
    this.#free[this.#freeTop++] = slot;
    this.#used--;
    // Backward-shift deletion keeps every probe chain unbroken.
    const buckets = this.#buckets;
    const mask = this.#mask;
    let i = this.#hashes[slot] & mask;
    while (buckets[i] !== slot) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; buckets[j] >= 0; j = (j + 1) & mask) {
      const home = this.#hashes[buckets[j]] & mask;
      // Move the entry at j back to i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      buckets[i] = buckets[j];
      i = j;
    }
    buckets[i] = -1;
  }

  /** Makes a record of the slot's counts since its last one, then counts afresh. Returns 0 when there was nothing to report. */
  #report(slot: number, reason: FlowEndReason): number {
    if (this.#packets[slot] === 0) return 0;
    const keys = this.#keys;
    const at = slot * SLOT_WORDS;
    const head = keys[at];
    const version = (head >>> 24) as 4 | 6;
    const protocol = (head >>> 16) & 0xff;
    const words = version === 4 ? 1 : 4;
    const src = new Uint8Array(4 * words);
    const dst = new Uint8Array(4 * words);
    const sv = new DataView(src.buffer);
    const dv = new DataView(dst.buffer);
    for (let i = 0; i < words; i++) {
      sv.setUint32(4 * i, keys[at + 1 + i]);
      dv.setUint32(4 * i, keys[at + 5 + i]);
    }
    const hasPorts = (head & 1) !== 0;
    const extra = keys[at + FLOW_KEY_WORDS];
    const record: FlowRecord = {
      ipVersion: version,
      protocol,
      srcAddress: src,
      dstAddress: dst,
      srcPort: hasPorts ? keys[at + 9] >>> 16 : 0,
      dstPort: hasPorts ? keys[at + 9] & 0xffff : extra & 0xffff,
      packets: this.#packets[slot],
      octets: this.#octets[slot],
      startMs: Math.floor(this.#startMs[slot]),
      endMs: Math.floor(this.#lastMs[slot]),
      tcpFlags: this.#flags[slot],
      ingressInterface: keys[at + FLOW_KEY_WORDS + 1],
      vlanId: (extra >>> 16) - 1,
      endReason: reason,
    };
    this.#packets[slot] = 0;
    this.#octets[slot] = 0;
    this.#flags[slot] = 0;
    this.#byReason[reason]++;
    if (this.#onRecord) this.#onRecord(record);
    else this.#queue.push(record);
    return 1;
  }
}

/** Folds the words beyond the decoder's key into its hash. */
function mix(h: number, extra: number, ifx: number): number {
  h = Math.imul(h ^ extra, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ ifx, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

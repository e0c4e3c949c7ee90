/**
 * The fanout handler behind `ringcap capture --workers N`, and the wire protocol between it and the
 * main thread (capture_workers.ts imports the protocol from here). Each worker either writes its
 * own pcap or pcapng file ("files"), or copies its packets into batches it posts to the main
 * thread, which merges the workers' streams in timestamp order ("merge").
 *
 * A batch is a buffer this worker made (never ring memory) holding records: a 16-byte
 * little-endian header (see {@link RECORD}) and then the captured bytes, with a stripped VLAN
 * tag put back as it was on the wire.
 *
 * `-c COUNT` is shared by all workers through one counter: a worker takes a packet only after
 * reserving it, so the workers together take exactly COUNT packets (when that many arrive).
 *
 * This file runs in every worker thread: it imports library modules only, never the CLI.
 * @module
 */

import type { FanoutHandlerContext } from "../fanout/pool.ts";
import { type Block, VLAN_TAG_BYTES } from "../packet.ts";
import { snaplenOrMax } from "../options.ts";
import { interfaceOptions, type PcapFormat, PcapWriter, type TimestampPrecision } from "../pcap.ts";

/** What the main thread gives every worker. */
export interface CaptureWorkerData {
  output: "merge" | "files";
  /** The counters of {@link sharedCounters}. */
  shared: SharedArrayBuffer;
  /** Packets to take in all, 0 for no limit. */
  count: number;
  /** "files": one path per worker. */
  paths?: string[];
  format?: PcapFormat;
  precision: TimestampPrecision;
  /** Bytes kept per packet, 0 for whole packets. */
  snaplen: number;
  /** A worker stops reading (the kernel then counts drops) while this much is unconsumed. */
  maxUnconsumedBytes: number;
  /** "files": the longest a packet waits in the file's buffer (ms); 0 writes each out at once (-U). */
  flushMs: number;
}

/** Byte offsets of a record's header fields in a batch (u32, little-endian). */
export const RECORD = { sec: 0, nsec: 4, caplen: 8, wireLength: 12, ifindex: 16 } as const;
/** One record's header in a batch. */
export const RECORD_HEADER_BYTES = 20;

/** Slot of the shared counter of reserved packets. */
export const RESERVED = 0;
/** Slot of worker `i`'s bytes that the main thread has not consumed yet. */
export const unconsumedSlot = (i: number): number => 1 + i;
/** The counters shared by the main thread and `workers` workers: RESERVED, then one slot per worker. */
export function sharedCounters(workers: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * unconsumedSlot(workers)));
}

/** A batch as posted by a worker. */
export interface CaptureBatch {
  buffer: ArrayBuffer;
  /** Bytes of records in `buffer`. */
  bytes: number;
  packets: number;
}

/** What each worker's report carries. */
export interface CaptureWorkerReport {
  /** Packets this worker took: posted, or in its file ("files": written out, not buffered). */
  taken: number;
}

/** Longest wait for the main thread to catch up, per block, before reading on anyway. */
const BACKPRESSURE_WAIT_MS = 2000;

export function createHandler(ctx: FanoutHandlerContext<CaptureWorkerData>) {
  const data = ctx.data;
  const shared = new Int32Array(data.shared);
  const slot = unconsumedSlot(ctx.workerIndex);
  const limited = data.count > 0;
  let full = false;
  let taken = 0;

  const writer = data.output === "files"
    ? PcapWriter.open(data.paths![ctx.workerIndex], {
      format: data.format,
      precision: data.precision,
      snaplen: snaplenOrMax(data.snaplen),
      linkType: ctx.capture.info.linkType,
      ...interfaceOptions(ctx.capture.info),
    })
    : null;
  // The worker's loop has no timers: the file is flushed from onBlock and report, when due.
  let flushAt = performance.now() + data.flushMs;

  /** Writes the file's buffer out if it has waited flushMs (or always, when `now`). */
  function flushIfDue(now = false): void {
    if (!writer || writer.closed) return;
    const t = performance.now();
    if (!now && t < flushAt) return;
    writer.flush();
    flushAt = t + data.flushMs;
  }

  /** Reserves one packet of the shared count; false once the count is used up. */
  function reserve(): boolean {
    if (!limited) return true;
    if (full) return false;
    if (Atomics.add(shared, RESERVED, 1) < data.count) return true;
    full = true;
    return false;
  }

  /** Waits (bounded) while the main thread has too much of ours to merge. */
  function waitForRoom(): void {
    const end = performance.now() + BACKPRESSURE_WAIT_MS;
    for (let pending = Atomics.load(shared, slot); pending > data.maxUnconsumedBytes; pending = Atomics.load(shared, slot)) {
      const left = end - performance.now();
      if (left <= 0) return;
      Atomics.wait(shared, slot, pending, Math.min(50, left));
    }
  }

  function writeFiles(block: Block): void {
    for (const p of block) {
      if (!reserve()) return;
      writer!.writePacket(p);
    }
    flushIfDue();
  }

  function postBatch(block: Block): void {
    waitForRoom();
    // Each record is at most header + captured bytes + a tag; the ring's own headers are bigger.
    let need = 0;
    const sizing = block.cursor();
    while (sizing.next()) need += RECORD_HEADER_BYTES + sizing.caplen + VLAN_TAG_BYTES;
    const out = new Uint8Array(need);
    const dv = new DataView(out.buffer);
    let at = 0;
    let packets = 0;
    for (const p of block) {
      if (!reserve()) break;
      const n = p.copyWithVlanTag(out, at + RECORD_HEADER_BYTES);
      dv.setUint32(at + RECORD.sec, p.sec, true);
      dv.setUint32(at + RECORD.nsec, p.nsec, true);
      dv.setUint32(at + RECORD.caplen, n, true);
      dv.setUint32(at + RECORD.wireLength, p.wireLength, true);
      dv.setInt32(at + RECORD.ifindex, p.ifindex, true);
      at += RECORD_HEADER_BYTES + n;
      packets++;
    }
    if (packets === 0) return;
    taken += packets;
    Atomics.add(shared, slot, at);
    const batch: CaptureBatch = { buffer: out.buffer, bytes: at, packets };
    ctx.post(batch, [out.buffer]);
  }

  return {
    onBlock(block: Block): void {
      if (full) return;
      if (writer) writeFiles(block);
      else postBatch(block);
    },
    report(final: boolean): CaptureWorkerReport {
      // The last report comes before close(): flush now, so that it counts what the file holds.
      flushIfDue(final);
      return { taken: writer ? writer.flushedPackets : taken };
    },
    close(): void {
      writer?.close();
    },
  };
}

/**
 * The fanout handler behind `ringcap capture -G N`: each worker either writes its own pcap or
 * pcapng file ("files"), or copies its packets into batches it posts to the main thread,
 * which merges the workers' streams in timestamp order ("merge", see _cli_workers.ts).
 *
 * A batch is a buffer this worker made (never ring memory) holding records of a 16-byte
 * little-endian header [sec, nsec, caplen, wire length] and then the captured bytes, with a
 * stripped VLAN tag put back as it was on the wire.
 *
 * `-c COUNT` is shared by all workers through one counter: a worker takes a packet only after
 * reserving it, so the workers together take exactly COUNT packets (when that many arrive).
 * @module
 */

import type { FanoutHandlerContext } from "./fanout.ts";
import type { Block } from "./packet.ts";
import { TP_STATUS, TPACKET3_HDR } from "./_layout.ts";
import { type PcapFormat, PcapWriter } from "./pcap.ts";
import { linkTypeFor } from "./cli.ts";

/** What the main thread gives every worker. */
export interface CliWorkerData {
  output: "merge" | "files";
  /**
   * Int32 slots: [0] packets reserved by all workers (only used when `count` > 0), then per
   * worker the bytes of its batches the main thread has not consumed yet.
   */
  shared: SharedArrayBuffer;
  /** Packets to take in all, 0 for no limit. */
  count: number;
  /** "files": one path per worker. */
  paths?: string[];
  format?: PcapFormat;
  snaplen: number;
  /** A worker stops reading (the kernel then counts drops) while this much is unconsumed. */
  maxUnconsumedBytes: number;
}

/** One record's header in a batch. */
export const RECORD_HEADER_BYTES = 16;
/** Slot of the shared counter of reserved packets. */
export const RESERVED = 0;
/** Slot of worker `i`'s unconsumed bytes. */
export const unconsumedSlot = (i: number): number => 1 + i;

/** A batch as posted by a worker. */
export interface CliBatch {
  buffer: ArrayBuffer;
  bytes: number;
  packets: number;
}

/** What each worker's report carries. */
export interface CliWorkerReport {
  /** Packets this worker took (wrote to its file, or posted). */
  taken: number;
}

const VLAN_TAG_BYTES = 4;
/** Longest wait for the main thread to catch up, per block, before reading on anyway. */
const BACKPRESSURE_WAIT_MS = 2000;

export function createHandler(ctx: FanoutHandlerContext<CliWorkerData>) {
  const data = ctx.data;
  const shared = new Int32Array(data.shared);
  const slot = unconsumedSlot(ctx.workerIndex);
  const ring = ctx.capture.bytes;
  const view = ctx.capture.view;
  const limited = data.count > 0;
  let full = false;
  let taken = 0;

  const writer = data.output === "files"
    ? PcapWriter.open(data.paths![ctx.workerIndex], {
      format: data.format,
      snaplen: data.snaplen || 262144,
      ifName: ctx.capture.info.interface,
      linkType: linkTypeFor(ctx.capture.info.arpType),
    })
    : null;
  // A frame with its tag put back (files), reused; grown for a frame longer than any before.
  let tagged = new Uint8Array(ctx.capture.info.frameSize);

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
    const c = block.cursor();
    while (c.next()) {
      if (!reserve()) return;
      const h = c.header;
      const sec = view.getUint32(h + TPACKET3_HDR.sec, true);
      const nsec = view.getUint32(h + TPACKET3_HDR.nsec, true);
      if (view.getUint32(h + TPACKET3_HDR.status, true) & TP_STATUS.VLAN_VALID) {
        if (tagged.length < c.caplen + VLAN_TAG_BYTES) tagged = new Uint8Array(c.caplen + VLAN_TAG_BYTES);
        const n = putBackTag(tagged, 0, h, c.offset, c.caplen);
        writer!.write(tagged.subarray(0, n), c.length + VLAN_TAG_BYTES, sec, nsec);
      } else {
        writer!.write(ring.subarray(c.offset, c.offset + c.caplen), c.length, sec, nsec);
      }
      taken++;
    }
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
    const c = block.cursor();
    while (c.next()) {
      if (!reserve()) break;
      const h = c.header;
      const vlan = (view.getUint32(h + TPACKET3_HDR.status, true) & TP_STATUS.VLAN_VALID) !== 0;
      dv.setUint32(at, view.getUint32(h + TPACKET3_HDR.sec, true), true);
      dv.setUint32(at + 4, view.getUint32(h + TPACKET3_HDR.nsec, true), true);
      let caplen = c.caplen;
      if (vlan) caplen = putBackTag(out, at + RECORD_HEADER_BYTES, h, c.offset, c.caplen);
      else out.set(ring.subarray(c.offset, c.offset + caplen), at + RECORD_HEADER_BYTES);
      dv.setUint32(at + 8, caplen, true);
      dv.setUint32(at + 12, c.length + (vlan ? VLAN_TAG_BYTES : 0), true);
      at += RECORD_HEADER_BYTES + caplen;
      packets++;
    }
    if (packets === 0) return;
    taken += packets;
    Atomics.add(shared, slot, at);
    const batch: CliBatch = { buffer: out.buffer, bytes: at, packets };
    ctx.post(batch, [out.buffer]);
  }

  /** Copies the frame at `from` into `out` at `at` with its stripped tag put back; returns its length. */
  function putBackTag(out: Uint8Array, at: number, header: number, from: number, caplen: number): number {
    const status = view.getUint32(header + TPACKET3_HDR.status, true);
    const tpid = status & TP_STATUS.VLAN_TPID_VALID ? view.getUint16(header + TPACKET3_HDR.vlan_tpid, true) : 0x8100;
    const tci = view.getUint16(header + TPACKET3_HDR.vlan_tci, true);
    const macs = Math.min(12, caplen);
    out.set(ring.subarray(from, from + macs), at);
    out[at + macs] = tpid >> 8;
    out[at + macs + 1] = tpid & 0xff;
    out[at + macs + 2] = tci >> 8;
    out[at + macs + 3] = tci & 0xff;
    out.set(ring.subarray(from + macs, from + caplen), at + macs + VLAN_TAG_BYTES);
    return caplen + VLAN_TAG_BYTES;
  }

  return {
    onBlock(block: Block): void {
      if (full) return;
      if (writer) writeFiles(block);
      else postBatch(block);
    },
    report(): CliWorkerReport {
      return { taken };
    },
    close(): void {
      writer?.close();
    },
  };
}

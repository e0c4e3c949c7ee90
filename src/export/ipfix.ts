/**
 * IPFIX (RFC 7011, version 10) and NetFlow v9 (RFC 3954) message encoding for {@link FlowRecord}s:
 * pure byte layout, no I/O. One template per IP version; several records per message; no
 * message longer than the size it is given (the path MTU less the IP and UDP headers).
 * @module
 */

import { uptime } from "node:os";
import type { FlowRecord } from "./record.ts";

/** The wire protocol an encoder writes. */
export type ExportProtocol = "ipfix" | "netflow9";

/** Template ids (both protocols): data sets carry them as their set id. */
export const TEMPLATE_ID = Object.freeze({ ipv4: 256, ipv6: 257 });

/** IANA IPFIX information element ids (RFC 7012) used by the templates; NetFlow v9 shares ids 1-58. */
export const IE = Object.freeze({
  octetDeltaCount: 1,
  packetDeltaCount: 2,
  protocolIdentifier: 4,
  tcpControlBits: 6,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  ingressInterface: 10,
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  /** NetFlow v9 LAST_SWITCHED: sysUptime (ms) of the last packet. */
  lastSwitched: 21,
  /** NetFlow v9 FIRST_SWITCHED: sysUptime (ms) of the first packet. */
  firstSwitched: 22,
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  /** NetFlow v9 ICMP_TYPE (type * 256 + code); IPFIX's icmpTypeCodeIPv4 has the same id. */
  icmpType: 32,
  vlanId: 58,
  flowEndReason: 136,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
});

/** One field specifier: information element id and encoded length in bytes. */
export type FieldSpec = readonly [id: number, length: number];

/** The fields of each template, in record order (the order the encoder writes them). */
export function templateFields(protocol: ExportProtocol, ipVersion: 4 | 6): readonly FieldSpec[] {
  const a = ipVersion === 4 ? 4 : 16;
  const src = ipVersion === 4 ? IE.sourceIPv4Address : IE.sourceIPv6Address;
  const dst = ipVersion === 4 ? IE.destinationIPv4Address : IE.destinationIPv6Address;
  const common: FieldSpec[] = [
    [src, a],
    [dst, a],
    [IE.sourceTransportPort, 2],
    [IE.destinationTransportPort, 2],
    [IE.protocolIdentifier, 1],
    // RFC 7012 (as updated by RFC 7125) makes tcpControlBits 2 bytes; NetFlow v9 TCP_FLAGS is 1.
    [IE.tcpControlBits, protocol === "ipfix" ? 2 : 1],
    [IE.octetDeltaCount, 8],
    [IE.packetDeltaCount, 8],
  ];
  const times: FieldSpec[] = protocol === "ipfix"
    ? [[IE.flowStartMilliseconds, 8], [IE.flowEndMilliseconds, 8]]
    : [[IE.firstSwitched, 4], [IE.lastSwitched, 4]];
  const tail: FieldSpec[] = [[IE.ingressInterface, 4], [IE.vlanId, 2]];
  // NetFlow v9 (RFC 3954) defines no end-reason field: IPFIX only. v9 collectors (nfdump) read
  // ICMP type and code from ICMP_TYPE rather than the destination port: v9 carries both.
  if (protocol === "ipfix") tail.push([IE.flowEndReason, 1]);
  else tail.push([IE.icmpType, 2]);
  return [...common, ...times, ...tail];
}

/** Bytes of one data record of the template. */
export function recordLength(protocol: ExportProtocol, ipVersion: 4 | 6): number {
  return templateFields(protocol, ipVersion).reduce((n, [, len]) => n + len, 0);
}

/** IPFIX message header: version, length, export time, sequence number, observation domain id. */
export const IPFIX_HEADER_BYTES = 16;
/** NetFlow v9 packet header: version, count, sysUptime, unix secs, sequence, source id. */
export const NETFLOW9_HEADER_BYTES = 20;
/** A set (flowset) header: set id and length. */
export const SET_HEADER_BYTES = 4;
/** IPFIX set id of a template set; NetFlow v9's template flowset id is 0. */
export const IPFIX_TEMPLATE_SET_ID = 2;
export const NETFLOW9_TEMPLATE_SET_ID = 0;

/** The IP and UDP header bytes a datagram adds, per collector address family. */
export const UDP_OVERHEAD = Object.freeze({ ipv4: 20 + 8, ipv6: 40 + 8 });

/** Options of an {@link ExportEncoder}. */
export interface ExportEncoderOptions {
  /** @default "ipfix" */
  protocol?: ExportProtocol;
  /** IPFIX observation domain id / NetFlow v9 source id (32 bits). @default 0 */
  observationDomainId?: number;
  /** The largest message to make, in bytes (the path MTU less IP and UDP headers). @default 1472 */
  maxMessageBytes?: number;
  /**
   * NetFlow v9 only: the epoch ms that sysUptime counts from. FIRST_SWITCHED / LAST_SWITCHED are
   * ms since it (mod 2^32), so records must not be older than it. @default the system's boot time
   */
  bootMs?: number;
}

const TWO32 = 0x1_0000_0000;

function put64(v: DataView, at: number, value: number): void {
  const n = Math.max(0, Math.floor(value));
  v.setUint32(at, Math.floor(n / TWO32) >>> 0);
  v.setUint32(at + 4, n >>> 0);
}

/**
 * Encodes records into IPFIX or NetFlow v9 messages. It keeps the sequence numbers of its
 * observation domain: IPFIX's is the count of data records sent before the message (RFC 7011
 * §3.1), NetFlow v9's the count of packets sent before it (RFC 3954 §5.1). Everything else is a
 * function of the arguments.
 */
export class ExportEncoder {
  readonly protocol: ExportProtocol;
  readonly observationDomainId: number;
  readonly maxMessageBytes: number;
  readonly bootMs: number;
  /** Data records encoded so far (the next IPFIX sequence number). */
  recordsEncoded = 0;
  /** Messages encoded so far (the next NetFlow v9 sequence number). */
  messagesEncoded = 0;
  readonly #headerBytes: number;
  readonly #templateSet: Uint8Array;

  constructor(options: ExportEncoderOptions = {}) {
    this.protocol = options.protocol ?? "ipfix";
    if (this.protocol !== "ipfix" && this.protocol !== "netflow9") {
      throw new RangeError(`protocol must be "ipfix" or "netflow9", not ${JSON.stringify(this.protocol)}`);
    }
    this.observationDomainId = (options.observationDomainId ?? 0) >>> 0;
    this.maxMessageBytes = options.maxMessageBytes ?? 1500 - UDP_OVERHEAD.ipv4;
    this.bootMs = options.bootMs ?? Math.floor(Date.now() - uptimeMs());
    this.#headerBytes = this.protocol === "ipfix" ? IPFIX_HEADER_BYTES : NETFLOW9_HEADER_BYTES;
    this.#templateSet = this.#encodeTemplateSet();
    const least = this.#headerBytes + this.#templateSet.length + SET_HEADER_BYTES + recordLength(this.protocol, 6) + 3;
    if (!(this.maxMessageBytes >= least && this.maxMessageBytes <= 65535)) {
      throw new RangeError(
        `maxMessageBytes must be between ${least} (templates and one record) and 65535, not ${this.maxMessageBytes}: raise the MTU`,
      );
    }
  }

  /** The template set (both templates) as it goes into a message. */
  get templateSet(): Uint8Array {
    return this.#templateSet;
  }

  #encodeTemplateSet(): Uint8Array {
    const t4 = templateFields(this.protocol, 4), t6 = templateFields(this.protocol, 6);
    const len = SET_HEADER_BYTES + 4 + 4 * t4.length + 4 + 4 * t6.length;
    const out = new Uint8Array(len);
    const v = new DataView(out.buffer);
    v.setUint16(0, this.protocol === "ipfix" ? IPFIX_TEMPLATE_SET_ID : NETFLOW9_TEMPLATE_SET_ID);
    v.setUint16(2, len);
    let at = 4;
    for (const [id, fields] of [[TEMPLATE_ID.ipv4, t4], [TEMPLATE_ID.ipv6, t6]] as const) {
      v.setUint16(at, id);
      v.setUint16(at + 2, fields.length);
      at += 4;
      for (const [ie, l] of fields) {
        v.setUint16(at, ie);
        v.setUint16(at + 2, l);
        at += 4;
      }
    }
    return out;
  }

  /**
   * Encodes `records` (in order) into as few messages as fit `maxMessageBytes`; the first message
   * starts with the template set when `withTemplates` is true (an empty `records` then still makes
   * one message with only the templates). `exportMs` is the export time (epoch ms). Each
   * message's number of data records is pushed to `recordCounts`, when given.
   */
  encode(records: readonly FlowRecord[], exportMs: number, withTemplates = false, recordCounts?: number[]): Uint8Array[] {
    const messages: Uint8Array[] = [];
    let i = 0;
    let templates = withTemplates;
    while (i < records.length || templates) {
      const buf = new Uint8Array(this.maxMessageBytes);
      const v = new DataView(buf.buffer);
      let at = this.#headerBytes;
      let count = 0; // records of any kind (NetFlow v9's header count)
      if (templates) {
        buf.set(this.#templateSet, at);
        at += this.#templateSet.length;
        count += 2;
        templates = false;
      }
      let setStart = -1, setVersion = 0, dataRecords = 0;
      const closeSet = () => {
        if (setStart < 0) return;
        while ((at - setStart) % 4 !== 0) buf[at++] = 0; // zero padding to 32 bits, shorter than a record
        v.setUint16(setStart + 2, at - setStart);
        setStart = -1;
      };
      for (; i < records.length; i++) {
        const r = records[i];
        const rlen = recordLength(this.protocol, r.ipVersion);
        const opening = setStart < 0 || setVersion !== r.ipVersion;
        const need = (opening ? 3 + SET_HEADER_BYTES : 0) + rlen + 3;
        if (at + need > this.maxMessageBytes) break;
        if (opening) {
          closeSet();
          setStart = at;
          setVersion = r.ipVersion;
          v.setUint16(at, r.ipVersion === 4 ? TEMPLATE_ID.ipv4 : TEMPLATE_ID.ipv6);
          at += SET_HEADER_BYTES;
        }
        at = this.#writeRecord(v, buf, at, r);
        dataRecords++;
        count++;
      }
      closeSet();
      this.#writeHeader(v, at, count, exportMs);
      this.recordsEncoded += dataRecords;
      this.messagesEncoded++;
      messages.push(buf.subarray(0, at));
      recordCounts?.push(dataRecords);
    }
    return messages;
  }

  #writeHeader(v: DataView, length: number, count: number, exportMs: number): void {
    const secs = Math.floor(exportMs / 1000);
    if (this.protocol === "ipfix") {
      v.setUint16(0, 10);
      v.setUint16(2, length);
      v.setUint32(4, secs >>> 0);
      v.setUint32(8, this.recordsEncoded >>> 0);
      v.setUint32(12, this.observationDomainId);
    } else {
      v.setUint16(0, 9);
      v.setUint16(2, count);
      // sysUptime at the whole second of unix secs, so a collector's boot time (secs*1000 - uptime)
      // is bootMs exactly and FIRST/LAST_SWITCHED map back to the records' ms.
      v.setUint32(4, (secs * 1000 - this.bootMs) >>> 0);
      v.setUint32(8, secs >>> 0);
      v.setUint32(12, this.messagesEncoded >>> 0);
      v.setUint32(16, this.observationDomainId);
    }
  }

  #writeRecord(v: DataView, buf: Uint8Array, at: number, r: FlowRecord): number {
    const a = r.ipVersion === 4 ? 4 : 16;
    if (r.srcAddress.length !== a || r.dstAddress.length !== a) {
      throw new RangeError(`an IPv${r.ipVersion} record needs ${a}-byte addresses`);
    }
    buf.set(r.srcAddress, at);
    buf.set(r.dstAddress, at + a);
    at += 2 * a;
    v.setUint16(at, r.srcPort);
    v.setUint16(at + 2, r.dstPort);
    buf[at + 4] = r.protocol;
    at += 5;
    if (this.protocol === "ipfix") {
      v.setUint16(at, r.tcpFlags & 0xffff);
      at += 2;
    } else {
      buf[at++] = r.tcpFlags & 0xff;
    }
    put64(v, at, r.octets);
    put64(v, at + 8, r.packets);
    at += 16;
    if (this.protocol === "ipfix") {
      put64(v, at, r.startMs);
      put64(v, at + 8, r.endMs);
      at += 16;
    } else {
      v.setUint32(at, (r.startMs - this.bootMs) >>> 0);
      v.setUint32(at + 4, (r.endMs - this.bootMs) >>> 0);
      at += 8;
    }
    v.setUint32(at, r.ingressInterface >>> 0);
    v.setUint16(at + 4, r.vlanId < 0 ? 0 : r.vlanId & 0xfff);
    at += 6;
    if (this.protocol === "ipfix") buf[at++] = r.endReason;
    else {
      v.setUint16(at, r.protocol === 1 || r.protocol === 58 ? r.dstPort : 0);
      at += 2;
    }
    return at;
  }
}

/** The system's uptime in ms. */
function uptimeMs(): number {
  const s = uptime();
  return Number.isFinite(s) ? Math.floor(s * 1000) : 0;
}

/**
 * A finished flow as an exporter sends it (issue 14): what the flow lifecycle (records.ts)
 * emits when a flow ends, and what the IPFIX / NetFlow v9 encoder (ipfix.ts) encodes. Plain
 * numbers and two small byte arrays: one record is made per flow end, never per packet.
 * @module
 */

/**
 * Why a flow's record was emitted: the values of IPFIX's flowEndReason (RFC 7012, IE 136).
 */
export const FLOW_END_REASON = Object.freeze({
  /** No packet for the idle timeout. */
  idleTimeout: 1,
  /** Still active at the active timeout: reported, and counted afresh from here. */
  activeTimeout: 2,
  /** TCP FIN or RST seen. */
  endOfFlowDetected: 3,
  /** The exporter stopped (shutdown, flush). */
  forcedEnd: 4,
  /** Evicted to make room for a new flow (the table was full). */
  lackOfResources: 5,
});

export type FlowEndReason = (typeof FLOW_END_REASON)[keyof typeof FLOW_END_REASON];

/** One unidirectional flow's record (RFC 7011/7012 terms in brackets). */
export interface FlowRecord {
  /** 4 or 6. */
  ipVersion: 4 | 6;
  /** [protocolIdentifier] the IP protocol (IPv6: the upper-layer header after extensions). */
  protocol: number;
  /** [sourceIPv4Address / sourceIPv6Address] 4 or 16 bytes, network order. */
  srcAddress: Uint8Array;
  /** [destinationIPv4Address / destinationIPv6Address] 4 or 16 bytes, network order. */
  dstAddress: Uint8Array;
  /** [sourceTransportPort] 0 when the protocol has no ports. */
  srcPort: number;
  /** [destinationTransportPort] 0 when the protocol has no ports (ICMP: type * 256 + code, as NetFlow does). */
  dstPort: number;
  /** [packetDeltaCount] packets since the flow's last record. */
  packets: number;
  /** [octetDeltaCount] IP bytes since the last record: IP header and payload, as RFC 7012 defines it (not the frame). */
  octets: number;
  /** [flowStartMilliseconds] the first packet's timestamp, ms since the epoch. */
  startMs: number;
  /** [flowEndMilliseconds] the last packet's timestamp, ms since the epoch. */
  endMs: number;
  /** [tcpControlBits] every TCP flag seen (OR), 0 for other protocols. */
  tcpFlags: number;
  /** [ingressInterface] the interface index the packets came through (0 when unknown). */
  ingressInterface: number;
  /** [vlanId] the outer VLAN id, or -1 without a tag. */
  vlanId: number;
  /** [flowEndReason] a FLOW_END_REASON value. */
  endReason: FlowEndReason;
}

/**
 * ringcap: high-speed Linux packet capture for Bun and Deno, on AF_PACKET's TPACKET_V3 ring
 * and PACKET_FANOUT, with zero-copy views over the mapped ring.
 *
 * @example Count UDP packets on eth0 for five seconds (run as root)
 * ```ts
 * import { openCapture } from "ringcap";
 *
 * using cap = openCapture("eth0", { filter: "udp" });
 * let packets = 0, bytes = 0;
 * for await (const block of cap.blocks({ signal: AbortSignal.timeout(5000) })) {
 *   for (const p of block) {
 *     packets++;
 *     bytes += p.length;
 *   }
 * }
 * console.log(packets, bytes, cap.stats());
 * ```
 *
 * @module
 */

export {
  Capture,
  type CaptureInfo,
  type CaptureInterfaces,
  type CaptureOptions,
  type CaptureStats,
  DEFAULT_RING,
  type Direction,
  FANOUT_MODES,
  type FanoutMode,
  type FanoutOptions,
  MAX_INTERFACES,
  openCapture,
  type RingOptions,
  TIMESTAMP_TYPES,
  type TimestampType,
  timestampTypes,
} from "./src/capture.ts";
export { Block, FrameCursor, PACKET_TYPE, PacketView, type TimestampSource, VLAN_TAG_BYTES } from "./src/packet.ts";
export {
  type CreateFanoutHandler,
  type FanoutCloseOptions,
  type FanoutCounters,
  FANOUT_DEFAULTS,
  type FanoutEvents,
  type FanoutFileSource,
  type FanoutHandler,
  type FanoutHandlerContext,
  type FanoutMessage,
  FanoutPool,
  type FanoutPoolOptions,
  type FanoutPoolStats,
  type FanoutReport,
  type FanoutWorkerState,
  type FanoutWorkerStats,
  openFanout,
} from "./src/fanout/pool.ts";
export {
  decodesLinkType,
  ETHERTYPE,
  FLOW_KEY_WORDS,
  formatFlowKey,
  formatIPv4,
  formatIPv6,
  type FlowTuple,
  flowTuple,
  IPPROTO,
  LINKTYPE,
  PacketDecoder,
  TCP_FLAGS,
} from "./src/decode.ts";
export { FLOW_TABLE_DEFAULTS, type FlowCount, FlowTable, type FlowTableOptions, MAX_FLOWS } from "./src/flows.ts";
export {
  FLOW_TRACKER_DEFAULTS,
  FlowTracker,
  type FlowTrackerOptions,
  type FlowTrackerStats,
  MAX_TRACKED_FLOWS,
} from "./src/export/records.ts";
export { NativeFlowTracker } from "./src/export/native_records.ts";
export { FLOW_END_REASON, type FlowEndReason, type FlowRecord } from "./src/export/record.ts";
export { Generator, GENERATOR_DEFAULTS, GENERATOR_LIMITS, type GeneratorOptions, type SendResult } from "./src/gen.ts";
export { ClosedError, InterfaceError, PermissionError, RingcapError } from "./src/errors.ts";
export { compileFilter, type CompileFilterOptions } from "./src/bpf/compile.ts";
export {
  type BpfInstruction,
  type BpfProgram,
  checkBpfProgram,
  parseBpfText,
  programFromInstructions,
  programText,
} from "./src/bpf/program.ts";
export { onWireProgram } from "./src/bpf/vlan.ts";
export { interfaceOptions, linkTypeFor, type PcapFormat, PcapWriter, type PcapWriterOptions } from "./src/pcap.ts";
export { type RotateOptions, RotatingWriter, rotatedName, ringDigits, strftime } from "./src/rotate.ts";
export { CaptureFile, type FileFormat, type FileInterface, openFile, type OpenFileOptions } from "./src/file.ts";
export { MAX_SNAPLEN } from "./src/options.ts";
export { type DroppedTo, dropPrivileges, lookUpUser, threadsKeepingPrivileges } from "./src/privileges.ts";
export {
  ExportEncoder,
  type ExportEncoderOptions,
  type ExportProtocol,
  IE,
  recordLength,
  TEMPLATE_ID,
  templateFields,
} from "./src/export/ipfix.ts";
export { EXPORTER_DEFAULTS, IpfixExporter, type IpfixExporterOptions, type IpfixExporterStats } from "./src/export/exporter.ts";

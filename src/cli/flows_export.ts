/**
 * `ringcap flows --ipfix HOST[:PORT]`: flow records to a collector instead of a table. Packets
 * go into a flow cache: a {@link NativeFlowTracker} that counts each ring block natively (on
 * one ring, or in each fanout worker with --workers), or a {@link FlowTracker} for a saved
 * file's packets in packet time (-r) and each record it makes into an {@link IpfixExporter}: one
 * exporter, or one per worker under its own observation domain. A status line (or a JSON line
 * per interval) shows flows active, records sent and lost; at the end every open flow is
 * flushed and sent before the process exits.
 * @module
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { type Capture, openCapture } from "../capture.ts";
import { openFile } from "../file.ts";
import { openFanout } from "../fanout/pool.ts";
import { IpfixExporter, type IpfixExporterStats } from "../export/exporter.ts";
import { FLOW_END_REASON } from "../export/record.ts";
import { FlowTracker, type FlowTrackerStats } from "../export/records.ts";
import { NativeFlowTracker } from "../export/native_records.ts";
import { RingcapError } from "../errors.ts";
import { relinquish, UsageError } from "./flags.ts";
import type { FlowExportBatch, FlowExportWorkerData } from "./flows_export_handler.ts";
import { type FlowExportSettings, type FlowsOptions, liveCaptureOf } from "./flows_options.ts";
import { type CommandIO, readUntilStopped, RunStop, unwrapWorkerFailure } from "./io.ts";
import { OfflineFilter, requireDecodable } from "./offline.ts";

/** How often a live tracker ends idle flows and reports long ones, by the wall clock. */
const EXPIRE_EVERY_MS = 1000;

/** Runs `ringcap flows --ipfix ...` (o.export set); resolves to the exit code. */
export async function flowsExport(o: FlowsOptions, io: CommandIO): Promise<number> {
  const e = o.export!;
  const address = await resolveCollector(e.host);
  if (o.read !== undefined) return exportFile(o, e, address, o.read, io);
  if (o.workers > 1) return exportWithWorkers(o, e, address, io);
  return exportOnOneRing(o, e, address, io);
}

/** The collector's address: a name is looked up once, before anything opens (a usage error when it does not resolve). */
async function resolveCollector(host: string): Promise<string> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw new UsageError(`--ipfix ${host}: the collector's name does not resolve (${(err as { code?: string }).code ?? err})`);
  }
}

function exporterFor(e: FlowExportSettings, address: string, domainId: number, bootMs?: number): IpfixExporter {
  return new IpfixExporter({
    host: address,
    port: e.port,
    transport: e.transport,
    protocol: e.protocol,
    observationDomainId: domainId,
    maxMessagesPerSecond: e.maxMessagesPerSecond,
    bootMs,
  });
}

async function exportOnOneRing(o: FlowsOptions, e: FlowExportSettings, address: string, io: CommandIO): Promise<number> {
  using cap: Capture = openCapture(o.iface, liveCaptureOf(o));
  const exporter = exporterFor(e, address, e.domainId);
  using tracker = new NativeFlowTracker(cap, { ...timeouts(e), maxFlows: o.maxFlows, onRecord: (r) => exporter.export(r) });
  relinquish(o.user); // -Z: the capture socket and the exporter's are open
  const status = new ExportStatus(io, o, e);
  status.started(o, e);
  const snapshot = (final = false): ExportSnapshot => {
    const s = cap.stats();
    return snapshotOf(final, [tracker.stats()], [exporter.stats()], s.drops, s.interfaceDrops);
  };
  const stop = new RunStop(o.seconds, io);
  const expirer = setInterval(() => tracker.expire(Date.now()), EXPIRE_EVERY_MS);
  const ticker = setInterval(() => status.update(snapshot()), o.intervalMs);
  try {
    await readUntilStopped(cap, stop.signal, (block) => tracker.addBlock(block));
  } finally {
    clearInterval(expirer);
    clearInterval(ticker);
    stop.release();
  }
  tracker.flush();
  await exporter.close();
  status.finish(snapshot(true), exporter.stats().lastError);
  return 0;
}

async function exportWithWorkers(o: FlowsOptions, e: FlowExportSettings, address: string, io: CommandIO): Promise<number> {
  const exporters = Array.from({ length: o.workers }, (_, k) => exporterFor(e, address, e.domainId + k));
  const closeExporters = () => Promise.all(exporters.map((x) => x.close()));
  let pool;
  try {
    pool = await openFanout<FlowExportWorkerData, FlowTrackerStats>(o.iface, {
      worker: new URL("./flows_export_handler.ts", import.meta.url),
      workerData: { ...timeouts(e), maxFlows: o.maxFlows },
      ...liveCaptureOf(o),
      workers: o.workers,
      mode: "hash",
      // The workers end idle flows at their reports: once a second, whatever the status interval.
      reportIntervalMs: EXPIRE_EVERY_MS,
    });
  } catch (err) {
    await closeExporters();
    throw err;
  }
  try {
    relinquish(o.user); // -Z: every worker's socket and every exporter's are open
  } catch (err) {
    await pool.close().catch(() => {});
    await closeExporters();
    throw err;
  }
  const latest: (FlowTrackerStats | undefined)[] = new Array(o.workers);
  pool.on("report", (r) => (latest[r.workerIndex] = r.data));
  pool.on("message", (m) => {
    for (const r of (m.data as FlowExportBatch).records) exporters[m.workerIndex].export(r);
  });
  const status = new ExportStatus(io, o, e);
  status.started(o, e);
  const snapshot = (final = false): ExportSnapshot => {
    const total = pool.stats().total;
    const trackers = latest.filter((t): t is FlowTrackerStats => t !== undefined);
    return snapshotOf(final, trackers, exporters.map((x) => x.stats()), total.drops, total.interfaceDrops);
  };
  const stop = new RunStop(o.seconds, io);
  pool.done.catch(() => stop.stop());
  const ticker = setInterval(() => status.update(snapshot()), o.intervalMs);
  await stop.stopped;
  clearInterval(ticker);
  stop.release();
  // Each worker's final report flushes its flows; their records arrive before the pool closes.
  let failure: unknown = null;
  await pool.close({ drain: true }).catch((err) => (failure = unwrapWorkerFailure(err)));
  await closeExporters();
  const final = snapshot(true);
  status.finish(final, exporters.map((x) => x.stats().lastError).find((m) => m !== undefined));
  if (failure) throw failure;
  return 0;
}

/**
 * `flows -r FILE --ipfix`: the file's packets (those EXPR takes) into one tracker in packet
 * time; idle and active timeouts end flows as the file's clock passes them, and the exporter is
 * waited for after each block, so a file is sent as fast as the socket takes it and no record
 * is lost to the queue's bound. A corrupt file's good packets are exported before its error.
 */
async function exportFile(o: FlowsOptions, e: FlowExportSettings, address: string, path: string, io: CommandIO): Promise<number> {
  await using f = await openFile(path);
  const filter = new OfflineFilter(f, { expression: o.expression });
  requireDecodable(path, filter.linkType, "exported as flows");
  // NetFlow v9 times count from the exporter's boot: made at the first packet, so it counts from there.
  let exporter: IpfixExporter | null = e.protocol === "ipfix" ? exporterFor(e, address, e.domainId) : null;
  relinquish(o.user);
  io.err(filter.readingLine(path));
  const tracker = new FlowTracker({ ...timeouts(e), maxFlows: o.maxFlows, onRecord: (r) => exporter!.export(r) });
  const status = new ExportStatus(io, o, e);
  let failure: unknown = null;
  try {
    for await (const block of f.blocks()) {
      for (const p of block) {
        if (!filter.accepts(p)) continue;
        exporter ??= netflow9FromFile(e, address, p.timestampMs);
        tracker.add(p.decode(), p.timestampMs, p.ifindex);
      }
      tracker.expire();
      if (exporter) await exporter.drained();
    }
  } catch (err) {
    failure = err;
  }
  tracker.flush();
  await exporter?.close();
  const s = exporter?.stats();
  status.finish(snapshotOf(true, [tracker.stats()], s ? [s] : [], 0, 0), s?.lastError, false);
  if (failure) throw failure;
  return 0;
}

/** NetFlow v9 carries times as 32-bit ms since the exporter's boot: 49.7 days from a second before the file's first packet. */
function netflow9FromFile(e: FlowExportSettings, address: string, firstMs: number): IpfixExporter {
  const bootMs = Math.floor(firstMs) - 1000;
  if (Date.now() - bootMs >= 2 ** 32) {
    throw new RingcapError(
      "invalid_argument",
      "NetFlow v9 counts times in 32-bit ms since the exporter's boot (49.7 days), and this file's packets are older than that: export it as IPFIX (leave out --netflow9)",
    );
  }
  return exporterFor(e, address, e.domainId, bootMs);
}

function timeouts(e: FlowExportSettings): { idleTimeoutMs: number; activeTimeoutMs: number } {
  return { idleTimeoutMs: e.idleTimeoutMs, activeTimeoutMs: e.activeTimeoutMs };
}

/** What `flows --ipfix` shows: each interval, and once more when everything is sent ("final"). */
export interface ExportSnapshot {
  final: boolean;
  /** Packets counted into flows. */
  packets: number;
  /** Packets that are not IP: in no flow. */
  skipped: number;
  /** Flows in the tracker(s) now. */
  flowsActive: number;
  /** Records made, all reasons, and by reason. */
  records: number;
  recordsByReason: FlowTrackerStats["recordsByReason"];
  /** Records the exporter(s) handed to the socket, and those they could not (FlowRecord counts). */
  recordsSent: number;
  recordsLost: number;
  /** Flows evicted from a full tracker (reported with reason lackOfResources, not lost). */
  evictions: number;
  drops: number;
  interfaceDrops: number;
}

/** Sums the trackers' and the exporters' counters (one of each, or one per worker). */
function snapshotOf(final: boolean, trackers: FlowTrackerStats[], exporters: IpfixExporterStats[], drops: number, interfaceDrops: number): ExportSnapshot {
  const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((n, x) => n + f(x), 0);
  const recordsByReason = Object.fromEntries(
    Object.keys(FLOW_END_REASON).map((k) => [k, sum(trackers, (t) => t.recordsByReason[k as keyof typeof FLOW_END_REASON])]),
  ) as FlowTrackerStats["recordsByReason"];
  return {
    final,
    packets: sum(trackers, (t) => t.packets),
    skipped: sum(trackers, (t) => t.skipped),
    flowsActive: sum(trackers, (t) => t.activeFlows),
    records: sum(trackers, (t) => t.records),
    recordsByReason,
    recordsSent: sum(exporters, (x) => x.recordsSent),
    recordsLost: sum(exporters, (x) => x.recordsLost),
    evictions: sum(trackers, (t) => t.evictions),
    drops,
    interfaceDrops,
  };
}

/**
 * The export's output: one JSON line per snapshot on stdout (--json, or stdout not a
 * terminal), or a status line on stderr, redrawn in place on a terminal; at the end, a summary
 * on stderr.
 */
class ExportStatus {
  readonly #io: CommandIO;
  readonly #json: boolean;
  readonly #target: string;
  #drawn = false;

  constructor(io: CommandIO, o: Pick<FlowsOptions, "json">, e: FlowExportSettings) {
    this.#io = io;
    this.#json = o.json;
    const host = e.host.includes(":") ? `[${e.host}]` : e.host;
    this.#target = `${host}:${e.port} (${e.protocol === "ipfix" ? "IPFIX" : "NetFlow v9"} over ${e.transport.toUpperCase()})`;
  }

  /**
   * Says, once the capture is open, what is exported where: a script can wait for this line
   * before it sends traffic (the first status line comes an interval later).
   */
  started(o: Pick<FlowsOptions, "iface" | "workers">, e: FlowExportSettings): void {
    const iface = Array.isArray(o.iface) ? o.iface.join(", ") : o.iface;
    const domains = o.workers > 1 ? `domains ${e.domainId}-${e.domainId + o.workers - 1} (one per worker)` : `domain ${e.domainId}`;
    this.#io.err(`ringcap flows: exporting the flows of ${iface} to ${this.#target} as observation ${domains}; Ctrl-C to stop`);
  }

  update(s: ExportSnapshot): void {
    if (this.#json) {
      this.#io.out(JSON.stringify({ time: new Date().toISOString(), ...s }));
      return;
    }
    const line = `${s.flowsActive} flows active, ${s.records} records: ${s.recordsSent} sent, ${s.recordsLost} lost; ` +
      `${s.packets} packets, ${s.drops} dropped by kernel -> ${this.#target}`;
    if (this.#io.errIsTty) {
      process.stderr.write(`\r\x1b[2K${line}`);
      this.#drawn = true;
    } else this.#io.err(line);
  }

  /** `live`: the summary says what the kernel dropped (a saved file has no kernel drops). */
  finish(s: ExportSnapshot, lastError: string | undefined, live = true): void {
    if (this.#drawn) process.stderr.write("\r\x1b[2K");
    if (this.#json) this.update(s);
    const r = s.recordsByReason;
    const lost = s.recordsLost > 0 ? `, ${s.recordsLost} lost${lastError ? ` (last error: ${lastError})` : ""}` : ", 0 lost";
    this.#io.err(
      [
        `${s.packets} packets counted into flows${s.skipped ? ` (${s.skipped} more not IP, in no flow)` : ""}`,
        `${s.records} flow records: ${r.idleTimeout} idle, ${r.activeTimeout} active timeout, ${r.endOfFlowDetected} end of flow, ` +
        `${r.lackOfResources} evicted (table full), ${r.forcedEnd} at stop`,
        `${s.recordsSent} records sent to ${this.#target}${lost}`,
        ...(live ? [`${s.drops} packets dropped by kernel`] : []),
      ].join("\n"),
    );
  }
}

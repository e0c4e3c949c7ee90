/**
 * IpfixExporter: sends {@link FlowRecord}s to a collector as IPFIX (RFC 7011) or NetFlow v9 over
 * UDP or TCP. It never blocks and never throws into the capture loop: records it cannot send
 * (collector unreachable, not connected, too much queued) are counted as lost in `stats()`.
 * @module
 */

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect as tcpConnect, isIPv6, type Socket as TcpSocket } from "node:net";
import { ExportEncoder, type ExportProtocol, recordLength, UDP_OVERHEAD } from "./ipfix.ts";
import type { FlowRecord } from "./record.ts";
import { RingcapError } from "../errors.ts";

/** Options of an {@link IpfixExporter}. */
export interface IpfixExporterOptions {
  /** The collector's address (an IP address or a name). */
  host: string;
  /** The collector's port (4739 is IPFIX's, 2055 NetFlow's usual one). */
  port: number;
  /** @default "udp" */
  transport?: "udp" | "tcp";
  /** @default "ipfix" */
  protocol?: ExportProtocol;
  /** IPFIX observation domain id / NetFlow v9 source id: one per exporter (per fanout worker). @default 0 */
  observationDomainId?: number;
  /** UDP: the templates are sent again at least this often (seconds). @default 60 */
  templateRefreshSec?: number;
  /** UDP: ... and at least every this many messages (RFC 7011 §8.4 leaves both to the exporter). @default 100 */
  templateRefreshMessages?: number;
  /** The path MTU to the collector; a message is at most this less the IP and UDP headers. @default 1500 */
  mtu?: number;
  /** Records are sent when a message is full or after this many ms. @default 1000 */
  flushIntervalMs?: number;
  /**
   * At most this many bytes of messages wait to be sent (paced, or in the socket); records
   * beyond are dropped and counted lost. @default 16 MiB (about 300,000 IPv4 records)
   */
  maxQueuedBytes?: number;
  /**
   * UDP: messages leave at most at this rate, in bursts of at most 32, so that a burst of
   * records (many flows ending at once, the flush at shutdown) does not overrun the collector's
   * receive buffer, where UDP would lose them unseen: at the default, Linux's default receive
   * buffer (208 KiB, about 150 messages) covers a collector that does not run for 30 ms.
   * 0 sends at once. @default 5000 (about 7 MB/s, 145,000 IPv4 records a second)
   */
  maxMessagesPerSecond?: number;
  /** NetFlow v9: the epoch ms sysUptime counts from. @default the system's boot time */
  bootMs?: number;
}

/** What an exporter has done so far. */
export interface IpfixExporterStats {
  /** Data records in messages the socket accepted. */
  recordsSent: number;
  /** Messages the socket accepted (template-only ones included). */
  messagesSent: number;
  /** Bytes of those messages (IPFIX / NetFlow payload, without IP/UDP/TCP headers). */
  bytesSent: number;
  /** Records not delivered: send errors (e.g. ECONNREFUSED), TCP not connected, queue full. */
  recordsLost: number;
  /** Send or connection errors seen. */
  errors: number;
  /** The last error's code or message, if any. */
  lastError?: string;
  /** TCP: connections made (the first and every reconnection). */
  connections: number;
  /** TCP: connected now; UDP: the socket is connected to the collector's address. */
  connected: boolean;
}

/** What an IpfixExporter gets when its options leave a field out. */
export const EXPORTER_DEFAULTS = Object.freeze({
  templateRefreshSec: 60,
  templateRefreshMessages: 100,
  mtu: 1500,
  flushIntervalMs: 1000,
  maxQueuedBytes: 16 << 20,
  maxMessagesPerSecond: 5_000,
});

/** UDP: messages sent back to back at most (about 45 KB, a fifth of Linux's default receive buffer). */
const BURST = 32;

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

/**
 * Exports flow records to one collector. `export()` queues a record (never blocking, never
 * throwing); full messages go out at once, the rest every `flushIntervalMs` or on `flush()`.
 * Within one flush the IPv4 records go before the IPv6 ones (one set each), otherwise in order.
 *
 * @example
 * ```ts
 * const exp = new IpfixExporter({ host: "192.0.2.10", port: 4739, observationDomainId: 1 });
 * exp.export(record);
 * await exp.close();
 * console.log(exp.stats());
 * ```
 */
export class IpfixExporter {
  readonly host: string;
  readonly port: number;
  readonly transport: "udp" | "tcp";
  readonly encoder: ExportEncoder;
  readonly #opts: Record<keyof typeof EXPORTER_DEFAULTS, number>;
  readonly #stats: IpfixExporterStats = {
    recordsSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    recordsLost: 0,
    errors: 0,
    connections: 0,
    connected: false,
  };
  #pending: FlowRecord[] = [];
  /** Records a message of the larger (IPv6) template holds, without templates: flush at this many. */
  readonly #batch: number;
  #udp?: UdpSocket;
  /** UDP: recent accepted messages [records, ms], for refusals the runtime reports as events. */
  #recent: [number, number][] = [];
  /** UDP messages made before the socket finished connecting, with their record counts. */
  #udpWaiting: [Uint8Array, (err?: Error | null) => void][] | undefined = [];
  #tcp?: TcpSocket;
  #tcpUp = false;
  #needTemplates = true;
  #lastTemplateMs = 0;
  #messagesSinceTemplates = 0;
  /** Messages waiting for the pace (UDP) with their record counts, oldest first; `#outboxAt` is the next one's index. */
  #outbox: [Uint8Array, number][] = [];
  #outboxAt = 0;
  #tokens = BURST;
  #tokensAt = 0;
  #pumpTimer?: ReturnType<typeof setTimeout>;
  /** Bytes of messages in the outbox or handed to the socket and not yet taken. */
  #queuedBytes = 0;
  /** Messages in the outbox or handed to the socket and not yet taken. */
  #inflight = 0;
  #idle: (() => void)[] = [];
  #timer: ReturnType<typeof setInterval>;
  #reconnectTimer?: ReturnType<typeof setTimeout>;
  #backoff = BACKOFF_MIN_MS;
  #closed = false;

  constructor(options: IpfixExporterOptions) {
    if (!options || typeof options.host !== "string" || options.host === "") {
      throw new RingcapError("invalid_argument", "IpfixExporter needs host: the collector's address");
    }
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
      throw new RingcapError("invalid_argument", `port must be 1-65535, not ${options.port}: the collector's port (IPFIX 4739)`);
    }
    const transport = options.transport ?? "udp";
    if (transport !== "udp" && transport !== "tcp") {
      throw new RingcapError("invalid_argument", `transport must be "udp" or "tcp", not ${JSON.stringify(transport)}`);
    }
    this.host = options.host;
    this.port = options.port;
    this.transport = transport;
    this.#opts = {
      templateRefreshSec: options.templateRefreshSec ?? EXPORTER_DEFAULTS.templateRefreshSec,
      templateRefreshMessages: options.templateRefreshMessages ?? EXPORTER_DEFAULTS.templateRefreshMessages,
      mtu: options.mtu ?? EXPORTER_DEFAULTS.mtu,
      flushIntervalMs: options.flushIntervalMs ?? EXPORTER_DEFAULTS.flushIntervalMs,
      maxQueuedBytes: options.maxQueuedBytes ?? EXPORTER_DEFAULTS.maxQueuedBytes,
      maxMessagesPerSecond: options.maxMessagesPerSecond ?? EXPORTER_DEFAULTS.maxMessagesPerSecond,
    };
    const overhead = isIPv6(this.host) ? UDP_OVERHEAD.ipv6 : UDP_OVERHEAD.ipv4;
    try {
      this.encoder = new ExportEncoder({
        protocol: options.protocol,
        observationDomainId: options.observationDomainId,
        maxMessageBytes: this.#opts.mtu - overhead,
        bootMs: options.bootMs,
      });
    } catch (e) {
      throw new RingcapError("invalid_argument", (e as Error).message, { cause: e });
    }
    const recLen = recordLength(this.encoder.protocol, 6);
    this.#batch = Math.max(1, Math.floor((this.encoder.maxMessageBytes - 20 - 4 - 3) / recLen));
    if (transport === "udp") this.#openUdp();
    else this.#openTcp();
    this.#timer = setInterval(() => this.flush(), this.#opts.flushIntervalMs);
    unref(this.#timer);
  }

  /** Queues one record; sends a message once enough are queued. Never throws, never blocks. */
  export(record: FlowRecord): void {
    if (this.#closed) {
      this.#stats.recordsLost++;
      return;
    }
    this.#pending.push(record);
    if (this.#pending.length >= this.#batch) this.flush();
  }

  /** Sends every queued record now (with the templates, when due); nothing when none is queued. */
  flush(): void {
    this.#flush(false);
  }

  /** `templatesAlone`: send the templates even without records (a new TCP connection starts with them). */
  #flush(templatesAlone: boolean): void {
    const records = this.#pending;
    if (records.length === 0 && !(templatesAlone && this.#templatesDue())) return;
    this.#pending = [];
    if (this.transport === "tcp" && !this.#tcpUp) {
      this.#stats.recordsLost += records.length;
      return;
    }
    if (this.#queuedBytes >= this.#opts.maxQueuedBytes) {
      this.#stats.recordsLost += records.length;
      return;
    }
    const now = Date.now();
    const withTemplates = this.#templatesDue(now);
    let messages: Uint8Array[];
    const counts: number[] = [];
    try {
      // IPv4 records first, then IPv6 (each in its order): one set per version, fewer messages.
      const v4 = records.filter((r) => r.ipVersion === 4);
      const grouped = v4.length === records.length || v4.length === 0
        ? records
        : v4.concat(records.filter((r) => r.ipVersion !== 4));
      messages = this.encoder.encode(grouped, now, withTemplates, counts);
    } catch (e) {
      this.#error(e);
      this.#stats.recordsLost += records.length;
      return;
    }
    if (withTemplates) {
      this.#needTemplates = false;
      this.#lastTemplateMs = now;
      this.#messagesSinceTemplates = 0;
    }
    this.#messagesSinceTemplates += messages.length;
    messages.forEach((m, k) => this.#send(m, counts[k]));
  }

  #templatesDue(now = Date.now()): boolean {
    if (this.#needTemplates) return true;
    if (this.transport === "tcp") return false;
    return now - this.#lastTemplateMs >= this.#opts.templateRefreshSec * 1000 ||
      this.#messagesSinceTemplates >= this.#opts.templateRefreshMessages;
  }

  /** Queues a message; UDP messages leave at the pace (#pump), TCP's at once (TCP paces itself). */
  #send(message: Uint8Array, records: number): void {
    this.#queuedBytes += message.length;
    this.#inflight++;
    const paced = this.#udp !== undefined && this.#opts.maxMessagesPerSecond > 0;
    if (!paced) return this.#transmit(message, records);
    this.#outbox.push([message, records]);
    if (this.#pumpTimer === undefined) this.#pump();
  }

  /** Sends what the pace allows now (a token per message, BURST at most), and comes back for the rest. */
  #pump(): void {
    this.#pumpTimer = undefined;
    const rate = this.#opts.maxMessagesPerSecond;
    const now = performance.now();
    this.#tokens = Math.min(BURST, this.#tokens + ((now - this.#tokensAt) * rate) / 1000);
    this.#tokensAt = now;
    while (this.#outboxAt < this.#outbox.length && this.#tokens >= 1) {
      const [message, records] = this.#outbox[this.#outboxAt++];
      this.#tokens -= 1;
      this.#transmit(message, records);
    }
    if (this.#outboxAt === this.#outbox.length) {
      this.#outbox = [];
      this.#outboxAt = 0;
      return;
    }
    this.#pumpTimer = setTimeout(() => this.#pump(), Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / rate)));
  }

  /** Hands one message to the socket; its callback settles the counters. */
  #transmit(message: Uint8Array, records: number): void {
    const bytes = message.length;
    const done = (err?: Error | null) => {
      this.#queuedBytes -= bytes;
      this.#inflight--;
      if (err) {
        this.#error(err);
        this.#stats.recordsLost += records;
      } else {
        this.#stats.recordsSent += records;
        this.#stats.messagesSent++;
        this.#stats.bytesSent += bytes;
        if (this.#udp) {
          this.#recent.push([records, Date.now()]);
          if (this.#recent.length > 256) this.#recent.shift();
        }
      }
      if (this.#inflight === 0) for (const f of this.#idle.splice(0)) f();
    };
    try {
      if (this.#udp && this.#udpWaiting) this.#udpWaiting.push([message, done]);
      else if (this.#udp) this.#udp.send(message, done);
      else if (this.#tcp) this.#tcp.write(message, done);
      else done(new Error("no socket"));
    } catch (e) {
      done(e as Error);
    }
  }

  #error(e: unknown): void {
    this.#stats.errors++;
    const err = e as { code?: string; message?: string } | undefined;
    this.#stats.lastError = err?.code ?? String(err?.message ?? e);
  }

  #openUdp(): void {
    const sock = createSocket(isIPv6(this.host) ? "udp6" : "udp4");
    sock.on("error", (e) => {
      this.#error(e);
      // Bun reports an ICMP-refused datagram as an "error" event after its send succeeded, one
      // event per datagram: the oldest message accepted in the last second was not delivered.
      if ((e as { code?: string }).code === "ECONNREFUSED") {
        const now = Date.now();
        while (this.#recent.length > 0 && now - this.#recent[0][1] > 1000) this.#recent.shift();
        const refused = this.#recent.shift();
        if (refused) {
          this.#stats.recordsSent -= refused[0];
          this.#stats.recordsLost += refused[0];
        }
      }
      // Not connected (e.g. the name did not resolve): what waited is lost.
      for (const [, done] of this.#udpWaiting?.splice(0) ?? []) done(e);
    });
    // Connected, so the kernel reports an unreachable collector (ECONNREFUSED) on later sends.
    sock.connect(this.port, this.host, () => {
      const waiting = this.#udpWaiting ?? [];
      this.#udpWaiting = undefined;
      for (const [m, done] of waiting) {
        try {
          sock.send(m, done);
        } catch (e) {
          done(e as Error);
        }
      }
    });
    this.#udp = sock;
    unref(sock);
  }

  #openTcp(): void {
    if (this.#closed) return;
    const sock = tcpConnect({ host: this.host, port: this.port });
    sock.setNoDelay(true);
    this.#tcp = sock;
    sock.on("connect", () => {
      this.#tcpUp = true;
      this.#backoff = BACKOFF_MIN_MS;
      this.#stats.connections++;
      this.#needTemplates = true; // every new connection starts with the templates
      // A new transport session: its sequence numbers count from 0 (RFC 7011 §3.1, "current stream").
      this.encoder.recordsEncoded = 0;
      this.encoder.messagesEncoded = 0;
      this.#flush(true);
    });
    sock.on("error", (e) => this.#error(e));
    sock.on("close", () => {
      this.#tcpUp = false;
      if (this.#tcp === sock) this.#tcp = undefined;
      if (this.#closed) return;
      this.#reconnectTimer = setTimeout(() => this.#openTcp(), this.#backoff);
      unref(this.#reconnectTimer);
      this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS);
    });
    unref(sock);
  }

  /**
   * Resolves once the socket has taken every message handed to it so far (at once when none is
   * in flight): a sender that outruns the socket (a saved file replayed) waits here instead of
   * losing records to the queue's bound.
   */
  drained(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** A copy of the counters. */
  stats(): IpfixExporterStats {
    return { ...this.#stats, connected: this.transport === "tcp" ? this.#tcpUp : this.#udpWaiting === undefined && !this.#closed };
  }

  /**
   * Sends what is queued, waits for the socket to take it, and closes. The wait is at most
   * `timeoutMs`: by default 2 s more than the pace needs for what is queued; records still
   * queued then are counted lost.
   */
  async close(timeoutMs?: number): Promise<IpfixExporterStats> {
    if (!this.#closed) {
      this.flush();
      this.#closed = true;
      clearInterval(this.#timer);
      if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
      if (this.#inflight > 0) {
        const rate = this.#opts.maxMessagesPerSecond;
        const pacedMs = rate > 0 ? ((this.#outbox.length - this.#outboxAt) * 1000) / rate : 0;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, timeoutMs ?? 2000 + pacedMs);
          this.#idle.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      if (this.#pumpTimer !== undefined) clearTimeout(this.#pumpTimer);
      for (const [message, records] of this.#outbox.slice(this.#outboxAt)) {
        this.#queuedBytes -= message.length;
        this.#inflight--;
        this.#stats.recordsLost += records;
      }
      this.#outbox = [];
      this.#outboxAt = 0;
      if (this.#udp) {
        try {
          this.#udp.close();
        } catch { /* already closed */ }
      }
      if (this.#tcp) this.#tcp.end();
      this.#tcpUp = false;
    }
    return this.stats();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function unref(h: unknown): void {
  (h as { unref?: () => void })?.unref?.();
}

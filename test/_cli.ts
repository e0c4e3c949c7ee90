/**
 * Running `ringcap` as a user runs it (`bun src/cli/main.ts ...` as a subprocess) and reading
 * what it wrote: the CLI tests' shared helpers.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { main } from "../src/cli/main.ts";
import { CONSTANTS } from "../src/native/abi.ts";
import { readPcap } from "./_pcap_read.ts";
import { BUN, CLI } from "./_traffic.ts";

export { BUN, CLI };

/** "RCAP", before the u64 sequence number in every generated payload. */
const MAGIC = [24, 16, 8, 0].map((shift) => (CONSTANTS.payload_magic >>> shift) & 0xff);
export const SUMMARY = /^(\d+) packets captured\n(\d+) packets received by filter\n(\d+) packets dropped by kernel$/m;

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  raw: Buffer;
}

/** A process of ours: `started` settles once it says it is capturing (or once it has ended). */
export class Proc {
  readonly child: ChildProcess;
  readonly started: Promise<void>;
  readonly done: Promise<Finished>;
  err = "";
  /** Bytes seen on stdout so far. */
  outBytes = 0;
  /** Newlines seen on stdout so far. */
  outLines = 0;
  constructor(cmd: string, args: string[], ready = /Ctrl-C to stop|listening on/, maxMs = 60_000) {
    this.child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    this.child.stdout!.on("data", (d: Buffer) => {
      chunks.push(d);
      this.outBytes += d.length;
      for (const b of d) if (b === 10) this.outLines++;
    });
    // Reading ends early when the test closes stdout (closeStdout): that is no error.
    this.child.stdout!.on("error", () => {});
    let onReady = () => {};
    this.started = new Promise((resolve) => (onReady = resolve));
    this.child.stderr!.on("data", (d: Buffer) => {
      this.err += d;
      if (ready.test(this.err)) onReady();
    });
    // Every process is bounded: one still running after maxMs is killed (and its test fails).
    const killer = setTimeout(() => this.child.kill("SIGKILL"), maxMs);
    this.done = new Promise((resolve, reject) => {
      this.child.on("error", reject);
      this.child.on("close", (code, signal) => {
        clearTimeout(killer);
        onReady();
        const raw = Buffer.concat(chunks);
        resolve({ code, signal, out: raw.toString("utf8"), err: this.err, raw });
      });
    });
  }
  /** True until the process has ended. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  stop(signal: NodeJS.Signals = "SIGINT"): Promise<Finished> {
    if (this.running) this.child.kill(signal);
    return this.done;
  }
  /** Closes our end of its stdout, as `| head` does once it has read enough. */
  closeStdout(): void {
    this.child.stdout!.destroy();
  }
}

/** `ringcap ARGS` in a process of its own, killed after maxMs. */
export function ringcap(args: string[], maxMs?: number): Proc {
  return new Proc(BUN, [CLI, ...args], undefined, maxMs);
}

/** Waits until `cond()` holds, looking every 20 ms, for at most `maxMs`; returns whether it held. */
export async function until(cond: () => boolean, maxMs: number): Promise<boolean> {
  const end = performance.now() + maxMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await Bun.sleep(20);
  }
  return true;
}

export function tool(cmd: string, args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 << 20, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

export interface Frame {
  caplen: number;
  len: number;
  data: Uint8Array;
}

/** Reads pcap (microsecond or nanosecond, little-endian) or pcapng (Enhanced Packet Blocks). */
export function readFrames(path: string): Frame[] {
  const frames: Frame[] = [];
  readPcap(path, (view, r) => {
    const data = new Uint8Array(view.buffer, view.byteOffset + r.offset, Math.max(0, Math.min(r.caplen, view.byteLength - r.offset)));
    frames.push({ caplen: r.caplen, len: r.wire, data });
  });
  return frames;
}

/** The generator's sequence number in a frame, or -1 for a frame that is not ours. */
export function seqOf(data: Uint8Array): number {
  for (let i = 14; i + 12 <= data.length; i++) {
    if (data[i] === MAGIC[0] && data[i + 1] === MAGIC[1] && data[i + 2] === MAGIC[2] && data[i + 3] === MAGIC[3]) {
      const dv = new DataView(data.buffer, data.byteOffset + i + 4, 8);
      return dv.getUint32(0) * 0x1_0000_0000 + dv.getUint32(4);
    }
  }
  return -1;
}

/**
 * The frames a file being written holds so far: none while it is not yet a whole file (a tool
 * still writing it, e.g. tcpdump -U, which a test waits for, bounded, before stopping it).
 */
export function framesSoFar(path: string): Frame[] {
  try {
    return readFrames(path);
  } catch {
    return [];
  }
}

export function seqs(path: string): number[] {
  return readFrames(path).map((f) => seqOf(f.data));
}

export function summary(err: string): { captured: number; received: number; dropped: number } {
  const m = SUMMARY.exec(err);
  if (!m) throw new Error(`no summary in: ${err}`);
  return { captured: Number(m[1]), received: Number(m[2]), dropped: Number(m[3]) };
}

/** How tcpdump reads a file: its exit code, packet lines, and whether it found a record cut short. */
export function tcpdumpRead(path: string): { code: number | null; packets: number; truncated: boolean } {
  const t = tool("tcpdump", ["-r", path, "-n"]);
  const lines = t.out.trimEnd();
  return { code: t.code, packets: lines === "" ? 0 : lines.split("\n").length, truncated: /truncated/.test(t.err) };
}

/**
 * The filter corpus the CLI tests try on the same packets as tcpdump (live: test/cli.test.ts;
 * saved files: test/cli_read.test.ts): VLAN in every form, TCP flags, IPv6, lengths, raw offsets.
 */
export const FILTER_CORPUS: readonly string[] = [
  "host 198.18.0.1",
  "src net 198.18.0.0/31",
  "dst host 198.19.0.1 and udp",
  "port 4433",
  "portrange 40-100",
  "tcp",
  "udp",
  "ip6",
  "ip and not vlan",
  "proto 17",
  "vlan",
  "vlan 100",
  "vlan and udp",
  "vlan 100 and tcp",
  "vlan 200 and ip6",
  "vlan 300 and vlan 301",
  "vlan 400",
  "udp or vlan 200",
  "tcp[tcpflags] & tcp-syn != 0",
  "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
  "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
  "not udp and not vlan",
  "(udp and port 4433) or (ip6 and tcp)",
  "greater 250",
  "ether[12:4] & 0xffff0fff = 0x81000064",
  "ether[14] & 0xe0 = 0xa0",
];

/** `ringcap ARGS` run in this process (no spawn: fast for many runs): exit code, stdout, stderr. */
export async function ringcapHere(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), errIsTty: false });
  return { code, out: out.length ? `${out.join("\n")}\n` : "", err: err.join("\n") };
}

/**
 * Printed output as one entry per packet: a line, and the lines that belong to it (a hex dump's,
 * starting with a tab; -v's, starting with a tab or blanks).
 */
export function packetsOf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (/^[\t ]/.test(line) && out.length) out[out.length - 1] += `\n${line}`;
    else out.push(line);
  }
  return out;
}

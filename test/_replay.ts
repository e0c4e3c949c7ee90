/**
 * Traffic with exactly known flows, for the flow export tests: frames written to a pcap file with
 * the times they are to leave at, sent out of the bench's tx end by a small bounded sender
 * (python3 with an AF_PACKET socket, run inside the namespace), and tcpdump on the rx end so a
 * test has the capture's own timestamps of every frame.
 */
import { spawn } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import type { Bench } from "./_netns.ts";
import { readPcap } from "./_pcap_read.ts";

/** A frame and when it is to be sent, in milliseconds after the first frame. */
export interface Timed {
  data: Uint8Array;
  atMs: number;
}

/** Writes `frames` as a little-endian microsecond pcap (LINKTYPE_ETHERNET), times from `baseMs`. */
export function writeSchedule(path: string, frames: readonly Timed[], baseMs = 1_700_000_000_000): void {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.data.length, 0);
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, 1, true);
  let at = 24;
  let last = -Infinity;
  for (const f of frames) {
    if (f.atMs < last) throw new Error("writeSchedule: frames must be in time order");
    last = f.atMs;
    const us = Math.round((baseMs + f.atMs) * 1000);
    dv.setUint32(at, Math.floor(us / 1e6), true);
    dv.setUint32(at + 4, us % 1e6, true);
    dv.setUint32(at + 8, f.data.length, true);
    dv.setUint32(at + 12, f.data.length, true);
    buf.set(f.data, at + 16);
    at += 16 + f.data.length;
  }
  writeFileSync(path, buf);
}

// The sender: reads the pcap, sends each frame at its time offset (relative to the first frame),
// never longer than MAXMS in all; prints how many frames it sent.
const SENDER = `
import socket, struct, sys, time
path, iface, maxms = sys.argv[1], sys.argv[2], float(sys.argv[3])
d = open(path, 'rb').read()
assert struct.unpack_from('<I', d, 0)[0] == 0xa1b2c3d4, 'not a microsecond pcap'
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
start = time.monotonic()
at, t0, n = 24, None, 0
while at + 16 <= len(d):
    sec, usec, cap, wire = struct.unpack_from('<IIII', d, at)
    at += 16
    t = sec + usec / 1e6
    if t0 is None:
        t0 = t
    if (t - t0) * 1000 > maxms:
        sys.exit('schedule longer than %d ms' % maxms)
    wait = start + (t - t0) - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    if s.send(d[at:at + cap]) != cap:
        sys.exit('short send')
    at += cap
    n += 1
print(n)
`;

/**
 * Sends the frames of `path` (written by writeSchedule) out of the bench's tx end, paced by their
 * timestamps; resolves to the number sent. Bounded: the schedule may not span more than `maxMs`
 * and the process is killed after maxMs + 10 s.
 */
export function replay(bench: Bench, path: string, maxMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn("ip", ["netns", "exec", bench.name, "python3", "-c", SENDER, path, bench.tx, String(maxMs)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout!.on("data", (d) => (out += d));
    p.stderr!.on("data", (d) => (err += d));
    const killer = setTimeout(() => p.kill("SIGKILL"), maxMs + 10_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(killer);
      if (code !== 0) reject(new Error(`sender exited ${code}: ${err}`));
      else resolve(Number(out.trim()));
    });
  });
}

/** A frame as tcpdump saw it: its time in nanoseconds since 1970 (a bigint: exact) and bytes. */
export interface Seen {
  ns: bigint;
  data: Uint8Array;
}

/** A process of ours that writes a capture file; `stop` ends it (by its PID) and waits for it. */
export interface Recorder {
  pid: number;
  path: string;
  /** Waits until the file holds `frames` frames (bounded), then stops tcpdump. */
  stop(frames?: number): Promise<void>;
  /** Kills it if it still runs (for finally blocks). */
  kill(): void;
}

/**
 * tcpdump on `iface` inside the namespace writing `path` (nanosecond timestamps), resolved once it
 * listens. -s 2048 -B 8192: a ring of 2 KiB frames that holds a burst in immediate mode.
 */
export async function record(bench: Bench, iface: string, path: string, filter: string[] = []): Promise<Recorder> {
  const p = spawn("ip", ["netns", "exec", bench.name, "tcpdump", "-Z", "root", "-n", "-i", iface, "--immediate-mode", "-s", "2048", "-B", "8192", "-U",
    "--time-stamp-precision", "nano", "-w", path, ...filter], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<void>((r) => p.once("close", () => r()));
  const alive = () => p.exitCode === null && p.signalCode === null;
  for (let i = 0; i < 250 && !err.includes("listening") && alive(); i++) await Bun.sleep(20);
  if (!err.includes("listening")) {
    p.kill("SIGKILL");
    throw new Error(`tcpdump did not start: ${err}`);
  }
  return {
    pid: p.pid!,
    path,
    async stop(frames = 0) {
      let size = -1;
      for (let i = 0; i < 50; i++) {
        await Bun.sleep(100);
        let now = 0;
        try {
          now = statSync(path).size;
        } catch {}
        if (now === size && (frames === 0 || countFrames(path) >= frames)) break;
        size = now;
      }
      if (alive()) p.kill("SIGINT");
      await exited;
    },
    kill() {
      if (alive()) p.kill("SIGKILL");
    },
  };
}

function countFrames(path: string): number {
  try {
    return readPcap(path, () => {});
  } catch {
    return 0;
  }
}

/** The frames of a capture file with their timestamps. */
export function seenFrames(path: string): Seen[] {
  const out: Seen[] = [];
  readPcap(path, (view, r) => {
    const data = new Uint8Array(view.buffer, view.byteOffset + r.offset, Math.min(r.caplen, view.byteLength - r.offset)).slice();
    out.push({ ns: BigInt(r.sec) * 1_000_000_000n + BigInt(r.nsec), data });
  });
  return out;
}

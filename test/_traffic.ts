/** Helpers that drive the generator and tally what a capture saw, for the bench tests. */

import { spawn } from "node:child_process";
import type { Capture } from "../src/capture.ts";
import type { Bench } from "./_netns.ts";
import { CONSTANTS } from "../src/native/abi.ts";

const PAYLOAD_MAGIC = CONSTANTS.payload_magic;

export const BUN = process.execPath;
export const CLI = new URL("../src/cli/main.ts", import.meta.url).pathname;

/** Runs `ringcap gen` in its own process (the other core), resolving to its JSON result. */
export function runGen(bench: Bench, args: string[]): Promise<{ sent: number; pps: number; frameLength: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUN, [CLI, "gen", "-i", bench.tx, "--netns", bench.name, "--json", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`gen exited ${code}: ${err}${out}`));
      resolve(JSON.parse(out.trim().split("\n").pop()!));
    });
  });
}

/**
 * Sequence-number bookkeeping for generated frames: which were seen, how many twice, and how
 * many captured frames were not ours. `payloadAt` is the offset of our payload in the frame.
 */
export class SeqTally {
  readonly seen: Uint8Array;
  unique = 0;
  duplicates = 0;
  foreign = 0;
  outOfRange = 0;
  constructor(readonly count: number, readonly payloadAt = 42) {
    this.seen = new Uint8Array(count);
  }
  /** Records the frame at `offset` (caplen bytes) in `view`. */
  add(view: DataView, offset: number, caplen: number): number {
    const at = offset + this.payloadAt;
    if (caplen < this.payloadAt + 12 || view.getUint32(at) !== PAYLOAD_MAGIC) {
      this.foreign++;
      return -1;
    }
    const seq = Number(view.getBigUint64(at + 4));
    if (seq >= this.count) {
      this.outOfRange++;
      return seq;
    }
    if (this.seen[seq]) this.duplicates++;
    else {
      this.seen[seq] = 1;
      this.unique++;
    }
    return seq;
  }
  missing(): number {
    return this.count - this.unique;
  }
}

/** Reads blocks from `cap` until `done` settles and then `graceMs` pass with the ring drained. */
export async function drainUntil(
  cap: Capture,
  done: Promise<unknown>,
  onPacket: (view: DataView, offset: number, caplen: number) => void,
  options: { graceMs?: number; maxMs?: number } = {},
): Promise<void> {
  const ac = new AbortController();
  const hard = setTimeout(() => ac.abort(), options.maxMs ?? 120_000);
  done.finally(() => setTimeout(() => ac.abort(), options.graceMs ?? Math.max(200, cap.info.blockTimeoutMs * 10)));
  const view = cap.view;
  try {
    for await (const block of cap.blocks({ signal: ac.signal })) {
      for (const p of block) onPacket(view, p.offset, p.caplen);
    }
  } finally {
    clearTimeout(hard);
  }
}

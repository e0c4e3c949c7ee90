/**
 * What the commands' flags share: {@link UsageError} (exit 2), the one parser of numeric flags,
 * the ring flags (`-B`, `--block-timeout`) and the filter expression. Imports nothing from the
 * rest of the CLI.
 * @module
 */

import { chownSync } from "node:fs";
import { type CaptureInterfaces, DEFAULT_RING, type RingOptions } from "../capture.ts";
import { dropPrivileges, lookUpUser } from "../privileges.ts";
import { type BpfProgram, compileFilter } from "../bpf/compile.ts";
import { snaplenOrMax } from "../options.ts";
import { FANOUT_DEFAULTS } from "../fanout/settings.ts";

/** Thrown for wrong usage; the CLI prints it with a pointer to the command's help and exits 2. */
export class UsageError extends Error {}

/** The values a numeric flag accepts. */
export interface FlagRange {
  /** @default 0 */
  min?: number;
  /** @default Number.MAX_SAFE_INTEGER */
  max?: number;
  /** Accept fractions (`--interval 0.5`); whole numbers only otherwise. @default false */
  fractions?: boolean;
}

/** Decimal digits, `_` between groups; a fraction only where a flag takes one. */
const WHOLE = /^\d+(?:_\d+)*$/;
const DECIMAL = /^\d+(?:_\d+)*(?:\.\d+(?:_\d+)*)?$/;

/**
 * The number a flag gives: decimal digits only (`_` may group them: `1_000_000`; `0.5` where
 * fractions are taken), never hex, an exponent, a sign or blanks. `fallback` when the flag is
 * absent (undefined without one: the library then applies its own default); anything else is
 * a UsageError naming the flag and the range.
 *
 * @example
 * ```ts
 * const count = num(values.count, "-c", { min: 0 }, 0);
 * ```
 */
export function num(value: string | undefined, name: string, range: FlagRange, fallback: number): number;
export function num(value: string | undefined, name: string, range: FlagRange): number | undefined;
export function num(value: string | undefined, name: string, range: FlagRange, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const { min = 0, max = Number.MAX_SAFE_INTEGER, fractions = false } = range;
  const n = (fractions ? DECIMAL : WHOLE).test(value) ? Number(value.replaceAll("_", "")) : NaN;
  if (!Number.isFinite(n) || (!fractions && !Number.isInteger(n)) || n < min || n > max) {
    const kind = fractions ? "a number" : "a whole number";
    throw new UsageError(`${name} must be ${kind} from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `--seconds S`: at most a year. */
export const SECONDS: FlagRange = { min: 0, max: 31_536_000 };
/** `--workers N`: as many as a fanout pool takes. */
export const WORKERS: FlagRange = { min: 1, max: FANOUT_DEFAULTS.maxWorkers };

/** `-B KiB` when absent: the library's default ring. */
export const DEFAULT_RING_KIB = (DEFAULT_RING.blockSize * DEFAULT_RING.blockCount) / 1024;

/**
 * The ring of `-B KiB` (1 MiB blocks from 64 MiB up, else 64 KiB blocks) and `--block-timeout MS`
 * (`defaultTimeoutMs` when absent).
 */
export function ringOptions(bufferKiB: string | undefined, blockTimeoutMs: string | undefined, defaultTimeoutMs = DEFAULT_RING.blockTimeoutMs): RingOptions {
  const ringKiB = num(bufferKiB, "-B", { min: 64, max: 16 * 1024 * 1024 }, DEFAULT_RING_KIB);
  const blockSize = ringKiB >= 64 * 1024 ? 1 << 20 : 1 << 16;
  return {
    blockSize,
    blockCount: Math.max(2, Math.floor((ringKiB * 1024) / blockSize)),
    blockTimeoutMs: num(blockTimeoutMs, "--block-timeout", { min: 1, max: 60_000 }, defaultTimeoutMs),
  };
}

/**
 * A tcpdump filter expression compiled for a live capture of `snaplen` (0: whole packets).
 * asOnWire: the socket sees a stripped VLAN tag only as metadata; the filter should judge the
 * frame as tcpdump -r judges the saved one (see onWireProgram in src/bpf/vlan.ts). With a
 * `linkType` (LINUX_SLL2 for -i any), compiled for that link type as it is.
 */
export function compileExpression(expr: string, snaplen: number, linkType?: number): BpfProgram {
  if (linkType !== undefined) return compileFilter(expr, { snaplen: snaplenOrMax(snaplen), linkType });
  return compileFilter(expr, { snaplen: snaplenOrMax(snaplen), asOnWire: true });
}

/** Why a live-capture flag cannot apply when packets come from a saved file (`-r`), by the flag's key. */
export const NOT_WITH_READ = {
  interface: "-r FILE reads packets from the file and -i IFACE takes them from an interface: give one of them",
  snaplen: "the file's packets are kept as the file has them (the file's snaplen is used)",
  ring: "there is no kernel ring when reading a file",
  workers: "a file is read by one reader, there are no fanout workers",
  netns: "a file belongs to no network namespace",
  seconds: "a file is read to its end",
} as const;

/**
 * Throws UsageError for the first flag of `refused` (key, flag as typed, why) that `values`
 * holds: what a command given `-r FILE` says about its live-only flags.
 */
export function refuseWithRead(values: Readonly<Record<string, unknown>>, refused: ReadonlyArray<readonly [key: string, flag: string, why: string]>): void {
  for (const [key, flag, why] of refused) {
    if (values[key] !== undefined) throw new UsageError(`${flag} cannot apply with -r: ${why}`);
  }
}

/**
 * `-i` given once (a name, or "any") or several times (the names, in order, for one capture
 * of them all); undefined without -i. The library checks the names themselves.
 */
export function interfaceFlags(given: string[] | undefined): CaptureInterfaces | undefined {
  if (given === undefined || given.length === 0) return undefined;
  return given.length === 1 ? given[0] : given;
}

/**
 * `-Z USER`, checked before anything opens (an unknown user is a usage error, exit 2, as
 * nothing would be dropped to); undefined without -Z.
 */
export function userFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === "") throw new UsageError("-Z needs a user name");
  try {
    lookUpUser(value);
  } catch (e) {
    throw new UsageError(`-Z ${value}: ${(e as Error).message}`);
  }
  return value;
}

/**
 * Becomes `user` (tcpdump's -Z) once the sockets are open and before the output files are
 * created, so that they are the user's; a no-op without -Z. Files made before (each worker's
 * own, with --per-worker-files) are given to the user first.
 */
export function relinquish(user: string | undefined, madeBefore: readonly string[] = []): void {
  if (user === undefined) return;
  const { uid, gid } = lookUpUser(user);
  for (const path of madeBefore) chownSync(path, uid, gid);
  dropPrivileges(user);
}


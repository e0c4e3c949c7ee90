/**
 * The one place that knows Bun from Deno: loading a C library (bun:ffi or Deno.dlopen), native
 * memory, signals, and the threads of this process. Everything else in ringcap is written once
 * against this module.
 * @module
 */

import { existsSync, readlinkSync } from "node:fs";

interface DenoGlobal {
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): { symbols: Record<string, AnyFn> };
  UnsafePointer: { create(address: bigint): unknown };
  UnsafePointerView: {
    getArrayBuffer(pointer: unknown, length: number, offset: number): ArrayBuffer;
    getCString(pointer: unknown): string;
  };
  build: { arch: string };
  addSignalListener(signal: string, handler: () => void): void;
  open(path: string, options: { read: boolean }): Promise<{ read(buf: Uint8Array): Promise<number | null>; close(): void }>;
  removeSignalListener(signal: string, handler: () => void): void;
}

// deno-lint-ignore no-explicit-any
export type AnyFn = (...args: any[]) => any;

/** True under Bun. */
export const isBun: boolean = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
/** True under Deno (and not Bun). */
export const isDeno: boolean = !isBun && typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

const deno = (): DenoGlobal => (globalThis as unknown as { Deno: DenoGlobal }).Deno;

// deno-lint-ignore no-explicit-any
let bunFfiModule: any = null;
// deno-lint-ignore no-explicit-any
function bunFfi(): any {
  // A specifier in a variable so Deno never resolves it, and Bun's synchronous require (it has
  // one in ES modules) so that loading a library never needs an await.
  const spec = "bun:ffi";
  return (bunFfiModule ??= (import.meta as unknown as { require(id: string): unknown }).require(spec));
}

/**
 * The C types of a foreign function's arguments and result: "buf" is a typed array passed as
 * its data pointer, "handle" an opaque pointer the library returned (pass it back unchanged).
 */
export type CType = "u32" | "i32" | "u64" | "void" | "buf" | "handle";

export interface ForeignSignature {
  readonly args: readonly CType[];
  readonly returns: CType;
}

/** A loaded C library's functions, plus what its pointers need in this runtime. */
export interface ForeignLibrary<K extends string> {
  readonly path: string;
  readonly symbols: Record<K, AnyFn>;
}

/** Opens the shared library at `path` with these functions (throws what the runtime threw). */
export function dlopen<K extends string>(path: string, signatures: Record<K, ForeignSignature>): ForeignLibrary<K> {
  if (isBun) {
    const type = (t: CType) => (t === "buf" || t === "handle" ? "ptr" : t);
    const symbols: Record<string, { args: string[]; returns: string }> = {};
    for (const [name, sig] of Object.entries<ForeignSignature>(signatures)) {
      symbols[name] = { args: sig.args.map(type), returns: type(sig.returns) };
    }
    return { path, symbols: bunFfi().dlopen(path, symbols).symbols };
  }
  const type = (t: CType) => (t === "buf" ? "buffer" : t === "handle" ? "pointer" : t);
  const symbols: Record<string, { parameters: string[]; result: string }> = {};
  for (const [name, sig] of Object.entries<ForeignSignature>(signatures)) {
    symbols[name] = { parameters: sig.args.map(type), result: type(sig.returns) };
  }
  return { path, symbols: deno().dlopen(path, symbols).symbols as Record<K, AnyFn> };
}

/** An ArrayBuffer over `length` bytes of native memory at `address`, without copying. */
export function mapMemory(address: bigint, length: number): ArrayBuffer {
  if (isBun) return bunFfi().toArrayBuffer(Number(address), 0, length);
  // Deno's argument order is (pointer, length, offset), the reverse of Bun's.
  return deno().UnsafePointerView.getArrayBuffer(deno().UnsafePointer.create(address), length, 0);
}

/**
 * Reads a pipe that a native thread writes, through the event loop (never blocking it): each
 * `wait()` resolves true when bytes arrived (their content does not matter), false at
 * end-of-file or once `close()` was called. Only one `wait()` at a time.
 */
export interface PipeReader {
  wait(): Promise<boolean>;
  /** Ends a pending `wait()` (it resolves false); resolves once the runtime no longer reads `fd`. */
  close(): Promise<void>;
}

/**
 * A PipeReader on file descriptor `fd`, which stays the caller's to close after `close()`.
 * Bun reads the descriptor itself (`Bun.file(fd).stream()`, polled by its event loop); Deno
 * opens its own descriptor on the same pipe (`/proc/self/fd/N`, so `--allow-read`).
 */
export async function readPipe(fd: number): Promise<PipeReader> {
  if (isDeno) {
    const file = await deno().open(`/proc/self/fd/${fd}`, { read: true });
    const buf = new Uint8Array(64);
    let closed = false;
    return {
      async wait() {
        if (closed) return false;
        try {
          return (await file.read(buf)) !== null;
        } catch (e) {
          // Closing the file ends a pending read with Deno.errors.Interrupted (or BadResource).
          if (closed) return false;
          throw e;
        }
      },
      close() {
        if (!closed) {
          closed = true;
          file.close();
        }
        return Promise.resolve();
      },
    };
  }
  // A Bun stream reads ahead while it is open (and keeps the process alive); cancelled, it
  // stops and lets the process exit.
  const Bun = (globalThis as unknown as { Bun: { file(fd: number): { stream(): ReadableStream<Uint8Array> } } }).Bun;
  const reader = Bun.file(fd).stream().getReader();
  let closed = false;
  return {
    async wait() {
      if (closed) return false;
      const { done } = await reader.read();
      return !done && !closed;
    },
    async close() {
      if (closed) return;
      closed = true;
      await reader.cancel();
    },
  };
}

/** True for a null "handle" result. */
export function isNullHandle(handle: unknown): boolean {
  return handle === null || handle === 0 || handle === undefined;
}

/** The NUL-terminated string at a "handle" result ("" for null). */
export function cString(handle: unknown): string {
  if (isNullHandle(handle)) return "";
  if (isBun) return String(new (bunFfi().CString)(handle));
  return deno().UnsafePointerView.getCString(handle);
}

/** The machine as ringcap's prebuilt folders name it: "x86_64" or "aarch64". */
export function runtimeArch(): string {
  const g = globalThis as { process?: { arch?: string } };
  const arch = isDeno ? deno().build.arch : g.process?.arch ?? "x64";
  return arch === "x64" || arch === "x86_64" ? "x86_64" : arch === "arm64" || arch === "aarch64" ? "aarch64" : arch;
}

/**
 * Deno's own message when `e` is Deno refusing an operation for want of a permission
 * (`Deno.errors.NotCapable`, or `PermissionDenied` in older releases); null for anything else.
 */
export function permissionRefusal(e: unknown): string | null {
  if (!isDeno || !(e instanceof Error)) return null;
  const errors = (globalThis as unknown as { Deno: { errors?: Record<string, unknown> } }).Deno.errors ?? {};
  for (const name of ["NotCapable", "PermissionDenied"]) {
    const type = errors[name];
    if (typeof type === "function" && e instanceof (type as new () => Error)) return e.message;
  }
  return null;
}

/** An environment variable (both runtimes have `process.env` in ES modules). */
export function envVar(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** Calls `fn` on SIGINT and SIGTERM; returns the function that stops listening. */
export function onStopSignals(fn: () => void): () => void {
  if (isDeno) {
    for (const sig of STOP_SIGNALS) deno().addSignalListener(sig, fn);
    return () => {
      for (const sig of STOP_SIGNALS) deno().removeSignalListener(sig, fn);
    };
  }
  for (const sig of STOP_SIGNALS) process.on(sig, fn);
  return () => {
    for (const sig of STOP_SIGNALS) process.off(sig, fn);
  };
}

/** The calling thread's kernel id (the TID in /proc/self/task/TID), or -1 if it cannot be read. */
export function threadId(): number {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    return Number.isInteger(tid) && tid > 0 ? tid : -1;
  } catch {
    return -1;
  }
}

/**
 * Resolves to true once thread `tid` of this process has ended, false if it is still there
 * after `maxMs`. (Deno's Worker.terminate() returns before the thread stops.)
 */
export async function threadEnded(tid: number, maxMs: number): Promise<boolean> {
  const path = `/proc/self/task/${tid}`;
  const end = performance.now() + maxMs;
  for (let step = 1; existsSync(path); step = Math.min(step * 2, 50)) {
    if (performance.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, step));
  }
  return true;
}

/**
 * Ends the calling Worker with exit code `code`. Bun's Worker reports the code in its "close"
 * event (`process.exit` in a worker ends only the worker; `self.close()` would report 1).
 * Deno's Worker has no "close" event and no exit code: there `lastWords(code)` runs first, so
 * that the worker can tell its parent in a last message, and then the worker closes itself.
 */
export function exitWorker(code: number, lastWords: (code: number) => void): void {
  if (isBun) process.exit(code);
  lastWords(code);
  (globalThis as unknown as { close(): void }).close();
}

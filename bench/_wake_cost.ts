/**
 * What one wake-up of the event loop costs this runtime on this machine, on the thread that
 * runs JavaScript: the floor under `blocks()`, which wakes the loop once per block handed over.
 *
 *   bun bench/_wake_cost.ts [--wakes 400] [--interval-ms 3]
 *
 * timer: `await` a setTimeout of --interval-ms, --wakes times.
 * pipe:  a child process writes one byte to a FIFO every --interval-ms; the loop awaits each
 *        through `Bun.file(fd).stream()`, the way `blocks()` awaits its watcher's byte.
 * Prints CPU microseconds per wake: of the main thread (/proc/thread-self/schedstat) and of
 * the whole process (process.cpuUsage). Bounded: --wakes reads, and the child ends by itself.
 */

import { spawn, spawnSync } from "node:child_process";
import { constants, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { wakes: { type: "string", default: "400" }, "interval-ms": { type: "string", default: "3" } } });
const wakes = Math.min(Number(values.wakes), 10_000);
const intervalMs = Number(values["interval-ms"]);
const threadNs = () => Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]);
const processUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function measure(name: string, wait: () => Promise<boolean>): Promise<void> {
  const t0 = threadNs();
  const p0 = processUs();
  let n = 0;
  while (n < wakes && (await wait())) n++;
  const main = (threadNs() - t0) / 1000 / n;
  const all = (processUs() - p0) / n;
  console.log(JSON.stringify({ wake: name, wakes: n, mainThreadUsPerWake: +main.toFixed(1), processUsPerWake: +all.toFixed(1) }));
}

await measure("timer", () => new Promise((resolve) => setTimeout(() => resolve(true), intervalMs)));

const dir = mkdtempSync(join(tmpdir(), "ringcap-wake-"));
try {
  const fifo = join(dir, "fifo");
  if (spawnSync("mkfifo", [fifo]).status !== 0) throw new Error(`mkfifo ${fifo} failed`);
  const seconds = (intervalMs / 1000).toFixed(3);
  const child = spawn("bash", ["-c", `exec 3>"$1"; for ((i = 0; i < ${wakes}; i++)); do printf x >&3; sleep ${seconds}; done`, "bash", fifo], { stdio: "ignore" });
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const reader = (globalThis as unknown as { Bun: { file(fd: number): { stream(): ReadableStream<Uint8Array> } } }).Bun.file(fd).stream().getReader();
  await measure("pipe", async () => !(await reader.read()).done);
  await reader.cancel();
  child.kill();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

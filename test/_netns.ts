// The namespace bench is the package's own testing export (testing.ts); `privileged` is the
// tests' gate on it.
import { spawnSync } from "node:child_process";
import { createBench } from "../testing.ts";
import { openCapture } from "../mod.ts";

export { type Bench, createBench } from "../testing.ts";

/**
 * Whether this process can make namespaces and open AF_PACKET sockets. Under CI=true a missing
 * capability is an error (privileged tests must run there); elsewhere tests skip and say why.
 */
export function privileged(): boolean {
  let reason = "";
  try {
    const b = createBench();
    try {
      openCapture(b.rx, { netns: b.name, ring: { blockSize: 4096, blockCount: 2, frameSize: 2048 } }).close();
    } finally {
      b.destroy();
    }
    return true;
  } catch (e) {
    reason = (e as Error).message;
  }
  if (process.env.CI === "true") throw new Error(`CI=true but packet capture is not possible here: ${reason}`);
  console.warn(`skipping tests that need root or CAP_NET_RAW+CAP_SYS_ADMIN: ${reason}`);
  return false;
}

/**
 * Whether every program named is on PATH. Under CI=true a missing one is an error (the Makefile
 * installs them, so the tests that need them must run there); elsewhere tests skip.
 */
export function haveTools(...names: string[]): boolean {
  const missing = names.filter((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
  if (missing.length && process.env.CI === "true") throw new Error(`CI=true but ${missing.join(", ")} missing (make tools installs them)`);
  return missing.length === 0;
}

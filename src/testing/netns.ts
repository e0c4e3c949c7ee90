/**
 * A self-contained bench for trying ringcap (and for its tests, benchmark and demo): a network
 * namespace of its own with a veth pair whose both ends live inside it, so nothing routes
 * out. Frames are sent on `tx` and captured on `rx`. Needs root (CAP_SYS_ADMIN, CAP_NET_RAW).
 *
 * @example
 * ```ts
 * using bench = createBench();
 * using cap = openCapture(bench.rx, { netns: bench.name });
 * using gen = new Generator(bench.tx, { netns: bench.name });
 * gen.send(10);
 * ```
 * @module
 */

import { spawnSync } from "node:child_process";

export interface Bench {
  name: string;
  tx: string;
  rx: string;
  /** Runs `ip -n <ns> ...`. */
  ip(...args: string[]): string;
  /** Reads an interface counter (e.g. "tx_dropped") inside the namespace. */
  counter(iface: string, name: string): number;
  destroy(): void;
  [Symbol.dispose](): void;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr || r.error}`);
  return r.stdout;
}

const live = new Set<Bench>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const cleanup = () => {
    for (const b of live) b.destroy();
  };
  process.on("exit", cleanup);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
  }
}

/** Removes namespaces left by earlier runs of this bench whose process is gone. */
function reapStale(): void {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  for (const line of String(r.stdout ?? "").split("\n")) {
    const m = /^(rc-(\d+)-[0-9a-f]+)/.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) spawnSync("ip", ["netns", "del", m[1]]);
  }
}

/** Names of the bench's veth ends (inside its own namespace any name is free). */
export interface BenchOptions {
  /** The end frames are sent from. @default "rctx" */
  tx?: string;
  /** The end captures read. @default "rcrx" */
  rx?: string;
}

/** Makes a fresh namespace `rc-<pid>-<random>` with veth `rctx` <-> `rcrx` (or the names given), both up. */
export function createBench(options: BenchOptions = {}): Bench {
  hookExit();
  reapStale();
  const name = `rc-${process.pid}-${Math.floor(Math.random() * 0xffffff).toString(16)}`;
  run("ip", ["netns", "add", name]);
  const bench: Bench = {
    name,
    tx: options.tx ?? "rctx",
    rx: options.rx ?? "rcrx",
    ip: (...args) => run("ip", ["-n", name, ...args]),
    counter: (iface, counter) =>
      Number(run("ip", ["netns", "exec", name, "cat", `/sys/class/net/${iface}/statistics/${counter}`]).trim()),
    destroy() {
      if (!live.delete(bench)) return;
      spawnSync("ip", ["netns", "del", name]);
    },
    [Symbol.dispose]() {
      bench.destroy();
    },
  };
  live.add(bench);
  try {
    bench.ip("link", "add", bench.tx, "type", "veth", "peer", "name", bench.rx);
    // No IPv6 inside: no router solicitations or MLD reports mixed into the captures.
    run("ip", ["netns", "exec", name, "sh", "-c",
      "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"]);
    for (const dev of [bench.tx, bench.rx, "lo"]) bench.ip("link", "set", "dev", dev, "up");
  } catch (e) {
    bench.destroy();
    throw e;
  }
  return bench;
}

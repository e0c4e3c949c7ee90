/**
 * `ringcap gen`: sends synthetic frames out of an interface (for testing a setup), printing
 * progress once a second.
 * @module
 */

import { parseArgs } from "node:util";
import { TCP_FLAGS } from "../decode.ts";
import { Generator, GENERATOR_LIMITS, type GeneratorOptions } from "../gen.ts";
import { type FlagRange, num, UsageError } from "./flags.ts";
import type { CommandIO } from "./io.ts";

const GEN_HELP = `usage: ringcap gen -i IFACE --count N [--rate PPS] [--size BYTES] [--flows N]
                  [--vlan ID] [--qinq OUTER,INNER] [--ipv6] [--tcp|--syn] [--dst-mac MAC]
                  [--netns NAME] [--max-seconds S] [--qdisc-bypass] [--json]

Sends N synthetic frames (198.18.0.0/15 or 2001:db8::/32, sequence-numbered payloads)
out of IFACE, paced at PPS (0 = as fast as possible), printing progress once a second.`;

const LIMITS = GENERATOR_LIMITS;

function readFlags(args: string[]) {
  return parseArgs({
    args,
    options: {
      interface: { type: "string", short: "i" },
      count: { type: "string", short: "c" },
      rate: { type: "string" },
      size: { type: "string" },
      flows: { type: "string" },
      vlan: { type: "string" },
      qinq: { type: "string" },
      ipv6: { type: "boolean" },
      tcp: { type: "boolean" },
      syn: { type: "boolean" },
      "dst-mac": { type: "string" },
      "dst-port": { type: "string" },
      netns: { type: "string" },
      "max-seconds": { type: "string" },
      "qdisc-bypass": { type: "boolean" },
      "seq-start": { type: "string" },
      batch: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }).values;
}

type Flags = ReturnType<typeof readFlags>;

/** Runs `ringcap gen ARGS`; resolves to 0 when every frame went out, else 1. */
export async function gen(args: string[], io: CommandIO): Promise<number> {
  const values = readFlags(args);
  if (values.help) {
    io.out(GEN_HELP);
    return 0;
  }
  if (!values.interface) throw new UsageError("gen needs -i IFACE");
  if (values.count === undefined) throw new UsageError("gen needs --count N (it never runs unbounded)");
  const count = num(values.count, "--count", { min: 1 }, 0);
  const maxMs = num(values["max-seconds"], "--max-seconds", { min: 1, max: 86_400 }, 600) * 1000;
  using g = new Generator(values.interface, generatorOptions(values));
  const start = performance.now();
  let sent = 0;
  // One-second slices: progress between them, and the overall deadline bounds the run.
  while (sent < count) {
    const left = maxMs - (performance.now() - start);
    if (left <= 0) break;
    const r = g.send(count - sent, { maxMs: Math.min(1000, left) });
    sent += r.sent;
    const secs = (performance.now() - start) / 1000;
    if (!values.json) io.err(`gen: ${sent}/${count} frames, ${Math.round(sent / secs)} pps`);
  }
  const seconds = (performance.now() - start) / 1000;
  const result = { sent, seconds: Number(seconds.toFixed(3)), pps: Math.round(sent / seconds), frameLength: g.frameLength };
  if (values.json) io.out(JSON.stringify(result));
  else io.out(`sent ${sent} frames of ${g.frameLength} bytes in ${result.seconds} s (${result.pps} pps)`);
  return sent === count ? 0 : 1;
}

/** The generator's options from the flags; an absent flag leaves the library's default (GENERATOR_DEFAULTS). */
function generatorOptions(v: Flags): GeneratorOptions {
  if (v.vlan !== undefined && v.qinq !== undefined) throw new UsageError("give --vlan or --qinq, not both");
  return {
    netns: v.netns,
    rate: num(v.rate, "--rate", LIMITS.rate),
    size: num(v.size, "--size", LIMITS.size),
    flows: num(v.flows, "--flows", LIMITS.flows),
    vlan: v.vlan === undefined ? undefined : { id: num(v.vlan, "--vlan", LIMITS.vlanId, 0) },
    qinq: v.qinq === undefined ? undefined : qinqFlag(v.qinq),
    ipv6: v.ipv6,
    tcp: v.tcp || v.syn,
    tcpFlags: v.syn ? TCP_FLAGS.SYN : undefined,
    dstMac: v["dst-mac"],
    dstPort: num(v["dst-port"], "--dst-port", LIMITS.dstPort),
    qdiscBypass: v["qdisc-bypass"],
    seqStart: num(v["seq-start"], "--seq-start", {}),
    batch: num(v.batch, "--batch", LIMITS.batch),
  };
}

/** `--qinq OUTER,INNER`: both VLAN ids. */
function qinqFlag(value: string): { outer: number; inner: number } {
  const parts = value.split(",");
  if (parts.length !== 2) throw new UsageError(`--qinq needs OUTER,INNER (two VLAN ids), got ${JSON.stringify(value)}`);
  return { outer: num(parts[0], "--qinq outer", LIMITS.vlanId, 0), inner: num(parts[1], "--qinq inner", LIMITS.vlanId, 0) };
}

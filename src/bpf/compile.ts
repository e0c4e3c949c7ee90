/**
 * Filter expressions: tcpdump syntax compiled by the system's libpcap into classic BPF, plus
 * programs read from `tcpdump -ddd` text or built by hand. libpcap is opened through FFI on the
 * first `compileFilter` call only, so ringcap works without it when no expression is used.
 *
 * VLAN and the Linux kernel (checked with Debian's libpcap 1.10.3 and tcpdump 4.99.3):
 * - On receive the kernel takes the outer 802.1Q/802.1ad tag out of the frame and keeps it in
 *   packet metadata (ringcap sees it as `tp_vlan_tci`). A socket filter therefore sees the
 *   inner EtherType at offset 12 and must ask for the tag with the ancillary loads
 *   SKF_AD_VLAN_TAG_PRESENT (k = 0xfffff030) and SKF_AD_VLAN_TAG (k = 0xfffff02c).
 * - libpcap only emits those loads when it compiles on an activated Linux socket (pcap-linux.c
 *   sets BPF_SPECIAL_VLAN_HANDLING after SO_BPF_EXTENSIONS). `tcpdump -i veth -d 'vlan 100'`
 *   gives `ldb [vlanp]; jeq #1 ...; ldb [vlan_tci]; and #0xfff; jeq #0x64`, with the
 *   in-frame TPID test at [12] kept as the other branch, and for `vlan and udp` it keeps the
 *   header offset in M[0]/M[1] (0 when the tag was stripped, 4 when it is still in the frame).
 * - On a `pcap_open_dead` handle (and `tcpdump -r file -d`) the same expressions compile to
 *   `ldh [12]; jeq #0x8100/#0x88a8/#0x9100`, then `ldh [14]` for the id and offsets shifted by
 *   4 for everything after `vlan`. Attached to a live socket that program never sees a tag the
 *   kernel stripped: `vlan` matches nothing, and `vlan and udp` reads the wrong bytes.
 * - Expressions without `vlan` compile to the same code either way.
 * - Either way `udp` on a live socket also accepts UDP inside a stripped tag, which `tcpdump -r`
 *   of the saved frame does not: a live program sees the frame after stripping.
 * Rewriting the dead program in place is not a local change (every later offset moves, and the
 * optimizer merges blocks), so with `strippedVlan: true` a program that tests for a VLAN TPID at [12] is
 * compiled again by libpcap on an activated socket on `lo` (libpcap's link type for loopback is
 * Ethernet; if lo is down, the other interfaces are tried), which is exactly what `tcpdump -i`
 * attaches. Activating needs CAP_NET_RAW, as capturing does, and an interface that is up;
 * without them the error is "filter_vlan_unsupported" and says what to do instead.
 *
 * `asOnWire: true` avoids all of this: it takes the file program and, for frames whose tag was
 * stripped, runs a copy that reads the frame as if the tag were back (see `onWireProgram`), so
 * every expression accepts what `tcpdump -r` accepts from the saved file.
 * @module
 */

import { readdirSync } from "node:fs";
import { RingcapError } from "../errors.ts";
import { intOption, MAX_SNAPLEN } from "../options.ts";
import { libpcapCompile } from "./libpcap.ts";
import type { BpfProgram } from "./program.ts";
import { checkStrippedVlan, onWireProgram } from "./vlan.ts";

export type { BpfInstruction, BpfProgram } from "./program.ts";

const PCAP_NETMASK_UNKNOWN = 0xffffffff;
const LINKTYPE_ETHERNET = 1;

/** Options for {@link compileFilter}. */
export interface CompileFilterOptions {
  /** The LINKTYPE_* of the frames the program will see. @default 1 (Ethernet) */
  linkType?: number;
  /** The value `ret` returns for an accepted packet. @default MAX_SNAPLEN */
  snaplen?: number;
  /** Run libpcap's optimizer (tcpdump without -O). @default true */
  optimize?: boolean;
  /** IPv4 netmask as a host-order number, only used by `ip broadcast`. @default 0xffffffff (unknown) */
  netmask?: number;
  /**
   * The frames come from a Linux socket that strips the outer VLAN tag (any live capture):
   * compile VLAN tests as ancillary loads, like `tcpdump -i` does. @default false
   */
  strippedVlan?: boolean;
  /**
   * The frames come from a Linux socket that strips the outer VLAN tag, and the program is to
   * judge each frame as it was on the wire, tag in place: exactly as `tcpdump -r` judges the
   * frame saved to a file. With `strippedVlan` alone (as with `tcpdump -i`), `udp` also accepts
   * UDP inside a stripped 802.1Q tag, which in a file only `vlan and udp` accepts; this option
   * makes every expression mean what it means on the saved file. It needs neither libpcap on a
   * live socket nor CAP_NET_RAW (see {@link onWireProgram}); it wins over `strippedVlan`.
   * @default false
   */
  asOnWire?: boolean;
}

/**
 * Compiles a tcpdump filter expression with libpcap (loaded on the first call).
 * Throws RingcapError "filter_syntax" with libpcap's own message for a bad expression, and
 * "libpcap_missing" when no libpcap can be found.
 *
 * @example
 * ```ts
 * const program = compileFilter("udp and dst port 53", { snaplen: 128 });
 * using cap = openCapture("eth0", { filter: program });
 * ```
 */
export function compileFilter(expression: string, options: CompileFilterOptions = {}): BpfProgram {
  if (typeof expression !== "string" || expression.includes("\0")) {
    throw new RingcapError("invalid_argument", `a filter expression must be a string without NUL, got ${JSON.stringify(expression)}`);
  }
  const linkType = intOption(options.linkType, "linkType", { min: 0, max: 0xffff }, LINKTYPE_ETHERNET);
  const snaplen = intOption(options.snaplen, "snaplen", { min: 1, max: 0x7fffffff }, MAX_SNAPLEN);
  const netmask = intOption(options.netmask, "netmask", { min: 0, max: 0xffffffff }, PCAP_NETMASK_UNKNOWN);
  const args = { expression, linkType, snaplen, optimize: options.optimize ?? true, netmask };
  const dead = libpcapCompile(args, null);
  // Only Ethernet frames carry tags the kernel strips.
  if (options.asOnWire) return linkType === LINKTYPE_ETHERNET ? onWireProgram(dead) : dead;
  if (!options.strippedVlan || !checkStrippedVlan(dead).readsVlanAtOffset12) return dead;
  if (linkType !== LINKTYPE_ETHERNET) {
    throw new RingcapError(
      "filter_vlan_unsupported",
      `filter ${JSON.stringify(expression)} tests VLAN tags, which only Ethernet (linkType 1) programs can read from stripped-tag metadata`,
    );
  }
  // lo is up in nearly every namespace; any other interface libpcap calls Ethernet will do.
  let devices = ["lo"];
  try {
    devices = devices.concat(readdirSync("/sys/class/net").filter((d) => d !== "lo").sort().slice(0, 15));
  } catch {
    // No sysfs: lo alone.
  }
  const failures: string[] = [];
  for (const device of devices) {
    try {
      return libpcapCompile(args, device);
    } catch (e) {
      if ((e as RingcapError).code !== "filter_vlan_unsupported") throw e;
      failures.push((e as RingcapError).message);
    }
  }
  throw vlanError(expression, failures.join("; "));
}

function vlanError(expression: string, why: string): RingcapError {
  return new RingcapError(
    "filter_vlan_unsupported",
    `filter ${JSON.stringify(expression)} tests VLAN tags, which the Linux kernel strips from captured frames ` +
      `into packet metadata; only libpcap compiling on a live socket emits the loads that read it, and that failed ` +
      `(${why}): run with CAP_NET_RAW and lo up, or save \`tcpdump -i IFACE -ddd '${expression}'\` to a file and pass it with --bpf`,
  );
}


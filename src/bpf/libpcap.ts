/**
 * The system's libpcap, opened through FFI on first use: it compiles tcpdump expressions on a
 * dead handle, on a handle reading a saved file's header (as `tcpdump -r` does) or on an
 * activated socket on one device (as `tcpdump -i` does), and runs a program on a saved packet
 * with libpcap's own `bpf_filter` (as `tcpdump -r` filters). Nothing else of libpcap is used.
 * @module
 */

import { existsSync, readdirSync } from "node:fs";
import { PermissionError, RingcapError } from "../errors.ts";
import { cString, dlopen, type ForeignLibrary, isNullHandle, mapMemory, permissionRefusal } from "../native/runtime.ts";
import { BPF_MAXINSNS, type BpfProgram } from "./program.ts";

const LIBPCAP_NAMES = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];
const LINKTYPE_ETHERNET = 1;

/** What one compilation needs. */
export interface CompileArgs {
  expression: string;
  linkType: number;
  snaplen: number;
  optimize: boolean;
  netmask: number;
}

// The C functions: "handle" is a pcap_t* (or a char*), "buf" a typed array.
const SYMBOLS = {
  pcap_open_dead: { args: ["i32", "i32"], returns: "handle" },
  pcap_open_offline: { args: ["buf", "buf"], returns: "handle" },
  pcap_create: { args: ["buf", "buf"], returns: "handle" },
  pcap_set_snaplen: { args: ["handle", "i32"], returns: "i32" },
  pcap_set_buffer_size: { args: ["handle", "i32"], returns: "i32" },
  pcap_activate: { args: ["handle"], returns: "i32" },
  pcap_datalink: { args: ["handle"], returns: "i32" },
  pcap_compile: { args: ["handle", "buf", "buf", "i32", "u32"], returns: "i32" },
  pcap_geterr: { args: ["handle"], returns: "handle" },
  pcap_freecode: { args: ["buf"], returns: "void" },
  pcap_close: { args: ["handle"], returns: "void" },
  bpf_filter: { args: ["buf", "buf", "u32", "u32"], returns: "u32" },
} as const;

type Functions = ForeignLibrary<keyof typeof SYMBOLS>["symbols"];

let loaded: { path: string; fns: Functions } | null = null;

/**
 * Compiles on a dead handle (`liveDevice` null) or on an activated socket on that device.
 * Throws "libpcap_missing" when no libpcap loads, "filter_syntax" with libpcap's message.
 */
export function libpcapCompile(args: CompileArgs, liveDevice: string | null): BpfProgram {
  loaded ??= openLibpcap();
  return compileWith(loaded.path, loaded.fns, args, liveDevice);
}

/**
 * Runs `program` on one packet with libpcap's `bpf_filter(insns, packet, wirelen, buflen)`, as
 * libpcap filters a saved file: the packet's first `caplen` bytes are in `packet` (which must
 * hold at least one byte, whatever caplen), `wireLength` is its length on the wire. Returns
 * what the program returns: 0 rejects, anything else accepts.
 */
export function libpcapFilter(program: BpfProgram, packet: Uint8Array, wireLength: number, caplen: number): number {
  loaded ??= openLibpcap();
  if (caplen > packet.length || packet.length === 0) {
    throw new RingcapError("invalid_argument", `bpf_filter: caplen ${caplen} with a buffer of ${packet.length} bytes`);
  }
  return loaded.fns.bpf_filter(program.instructions, packet, wireLength >>> 0, caplen >>> 0) >>> 0;
}

/**
 * Compiles on a handle reading the pcap file `savefile` (its header is all that is read), as
 * `tcpdump -r` compiles: libpcap then takes the header's LINKTYPE (raw IP's 101 is no DLT for
 * pcap_open_dead) and knows it reads a file: `inbound`, `outbound` and `ifindex` are refused
 * outside Linux cooked captures, loopback `ip6` tests every BSD AF_INET6 value rather than this
 * host's, and a DLT_NULL family is compared byte-swapped when the header's byte order is not
 * the host's. `args.linkType` and `args.snaplen` must be the header's.
 */
export function libpcapCompileSaved(args: CompileArgs, savefile: string): BpfProgram {
  loaded ??= openLibpcap();
  return compileWith(loaded.path, loaded.fns, args, null, savefile);
}

function compileWith(path: string, f: Functions, args: CompileArgs, device: string | null, savefile: string | null = null): BpfProgram {
  let handle: unknown;
  if (savefile !== null) {
    const errbuf = new Uint8Array(256 + 1);
    handle = f.pcap_open_offline(cstr(savefile), errbuf);
    if (isNullHandle(handle)) throw new RingcapError("unexpected", `pcap_open_offline(${savefile}) failed in ${path}: ${fromCBuffer(errbuf)}`);
  } else if (device === null) {
    handle = f.pcap_open_dead(args.linkType, args.snaplen);
    if (isNullHandle(handle)) throw new RingcapError("unexpected", `pcap_open_dead(${args.linkType}) failed in ${path}`);
  } else {
    const errbuf = new Uint8Array(256 + 1);
    handle = f.pcap_create(cstr(device), errbuf);
    if (isNullHandle(handle)) throw liveError(fromCBuffer(errbuf));
  }
  try {
    if (device !== null) {
      f.pcap_set_snaplen(handle, args.snaplen);
      f.pcap_set_buffer_size(handle, 1 << 16);
      const status = f.pcap_activate(handle);
      if (status < 0) throw liveError(`${device}: ${cString(f.pcap_geterr(handle))}`);
      const dlt = f.pcap_datalink(handle);
      if (dlt !== LINKTYPE_ETHERNET) throw liveError(`${device}: link type ${dlt}, not Ethernet`);
    }
    // struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; } on a 64-bit target.
    const prog = new Uint8Array(16);
    const status = f.pcap_compile(handle, prog, cstr(args.expression), args.optimize ? 1 : 0, args.netmask);
    if (status !== 0) {
      throw new RingcapError("filter_syntax", cString(f.pcap_geterr(handle)) || `cannot compile ${JSON.stringify(args.expression)}`);
    }
    try {
      const dv = new DataView(prog.buffer);
      const length = dv.getUint32(0, true);
      const insns = dv.getBigUint64(8, true);
      if (length < 1 || length > BPF_MAXINSNS || insns === 0n) {
        throw new RingcapError("unexpected", `libpcap returned a program of ${length} instructions at ${insns}`);
      }
      // A view over libpcap's memory; slice() copies it before pcap_freecode frees it.
      const instructions = new Uint8Array(mapMemory(insns, length * 8)).slice();
      return Object.freeze({ instructions, length });
    } finally {
      f.pcap_freecode(prog);
    }
  } finally {
    f.pcap_close(handle);
  }
}

/** A live handle could not be had on one device; compileFilter tries the next. */
function liveError(why: string): RingcapError {
  return new RingcapError("filter_vlan_unsupported", why);
}

const encoder = new TextEncoder();

function cstr(s: string): Uint8Array {
  const bytes = new Uint8Array(encoder.encode(s).length + 1);
  encoder.encodeInto(s, bytes);
  return bytes;
}

function fromCBuffer(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

/** Candidate paths: each soname through the dynamic linker first, then the usual directories. */
function libpcapCandidates(): string[] {
  const dirs: string[] = [];
  for (const root of ["/usr/lib", "/lib"]) {
    try {
      for (const d of readdirSync(root)) if (d.endsWith("-linux-gnu") || d.endsWith("-linux-musl")) dirs.push(`${root}/${d}`);
    } catch {
      // A root without multiarch folders is fine.
    }
  }
  dirs.push("/usr/lib64", "/lib64", "/usr/lib", "/usr/local/lib");
  const paths = dirs.flatMap((d) => LIBPCAP_NAMES.map((n) => `${d}/${n}`)).filter((p) => existsSync(p));
  return [...LIBPCAP_NAMES, ...paths];
}

function openLibpcap(): { path: string; fns: Functions } {
  const failures: string[] = [];
  for (const path of libpcapCandidates()) {
    try {
      return { path, fns: dlopen(path, SYMBOLS).symbols };
    } catch (e) {
      const refusal = permissionRefusal(e);
      if (refusal !== null) {
        throw new PermissionError(
          `Deno refused to load libpcap, which compiles filter expressions (${refusal}): run deno with --allow-ffi ` +
            "(and --allow-read), or with -A",
          undefined,
          { cause: e },
        );
      }
      failures.push(`${path}: ${(e as Error).message}`);
    }
  }
  throw new RingcapError(
    "libpcap_missing",
    `libpcap is needed to compile filter expressions and was not found (tried ${LIBPCAP_NAMES.join(", ")}): ` +
      "install it with `apt-get install libpcap0.8`, or compile elsewhere with `tcpdump -i IFACE -ddd 'EXPR' > f.bpf` " +
      "and pass the program (--bpf f.bpf, or parseBpfText)",
    { cause: failures.length ? new Error(failures.join("; ")) : undefined },
  );
}

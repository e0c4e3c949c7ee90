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

import { existsSync, readdirSync } from "node:fs";
import { RingcapError } from "../errors.ts";

/**
 * A classic BPF program: 8 bytes per instruction (u16 code, u8 jt, u8 jf, u32 k) in host byte
 * order, the layout of the kernel's `struct sock_filter`.
 *
 * @example
 * ```ts
 * const p = compileFilter("udp port 53");
 * console.log(p.length, p.instructions.byteLength); // n, n * 8
 * ```
 */
export interface BpfProgram {
  readonly instructions: Uint8Array;
  readonly length: number;
}

/** Options for {@link compileFilter}. */
export interface CompileFilterOptions {
  /** The LINKTYPE_* of the frames the program will see. @default 1 (Ethernet) */
  linkType?: number;
  /** The value `ret` returns for an accepted packet. @default 262144 */
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

/** What {@link checkStrippedVlan} found in a program. */
export interface VlanCheck {
  /** The program compares the EtherType at offset 12 with a VLAN TPID (0x8100, 0x88a8, 0x9100). */
  readonly readsVlanAtOffset12: boolean;
  /** The program reads the tag from packet metadata (SKF_AD_VLAN_TAG, _TAG_PRESENT or _TPID). */
  readonly usesAncillary: boolean;
}

/** An instruction as numbers: `[code, jt, jf, k]`. */
export type BpfInstruction = readonly [code: number, jt: number, jf: number, k: number];

const PCAP_NETMASK_UNKNOWN = 0xffffffff;
const BPF_MAXINSNS = 4096;
const LINKTYPE_ETHERNET = 1;
const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);
const SKF_AD_OFF = 0xfffff000;
// SKF_AD_VLAN_TAG, SKF_AD_VLAN_TAG_PRESENT, SKF_AD_VLAN_TPID from linux/filter.h.
const SKF_AD_VLAN = new Set([SKF_AD_OFF + 44, SKF_AD_OFF + 48, SKF_AD_OFF + 60]);
const LIBPCAP_NAMES = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];

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
  const linkType = options.linkType ?? LINKTYPE_ETHERNET;
  const snaplen = options.snaplen ?? 262144;
  const netmask = options.netmask ?? PCAP_NETMASK_UNKNOWN;
  _checkInt(linkType, "linkType", 0, 0xffff);
  _checkInt(snaplen, "snaplen", 1, 0x7fffffff);
  _checkInt(netmask, "netmask", 0, 0xffffffff);
  const args = { expression, linkType, snaplen, optimize: options.optimize ?? true, netmask };
  const lib = _libpcap();
  const dead = lib.compile(args, null);
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
      return lib.compile(args, device);
    } catch (e) {
      if ((e as RingcapError).code !== "filter_vlan_unsupported") throw e;
      failures.push((e as RingcapError).message);
    }
  }
  throw _vlanError(expression, failures.join("; "));
}

/**
 * Looks for VLAN tests in a program: whether it compares the EtherType at offset 12 with a VLAN
 * TPID (right for frames that still carry their tag: files, `pcap_open_dead`), and whether it
 * uses the kernel's VLAN ancillary loads (right for live Linux sockets, which strip the tag).
 *
 * @example
 * ```ts
 * const { readsVlanAtOffset12 } = checkStrippedVlan(compileFilter("vlan 100"));
 * // true: attached to a live socket this program would never see the stripped tag
 * ```
 */
export function checkStrippedVlan(program: BpfProgram): VlanCheck {
  const n = program.length;
  const dv = new DataView(program.instructions.buffer, program.instructions.byteOffset, n * 8);
  // Jumps only go forward, so one pass settles whether A may hold the half-word at [12]
  // when each instruction runs.
  const mayHoldType = new Uint8Array(n + 1);
  const reached = new Uint8Array(n + 1);
  reached[0] = 1;
  let readsVlanAtOffset12 = false;
  let usesAncillary = false;
  for (let i = 0; i < n; i++) {
    const code = dv.getUint16(i * 8, true);
    const jt = dv.getUint8(i * 8 + 2);
    const jf = dv.getUint8(i * 8 + 3);
    const k = dv.getUint32(i * 8 + 4, true);
    const cls = code & 0x07;
    const isAbs = (code & 0xe0) === 0x20;
    if ((cls === 0x00 || cls === 0x01) && isAbs && SKF_AD_VLAN.has(k)) usesAncillary = true;
    if (!reached[i]) continue;
    const a = mayHoldType[i];
    const flow = (to: number, value: number) => {
      if (to > n) return;
      reached[to] = 1;
      mayHoldType[to] |= value;
    };
    switch (cls) {
      case 0x00: // BPF_LD
        flow(i + 1, code === 0x28 && k === 12 ? 1 : 0);
        break;
      case 0x04: // BPF_ALU
        flow(i + 1, 0);
        break;
      case 0x05: { // BPF_JMP
        const op = code & 0xf0;
        if (op === 0x00) {
          flow(i + 1 + k, a);
          break;
        }
        if (op === 0x10 && (code & 0x08) === 0 && a && VLAN_TPIDS.has(k)) readsVlanAtOffset12 = true;
        flow(i + 1 + jt, a);
        flow(i + 1 + jf, a);
        break;
      }
      case 0x06: // BPF_RET
        break;
      case 0x07: // BPF_MISC: TXA replaces A, TAX keeps it
        flow(i + 1, (code & 0xf8) === 0x80 ? 0 : a);
        break;
      default: // LDX, ST, STX leave A alone
        flow(i + 1, a);
    }
  }
  return { readsVlanAtOffset12, usesAncillary };
}

const SKF_AD_VLAN_TAG = SKF_AD_OFF + 44;
const SKF_AD_VLAN_TAG_PRESENT = SKF_AD_OFF + 48;
const SKF_AD_VLAN_TPID = SKF_AD_OFF + 60;
// Where the tag sits in an Ethernet frame, and the scratch words the rewrite may borrow.
const TAG_AT = 12;
const TAG_BYTES = 4;
const SCRATCH_ACC = 14;
const SCRATCH_SAVE = 15;
// Classic BPF opcodes the rewrite emits (linux/filter.h, linux/bpf_common.h).
const OP = {
  LD_W_ABS: 0x20,
  LD_B_ABS: 0x30,
  LD_LEN: 0x80,
  LD_MEM: 0x60,
  LDX_MEM: 0x61,
  ST: 0x02,
  STX: 0x03,
  ADD_K: 0x04,
  OR_X: 0x4c,
  AND_K: 0x54,
  LSH_K: 0x64,
  RSH_K: 0x74,
  JA: 0x05,
  JEQ_K: 0x15,
  TAX: 0x07,
} as const;

type _Insn = [code: number, jt: number, jf: number, k: number];

/**
 * Turns a program written for frames with their VLAN tags in place (libpcap's `pcap_open_dead`
 * output, what `tcpdump -r` runs) into one that gives the same answers on a Linux socket, where
 * the kernel has taken the outer tag out of the frame into packet metadata. The result runs
 * the program unchanged on frames without a stripped tag, and on the others a copy that reads
 * the frame as if the tag were back at offset 12: loads past the tag move 4 bytes down, loads
 * of the tag come from the metadata (SKF_AD_VLAN_TPID, SKF_AD_VLAN_TAG) and the length grows
 * by 4. Unlike compiling on a live socket (`strippedVlan`), it is exact for every expression,
 * `udp` (no match inside a tag, as in a file) and `udp or vlan 200` included.
 *
 * One load stays approximate: `[x + k]` with k < 16 is moved down too, which is exact when the
 * address is 16 or more; libpcap only emits such loads after an EtherType test that a tagged
 * frame fails (X then holds an IP header length). Throws RingcapError "filter_vlan_unsupported"
 * when the copy needs scratch words 14 and 15 and the program uses them, or outgrows the
 * 8-bit jumps of classic BPF.
 *
 * @example
 * ```ts
 * const dead = compileFilter("udp or vlan 200");       // for files
 * const live = onWireProgram(dead);                    // for openCapture, same answers
 * ```
 */
export function onWireProgram(program: BpfProgram): BpfProgram {
  const n = program.length;
  const dv = new DataView(program.instructions.buffer, program.instructions.byteOffset, n * 8);
  const insns: _Insn[] = [];
  for (let i = 0; i < n; i++) {
    insns.push([dv.getUint16(i * 8, true), dv.getUint8(i * 8 + 2), dv.getUint8(i * 8 + 3), dv.getUint32(i * 8 + 4, true)]);
  }
  let borrowsScratch = false;
  const copy = insns.map((insn) => {
    const out = _asTagged(insn);
    if (out.some(([code, , , k]) => (code === OP.ST || code === OP.STX) && k >= SCRATCH_ACC)) borrowsScratch = true;
    return out;
  });
  if (copy.every((c, i) => c.length === 1 && c[0].every((v, j) => v === insns[i][j]))) return program;
  const fail = (why: string): never => {
    throw new RingcapError(
      "filter_vlan_unsupported",
      `cannot make this filter see VLAN tags the kernel strips: ${why}; simplify the expression, or save ` +
        "`tcpdump -i IFACE -ddd 'EXPR'` to a file and pass it with --bpf",
    );
  };
  const scratchOps = new Set<number>([OP.LD_MEM, OP.LDX_MEM, OP.ST, OP.STX]);
  const usesScratch = insns.some(([code, , , k]) => scratchOps.has(code) && k >= SCRATCH_ACC);
  if (borrowsScratch && usesScratch) fail(`the program already uses scratch words ${SCRATCH_ACC} and ${SCRATCH_SAVE}`);

  // The copy's layout: where each original instruction's replacement starts.
  const starts: number[] = [];
  let at = 0;
  for (const c of copy) {
    starts.push(at);
    at += c.length;
  }
  starts.push(at);
  const tagged: _Insn[] = [];
  copy.forEach((c, i) => {
    const [code, jt, jf, k] = c[0];
    if ((code & 0x07) !== 0x05) {
      tagged.push(...c);
      return;
    }
    // A jump (always kept as one instruction): aim at the same instruction's place in the copy.
    const from = starts[i] + 1;
    if ((code & 0xf0) === 0x00) {
      tagged.push([code, 0, 0, starts[i + 1 + k] - from]);
      return;
    }
    const t = starts[i + 1 + jt] - from;
    const f = starts[i + 1 + jf] - from;
    if (t > 255 || f > 255) fail("a jump in the rewritten program would be longer than 255 instructions");
    tagged.push([code, t, f, k]);
  });
  // ld vlan_tag_present; no tag: the program as it is; a tag: the copy.
  const all: _Insn[] = [
    [OP.LD_W_ABS, 0, 0, SKF_AD_VLAN_TAG_PRESENT],
    [OP.JEQ_K, 1, 0, 0],
    [OP.JA, 0, 0, n],
    ...insns,
    ...tagged,
  ];
  if (all.length > BPF_MAXINSNS) fail(`the program would have ${all.length} instructions, more than ${BPF_MAXINSNS}`);
  return _encode(all);
}

/** One instruction's replacement when the frame is read as if its stripped tag were back at offset 12. */
function _asTagged(insn: _Insn): _Insn[] {
  const [code, , , k] = insn;
  const cls = code & 0x07;
  const mode = code & 0xe0;
  const end = TAG_AT + TAG_BYTES;
  if (cls === 0x00 && mode === 0x20) { // ld [k]
    const size = [4, 2, 1, 0][(code >> 3) & 3];
    if (k >= 0x8000_0000 || k + size <= TAG_AT) return [insn]; // metadata, or the addresses before the tag
    if (k >= end) return [[code, 0, 0, k - TAG_BYTES]];
    if (size === 2 && k === TAG_AT) return [[OP.LD_W_ABS, 0, 0, SKF_AD_VLAN_TPID]];
    if (size === 2 && k === TAG_AT + 2) return [[OP.LD_W_ABS, 0, 0, SKF_AD_VLAN_TAG]];
    if (size === 1) return _taggedByte(k);
    // Any other load across the tag: assemble it byte by byte in a scratch word, keeping X.
    const out: _Insn[] = [[OP.STX, 0, 0, SCRATCH_SAVE], ..._taggedByte(k), [OP.ST, 0, 0, SCRATCH_ACC]];
    for (let j = k + 1; j < k + size; j++) {
      out.push(..._taggedByte(j), [OP.TAX, 0, 0, 0], [OP.LD_MEM, 0, 0, SCRATCH_ACC], [OP.LSH_K, 0, 0, 8], [OP.OR_X, 0, 0, 0], [OP.ST, 0, 0, SCRATCH_ACC]);
    }
    out.push([OP.LD_MEM, 0, 0, SCRATCH_ACC], [OP.LDX_MEM, 0, 0, SCRATCH_SAVE]);
    return out;
  }
  if (cls === 0x00 && mode === 0x40) { // ld [x + k]: see onWireProgram about k < 16
    if (k >= 0x8000_0000) return [insn];
    if (k < TAG_BYTES) throw new RingcapError("filter_vlan_unsupported", `cannot move the load [x + ${k}] past a stripped VLAN tag`);
    return [[code, 0, 0, k - TAG_BYTES]];
  }
  if (cls === 0x00 && mode === OP.LD_LEN) return [insn, [OP.ADD_K, 0, 0, TAG_BYTES]];
  if (cls === 0x01 && mode === OP.LD_LEN) { // ldx len, keeping A
    return [[OP.ST, 0, 0, SCRATCH_SAVE], [OP.LD_LEN, 0, 0, 0], [OP.ADD_K, 0, 0, TAG_BYTES], [OP.TAX, 0, 0, 0], [OP.LD_MEM, 0, 0, SCRATCH_SAVE]];
  }
  if (cls === 0x01 && mode === 0xa0) { // ldx 4*([k]&0xf), keeping A
    if (k + 1 <= TAG_AT) return [insn];
    if (k >= end) return [[code, 0, 0, k - TAG_BYTES]];
    return [[OP.ST, 0, 0, SCRATCH_SAVE], ..._taggedByte(k), [OP.AND_K, 0, 0, 0x0f], [OP.LSH_K, 0, 0, 2], [OP.TAX, 0, 0, 0], [OP.LD_MEM, 0, 0, SCRATCH_SAVE]];
  }
  return [insn];
}

/** Instructions that leave in A the byte at offset `j` of the frame with its tag in place. */
function _taggedByte(j: number): _Insn[] {
  if (j < TAG_AT) return [[OP.LD_B_ABS, 0, 0, j]];
  if (j >= TAG_AT + TAG_BYTES) return [[OP.LD_B_ABS, 0, 0, j - TAG_BYTES]];
  const word = j < TAG_AT + 2 ? SKF_AD_VLAN_TPID : SKF_AD_VLAN_TAG;
  return [[OP.LD_W_ABS, 0, 0, word], (j - TAG_AT) % 2 === 0 ? [OP.RSH_K, 0, 0, 8] : [OP.AND_K, 0, 0, 0xff]];
}

/**
 * Reads a program from `tcpdump -ddd` output: the instruction count on the first line, then
 * "code jt jf k" in decimal per line. Throws RingcapError "bpf_text_invalid" naming the line.
 *
 * @example
 * ```ts
 * // tcpdump -i eth0 -ddd 'udp port 53' > dns.bpf
 * const program = parseBpfText(readFileSync("dns.bpf", "utf8"));
 * ```
 */
export function parseBpfText(text: string): BpfProgram {
  const lines = text.replace(/\r\n/g, "\n").replace(/\n+$/, "").split("\n");
  const fail = (line: number, why: string): never => {
    throw new RingcapError("bpf_text_invalid", `BPF text line ${line}: ${why} (expected \`tcpdump -ddd\` output)`);
  };
  const head = lines[0].trim();
  if (!/^\d+$/.test(head)) fail(1, `expected the instruction count, got ${JSON.stringify(lines[0])}`);
  const count = Number(head);
  if (count < 1 || count > BPF_MAXINSNS) fail(1, `instruction count must be 1 to ${BPF_MAXINSNS}, got ${count}`);
  if (lines.length - 1 !== count) {
    // Name the first extra line, or the line where the first missing instruction belongs.
    fail(lines.length - 1 > count ? count + 2 : lines.length + 1, `the count says ${count} instructions but there are ${lines.length - 1}`);
  }
  const insns: BpfInstruction[] = [];
  for (let i = 1; i <= count; i++) {
    const fields = lines[i].trim().split(/\s+/);
    if (fields.length !== 4 || !fields.every((f) => /^\d+$/.test(f))) {
      fail(i + 1, `expected four decimal numbers "code jt jf k", got ${JSON.stringify(lines[i])}`);
    }
    const [code, jt, jf, k] = fields.map(Number);
    const bad = _instructionProblem(code, jt, jf, k, i - 1, count);
    if (bad) fail(i + 1, bad);
    insns.push([code, jt, jf, k]);
  }
  return _encode(insns);
}

/**
 * Builds a program from instructions given as numbers, checking field ranges and jump targets.
 *
 * @example
 * ```ts
 * // Accept every packet, keeping at most 96 bytes.
 * const program = programFromInstructions([[0x06, 0, 0, 96]]);
 * ```
 */
export function programFromInstructions(insns: readonly BpfInstruction[]): BpfProgram {
  if (!Array.isArray(insns) || insns.length < 1 || insns.length > BPF_MAXINSNS) {
    throw new RingcapError("invalid_argument", `a BPF program needs 1 to ${BPF_MAXINSNS} instructions`);
  }
  insns.forEach((insn, i) => {
    const bad = !Array.isArray(insn) || insn.length !== 4
      ? "expected [code, jt, jf, k]"
      : _instructionProblem(insn[0], insn[1], insn[2], insn[3], i, insns.length);
    if (bad) throw new RingcapError("invalid_argument", `BPF instruction ${i}: ${bad}`);
  });
  return _encode(insns);
}

function _instructionProblem(code: number, jt: number, jf: number, k: number, index: number, count: number): string | null {
  const inRange = (v: number, max: number) => Number.isInteger(v) && v >= 0 && v <= max;
  if (!inRange(code, 0xffff)) return `code ${code} is not a 16-bit number`;
  if (!inRange(jt, 0xff) || !inRange(jf, 0xff)) return `jt ${jt} and jf ${jf} must be 0 to 255`;
  if (!inRange(k, 0xffffffff)) return `k ${k} is not a 32-bit number`;
  if ((code & 0x07) === 0x05) {
    const last = count - 1;
    const ja = (code & 0xf0) === 0x00;
    if (ja ? index + 1 + k > last : index + 1 + Math.max(jt, jf) > last) {
      return `jump from instruction ${index} lands past the last instruction ${last}`;
    }
  }
  return null;
}

function _encode(insns: readonly BpfInstruction[]): BpfProgram {
  const instructions = new Uint8Array(insns.length * 8);
  const dv = new DataView(instructions.buffer);
  insns.forEach(([code, jt, jf, k], i) => {
    dv.setUint16(i * 8, code, true);
    dv.setUint8(i * 8 + 2, jt);
    dv.setUint8(i * 8 + 3, jf);
    dv.setUint32(i * 8 + 4, k, true);
  });
  return Object.freeze({ instructions, length: insns.length });
}

function _checkInt(value: number, what: string, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RingcapError("invalid_argument", `${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

interface _CompileArgs {
  expression: string;
  linkType: number;
  snaplen: number;
  optimize: boolean;
  netmask: number;
}

interface _Libpcap {
  /** Compiles on a dead handle (`liveDevice` null) or on an activated socket on that device. */
  compile(args: _CompileArgs, liveDevice: string | null): BpfProgram;
}

// The C functions, as both runtimes' FFI needs them. "handle" is a pcap_t*, "buf" a typed array.
const SYMBOLS = {
  pcap_open_dead: { args: ["i32", "i32"], returns: "handle" },
  pcap_create: { args: ["buf", "buf"], returns: "handle" },
  pcap_set_snaplen: { args: ["handle", "i32"], returns: "i32" },
  pcap_set_buffer_size: { args: ["handle", "i32"], returns: "i32" },
  pcap_activate: { args: ["handle"], returns: "i32" },
  pcap_datalink: { args: ["handle"], returns: "i32" },
  pcap_compile: { args: ["handle", "buf", "buf", "i32", "u32"], returns: "i32" },
  pcap_geterr: { args: ["handle"], returns: "handle" },
  pcap_freecode: { args: ["buf"], returns: "void" },
  pcap_close: { args: ["handle"], returns: "void" },
} as const;

type _Handle = unknown;
// deno-lint-ignore no-explicit-any
type _Fn = (...args: any[]) => any;

/** What differs between bun:ffi and Deno.dlopen; everything else is shared. */
interface _Binding {
  path: string;
  fns: Record<keyof typeof SYMBOLS, _Fn>;
  isNull(h: _Handle): boolean;
  cString(h: _Handle): string;
  /** Copies `length` bytes from a native address. */
  copy(address: bigint, length: number): Uint8Array;
}

let _loaded: _Libpcap | null = null;

function _libpcap(): _Libpcap {
  if (_loaded) return _loaded;
  const binding = _openBinding();
  _loaded = { compile: (args, device) => _compileWith(binding, args, device) };
  return _loaded;
}

function _compileWith(b: _Binding, args: _CompileArgs, device: string | null): BpfProgram {
  const f = b.fns;
  let handle: _Handle;
  if (device === null) {
    handle = f.pcap_open_dead(args.linkType, args.snaplen);
    if (b.isNull(handle)) throw new RingcapError("unexpected", `pcap_open_dead(${args.linkType}) failed in ${b.path}`);
  } else {
    const errbuf = new Uint8Array(256 + 1);
    handle = f.pcap_create(_cstr(device), errbuf);
    if (b.isNull(handle)) throw _liveError(_fromCBuffer(errbuf));
  }
  try {
    if (device !== null) {
      f.pcap_set_snaplen(handle, args.snaplen);
      f.pcap_set_buffer_size(handle, 1 << 16);
      const status = f.pcap_activate(handle);
      if (status < 0) throw _liveError(`${device}: ${b.cString(f.pcap_geterr(handle))}`);
      const dlt = f.pcap_datalink(handle);
      if (dlt !== LINKTYPE_ETHERNET) throw _liveError(`${device}: link type ${dlt}, not Ethernet`);
    }
    // struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; } on a 64-bit target.
    const prog = new Uint8Array(16);
    const status = f.pcap_compile(handle, prog, _cstr(args.expression), args.optimize ? 1 : 0, args.netmask);
    if (status !== 0) {
      throw new RingcapError("filter_syntax", b.cString(f.pcap_geterr(handle)) || `cannot compile ${JSON.stringify(args.expression)}`);
    }
    try {
      const dv = new DataView(prog.buffer);
      const length = dv.getUint32(0, true);
      const insns = dv.getBigUint64(8, true);
      if (length < 1 || length > BPF_MAXINSNS || insns === 0n) {
        throw new RingcapError("unexpected", `libpcap returned a program of ${length} instructions at ${insns}`);
      }
      return Object.freeze({ instructions: b.copy(insns, length * 8), length });
    } finally {
      f.pcap_freecode(prog);
    }
  } finally {
    f.pcap_close(handle);
  }
}

/** A live handle could not be had on one device; compileFilter tries the next. */
function _liveError(why: string): RingcapError {
  return new RingcapError("filter_vlan_unsupported", why);
}

function _vlanError(expression: string, why: string): RingcapError {
  return new RingcapError(
    "filter_vlan_unsupported",
    `filter ${JSON.stringify(expression)} tests VLAN tags, which the Linux kernel strips from captured frames ` +
      `into packet metadata; only libpcap compiling on a live socket emits the loads that read it, and that failed ` +
      `(${why}): run with CAP_NET_RAW and lo up, or save \`tcpdump -i IFACE -ddd '${expression}'\` to a file and pass it with --bpf`,
  );
}

const _encoder = new TextEncoder();

function _cstr(s: string): Uint8Array {
  const bytes = new Uint8Array(_encoder.encode(s).length + 1);
  _encoder.encodeInto(s, bytes);
  return bytes;
}

function _fromCBuffer(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

/** Candidate paths: each soname through the dynamic linker first, then the usual directories. */
function _libpcapCandidates(): string[] {
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

function _openBinding(): _Binding {
  const failures: string[] = [];
  for (const path of _libpcapCandidates()) {
    try {
      return (globalThis as { Deno?: unknown }).Deno ? _openDeno(path) : _openBun(path);
    } catch (e) {
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

function _openBun(path: string): _Binding {
  // A specifier in a variable so other runtimes never resolve it, and a synchronous require
  // (Bun has one in ES modules) so compileFilter can stay synchronous.
  const spec = "bun:ffi";
  // deno-lint-ignore no-explicit-any
  const ffi: any = (import.meta as unknown as { require(id: string): unknown }).require(spec);
  const type = (t: string) => (t === "handle" || t === "buf" ? "ptr" : t);
  const symbols: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, sig] of Object.entries(SYMBOLS)) symbols[name] = { args: sig.args.map(type), returns: type(sig.returns) };
  const lib = ffi.dlopen(path, symbols);
  return {
    path,
    fns: lib.symbols,
    isNull: (h) => h === null || h === 0,
    cString: (h) => (h ? String(new ffi.CString(h)) : ""),
    // toArrayBuffer is a view over the native memory; slice() copies it before pcap_freecode.
    copy: (address, length) => new Uint8Array(ffi.toArrayBuffer(Number(address), 0, length)).slice(),
  };
}

function _openDeno(path: string): _Binding {
  // deno-lint-ignore no-explicit-any
  const Deno = (globalThis as any).Deno;
  const type = (t: string) => (t === "handle" ? "pointer" : t === "buf" ? "buffer" : t);
  const symbols: Record<string, { parameters: string[]; result: string }> = {};
  for (const [name, sig] of Object.entries(SYMBOLS)) symbols[name] = { parameters: sig.args.map(type), result: type(sig.returns) };
  const lib = Deno.dlopen(path, symbols);
  return {
    path,
    fns: lib.symbols,
    isNull: (h) => h === null,
    cString: (h) => (h === null ? "" : Deno.UnsafePointerView.getCString(h)),
    // Deno's argument order is (pointer, length, offset).
    copy: (address, length) =>
      new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(address), length, 0)).slice(),
  };
}

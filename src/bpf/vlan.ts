/**
 * VLAN tags and the Linux kernel: on receive the kernel takes the outer 802.1Q/802.1ad tag out
 * of the frame into packet metadata, so a program written for frames with their tags in place
 * (libpcap's `pcap_open_dead` output, what `tcpdump -r` runs) must be rewritten before a live
 * socket runs it. See src/bpf/compile.ts for the whole story.
 * @module
 */

import { RingcapError } from "../errors.ts";
import { BPF_MAXINSNS, type BpfInstruction, type BpfProgram, checkBpfProgram, decodeProgram, encodeProgram } from "./program.ts";

const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);
const SKF_AD_OFF = 0xfffff000;
// SKF_AD_VLAN_TAG, SKF_AD_VLAN_TAG_PRESENT, SKF_AD_VLAN_TPID from linux/filter.h.
const SKF_AD_VLAN = new Set([SKF_AD_OFF + 44, SKF_AD_OFF + 48, SKF_AD_OFF + 60]);

/** What {@link checkStrippedVlan} found in a program. */
export interface VlanCheck {
  /** The program compares the EtherType at offset 12 with a VLAN TPID (0x8100, 0x88a8, 0x9100). */
  readonly readsVlanAtOffset12: boolean;
  /** The program reads the tag from packet metadata (SKF_AD_VLAN_TAG, _TAG_PRESENT or _TPID). */
  readonly usesAncillary: boolean;
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
export function checkStrippedVlan(given: BpfProgram): VlanCheck {
  const program = checkBpfProgram(given);
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

type Insn = [code: number, jt: number, jf: number, k: number];

/**
 * Turns a program written for frames with their VLAN tags in place (libpcap's `pcap_open_dead`
 * output, what `tcpdump -r` runs) into one that gives the same answers on a Linux socket, where
 * the kernel has taken the outer tag out of the frame into packet metadata. The result runs
 * the program unchanged on frames without a stripped tag, and on the others a copy that reads
 * the frame as if the tag were back at offset 12: loads past the tag move 4 bytes down, loads
 * of the tag come from the metadata (SKF_AD_VLAN_TPID, SKF_AD_VLAN_TAG) and the length grows
 * by 4. Unlike compiling on a live socket (`strippedVlan` in compileFilter), it is exact for every expression,
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
  const insns = decodeProgram(program) as Insn[];
  let borrowsScratch = false;
  const copy = insns.map((insn) => {
    const out = asTagged(insn);
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
  const tagged: Insn[] = [];
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
  const all: Insn[] = [
    [OP.LD_W_ABS, 0, 0, SKF_AD_VLAN_TAG_PRESENT],
    [OP.JEQ_K, 1, 0, 0],
    [OP.JA, 0, 0, n],
    ...insns,
    ...tagged,
  ];
  if (all.length > BPF_MAXINSNS) fail(`the program would have ${all.length} instructions, more than ${BPF_MAXINSNS}`);
  return encodeProgram(all);
}

/** One instruction's replacement when the frame is read as if its stripped tag were back at offset 12. */
function asTagged(insn: Insn): Insn[] {
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
    if (size === 1) return taggedByte(k);
    // Any other load across the tag: assemble it byte by byte in a scratch word, keeping X.
    const out: Insn[] = [[OP.STX, 0, 0, SCRATCH_SAVE], ...taggedByte(k), [OP.ST, 0, 0, SCRATCH_ACC]];
    for (let j = k + 1; j < k + size; j++) {
      out.push(...taggedByte(j), [OP.TAX, 0, 0, 0], [OP.LD_MEM, 0, 0, SCRATCH_ACC], [OP.LSH_K, 0, 0, 8], [OP.OR_X, 0, 0, 0], [OP.ST, 0, 0, SCRATCH_ACC]);
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
    return [[OP.ST, 0, 0, SCRATCH_SAVE], ...taggedByte(k), [OP.AND_K, 0, 0, 0x0f], [OP.LSH_K, 0, 0, 2], [OP.TAX, 0, 0, 0], [OP.LD_MEM, 0, 0, SCRATCH_SAVE]];
  }
  return [insn];
}

/** Instructions that leave in A the byte at offset `j` of the frame with its tag in place. */
function taggedByte(j: number): Insn[] {
  if (j < TAG_AT) return [[OP.LD_B_ABS, 0, 0, j]];
  if (j >= TAG_AT + TAG_BYTES) return [[OP.LD_B_ABS, 0, 0, j - TAG_BYTES]];
  const word = j < TAG_AT + 2 ? SKF_AD_VLAN_TPID : SKF_AD_VLAN_TAG;
  return [[OP.LD_W_ABS, 0, 0, word], (j - TAG_AT) % 2 === 0 ? [OP.RSH_K, 0, 0, 8] : [OP.AND_K, 0, 0, 0xff]];
}


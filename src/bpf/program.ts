/**
 * The classic BPF program model: programs as the kernel's `struct sock_filter` array, read from
 * `tcpdump -ddd` text or built from numbers, and printed back as `tcpdump -d`'s numbers.
 * @module
 */

import { RingcapError } from "../errors.ts";
import { CONSTANTS } from "../native/abi.ts";
import { viewByteLength } from "../native/struct.ts";
import { PACKET_TYPE } from "../packet.ts";

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

/** An instruction as numbers: `[code, jt, jf, k]`. */
export type BpfInstruction = readonly [code: number, jt: number, jf: number, k: number];

/** The kernel's limit on a classic BPF program's length. */
export const BPF_MAXINSNS = 4096;

/** Bytes of one instruction (`struct sock_filter`). */
export const BPF_INSTRUCTION_BYTES = 8;

/**
 * `program` when it is a BpfProgram whose buffer holds what its length says: `instructions` a
 * Uint8Array, `length` a whole number from 1 to 4096, and `instructions.byteLength` at least
 * `length * 8` (its real size, whatever the object claims). Anything else is a RingcapError
 * "invalid_argument" whose message starts with `what` (e.g. "filter"). Returns the checked
 * fields as a frozen program of their own, so a getter cannot change them afterwards. Every
 * program is checked with this before it is read or handed to the kernel, which would trust
 * its length.
 *
 * @example
 * ```ts
 * const program = checkBpfProgram(JSON.parse(text), "filter");
 * ```
 */
export function checkBpfProgram(program: unknown, what = "BPF program"): BpfProgram {
  const fail = (why: string): never => {
    throw new RingcapError("invalid_argument", `${what}: ${why}`);
  };
  if (typeof program !== "object" || program === null) return fail(`expected a BpfProgram { instructions, length }, got ${describe(program)}`);
  let instructions: unknown;
  let length: unknown;
  try {
    ({ instructions, length } = program as { instructions?: unknown; length?: unknown });
  } catch {
    return fail("its instructions and length cannot be read");
  }
  const size = viewByteLength(instructions);
  if (!(instructions instanceof Uint8Array) || size === null) return fail(`instructions must be a Uint8Array, got ${describe(instructions)}`);
  if (typeof length !== "number" || !Number.isInteger(length) || length < 1 || length > BPF_MAXINSNS) {
    return fail(`length must be a whole number of instructions from 1 to ${BPF_MAXINSNS}, got ${describe(length)}`);
  }
  if (size < length * BPF_INSTRUCTION_BYTES) {
    return fail(`length says ${length} instructions (${length * BPF_INSTRUCTION_BYTES} bytes) but instructions holds ${size} bytes`);
  }
  return Object.freeze({ instructions, length });
}

/**
 * `program` (null: accept every packet, whole) run only on packets this host sent: three
 * instructions in front load the packet type (the kernel's SKF_AD_PKTTYPE ancillary load) and
 * drop anything else. Jumps in classic BPF are relative, so the program itself is unchanged.
 */
export function onlyOutgoing(program: BpfProgram | null, snaplen: number): BpfProgram {
  const body = program ?? programFromInstructions([[0x06, 0, 0, snaplen]]); // ret #snaplen
  if (body.length + 3 > BPF_MAXINSNS) {
    throw new RingcapError("filter_invalid", `the filter has ${body.length} instructions: with the 3 that keep outgoing packets only it is over the kernel's ${BPF_MAXINSNS}`);
  }
  // Unchecked: the jump lands on the body's first instruction, which follows it.
  const prefix = encodeProgram([
    [0x30, 0, 0, (-0x1000 + 4) >>> 0], // ldb [SKF_AD_OFF + SKF_AD_PKTTYPE]
    [0x15, 1, 0, PACKET_TYPE.outgoing], // jeq #PACKET_OUTGOING: skip the next
    [0x06, 0, 0, 0], // ret #0
  ]);
  const instructions = new Uint8Array((body.length + 3) * 8);
  instructions.set(prefix.instructions.subarray(0, 24));
  instructions.set(body.instructions.subarray(0, body.length * 8), 24);
  return { instructions, length: body.length + 3 };
}

/** Bytes of the LINUX_SLL2 header an "any" capture's frames start with (the library writes it). */
const SLL2_HEADER_BYTES = CONSTANTS.sll2_header_bytes;

/** SKF_AD_OFF: loads at or above it read ancillary data (skb fields), not packet bytes. */
const SKF_AD_OFF = -0x1000 >>> 0;

/**
 * The LINUX_SLL2 fields a filter may read on a cooked socket, by offset in the header, and the
 * ancillary load (SKF_AD_*) that reads the same value from the socket buffer.
 */
const SLL2_ANCILLARY: ReadonlyMap<number, number> = new Map([
  [0, 0], // protocol: SKF_AD_PROTOCOL
  [4, 8], // interface index: SKF_AD_IFINDEX
  [8, 28], // ARPHRD type: SKF_AD_HATYPE
  [10, 4], // packet type: SKF_AD_PKTTYPE
]);

/**
 * `program`, compiled for LINUX_SLL2 (what an "any" capture's frames are), rewritten to run in
 * the kernel on the cooked socket, whose filter sees the packet from its network header and no
 * SLL2 header at all: loads from behind the header move back by its 20 bytes, and loads of its
 * protocol, interface index, ARPHRD type and packet type become ancillary loads of the same
 * values, as libpcap does for `tcpdump -i any`. A load from elsewhere in the header has no
 * kernel equivalent: a RingcapError "filter_invalid" naming the instruction.
 */
export function forCookedSocket(program: BpfProgram): BpfProgram {
  const insns = decodeProgram(program).map(([code, jt, jf, k], i): BpfInstruction => {
    const cls = code & 0x07;
    const mode = code & 0xe0;
    // BPF_LD/BPF_LDX with BPF_ABS, BPF_IND or BPF_MSH read packet bytes at k (plus X).
    if ((cls !== 0x00 && cls !== 0x01) || (mode !== 0x20 && mode !== 0x40 && mode !== 0xa0)) return [code, jt, jf, k];
    if (k >= SKF_AD_OFF) return [code, jt, jf, k];
    if (k >= SLL2_HEADER_BYTES) return [code, jt, jf, k - SLL2_HEADER_BYTES];
    const ancillary = SLL2_ANCILLARY.get(k);
    if (cls === 0x00 && mode === 0x20 && ancillary !== undefined) return [code, jt, jf, (SKF_AD_OFF + ancillary) >>> 0];
    throw new RingcapError(
      "filter_invalid",
      `instruction ${i} (code 0x${code.toString(16)}, k ${k}) reads byte ${k} of the LINUX_SLL2 header, which a cooked socket's kernel filter cannot read`,
    );
  });
  return encodeProgram(insns);
}

/**
 * A value as an error message shows it, without calling anything of the value's own (no
 * toString, no getters): numbers and short strings as they are, objects by constructor name.
 */
function describe(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
    case "number":
    case "boolean":
    case "undefined":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  try {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return typeof name === "string" && name ? `${/^[aeiou]/i.test(name) ? "an" : "a"} ${name}` : "an object";
  } catch {
    return "an object"; // a Proxy whose traps throw
  }
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
  if (typeof text !== "string") {
    throw new RingcapError("bpf_text_invalid", `BPF text must be a string (\`tcpdump -ddd\` output), got ${describe(text)}`);
  }
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
    const bad = instructionProblem(code, jt, jf, k, i - 1, count);
    if (bad) fail(i + 1, bad);
    insns.push([code, jt, jf, k]);
  }
  return encodeProgram(insns);
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
    throw new RingcapError("invalid_argument", `a BPF program needs an array of 1 to ${BPF_MAXINSNS} instructions, got ${describe(insns)}`);
  }
  // By index, not forEach: a hole in the array is a missing instruction, not one to skip.
  const checked: BpfInstruction[] = [];
  for (let i = 0; i < insns.length; i++) {
    const insn: unknown = insns[i];
    const fail = (why: string): never => {
      throw new RingcapError("invalid_argument", `BPF instruction ${i}: ${why}`);
    };
    if (!Array.isArray(insn) || insn.length !== 4) return fail(`expected [code, jt, jf, k], got ${describe(insn)}`);
    const [code, jt, jf, k] = insn as unknown[];
    const bad = instructionProblem(code, jt, jf, k, i, insns.length);
    if (bad) fail(bad);
    checked.push([code, jt, jf, k] as BpfInstruction);
  }
  return encodeProgram(checked);
}

function instructionProblem(code: unknown, jt: unknown, jf: unknown, k: unknown, index: number, count: number): string | null {
  const inRange = (v: unknown, max: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
  if (!inRange(code, 0xffff)) return `code ${describe(code)} is not a 16-bit number`;
  if (!inRange(jt, 0xff) || !inRange(jf, 0xff)) return `jt ${describe(jt)} and jf ${describe(jf)} must be 0 to 255`;
  if (!inRange(k, 0xffffffff)) return `k ${describe(k)} is not a 32-bit number`;
  if ((code & 0x07) === 0x05) {
    const last = count - 1;
    const ja = (code & 0xf0) === 0x00;
    if (ja ? index + 1 + k > last : index + 1 + Math.max(jt, jf) > last) {
      return `jump from instruction ${index} lands past the last instruction ${last}`;
    }
  }
  return null;
}

/** Packs instructions into a program (no checks: callers have checked). */
export function encodeProgram(insns: readonly BpfInstruction[]): BpfProgram {
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

/** The instructions of a program as numbers (a RingcapError if it is not a whole BpfProgram). */
export function decodeProgram(given: BpfProgram): BpfInstruction[] {
  const program = checkBpfProgram(given);
  const dv = new DataView(program.instructions.buffer, program.instructions.byteOffset, program.length * 8);
  const insns: BpfInstruction[] = [];
  for (let i = 0; i < program.length; i++) {
    insns.push([dv.getUint16(i * 8, true), dv.getUint8(i * 8 + 2), dv.getUint8(i * 8 + 3), dv.getUint32(i * 8 + 4, true)]);
  }
  return insns;
}

/**
 * The program as `tcpdump -ddd` prints it (what `parseBpfText` reads back): the count, then
 * "code jt jf k" in decimal per line.
 *
 * @example
 * ```ts
 * console.log(programText(compileFilter("udp")));
 * ```
 */
export function programText(program: BpfProgram): string {
  return [String(program.length), ...decodeProgram(program).map((insn) => insn.join(" "))].join("\n");
}

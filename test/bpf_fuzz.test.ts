// A fuzz test of the BPF program model (parseBpfText, programFromInstructions, checkBpfProgram):
// random and mutated inputs from one fixed seed. Whatever comes in, the answer is a program or a
// RingcapError, never another exception; a program they accept is whole (its buffer holds its
// length) and reads back the same; and a sample of accepted programs, attached to a capture on
// the namespace bench, opens or is refused with a RingcapError: the process never dies.
//
// To reproduce a failure, the expectation names the input; the run is the same for the same SEED.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openCapture } from "../src/capture.ts";
import { RingcapError } from "../src/errors.ts";
import { compileFilter } from "../src/bpf/compile.ts";
import {
  BPF_MAXINSNS,
  type BpfInstruction,
  type BpfProgram,
  checkBpfProgram,
  decodeProgram,
  parseBpfText,
  programFromInstructions,
  programText,
} from "../src/bpf/program.ts";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { prng } from "./_prng.ts";

/** The one seed of every run. */
const SEED = 0x1b9f_5eed;
const TEXTS = 6000;
const MUTANTS = 6000;
const INSTRUCTION_SETS = 4000;
const HOSTILE_VALUES = 400;
/** Accepted programs attached to a capture (and as many as fanout cbpf programs). */
const ATTACHED = 40;


const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)];

/** Numbers at and around every boundary the parser knows, and some it should not accept. */
const EDGE_NUMBERS = [
  "0", "1", "6", "7", "21", "40", "255", "256", "4095", "4096", "4097", "65535", "65536",
  "4294967295", "4294967296", "99999999999999999999999", "-1", "+1", "1.5", "1e3", "0x10", "00", "007",
  "", " ", "NaN", "Infinity", "\u0661", "\uff11",
];
const ALPHABET = "0123456789      \n\n\n\t\r-+.xe,;#\u0000\u00a0\u2028\u0661";

function randomText(): string {
  const n = int(4) === 0 ? int(2000) : int(120);
  let s = "";
  for (let i = 0; i < n; i++) s += int(8) === 0 ? pick(EDGE_NUMBERS) : ALPHABET[int(ALPHABET.length)];
  return s;
}

/** Valid programs to mutate: hand-written, plus libpcap's for a few expressions when it is here. */
function seeds(): string[] {
  const programs: BpfInstruction[][] = [
    [[0x06, 0, 0, 0xffff]],
    [[0x28, 0, 0, 12], [0x15, 0, 1, 0x0800], [0x06, 0, 0, 0x40000], [0x06, 0, 0, 0]],
    [[0x28, 0, 0, 12], [0x15, 0, 3, 0x86dd], [0x30, 0, 0, 20], [0x15, 0, 1, 17], [0x06, 0, 0, 96], [0x06, 0, 0, 0]],
    [[0x00, 0, 0, 5], [0x02, 0, 0, 3], [0x60, 0, 0, 3], [0x04, 0, 0, 1], [0x16, 0, 0, 0]],
    [[0x05, 0, 0, 1], [0x06, 0, 0, 0], [0x06, 0, 0, 1]],
  ];
  const texts = programs.map((p) => programText(programFromInstructions(p)));
  for (const expr of ["udp port 53", "tcp and host 198.18.0.1", "vlan 100 and udp", "ip6 and icmp6", "portrange 1-1024"]) {
    try {
      texts.push(programText(compileFilter(expr)));
    } catch {
      // No libpcap here: the hand-written seeds will do.
    }
  }
  return texts;
}

function mutate(text: string): string {
  let lines = text.split("\n");
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    if (lines.length === 0) lines = [""];
    const at = int(lines.length);
    switch (int(10)) {
      case 0: // a field becomes an edge number
      case 1: {
        const fields = lines[at].split(" ");
        fields[int(fields.length)] = pick(EDGE_NUMBERS);
        lines[at] = fields.join(" ");
        break;
      }
      case 2: // a small change to one number keeps most programs valid
      case 3: {
        const fields = lines[at].split(" ");
        const f = int(fields.length);
        fields[f] = String(Math.max(0, Number(fields[f]) + int(5) - 2));
        lines[at] = fields.join(" ");
        break;
      }
      case 4:
        lines.splice(at, 1);
        break;
      case 5:
        lines.splice(at, 0, lines[int(lines.length)] ?? "");
        break;
      case 6: {
        const other = int(lines.length);
        [lines[at], lines[other]] = [lines[other], lines[at]];
        break;
      }
      case 7: { // a character inserted, deleted or replaced
        const line = lines[at] ?? "";
        const i = int(line.length + 1);
        const c = ALPHABET[int(ALPHABET.length)];
        lines[at] = pick([line.slice(0, i) + c + line.slice(i), line.slice(0, i) + line.slice(i + 1), line.slice(0, i) + c + line.slice(i + 1)]);
        break;
      }
      case 8: // the count says something else
        lines[0] = pick([String(lines.length - 1 + int(3) - 1), pick(EDGE_NUMBERS)]);
        break;
      default: // line endings and trailing space
        lines = lines.map((l) => pick([l, `${l}\r`, ` ${l} `, `${l}\t`]));
    }
  }
  return lines.join(pick(["\n", "\n", "\r\n", "\n\n"])) + pick(["", "\n", "\n\n\n", " "]);
}

const HOSTILE: unknown[] = [
  undefined, null, 0, -1, 1.5, NaN, Infinity, 2 ** 32, 2 ** 53, 6n, "6", "", true, Symbol("x"), {}, [], [6, 0, 0],
  [6, 0, 0, 0, 0], () => 6, new Uint8Array(8), new Proxy({}, { get() { throw new Error("trap"); } }),
  { toString() { throw new Error("toString"); }, valueOf() { throw new Error("valueOf"); } },
];

function randomField(max: number): unknown {
  return int(6) === 0 ? pick(HOSTILE) : pick([0, 1, max, max + 1, int(max + 1), int(16), 0x06, 0x15, 0x28, 0x05]);
}

function randomInstructions(): unknown {
  if (int(20) === 0) return pick(HOSTILE);
  const n = pick([0, 1, 1, 2, 3, 5, 8, int(64), BPF_MAXINSNS, BPF_MAXINSNS + 1]);
  const insns: unknown[] = new Array(n);
  const holes = int(30) === 0;
  for (let i = 0; i < n; i++) {
    if (holes && int(3) === 0) continue;
    insns[i] = int(40) === 0
      ? pick(HOSTILE)
      : [randomField(0xffff), randomField(0xff), randomField(0xff), randomField(0xffffffff)];
  }
  // Usually end with a return, so that some are programs the kernel takes.
  if (n > 0 && int(2) === 0) insns[n - 1] = [0x06, 0, 0, int(0x10000)];
  return insns;
}

/** What `fn` came to: the program, or the RingcapError. Anything else fails the test, naming `input`. */
function outcome(input: unknown, fn: () => BpfProgram): BpfProgram | RingcapError {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof RingcapError)) {
      const shown = typeof input === "string" ? JSON.stringify(input.slice(0, 300)) : safeText(input);
      throw new Error(`SEED ${SEED.toString(16)}: input ${shown} threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
    expect(typeof e.code).toBe("string");
    expect(e.message.length).toBeGreaterThan(0);
    return e;
  }
}

function safeText(value: unknown): string {
  try {
    return Bun.inspect(value).slice(0, 300);
  } catch {
    return typeof value;
  }
}

/** An accepted program is whole and reads back as the same program. */
function checkAccepted(p: BpfProgram): void {
  expect(p.length).toBeGreaterThanOrEqual(1);
  expect(p.length).toBeLessThanOrEqual(BPF_MAXINSNS);
  expect(p.instructions.byteLength).toBe(p.length * 8);
  expect(checkBpfProgram(p)).toEqual(p);
  const again = parseBpfText(programText(p));
  expect(Array.from(again.instructions)).toEqual(Array.from(p.instructions));
  expect(programFromInstructions(decodeProgram(p)).instructions).toEqual(p.instructions);
}

const accepted: BpfProgram[] = [];
const counts = { texts: 0, mutants: 0, instructionSets: 0, hostile: 0, acceptedTexts: 0, acceptedSets: 0 };

describe(`the BPF program model under random and mutated input (seed 0x${SEED.toString(16)})`, () => {
  test(`${TEXTS} random texts: a program or a RingcapError`, () => {
    for (let i = 0; i < TEXTS; i++) {
      const text = randomText();
      const r = outcome(text, () => parseBpfText(text));
      counts.texts++;
      if (!(r instanceof RingcapError)) {
        checkAccepted(r);
        counts.acceptedTexts++;
        accepted.push(r);
      } else expect(r.code).toBe("bpf_text_invalid");
    }
  });

  test(`${MUTANTS} mutations of valid programs: a program or a RingcapError naming the line`, () => {
    const valid = seeds();
    for (let i = 0; i < MUTANTS; i++) {
      const text = mutate(pick(valid));
      const r = outcome(text, () => parseBpfText(text));
      counts.mutants++;
      if (r instanceof RingcapError) {
        expect(r.code).toBe("bpf_text_invalid");
        expect(r.message).toMatch(/^BPF text (line \d+|must be)/);
      } else {
        checkAccepted(r);
        counts.acceptedTexts++;
        accepted.push(r);
      }
    }
    // The mutations are small enough that many stay programs, and large enough that many do not.
    expect(counts.acceptedTexts).toBeGreaterThan(MUTANTS / 20);
    expect(counts.acceptedTexts).toBeLessThan(MUTANTS);
  });

  test(`${INSTRUCTION_SETS} random instruction arrays (holes, hostile values, edge numbers): a program or a RingcapError`, () => {
    for (let i = 0; i < INSTRUCTION_SETS; i++) {
      const insns = randomInstructions();
      const r = outcome(insns, () => programFromInstructions(insns as BpfInstruction[]));
      counts.instructionSets++;
      if (r instanceof RingcapError) expect(r.code).toBe("invalid_argument");
      else {
        // Exactly the instructions given: no hole read as a zero instruction, no value coerced.
        expect({ insns: decodeProgram(r) }).toEqual({ insns: insns as BpfInstruction[] });
        checkAccepted(r);
        counts.acceptedSets++;
        accepted.push(r);
      }
    }
    expect(counts.acceptedSets).toBeGreaterThan(0);
  });

  test(`${HOSTILE_VALUES} hostile values where a program or its text belongs: a RingcapError`, () => {
    const shapes = (v: unknown): unknown[] => [
      v,
      { instructions: v, length: 1 },
      { instructions: new Uint8Array(8), length: v },
      { instructions: new Uint8Array(int(40)), length: int(8) },
    ];
    for (let i = 0; i < HOSTILE_VALUES; i++) {
      for (const value of shapes(pick(HOSTILE))) {
        counts.hostile++;
        const asText = outcome(value, () => parseBpfText(value as string));
        expect(asText).toBeInstanceOf(RingcapError);
        const checked = outcome(value, () => checkBpfProgram(value));
        if (!(checked instanceof RingcapError)) expect(checked.instructions.byteLength).toBeGreaterThanOrEqual(checked.length * 8);
        outcome(value, () => {
          decodeProgram(value as BpfProgram);
          return checked as BpfProgram;
        });
      }
    }
  });

  test("the run covered what it says", () => {
    console.log(`seed 0x${SEED.toString(16)}: ${JSON.stringify(counts)}`);
    expect(counts.texts + counts.mutants + counts.instructionSets).toBe(TEXTS + MUTANTS + INSTRUCTION_SETS);
    expect(counts.hostile).toBe(HOSTILE_VALUES * 4);
  });
});

const canCapture = privileged();

describe.skipIf(!canCapture)("accepted programs attached to a capture on the namespace bench", () => {
  let bench: Bench;
  beforeAll(() => {
    bench = createBench();
  });
  afterAll(() => bench?.destroy());

  test(`${ATTACHED} accepted programs as filters and as fanout cbpf programs: each opens or is a RingcapError`, () => {
    expect(accepted.length).toBeGreaterThan(ATTACHED);
    // Spread over what was accepted: texts, mutants and instruction arrays alike.
    const sample = Array.from({ length: ATTACHED }, (_, i) => accepted[Math.floor((i * accepted.length) / ATTACHED)]);
    const ring = { blockSize: 4096, blockCount: 2, frameSize: 2048 };
    const results = { opened: 0, refused: new Map<string, number>() };
    for (const [i, program] of sample.entries()) {
      for (const asFanout of [false, true]) {
        try {
          openCapture(bench.rx, asFanout
            ? { netns: bench.name, ring, fanout: { mode: "cbpf", program } }
            : { netns: bench.name, ring, filter: program }).close();
          results.opened++;
        } catch (e) {
          if (!(e instanceof RingcapError)) throw new Error(`program ${i} (${programText(program).slice(0, 200)}) threw ${e}`);
          results.refused.set(e.code, (results.refused.get(e.code) ?? 0) + 1);
        }
      }
    }
    // The kernel is the judge of what runs; it refuses what it would not run, as filter_invalid.
    for (const code of results.refused.keys()) expect(["filter_invalid", "filter_too_large"]).toContain(code);
    expect(results.opened).toBeGreaterThan(0);
    console.log(`attached ${sample.length} programs twice: ${results.opened} opened, refused ${JSON.stringify(Object.fromEntries(results.refused))}`);
  }, 60_000);
});

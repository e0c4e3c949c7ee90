// The command line's argument parser, fuzzed: random and mutated argument vectors run through
// main(argv, io) in this process. Whatever the vector, main resolves to a documented exit code
// (0..6) and prints no stack trace; it never throws.
//
// Nothing here may capture or send for real. The guard: openCapture and the Generator run for
// real only for an interface name that exists nowhere (the host's /sys/class/net) and a netns,
// if any, that does not exist (they then fail to open, as a typo would); anything else is
// refused by the guard as "no such interface" before a socket is opened. openFanout (which would
// start Workers) is always refused after its option check. `bench` is never run.
import { afterAll, beforeAll, describe, expect, mock, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as captureModule from "../src/capture.ts";
import * as genModule from "../src/gen.ts";
import * as poolModule from "../src/fanout/pool.ts";
import { poolSettings } from "../src/fanout/settings.ts";
import { RingcapError } from "../src/errors.ts";
import type { CommandIO } from "../src/cli/main.ts";
import { prng } from "./_prng.ts";

// The real modules' exports, taken before mocking: a module's namespace object follows the mock.
const realCapture = { ...captureModule };
const realGen = { ...genModule };
const realPool = { ...poolModule };

const SEED = 0x5eed_0a11;
const VECTORS = 300;


const hostInterfaces = new Set(existsSync("/sys/class/net") ? readdirSync("/sys/class/net") : []);
const netnsExists = (name: string) => name.includes("/") || name === "" || name === "." || name === ".." || existsSync(join("/run/netns", name));
/** A name that exists nowhere: the open fails as for a typo. */
const safeTarget = (iface: unknown, netns: unknown) =>
  typeof iface === "string" && !hostInterfaces.has(iface) && (netns === undefined || (typeof netns === "string" && !netnsExists(netns)));

const guard = { real: 0, refused: 0 };
const refuse = (what: string) => {
  guard.refused++;
  return new RingcapError("no_such_interface", `fuzz guard: ${what} refused (it could have reached a real interface)`);
};

describe(`ringcap argument parser fuzz (seed 0x${SEED.toString(16)}, ${VECTORS} vectors)`, () => {
  let main: (argv: string[], io: CommandIO) => Promise<number>;
  let dir: string;

  beforeAll(async () => {
    mock.module("../src/capture.ts", () => ({
      ...realCapture,
      openCapture: (iface: string, options: { netns?: string } = {}) => {
        realCapture.checkInterfaceName(iface);
        if (!safeTarget(iface, options?.netns)) throw refuse(`openCapture(${JSON.stringify(iface)})`);
        guard.real++;
        return realCapture.openCapture(iface, options);
      },
    }));
    mock.module("../src/fanout/pool.ts", () => ({
      ...realPool,
      openFanout: (iface: string, options: Parameters<typeof poolSettings>[1]) => {
        poolSettings(iface, options);
        return Promise.reject(refuse(`openFanout(${JSON.stringify(iface)})`));
      },
    }));
    class GuardedGenerator extends realGen.Generator {
      constructor(iface: string, options: realGen.GeneratorOptions = {}) {
        if (!safeTarget(iface, options?.netns)) throw refuse(`Generator(${JSON.stringify(iface)})`);
        guard.real++;
        super(iface, options);
      }
    }
    mock.module("../src/gen.ts", () => ({ ...realGen, Generator: GuardedGenerator }));
    main = (await import("../src/cli/main.ts")).main;

    dir = mkdtempSync(join(tmpdir(), "ringcap-fuzz-"));
    writeFileSync(join(dir, "expr.txt"), "udp and port 53\n");
    writeFileSync(join(dir, "junk.txt"), "\u0000\u00ff((( not a filter\n");
    writeFileSync(join(dir, "prog.bpf"), "4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n");
    writeFileSync(join(dir, "bad.bpf"), "3\n1 2 3\n");
    mkdirSync(join(dir, "subdir"));
  });

  afterAll(() => {
    // Later test files in this process get the real modules back.
    mock.module("../src/capture.ts", () => realCapture);
    mock.module("../src/fanout/pool.ts", () => realPool);
    mock.module("../src/gen.ts", () => realGen);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("every vector ends with a documented exit code (0..6), no exception, no stack trace", async () => {
    const rand = prng(SEED);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
    const chance = (p: number) => rand() < p;

    const p = (name: string) => join(dir, name);
    const NUMBERS = [
      "0", "1", "2", "5", "64", "256", "257", "1024", "65535", "1_000", "1__0", "_1", "1_", "", " ", " 5", "5 ",
      "0x10", "1e3", "1E3", "-1", "+5", "5.0", "0.5", ".5", "5.", "NaN", "Infinity", "-0", "00", "9007199254740993",
      "99999999999999999999", "0b11", "0o7", "١٢", "５", "1,2", "300,301", "1,", ",", "4294967296",
    ];
    const STRINGS = [
      "nosuch0", "rcfz-nosuch1", "0123456789abcdef", "012345678901234", "", " ", "-", "--", "a/b", "..", "é",
      "pcap", "pcapng", "xml", "hash", "lb", "cbpf", "ebpf", "cpu", "qm", "rnd", "rollover",
      "udp", "tcp port 443", "udp and", "port nonsense", "vlan 5000", "((", "not not not ip", "ip6 and tcp[13] & 2 != 0",
      p("expr.txt"), p("junk.txt"), p("prog.bpf"), p("bad.bpf"), p("subdir"), p("missing"), "/nonexistent/x",
      p("out.pcap"), p("out.pcapng"), "/dev/full", "ringcap-fuzz-nosuch-ns", "02:00:00:00:00:01", "zz:zz",
      "\u0000", "\n", "--=", "=", "-=x", "\u202e", "x".repeat(300),
    ];
    const COMMON = ["-h", "--help", "--bogus", "-Z", "--", "-", "--interface=nosuch0", "--count=5", "--count=", "-c5", "-Gx"];
    const FLAGS: Record<string, Array<[string, "value" | "bool"]>> = {
      capture: [
        ["-i", "value"], ["--interface", "value"], ["-c", "value"], ["--count", "value"], ["-s", "value"], ["-w", "value"],
        ["--format", "value"], ["--flush-ms", "value"], ["-U", "bool"], ["--packet-buffered", "bool"], ["--workers", "value"],
        ["--fanout", "value"], ["--per-worker-files", "bool"], ["-p", "bool"], ["-e", "bool"], ["-q", "bool"], ["-t", "bool"],
        ["-n", "bool"], ["-B", "value"], ["--block-timeout", "value"], ["-F", "value"], ["--bpf", "value"], ["-d", "bool"],
        ["--netns", "value"], ["--seconds", "value"], ["--status", "bool"], ["--no-status", "bool"],
      ],
      flows: [
        ["-i", "value"], ["--top", "value"], ["--interval", "value"], ["--json", "bool"], ["--seconds", "value"],
        ["--netns", "value"], ["-s", "value"], ["--workers", "value"], ["-B", "value"], ["--block-timeout", "value"], ["--max-flows", "value"],
      ],
      gen: [
        ["-i", "value"], ["-c", "value"], ["--count", "value"], ["--rate", "value"], ["--size", "value"], ["--flows", "value"],
        ["--vlan", "value"], ["--qinq", "value"], ["--ipv6", "bool"], ["--tcp", "bool"], ["--syn", "bool"], ["--dst-mac", "value"],
        ["--dst-port", "value"], ["--netns", "value"], ["--max-seconds", "value"], ["--qdisc-bypass", "bool"],
        ["--seq-start", "value"], ["--batch", "value"], ["--json", "bool"],
      ],
    };
    const COMMANDS = ["capture", "capture", "capture", "flows", "gen", "help", "--help", "-h", "", "frob", "CAPTURE"];

    const randomToken = (): string => {
      const n = Math.floor(rand() * 12);
      let s = chance(0.3) ? "-" : chance(0.2) ? "--" : "";
      for (let i = 0; i < n; i++) s += String.fromCodePoint(chance(0.8) ? 32 + Math.floor(rand() * 95) : Math.floor(rand() * 0x3000));
      return s;
    };
    const value = (): string => (chance(0.45) ? pick(NUMBERS) : chance(0.85) ? pick(STRINGS) : randomToken());

    /** A vector from the grammar: a command, then flags with values, maybe an expression. */
    const generated = (): string[] => {
      const command = pick(COMMANDS);
      const flags = FLAGS[command] ?? FLAGS.capture;
      const argv = command === "" ? [] : [command];
      // Mostly with an interface and a namespace that exist nowhere, so a parse that passes fails at open.
      if (chance(0.7)) argv.push("-i", chance(0.9) ? "nosuch0" : value());
      if (chance(0.5)) argv.push("--netns", "ringcap-fuzz-nosuch-ns");
      const n = Math.floor(rand() * 6);
      for (let i = 0; i < n; i++) {
        if (chance(0.08)) {
          argv.push(pick(COMMON));
          continue;
        }
        const [flag, kind] = pick(flags);
        if (kind === "bool") argv.push(flag);
        else if (chance(0.1)) argv.push(`${flag}=${value()}`);
        else argv.push(flag, value());
      }
      if (command === "gen" && chance(0.7)) argv.push("--count", chance(0.7) ? "1" : value());
      if (chance(0.3)) argv.push(...pick(STRINGS.filter((s) => / /.test(s) || /^[a-z]+$/.test(s))).split(" "));
      return argv;
    };

    /** A vector changed at random: tokens dropped, doubled, swapped, replaced, cut, joined. */
    const mutated = (base: string[]): string[] => {
      const argv = [...base];
      const edits = 1 + Math.floor(rand() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * (argv.length + 1));
        switch (Math.floor(rand() * 7)) {
          case 0:
            argv.splice(at, 1);
            break;
          case 1:
            if (argv[at] !== undefined) argv.splice(at, 0, argv[at]);
            break;
          case 2: {
            const other = Math.floor(rand() * argv.length);
            if (argv[at] !== undefined && argv[other] !== undefined) [argv[at], argv[other]] = [argv[other], argv[at]];
            break;
          }
          case 3:
            argv.splice(at, 0, chance(0.5) ? randomToken() : value());
            break;
          case 4:
            if (argv[at] !== undefined) argv[at] = argv[at].slice(0, Math.floor(rand() * argv[at].length));
            break;
          case 5:
            if (argv[at] !== undefined && argv[at + 1] !== undefined) argv.splice(at, 2, argv[at] + argv[at + 1]);
            break;
          default:
            if (argv[at] !== undefined) argv[at] = argv[at] + randomToken();
        }
      }
      return argv;
    };

    const codes: Record<number, number> = {};
    const failures: string[] = [];
    const corpus: string[][] = [];
    for (let v = 0; v < VECTORS; v++) {
      let argv = v < 20 || corpus.length === 0 || chance(0.5) ? generated() : mutated(pick(corpus));
      // Never the benchmark (it starts processes), whatever a mutation made.
      if (argv[0] === "bench") argv = ["help"];
      corpus.push(argv);
      const lines: string[] = [];
      const io: CommandIO = { out: (l) => lines.push(l), err: (l) => lines.push(l), errIsTty: false };
      let code: unknown;
      try {
        code = await Promise.race([main(argv, io), Bun.sleep(10_000).then(() => "timeout")]);
      } catch (e) {
        failures.push(`vector ${v} ${JSON.stringify(argv)} threw: ${(e as Error)?.stack ?? e}`);
        continue;
      }
      const text = lines.join("\n");
      if (typeof code !== "number" || !Number.isInteger(code) || code < 0 || code > 6) {
        failures.push(`vector ${v} ${JSON.stringify(argv)} ended with ${String(code)}: ${text.slice(0, 300)}`);
      } else if (/^\s+at .+[(:]\d+/m.test(text)) {
        failures.push(`vector ${v} ${JSON.stringify(argv)} printed a stack trace: ${text.slice(0, 500)}`);
      } else {
        codes[code] = (codes[code] ?? 0) + 1;
      }
    }
    console.log(`fuzz seed 0x${SEED.toString(16)}: exit codes ${JSON.stringify(codes)}; opens tried for real (failing) ${guard.real}, refused by the guard ${guard.refused}`);
    expect(failures).toEqual([]);
    // The vectors reach more than the usage check: some get as far as opening.
    expect(codes[2]).toBeGreaterThan(0);
    expect((codes[3] ?? 0) + (codes[1] ?? 0)).toBeGreaterThan(0);
  }, 120_000);
});

// The README's copy-paste examples, run as they are written. A fenced block preceded by
// `<!-- readme-test: KIND [/regex/] -->` is run here: KIND is `bun` (a script), `deno`
// (the same through Deno), `sh` (ringcap command lines) or `bun-server` (a server whose
// /metrics and /flows are fetched). The bench names its capture end `eth0`, so the snippets
// need no edit; `from "ringcap"` is pointed at this checkout's mod.ts and `bunx ringcap` at
// its src/cli/main.ts (as the installed package's bin would be). The regex, if any, must match
// the output. A snippet that opens a capture runs a second time on a saved file, with the swap
// the README describes (`onSavedFile`): the file is recorded from the bench's `eth0` first.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { Generator } from "../src/gen.ts";
import { openCapture } from "../src/capture.ts";
import { PcapWriter } from "../src/pcap.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const BUN = process.execPath;
const DENO = join(ROOT, ".tools/node_modules/.bin/deno");
/** GoFlow2, built by the Makefile, for the README's collector recipe. */
const GOFLOW2_BIN = join(ROOT, ".tools/goflow2/bin");

interface Snippet {
  kind: "bun" | "deno" | "sh" | "bun-server";
  expect?: RegExp;
  code: string;
  section: string;
  line: number;
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  const lines = README.split("\n");
  let section = "";
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith("## ")) section = lines[i].slice(3).trim();
    const m = /^<!-- readme-test: (bun-server|bun|deno|sh)(?: \/(.+)\/)? -->$/.exec(lines[i]);
    if (!m) continue;
    if (!/^```/.test(lines[i + 1] ?? "")) throw new Error(`README.md:${i + 1}: a readme-test marker must sit right above a fenced block`);
    const end = lines.indexOf("```", i + 2);
    out.push({
      kind: m[1] as Snippet["kind"],
      expect: m[2] ? new RegExp(m[2]) : undefined,
      code: lines.slice(i + 2, end).join("\n"),
      section,
      line: i + 1,
    });
  }
  return out;
}

const all = snippets();

test("every way of using ringcap has a README example that is run here", () => {
  for (const section of ["Command line", "In a script", "Inside a Bun server", "Deno"]) {
    expect(all.filter((s) => s.section.startsWith(section)).length, section).toBeGreaterThan(0);
  }
});

/** Rewrites the package import to this checkout (the code is otherwise untouched). */
function localise(code: string): string {
  return code.replaceAll(`from "ringcap"`, `from "${join(ROOT, "mod.ts")}"`);
}

/** The file the swapped snippets read, in the snippets' directory. */
const SAVED = "saved.pcapng";

/**
 * The README's swap, "every capture example runs on a saved file": `await openFile(SAVED)` for
 * `openCapture("eth0", ...)` and `openFanout({ file: SAVED }, ...)` for `openFanout("eth0", ...)`,
 * with openFile imported. Null for a snippet that opens no capture.
 */
function onSavedFile(code: string): string | null {
  const swapped = code
    .replace(/openCapture\("eth0"(?:, \{[^}]*\})?\)/g, `await openFile("${SAVED}")`)
    .replaceAll(`openFanout("eth0",`, `openFanout({ file: "${SAVED}" },`);
  if (swapped === code) return null;
  if (!swapped.includes("openFile(")) return swapped;
  return swapped.replace(/import \{([^}]*)\} from "ringcap";/, (m, names: string) =>
    /\bopenFile\b/.test(names) ? m : `import {${names.trimEnd()}, openFile } from "ringcap";`);
}

function run(
  argv: string[],
  opts: { timeoutMs: number; until?: RegExp; cwd?: string },
): Promise<{ code: number | null; out: string; err: string; match?: RegExpExecArray; kill: () => void; exited: Promise<number | null> }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], cwd: opts.cwd });
    let out = "";
    let err = "";
    let settled = false;
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    const check = () => {
      if (settled || !opts.until) return;
      const match = opts.until.exec(out);
      if (match) {
        settled = true;
        resolve({ code: null, out, err, match, kill, exited });
      }
    };
    child.stdout.on("data", (d) => {
      out += d;
      check();
    });
    child.stderr.on("data", (d) => (err += d));
    exited.then((code) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        resolve({ code, out, err, kill, exited });
      }
    });
  });
}

describe.skipIf(!privileged())("README examples on the namespace bench", () => {
  let bench: Bench;
  let dir: string;
  let gen: Generator;
  let tcp: Generator;
  let sending: ReturnType<typeof setInterval>;
  beforeAll(() => {
    bench = createBench({ rx: "eth0", tx: "gen0" });
    dir = mkdtempSync(join(tmpdir(), "ringcap-readme-"));
    // As a working directory usually is: others may pass through it (a -Z example writes as nobody).
    chmodSync(dir, 0o755);
    // Background traffic for every snippet: UDP, TCP (port 443 too) and IPv6, 2,000 frames a second.
    gen = new Generator(bench.tx, { netns: bench.name, rate: 0, flows: 16 });
    tcp = new Generator(bench.tx, { netns: bench.name, rate: 0, flows: 8, tcp: true, dstPort: 443 });
    let ticks = 0;
    sending = setInterval(() => {
      if (++ticks > 6000) return clearInterval(sending); // at most 10 minutes
      gen.send(100);
      tcp.send(100);
    }, 100);
  });

  // The saved file of the swapped snippets: about two seconds of the background traffic on eth0.
  beforeAll(async () => {
    using cap = openCapture(bench.rx, { netns: bench.name });
    using out = PcapWriter.open(join(dir, SAVED), { ifName: bench.rx });
    for await (const block of cap.blocks({ signal: AbortSignal.timeout(5_000) })) {
      for (const p of block) out.writePacket(p);
      if (out.packets >= 4000) break;
    }
    expect(out.packets).toBeGreaterThan(0);
  }, 10_000);
  afterAll(() => {
    // A collector a recipe started and did not stop (it failed half-way): by the PID it wrote.
    for (const name of readdirSync(dir).filter((n) => n.endsWith(".pid"))) {
      const pid = Number(readFileSync(join(dir, name), "utf8").trim());
      if (Number.isInteger(pid) && pid > 1) {
        try {
          process.kill(pid, "SIGKILL");
        } catch { /* it has ended */ }
      }
    }
    clearInterval(sending);
    gen?.close();
    tcp?.close();
    bench?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const inNetns = (argv: string[]) => ["ip", "netns", "exec", bench.name, ...argv];

  const runs = all.flatMap((s) => {
    const saved = s.kind === "sh" ? null : onSavedFile(s.code);
    return [{ s, how: "" }, ...(saved === null ? [] : [{ s: { ...s, code: saved }, how: ` on ${SAVED}` }])];
  });

  test("the swap runs every capture snippet on a saved file too", () => {
    const swapped = runs.filter((r) => r.how !== "").map((r) => r.s);
    const opening = all.filter((s) => /openCapture\("eth0"|openFanout\("eth0"/.test(s.code));
    expect(swapped.map((s) => s.line)).toEqual(opening.map((s) => s.line));
    expect(opening.length).toBeGreaterThanOrEqual(4);
    for (const s of swapped) expect(s.code).not.toContain(`"eth0"`);
  });

  for (const { s, how } of runs) {
    test(`README.md:${s.line} (${s.section}, ${s.kind}) runs${how}`, async () => {
      if (s.kind === "sh") {
        let output = "";
        for (const line of s.code.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))) {
          const cmd = line.replace(/^bunx ringcap /, `${BUN} ${join(ROOT, "src/cli/main.ts")} `);
          const r = await run(inNetns(["env", `PATH=${GOFLOW2_BIN}:${process.env.PATH}`, "bash", "-c", cmd]), { timeoutMs: 30_000, cwd: dir });
          expect({ line, code: r.code, err: r.code === 0 ? "" : r.err }).toEqual({ line, code: 0, err: "" });
          output += r.out + r.err;
          // A file the line wrote is one tcpdump reads.
          const written = line.startsWith("bunx ringcap ") ? / -w '?([^\s']+)'?/.exec(line)?.[1] : undefined;
          if (written) {
            // Rotated (-C, -G): every file named from the -w name (its part before any strftime pattern).
            const prefix = written.split("%")[0];
            const into = dirname(prefix);
            const files = / -[CG] /.test(line)
              ? readdirSync(join(dir, into)).filter((n) => n.startsWith(basename(prefix))).map((n) => join(into, n))
              : [written];
            expect({ line, files: files.length > 0 }).toEqual({ line, files: true });
            for (const f of files) {
              const check = await run(["tcpdump", "-r", join(dir, f), "-c", "1"], { timeoutMs: 10_000 });
              expect({ line, f, code: check.code }).toEqual({ line, f, code: 0 });
            }
          }
        }
        if (s.expect) expect(output).toMatch(s.expect);
        return;
      }
      const file = join(dir, `snippet-${s.line}${how ? "-saved" : ""}.ts`);
      writeFileSync(file, localise(s.code));
      if (s.kind === "bun-server") {
        const r = await run(inNetns([BUN, file]), { timeoutMs: 60_000, until: /(http:\/\/[\w.:[\]]+)/, cwd: dir });
        try {
          expect(r.match, r.err).toBeTruthy();
          const url = r.match![1];
          await Bun.sleep(2500); // a report or two
          const fetched = await run(inNetns([BUN, "-e", `const r = await fetch("${url}/metrics"); console.log(r.status); console.log(await r.text());`]), { timeoutMs: 20_000 });
          expect(fetched.out).toStartWith("200\n");
          expect(fetched.out).toMatch(/^ringcap_\w+ /m);
          if (s.expect) expect(fetched.out).toMatch(s.expect);
        } finally {
          r.kill();
          expect(await r.exited).toBe(0);
        }
        return;
      }
      const argv = s.kind === "bun"
        ? [BUN, file]
        : [DENO, "run", "--allow-ffi", "--allow-read", "--allow-env", "--allow-run", "--allow-sys", "--no-check", "--no-lock", file];
      // In the same directory as the command lines, so a script can read a file they wrote.
      const r = await run(inNetns(argv), { timeoutMs: 40_000, cwd: dir });
      expect({ code: r.code, err: r.code === 0 ? "" : r.err }).toEqual({ code: 0, err: "" });
      if (s.expect) expect(r.out).toMatch(s.expect);
    }, 90_000);
  }
});

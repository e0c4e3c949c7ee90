// The npm package works without a compiler: unpack `npm pack` output in a temporary folder
// and run `ringcap capture` from there against the namespace bench.
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBench, privileged } from "./_netns.ts";
import { Generator } from "../mod.ts";

const root = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "ringcap-pack-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pack(): string {
  const r = spawnSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: root, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`npm pack failed: ${r.stderr}`);
  return join(dir, r.stdout.trim().split("\n").pop()!);
}

test("npm pack ships mod.ts, the CLI and the prebuilt library for x86_64 and aarch64, and no bench library", () => {
  const tgz = pack();
  const list = spawnSync("tar", ["-tzf", tgz], { encoding: "utf8" }).stdout.split("\n");
  for (const f of ["package/mod.ts", "package/src/cli/main.ts", "package/package.json",
    "package/prebuilt/x86_64-linux/libringcap.so", "package/prebuilt/aarch64-linux/libringcap.so"]) {
    expect(list).toContain(f);
  }
  expect(list.some((f) => f.startsWith("package/zig-out") || f.startsWith("package/test/"))).toBe(false);
  // The benchmark's native loops are built for the checkout only (`make`), never shipped.
  expect(list.filter((f) => f.includes("libringcap_bench"))).toEqual([]);
});

test.skipIf(!privileged())("ringcap capture runs from the unpacked package against the bench", async () => {
  const tgz = pack();
  expect(spawnSync("tar", ["-xzf", tgz, "-C", dir]).status).toBe(0);
  const cli = join(dir, "package/src/cli/main.ts");
  expect(existsSync(join(dir, "package/zig-out"))).toBe(false);
  using bench = createBench();
  const child = Bun.spawn([process.execPath, cli, "capture", "-i", bench.rx, "--netns", bench.name, "-c", "5", "-n", "--seconds", "20", "udp"], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, RINGCAP_LIB: "" },
  });
  // Wait until the capture announces itself, then send.
  const reader = child.stderr.getReader();
  let err = "";
  while (!err.includes("capturing on")) {
    const { value, done } = await reader.read();
    if (done) break;
    err += new TextDecoder().decode(value);
  }
  using gen = new Generator(bench.tx, { netns: bench.name, rate: 1000 });
  gen.send(10);
  const code = await child.exited;
  const out = await new Response(child.stdout).text();
  expect({ code, err }).toMatchObject({ code: 0 });
  const lines = out.trim().split("\n");
  expect(lines.length).toBe(5);
  for (const line of lines) expect(line).toMatch(/IP 198\.18\.0\.0\.10000 > 198\.19\.0\.1\.9: UDP, length 18$/);
}, 60_000);

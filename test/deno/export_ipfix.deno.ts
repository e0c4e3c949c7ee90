// IpfixExporter runs unchanged under Deno (node:dgram, node:net): test/_ipfix_child.ts, run by
// Deno inside a namespace, sends records over UDP and over TCP to a collector on its 127.0.0.1;
// the collector gets every byte the exporter counts as sent. (The encoding itself, tshark's and
// nfdump's view of it are checked under Bun in test/export_ipfix.test.ts.)
// Run by test/run-all.sh as: deno test --allow-all --no-check --no-lock test/deno/*.deno.ts
import { deepStrictEqual as assertEquals } from "node:assert";
import { spawnSync } from "node:child_process";
import { createBench } from "../../testing.ts";

const CHILD = new URL("../_ipfix_child.ts", import.meta.url).pathname;

function records(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    ipVersion: i % 3 === 0 ? 6 : 4,
    protocol: 17,
    srcAddress: i % 3 === 0 ? [0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), i] : [198, 18, 0, i],
    dstAddress: i % 3 === 0 ? [0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 200] : [198, 19, 0, 1],
    srcPort: 1000 + i,
    dstPort: 53,
    packets: i + 1,
    octets: 100 * (i + 1),
    startMs: 1_764_000_000_000 + i,
    endMs: 1_764_000_001_000 + i,
    tcpFlags: 0,
    ingressInterface: 2,
    vlanId: -1,
    endReason: 1,
  }));
}

for (const mode of ["udp", "tcp"] as const) {
  Deno.test(`Deno: IpfixExporter over ${mode.toUpperCase()} to a collector in a namespace`, () => {
    using bench = createBench();
    const job = { mode, protocol: "ipfix", port: 4739, odid: 1, records: records(100) };
    const r = spawnSync("ip", ["netns", "exec", bench.name, Deno.execPath(), "run", "--allow-all", "--no-check", "--no-lock", CHILD, JSON.stringify(job)], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...Deno.env.toObject(), NO_COLOR: "1" },
    });
    assertEquals(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assertEquals([out.stats.recordsSent, out.stats.recordsLost], [100, 0]);
    assertEquals(out.receivedBytes, out.stats.bytesSent);
    assertEquals(out.stats.messagesSent > 1, true);
    if (mode === "tcp") assertEquals(out.stats.connections, 1);
    else assertEquals(out.received.length, out.stats.messagesSent);
  });
}

// `ringcap flows --ipfix --workers 2` under Deno, into nfcapd in the namespace: nfdump gets every
// flow the generator sent, with its packets and IP bytes (46 per 60-byte frame), from two
// observation domains.
Deno.test("Deno: ringcap flows --ipfix --workers 2 into nfcapd, nfdump lists every flow sent", async () => {
  using bench = createBench();
  const dir = Deno.makeTempDirSync({ prefix: "ringcap-deno-nfcapd-" });
  const CLI = new URL("../../src/cli/main.ts", import.meta.url).pathname;
  const deno = [Deno.execPath(), "run", "--allow-all", "--no-check", "--no-lock", CLI];
  const nfcapd = new Deno.Command("ip", {
    args: ["netns", "exec", bench.name, "nfcapd", "-w", dir, "-p", "4739", "-b", "127.0.0.1"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const flows = new Deno.Command("ip", {
    args: ["netns", "exec", bench.name, ...deno, "flows", "-i", bench.rx, "--ipfix", "127.0.0.1:4739", "--workers", "2", "--json", "--seconds", "6", "udp"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    await new Promise((r) => setTimeout(r, 2500)); // Deno's workers start slower than Bun's
    const gen = spawnSync("ip", ["netns", "exec", bench.name, ...deno, "gen", "-i", bench.tx, "--count", "3000", "--rate", "3000", "--flows", "12", "--json"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assertEquals(gen.status, 0, gen.stderr);
    const out = await flows.output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const last = JSON.parse(text.trim().split("\n").at(-1)!);
    assertEquals([last.final, last.packets, last.records, last.recordsSent, last.recordsLost], [true, 3000, 12, 12, 0]);
  } finally {
    try {
      flows.kill("SIGKILL");
    } catch { /* ended */ }
    nfcapd.kill("SIGTERM");
    await nfcapd.status;
  }
  const r = spawnSync("nfdump", ["-R", dir, "-q", "-o", "fmt:%sa|%pkt|%byt"], { encoding: "utf8", timeout: 30_000 });
  // nfcapd's own view of its exporters: one per worker's domain, no gap in either's sequence numbers.
  const exporters = Array.from(Deno.readDirSync(dir)).filter((e) => e.name.startsWith("nfcapd.")).flatMap((e) => {
    const x = spawnSync("nfdump", ["-E", `${dir}/${e.name}`], { encoding: "utf8", timeout: 30_000 });
    return x.stdout.split("\n").filter((l) => l.startsWith("SysID:")).map((l) => /version: (\d+), ID:\s*(\d+), Sequence failures: (\d+)/.exec(l)!.slice(1).join(" "));
  });
  Deno.removeSync(dir, { recursive: true });
  assertEquals(exporters.sort(), ["10 1 0", "10 2 0"]);
  assertEquals(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split("\n").map((l) => l.split("|").map((c) => c.trim()));
  assertEquals(rows.length, 12);
  assertEquals(new Set(rows.map((x) => x[0])).size, 12);
  for (const [, packets, bytes] of rows) assertEquals([Number(packets), Number(bytes)], [250, 250 * 46]);
});

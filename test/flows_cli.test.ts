// `ringcap flows` when its flow table is full: the output says it is incomplete, and
// --max-flows raises (or here, lowers) the limit. One ring and --workers, on a namespace bench.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FLOW_TABLE_DEFAULTS, MAX_FLOWS } from "../src/flows.ts";
import { EXPORT_BLOCK_TIMEOUT_MS, parseCollector, parseFlowsArgs } from "../src/cli/flows_options.ts";
import { UsageError } from "../src/cli/flags.ts";
import { FLOW_TRACKER_DEFAULTS, MAX_TRACKED_FLOWS } from "../src/export/records.ts";
import { EXPORTER_DEFAULTS } from "../src/export/exporter.ts";
import { EXIT } from "../src/cli/main.ts";
import { flowsPrinter, type FlowsSnapshot } from "../src/cli/flows_output.ts";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { BUN, CLI, runGen } from "./_traffic.ts";
import { until } from "./_cli.ts";

interface Line {
  flows: number;
  untracked: number;
  incomplete: boolean;
  maxFlows: number;
  drops: number;
  top: { flow: string; packets: number; bytes: number }[];
}

/** Runs `ringcap ARGS` (bounded: killed after maxMs); `firstLine` resolves once stdout has a line. */
function ringcap(args: string[], maxMs = 30_000) {
  const child = spawn(BUN, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let onLine = () => {};
  const firstLine = new Promise<void>((resolve) => (onLine = resolve));
  child.stdout.on("data", (d) => {
    out += d;
    if (out.includes("\n")) onLine();
  });
  child.stderr.on("data", (d) => (err += d));
  const killer = setTimeout(() => child.kill("SIGKILL"), maxMs);
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    child.on("close", (code) => {
      clearTimeout(killer);
      onLine();
      resolve({ code, out, err });
    });
  });
  return { firstLine, done };
}

describe("--max-flows and the incomplete mark", () => {
  test("-r FILE is read: the expression kept for the file's link type, the live-only fields untouched", () => {
    const o = parseFlowsArgs(["-r", "-", "--json", "--top", "5", "udp"])!;
    expect({ read: o.read, expression: o.expression, filter: o.filter, iface: o.iface, top: o.top }).toEqual({ read: "-", expression: "udp", filter: undefined, iface: "", top: 5 });
    expect(() => parseFlowsArgs(["-r", "x.pcap", "--workers", "2"])).toThrow(/--workers cannot apply with -r/);
    expect(() => parseFlowsArgs(["--json"])).toThrow(/-i IFACE or -r FILE/);
  });

  test("--max-flows is read and checked; absent, it is FlowTable's default", () => {
    expect(parseFlowsArgs(["-i", "eth0"])!.maxFlows).toBe(FLOW_TABLE_DEFAULTS.maxFlows);
    expect(parseFlowsArgs(["-i", "eth0", "--max-flows", "1_000_000"])!.maxFlows).toBe(1_000_000);
    expect(parseFlowsArgs(["-i", "eth0", "--max-flows", String(MAX_FLOWS)])!.maxFlows).toBe(MAX_FLOWS);
    for (const bad of ["0", "1.5", String(MAX_FLOWS + 1), "many"]) {
      expect(() => parseFlowsArgs(["-i", "eth0", "--max-flows", bad])).toThrow(`--max-flows must be a whole number from 1 to ${MAX_FLOWS}`);
    }
  });

  test("the table's header and the JSON line say when the table is incomplete, and stderr says what to do once", () => {
    const print = (json: boolean, workers: number, snapshots: FlowsSnapshot[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const p = flowsPrinter({ out: (l) => out.push(l), err: (l) => err.push(l), errIsTty: false }, { json, iface: "eth9", maxFlows: 4, workers });
      for (const s of snapshots) p(s);
      return { out, err };
    };
    const full: FlowsSnapshot = { flows: 4, untracked: 17, drops: 0, interfaceDrops: 0, top: [{ flow: "udp 198.18.0.1:1 > 198.19.0.1:9", packets: 5, bytes: 300, pps: 5, bps: 2400 }] };
    const complete: FlowsSnapshot = { ...full, untracked: 0 };

    const table = print(false, 1, [full]).out[0].split("\n");
    expect(table[0]).toContain("ringcap flows on eth9: 4 flows, 0 dropped by kernel");
    expect(table[1]).toBe(
      "incomplete: the flow table is full (--max-flows 4); 17 packets of further flows were not counted and the top list may miss flows: raise --max-flows",
    );
    expect(print(false, 2, [full]).out[0]).toContain("incomplete: a worker's flow table is full (--max-flows 4 per worker); 17 packets");
    expect(print(false, 1, [complete]).out[0]).not.toContain("incomplete");

    const json = print(true, 1, [complete, full, full]);
    expect(json.out.map((l) => JSON.parse(l)).map((l) => [l.incomplete, l.untracked, l.maxFlows])).toEqual([[false, 0, 4], [true, 17, 4], [true, 17, 4]]);
    expect(json.err).toEqual(["ringcap flows: incomplete: the flow table is full (--max-flows 4); 17 packets of further flows were not counted and the top list may miss flows: raise --max-flows"]);
  });
});

describe.skipIf(!privileged())("ringcap flows with more flows than --max-flows (namespace bench)", () => {
  let bench: Bench;
  let on: string[];
  beforeAll(() => {
    bench = createBench();
    on = ["-i", bench.rx, "--netns", bench.name, "-B", "2048"];
  });
  afterAll(() => bench?.destroy());

  test("stdout's reader going away (| head -n 1) ends flows at once, exit 0, no stack trace: one ring and --workers 2", async () => {
    for (const flags of [[], ["--workers", "2"]]) {
      const started = performance.now();
      const child = spawn(BUN, [CLI, "flows", ...on, ...flags, "--json", "--interval", "0.2", "--seconds", "30"], { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => (err += d));
      const killer = setTimeout(() => child.kill("SIGKILL"), 25_000);
      // Read the first line, then go away as `head -n 1` does.
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
      clearTimeout(killer);
      expect({ flags, code, trace: /\n\s+at /.test(err), epipe: /EPIPE|broken pipe/i.test(err) }).toEqual({ flags, code: 0, trace: false, epipe: false });
      // Ended by its reader going, long before --seconds 30.
      expect(performance.now() - started).toBeLessThan(15_000);
    }
  }, 60_000);

  /** Runs flows with `flags` while the generator sends `count` frames over `flows` flows; its JSON lines, stderr, exit code. */
  async function flowsWhile(flags: string[], count: number, flows: number) {
    const proc = ringcap(["flows", ...on, ...flags, "--json", "--seconds", "3", "--interval", "0.5"]);
    await proc.firstLine;
    const sent = await runGen(bench, ["--count", String(count), "--rate", "20000", "--flows", String(flows)]);
    expect(sent.sent).toBe(count);
    const r = await proc.done;
    const lines = r.out.trimEnd().split("\n").map((l) => JSON.parse(l) as Line);
    return { code: r.code, err: r.err, last: lines[lines.length - 1] };
  }

  test("one ring: 10 flows through a table of 4 are marked incomplete; tracked plus untracked is every packet", async () => {
    const { code, err, last } = await flowsWhile(["--max-flows", "4", "--top", "10"], 2000, 10);
    expect(code).toBe(0);
    expect({ flows: last.flows, incomplete: last.incomplete, maxFlows: last.maxFlows, drops: last.drops }).toEqual({ flows: 4, incomplete: true, maxFlows: 4, drops: 0 });
    expect(last.untracked).toBeGreaterThan(0);
    expect(last.top.length).toBe(4);
    expect(last.top.reduce((n, f) => n + f.packets, 0) + last.untracked).toBe(2000);
    expect(err).toContain("ringcap flows: incomplete: the flow table is full (--max-flows 4);");
    expect(err).toContain("raise --max-flows");
    expect(err.split("\n").filter((l) => l.includes("incomplete")).length).toBe(1);
  });

  test("one ring: a table big enough is complete and says nothing", async () => {
    const { code, err, last } = await flowsWhile(["--max-flows", "10", "--top", "10"], 2000, 10);
    expect(code).toBe(0);
    expect({ flows: last.flows, untracked: last.untracked, incomplete: last.incomplete, maxFlows: last.maxFlows }).toEqual({ flows: 10, untracked: 0, incomplete: false, maxFlows: 10 });
    expect(last.top.reduce((n, f) => n + f.packets, 0)).toBe(2000);
    expect(err).toBe("");
  });

  test("--workers 2: 64 flows through tables of 4 per worker are marked incomplete; tracked plus untracked is every packet", async () => {
    const { code, err, last } = await flowsWhile(["--workers", "2", "--max-flows", "4", "--top", "20"], 6400, 64);
    expect(code).toBe(0);
    // Hash mode spreads 64 flows over both workers: each table fills, 8 flows in all.
    expect({ flows: last.flows, incomplete: last.incomplete, maxFlows: last.maxFlows, drops: last.drops }).toEqual({ flows: 8, incomplete: true, maxFlows: 4, drops: 0 });
    expect(last.top.length).toBe(8);
    expect(last.top.reduce((n, f) => n + f.packets, 0) + last.untracked).toBe(6400);
    expect(err).toContain("ringcap flows: incomplete: a worker's flow table is full (--max-flows 4 per worker);");
  });

  test("--max-flows out of range is a usage error (exit 2)", async () => {
    for (const bad of ["0", String(MAX_FLOWS + 1)]) {
      const r = await ringcap(["flows", ...on, "--max-flows", bad, "--seconds", "5"]).done;
      expect({ bad, code: r.code, out: r.out }).toEqual({ bad, code: 2, out: "" });
      expect(r.err).toContain(`--max-flows must be a whole number from 1 to ${MAX_FLOWS}`);
    }
  });
});

describe.skipIf(!privileged())("ringcap flows when the interface goes down or away", () => {
  // Each case cuts its own bench's interface, with a flows run waiting on it for up to 20 s.
  const cases = [[], ["--workers", "2"]].flatMap((workers) =>
    (["set down", "deleted"] as const).map((what) => ({ workers, what, name: `${workers.join(" ") || "one ring"}, interface ${what}` }))
  );
  const codes: Record<string, number | null> = {};

  test.each(cases)("$name: flows ends at once with the capture's error, no stack trace", async ({ workers, what, name }) => {
    using bench = createBench();
    const proc = ringcap(["flows", "-i", bench.rx, "--netns", bench.name, "-B", "2048", ...workers, "--json", "--seconds", "20", "--interval", "0.2"]);
    await proc.firstLine;
    if (what === "set down") bench.ip("link", "set", "dev", bench.rx, "down");
    else bench.ip("link", "del", bench.rx);
    const t0 = performance.now();
    const r = await Promise.race([proc.done, Bun.sleep(5000).then(() => null)]);
    console.log(`flows ${name}: ended ${(performance.now() - t0).toFixed(0)} ms after the cut`);
    expect(r).not.toBeNull();
    codes[name] = r!.code;
    expect(r!.code).not.toBe(0);
    expect(r!.code).toBe(EXIT.interfaceDown);
    expect(r!.err).toContain("network down (ENETDOWN: network is down): the interface went down or away while capturing");
    expect(r!.err).not.toContain("    at ");
  });

  test("every case ends with the same exit code (the one of network_down), workers or not", () => {
    expect(Object.keys(codes).length).toBe(cases.length);
    expect(new Set(Object.values(codes)).size).toBe(1);
    expect(Object.values(codes)[0]).toBe(EXIT.interfaceDown);
  });
});

describe("flows --ipfix: the export's flags", () => {
  test("HOST[:PORT] is read in every form; the port defaults to IPFIX's (NetFlow's with --netflow9)", () => {
    expect(parseCollector("192.0.2.10", 4739)).toEqual({ host: "192.0.2.10", port: 4739 });
    expect(parseCollector("192.0.2.10:9995", 4739)).toEqual({ host: "192.0.2.10", port: 9995 });
    expect(parseCollector("collector.example", 2055)).toEqual({ host: "collector.example", port: 2055 });
    expect(parseCollector("[2001:db8::10]:4740", 4739)).toEqual({ host: "2001:db8::10", port: 4740 });
    expect(parseCollector("[2001:db8::10]", 4739)).toEqual({ host: "2001:db8::10", port: 4739 });
    expect(parseCollector("2001:db8::10", 4739)).toEqual({ host: "2001:db8::10", port: 4739 });
    for (const bad of ["", ":4739", "host:0", "host:65536", "host:http", "[2001:db8::1]:x", "a b:1"]) {
      expect(() => parseCollector(bad, 4739)).toThrow(UsageError);
    }
    const o = parseFlowsArgs(["-i", "eth0", "--ipfix", "198.18.0.9", "--netflow9", "--workers", "2", "--domain-id", "7", "--active-timeout", "60", "--idle-timeout", "0.5"])!;
    expect(o.export).toEqual({ host: "198.18.0.9", port: 2055, transport: "udp", protocol: "netflow9", domainId: 7, activeTimeoutMs: 60_000, idleTimeoutMs: 500, maxMessagesPerSecond: 5000 });
    expect(parseFlowsArgs(["-i", "eth0", "--ipfix", "198.18.0.9", "--ipfix-rate", "0"])!.export?.maxMessagesPerSecond).toBe(0);
    expect(o.maxFlows).toBe(FLOW_TRACKER_DEFAULTS.maxFlows);
    // An export's blocks may wait longer to fill than a table's (records wait seconds anyway).
    expect(o.ring.blockTimeoutMs).toBe(EXPORT_BLOCK_TIMEOUT_MS);
    expect(parseFlowsArgs(["-i", "eth0", "--ipfix", "198.18.0.9", "--block-timeout", "5"])!.ring.blockTimeoutMs).toBe(5);
    expect(parseFlowsArgs(["-i", "eth0"])!.ring.blockTimeoutMs).toBe(10);
    const d = parseFlowsArgs(["-i", "eth0", "--ipfix", "198.18.0.9", "--ipfix-tcp"])!;
    expect(d.export).toEqual({
      host: "198.18.0.9", port: 4739, transport: "tcp", protocol: "ipfix", domainId: 1, maxMessagesPerSecond: EXPORTER_DEFAULTS.maxMessagesPerSecond,
      activeTimeoutMs: FLOW_TRACKER_DEFAULTS.activeTimeoutMs, idleTimeoutMs: FLOW_TRACKER_DEFAULTS.idleTimeoutMs,
    });
    expect(parseFlowsArgs(["-r", "x.pcap", "--ipfix", "198.18.0.9", "udp"])!.export?.port).toBe(4739);
    expect(parseFlowsArgs(["-i", "eth0"])!.export).toBeUndefined();
  });

  test("export flags without --ipfix, --top with it, and values out of range are refused with the reason", () => {
    const refused = (args: string[]) => {
      try {
        parseFlowsArgs(args);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      return "accepted";
    };
    for (const flag of [["--ipfix-tcp"], ["--netflow9"], ["--ipfix-rate", "100"], ["--domain-id", "2"], ["--active-timeout", "5"], ["--idle-timeout", "5"]]) {
      expect(refused(["-i", "eth0", ...flag])).toBe(`${flag[0]} needs --ipfix HOST[:PORT]: it shapes the flow export`);
    }
    expect(refused(["-i", "eth0", "--ipfix", "198.18.0.9", "--top", "3"])).toContain("--top cannot apply with --ipfix");
    expect(refused(["-i", "eth0", "--ipfix", "198.18.0.9", "--idle-timeout", "0"])).toContain("--idle-timeout must be a number from 0.001 to 604800");
    expect(refused(["-i", "eth0", "--ipfix", "198.18.0.9", "--active-timeout", "1e3"])).toContain("--active-timeout must be");
    expect(refused(["-i", "eth0", "--ipfix", "198.18.0.9", "--workers", "4", "--domain-id", String(0xffff_ffff - 2)])).toContain("--domain-id must be a whole number from 0 to 4294967292");
    expect(refused(["-i", "eth0", "--ipfix", "198.18.0.9", "--max-flows", String(MAX_TRACKED_FLOWS + 1)])).toContain(`--max-flows must be a whole number from 1 to ${MAX_TRACKED_FLOWS}`);
    expect(refused(["-i", "eth0", "--ipfix", "host:99999"])).toContain("the port must be 1-65535");
    // Tables a machine cannot hold are refused before anything is allocated (256 tables of 4 Mi flows: 136 GiB).
    expect(refused(["-i", "eth0", "--ipfix", "198.18.0.9", "--workers", "256", "--max-flows", String(MAX_TRACKED_FLOWS)])).toMatch(
      /^--max-flows 4194304 \(256 tables, one per worker\) needs up to 139264 MiB of flow tables, more than half of the memory available now \(MemAvailable \d+ MiB\): lower --max-flows or --workers$/,
    );
  });
});

describe.skipIf(!privileged())("flows --ipfix into nfcapd, or into nobody (namespace bench)", () => {
  let bench: Bench;
  beforeAll(() => (bench = createBench()));
  afterAll(() => bench?.destroy());

  /** `ringcap flows ARGS` run inside the bench's namespace, where 127.0.0.1 is the namespace's own. */
  function inBench(args: string[], maxMs = 30_000) {
    const child = spawn("ip", ["netns", "exec", bench.name, BUN, CLI, "flows", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const killer = setTimeout(() => child.kill("SIGKILL"), maxMs);
    return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      child.on("close", (code) => {
        clearTimeout(killer);
        resolve({ code, out, err });
      });
    });
  }

  test("nobody listening: every record is counted lost with the reason, the capture runs on, exit 0", async () => {
    const run = inBench(["-i", bench.rx, "--ipfix", "127.0.0.1:4799", "--idle-timeout", "0.5", "--seconds", "4", "--json", "udp"]);
    await Bun.sleep(1000);
    const sent = await runGen(bench, ["--count", "400", "--rate", "2000", "--flows", "8"]);
    expect(sent.sent).toBe(400);
    const r = await run;
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n").map((l) => JSON.parse(l));
    const last = lines[lines.length - 1];
    expect(last.final).toBe(true);
    expect(lines.slice(0, -1).every((l) => l.final === false)).toBe(true);
    expect({ packets: last.packets, records: last.records, sent: last.recordsSent, lost: last.recordsLost }).toEqual({ packets: 400, records: 8, sent: 0, lost: 8 });
    expect(r.err).toContain("0 records sent to 127.0.0.1:4799 (IPFIX over UDP), 8 lost (last error: ECONNREFUSED)");
    expect(r.err).toStartWith(`ringcap flows: exporting the flows of ${bench.rx} to 127.0.0.1:4799 (IPFIX over UDP) as observation domain 1; Ctrl-C to stop\n`);
  }, 40_000);

  test("30,000 flows flushed at once at the stop reach nfcapd whole: paced, no record lost, no sequence gap", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ringcap-burst-"));
    const nfcapd = spawn("ip", ["netns", "exec", bench.name, "nfcapd", "-w", dir, "-p", "4739", "-b", "127.0.0.1"], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    nfcapd.stdout!.on("data", (d) => (log += d));
    nfcapd.stderr!.on("data", (d) => (log += d));
    try {
      expect(await until(() => log.includes("Startup"), 5000)).toBe(true);
      const run = inBench(["-i", bench.rx, "--ipfix", "127.0.0.1:4739", "--seconds", "4", "--json", "udp"]);
      await Bun.sleep(1000);
      const sent = await runGen(bench, ["--count", "30000", "--rate", "30000", "--flows", "30000"]);
      expect(sent.sent).toBe(30000);
      const r = await run;
      expect(r.code).toBe(0);
      const last = JSON.parse(r.out.trimEnd().split("\n").pop()!);
      expect({ records: last.records, forced: last.recordsByReason.forcedEnd, sent: last.recordsSent, lost: last.recordsLost }).toEqual({ records: 30000, forced: 30000, sent: 30000, lost: 0 });
    } finally {
      nfcapd.kill("SIGTERM");
      await new Promise((r) => nfcapd.once("exit", r));
    }
    const files = readdirSync(dir).filter((n) => n.startsWith("nfcapd."));
    const listed = spawnSync("nfdump", ["-R", dir, "-q", "-o", "fmt:%pkt"], { encoding: "utf8", timeout: 30_000 });
    const exporters = files.flatMap((f) => spawnSync("nfdump", ["-E", join(dir, f)], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.startsWith("SysID:")));
    rmSync(dir, { recursive: true, force: true });
    expect(listed.stdout.trim().split("\n").length).toBe(30000);
    expect(exporters.length).toBe(1);
    expect(exporters[0]).toMatch(/ID:\s+1, Sequence failures: 0, packets: \d+, flows: 30000$/);
  }, 60_000);

  test("a stop takes every packet the kernel had: the last, partly filled block is read (table and export, one ring)", async () => {
    // A 1 s block timeout: the packets sent just before SIGTERM are still in a block the kernel
    // has not handed over when the run is told to stop.
    for (const mode of [["--top", "5"], ["--ipfix", "127.0.0.1:4799"]]) {
      const child = spawn("ip", ["netns", "exec", bench.name, BUN, CLI, "flows", "-i", bench.rx, ...mode, "--block-timeout", "1000", "--json", "--interval", "10", "udp"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      const closed = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
      // Capturing once it has said so (the export) or after a second (the table says nothing first).
      expect(await until(() => mode[0] === "--top" || err.includes("exporting the flows of"), 10_000)).toBe(true);
      if (mode[0] === "--top") await Bun.sleep(1000);
      const sent = await runGen(bench, ["--count", "300", "--rate", "0", "--flows", "3"]);
      expect(sent.sent).toBe(300);
      child.kill("SIGTERM");
      const code = await closed;
      clearTimeout(killer);
      expect({ mode: mode[0], code }).toEqual({ mode: mode[0], code: 0 });
      const last = JSON.parse(out.trimEnd().split("\n").pop()!);
      const counted = mode[0] === "--top" ? last.top.reduce((n: number, f: { packets: number }) => n + f.packets, 0) : last.packets;
      expect({ mode: mode[0], counted }).toEqual({ mode: mode[0], counted: 300 });
    }
  }, 60_000);

  test("a collector name that does not resolve is a usage error before anything opens (exit 2)", async () => {
    const r = await inBench(["-i", bench.rx, "--ipfix", "collector.invalid:4739", "--seconds", "5"]);
    expect({ code: r.code, out: r.out }).toEqual({ code: 2, out: "" });
    expect(r.err).toContain("--ipfix collector.invalid: the collector's name does not resolve");
  }, 40_000);
});

// mod.ts runs unchanged under Deno: captures and fanout pools (Deno Workers) on the namespace bench.
// Run by test/run-all.sh as: deno test --allow-all --no-check --no-lock test/deno/*.deno.ts
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { type FanoutPool, Generator, openCapture, openFanout, RingcapError } from "../../mod.ts";
import { createBench } from "../../testing.ts";
import type { SeqReport } from "../_fanout_handlers/seq.ts";

const BUN = new URL("../../.tools/node_modules/.bin/bun", import.meta.url).pathname;
const CLI = new URL("../../src/cli/main.ts", import.meta.url).pathname;

Deno.test("Deno: 100,000 sequence-numbered frames are each captured exactly once", async () => {
  using bench = createBench();
  using cap = openCapture(bench.rx, { netns: bench.name });
  const count = 100_000;
  const seen = new Uint8Array(count);
  let unique = 0;
  let duplicates = 0;
  const child = spawn(BUN, [CLI, "gen", "-i", bench.tx, "--netns", bench.name, "--count", String(count), "--rate", "100000", "--json"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  const stop = new AbortController();
  exited.then(() => setTimeout(() => stop.abort(), 300));
  const view = cap.view;
  for await (const block of cap.blocks({ signal: stop.signal })) {
    const c = block.cursor();
    while (c.next()) {
      if (c.caplen < 54 || view.getUint32(c.offset + 42) !== 0x52434150) continue;
      const seq = Number(view.getBigUint64(c.offset + 46));
      if (seen[seq]) duplicates++;
      else {
        seen[seq] = 1;
        unique++;
      }
    }
  }
  assertEquals(await exited, 0);
  assertEquals({ unique, duplicates, drops: cap.stats().drops }, { unique: count, duplicates: 0, drops: 0 });
});

Deno.test("Deno: immediate mode hands a lone frame over without the block timeout, and a burst exactly once", async () => {
  using bench = createBench();
  // A 2 s block timeout: a frame that comes within 500 ms came without it.
  using cap = openCapture(bench.rx, { netns: bench.name, immediate: true, ring: { blockSize: 1 << 16, blockCount: 16, blockTimeoutMs: 2000 } });
  assertEquals(cap.info.immediate, true);
  using gen = new Generator(bench.tx, { netns: bench.name });
  assertEquals(gen.send(1).sent, 1);
  const block = cap.nextBlock(500);
  assert(block !== null, "the frame came within 500 ms");
  assertEquals(block!.packetCount, 1);
  block!.release();
  assertEquals(gen.send(300).sent, 300);
  const seen = new Set<number>();
  let frames = 0;
  for await (const b of cap.blocks({ signal: AbortSignal.timeout(1000) })) {
    for (const p of b) {
      frames++;
      seen.add(Number(cap.view.getBigUint64(p.offset + 46)));
    }
    if (frames >= 300) break;
  }
  assertEquals({ frames, unique: seen.size, received: cap.stats().received }, { frames: 300, unique: 300, received: 301 });
});

Deno.test("Deno: the generator, decoders and errors work through the same mod.ts", () => {
  using bench = createBench();
  using cap = openCapture(bench.rx, { netns: bench.name, ring: { blockSize: 1 << 16, blockCount: 4 } });
  using gen = new Generator(bench.tx, { netns: bench.name, tcp: true, dstPort: 443 });
  assertEquals(gen.send(3).sent, 3);
  const block = cap.nextBlock(1000);
  const ports: number[] = [];
  for (const p of block!) ports.push(p.decode().dstPort);
  assertEquals(ports, [443, 443, 443]);
  let code = "";
  try {
    openCapture("nosuch0", { netns: bench.name });
  } catch (e) {
    code = (e as RingcapError).code;
  }
  assertEquals(code, "no_such_interface");
});

const handler = (name: string) => new URL(`../_fanout_handlers/${name}.ts`, import.meta.url);
// 16 MiB per worker: plenty at 100k pps.
const ring = { blockSize: 1 << 20, blockCount: 16, frameSize: 2048, blockTimeoutMs: 10 };

/**
 * Threads that run a Worker (Deno names them "worker-N"). The runtime keeps pool threads of its
 * own that come and go with other work: those are not a fanout pool's.
 */
function workerThreads(): number {
  let n = 0;
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      if (/^worker-\d+$/.test(readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim())) n++;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return n;
}

/** What a pool could leave behind: descriptors, packet sockets and their mappings, Worker threads. */
function resources() {
  const fds = readdirSync("/proc/self/fd");
  let sockets = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")) sockets++;
    } catch {
      // The descriptor readdir itself used is gone already.
    }
  }
  const maps = readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.includes("socket:[")).length;
  return { fds: fds.length, sockets, maps, tasks: workerThreads() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(cond: () => boolean, maxMs: number, stepMs = 20): Promise<boolean> {
  const end = performance.now() + maxMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(stepMs);
  }
  return true;
}

function popcount8(b: number): number {
  b = b - ((b >> 1) & 0x55);
  b = (b & 0x33) + ((b >> 2) & 0x33);
  return (b + (b >> 4)) & 0x0f;
}

Deno.test("Deno: a 2-worker hash pool sees 100,000 frames each exactly once, and close() wakes the workers and leaves nothing behind", async () => {
  using bench = createBench();
  const options = { netns: bench.name, ring, workers: 2, mode: "hash" as const };
  // A first pool warms the runtime up: Deno keeps a helper thread after its first worker.
  await (await openFanout(bench.rx, { ...options, worker: handler("count") })).close();
  const before = resources();

  const count = 100_000;
  const flows = 64;
  const t0 = performance.now();
  // Workers block in nextBlock for up to a report interval: a close() much faster than that
  // shows that the waker ended their waits.
  const pool: FanoutPool<SeqReport> = await openFanout<{ count: number }, SeqReport>(bench.rx, {
    ...options,
    worker: handler("seq"),
    workerData: { count },
    reportIntervalMs: 1000,
  });
  const startMs = performance.now() - t0;
  const during = resources();
  assertEquals({ sockets: during.sockets - before.sockets >= 2, maps: during.maps - before.maps }, { sockets: true, maps: 2 });
  const finals: SeqReport[] = [];
  pool.on("report", (r) => {
    if (r.final) finals[r.workerIndex] = r.data!;
  });

  // Traffic starts only now that every worker is in the group.
  {
    using gen = new Generator(bench.tx, { netns: bench.name, rate: 100_000, flows });
    assertEquals(gen.send(count, { maxMs: 20_000 }).sent, count);
  }
  assert(await until(() => pool.stats().total.packets >= count, 5000), `pool saw ${pool.stats().total.packets} of ${count}`);
  const t1 = performance.now();
  const closing = pool.close();
  assert(pool.close() === closing);
  await closing;
  const closeMs = performance.now() - t1;
  await pool.done;

  const { total, perWorker } = pool.stats();
  assertEquals(perWorker.map((w) => w.state), ["closed", "closed"]);
  assertEquals({ received: total.received, drops: total.drops, packets: total.packets, bytes: total.bytes }, {
    received: count,
    drops: 0,
    packets: count,
    bytes: count * 60,
  });
  assertEquals(perWorker[0].packets + perWorker[1].packets, count);
  assertEquals(finals.length, 2);
  for (const f of finals) assertEquals([f.duplicates, f.foreign, f.outOfRange], [0, 0, 0]);
  // None missing, none twice: the bitmaps cover every sequence number and do not overlap.
  let covered = 0;
  let overlap = 0;
  const [a, b] = finals.map((f) => f.bitmap!);
  for (let i = 0; i < a.length; i++) {
    covered += popcount8(a[i] | b[i]);
    overlap += popcount8(a[i] & b[i]);
  }
  assertEquals({ covered, overlap }, { covered: count, overlap: 0 });
  assertEquals(perWorker.map((w) => w.packets), finals.map((f) => f.unique));
  // Hash mode: each flow on one worker only, and both workers got some.
  assertEquals(finals[0].flows!.filter((f) => finals[1].flows!.includes(f)), []);
  assertEquals(finals[0].flows!.length + finals[1].flows!.length, flows);
  assert(finals.every((f) => f.unique > 0), `uneven: ${finals.map((f) => f.unique)}`);

  // Worker threads are gone when close() resolves; descriptors and mappings too.
  const after = resources();
  console.log(
    `Deno pool: start ${startMs.toFixed(0)} ms, close ${closeMs.toFixed(0)} ms, per worker ${perWorker.map((w) => w.packets).join(" / ")}; ` +
      `fds/sockets/maps/tasks ${JSON.stringify(before)} -> ${JSON.stringify(during)} -> ${JSON.stringify(after)}`,
  );
  assert(closeMs < 500, `close took ${closeMs.toFixed(0)} ms: the waker did not end the workers' waits`);
  assertEquals(during.tasks - before.tasks, 2, "the pool runs one Worker thread per member");
  for (const k of ["fds", "sockets", "maps", "tasks"] as const) assert(after[k] <= before[k], `${k}: ${before[k]} -> ${after[k]}`);
});

Deno.test("Deno: a worker whose handler throws ends the pool with its error and leaves no socket behind", async () => {
  using bench = createBench();
  const before = resources();
  const pool = await openFanout(bench.rx, {
    netns: bench.name,
    ring,
    workers: 2,
    mode: "lb",
    worker: handler("throws"),
    workerData: { failIndex: 1 },
    reportIntervalMs: 100,
  });
  {
    using gen = new Generator(bench.tx, { netns: bench.name, rate: 100_000 });
    gen.send(100);
  }
  let err: RingcapError | null = null;
  const timeout = sleep(5000).then(() => "timed out");
  const outcome = await Promise.race([pool.done.then(() => "resolved", (e) => (err = e as RingcapError, "rejected")), timeout]);
  assertEquals(outcome, "rejected");
  assertEquals(err!.code, "worker_failed");
  assertEquals((err!.cause as Error).message, "handler of worker 1 refuses its first block");
  assertEquals(pool.stats().perWorker.map((w) => w.state), ["closed", "failed"]);
  await pool.close().catch(() => {});
  const after = resources();
  for (const k of ["fds", "sockets", "maps"] as const) assert(after[k] <= before[k], `${k}: ${before[k]} -> ${after[k]}`);
});

Deno.test("Deno: a worker that does not start in time is ended, and the capture it had opened is closed", async () => {
  using bench = createBench();
  const before = resources();
  const t0 = performance.now();
  let err: RingcapError | null = null;
  try {
    await openFanout(bench.rx, { netns: bench.name, ring, workers: 1, worker: handler("slow_start"), startTimeoutMs: 300 });
  } catch (e) {
    err = e as RingcapError;
  }
  const ms = performance.now() - t0;
  assertEquals(err?.code, "worker_failed");
  assert(err!.message.includes("did not start within 300 ms"), err!.message);
  assert(ms < 2000, `took ${ms.toFixed(0)} ms`);
  const after = resources();
  for (const k of ["sockets", "maps"] as const) assert(after[k] <= before[k], `${k}: ${before[k]} -> ${after[k]}`);
});

Deno.test("Deno: handleSignals closes the pool on SIGINT, and the process then exits by itself", async () => {
  using bench = createBench();
  const script = new URL("./_sigint_pool.ts", import.meta.url).pathname;
  // Deno.Command, not node:child_process: Deno's spawn() reports a child it sent SIGINT to as
  // killed by it even when the child handled the signal and exited 0.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", "--no-lock", script, bench.rx, bench.name],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let out = "";
  const reading = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write: (t) => void (out += t) }));
  try {
    assert(await until(() => out.includes("ready"), 10_000), `no pool: ${out}`);
    child.kill("SIGINT");
    const status = await Promise.race([child.status, sleep(5000).then(() => null)]);
    await reading;
    assertEquals({ code: status?.code, signal: status?.signal, out: out.trim().split("\n") }, {
      code: 0,
      signal: null,
      out: ["ready", "closed closed,closed"],
    });
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // It has exited already.
    }
    await child.status;
  }
});

Deno.test("Deno: the README's Deno example (readme_snippet.ts) runs with only the permissions the README names", async () => {
  using bench = createBench({ rx: "eth0", tx: "gen0" });
  const here = (f: string) => new URL(f, import.meta.url).pathname;
  // As the README says: "ringcap" mapped to mod.ts, and --allow-ffi --allow-read --allow-env=RINGCAP_LIB.
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", bench.name, Deno.execPath(), "run", "--no-lock", "--no-prompt", "--allow-ffi", "--allow-read",
      "--allow-env=RINGCAP_LIB", "--import-map", here("./import_map.json"), here("./readme_snippet.ts")],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let exited = false;
  output.finally(() => (exited = true));
  using gen = new Generator(bench.tx, { netns: bench.name, flows: 4 });
  // The example reads until 1000 packets or 5 s: send in slices until it has ended.
  for (let i = 0; i < 70 && !exited; i++) {
    gen.send(50);
    await sleep(100);
  }
  const r = await output;
  const out = new TextDecoder().decode(r.stdout);
  assertEquals({ code: r.code, stderr: new TextDecoder().decode(r.stderr) }, { code: 0, stderr: "" });
  const m = /^(\d+) packets/.exec(out);
  assert(m && Number(m[1]) >= 1000, out);
});

Deno.test("Deno: blocks() ends with network_down when the interface is set down or deleted, after every frame sent before", async () => {
  for (const how of ["set down", "deleted"]) {
    using bench = createBench();
    const cap = openCapture(bench.rx, { netns: bench.name, ring: { blockSize: 1 << 16, blockCount: 4 } });
    using gen = new Generator(bench.tx, { netns: bench.name });
    let seen = 0;
    let code = "";
    setTimeout(() => {
      gen.send(5);
      if (how === "deleted") bench.ip("link", "del", bench.rx);
      else bench.ip("link", "set", "dev", bench.rx, "down");
    }, 30);
    try {
      // Bounded: if the capture never noticed, the loop would end here without an error.
      for await (const block of cap.blocks({ signal: AbortSignal.timeout(10_000) })) seen += block.packetCount;
    } catch (e) {
      code = (e as RingcapError).code;
    }
    assertEquals({ how, code, seen }, { how, code: "network_down", seen: 5 });
    cap.close();
  }
});

Deno.test("Deno: without the permissions it needs, ringcap says which flags to pass (a RingcapError, not Deno's NotCapable)", async () => {
  const mod = new URL("../../mod.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(script, `
      import { compileFilter, openCapture } from "${mod}";
      const what = Deno.args[0];
      try {
        if (what === "filter") compileFilter("udp");
        else openCapture("lo");
        console.log(JSON.stringify({ opened: true }));
      } catch (e) {
        console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message }));
      }`);
    const cases: [string[], string][] = [
      [[], "capture"],
      [["--allow-env"], "capture"],
      [["--allow-read", "--allow-env"], "capture"],
      [["--allow-read", "--allow-env"], "filter"],
    ];
    for (const [flags, what] of cases) {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-lock", "--no-prompt", "--no-check", ...flags, script, what],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(r.stdout).trim().split("\n").pop() ?? "";
      const result = JSON.parse(out || "{}");
      assertEquals({ flags, what, name: result.name, code: result.code }, { flags, what, name: "PermissionError", code: "permission_denied" });
      assert(result.message.includes("--allow-ffi"), result.message);
    }
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("Deno: blocks() waits on its watcher thread without waking, a frame wakes it, close() ends the wait at once and leaves no thread", async () => {
  using bench = createBench();
  using gen = new Generator(bench.tx, { netns: bench.name });
  const cap = openCapture(bench.rx, { netns: bench.name, ring: { blockSize: 1 << 16, blockCount: 4, blockTimeoutMs: 10 } });
  const watchers = () =>
    readdirSync("/proc/self/task").filter((tid) => {
      try {
        return readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() === "ringcap-watch";
      } catch {
        return false;
      }
    });
  const switches = (tid: string) => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${tid}/status`, "utf8"))![1]);
  let got = 0;
  let endedAt = 0;
  const loop = (async () => {
    for await (const block of cap.blocks()) got += block.packetCount;
    endedAt = performance.now();
  })();
  await new Promise((r) => setTimeout(r, 100));
  const [tid] = watchers();
  assert(tid, "a watcher thread runs while the loop waits");
  const before = switches(tid);
  await new Promise((r) => setTimeout(r, 300));
  const idleSwitches = switches(tid) - before;
  gen.send(2);
  for (let i = 0; i < 100 && got < 2; i++) await new Promise((r) => setTimeout(r, 10));
  const closedAt = performance.now();
  cap.close();
  await loop;
  assertEquals({ idleSwitches, got, watchers: watchers().length }, { idleSwitches: 0, got: 2, watchers: 0 });
  assert(endedAt - closedAt < 200, `the loop ended ${endedAt - closedAt} ms after close()`);
});

Deno.test('Deno: openCapture("any") gives LINUX_SLL2 frames naming their interface and direction', () => {
  using bench = createBench();
  using cap = openCapture("any", { netns: bench.name, filter: "udp", ring: { blockSize: 1 << 16, blockCount: 4, blockTimeoutMs: 5 } });
  using gen = new Generator(bench.tx, { netns: bench.name });
  assertEquals(gen.send(2).sent, 2);
  const seen: string[] = [];
  const end = Date.now() + 3000;
  while (seen.length < 4 && Date.now() < end) {
    const block = cap.nextBlock(50);
    if (block) for (const p of block) seen.push(`${p.interfaceName} ${p.packetType === 4 ? "out" : "in"} ${cap.view.getUint16(p.offset)}`);
  }
  assertEquals(seen.sort(), [`${bench.rx} in 2048`, `${bench.rx} in 2048`, `${bench.tx} out 2048`, `${bench.tx} out 2048`]);
});

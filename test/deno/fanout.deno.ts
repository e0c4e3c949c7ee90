// Fanout pools under Deno (Deno Workers) when a handler or the interface misbehaves: ring memory
// sent by transfer, a handler that never returns, the interface going down or away.
// Run by test/run-all.sh as: deno test --allow-all --no-check --no-lock test/deno/*.deno.ts
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { openFanout, RingcapError } from "../../mod.ts";
import { type Bench, createBench } from "../../testing.ts";

const BUN = new URL("../../.tools/node_modules/.bin/bun", import.meta.url).pathname;
const CLI = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const handler = (name: string) => new URL(`../_fanout_handlers/${name}.ts`, import.meta.url);
const ring = { blockSize: 1 << 16, blockCount: 4, frameSize: 2048, blockTimeoutMs: 10 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `ringcap gen` in a process of its own, with these flags; resolves to its exit code. */
async function gen(bench: Bench, args: string[]): Promise<number> {
  const child = new Deno.Command(BUN, {
    args: [CLI, "gen", "-i", bench.tx, "--netns", bench.name, "--json", ...args],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return (await child.status).code;
}

Deno.test("Deno: a handler that transfers ring memory gets ring_memory_transfer, and the process lives on", async () => {
  using bench = createBench();
  const script = new URL("../_ring_transfer_pool.ts", import.meta.url).pathname;
  const run = async (how: string) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-check", "--no-lock", script, bench.rx, bench.tx, bench.name, how],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const limit = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const r = await child.output();
    clearTimeout(limit);
    const stderr = new TextDecoder().decode(r.stderr);
    assertEquals({ how, code: r.code, signal: r.signal, stderr }, { how, code: 0, signal: null, stderr: "" });
    return JSON.parse(new TextDecoder().decode(r.stdout).trim().split("\n").pop()!);
  };
  for (const how of ["post", "view", "global"]) {
    const r = await run(how);
    assertEquals({ how, outcome: r.outcome, code: r.code, causeCode: r.causeCode, received: r.received }, {
      how,
      outcome: "rejected",
      code: "worker_failed",
      causeCode: "ring_memory_transfer",
      received: 0,
    });
    assert(r.message.includes("copy() what you send"), r.message);
  }
  const clone = await run("clone");
  assertEquals({ outcome: clone.outcome, received: clone.received }, { outcome: "resolved", received: 1 });
  assert(clone.sum > 0);
});

Deno.test("Deno: a worker that does not return from onBlock is reported as such by close()", async () => {
  using bench = createBench();
  // A loop of 3 s, not a wait: Deno's terminate() interrupts neither, so close() reports the
  // thread as still running; the loop's end lets it go before the test ends.
  const pool = await openFanout(bench.rx, {
    netns: bench.name,
    ring,
    workers: 2,
    mode: "lb",
    worker: handler("stuck"),
    workerData: { stuckIndex: 1, ms: 3000, spin: true },
    reportIntervalMs: 100,
    closeTimeoutMs: 300,
  });
  assertEquals(await gen(bench, ["--count", "100", "--rate", "10000"]), 0);
  for (let i = 0; i < 100 && pool.stats().perWorker[0].packets === 0; i++) await sleep(30);
  await sleep(100);
  let err: RingcapError | null = null;
  await pool.close().catch((e) => (err = e as RingcapError));
  assert(err !== null && (err as RingcapError) instanceof RingcapError, String(err));
  const e = err as RingcapError;
  assertEquals(e.code, "worker_failed");
  assert(e.message.startsWith("fanout worker 1 did not return from onBlock within closeTimeoutMs (300 ms) of close()"), e.message);
  // The thread ends when its loop does; the member then ends too (bounded).
  for (let i = 0; i < 200 && pool.stats().perWorker[1].state === "stopping"; i++) await sleep(50);
  assertEquals(pool.stats().perWorker.map((w) => w.state), ["closed", "failed"]);
});

for (const [what, cut] of [
  ["set down", (b: Bench) => b.ip("link", "set", "dev", b.rx, "down")],
  ["deleted", (b: Bench) => b.ip("link", "del", b.rx)],
] as const) {
  Deno.test(`Deno: the interface ${what} ends the pool with network_down, and nothing hangs`, async () => {
    using bench = createBench();
    const pool = await openFanout(bench.rx, { netns: bench.name, ring, workers: 2, mode: "lb", worker: handler("count"), reportIntervalMs: 5000 });
    const sending = gen(bench, ["--count", "20000", "--rate", "20000"]);
    await sleep(200);
    cut(bench);
    let err: RingcapError | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      pool.done.then(() => "resolved", (e) => ((err = e as RingcapError), "rejected")),
      new Promise((resolve) => (timer = setTimeout(resolve, 5000, "still running after 5 s"))),
    ]);
    clearTimeout(timer);
    if (outcome !== "rejected") await pool.close().catch(() => {});
    await sending;
    assertEquals(outcome, "rejected");
    const e = err as unknown as RingcapError;
    assertEquals(e.code, "worker_failed");
    assert(e.cause instanceof RingcapError, String(e.cause));
    assertEquals((e.cause as RingcapError).code, "network_down");
  });
}

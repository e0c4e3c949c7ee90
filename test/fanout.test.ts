// Fanout pools against the real kernel, inside a namespace of the test's own (see _netns.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { FANOUT_DEFAULTS, type FanoutPoolOptions, type FanoutReport, openFanout } from "../src/fanout/pool.ts";
import { poolSettings } from "../src/fanout/settings.ts";
import { RingcapError } from "../src/errors.ts";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { BUN, runGen } from "./_traffic.ts";
import type { SeqReport } from "./_fanout_handlers/seq.ts";

const canCapture = privileged();
const handler = (name: string) => new URL(`./_fanout_handlers/${name}.ts`, import.meta.url);
// 16 MiB per worker: plenty at 200k pps, and four workers stay cheap.
const ring = { blockSize: 1 << 20, blockCount: 16, frameSize: 2048, blockTimeoutMs: 10 };

/**
 * Threads that run a Worker (Bun names them "Worker"). The runtime starts threads of its own
 * lazily (JIT, heap helpers, the allocator's scavenger) and keeps them: those are not a pool's.
 */
function workerThreads(): number {
  let n = 0;
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() === "Worker") n++;
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

async function until(cond: () => boolean, maxMs: number, stepMs = 20): Promise<boolean> {
  const end = performance.now() + maxMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await Bun.sleep(stepMs);
  }
  return true;
}

/** Waits (a little) for the resources to settle back: threads end shortly after their close event. */
async function settled(before: ReturnType<typeof resources>, keys: readonly (keyof ReturnType<typeof resources>)[] = ["fds", "maps", "tasks"]): Promise<ReturnType<typeof resources>> {
  let now = resources();
  await until(() => {
    now = resources();
    return keys.every((k) => now[k] <= before[k]);
  }, 2000, 50);
  return now;
}

function popcount8(b: number): number {
  b = b - ((b >> 1) & 0x55);
  b = (b & 0x33) + ((b >> 2) & 0x33);
  return (b + (b >> 4)) & 0x0f;
}

describe("fanout pool options", () => {
  const worker = "file:///handler.ts";
  const code = (o: Partial<FanoutPoolOptions>, iface = "eth0") => {
    try {
      poolSettings(iface, { worker, ...o });
      return "accepted";
    } catch (e) {
      return (e as RingcapError).code;
    }
  };

  test("left out, an option comes to its FANOUT_DEFAULTS value", () => {
    const s = poolSettings("eth0", { worker });
    expect(s).toMatchObject({
      handlerUrl: worker,
      mode: FANOUT_DEFAULTS.mode,
      groupId: undefined,
      reportIntervalMs: FANOUT_DEFAULTS.reportIntervalMs,
      restart: FANOUT_DEFAULTS.restart,
      maxRestarts: FANOUT_DEFAULTS.maxRestarts,
      handleSignals: FANOUT_DEFAULTS.handleSignals,
      startTimeoutMs: FANOUT_DEFAULTS.startTimeoutMs,
      closeTimeoutMs: FANOUT_DEFAULTS.closeTimeoutMs,
    });
    expect(FANOUT_DEFAULTS).toMatchObject({ mode: "hash", reportIntervalMs: 1000, maxRestarts: 5, startTimeoutMs: 15_000, closeTimeoutMs: 5_000 });
    expect(s.workers).toBe(Math.min(availableParallelism(), FANOUT_DEFAULTS.maxWorkers));
    expect(poolSettings("eth0", { worker, groupId: 7, mode: "lb", workers: 3 })).toMatchObject({ groupId: 7, mode: "lb", workers: 3 });
  });

  test("bad options are refused before any worker starts, with the code of what is wrong", () => {
    expect(code({ worker: undefined as unknown as string })).toBe("invalid_argument");
    expect(code({}, "")).toBe("interface_name_invalid");
    expect(code({}, "a-name-far-too-long")).toBe("interface_name_invalid");
    expect(code({ workers: 0 })).toBe("invalid_argument");
    expect(code({ workers: FANOUT_DEFAULTS.maxWorkers + 1 })).toBe("invalid_argument");
    expect(code({ workers: 1.5 })).toBe("invalid_argument");
    expect(code({ reportIntervalMs: 0 })).toBe("invalid_argument");
    expect(code({ maxRestarts: -1 })).toBe("invalid_argument");
    expect(code({ startTimeoutMs: 0 })).toBe("invalid_argument");
    expect(code({ closeTimeoutMs: Infinity })).toBe("invalid_argument");
    expect(code({ closeTimeoutMs: 0 })).toBe("accepted");
    expect(code({ mode: "bogus" as "hash" })).toBe("fanout_invalid");
    expect(code({ groupId: 70000 })).toBe("fanout_invalid");
    expect(code({ groupId: 1, uniqueId: true })).toBe("fanout_invalid");
    expect(code({ uniqueId: false })).toBe("fanout_invalid");
    expect(code({ mode: "cbpf" })).toBe("fanout_invalid");
    expect(code({ mode: "ebpf" })).toBe("fanout_invalid");
  });
});

describe.skipIf(!canCapture)("fanout pools on the namespace bench", () => {
  let bench: Bench;
  beforeAll(() => {
    bench = createBench();
  });
  afterAll(() => bench?.destroy());

  const options = <D, R>(o: Partial<FanoutPoolOptions<D, R>>): FanoutPoolOptions<D, R> =>
    ({ netns: bench.name, ring, reportIntervalMs: 100, worker: handler("count"), ...o }) as FanoutPoolOptions<D, R>;

  test("hash mode: 1,000,000 frames over 2 workers are each seen exactly once, every flow on exactly one worker", async () => {
    const count = 1_000_000;
    const flows = 256;
    const t0 = performance.now();
    const pool = await openFanout<{ count: number }, SeqReport>(bench.rx, {
      netns: bench.name,
      workers: 2,
      mode: "hash",
      worker: handler("seq"),
      workerData: { count },
      reportIntervalMs: 200,
    });
    const startMs = performance.now() - t0;
    const finals: SeqReport[] = [];
    pool.on("report", (r) => {
      if (r.final) finals[r.workerIndex] = r.data!;
    });
    const txDroppedBefore = bench.counter(bench.tx, "tx_dropped");
    const sent = await runGen(bench, ["--count", String(count), "--rate", "200000", "--flows", String(flows), "--max-seconds", "60"]);
    expect(sent.sent).toBe(count);
    // Reports come every 200 ms; wait until they account for every frame (or give up).
    await until(() => pool.stats().total.packets >= count, 5000);
    await pool.close();
    const stats = pool.stats();
    console.log(
      `1M over 2 workers: pool start ${startMs.toFixed(0)} ms, total ${((performance.now() - t0) / 1000).toFixed(2)} s, ` +
        `per worker ${stats.perWorker.map((w) => w.packets).join(" / ")} frames, ` +
        `${finals.map((f) => f.flows!.length).join(" / ")} flows`,
    );

    expect(bench.counter(bench.tx, "tx_dropped") - txDroppedBefore).toBe(0);
    expect(stats.total).toMatchObject({ received: count, drops: 0, packets: count, bytes: count * 60 });
    expect(finals.length).toBe(2);
    for (const f of finals) expect({ duplicates: f.duplicates, foreign: f.foreign, outOfRange: f.outOfRange }).toEqual({ duplicates: 0, foreign: 0, outOfRange: 0 });
    // None missing, none twice: the bitmaps cover every sequence number and do not overlap.
    let covered = 0;
    let overlap = 0;
    const [a, b] = finals.map((f) => f.bitmap!);
    for (let i = 0; i < a.length; i++) {
      covered += popcount8(a[i] | b[i]);
      overlap += popcount8(a[i] & b[i]);
    }
    expect({ covered, overlap }).toEqual({ covered: count, overlap: 0 });
    expect(finals[0].unique + finals[1].unique).toBe(count);
    expect(stats.perWorker.map((w) => w.packets)).toEqual(finals.map((f) => f.unique));
    // Every flow landed on exactly one worker, and both workers got some.
    const owner = new Map<number, number>();
    finals.forEach((f, worker) => {
      for (const flow of f.flows!) {
        expect(owner.has(flow)).toBe(false);
        owner.set(flow, worker);
      }
    });
    expect(owner.size).toBe(flows);
    for (const f of finals) expect(f.flows!.length).toBeGreaterThan(0);
  }, 60_000);

  test("lb mode spreads frames evenly over 1, 2 and 4 workers, and none is lost", async () => {
    const count = 100_000;
    for (const workers of [1, 2, 4]) {
      const pool = await openFanout<{ count: number }, SeqReport>(bench.rx, options({ workers, mode: "lb", worker: handler("seq"), workerData: { count } }));
      expect(pool.info.every((i) => i?.fanoutGroupId === pool.groupId)).toBe(true);
      const sent = await runGen(bench, ["--count", String(count), "--rate", "200000", "--flows", "16"]);
      expect(sent.sent).toBe(count);
      await until(() => pool.stats().total.packets >= count, 3000);
      await pool.close();
      const { total, perWorker } = pool.stats();
      console.log(`lb over ${workers}: ${perWorker.map((w) => w.packets).join(" / ")}`);
      expect(total).toMatchObject({ received: count, drops: 0, packets: count });
      const share = count / workers;
      for (const w of perWorker) {
        expect(w.packets).toBeGreaterThanOrEqual(share * 0.9);
        expect(w.packets).toBeLessThanOrEqual(share * 1.1);
      }
      const finals = pool.result() as SeqReport[];
      expect(finals.reduce((n, f) => n + f.unique, 0)).toBe(count);
      expect(finals.every((f) => f.duplicates === 0)).toBe(true);
    }
  }, 30_000);

  test("a pool's workers share one kernel-chosen group; a second pool gets its own and sees every frame too", async () => {
    await using a = await openFanout(bench.rx, options({ workers: 2 }));
    await using b = await openFanout(bench.rx, options({ workers: 2 }));
    expect(a.groupId).toBeGreaterThanOrEqual(0);
    expect(b.groupId).not.toBe(a.groupId);
    expect(a.info.map((i) => i!.fanoutGroupId)).toEqual([a.groupId, a.groupId]);
    expect(b.info.map((i) => i!.fanoutGroupId)).toEqual([b.groupId, b.groupId]);
    await runGen(bench, ["--count", "10000", "--rate", "100000", "--flows", "64"]);
    expect(await until(() => a.stats().total.packets === 10_000 && b.stats().total.packets === 10_000, 3000)).toBe(true);
  });

  test("a given groupId is used, and joining it with other settings fails with fanout_group_busy", async () => {
    await using a = await openFanout(bench.rx, options({ workers: 2, groupId: 4242, mode: "hash" }));
    expect(a.groupId).toBe(4242);
    const before = resources();
    let err: RingcapError | null = null;
    try {
      await openFanout(bench.rx, options({ workers: 2, groupId: 4242, mode: "lb" }));
    } catch (e) {
      err = e as RingcapError;
    }
    expect(err).toBeInstanceOf(RingcapError);
    expect(err!.code).toBe("fanout_group_busy");
    expect(err!.message).toMatch(/fanout worker 0.*another socket uses this fanout group id/);
    const after = await settled(before, ["fds", "maps"]);
    for (const k of ["fds", "maps"] as const) expect(after[k]).toBeLessThanOrEqual(before[k]);
  });

  test("close() during traffic leaves no socket, mapping, worker or thread behind, and is idempotent", async () => {
    // A first pool warms the runtime up: Bun keeps a few helper threads after its first workers.
    await (await openFanout(bench.rx, options({ workers: 2 }))).close();
    const before = resources();
    const pool = await openFanout(bench.rx, options({ workers: 2, mode: "lb" }));
    const during = resources();
    expect(during.sockets - before.sockets).toBeGreaterThanOrEqual(2);
    expect(during.maps - before.maps).toBe(2);
    expect(during.tasks - before.tasks).toBeGreaterThanOrEqual(2);
    const gen = runGen(bench, ["--count", "400000", "--rate", "200000", "--flows", "64"]);
    expect(await until(() => pool.stats().total.packets > 20_000, 3000)).toBe(true);
    const t0 = performance.now();
    const closing = pool.close();
    expect(pool.close()).toBe(closing);
    await closing;
    const closeMs = performance.now() - t0;
    await pool.close();
    await pool.done;
    expect(pool.stats().perWorker.map((w) => w.state)).toEqual(["closed", "closed"]);
    expect(pool.stats().total.packets).toBeLessThan(400_000);
    await gen;
    const after = await settled(before);
    console.log(`close during traffic: ${closeMs.toFixed(0)} ms; fds/maps/tasks ${JSON.stringify(before)} -> ${JSON.stringify(during)} -> ${JSON.stringify(after)}`);
    expect(closeMs).toBeLessThan(1000);
    for (const k of ["fds", "sockets", "maps", "tasks"] as const) expect(after[k]).toBeLessThanOrEqual(before[k]);
  }, 20_000);

  test("a worker that throws ends the pool with its error", async () => {
    const before = resources();
    const pool = await openFanout(bench.rx, options({ workers: 2, mode: "lb", worker: handler("throws"), workerData: { failIndex: 1 } }));
    const events: RingcapError[] = [];
    pool.on("error", (e) => events.push(e));
    await runGen(bench, ["--count", "1000", "--rate", "100000"]);
    let err: RingcapError | null = null;
    try {
      await pool.done;
    } catch (e) {
      err = e as RingcapError;
    }
    expect(err).toBeInstanceOf(RingcapError);
    expect(err!.code).toBe("worker_failed");
    expect(err!.message).toContain("fanout worker 1 failed");
    expect((err!.cause as Error).message).toBe("handler of worker 1 refuses its first block");
    expect(events).toEqual([err!]);
    expect(pool.close()).rejects.toBe(err!);
    expect(pool.stats().perWorker.map((w) => w.state)).toEqual(["closed", "failed"]);
    const after = await settled(before, ["fds", "maps", "sockets"]);
    // At most as many as before (descriptors of the runtime's own may have closed meanwhile).
    for (const k of ["fds", "maps", "sockets"] as const) expect(after[k]).toBeLessThanOrEqual(before[k]);
  });

  test("restart: true replaces a failed worker, which rejoins the group, and counts the restart", async () => {
    await using pool = await openFanout(bench.rx, options({
      workers: 2,
      mode: "lb",
      worker: handler("throws"),
      workerData: { failIndex: 0, once: true },
      restart: true,
    }));
    const restarts: number[] = [];
    pool.on("restart", (r) => restarts.push(r.workerIndex));
    await runGen(bench, ["--count", "2000", "--rate", "100000"]);
    expect(await until(() => pool.stats().perWorker[0].state === "running" && restarts.length === 1, 5000)).toBe(true);
    // Frames still in the failed worker's ring went with it. Let three report intervals pass so
    // that the counters below start from settled numbers.
    await Bun.sleep(300);
    const first = pool.stats();
    await runGen(bench, ["--count", "2000", "--rate", "100000"]);
    expect(await until(() => pool.stats().total.packets === first.total.packets + 2000, 3000)).toBe(true);
    const w0 = pool.stats().perWorker[0];
    expect([w0.restarts, w0.state]).toEqual([1, "running"]);
    // lb is round robin over the members: the restarted worker gets its half again.
    expect(w0.packets - first.perWorker[0].packets).toBe(1000);
    expect(pool.info[0]!.fanoutGroupId).toBe(pool.groupId);
    await pool.close();
    const { total } = pool.stats();
    expect(total.drops).toBe(0);
    expect(total.received).toBeGreaterThanOrEqual(total.packets);
    expect(total.packets).toBeGreaterThan(3000);
  });

  test("reports() yields periodic and final reports, and merge combines the handlers' results", async () => {
    const pool = await openFanout<unknown, { packets: number }>(bench.rx, options({
      workers: 2,
      mode: "lb",
      reportIntervalMs: 50,
      merge: (a, b) => ({ packets: a.packets + b.packets }),
    }));
    const seen: FanoutReport<{ packets: number }>[] = [];
    const reading = (async () => {
      for await (const r of pool.reports()) seen.push(r);
    })();
    await runGen(bench, ["--count", "5000", "--rate", "100000"]);
    await until(() => pool.stats().total.packets === 5000, 3000);
    await pool.close();
    await reading;
    expect(seen.filter((r) => r.final).map((r) => r.workerIndex).sort()).toEqual([0, 1]);
    expect(seen.length).toBeGreaterThan(2);
    expect(pool.result()).toEqual({ packets: 5000 });
  });

  test("close({ drain: true }) hands the handlers every frame the rings held; close() stops after the current block", async () => {
    const sendAndClose = async (drain: boolean) => {
      // Blocks of 50 ms of traffic and a handler that takes 100 ms over each: the rings hold a
      // backlog of a few blocks when the generator ends, far from full.
      const pool = await openFanout<{ msPerBlock: number }, { packets: number }>(bench.rx, options({
        workers: 2,
        mode: "lb",
        ring: { ...ring, blockTimeoutMs: 50 },
        worker: handler("slow"),
        workerData: { msPerBlock: 100 },
        merge: (a, b) => ({ packets: a.packets + b.packets }),
      }));
      await runGen(bench, ["--count", "20000", "--rate", "100000"]);
      await pool.close({ drain });
      return { packets: pool.result()?.packets, drops: pool.stats().total.drops };
    };
    expect(await sendAndClose(true)).toEqual({ packets: 20_000, drops: 0 });
    const undrained = await sendAndClose(false);
    expect(undrained.drops).toBe(0);
    expect(undrained.packets).toBeLessThan(20_000);
  });

  test("bad options and bad handler modules are refused with a clear error", async () => {
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        return [(e as RingcapError).code, (e as Error).message];
      }
      return ["resolved", ""];
    };
    const open = (o: Partial<FanoutPoolOptions>, iface = bench.rx) => openFanout(iface, options(o));
    expect(await code(openFanout(bench.rx, {} as FanoutPoolOptions))).toEqual(["invalid_argument", expect.stringContaining("options.worker")]);
    expect((await code(open({ workers: 0 })))[0]).toBe("invalid_argument");
    expect((await code(open({ mode: "bogus" as "hash" })))[0]).toBe("fanout_invalid");
    expect((await code(open({ groupId: 70000 })))[0]).toBe("fanout_invalid");
    expect((await code(open({ groupId: 1, uniqueId: true })))[0]).toBe("fanout_invalid");
    expect((await code(open({ mode: "cbpf" })))[0]).toBe("fanout_invalid");
    expect(await code(open({ workers: 1 }, "nosuch0"))).toEqual(["no_such_interface", expect.stringContaining("fanout worker 0")]);
    expect(await code(open({ workers: 1, worker: handler("bad") }))).toEqual(["worker_failed", expect.stringContaining("must export createHandler")]);
  });

  test("a handler that transfers ring memory gets ring_memory_transfer, nothing is transferred, and the process lives on", () => {
    // In a process of its own: before the check, the pool's thread died of SIGSEGV once the pool closed.
    const script = new URL("./_ring_transfer_pool.ts", import.meta.url).pathname;
    const run = (how: string) => {
      const r = spawnSync(BUN, [script, bench.rx, bench.tx, bench.name, how], { encoding: "utf8", timeout: 30_000 });
      expect({ how, status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ how, status: 0, signal: null, stderr: "" });
      return JSON.parse(r.stdout.trim().split("\n").pop()!);
    };
    // ctx.post with the ring's ArrayBuffer or a view of it in the transfer list, or the worker's
    // own postMessage around ctx.post: refused, and the pool ends with the handler's error.
    for (const how of ["post", "view", "global"]) {
      const r = run(how);
      expect({ how, outcome: r.outcome, code: r.code, causeCode: r.causeCode, received: r.received }).toEqual({
        how,
        outcome: "rejected",
        code: "worker_failed",
        causeCode: "ring_memory_transfer",
        received: 0,
      });
      expect(r.message).toContain("copy() what you send");
    }
    // Sent without a transfer list, ring bytes are copied: allowed, and readable after the pool ends.
    const clone = run("clone");
    expect({ outcome: clone.outcome, received: clone.received }).toEqual({ outcome: "resolved", received: 1 });
    expect(clone.sum).toBeGreaterThan(0);
  }, 60_000);

  test("a worker that does not return from onBlock is terminated by close() and reported as such", async () => {
    const pool = await openFanout(bench.rx, options({
      workers: 2,
      mode: "lb",
      worker: handler("stuck"),
      workerData: { stuckIndex: 1, ms: 20_000 },
      closeTimeoutMs: 300,
    }));
    await runGen(bench, ["--count", "100", "--rate", "10000"]);
    // Worker 1 is in its first onBlock (for 20 s) once its counters show the block.
    expect(await until(() => pool.stats().perWorker[0].packets > 0, 3000)).toBe(true);
    await Bun.sleep(100);
    let err: RingcapError | null = null;
    const t0 = performance.now();
    await pool.close().catch((e) => (err = e as RingcapError));
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(RingcapError);
    expect(err!.code).toBe("worker_failed");
    expect(err!.message).toBe("fanout worker 1 did not return from onBlock within closeTimeoutMs (300 ms) of close(); terminated");
    expect(pool.stats().perWorker.map((w) => w.state)).toEqual(["closed", "failed"]);
    expect(ms).toBeLessThan(5000);
  });

  describe("the interface going down or away ends the pool with network_down, and nothing hangs", () => {
    for (const [what, cut] of [
      ["set down", (b: Bench) => b.ip("link", "set", "dev", b.rx, "down")],
      ["deleted", (b: Bench) => b.ip("link", "del", b.rx)],
    ] as const) {
      for (const restart of [false, true]) {
        test(`${what}${restart ? ", with restart: true (nothing to restart on)" : ""}`, async () => {
          using own = createBench();
          const pool = await openFanout(own.rx, {
            netns: own.name,
            ring,
            workers: 2,
            mode: "lb",
            worker: handler("count"),
            // Long waits in nextBlock: the socket error has to end them.
            reportIntervalMs: 5000,
            restart,
          });
          const restarts: number[] = [];
          pool.on("restart", (r) => restarts.push(r.workerIndex));
          const sending = runGen(own, ["--count", "20000", "--rate", "20000"]).catch(() => null);
          await Bun.sleep(200);
          cut(own);
          const t0 = performance.now();
          let err: RingcapError | null = null;
          const outcome = await Promise.race([
            pool.done.then(() => "resolved", (e) => ((err = e as RingcapError), "rejected")),
            Bun.sleep(5000).then(() => "still running after 5 s"),
          ]);
          console.log(`interface ${what}${restart ? " (restart: true)" : ""}: the pool ended ${(performance.now() - t0).toFixed(0)} ms later`);
          if (outcome !== "rejected") await pool.close().catch(() => {});
          await sending;
          expect(outcome).toBe("rejected");
          expect(err).toBeInstanceOf(RingcapError);
          expect(err!.code).toBe("worker_failed");
          expect(err!.cause).toBeInstanceOf(RingcapError);
          expect((err!.cause as RingcapError).code).toBe("network_down");
          expect(err!.message).toContain("network down");
          expect(restarts).toEqual([]);
          expect(pool.stats().perWorker.every((w) => w.state === "closed" || w.state === "failed")).toBe(true);
        }, 20_000);
      }
    }
  });

  test("examples/flow-count.ts counts flows across workers and ends cleanly on SIGINT", async () => {
    const script = new URL("../examples/flow-count.ts", import.meta.url).pathname;
    const child = spawn(BUN, [script, "-i", bench.rx, "--netns", bench.name, "--workers", "2", "--seconds", "20", "--top", "5"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      expect(await until(() => out.includes("workers ready"), 10_000)).toBe(true);
      await runGen(bench, ["--count", "20000", "--rate", "100000", "--flows", "8"]);
      // The example's workers report once a second; let one report cover everything.
      await Bun.sleep(1200);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
    expect(err).toBe("");
    const final = out.slice(out.lastIndexOf("final"));
    expect(final).toMatch(/^final: 8 flows, 20000 packets, 1200000 bytes, 0 dropped/);
    expect(final).toContain("udp 198.18.0.0:10000 > 198.19.0.1:9");
    expect(final.trim().split("\n").length).toBe(1 + 5);
  }, 20_000);
});

test("a pool refuses a malformed BpfProgram before it starts any worker", async () => {
  const bad = { instructions: new Uint8Array(8), length: 5 };
  for (const options of [{ filter: bad }, { mode: "cbpf" as const, program: bad }]) {
    let caught: unknown;
    try {
      await openFanout("rc-none0", { worker: new URL("./_fanout_handlers/count.ts", import.meta.url), workers: 2, ...options });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RingcapError);
    expect((caught as RingcapError).code).toBe("invalid_argument");
    expect((caught as Error).message).toMatch(/program|filter/);
    // Refused by the pool itself: no worker was started to find out.
    expect((caught as Error).message).not.toMatch(/fanout worker/);
  }
});

// Dropping root after the sockets are open (-Z USER, dropPrivileges): in a process of its own,
// since a process cannot become root again.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { Generator } from "../src/gen.ts";
import { lookUpUser } from "../mod.ts";
import { BUN, CLI, Proc, ringcap, seqs, until } from "./_cli.ts";

const CHILD = new URL("./_drop_child.ts", import.meta.url).pathname;

/** For each thread of process `pid`: its uids, gids, CapEff and CapPrm, as /proc says. */
function threadsOf(pid: number): Array<{ tid: string; uid: string; gid: string; capEff: string; capPrm: string }> {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
    } catch {
      return []; // ended meanwhile
    }
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1].trim().replace(/\s+/g, " ") ?? "";
    return [{ tid, uid: field("Uid"), gid: field("Gid"), capEff: field("CapEff"), capPrm: field("CapPrm") }];
  });
}

test("lookUpUser reads /etc/passwd and /etc/group as getpwnam and initgroups would", () => {
  const nobody = lookUpUser("nobody");
  expect(nobody.uid).toBe(65534);
  expect(nobody.groups[0]).toBe(nobody.gid);
  expect(lookUpUser("0").user).toBe("root");
  expect(() => lookUpUser("no-such-user-here")).toThrow(/no user "no-such-user-here" in \/etc\/passwd/);
});

describe.skipIf(!privileged())("dropping privileges", () => {
  let bench: Bench;
  let dir: string;
  beforeAll(() => {
    bench = createBench();
    dir = mkdtempSync(join(tmpdir(), "ringcap-drop-"));
    chmodSync(dir, 0o1777);
  });
  afterAll(() => {
    bench?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("after dropPrivileges every thread is nobody without capabilities, files are nobody's, and the open capture goes on", async () => {
    const child = new Proc(BUN, [CHILD, bench.rx, bench.name, dir], /$^/);
    try {
      expect(await until(() => child.outLines >= 3, 10_000)).toBe(true);
      using gen = new Generator(bench.tx, { netns: bench.name });
      expect(gen.send(10).sent).toBe(10);
    } finally {
      await until(() => !child.running, 10_000);
    }
    const r = await child.stop();
    expect(r.code).toBe(0);
    const steps = r.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(steps[0].to).toMatchObject({ user: "nobody", uid: 65534 });
    expect(steps[0].kept).toEqual([]);
    expect(steps[1].fileUid).toBe(65534);
    expect(steps[3]).toEqual({ frames: 10, keptAfter: [] });
    // Opening another capture in the namespace takes capabilities nobody has.
    expect(steps[4].reopenCode).toBe("permission_denied");
  }, 30_000);

  test("capture -Z nobody (one ring and --workers 2, rotating) and flows -Z: every thread nobody with no capability; rotation goes on, files are nobody's, every frame once", async () => {
    const on = ["-i", bench.rx, "--netns", bench.name, "-B", "2048"];
    const one = join(dir, "one.pcap");
    const two = join(dir, "two.pcap");
    const procs = [
      ringcap(["capture", ...on, "-Z", "nobody", "-C", "1", "-W", "20", "-w", one]),
      ringcap(["capture", ...on, "--workers", "2", "-Z", "nobody", "-C", "1", "-W", "20", "-w", two]),
      ringcap(["flows", ...on, "-Z", "nobody", "--json", "--interval", "0.5", "--seconds", "30"]),
    ];
    try {
      // capture says "Ctrl-C to stop" once its file is open (after the drop); flows --json its first line.
      await Promise.all(procs.slice(0, 2).map((p) => p.started));
      expect(await until(() => procs[2].outLines >= 1, 10_000)).toBe(true);
      const nobody = { uid: "65534 65534 65534 65534", gid: "65534 65534 65534 65534", capEff: "0000000000000000", capPrm: "0000000000000000" };
      for (const p of procs) {
        const threads = threadsOf(p.child.pid!);
        expect(threads.length).toBeGreaterThan(3); // the runtime's own threads, and the workers'
        for (const t of threads) expect({ tid: t.tid, uid: t.uid, gid: t.gid, capEff: t.capEff, capPrm: t.capPrm }).toEqual({ tid: t.tid, ...nobody });
      }
      // 6,000 frames of 1,400 bytes: about 8.5 MB, so each capture rotates 8 times as nobody.
      using gen = new Generator(bench.tx, { netns: bench.name, size: 1400, rate: 20_000 });
      expect(gen.send(6000, { maxMs: 10_000 }).sent).toBe(6000);
      await Bun.sleep(500);
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
    }
    const results = await Promise.all(procs.map((p) => p.done));
    expect(results.map((r) => [r.code, r.code === 0 ? "" : r.err])).toEqual([[0, ""], [0, ""], [0, ""]]);
    for (const base of ["one.pcap", "two.pcap"]) {
      const files = readdirSync(dir).filter((f) => f.startsWith(base)).sort();
      expect(files.length).toBeGreaterThan(5);
      for (const f of files) expect({ f, uid: statSync(join(dir, f)).uid }).toEqual({ f, uid: 65534 });
      const all = files.flatMap((f) => seqs(join(dir, f))).sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: 6000 }, (_, i) => i));
    }
    const flows = JSON.parse(results[2].out.trim().split("\n").at(-1)!);
    expect(flows.top.reduce((n: number, f: { packets: number }) => n + f.packets, 0)).toBe(6000);
  }, 60_000);

  test("-Z refuses an unknown user before opening anything, and a user without root cannot drop", async () => {
    const bad = await ringcap(["capture", "-i", bench.rx, "--netns", bench.name, "-Z", "no-such-user-here", "-w", join(dir, "x.pcap")]).done;
    expect([bad.code, bad.err]).toEqual([2, expect.stringContaining('-Z no-such-user-here: no user "no-such-user-here" in /etc/passwd')]);
    const flows = await ringcap(["flows", "-r", "/dev/null", "-Z", ""]).done;
    expect([flows.code, flows.err]).toEqual([2, expect.stringContaining("-Z needs a user name")]);
    // Root without CAP_SETUID and CAP_SETGID (gone from the bounding set), reading a file: refused, exit 4.
    const empty = join(dir, "empty.pcap");
    const header = new DataView(new ArrayBuffer(24));
    header.setUint32(0, 0xa1b2c3d4, true);
    header.setUint16(4, 2, true);
    header.setUint16(6, 4, true);
    header.setUint32(16, 65535, true);
    header.setUint32(20, 1, true);
    writeFileSync(empty, new Uint8Array(header.buffer));
    const capless = await new Proc("setpriv", ["--bounding-set=-setuid,-setgid", BUN, CLI, "capture", "-r", empty, "-Z", "nobody", "-w", join(dir, "y.pcap")]).done;
    expect([capless.code, capless.err]).toEqual([4, expect.stringContaining("cannot become nobody: setgroups was refused (changing the user takes CAP_SETUID and CAP_SETGID")]);
  });

  test("a blocks() loop already waiting keeps a thread of root's: the drop says so instead of leaving it", async () => {
    const r = await new Proc(BUN, [CHILD, bench.rx, bench.name, dir, "while-waiting"], /$^/).done;
    expect(r.code).toBe(0);
    const [step] = r.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(step.code).toBe("privileges_kept");
    expect(step.message).toContain("drop before starting blocks() loops");
  }, 30_000);
});

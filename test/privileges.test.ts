// Dropping root after the sockets are open (-Z USER, dropPrivileges): in a process of its own,
// since a process cannot become root again.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bench, createBench, privileged } from "./_netns.ts";
import { Generator } from "../src/gen.ts";
import { lookUpUser } from "../mod.ts";
import { BUN, Proc, until } from "./_cli.ts";

const CHILD = new URL("./_drop_child.ts", import.meta.url).pathname;

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

  test("a blocks() loop already waiting keeps a thread of root's: the drop says so instead of leaving it", async () => {
    const r = await new Proc(BUN, [CHILD, bench.rx, bench.name, dir, "while-waiting"], /$^/).done;
    expect(r.code).toBe(0);
    const [step] = r.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(step.code).toBe("privileges_kept");
    expect(step.message).toContain("drop before starting blocks() loops");
  }, 30_000);
});

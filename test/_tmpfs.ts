/**
 * A small tmpfs for disk-full tests: mounted on a fresh temporary directory, unmounted (and the
 * directory removed) on dispose. Needs root (CAP_SYS_ADMIN); `canMountTmpfs()` says whether this
 * process has it.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Tmpfs {
  /** Where it is mounted. */
  readonly dir: string;
  [Symbol.dispose](): void;
}

/** Mounts a tmpfs of `kib` KiB (size in whole pages) on a new directory. */
export function mountTmpfs(kib: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), "ringcap-tmpfs-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${kib}k,mode=0755`, "ringcap-test", dir], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mount tmpfs on ${dir}: ${r.stderr || r.error}`);
  }
  let mounted = true;
  return {
    dir,
    [Symbol.dispose]() {
      if (!mounted) return;
      mounted = false;
      // A lazy unmount if a file is still open (a process of the test not yet reaped).
      const u = spawnSync("umount", [dir], { timeout: 10_000 });
      if (u.status !== 0) spawnSync("umount", ["-l", dir], { timeout: 10_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Whether a tmpfs can be mounted here (root). Under CI=true it must be (the disk-full tests
 * have to run there), so a failure is an error; elsewhere the tests skip and say why, as
 * `privileged()` does.
 */
export function canMountTmpfs(): boolean {
  try {
    mountTmpfs(64)[Symbol.dispose]();
    return true;
  } catch (e) {
    const reason = (e as Error).message;
    if (process.env.CI === "true") throw new Error(`CI=true but a tmpfs cannot be mounted here: ${reason}`);
    console.warn(`skipping the disk-full tests (they mount a small tmpfs): ${reason}`);
    return false;
  }
}

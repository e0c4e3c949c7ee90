/**
 * Dropping root once the sockets are open, as `tcpdump -Z USER` does: a capture keeps working
 * on the sockets and rings it already has (the kernel checked CAP_NET_RAW when they were made),
 * while the process goes on as an ordinary user with no capabilities at all.
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { PermissionError, RingcapError } from "./errors.ts";
import { dlopen, type ForeignLibrary, permissionRefusal } from "./native/runtime.ts";

/** Who a process became: its user and group ids and supplementary groups. */
export interface DroppedTo {
  user: string;
  uid: number;
  gid: number;
  groups: number[];
}

// The C library's own calls: glibc applies set*id to every thread of the process (its setxid
// broadcast), where the raw system calls would change the calling thread alone.
const LIBC_NAMES = ["libc.so.6", "libc.so"];
const LIBC = {
  setgroups: { args: ["u64", "buf"], returns: "i32" },
  setgid: { args: ["u32"], returns: "i32" },
  setuid: { args: ["u32"], returns: "i32" },
} as const;

let libc: ForeignLibrary<keyof typeof LIBC> | null = null;

function openLibc(): ForeignLibrary<keyof typeof LIBC> {
  let last: unknown = null;
  for (const name of LIBC_NAMES) {
    try {
      return dlopen(name, LIBC);
    } catch (e) {
      const refusal = permissionRefusal(e);
      if (refusal) throw new PermissionError(`Deno refused to load the C library (${refusal}): run deno with --allow-ffi`, undefined, { cause: e });
      last = e;
    }
  }
  throw new RingcapError("not_supported", `no C library to change the user with (tried ${LIBC_NAMES.join(", ")})`, { cause: last });
}

/**
 * The user `user` names, from /etc/passwd and /etc/group (as getpwnam and initgroups read them
 * on a system without a directory service): a name, or a number taken as a uid whose primary
 * group is its passwd entry's (or the same number when it has none).
 */
export function lookUpUser(user: string): DroppedTo {
  if (typeof user !== "string" || user === "") throw new RingcapError("invalid_argument", `a user name or uid, got ${JSON.stringify(user)}`);
  const passwd = readLines("/etc/passwd").map((l) => l.split(":"));
  const numeric = /^\d+$/.test(user) ? Number(user) : null;
  const entry = passwd.find((f) => f[0] === user) ?? (numeric === null ? undefined : passwd.find((f) => Number(f[2]) === numeric));
  if (!entry && numeric === null) throw new RingcapError("invalid_argument", `no user ${JSON.stringify(user)} in /etc/passwd`);
  const name = entry?.[0] ?? user;
  const uid = entry ? Number(entry[2]) : numeric!;
  const gid = entry ? Number(entry[3]) : numeric!;
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0 || uid > 0xfffffffe || gid > 0xfffffffe) {
    throw new RingcapError("invalid_argument", `user ${JSON.stringify(user)} has no usable uid and gid in /etc/passwd`);
  }
  // Supplementary groups: the primary one, and every group that lists the user by name.
  const groups = [gid];
  for (const f of readLines("/etc/group").map((l) => l.split(":"))) {
    const g = Number(f[2]);
    if (Number.isInteger(g) && (f[3] ?? "").split(",").includes(name) && !groups.includes(g)) groups.push(g);
  }
  return { user: name, uid, gid, groups };
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
  } catch {
    return [];
  }
}

/**
 * Becomes `user` (a name or a uid) for good: supplementary groups, group, then user, for every
 * thread of the process, so that no capability is left (the kernel clears them when a root
 * process takes a non-zero uid). Call it after the captures are open (and, as tcpdump does,
 * before creating the files the new user should own). Checks the result in /proc: every thread
 * has the user's ids and no effective or permitted capability, or it throws RingcapError
 * "privileges_kept" (a native thread that began before the drop keeps its own credentials on
 * Linux: stop `blocks()` loops first, or drop before starting them).
 *
 * @example
 * ```ts
 * using cap = openCapture("eth0");
 * dropPrivileges("nobody");
 * for await (const block of cap.blocks()) { ... } // as nobody, on the ring opened as root
 * ```
 */
export function dropPrivileges(user: string): DroppedTo {
  const to = lookUpUser(user);
  libc ??= openLibc();
  const fns = libc.symbols;
  const refused = (call: string) =>
    new PermissionError(`cannot become ${to.user}: ${call} was refused (changing the user takes CAP_SETUID and CAP_SETGID: run as root)`);
  if (fns.setgroups(BigInt(to.groups.length), new Uint32Array(to.groups)) !== 0) throw refused("setgroups");
  if (fns.setgid(to.gid) !== 0) throw refused(`setgid(${to.gid})`);
  if (fns.setuid(to.uid) !== 0) throw refused(`setuid(${to.uid})`);
  const kept = threadsKeepingPrivileges(to);
  if (kept.length) {
    throw new RingcapError(
      "privileges_kept",
      `became ${to.user}, but thread${kept.length > 1 ? "s" : ""} ${kept.join(", ")} kept other credentials or capabilities (a native thread started before the drop): drop before starting blocks() loops`,
    );
  }
  return to;
}

/**
 * The threads of this process whose user or group ids are not `to`'s, or that hold an
 * effective or permitted capability: what /proc/self/task/N/status says of each.
 */
export function threadsKeepingPrivileges(to: { uid: number; gid: number }): number[] {
  const kept: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync("/proc/self/task");
  } catch {
    return kept;
  }
  for (const tid of tasks) {
    let status: string;
    try {
      status = readFileSync(`/proc/self/task/${tid}/status`, "utf8");
    } catch {
      continue; // the thread ended meanwhile
    }
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1].trim().split(/\s+/) ?? [];
    const ids = (name: string, want: number) => field(name).every((v) => Number(v) === want);
    const none = (name: string) => field(name).every((v) => /^0+$/.test(v));
    if (!ids("Uid", to.uid) || !ids("Gid", to.gid) || !none("CapEff") || !none("CapPrm")) kept.push(Number(tid));
  }
  return kept;
}

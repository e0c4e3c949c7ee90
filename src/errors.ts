/**
 * Errors thrown by ringcap. Every error is a {@link RingcapError} whose `code` names the
 * native status (or a TypeScript-side condition), with the kernel's errno when there was one.
 * @module
 */

import { STATUS } from "./native/abi.ts";

/** Names of the statuses libringcap returns, by value (from the one ABI table). */
export const STATUS_NAMES: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(STATUS).map(([name, value]) => [value, name])),
);

/** What to do next, per status: appended to the message. */
const ADVICE: Readonly<Record<string, string>> = {
  permission_denied:
    "needs CAP_NET_RAW: run as root or `sudo setcap cap_net_raw+ep $(which bun)`",
  netns_permission_denied:
    "entering a network namespace (setns) needs CAP_SYS_ADMIN, and root's own access to its file: run as root, " +
    "or start the process inside the namespace (`ip netns exec NAME ...`) and leave netns out, which needs only CAP_NET_RAW",
  timestamp_type_not_supported:
    "the interface has no hardware clock to stamp packets with (veth and most virtual interfaces have none; `ethtool -T <name>` lists what it has): use timestampType \"host\"",
  no_such_interface: "check the name with `ip link`",
  interface_down: "bring it up with `ip link set dev <name> up`, or pass allowDown: true",
  block_size_not_page_multiple: "ring.blockSize must be a multiple of the page size (4096 on most machines)",
  block_size_not_frame_multiple: "ring.blockSize must be a multiple of ring.frameSize",
  frame_size_invalid: "ring.frameSize must be at least 80 and a multiple of 16",
  block_count_invalid: "ring.blockCount must be at least 1",
  ring_too_large: "the ring's frame count must fit in 32 bits and a block in 2 GiB: use fewer or smaller blocks",
  ring_exceeds_memory:
    "a ring may take half of the memory available (MemAvailable), or all of it with ring.allowLarge: true: use fewer or smaller blocks",
  ring_rejected: "the kernel refused the ring geometry",
  block_timeout_invalid: "ring.blockTimeoutMs must be between 0 and 65535",
  out_of_memory: "the kernel could not allocate the ring: use smaller blocks or fewer of them",
  filter_invalid: "the kernel rejected the BPF program",
  filter_too_large:
    "the program does not fit in the socket's option memory: raise net.core.optmem_max (in the capture's namespace) or use a shorter program",
  frame_too_large: "the frame is longer than the interface's MTU allows",
  fanout_invalid: "check the fanout mode and flags",
  fanout_group_busy:
    "another socket uses this fanout group id with other settings: pick another groupId or let ringcap choose one",
  netns_failed: "the network namespace path could not be entered (see `ip netns list`)",
  system_resources: "the process or system is out of file descriptors or buffers",
  network_down: "the interface went down or away while capturing",
  too_many_handles: "close captures you no longer use (at most 256 at once per process)",
};

/** The base of every error ringcap throws. */
export class RingcapError extends Error {
  /** The status name, e.g. `"no_such_interface"`, or a TypeScript-side code such as `"closed"`. */
  readonly code: string;
  /** The kernel's errno behind the failure, when there was one. */
  readonly errno?: number;

  constructor(code: string, message: string, options?: { errno?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RingcapError";
    this.code = code;
    if (options?.errno) this.errno = options.errno;
  }
}

/** Thrown by any method of a resource after `close()`. */
export class ClosedError extends RingcapError {
  constructor(what: string) {
    super("closed", `${what} is closed`);
    this.name = "ClosedError";
  }
}

/**
 * Thrown when the process lacks CAP_NET_RAW, or CAP_SYS_ADMIN to enter a network namespace, or
 * (under Deno) a permission flag; the message says which. Its code is always
 * `"permission_denied"`.
 */
export class PermissionError extends RingcapError {
  constructor(message: string, errno?: number, options?: { cause?: unknown }) {
    super("permission_denied", message, { errno, cause: options?.cause });
    this.name = "PermissionError";
  }
}

/** Thrown when the named interface does not exist; `available` lists the ones that do. */
export class InterfaceError extends RingcapError {
  readonly available: string[];
  constructor(code: string, message: string, available: string[], errno?: number) {
    super(code, message, { errno });
    this.name = "InterfaceError";
    this.available = available;
  }
}

/** Short descriptions of the errno values ringcap meets most, for messages. */
const ERRNO_TEXT: Readonly<Record<number, string>> = {
  1: "EPERM: operation not permitted",
  2: "ENOENT: no such file or directory",
  12: "ENOMEM: cannot allocate memory",
  13: "EACCES: permission denied",
  6: "ENXIO: no such device or address",
  19: "ENODEV: no such device",
  22: "EINVAL: invalid argument",
  24: "EMFILE: too many open files",
  28: "ENOSPC: no space left on device",
  90: "EMSGSIZE: message too long",
  95: "EOPNOTSUPP: operation not supported",
  100: "ENETDOWN: network is down",
  105: "ENOBUFS: no buffer space available",
  114: "EALREADY: operation already in progress",
};

export function errnoText(errno: number): string {
  return ERRNO_TEXT[errno] ?? `errno ${errno}`;
}

/** Builds the error for a native status; `context` says what was being done. */
export function statusError(status: number, context: string, errno = 0): RingcapError {
  const code = STATUS_NAMES[status] ?? "unexpected";
  const advice = ADVICE[code];
  const kernel = errno ? ` (${errnoText(errno)})` : "";
  const message = `${context}: ${code.replaceAll("_", " ")}${kernel}${advice ? `: ${advice}` : ""}`;
  // Both permission statuses are one code for the caller; the advice says which capability.
  if (code === "permission_denied" || code === "netns_permission_denied") return new PermissionError(message, errno);
  return new RingcapError(code, message, { errno });
}

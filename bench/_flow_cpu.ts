/**
 * On-CPU time of every thread of one process, for bench/flow_export.ts: the kernel's own
 * accounting (/proc/PID/task/TID/schedstat, first field: nanoseconds on a CPU, user + system),
 * read every 50 ms so a thread that ends in between still counts up to its last reading.
 * (bench/run.ts keeps its own meter of the same kind inside the harness; it exports nothing.)
 */

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second, the unit of utime/stime in /proc/PID/stat. */
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

interface Reading {
  name: string;
  ns: number;
}

/** Nanoseconds per thread name (threads of one name summed) over a measured interval. */
export class ThreadCpu {
  #pid: number;
  #last = new Map<string, Reading>();
  #mark = new Map<string, number>();
  #timer: ReturnType<typeof setInterval>;
  #ticks = { user: 0, system: 0 };
  /** User and system milliseconds of the whole process over the interval (/proc/PID/stat, clock-tick resolution). */
  split = { userMs: NaN, systemMs: NaN };

  constructor(pid: number) {
    this.#pid = pid;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), 50);
  }

  #sample(): void {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${this.#pid}/task`);
    } catch {
      return; // The process is gone: keep the last readings.
    }
    for (const tid of tids) {
      try {
        const ns = Number(readFileSync(`/proc/${this.#pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
        const name = readFileSync(`/proc/${this.#pid}/task/${tid}/comm`, "utf8").trim();
        this.#last.set(tid, { name, ns });
      } catch {
        // The thread ended between the listing and the read.
      }
    }
  }

  /** utime and stime of the process (every thread, ended ones included), in clock ticks. */
  #readTicks(): { user: number; system: number } {
    const stat = readFileSync(`/proc/${this.#pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(f[11]), system: Number(f[12]) };
  }

  /** Starts the measured interval here. */
  start(): void {
    this.#ticks = this.#readTicks();
    this.#sample();
    this.#mark = new Map([...this.#last].map(([tid, r]) => [tid, r.ns]));
  }

  /** Ends the interval: CPU nanoseconds per thread name since start() (a thread born later counts from 0). */
  stop(): Map<string, number> {
    clearInterval(this.#timer);
    this.#sample();
    const t = this.#readTicks();
    this.split = { userMs: ((t.user - this.#ticks.user) * 1000) / CLK_TCK, systemMs: ((t.system - this.#ticks.system) * 1000) / CLK_TCK };
    const out = new Map<string, number>();
    for (const [tid, r] of this.#last) out.set(r.name, (out.get(r.name) ?? 0) + r.ns - (this.#mark.get(tid) ?? 0));
    return out;
  }
}

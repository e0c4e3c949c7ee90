/**
 * On-CPU time of every thread of one process, for the harnesses (bench/run.ts,
 * bench/flow_export.ts): the kernel's own accounting (/proc/PID/task/TID/schedstat, first
 * field: nanoseconds on a CPU, user + system), read every 50 ms so a thread that ends in
 * between (JSC's compiler threads end when idle) still counts up to its last reading.
 */

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second, the unit of utime/stime in /proc/PID/stat. */
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

interface Reading {
  name: string;
  ns: number;
}

/**
 * Nanoseconds per thread name (threads of one name summed): since the meter was made, and
 * over the measured part, from `checkpoint()` on.
 */
export class ThreadCpu {
  #pid: number;
  #last = new Map<string, Reading>();
  /** Readings when the meter was made. */
  #base = new Map<string, number>();
  #mark: Map<string, number> | null = null;
  #timer: ReturnType<typeof setInterval>;
  #ticks = { user: 0, system: 0 };
  /** User and system milliseconds of the whole process over the interval (/proc/PID/stat, clock-tick resolution). */
  split = { userMs: NaN, systemMs: NaN };

  constructor(pid: number) {
    this.#pid = pid;
    this.#sample();
    this.#base = new Map([...this.#last].map(([tid, r]) => [tid, r.ns]));
    this.#ticks = this.#readTicks();
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
    let stat: string;
    try {
      stat = readFileSync(`/proc/${this.#pid}/stat`, "utf8");
    } catch {
      return { ...this.#ticks }; // The process is gone.
    }
    // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(f[11]), system: Number(f[12]) };
  }

  /** Starts the measured part here (without it, the measured part is everything since the meter was made). */
  checkpoint(): void {
    this.#ticks = this.#readTicks();
    this.#sample();
    this.#mark = new Map([...this.#last].map(([tid, r]) => [tid, r.ns]));
  }

  /**
   * Stops sampling; returns nanoseconds per thread name over the measured part (`measured`)
   * and since the meter was made (`all`). A thread born after the checkpoint counts from 0.
   * `split` then holds the measured part's user and system time.
   */
  stop(): { measured: Map<string, number>; all: Map<string, number> } {
    clearInterval(this.#timer);
    this.#sample();
    const t = this.#readTicks();
    this.split = { userMs: ((t.user - this.#ticks.user) * 1000) / CLK_TCK, systemMs: ((t.system - this.#ticks.system) * 1000) / CLK_TCK };
    const mark = this.#mark ?? this.#base;
    const measured = new Map<string, number>();
    const all = new Map<string, number>();
    for (const [tid, r] of this.#last) {
      measured.set(r.name, (measured.get(r.name) ?? 0) + r.ns - (mark.get(tid) ?? 0));
      all.set(r.name, (all.get(r.name) ?? 0) + r.ns - (this.#base.get(tid) ?? 0));
    }
    return { measured, all };
  }
}

/**
 * ringcap/testing: a network namespace with a veth pair to capture on, for tests, demos and
 * benchmarks. Needs root (it runs `ip netns add`). Not part of the capture API in `ringcap`.
 *
 * @example
 * ```ts
 * import { createBench } from "ringcap/testing";
 * using bench = createBench();
 * console.log(bench.name, bench.tx, bench.rx);
 * ```
 *
 * @module
 */

export { type Bench, type BenchOptions, createBench } from "./src/testing/netns.ts";

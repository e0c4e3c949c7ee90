// Run by capture.deno.ts in a Deno process of its own: a pool with handleSignals, closed by the
// SIGINT the test sends. Exits by itself (no listener or timer left) once the pool has ended.
import { openFanout } from "../../mod.ts";

const [iface, netns] = Deno.args;
const pool = await openFanout(iface, {
  netns,
  workers: 2,
  worker: new URL("../_fanout_handlers/count.ts", import.meta.url),
  handleSignals: true,
  reportIntervalMs: 100,
});
console.log("ready");
// Bounded: without the SIGINT the test gives up after a few seconds and kills us.
const limit = setTimeout(() => console.log("no signal"), 10_000);
await pool.done;
clearTimeout(limit);
console.log(`closed ${pool.stats().perWorker.map((w) => w.state).join(",")}`);

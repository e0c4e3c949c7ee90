// The namespace bench lives in src/netns.ts (the demo and benchmark use it too).
export { type Bench, createBench, privileged } from "../src/netns.ts";

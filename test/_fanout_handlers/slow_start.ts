/** Test handler: its module takes `SLOW_START_MS` to load, so a short `startTimeoutMs` ends the worker first. */
export const SLOW_START_MS = 3000;
await new Promise((resolve) => setTimeout(resolve, SLOW_START_MS));

export default function createHandler() {
  return { onBlock() {} };
}

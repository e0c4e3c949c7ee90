// Run as root by test/privileges.test.ts: opens a capture, drops to nobody, then shows what it
// is and that the capture goes on. Prints one JSON line per step on stdout.
import { statSync, writeFileSync } from "node:fs";
import { dropPrivileges, openCapture, threadsKeepingPrivileges } from "../mod.ts";

const [iface, netns, dir, mode] = process.argv.slice(2);
const cap = openCapture(iface, { netns, ring: { blockSize: 1 << 16, blockCount: 4, blockTimeoutMs: 5 } });
const say = (o: unknown) => console.log(JSON.stringify(o));
if (mode === "while-waiting") {
  // A blocks() loop waits on a native thread that began as root: the drop must say so.
  const loop = (async () => {
    for await (const _ of cap.blocks({ signal: AbortSignal.timeout(3000) })) break;
  })();
  await new Promise((r) => setTimeout(r, 100));
  try {
    dropPrivileges("nobody");
    say({ dropped: true });
  } catch (e) {
    say({ code: (e as { code?: string }).code, message: (e as Error).message });
  }
  cap.close();
  await loop.catch(() => {});
  process.exit(0);
}
const to = dropPrivileges("nobody");
say({ to, kept: threadsKeepingPrivileges(to) });
// Files made from now on are the user's, as tcpdump -Z makes its savefiles.
const file = `${dir}/after-drop.txt`;
writeFileSync(file, "x");
say({ fileUid: statSync(file).uid });
say({ ready: true });
let frames = 0;
const end = Date.now() + 5000;
for await (const block of cap.blocks({ signal: AbortSignal.timeout(5000) })) {
  frames += block.packetCount;
  if (frames >= 10 || Date.now() > end) break;
}
say({ frames, keptAfter: threadsKeepingPrivileges(to) });
try {
  openCapture(iface, { netns });
  say({ reopened: true });
} catch (e) {
  say({ reopenCode: (e as { code?: string }).code });
}
cap.close();

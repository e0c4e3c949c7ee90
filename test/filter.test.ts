// Filter programs compared with what tcpdump (on the same libpcap) prints for the same expressions.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RingcapError } from "../src/errors.ts";
import { compileFilter } from "../src/bpf/compile.ts";
import { type BpfProgram, checkBpfProgram, decodeProgram, parseBpfText, programFromInstructions, programText } from "../src/bpf/program.ts";
import { checkStrippedVlan, onWireProgram } from "../src/bpf/vlan.ts";
import { PcapWriter } from "../src/pcap.ts";

const BUN = process.execPath;
const dir = mkdtempSync(join(tmpdir(), "ringcap-filter-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// tcpdump -ddd needs a link type: an empty Ethernet pcap gives it one without an interface.
const etherFile = join(dir, "ether.pcap");
PcapWriter.open(etherFile).close();

const hasTcpdump = spawnSync("tcpdump", ["--version"]).status === 0;
/** tcpdump on a live lo (root, lo up) compiles with the kernel's VLAN ancillary loads. */
const canLiveCompile = hasTcpdump && spawnSync("tcpdump", ["-i", "lo", "-ddd", "udp"]).status === 0;

function tcpdumpText(args: string[], expr: string): string {
  const r = spawnSync("tcpdump", [...args, "-ddd", expr], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tcpdump -ddd ${expr}: ${r.stderr}`);
  return r.stdout;
}

function text(p: BpfProgram): string {
  const dv = new DataView(p.instructions.buffer, p.instructions.byteOffset, p.instructions.byteLength);
  const lines = [String(p.length)];
  for (let i = 0; i < p.length; i++) {
    lines.push(`${dv.getUint16(i * 8, true)} ${dv.getUint8(i * 8 + 2)} ${dv.getUint8(i * 8 + 3)} ${dv.getUint32(i * 8 + 4, true)}`);
  }
  return lines.join("\n") + "\n";
}

function thrown(fn: () => unknown): RingcapError {
  try {
    fn();
  } catch (e) {
    return e as RingcapError;
  }
  throw new Error("expected a throw");
}

const CORPUS = [
  "host 198.18.0.1",
  "net 198.18.0.0/15",
  "port 53",
  "udp port 53",
  "portrange 1-1024",
  "tcp",
  "udp",
  "icmp",
  "ip6",
  "vlan",
  "vlan 100",
  "vlan and udp",
  "tcp[tcpflags] & tcp-syn != 0",
  "src host 198.18.0.1 and (tcp or udp) and not port 22",
  "dst net 198.19.0.0/16 or icmp",
  "not (udp and port 53) and ip",
  "ether host 02:00:00:00:00:01",
  "len > 100 and udp[8:2] = 0x1234",
];

describe.skipIf(!hasTcpdump)("compileFilter against tcpdump -ddd on an Ethernet file", () => {
  test.each(CORPUS)("%p compiles to the same instructions", (expr) => {
    expect(text(compileFilter(expr))).toBe(tcpdumpText(["-r", etherFile], expr));
  });

  test("optimize: false matches tcpdump -O", () => {
    const expr = "udp and (port 53 or port 5353)";
    const plain = compileFilter(expr, { optimize: false });
    expect(text(plain)).toBe(tcpdumpText(["-r", etherFile, "-O"], expr));
    expect(plain.length).toBeGreaterThan(compileFilter(expr).length);
  });

  test("snaplen sets the accept return value", () => {
    const p = compileFilter("udp", { snaplen: 96 });
    expect(text(p).trimEnd().split("\n").at(-2)).toBe("6 0 0 96");
  });
});

describe("compileFilter errors", () => {
  test("a syntax error throws filter_syntax with libpcap's own message", () => {
    const e = thrown(() => compileFilter("udp port"));
    expect(e).toBeInstanceOf(RingcapError);
    expect(e.code).toBe("filter_syntax");
    expect(e.message).toContain("syntax error");
  });

  test("an expression the link type cannot express throws libpcap's reason", () => {
    const e = thrown(() => compileFilter("ether host 02:00:00:00:00:01", { linkType: 101 }));
    expect(e.code).toBe("filter_syntax");
    expect(e.message).toMatch(/not supported|link/i);
  });

  test("a NUL in the expression and out-of-range options are refused before libpcap sees them", () => {
    expect(thrown(() => compileFilter("udp\0tcp")).code).toBe("invalid_argument");
    expect(thrown(() => compileFilter("udp", { snaplen: 0 })).code).toBe("invalid_argument");
    expect(thrown(() => compileFilter("udp", { linkType: -1 })).code).toBe("invalid_argument");
  });

  test("libpcap is loaded on the first compileFilter call, not on import", () => {
    const script = `
      import { readFileSync } from "node:fs";
      const mapped = () => readFileSync("/proc/self/maps", "utf8").includes("libpcap");
      const { compileFilter } = await import(${JSON.stringify(join(import.meta.dir, "../src/bpf/compile.ts"))});
      const before = mapped();
      compileFilter("udp");
      console.log(JSON.stringify({ before, after: mapped() }));`;
    const r = spawnSync(BUN, ["-e", script], { encoding: "utf8" });
    expect(JSON.parse(r.stdout)).toEqual({ before: false, after: true });
  });
});

describe("VLAN tests and stripped tags", () => {
  test("a dead-handle program reads the VLAN TPID at offset 12 and no ancillary data", () => {
    for (const expr of ["vlan", "vlan 100", "vlan and udp"]) {
      expect(checkStrippedVlan(compileFilter(expr))).toEqual({ readsVlanAtOffset12: true, usesAncillary: false });
    }
    expect(checkStrippedVlan(compileFilter("udp port 53"))).toEqual({ readsVlanAtOffset12: false, usesAncillary: false });
  });

  test("strippedVlan leaves programs without VLAN tests as they are", () => {
    expect(text(compileFilter("udp port 53", { strippedVlan: true }))).toBe(text(compileFilter("udp port 53")));
  });

  test.skipIf(!canLiveCompile).each(["vlan", "vlan 100", "vlan and udp", "vlan 100 and host 198.18.0.1"])(
    "strippedVlan compiles %p to what tcpdump -i attaches, with ancillary loads",
    (expr) => {
      const p = compileFilter(expr, { strippedVlan: true });
      expect(checkStrippedVlan(p).usesAncillary).toBe(true);
      expect(text(p)).toBe(tcpdumpText(["-i", "lo"], expr));
    },
  );

  test.skipIf(!canLiveCompile)("without CAP_NET_RAW strippedVlan throws filter_vlan_unsupported and says what to do", () => {
    const script = `
      const { compileFilter } = await import(${JSON.stringify(join(import.meta.dir, "../src/bpf/compile.ts"))});
      try { compileFilter("vlan 100", { strippedVlan: true }); console.log("{}"); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", BUN, "-e", script], {
      encoding: "utf8",
      cwd: "/",
    });
    if (r.error || r.status !== 0) return; // no setpriv, or bun not runnable as nobody
    const out = JSON.parse(r.stdout);
    expect(out.code).toBe("filter_vlan_unsupported");
    expect(out.message).toContain("CAP_NET_RAW");
    expect(out.message).toContain("-ddd");
  });

  test("checkStrippedVlan recognises the kernel's VLAN ancillary loads", () => {
    const p = programFromInstructions([
      [0x30, 0, 0, 0xfffff030], // ldb [vlanp]
      [0x15, 0, 1, 1],
      [0x06, 0, 0, 65535],
      [0x06, 0, 0, 0],
    ]);
    expect(checkStrippedVlan(p)).toEqual({ readsVlanAtOffset12: false, usesAncillary: true });
  });
});

describe("parseBpfText and programFromInstructions", () => {
  test.skipIf(!hasTcpdump)("tcpdump -ddd output parses back to the same program", () => {
    for (const expr of ["udp port 53", "tcp[tcpflags] & tcp-syn != 0", "vlan and udp"]) {
      const out = tcpdumpText(["-r", etherFile], expr);
      const p = parseBpfText(out);
      expect(text(p)).toBe(out);
      expect(p.instructions).toEqual(compileFilter(expr).instructions);
    }
  });

  test("CRLF line ends and surrounding blanks are accepted", () => {
    expect(parseBpfText("2\r\n 48 0 0 23 \r\n6 0 0 0\r\n\r\n").length).toBe(2);
  });

  test.each([
    ["", 1, /instruction count/],
    ["x\n6 0 0 0", 1, /instruction count/],
    ["0\n", 1, /1 to 4096/],
    ["2\n6 0 0 0", 3, /count says 2/],
    ["1\n6 0 0 0\n6 0 0 0", 3, /count says 1/],
    ["2\n40 0 0 12\n6 0 0", 3, /four decimal numbers/],
    ["2\n40 0 0 12\n6 0 0 -1", 3, /four decimal numbers/],
    ["2\n40 0 0 12\n6 0 0 0x10", 3, /four decimal numbers/],
    ["1\n65536 0 0 0", 2, /16-bit/],
    ["1\n6 256 0 0", 2, /0 to 255/],
    ["1\n6 0 0 4294967296", 2, /32-bit/],
    ["2\n21 0 1 2048\n6 0 0 0", 2, /lands past/],
    ["2\n5 0 0 1\n6 0 0 0", 2, /lands past/],
  ])("malformed text %p is refused at line %p", (input, line, why) => {
    const e = thrown(() => parseBpfText(input));
    expect(e.code).toBe("bpf_text_invalid");
    expect(e.message).toContain(`line ${line}:`);
    expect(e.message).toMatch(why);
  });

  test("programFromInstructions encodes little-endian sock_filter entries", () => {
    const p = programFromInstructions([[0x28, 0, 0, 12], [0x15, 0, 1, 0x0800], [0x06, 0, 0, 0x40000], [0x06, 0, 0, 0]]);
    expect(p.length).toBe(4);
    expect(Array.from(p.instructions.subarray(8, 16))).toEqual([0x15, 0, 0, 1, 0x00, 0x08, 0, 0]);
  });

  test("programFromInstructions refuses bad fields, jumps out of the program and empty programs", () => {
    expect(thrown(() => programFromInstructions([])).code).toBe("invalid_argument");
    expect(thrown(() => programFromInstructions([[0x15, 0, 5, 1], [6, 0, 0, 0]])).message).toContain("instruction 0");
    expect(thrown(() => programFromInstructions([[6, 0, 0, 2 ** 32]])).message).toContain("32-bit");
    expect(thrown(() => programFromInstructions([[6, 0, 0] as unknown as [number, number, number, number]])).code)
      .toBe("invalid_argument");
  });

  test("a hole in the array is a missing instruction, and a hostile value is a RingcapError, never a TypeError", () => {
    type Insn = [number, number, number, number];
    const holes = [[6, 0, 0, 0], , [6, 0, 0, 0]] as unknown as Insn[];
    expect(thrown(() => programFromInstructions(holes)).message).toContain("instruction 1");
    expect(thrown(() => programFromInstructions(new Array(3))).code).toBe("invalid_argument");
    const hostile: unknown[] = [Symbol("k"), 1n, { toString() { throw new Error("no"); } }, new Proxy({}, { get() { throw new Error("trap"); } })];
    for (const k of hostile) {
      const err = thrown(() => programFromInstructions([[6, 0, 0, k] as unknown as Insn]));
      expect(err).toBeInstanceOf(RingcapError);
      expect(err.message).toContain("instruction 0: k ");
    }
    for (const text of [5, null, undefined, {}, Symbol("t")]) {
      expect(thrown(() => parseBpfText(text as unknown as string)).code).toBe("bpf_text_invalid");
    }
  });

  test("a program whose length does not fit its buffer is refused by every reader, whatever the buffer claims", () => {
    const p = programFromInstructions([[6, 0, 0, 0xffff]]);
    const long = { instructions: p.instructions, length: 2 };
    for (const read of [checkBpfProgram, decodeProgram, programText, checkStrippedVlan, onWireProgram] as ((p: BpfProgram) => unknown)[]) {
      const err = thrown(() => read(long));
      expect([err.code, err.message]).toEqual(["invalid_argument", expect.stringContaining("holds 8 bytes")]);
    }
    // A subclass that lies about its size is measured by the engine's own getter.
    class Liar extends Uint8Array {
      override get byteLength(): number {
        return 1 << 20;
      }
    }
    expect(thrown(() => checkBpfProgram({ instructions: new Liar(8), length: 4096 })).message).toContain("holds 8 bytes");
    // What it returns is a frozen copy of what it checked.
    const checked = checkBpfProgram(p);
    expect(Object.isFrozen(checked) && checked.length === 1 && checked.instructions === p.instructions).toBe(true);
  });
});

describe("onWireProgram (filters judged as on the wire when the kernel strips the tag)", () => {
  const SKF_AD = 0xfffff000;
  const rows = (p: BpfProgram) => text(p).trimEnd().split("\n").slice(1);

  test("frames without a stripped tag run the program unchanged; tagged ones a copy that reads past the tag", () => {
    // ldh [12]; jeq 0x0800; ldb [23]; jeq 17; ret 1; ret 0: IPv4 and UDP.
    const dead = programFromInstructions([[0x28, 0, 0, 12], [0x15, 0, 3, 0x0800], [0x30, 0, 0, 23], [0x15, 0, 1, 17], [0x06, 0, 0, 1], [0x06, 0, 0, 0]]);
    const live = onWireProgram(dead);
    expect(rows(live)).toEqual([
      `32 0 0 ${SKF_AD + 48}`, // ld vlan_tag_present
      "21 1 0 0", // no tag: fall into the original
      "5 0 0 6", // a tag: jump over it to the copy
      ...rows(dead),
      `32 0 0 ${SKF_AD + 60}`, // the EtherType at [12] is now the tag's TPID...
      "21 0 3 2048",
      "48 0 0 19", // ...and the protocol byte sits 4 bytes earlier in the stripped frame
      "21 0 1 17",
      "6 0 0 1",
      "6 0 0 0",
    ]);
  });

  test("a program that reads nothing at or past the tag is returned as it is", () => {
    const dead = programFromInstructions([[0x20, 0, 0, 2], [0x15, 0, 1, 0x02000001], [0x06, 0, 0, 1], [0x06, 0, 0, 0]]);
    expect(onWireProgram(dead)).toBe(dead);
  });

  test("a program that already uses the scratch words the rewrite needs is refused with filter_vlan_unsupported", () => {
    // ld [10] spans the tag (assembled byte by byte in M[14]), and the program stores into M[14] itself.
    const dead = programFromInstructions([[0x02, 0, 0, 14], [0x20, 0, 0, 10], [0x06, 0, 0, 0]]);
    const e = thrown(() => onWireProgram(dead));
    expect(e.code).toBe("filter_vlan_unsupported");
    expect(e.message).toContain("scratch words 14 and 15");
  });
});

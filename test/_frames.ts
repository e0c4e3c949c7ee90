// Builds Ethernet frames with chosen fields, for the decoder tests. Test-only: it trusts its input.

export interface VlanTag {
  /** @default 0x8100 */
  tpid?: number;
  id: number;
  /** @default 0 */
  priority?: number;
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  /** @default 64 */
  ttl?: number;
  /** Header options, padded with zeros (end of options) to a multiple of 4 bytes. */
  options?: number[];
  /** In bytes, a multiple of 8. @default 0 */
  fragmentOffset?: number;
  /** More fragments. @default false */
  moreFragments?: boolean;
  /** Overrides the IHL nibble (in 4-byte words), to build malformed headers. */
  ihl?: number;
  /** Overrides the total length field. */
  totalLength?: number;
  /** Overrides the protocol field (otherwise taken from the L4 part). */
  protocol?: number;
}

export type Ipv6Extension =
  | { type: "hop" | "dest" | "routing"; /** Total size in bytes, a multiple of 8. @default 8 */ size?: number }
  | { type: "fragment"; offset: number; more?: boolean; id?: number };

export interface Ipv6Spec {
  src: string;
  dst: string;
  /** @default 64 */
  hopLimit?: number;
  extensions?: Ipv6Extension[];
  /** Overrides the payload length field. */
  payloadLength?: number;
  /** Overrides the last next-header value (otherwise taken from the L4 part). */
  protocol?: number;
}

export interface TcpSpec {
  src: number;
  dst: number;
  /** @default 0 */
  seq?: number;
  /** @default 0 */
  ack?: number;
  /** Flag bits, 0x100 for AE. @default 0x10 (ACK) */
  flags?: number;
  /** @default 65535 */
  window?: number;
  /** Options, padded with zeros to a multiple of 4 bytes. */
  options?: number[];
}

export interface FrameSpec {
  /** @default 02:00:00:00:00:02 */
  dstMac?: number[];
  /** @default 02:00:00:00:00:01 */
  srcMac?: number[];
  vlans?: VlanTag[];
  /** The EtherType (or 802.3 length) when neither ipv4 nor ipv6 is given. */
  etherType?: number;
  ipv4?: Ipv4Spec;
  ipv6?: Ipv6Spec;
  tcp?: TcpSpec;
  udp?: { src: number; dst: number };
  icmp?: { type: number; code: number };
  icmpv6?: { type: number; code: number };
  payload?: number[] | Uint8Array;
  /** Pads the frame with zeros to at least this many bytes (Ethernet's minimum is 60 without FCS). */
  padTo?: number;
}

export function parseIPv4(text: string): number[] {
  return text.split(".").map(Number);
}

export function parseIPv6(text: string): number[] {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

function pad4(bytes: number[]): number[] {
  const out = [...bytes];
  while (out.length % 4) out.push(0);
  return out;
}

function u16(n: number): number[] {
  return [(n >>> 8) & 0xff, n & 0xff];
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function checksum(bytes: number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function upperLayer(spec: FrameSpec): { protocol: number; bytes: number[] } {
  const payload = [...(spec.payload ?? [])];
  if (spec.tcp) {
    const t = spec.tcp;
    const options = pad4(t.options ?? []);
    const flags = t.flags ?? 0x10;
    const header = [
      ...u16(t.src),
      ...u16(t.dst),
      ...u32(t.seq ?? 0),
      ...u32(t.ack ?? 0),
      (((20 + options.length) / 4) << 4) | ((flags >> 8) & 1),
      flags & 0xff,
      ...u16(t.window ?? 65535),
      0, 0, // checksum: the decoder does not check it
      0, 0, // urgent pointer
      ...options,
    ];
    return { protocol: 6, bytes: [...header, ...payload] };
  }
  if (spec.udp) return { protocol: 17, bytes: [...u16(spec.udp.src), ...u16(spec.udp.dst), ...u16(8 + payload.length), 0, 0, ...payload] };
  if (spec.icmp) return { protocol: 1, bytes: [spec.icmp.type, spec.icmp.code, 0, 0, 0, 1, 0, 1, ...payload] };
  if (spec.icmpv6) return { protocol: 58, bytes: [spec.icmpv6.type, spec.icmpv6.code, 0, 0, 0, 1, 0, 1, ...payload] };
  return { protocol: 59, bytes: payload };
}

const EXT_NUMBER = { hop: 0, routing: 43, fragment: 44, dest: 60 } as const;

function ipv4Packet(ip: Ipv4Spec, l4: { protocol: number; bytes: number[] }): number[] {
  const options = pad4(ip.options ?? []);
  const ihl = ip.ihl ?? (20 + options.length) / 4;
  const total = ip.totalLength ?? 20 + options.length + l4.bytes.length;
  const frag = ((ip.fragmentOffset ?? 0) / 8) | (ip.moreFragments ? 0x2000 : 0);
  const header = [
    0x40 | ihl,
    0,
    ...u16(total),
    0x12, 0x34, // identification
    ...u16(frag),
    ip.ttl ?? 64,
    ip.protocol ?? l4.protocol,
    0, 0,
    ...parseIPv4(ip.src),
    ...parseIPv4(ip.dst),
    ...options,
  ];
  const sum = checksum(header);
  header[10] = sum >> 8;
  header[11] = sum & 0xff;
  return [...header, ...l4.bytes];
}

function ipv6Packet(ip: Ipv6Spec, l4: { protocol: number; bytes: number[] }): number[] {
  const exts = ip.extensions ?? [];
  const numbers = exts.map((e) => EXT_NUMBER[e.type]);
  const chain: number[] = [];
  exts.forEach((e, i) => {
    const next = i + 1 < exts.length ? numbers[i + 1] : ip.protocol ?? l4.protocol;
    if (e.type === "fragment") {
      chain.push(next, 0, ...u16(e.offset | (e.more ? 1 : 0)), ...u32(e.id ?? 0xabcd));
      return;
    }
    const size = e.size ?? 8;
    const body = Array(size - 2).fill(0);
    if (e.type === "routing") body[0] = 4; // segment routing type; decoders skip by length
    // PadN keeps the option area well-formed.
    if (e.type !== "routing" && size - 2 >= 2) [body[0], body[1]] = [1, size - 4];
    chain.push(next, size / 8 - 1, ...body);
  });
  const payload = [...chain, ...l4.bytes];
  const header = [
    0x60, 0, 0, 0,
    ...u16(ip.payloadLength ?? payload.length),
    exts.length ? numbers[0] : ip.protocol ?? l4.protocol,
    ip.hopLimit ?? 64,
    ...parseIPv6(ip.src),
    ...parseIPv6(ip.dst),
  ];
  return [...header, ...payload];
}

/** The frame described by `spec`, from the destination MAC to the last payload byte (and padding). */
export function buildFrame(spec: FrameSpec): Uint8Array {
  const out: number[] = [...(spec.dstMac ?? [2, 0, 0, 0, 0, 2]), ...(spec.srcMac ?? [2, 0, 0, 0, 0, 1])];
  for (const tag of spec.vlans ?? []) out.push(...u16(tag.tpid ?? 0x8100), ...u16(((tag.priority ?? 0) << 13) | tag.id));
  const l4 = upperLayer(spec);
  if (spec.ipv4) out.push(...u16(0x0800), ...ipv4Packet(spec.ipv4, l4));
  else if (spec.ipv6) out.push(...u16(0x86dd), ...ipv6Packet(spec.ipv6, l4));
  else out.push(...u16(spec.etherType ?? 0x0806), ...l4.bytes);
  while (out.length < (spec.padTo ?? 0)) out.push(0);
  return Uint8Array.from(out);
}

/** `frame` copied to `start` in a buffer `total` bytes long (filled with `fill`), with a view over it. */
export function placeAt(frame: Uint8Array, start: number, total = start + frame.length, fill = 0xee): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(total).fill(fill);
  bytes.set(frame.subarray(0, Math.max(0, Math.min(frame.length, total - start))), start);
  return { bytes, view: new DataView(bytes.buffer) };
}

/**
 * Test helper: what `ss -D -` prints for given sockets, i.e. netlink messages carrying
 * inet_diag_msg records (the layout in src/sources/sockets/diag.ts), ended by NLMSG_DONE.
 */
import { isIPv4 } from 'node:net';
import { AddressTable } from '../../src/model/address-table';
import { LineCarry } from '../../src/host/lines';
import type { SocketSink } from '../../src/model/records';
import { SsParser } from '../../src/sources/sockets/ss';

export interface DiagSocket {
  /** The family of the socket (an IPv4-mapped socket is an IPv6 one). */
  readonly family: 4 | 6;
  readonly state: number;
  readonly local: string;
  readonly localPort: number;
  readonly remote: string;
  readonly remotePort: number;
  /** What a TIME_WAIT socket has left, in ms. */
  readonly expiresMs?: number;
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

/** 16 bytes; an IPv4 address in an IPv6 record is written IPv4-mapped. */
function ipv6Bytes(text: string): number[] {
  if (isIPv4(text)) return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...ipv4Bytes(text)];
  let tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    tail = ipv4Bytes(dotted[1]);
    text = text.slice(0, -dotted[1].length) + '0:0';
  }
  const [head, rest] = text.split('::');
  const words = (part: string | undefined) => (part ? part.split(':').filter(Boolean).map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const r = rest === undefined ? [] : words(rest);
  const all = [...h, ...new Array(8 - h.length - r.length).fill(0), ...r];
  const bytes = all.flatMap((w) => [w >> 8, w & 255]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

function header(length: number, type: number, littleEndian: boolean): Buffer {
  const b = Buffer.alloc(16);
  if (littleEndian) {
    b.writeUInt32LE(length, 0);
    b.writeUInt16LE(type, 4);
    b.writeUInt16LE(2, 6); // NLM_F_MULTI
  } else {
    b.writeUInt32BE(length, 0);
    b.writeUInt16BE(type, 4);
    b.writeUInt16BE(2, 6);
  }
  return b;
}

/** One record per socket, each with an 8-byte attribute after it (skipped by the reader), then NLMSG_DONE. */
export function diagRecords(sockets: readonly DiagSocket[], littleEndian = true): Buffer {
  const parts: Buffer[] = [];
  for (const s of sockets) {
    const m = Buffer.alloc(72 + 8);
    m[0] = s.family === 4 ? 2 : 10;
    m[1] = s.state;
    m[2] = s.expiresMs === undefined ? 0 : 3;
    m.writeUInt16BE(s.localPort, 4);
    m.writeUInt16BE(s.remotePort, 6);
    const local = s.family === 4 ? ipv4Bytes(s.local) : ipv6Bytes(s.local);
    const remote = s.family === 4 ? ipv4Bytes(s.remote) : ipv6Bytes(s.remote);
    Buffer.from(local).copy(m, 8);
    Buffer.from(remote).copy(m, 24);
    if (littleEndian) m.writeUInt32LE(s.expiresMs ?? 0, 52);
    else m.writeUInt32BE(s.expiresMs ?? 0, 52);
    // An INET_DIAG_SHUTDOWN attribute, as the kernel adds: length 5, padded to 8.
    if (littleEndian) m.writeUInt16LE(5, 72), m.writeUInt16LE(8, 74);
    else m.writeUInt16BE(5, 72), m.writeUInt16BE(8, 74);
    parts.push(header(16 + m.length, 20, littleEndian), m);
  }
  const done = Buffer.alloc(4);
  parts.push(header(20, 3, littleEndian), done);
  return Buffer.concat(parts);
}

/**
 * The TCP sockets of an ss text listing (`ss -tuano` and its spellings) with a port in
 * `usable`, as records would carry them: in the listing's family when given, else in each
 * address's own (an IPv4-mapped one as IPv4).
 */
export function socketsOfText(text: Uint8Array, usable: Uint8Array, family?: 4 | 6): DiagSocket[] {
  const sockets: DiagSocket[] = [];
  const addresses = new AddressTable();
  const sink: SocketSink = {
    addresses,
    tcp: (local, localPort, remote, remotePort, state, age) =>
      void sockets.push({ family: family ?? addresses.family(local), state, local: addresses.text(local), localPort, remote: addresses.text(remote), remotePort, expiresMs: age < 0 ? undefined : 60_000 - age }),
    udp: () => {},
  };
  const lines = new LineCarry(new SsParser(null, usable, sink), 'ss');
  lines.push(text);
  lines.finish();
  return sockets;
}

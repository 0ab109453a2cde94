/**
 * Streaming parser of conntrack entries as text: the lines of /proc/PID/net/nf_conntrack
 * and of `conntrack -L -o extended` (conntrack-tools). Both print one entry per line:
 *
 *   ipv4     2 tcp      6 56 ESTABLISHED src=10.1.0.2 dst=10.2.0.2 sport=52570 dport=5432 \
 *     src=10.2.0.2 dst=10.2.0.1 sport=5432 dport=40006 [ASSURED] mark=0 zone=0 use=2
 *
 * (net/netfilter/nf_conntrack_standalone.c ct_seq_show; conntrack-tools prints the same
 * fields, `zone=` only when not 0, and `use=1`). The first src/dst/sport/dport are the
 * original direction, the second the reply direction. Bytes are decoded in place: no
 * string, no object, no regex per entry (a gateway may hold a million of them).
 */
import { parseIpv6 } from '../../model/address';
import type { AddressTable } from '../../model/address-table';
import { KernelError } from '../../host/errors';
import { eachCompleteLine, type LineParser } from '../../host/lines';

/** IP protocol numbers: the only ones whose entries hold a port the NAT engine hands out. */
export const PROTOCOL_TCP = 6;
export const PROTOCOL_UDP = 17;

/**
 * Conntrack's TCP states as it names them (nf_conntrack_proto_tcp.c tcp_conntrack_names),
 * numbered as there. Other protocols have no state: STATE_NONE.
 */
export const CONNTRACK_TCP_STATES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'] as const;
export const STATE_NONE = 0;
export const STATE_TIME_WAIT = 7;
export const STATE_CLOSE = 8;

/**
 * Where the parser delivers each TCP or UDP entry. Positional arguments, not an object per
 * entry: this is the hot path on a gateway.
 */
export interface ConntrackSink {
  /** Where addresses are interned: the ids below are its. */
  readonly addresses: AddressTable;
  /**
   * @param protocol PROTOCOL_TCP or PROTOCOL_UDP
   * @param zone the conntrack zone of the reply direction (0 unless set)
   * @param translated the reply goes to another address than the one that opened the
   *   connection (source NAT); the original source itself is never needed
   * @param replySource, replySourcePort the destination as the NAT engine sees it (after DNAT)
   * @param replyDestination, replyDestinationPort the source the connection was given (the
   *   NAT address and port when it was translated)
   * @param state an index into CONNTRACK_TCP_STATES; STATE_NONE for UDP
   * @param timeoutSeconds how long the entry still lives unless a packet refreshes it
   * (hot path: one call per socket, here per conntrack entry)
   */
  entry(protocol: number, zone: number, translated: boolean, replySource: number, replySourcePort: number, replyDestination: number, replyDestinationPort: number, state: number, timeoutSeconds: number): void;
}

const SPACE = 32;
const DOT = 46;
const COLON = 58;
const EQUALS = 61;
const BRACKET = 91;
const S = 115;
const D = 100;
const Z = 122;

const bytes = (text: string): Uint8Array => Buffer.from(text, 'latin1');
const KEY_SRC = bytes('src');
const KEY_DST = bytes('dst');
const KEY_SPORT = bytes('sport');
const KEY_DPORT = bytes('dport');
const KEY_ZONE = bytes('zone');
const KEY_ZONE_REPLY = bytes('zone-reply');
const STATE_BYTES = CONNTRACK_TCP_STATES.map(bytes);

function equals(buf: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[start + i] !== word[i]) return false;
  return true;
}

export class ConntrackParser implements LineParser {
  /** Lines seen, header-less: every line is an entry. */
  lines = 0;
  /** TCP and UDP entries handed to the sink. */
  entries = 0;
  /** The original source's words, and the reply destination's: compared, never interned (one client each, a million of them). */
  private readonly original = new Int32Array(4);
  private readonly replyDestinationWords = new Int32Array(4);
  private readonly scratch = new Int32Array(4);
  private readonly lastNat = new Int32Array(4);
  private lastNatFamily = 0;
  private lastNatId = -1;

  constructor(
    private readonly sink: ConntrackSink,
    /** Names the source in errors: the file, or the program. */
    private readonly source: string,
  ) {}

  feed(buf: Uint8Array, end: number): number {
    return eachCompleteLine(buf, end, (start, lineEnd) => this.line(buf, start, lineEnd));
  }

  finish(buf: Uint8Array, end: number): void {
    if (end > 0) this.line(buf, 0, end);
  }

  private fail(what: string): never {
    throw new KernelError(this.source, `line ${this.lines}: ${what}`);
  }

  /** The end of the token that starts at pos. */
  private static tokenEnd(buf: Uint8Array, pos: number, end: number): number {
    while (pos < end && buf[pos] !== SPACE) pos++;
    return pos;
  }

  private static skipSpaces(buf: Uint8Array, pos: number, end: number): number {
    while (pos < end && buf[pos] === SPACE) pos++;
    return pos;
  }

  private decimal(buf: Uint8Array, start: number, end: number, field: string): number {
    if (start === end || end - start > 10) this.fail(`${field} is not a number`);
    let value = 0;
    for (let i = start; i < end; i++) {
      const digit = buf[i] - 48;
      if (digit < 0 || digit > 9) this.fail(`${field} is not a number`);
      value = value * 10 + digit;
    }
    return value;
  }

  private port(buf: Uint8Array, start: number, end: number, field: string): number {
    const port = this.decimal(buf, start, end, field);
    if (port > 65535) this.fail(`${field} is not a port`);
    return port;
  }

  /**
   * Dotted quad or IPv6 text → four network-order words in `into` (IPv4: 0, 0, 0, address);
   * returns the family.
   */
  private words(buf: Uint8Array, start: number, end: number, field: string, into: Int32Array): 4 | 6 {
    let colon = false;
    for (let i = start; i < end && !colon; i++) colon = buf[i] === COLON;
    if (colon) {
      if (!parseIpv6(buf, start, end, into)) this.fail(`${field} is not an address`);
      return 6;
    }
    let value = 0;
    let pos = start;
    for (let octet = 0; octet < 4; octet++) {
      const digits = pos;
      let n = 0;
      while (pos < end && pos - digits < 3 && buf[pos] >= 48 && buf[pos] <= 57) n = n * 10 + buf[pos++] - 48;
      if (pos === digits || n > 255) this.fail(`${field} is not an address`);
      value = value * 256 + n;
      if (octet < 3) {
        if (pos >= end || buf[pos] !== DOT) this.fail(`${field} is not an address`);
        pos++;
      }
    }
    if (pos !== end) this.fail(`${field} is not an address`);
    into[0] = into[1] = into[2] = 0;
    into[3] = value;
    return 4;
  }

  /**
   * The reply destination's id: on a NAT host nearly every entry has one of a few (the NAT
   * addresses), so the last one's words are compared before the table is asked.
   */
  private natAddress(buf: Uint8Array, start: number, end: number): number {
    const w = this.replyDestinationWords;
    const family = this.words(buf, start, end, 'dst', w);
    const last = this.lastNat;
    if (this.lastNatId !== -1 && family === this.lastNatFamily && w[3] === last[3] && w[2] === last[2] && w[1] === last[1] && w[0] === last[0]) return this.lastNatId;
    this.lastNatId = family === 4 ? this.sink.addresses.ipv4(w[3] >>> 0) : this.sink.addresses.ipv6(w[0] >>> 0, w[1] >>> 0, w[2] >>> 0, w[3] >>> 0);
    this.lastNatFamily = family;
    last.set(w);
    return this.lastNatId;
  }

  /** The address's id in the sink's table. */
  private address(buf: Uint8Array, start: number, end: number, field: string, into: Int32Array): number {
    const w = into;
    if (this.words(buf, start, end, field, w) === 4) return this.sink.addresses.ipv4(w[3] >>> 0);
    return this.sink.addresses.ipv6(w[0] >>> 0, w[1] >>> 0, w[2] >>> 0, w[3] >>> 0);
  }

  private line(buf: Uint8Array, start: number, end: number): void {
    this.lines++;
    let pos = ConntrackParser.skipSpaces(buf, start, end);
    if (pos === end) return;
    let tokenEnd = ConntrackParser.tokenEnd(buf, pos, end);
    // `ipv4 2` / `ipv6 10`: the layer 3 name and number (/proc, and conntrack -o extended).
    if (buf[pos] === 105 /* i */ && buf[pos + 1] === 112 /* p */ && buf[pos + 2] === 118 /* v */) {
      pos = ConntrackParser.skipSpaces(buf, tokenEnd, end);
      pos = ConntrackParser.skipSpaces(buf, ConntrackParser.tokenEnd(buf, pos, end), end);
      tokenEnd = ConntrackParser.tokenEnd(buf, pos, end);
    }
    // The layer 4 name, then its number: only TCP and UDP entries hold a NAT port.
    pos = ConntrackParser.skipSpaces(buf, tokenEnd, end);
    tokenEnd = ConntrackParser.tokenEnd(buf, pos, end);
    const protocol = this.decimal(buf, pos, tokenEnd, 'protocol number');
    if (protocol !== PROTOCOL_TCP && protocol !== PROTOCOL_UDP) return;
    pos = ConntrackParser.skipSpaces(buf, tokenEnd, end);
    tokenEnd = ConntrackParser.tokenEnd(buf, pos, end);
    const timeoutSeconds = this.decimal(buf, pos, tokenEnd, 'timeout');
    pos = ConntrackParser.skipSpaces(buf, tokenEnd, end);
    let state = STATE_NONE;
    if (protocol === PROTOCOL_TCP) {
      tokenEnd = ConntrackParser.tokenEnd(buf, pos, end);
      state = -1;
      for (let i = 0; i < STATE_BYTES.length && state === -1; i++) if (equals(buf, pos, tokenEnd, STATE_BYTES[i])) state = i;
      if (state === -1) this.fail('unknown TCP state');
      pos = ConntrackParser.skipSpaces(buf, tokenEnd, end);
    }
    // key=value tokens and [FLAGS]; each of src, dst, sport, dport comes twice.
    let srcSeen = 0;
    let dstSeen = 0;
    let sportSeen = 0;
    let dportSeen = 0;
    let originalFamily = 0;
    let replySource = -1;
    let replyDestination = -1;
    let replySourcePort = -1;
    let replyDestinationPort = -1;
    let zone = 0;
    let zoneReply = -1;
    while (pos < end) {
      tokenEnd = ConntrackParser.tokenEnd(buf, pos, end);
      if (buf[pos] !== BRACKET) {
        let eq = pos;
        while (eq < tokenEnd && buf[eq] !== EQUALS) eq++;
        if (eq === tokenEnd) this.fail('a field without "="');
        const value = eq + 1;
        const first = buf[pos];
        const length = eq - pos;
        // The first byte and the length pick the key; the full compare confirms it.
        if (length === 3 && first === S && equals(buf, pos, eq, KEY_SRC)) {
          if (srcSeen === 0) originalFamily = this.words(buf, value, tokenEnd, 'src', this.original);
          else if (srcSeen === 1) replySource = this.address(buf, value, tokenEnd, 'src', this.scratch);
          srcSeen++;
        } else if (length === 3 && first === D && equals(buf, pos, eq, KEY_DST)) {
          // The original destination is not needed: the reply source is it after DNAT.
          if (dstSeen === 1) replyDestination = this.natAddress(buf, value, tokenEnd);
          dstSeen++;
        } else if (length === 5 && first === S && equals(buf, pos, eq, KEY_SPORT)) {
          if (sportSeen === 1) replySourcePort = this.port(buf, value, tokenEnd, 'sport');
          sportSeen++;
        } else if (length === 5 && first === D && equals(buf, pos, eq, KEY_DPORT)) {
          if (dportSeen === 1) replyDestinationPort = this.port(buf, value, tokenEnd, 'dport');
          dportSeen++;
        } else if (first === Z && equals(buf, pos, eq, KEY_ZONE)) {
          zone = this.decimal(buf, value, tokenEnd, 'zone');
        } else if (first === Z && equals(buf, pos, eq, KEY_ZONE_REPLY)) {
          zoneReply = this.decimal(buf, value, tokenEnd, 'zone-reply');
        }
      }
      pos = ConntrackParser.skipSpaces(buf, tokenEnd, end);
    }
    if (srcSeen !== 2 || dstSeen !== 2 || sportSeen !== 2 || dportSeen !== 2) this.fail('not two tuples of src, dst, sport, dport');
    this.entries++;
    // Translated: the reply goes to another address than the one that opened the connection.
    const o = this.original;
    const r = this.replyDestinationWords;
    const translated = originalFamily !== this.sink.addresses.family(replyDestination) || o[0] !== r[0] || o[1] !== r[1] || o[2] !== r[2] || o[3] !== r[3];
    // A zone set for the reply direction only is the one its reply tuple is looked up in.
    this.sink.entry(protocol, zoneReply === -1 ? zone : zoneReply, translated, replySource, replySourcePort, replyDestination, replyDestinationPort, state, timeoutSeconds);
  }
}

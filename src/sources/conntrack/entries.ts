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
import { dottedQuad, parseIpv6 } from '../../model/address';
import type { AddressTable } from '../../model/address-table';
import { KernelError } from '../../host/errors';
import type { LineParser } from '../../host/lines';

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

const NEWLINE = 10;
const SPACE = 32;
const COLON = 58;
const EQUALS = 61;
const BRACKET = 91;
const S = 115;
const D = 100;
const Z = 122;

const bytes = (text: string): Uint8Array => Buffer.from(text, 'latin1');
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
    // One search per buffer, for its last newline: the lines before it are whole, and each
    // one ends where its tokens reach a newline (no search, no call per line to find it).
    const last = Buffer.from(buf.buffer, buf.byteOffset, end).lastIndexOf(NEWLINE);
    for (let pos = 0; pos <= last; ) pos = this.line(buf, pos) + 1;
    return last + 1;
  }

  finish(buf: Uint8Array, end: number): void {
    if (end === 0) return;
    // line() reads up to a newline: the last line, which has none, gets one in a copy.
    const line = new Uint8Array(end + 1);
    line.set(buf.subarray(0, end));
    line[end] = NEWLINE;
    this.line(line, 0);
  }

  private fail(what: string): never {
    throw new KernelError(this.source, `line ${this.lines}: ${what}`);
  }

  /**
   * The end of the token that starts at pos: a space, or the newline that ends every line
   * line() is given (so no bound is needed).
   */
  private static tokenEnd(buf: Uint8Array, pos: number): number {
    let b = buf[pos];
    while (b !== SPACE && b !== NEWLINE) b = buf[++pos];
    return pos;
  }

  private static skipSpaces(buf: Uint8Array, pos: number): number {
    while (buf[pos] === SPACE) pos++;
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
    // A dotted quad, the common case, in one pass; else it must hold a colon to be IPv6.
    const quad = dottedQuad(buf, start, end);
    if (quad !== -1) {
      into[0] = into[1] = into[2] = 0;
      into[3] = quad;
      return 4;
    }
    let colon = false;
    for (let i = start; i < end && !colon; i++) colon = buf[i] === COLON;
    if (!colon || !parseIpv6(buf, start, end, into)) this.fail(`${field} is not an address`);
    return 6;
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

  /**
   * One entry, from start up to its newline (there always is one: feed and finish see to
   * it); returns where that newline is.
   */
  private line(buf: Uint8Array, start: number): number {
    this.lines++;
    let pos = ConntrackParser.skipSpaces(buf, start);
    if (buf[pos] === NEWLINE) return pos;
    let tokenEnd = ConntrackParser.tokenEnd(buf, pos);
    // `ipv4 2` / `ipv6 10`: the layer 3 name and number (/proc, and conntrack -o extended).
    if (buf[pos] === 105 /* i */ && buf[pos + 1] === 112 /* p */ && buf[pos + 2] === 118 /* v */) {
      pos = ConntrackParser.skipSpaces(buf, tokenEnd);
      pos = ConntrackParser.skipSpaces(buf, ConntrackParser.tokenEnd(buf, pos));
      tokenEnd = ConntrackParser.tokenEnd(buf, pos);
    }
    // The layer 4 name, then its number: only TCP and UDP entries hold a NAT port.
    pos = ConntrackParser.skipSpaces(buf, tokenEnd);
    tokenEnd = ConntrackParser.tokenEnd(buf, pos);
    const protocol = this.decimal(buf, pos, tokenEnd, 'protocol number');
    if (protocol !== PROTOCOL_TCP && protocol !== PROTOCOL_UDP) {
      while (buf[tokenEnd] !== NEWLINE) tokenEnd++;
      return tokenEnd;
    }
    pos = ConntrackParser.skipSpaces(buf, tokenEnd);
    tokenEnd = ConntrackParser.tokenEnd(buf, pos);
    const timeoutSeconds = this.decimal(buf, pos, tokenEnd, 'timeout');
    pos = ConntrackParser.skipSpaces(buf, tokenEnd);
    let state = STATE_NONE;
    if (protocol === PROTOCOL_TCP) {
      tokenEnd = ConntrackParser.tokenEnd(buf, pos);
      state = -1;
      for (let i = 0; i < STATE_BYTES.length && state === -1; i++) if (equals(buf, pos, tokenEnd, STATE_BYTES[i])) state = i;
      if (state === -1) this.fail('unknown TCP state');
      pos = ConntrackParser.skipSpaces(buf, tokenEnd);
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
    for (let first = buf[pos]; first !== NEWLINE; first = buf[pos]) {
      if (first === BRACKET) {
        pos = ConntrackParser.skipSpaces(buf, ConntrackParser.tokenEnd(buf, pos));
        continue;
      }
      // One scan finds the key's end, the next the value's (never the token twice).
      let eq = pos;
      let b = first;
      while (b !== EQUALS && b !== SPACE && b !== NEWLINE) b = buf[++eq];
      if (b !== EQUALS) this.fail('a field without "="');
      const value = eq + 1;
      tokenEnd = ConntrackParser.tokenEnd(buf, value);
      const length = eq - pos;
      // The first byte and the length pick the key; the rest of its bytes confirm it.
      if (length === 3) {
        if (first === S && buf[pos + 1] === 114 /* r */ && buf[pos + 2] === 99 /* c */) {
          if (srcSeen === 0) originalFamily = this.words(buf, value, tokenEnd, 'src', this.original);
          else if (srcSeen === 1) replySource = this.address(buf, value, tokenEnd, 'src', this.scratch);
          srcSeen++;
        } else if (first === D && buf[pos + 1] === S && buf[pos + 2] === 116 /* t */) {
          // The original destination is not needed: the reply source is it after DNAT.
          if (dstSeen === 1) replyDestination = this.natAddress(buf, value, tokenEnd);
          dstSeen++;
        }
      } else if (length === 5 && buf[pos + 1] === 112 /* p */ && buf[pos + 2] === 111 /* o */ && buf[pos + 3] === 114 /* r */ && buf[pos + 4] === 116 /* t */) {
        if (first === S) {
          if (sportSeen === 1) replySourcePort = this.port(buf, value, tokenEnd, 'sport');
          sportSeen++;
        } else if (first === D) {
          if (dportSeen === 1) replyDestinationPort = this.port(buf, value, tokenEnd, 'dport');
          dportSeen++;
        }
      } else if (first === Z) {
        if (equals(buf, pos, eq, KEY_ZONE)) zone = this.decimal(buf, value, tokenEnd, 'zone');
        else if (equals(buf, pos, eq, KEY_ZONE_REPLY)) zoneReply = this.decimal(buf, value, tokenEnd, 'zone-reply');
      }
      pos = ConntrackParser.skipSpaces(buf, tokenEnd);
    }
    if (srcSeen !== 2 || dstSeen !== 2 || sportSeen !== 2 || dportSeen !== 2) this.fail('not two tuples of src, dst, sport, dport');
    this.entries++;
    // Translated: the reply goes to another address than the one that opened the connection.
    const o = this.original;
    const r = this.replyDestinationWords;
    const translated = originalFamily !== this.sink.addresses.family(replyDestination) || o[0] !== r[0] || o[1] !== r[1] || o[2] !== r[2] || o[3] !== r[3];
    // A zone set for the reply direction only is the one its reply tuple is looked up in.
    this.sink.entry(protocol, zoneReply === -1 ? zone : zoneReply, translated, replySource, replySourcePort, replyDestination, replyDestinationPort, state, timeoutSeconds);
    return pos;
  }
}

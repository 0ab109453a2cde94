/**
 * Streaming parser of `ss -tunao` output (iproute2): the same sockets, handed to the sink
 * with the same values, as the /proc reader (procnet.ts) gives. Bytes are decoded in place
 * into address ids of the sink's table: no string per socket. TIME_WAIT ages differ only
 * in resolution (ss: milliseconds under 10 s left, whole seconds above; /proc: 1/100 s).
 *
 *   [Netid] State Recv-Q Send-Q Local-Address:Port Peer-Address:Port [timer:(name,left,n)]
 *
 * Spellings across iproute2 versions: a header line or none (old ones have no -H); the
 * Netid column only when several protocols are listed; IPv6 in brackets or, in old ones,
 * bare (`::1:22`, `:::22`); `*` for a wildcard address (0.0.0.0 in old ones, a dual-stack
 * `::` in new ones); `%iface` after the address of a socket bound to a device;
 * `::ffff:a.b.c.d` for IPv4-mapped sockets. The port is always after the last colon
 * (interface names cannot contain one), `*` for port 0.
 */
import { parseIpv6 } from '../../model/address';
import { KernelError } from '../../host/errors';
import { eachCompleteLine } from '../../host/lines';
import { TcpState, TIME_WAIT_LIFETIME_MS, UdpState, type SocketSink } from '../../model/records';

export type Protocol = 'tcp' | 'udp';

const SPACE = 32;
const TAB = 9;
const COLON = 58;
const PERCENT = 37;
const DOT = 46;
const STAR = 42;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const COMMA = 44;
const CLOSE_PAREN = 41;


/** ss's sstate_name[] (misc/ss.c); `-1` marks a state that no /proc table lists. */
const STATE_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['ESTAB', TcpState.ESTABLISHED],
  ['SYN-SENT', TcpState.SYN_SENT],
  ['SYN-RECV', TcpState.SYN_RECV],
  ['FIN-WAIT-1', TcpState.FIN_WAIT1],
  ['FIN-WAIT-2', TcpState.FIN_WAIT2],
  ['TIME-WAIT', TcpState.TIME_WAIT],
  ['UNCONN', TcpState.CLOSE],
  ['CLOSE-WAIT', TcpState.CLOSE_WAIT],
  ['LAST-ACK', TcpState.LAST_ACK],
  ['LISTEN', TcpState.LISTEN],
  ['CLOSING', TcpState.CLOSING],
  // Request sockets: the kernel reports them as SYN_RECV to ss and in /proc alike; the
  // name exists in new ss for completeness, so count it the way /proc would.
  ['NEW-SYN-RECV', TcpState.SYN_RECV],
];
const STATES = STATE_NAMES.map(([name, value]) => ({ bytes: Buffer.from(name, 'latin1'), value }));
const TCP = Buffer.from('tcp', 'latin1');
const UDP = Buffer.from('udp', 'latin1');
const STATE_HEADER = Buffer.from('State', 'latin1');
const NETID_HEADER = Buffer.from('Netid', 'latin1');
const TIMER = Buffer.from('timer:(', 'latin1');
const TIMEWAIT = Buffer.from('timewait', 'latin1');
const MS = Buffer.from('ms', 'latin1');
const SEC = Buffer.from('sec', 'latin1');
const MIN = Buffer.from('min', 'latin1');

function same(buf: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[start + i] !== word[i]) return false;
  return true;
}

/** indexOf within [start, end): Uint8Array#indexOf would search the whole buffer. */
function find(buf: Uint8Array, byte: number, start: number, end: number): number {
  for (let i = start; i < end; i++) if (buf[i] === byte) return i;
  return -1;
}

function isBlank(byte: number): boolean {
  return byte === SPACE || byte === TAB;
}

/**
 * The time left on an ss timer, rounded up to what the text can hide: print_ms_timer()
 * writes `1min`, `1min5sec`, `51sec` (whole seconds once above 9 s), `5.123ms` or
 * `5.123sec` (seconds with milliseconds; the unit changed in newer iproute2), `051ms`,
 * and nothing for 0. Rounding up the time left makes a socket look younger: the safe
 * direction. NaN when the text is not a timer value.
 */
export function timerLeftMs(buf: Uint8Array, start: number, end: number): number {
  let ms = 0;
  let slack = 0;
  let minutes = 0;
  let pos = start;
  while (pos < end) {
    const digits = pos;
    let n = 0;
    while (pos < end && buf[pos] >= 48 && buf[pos] <= 57) n = n * 10 + buf[pos++] - 48;
    if (pos === digits) return NaN;
    if (buf[pos] === DOT) {
      // seconds.milliseconds, then `ms` (old) or `sec` (new): exact
      pos++;
      const fraction = pos;
      let frac = 0;
      while (pos < end && buf[pos] >= 48 && buf[pos] <= 57) frac = frac * 10 + buf[pos++] - 48;
      if (pos - fraction !== 3) return NaN;
      if (same(buf, pos, Math.min(end, pos + 2), MS)) pos += 2;
      else if (same(buf, pos, Math.min(end, pos + 3), SEC)) pos += 3;
      else return NaN;
      ms += n * 1000 + frac;
    } else if (same(buf, pos, Math.min(end, pos + 3), MIN)) {
      pos += 3;
      minutes = n;
      ms += n * 60_000;
      // Milliseconds are dropped with minutes, seconds too beyond 9 minutes.
      slack = n > 9 ? 59_999 : 999;
    } else if (same(buf, pos, Math.min(end, pos + 3), SEC)) {
      pos += 3;
      ms += n * 1000;
      // Milliseconds are dropped beyond 9 s (or with minutes); `5sec` alone is exact.
      slack = n > 9 || minutes > 0 ? 999 : 0;
    } else if (same(buf, pos, Math.min(end, pos + 2), MS)) {
      pos += 2;
      ms += n;
    } else {
      return NaN;
    }
  }
  return ms + slack;
}

export class SsParser {
  private lineNumber = 0;
  private readonly words = new Int32Array(4);
  // Token bounds of the line being parsed, set by token().
  private tokenStart = 0;
  private tokenEnd = 0;

  constructor(
    /** What `ss` was asked for: the protocol of lines without a Netid column. */
    private readonly protocol: Protocol | null,
    /** 1 for each port in the range and not reserved: the only ports that matter. */
    private readonly usable: Uint8Array,
    private readonly sink: SocketSink,
    /** Names the source in error messages. */
    private readonly source = 'ss',
  ) {}

  /** Lines seen so far, blank and header lines included. */
  get lines(): number {
    return this.lineNumber;
  }

  /** Parses every complete line in buf[0, end); returns where the incomplete tail starts. */
  feed(buf: Uint8Array, end: number): number {
    return eachCompleteLine(buf, end, (start, lineEnd) => this.line(buf, start, lineEnd));
  }

  /** The bytes left at the end of the output (a last line without newline). */
  finish(buf: Uint8Array, end: number): void {
    if (end > 0) this.line(buf, 0, end);
  }

  /** @param read the bytes in question: only their excerpt is shown (errors.ts). */
  private fail(what: string, read?: Uint8Array): never {
    throw new KernelError(this.source, `line ${this.lineNumber}: ${what}`, read);
  }

  /** Moves tokenStart/tokenEnd to the next blank-separated token from pos; false at end. */
  private token(buf: Uint8Array, pos: number, end: number): boolean {
    while (pos < end && isBlank(buf[pos])) pos++;
    this.tokenStart = pos;
    while (pos < end && !isBlank(buf[pos])) pos++;
    this.tokenEnd = pos;
    return pos > this.tokenStart;
  }

  private need(buf: Uint8Array, end: number, field: string): void {
    if (!this.token(buf, this.tokenEnd, end)) this.fail(`missing ${field}`);
  }

  private line(buf: Uint8Array, start: number, end: number): void {
    this.lineNumber++;
    this.tokenEnd = start;
    if (!this.token(buf, start, end)) return; // a blank line carries no socket
    let protocol = this.protocol;
    const netid = same(buf, this.tokenStart, this.tokenEnd, TCP) ? 'tcp' : same(buf, this.tokenStart, this.tokenEnd, UDP) ? 'udp' : null;
    if (netid !== null) {
      protocol = netid;
      this.need(buf, end, 'state');
    } else if (this.lineNumber === 1 && (same(buf, this.tokenStart, this.tokenEnd, STATE_HEADER) || same(buf, this.tokenStart, this.tokenEnd, NETID_HEADER))) {
      return;
    } else if (protocol === null) {
      this.fail('no Netid column');
    }

    const state = this.state(buf);
    this.need(buf, end, 'Recv-Q');
    this.need(buf, end, 'Send-Q');
    this.need(buf, end, 'local address');
    const localStart = this.tokenStart;
    const localColon = this.portColon(buf, 'local address');
    const localPort = this.port(buf, localColon + 1, this.tokenEnd, 'local port');
    // ss filtered on the range already; this drops reserved ports (ss cannot filter them).
    if (!this.usable[localPort]) return;

    if (protocol === 'udp') {
      if (state === TcpState.ESTABLISHED) this.sink.udp(localPort, UdpState.CONNECTED);
      else if (state === TcpState.CLOSE) this.sink.udp(localPort, UdpState.UNCONNECTED);
      else this.fail('unexpected state for a udp socket');
      return;
    }
    // A tcp socket that is bound but neither listening nor connected: new ss lists them
    // with -a on kernels ≥ 6.8 (as UNCONN); /proc/net/tcp never does. Skip them the same.
    if (state === TcpState.CLOSE) return;

    this.need(buf, end, 'peer address');
    const peerStart = this.tokenStart;
    const peerColon = this.portColon(buf, 'peer address');
    const remotePort = this.port(buf, peerColon + 1, this.tokenEnd, 'peer port');
    const peerEnd = this.tokenEnd;

    let timeWaitAgeMs = -1;
    if (state === TcpState.TIME_WAIT) timeWaitAgeMs = this.timeWaitAge(buf, peerEnd, end);
    const local = this.address(buf, localStart, localColon, 'local address');
    this.sink.tcp(local, localPort, this.address(buf, peerStart, peerColon, 'peer address'), remotePort, state, timeWaitAgeMs);
  }

  private state(buf: Uint8Array): number {
    for (const s of STATES) if (same(buf, this.tokenStart, this.tokenEnd, s.bytes)) return s.value;
    return this.fail('unknown state', buf.subarray(this.tokenStart, this.tokenEnd));
  }

  /** The colon before the port: the last one in the current token. */
  private portColon(buf: Uint8Array, field: string): number {
    for (let i = this.tokenEnd - 1; i > this.tokenStart; i--) if (buf[i] === COLON) return i;
    return this.fail(`no port in the ${field}`);
  }

  private port(buf: Uint8Array, start: number, end: number, field: string): number {
    if (end - start === 1 && buf[start] === STAR) return 0;
    let port = 0;
    for (let i = start; i < end; i++) {
      const digit = buf[i] - 48;
      if (digit < 0 || digit > 9) this.fail(`${field} is not a number`);
      port = port * 10 + digit;
    }
    if (end === start || port > 65535) this.fail(`bad ${field}`);
    return port;
  }

  /** `[addr]%if`, `addr%if`, `[addr]`, `addr` or `*`, before the port colon: its id. */
  private address(buf: Uint8Array, start: number, end: number, field: string): number {
    if (buf[start] === OPEN_BRACKET) {
      const close = find(buf, CLOSE_BRACKET, start, end);
      if (close === -1) this.fail(`unbalanced [ in the ${field}`);
      return this.ipv6(buf, start + 1, close, field);
    }
    // A dotted quad, the common case, in one pass; anything else is bare IPv6 or `*`.
    let value = 0;
    let octet = 0;
    let digits = 0;
    let dots = 0;
    for (let i = start; i < end; i++) {
      const byte = buf[i];
      if (byte === DOT) {
        if (digits === 0 || octet > 255 || ++dots > 3) this.fail(`bad ${field}`);
        value = value * 256 + octet;
        octet = 0;
        digits = 0;
      } else if (byte >= 48 && byte <= 57 && digits < 3) {
        octet = octet * 10 + byte - 48;
        digits++;
      } else if (byte === PERCENT && dots === 3) {
        end = i;
        break;
      } else {
        return this.bare(buf, start, end, field);
      }
    }
    if (dots !== 3 || digits === 0 || octet > 255) this.fail(`bad ${field}`);
    return this.sink.addresses.ipv4(value * 256 + octet);
  }

  /** IPv6 without brackets (old iproute2), or `*`; either may carry `%iface`. */
  private bare(buf: Uint8Array, start: number, end: number, field: string): number {
    const percent = find(buf, PERCENT, start, end);
    if (percent !== -1) end = percent;
    // A wildcard: only listeners and unconnected sockets have one, and of them only the
    // port counts, so the family does not matter: `::`.
    if (end - start === 1 && buf[start] === STAR) return this.sink.addresses.ipv6(0, 0, 0, 0);
    return this.ipv6(buf, start, end, field);
  }

  private ipv6(buf: Uint8Array, start: number, end: number, field: string): number {
    const w = this.words;
    if (!parseIpv6(buf, start, end, w)) this.fail(`bad ${field}`, buf.subarray(start, end));
    return this.sink.addresses.ipv6(w[0], w[1], w[2], w[3]);
  }

  /**
   * Age of a TIME_WAIT socket from `timer:(timewait,LEFT,n)`. A timer we cannot read gives
   * age 0: never reusable, the safe direction.
   */
  private timeWaitAge(buf: Uint8Array, start: number, end: number): number {
    let at = -1;
    for (let i = start; i + TIMER.length <= end; i++) {
      if (buf[i] === TIMER[0] && same(buf, i, i + TIMER.length, TIMER)) {
        at = i + TIMER.length;
        break;
      }
    }
    if (at === -1) return 0;
    const nameEnd = find(buf, COMMA, at, end);
    if (nameEnd === -1 || !same(buf, at, nameEnd, TIMEWAIT)) return 0;
    let valueEnd = nameEnd + 1;
    while (valueEnd < end && buf[valueEnd] !== COMMA && buf[valueEnd] !== CLOSE_PAREN) valueEnd++;
    const left = timerLeftMs(buf, nameEnd + 1, valueEnd);
    return Number.isNaN(left) ? 0 : Math.max(0, TIME_WAIT_LIFETIME_MS - left);
  }
}

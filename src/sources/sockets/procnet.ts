/**
 * Streaming reader of /proc/net/{tcp,tcp6,udp,udp6}. Reads in chunks and hands each socket
 * whose local port matters straight to a sink, so memory grows with the number of tuples,
 * not sockets. Bytes are decoded in place: no regex, no split, no string per line.
 *
 * Line layout (net/ipv4/tcp_ipv4.c get_tcp4_sock, tcp_ipv6.c, udp.c), fields after `sl:`:
 *   local_address rem_address st tx_queue:rx_queue tr:tm->when ...
 * Addresses are 8 (IPv4) or 32 (IPv6) hex digits of host-order 32-bit words; ports are
 * 4 hex digits of the port number. TIME_WAIT lines are shorter, but share these fields.
 */
import { KernelError } from '../../host/errors';
import { eachCompleteLine } from '../../host/lines';
import { TcpState, TIME_WAIT_LIFETIME_MS, type SocketSink } from '../../model/records';

export interface TableSpec {
  readonly path: string;
  readonly protocol: 'tcp' | 'udp';
  readonly v6: boolean;
}

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[65 + i] = HEX[97 + i] = 10 + i;

const SPACE = 32;
const COLON = 58;
/** The TIME_WAIT timer kind in the `tr` column. */
const TIMER_TIME_WAIT = 3;

function byteSwap(word: number): number {
  return (((word & 0xff) << 24) | ((word & 0xff00) << 8) | ((word >>> 8) & 0xff00) | (word >>> 24)) >>> 0;
}

export class ProcNetParser {
  private lineNumber = 0;
  private readonly addressLength: number;

  constructor(
    private readonly table: TableSpec,
    /** 1 for each port in the range and not reserved: the only ports that matter. */
    private readonly usable: Uint8Array,
    private readonly sink: SocketSink,
    /** Addresses are printed as host-order words: on little-endian hosts, byte-reversed. */
    private readonly littleEndian: boolean,
  ) {
    this.addressLength = table.v6 ? 32 : 8;
  }

  /** Parses every complete line in buf[0, end); returns where the incomplete tail starts. */
  feed(buf: Uint8Array, end: number): number {
    return eachCompleteLine(buf, end, (start, lineEnd) => this.line(buf, start, lineEnd));
  }

  /** The bytes left at end of file (a last line without newline), then sanity checks. */
  finish(buf: Uint8Array, end: number): void {
    if (end > 0) this.line(buf, 0, end);
    if (this.lineNumber === 0) throw new KernelError(this.table.path, 'empty table (not even a header line)');
  }

  private fail(what: string): never {
    throw new KernelError(this.table.path, `line ${this.lineNumber}: ${what}`);
  }

  private hex(buf: Uint8Array, pos: number, length: number, end: number, field: string): number {
    if (pos + length > end) this.fail(`truncated ${field}`);
    let value = 0;
    for (let i = pos; i < pos + length; i++) {
      const digit = HEX[buf[i]];
      if (digit < 0) this.fail(`${field} is not hexadecimal`);
      value = value * 16 + digit;
    }
    return value;
  }

  private expect(buf: Uint8Array, pos: number, byte: number, end: number, field: string): void {
    if (pos >= end || buf[pos] !== byte) this.fail(`malformed line near ${field}`);
  }

  private line(buf: Uint8Array, start: number, end: number): void {
    this.lineNumber++;
    if (this.lineNumber === 1) {
      // The header names the columns; anything else means this is not a socket table.
      const header = Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
      if (!header.includes('local_address')) this.fail('no header line: not a socket table');
      return;
    }
    let pos = start;
    while (pos < end && buf[pos] === SPACE) pos++;
    const slStart = pos;
    while (pos < end && buf[pos] >= 48 && buf[pos] <= 57) pos++;
    if (pos === slStart) {
      if (pos === end) return; // a blank line carries no socket
      this.fail('no slot number');
    }
    this.expect(buf, pos, COLON, end, 'slot number');
    this.expect(buf, pos + 1, SPACE, end, 'slot number');
    const a = this.addressLength;
    const local = pos + 2;
    this.expect(buf, local + a, COLON, end, 'local address');
    const localPort = this.hex(buf, local + a + 1, 4, end, 'local port');
    // Most sockets on a busy host are inbound to ports outside the range: skip them first.
    if (localPort === 0 || !this.usable[localPort]) return;

    this.expect(buf, local + a + 5, SPACE, end, 'local port');
    const remote = local + a + 6;
    this.expect(buf, remote + a, COLON, end, 'remote address');
    const remotePort = this.hex(buf, remote + a + 1, 4, end, 'remote port');
    this.expect(buf, remote + a + 5, SPACE, end, 'remote port');
    const st = remote + a + 6;
    const state = this.hex(buf, st, 2, end, 'state');
    if (state < TcpState.ESTABLISHED || state > TcpState.NEW_SYN_RECV) this.fail(`unknown state ${state.toString(16)}`);
    if (this.table.protocol === 'udp') {
      this.sink.udp(localPort, state);
      return;
    }
    // tx_queue:rx_queue is fixed width; then tr:when, when of variable width (%08lX).
    this.expect(buf, st + 2, SPACE, end, 'state');
    this.expect(buf, st + 11, COLON, end, 'queues');
    this.expect(buf, st + 20, SPACE, end, 'queues');
    const timer = this.hex(buf, st + 21, 2, end, 'timer');
    this.expect(buf, st + 23, COLON, end, 'timer');
    let whenEnd = st + 24;
    while (whenEnd < end && buf[whenEnd] !== SPACE) whenEnd++;
    const when = this.hex(buf, st + 24, whenEnd - (st + 24), end, 'timer expiry');
    if (whenEnd === st + 24) this.fail('missing timer expiry');

    let timeWaitAgeMs = -1;
    if (state === TcpState.TIME_WAIT) {
      // `when` is the time left in 1/100 s (jiffies_delta_to_clock_t), rounded down: take
      // the top of that 10 ms step, so the socket looks younger, never older. A restarted
      // timer also only makes it look younger, the safe direction. Unexpected timer: age 0.
      timeWaitAgeMs = timer === TIMER_TIME_WAIT ? Math.max(0, TIME_WAIT_LIFETIME_MS - (when + 1) * 10) : 0;
    }
    this.sink.tcp(this.address(buf, local, end), localPort, this.address(buf, remote, end), remotePort, state, timeWaitAgeMs);
  }

  private word(buf: Uint8Array, pos: number, end: number, field: string): number {
    const printed = this.hex(buf, pos, 8, end, field);
    return this.littleEndian ? byteSwap(printed) : printed;
  }

  /** The address's id in the sink's table (IPv4-mapped IPv6 gets the IPv4 id). */
  private address(buf: Uint8Array, pos: number, end: number): number {
    const w0 = this.word(buf, pos, end, 'address');
    if (!this.table.v6) return this.sink.addresses.ipv4(w0);
    return this.sink.addresses.ipv6(w0, this.word(buf, pos + 8, end, 'address'), this.word(buf, pos + 16, end, 'address'), this.word(buf, pos + 24, end, 'address'));
  }
}

/**
 * Streaming reader of `ss -D -`: the kernel's sock_diag replies for TCP, as ss received
 * them, before any formatting. ss's own text costs it as much CPU as the kernel's walk,
 * and it holds its text back in megabyte batches (to align columns), so a reader of its
 * text waits, then parses in bursts; these binary records come as the kernel sends them,
 * at fixed offsets, and cost next to nothing to decode (docs/kernel-model.md, "ss -D").
 * ss cannot filter them on the range (it reads its filter after writing them): every
 * socket of the namespace comes, and the out-of-range ones are skipped here by their port
 * before anything else is decoded.
 *
 * Each record is a netlink message (host byte order) carrying an inet_diag_msg
 * (include/uapi/linux/inet_diag.h), whose ports and addresses are in network order:
 *
 *   nlmsghdr   len u32, type u16, flags u16, seq u32, pid u32           16 bytes
 *   +0  family u8, state u8, timer u8, retrans u8
 *   +4  sport be16, dport be16, src 4 x be32, dst 4 x be32, if u32, cookie 2 x u32
 *   +52 expires u32 (ms), rqueue u32, wqueue u32, uid u32, inode u32      72 bytes
 *   then attributes, which are skipped.
 */
import { KernelError } from '../../host/errors';
import type { LineParser } from '../../host/lines';
import { TcpState, TIME_WAIT_LIFETIME_MS, type SocketSink } from '../../model/records';

const HEADER = 16;
const DIAG_MSG = 72;
const NLMSG_ERROR = 2;
const SOCK_DIAG_BY_FAMILY = 20;
/** The older request type: replies carry the type of the request. */
const TCPDIAG_GETSOCK = 18;
const AF_INET = 2;
const AF_INET6 = 10;

/**
 * How many sockets (listeners aside) decide whether a binary listing pays: the kernel lists
 * them in the order of its connection hash, a fair sample of the namespace.
 */
export const SAMPLE = 4096;

/**
 * Below this share of in-range sockets in the sample, ss's filtered text costs less: the
 * kernel drops the rest before they cross into user space. Measured (README, "Benchmark"):
 * per socket, a binary record costs about a quarter of a formatted in-range line.
 */
export const DENSE_ENOUGH = 0.25;

/** Thrown (and caught by ss-source.ts) when the sample says the filtered text is cheaper. */
export class SparseListing extends Error {
  constructor(
    readonly inRange: number,
    readonly sampled: number,
  ) {
    super(`${inRange} of ${sampled} sockets in range: the filtered listing is cheaper`);
  }
}

export class DiagParser implements LineParser {
  private records = 0;
  private sampled = 0;
  private inRange = 0;

  constructor(
    /** 1 for each port in the range and not reserved: the only ports that matter. */
    private readonly usable: Uint8Array,
    private readonly sink: SocketSink,
    private readonly littleEndian: boolean,
    /** Names the source in error messages. */
    private readonly source = 'ss',
  ) {}

  feed(buf: Uint8Array, end: number): number {
    let at = 0;
    while (end - at >= HEADER) {
      const length = this.u32(buf, at);
      if (length < HEADER) this.fail('a record shorter than its header');
      // Records are padded to 4 bytes; the padding of the last one may not be here yet.
      const next = at + ((length + 3) & ~3);
      if (next > end) break;
      const type = buf[at + 4] | (buf[at + 5] << 8);
      const kind = this.littleEndian ? type : ((type & 0xff) << 8) | (type >>> 8);
      if (kind === SOCK_DIAG_BY_FAMILY || kind === TCPDIAG_GETSOCK) this.socket(buf, at + HEADER, length - HEADER);
      else if (kind === NLMSG_ERROR && length >= HEADER + 4 && this.u32(buf, at + HEADER) !== 0) this.fail('the kernel refused the listing');
      // NLMSG_DONE ends one family's dump; nothing else carries a socket.
      at = next;
    }
    return at;
  }

  finish(_buf: Uint8Array, end: number): void {
    if (end > 0) this.fail('the output ends inside a record');
  }

  private u32(buf: Uint8Array, at: number): number {
    return this.littleEndian ? (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0 : ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
  }

  private fail(what: string): never {
    throw new KernelError(this.source, `record ${this.records + 1}: ${what}`);
  }

  private socket(buf: Uint8Array, at: number, size: number): void {
    this.records++;
    if (size < DIAG_MSG) this.fail('a socket record too short');
    // Requests are listed as SYN_RECV; should a kernel name them by their own state, count
    // them the same way, as ss's text does.
    const state = buf[at + 1] === TcpState.NEW_SYN_RECV ? TcpState.SYN_RECV : buf[at + 1];
    const localPort = (buf[at + 4] << 8) | buf[at + 5];
    const usable = this.usable[localPort] === 1;
    if (this.sampled < SAMPLE && state !== TcpState.LISTEN) this.sample(usable);
    // Only in-range ports matter; a bound socket neither listening nor connected (CLOSE)
    // is not in /proc/net/tcp, and is skipped alike.
    if (!usable || state === TcpState.CLOSE) return;
    if (state < TcpState.ESTABLISHED || state > TcpState.CLOSING) this.fail('an unknown state');
    const family = buf[at];
    const remotePort = (buf[at + 6] << 8) | buf[at + 7];
    const { addresses } = this.sink;
    let local: number;
    let remote: number;
    if (family === AF_INET) {
      local = addresses.ipv4(be32(buf, at + 8));
      remote = addresses.ipv4(be32(buf, at + 24));
    } else if (family === AF_INET6) {
      local = addresses.ipv6(be32(buf, at + 8), be32(buf, at + 12), be32(buf, at + 16), be32(buf, at + 20));
      remote = addresses.ipv6(be32(buf, at + 24), be32(buf, at + 28), be32(buf, at + 32), be32(buf, at + 36));
    } else {
      return this.fail('an unknown address family');
    }
    // The time a TIME_WAIT socket has left, in milliseconds (inet_twsk_diag_fill).
    const timeWaitAgeMs = state === TcpState.TIME_WAIT ? Math.max(0, TIME_WAIT_LIFETIME_MS - this.u32(buf, at + 52)) : -1;
    this.sink.tcp(local, localPort, remote, remotePort, state, timeWaitAgeMs);
  }

  /** One more socket of the sample; gives up (SparseListing) once it is full and mostly out of range. */
  private sample(usable: boolean): void {
    if (usable) this.inRange++;
    if (++this.sampled === SAMPLE && this.inRange < DENSE_ENOUGH * SAMPLE) throw new SparseListing(this.inRange, SAMPLE);
  }
}

function be32(buf: Uint8Array, at: number): number {
  return (buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3];
}

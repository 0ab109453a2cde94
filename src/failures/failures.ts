/**
 * A drain of the trace instance -> the connect()s that failed for want of a local port,
 * per (local address, remote address, remote port), over the span since the last drain.
 * Pure: it takes the text the kernel gave (docs/kernel-model.md, "Failed connect()s").
 */
import { ipv4Text, ipv6WordsText, parseIpv6 } from '../model/address';
import type { TraceDrain } from '../sources/trace/instance';
import { parseMarker } from '../sources/trace/marker';

export interface FailureTuple {
  readonly local: string;
  readonly remote: string;
  readonly remotePort: number;
  readonly count: number;
}

export interface Failures {
  readonly counted: true;
  /** The previous drain's time; null when counting started now (or its marker is gone). */
  readonly since: string | null;
  readonly until: string;
  /** Failures seen; the true number is total + lost. */
  readonly total: number;
  /** Failures the full buffer could not keep: when above 0, total is a lower bound. */
  readonly lost: number;
  /** Most failures first. */
  readonly tuples: readonly FailureTuple[];
  /** The instance was made by this run. */
  readonly made: boolean;
  /** What had been changed in the instance and was set back. */
  readonly rearmed: readonly string[];
  /** False where the kernel lets two readers split the events (before 6.6). */
  readonly exclusive: boolean;
}

/**
 * One line of inet_sock_set_state's text. The filter already passes only failures; the
 * fields are checked again in case someone changed it between our check and the drain.
 */
const EVENT = / inet_sock_set_state: family=(AF_INET6?) protocol=IPPROTO_TCP sport=0 dport=(\d+) saddr=(\S+) daddr=(\S+) saddrv6=(\S+) daddrv6=(\S+) oldstate=TCP_SYN_SENT newstate=TCP_CLOSE$/;

const words = new Int32Array(4);

/**
 * An IPv6 address as the kernel printed it (%pI6c) in the check's spelling: RFC 5952, and
 * IPv4-mapped as plain IPv4, since such a socket competes for the IPv4 tuple.
 */
function ipv6Address(text: string): string | null {
  const bytes = Buffer.from(text, 'latin1');
  if (!parseIpv6(bytes, 0, bytes.length, words)) return null;
  return ipv6WordsText(words[0] >>> 0, words[1] >>> 0, words[2] >>> 0, words[3] >>> 0).text;
}

function ipv4Address(text: string): string | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null || m.slice(1).some((o) => Number(o) > 255)) return null;
  return ipv4Text(((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0);
}

/** The tuple of a failure line, or null when the line is not one. */
export function parseFailure(line: string): { local: string; remote: string; remotePort: number } | null {
  const m = EVENT.exec(line);
  if (m === null) return null;
  // An AF_INET6 socket's IPv4 fields hold 127.0.0.6 and 0.0.0.0 (the kernel's filler), so
  // its addresses are the v6 ones; a mapped address reads back as IPv4 there.
  const [local, remote] = m[1] === 'AF_INET6' ? [ipv6Address(m[5]), ipv6Address(m[6])] : [ipv4Address(m[3]), ipv4Address(m[4])];
  if (local === null || remote === null) return null;
  return { local, remote, remotePort: Number(m[2]) };
}

export function countFailures(drain: TraceDrain): Failures {
  const counts = new Map<string, FailureTuple>();
  let previous: ReturnType<typeof parseMarker> = null;
  let total = 0;
  for (const line of drain.text.split('\n')) {
    const failure = parseFailure(line);
    if (failure !== null) {
      const key = `${failure.local} ${failure.remote} ${failure.remotePort}`;
      counts.set(key, { ...failure, count: (counts.get(key)?.count ?? 0) + 1 });
      total++;
      continue;
    }
    // The first marker is the last drain's (a drain consumes everything before its own).
    previous ??= parseMarker(line);
  }
  // The kernel's lost totals only grow, unless someone cleared the buffer: then all of them.
  const lost = previous !== null && drain.lostSoFar >= previous.lostSoFar ? drain.lostSoFar - previous.lostSoFar : drain.lostSoFar;
  const tuples = [...counts.entries()].sort(([ka, a], [kb, b]) => b.count - a.count || (ka < kb ? -1 : 1)).map(([, t]) => t);
  return { counted: true, since: previous?.at ?? null, until: drain.until, total, lost, tuples, made: drain.made, rearmed: drain.rearmed, exclusive: drain.exclusive };
}

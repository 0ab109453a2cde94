/**
 * A drain of the trace instance -> the connect()s that failed for want of a local port,
 * per (local address, remote address, remote port), over the span since the last drain.
 * Pure: it takes the text the kernel gave (docs/kernel-model.md, "Failed connect()s").
 */
import { dottedQuad, ipv4Text, ipv6WordsText, parseIpv6 } from '../model/address';
import type { TraceDrain } from '../sources/trace/instance';
import { parseMarker } from '../sources/trace/marker';

export interface FailureTuple {
  readonly local: string;
  readonly remote: string;
  readonly remotePort: number;
  readonly count: number;
}

/** The drain's own facts (until, made, rearmed, exclusive) with what its text says. */
export interface Failures extends Omit<TraceDrain, 'text' | 'lostSoFar'> {
  /** The previous drain's time; null when counting started now (or its marker is gone). */
  readonly since: string | null;
  /** Failures seen; the true number is total + lost. */
  readonly total: number;
  /** Failures the full buffer could not keep: when above 0, total is a lower bound. */
  readonly lost: number;
  /** Most failures first. */
  readonly tuples: readonly FailureTuple[];
}

/**
 * One line of inet_sock_set_state's text. The filter already passes only failures; the
 * fields are checked again in case someone changed it between our check and the drain.
 */
const EVENT = / inet_sock_set_state: family=(AF_INET6?) protocol=IPPROTO_TCP sport=0 dport=(\d+) saddr=(\S+) daddr=(\S+) saddrv6=(\S+) daddrv6=(\S+) oldstate=TCP_SYN_SENT newstate=TCP_CLOSE$/;

const words = new Int32Array(4);

/**
 * An address as the kernel printed it (%pI4, %pI6c) in the check's spelling: RFC 5952 for
 * IPv6, and IPv4-mapped as plain IPv4, since such a socket competes for the IPv4 tuple.
 */
function addressText(text: string, v6: boolean): string | null {
  const bytes = Buffer.from(text, 'latin1');
  if (!v6) {
    const quad = dottedQuad(bytes, 0, bytes.length);
    return quad === -1 ? null : ipv4Text(quad);
  }
  if (!parseIpv6(bytes, 0, bytes.length, words)) return null;
  return ipv6WordsText(words[0], words[1], words[2], words[3]).text;
}

/** The tuple of a failure line, or null when the line is not one. */
export function parseFailure(line: string): { local: string; remote: string; remotePort: number } | null {
  const m = EVENT.exec(line);
  if (m === null) return null;
  // An AF_INET6 socket's IPv4 fields hold 127.0.0.6 and 0.0.0.0 (the kernel's filler), so
  // its addresses are the v6 ones; a mapped address reads back as IPv4 there.
  const v6 = m[1] === 'AF_INET6';
  const local = addressText(v6 ? m[5] : m[3], v6);
  const remote = addressText(v6 ? m[6] : m[4], v6);
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
  const { text, lostSoFar, ...kept } = drain;
  return { ...kept, since: previous?.at ?? null, total, lost, tuples };
}

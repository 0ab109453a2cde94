/**
 * What a namespace's socket counts alone say about its pools, before any walk of the socket
 * hash: no tuple can hold more ports than the namespace has sockets. From its sockstat (a
 * constant-cost read) and its port space, the worst usage and the least remaining any of its
 * pools could have, and so the worst state it could be in. A namespace that cannot alert by
 * its bound need not be listed (docs/namespaces.md, "The bound", where the proof is).
 */
import type { PortRange } from '../model/settings';
import { socketsCounted, type SocketCounts } from '../model/counts';
import { State } from '../nagios/state';
import type { Range } from '../nagios/range';
import { filtersTuples, type Selection } from './selection';
import { churnState, type Judged, type Thresholds } from './judge';
import { usagePercent } from '../pools/pool';
import type { Verdict } from './verdict';

/** What the bound reads: the counts, and the port space the namespace is judged with. */
export interface CountedNamespace {
  readonly counts: SocketCounts;
  readonly range: PortRange;
  readonly reserved: readonly PortRange[];
}

/** The extremes one kind of pool of the namespace could reach. */
export interface PoolBound {
  /** |C|: the range less its reserved ports. */
  readonly capacity: number;
  /** The sockets that could hold a port against the pool (the count the bound rests on). */
  readonly sockets: number;
  /** No pool uses more ports than this... */
  readonly mostUsed: number;
  /** ...nor a greater share, in percent... */
  readonly mostUsage: number;
  /** ...nor has fewer ports left. */
  readonly leastRemaining: number;
}

export interface TcpBound extends PoolBound {
  /** TIME_WAIT sockets of the namespace: no tuple's churn can be more. */
  readonly timeWait: number;
  /** No tuple's churn headroom factor is below this; null with no TIME_WAIT (no churn at all). */
  readonly leastChurnHeadroom: number | null;
}

export interface NamespaceBound {
  /** Null when no TCP pool (tuple, or a new destination) is judged. */
  readonly tcp: TcpBound | null;
  /** Null when the UDP pool is not judged (--tcp, or a tuple filter). */
  readonly udp: PoolBound | null;
  /** The worst state any judged pool could have: OK when the namespace cannot alert. */
  readonly state: State;
  /** The least remaining of any judged pool: the order in which namespaces are walked. */
  readonly leastRemaining: number;
}

/** |C|: ports of the range not reserved (spans may overlap). */
export function usablePorts(range: PortRange, reserved: readonly PortRange[]): number {
  const spans = reserved
    .map((s) => ({ low: Math.max(s.low, range.low), high: Math.min(s.high, range.high) }))
    .filter((s) => s.low <= s.high)
    .sort((a, b) => a.low - b.low);
  let taken = 0;
  let next = range.low; // the first port not yet counted as reserved
  for (const s of spans) {
    const from = Math.max(s.low, next);
    if (s.high >= from) {
      taken += s.high - from + 1;
      next = s.high + 1;
    }
  }
  return range.high - range.low + 1 - taken;
}

/**
 * The bound of a pool of a space of `capacity` whose ports (its own, listeners', bind()'s)
 * are each held by one of `sockets` sockets, plus `uncounted` ports held by sockets the
 * counts miss: remaining ≥ capacity − sockets − uncounted, usage ≤ (sockets + uncounted) /
 * capacity (docs/namespaces.md, "The bound": listeners and bind()-taken ports shrink the
 * capacity a tuple is measured against, but each costs a socket too, which never helps).
 * @param lost ports the kernel may leave out of reach besides (an odd-sized range: 1)
 */
function poolBound(capacity: number, sockets: number, uncounted: number, lost: number): PoolBound {
  const ports = sockets + uncounted;
  const leastRemaining = Math.max(0, capacity - ports - lost);
  const mostUsed = Math.min(ports, capacity);
  const mostUsage = leastRemaining === 0 ? 100 : usagePercent(mostUsed, capacity);
  return { capacity, sockets, mostUsed, mostUsage, leastRemaining };
}

export function boundNamespace(n: CountedNamespace, wanted: { readonly selection: Selection; readonly thresholds: Thresholds }): NamespaceBound {
  const { counts, range } = n;
  const { selection, thresholds } = wanted;
  const capacity = usablePorts(range, n.reserved);
  const udpJudged = selection.udp && !filtersTuples(selection);
  // A new tcp destination is judged whenever no other pool is: only --udp alone, whose
  // UDP pool always is, judges no tcp pool at all.
  const tcpJudged = selection.tcp || !udpJudged;
  // Every TCP socket the listing can count against a tuple is in inuse or tw, but for the
  // SYN_RECV requests of IPv4 clients of a dual-stack IPv6 listener seen before it: at most
  // one port per such listener per tuple, and each of those listeners is in TCP6 inuse.
  const oddLoss = (range.high - range.low + 1) % 2;
  let tcp: TcpBound | null = null;
  if (tcpJudged) {
    const pool = poolBound(capacity, socketsCounted(counts, { tcp: true, udp: false }), counts.tcp6, oddLoss);
    const leastChurnHeadroom = counts.timeWait === 0 ? null : 1 + pool.leastRemaining / counts.timeWait;
    tcp = { ...pool, timeWait: counts.timeWait, leastChurnHeadroom };
  }
  // UDP ports are held per port by any socket, and every hashed UDP socket is counted; odd
  // ranges cost UDP nothing (docs/kernel-model.md, "UDP: one host-wide pool").
  const udp = udpJudged ? poolBound(capacity, socketsCounted(counts, { tcp: false, udp: true }), 0, 0) : null;
  const state = Math.max(tcp === null ? State.OK : boundState(tcp, tcp.leastChurnHeadroom, thresholds), udp === null ? State.OK : boundState(udp, null, thresholds));
  const leastRemaining = Math.min(tcp?.leastRemaining ?? Infinity, udp?.leastRemaining ?? Infinity);
  return { tcp, udp, state, leastRemaining };
}

/**
 * The worst state judgeHeadroom (judge.ts) could give a pool within the bound: usage
 * anywhere from 0 to mostUsage (a new destination uses none), remaining from leastRemaining
 * up, churn headroom from leastChurnHeadroom up (churnState of it: the least is the worst).
 */
function boundState(b: PoolBound, leastChurnHeadroom: number | null, t: Thresholds): State {
  const alerts = (range: Range, remaining: number | null) => alertsWithin(range, 0, b.mostUsage) || (remaining !== null && b.leastRemaining < remaining);
  const byHeadroom = alerts(t.critical, t.criticalRemaining) ? State.CRITICAL : alerts(t.warning, t.warningRemaining) ? State.WARNING : State.OK;
  return Math.max(byHeadroom, churnState(leastChurnHeadroom, t));
}

/** Does the range alert on some value from `low` to `high`? (Nagios ranges: `10:` alerts below 10.) */
export function alertsWithin(range: Range, low: number, high: number): boolean {
  if (range.inside) return range.start <= high && range.end >= low;
  return low < range.start || high > range.end;
}

/** A namespace must be listed when its bound could alert, or when it has none (no counts). */
export function mayAlert(bound: NamespaceBound | null): boolean {
  return bound === null || bound.state !== State.OK;
}

/** The worst pool listed so far, as worstFirst ranks pools: its state, then its ports left. */
export interface WorstSoFar {
  readonly state: State;
  readonly remaining: number;
}

/** The worst pool, and the worst TCP tuple, of the namespaces listed so far (null: none). */
export function worstListed(verdicts: readonly Verdict[]): { worst: WorstSoFar | null; worstTcp: WorstSoFar | null } {
  let worst: WorstSoFar | null = null;
  let worstTcp: WorstSoFar | null = null;
  // Each verdict's pools are worst first: its first, and its first TCP tuple, are its worst.
  const worse = (j: Judged | undefined, than: WorstSoFar | null): WorstSoFar | null => {
    if (j === undefined) return than;
    const a = { state: j.state, remaining: j.pool.remaining };
    return than === null || a.state > than.state || (a.state === than.state && a.remaining < than.remaining) ? a : than;
  };
  for (const v of verdicts) {
    worst = worse(v.judged[0], worst);
    worstTcp = worse(v.judged.find((j) => j.pool.protocol === 'tcp'), worstTcp);
  }
  return { worst, worstTcp };
}

/**
 * Could a namespace left unlisted (its bound cannot alert: every pool of it is OK) hold a
 * pool that a walk of every namespace would rank first, or the first TCP tuple (whose churn
 * is in perfdata)? Only while the worst listed is OK, and has as few ports left or more
 * (a tie is settled by usage and names, which the bound does not know).
 */
export function couldRankFirst(bound: NamespaceBound, listed: { worst: WorstSoFar | null; worstTcp: WorstSoFar | null }): boolean {
  const before = (least: number, w: WorstSoFar | null) => w === null || (w.state === State.OK && least <= w.remaining);
  // The UDP pool is judged whenever UDP is; a tuple needs a socket.
  if (bound.udp !== null && before(bound.udp.leastRemaining, listed.worst)) return true;
  if (bound.tcp === null || bound.tcp.sockets === 0) return false;
  return before(bound.tcp.leastRemaining, listed.worst) || before(bound.tcp.leastRemaining, listed.worstTcp);
}

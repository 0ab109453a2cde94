/**
 * NAT pools + thresholds → their states, the perfdata of the worst, and its place beside
 * the socket tuples: the same thresholds judge both (judgeHeadroom), and the worst item
 * overall, a tuple or a NAT pool, sets the state and the summary.
 */
import type { Perfdata } from '../nagios/perfdata';
import { State } from '../nagios/state';
import { freshNatRange, type NatFindings } from '../nat/findings';
import type { NatPool, NatTable } from '../nat/nat-pool';
import { byHeadroom, judgeHeadroom, type Headroomed, type Judged, type Thresholds } from './judge';
import type { Selection } from './selection';
import { siftDown, siftUp, type IdOrder } from './heap';

export interface JudgedNat {
  readonly pool: NatPool;
  readonly state: State;
  readonly reason: Judged['reason'];
}

export interface NatVerdict {
  readonly findings: NatFindings;
  /** The worst selected NAT pools (--top of them), worst first. */
  readonly judged: readonly JudgedNat[];
  /** How many pools were selected, listed or not. */
  readonly selected: number;
  /** The worst pool's state; OK without one. */
  readonly state: State;
}

export function judgeNatPool(pool: NatPool, t: Thresholds): JudgedNat {
  return { pool, ...judgeHeadroom(pool.usage, pool.remaining, pool.churn?.headroomFactor ?? null, t) };
}

/** The pools the selection keeps: protocol, family, remote address and port (the NAT address is no local address of a tuple). */
function selected(table: NatTable, i: number, s: Selection): boolean {
  if (!(table.isTcp(i) ? s.tcp : s.udp)) return false;
  if (!s.families.includes(table.remoteFamily(i))) return false;
  const port = table.remotePort(i);
  if (s.remotePorts.length > 0 && !s.remotePorts.some((r) => port >= r.low && port <= r.high)) return false;
  return s.remote === null || s.remote.matches(table.remoteText(i));
}

/**
 * Every selected pool judged, by its figures; the `limit` worst become objects, worst
 * first (byHeadroom; ties in the pools' text order, so that both readers, whose entries
 * come in different orders, list the same pools alike).
 */
export function judgeNat(findings: NatFindings, t: Thresholds, selection: Selection, limit: number): NatVerdict {
  const table = findings.table;
  if (table === null) return { findings, judged: [], selected: 0, state: State.OK };
  // The order's keys, read once per pool: it compares them many times.
  const states = new Uint8Array(table.size);
  const remaining = new Int32Array(table.size);
  const usage = new Float64Array(table.size);
  const order: IdOrder = { compare: (i, j) => states[j] - states[i] || remaining[i] - remaining[j] || usage[j] - usage[i] || table.compare(i, j) };
  // The `limit` worst in a bounded heap (heap.ts), not every pool sorted: a gateway has
  // thousands, most tied on their figures, each tie a comparison of their texts' order.
  const bounded = limit < table.size;
  const kept = new Int32Array(bounded ? limit : table.size);
  let count = 0;
  let selectedCount = 0;
  for (let i = 0; i < table.size; i++) {
    if (!selected(table, i, selection)) continue;
    selectedCount++;
    remaining[i] = table.remaining(i);
    usage[i] = table.usage(i);
    states[i] = judgeHeadroom(usage[i], remaining[i], table.headroomFactor(i), t).state;
    if (!bounded || count < limit) {
      kept[count] = i;
      if (bounded) siftUp(kept, count, order);
      count++;
    } else if (order.compare(i, kept[0]) < 0) {
      kept[0] = i;
      siftDown(kept, count, order);
    }
  }
  const chosen = Array.from(kept.subarray(0, count)).sort((i, j) => order.compare(i, j));
  const judged = chosen.map((i) => judgeNatPool(table.pool(i), t));
  return { findings, judged, selected: selectedCount, state: judged[0]?.state ?? State.OK };
}

/** Is the NAT pool worse than the tuple (or no tuple at all)? The order of worstFirst. */
export function natIsWorse(nat: JudgedNat | undefined, tuple: Headroomed | undefined): boolean {
  if (nat === undefined) return false;
  return tuple === undefined || byHeadroom(nat, tuple) < 0;
}

/**
 * Three fixed labels with --nat: the worst NAT pool's usage and remaining (without a pool,
 * what a new destination gets: 0 % and its range), and insert_failed, the namespace's
 * count of connections conntrack refused, a full pool's only trace. The first two are
 * left out when the table cannot be read (not root): a gap, not a made-up figure.
 * @param verdicts one per namespace read (several with --namespaces)
 */
export function natPerfdata(verdicts: readonly NatVerdict[], t: Thresholds): Perfdata[] {
  const read = verdicts.filter((v) => v.findings.unread === null);
  const items: Perfdata[] = [];
  const worst = read.map((v) => v.judged[0]).filter((j): j is JudgedNat => j !== undefined).sort(byHeadroom)[0];
  if (worst !== undefined) {
    items.push(
      { label: 'nat_worst_usage', value: worst.pool.usage, uom: '%', warn: t.warning.perfdataValue(), crit: t.critical.perfdataValue(), min: 0, max: 100 },
      { label: 'nat_worst_remaining', value: worst.pool.remaining, warn: t.warningRemaining ?? undefined, crit: t.criticalRemaining ?? undefined, min: 0, max: worst.pool.capacity },
    );
  } else if (read.length > 0) {
    const size = Math.min(...read.map((v) => freshNatRange(v.findings.evidence).range).map((r) => r.high - r.low + 1));
    items.push(
      { label: 'nat_worst_usage', value: 0, uom: '%', warn: t.warning.perfdataValue(), crit: t.critical.perfdataValue(), min: 0, max: 100 },
      { label: 'nat_worst_remaining', value: size, warn: t.warningRemaining ?? undefined, crit: t.criticalRemaining ?? undefined, min: 0, max: size },
    );
  }
  const stats = verdicts.map((v) => v.findings.stats).filter((s) => s !== null);
  if (stats.length > 0) items.push({ label: 'nat_insert_failed', value: stats.reduce((n, s) => n + s.insertFailed, 0), min: 0 });
  return items;
}

/**
 * One namespace's ranked pools + thresholds → its verdict: the state and the perfdata
 * (several namespaces' verdicts are merged by across.ts).
 */
import { State } from '../nagios/state';
import type { Perfdata } from '../nagios/perfdata';
import { churnOf } from '../pools/churn';
import { usagePercent, type Pool } from '../pools/pool';
import { figuresOf, type PoolFigures, type PoolReport } from '../pools/report';
import { judge, worstState, type Judged, type Thresholds } from './judge';
import { natPerfdata, type NatVerdict } from './nat';
import type { Ranked } from './ranking';

export interface Verdict {
  readonly state: State;
  /**
   * The worst of the selected pools, worst first (worst state, then fewest ports left, then
   * highest usage): as many as can be listed (Ranked.worst).
   */
  readonly judged: readonly Judged[];
  /** How many pools were selected, listed or not. */
  readonly selected: number;
  /**
   * What a new TCP destination would get, judged too: with no tuple selected it is the
   * only figure left to judge (listeners and reserved ports can shrink it).
   */
  readonly fresh: Judged;
  readonly report: PoolFigures;
  readonly thresholds: Thresholds;
  readonly perfdata: readonly Perfdata[];
  /** Its source NAT pools, with --nat. */
  readonly nat?: NatVerdict;
}

/**
 * The verdict with the namespace's NAT pools beside its tuples (--nat): the worse state
 * wins (a single namespace's states are OK, WARNING or CRITICAL: the highest is the worst).
 */
export function withNat(v: Verdict, nat: NatVerdict): Verdict {
  return { ...v, state: worstState([v.state, nat.state]), nat, perfdata: [...v.perfdata, ...natPerfdata([nat], v.thresholds)] };
}

export function freshTuple(report: PoolFigures): Pool {
  return {
    protocol: 'tcp',
    family: null,
    local: '*',
    remote: '*',
    remotePort: null,
    capacity: report.capacity,
    used: 0,
    remaining: report.capacity,
    usage: usagePercent(0, report.capacity),
    sockets: 0,
    states: {},
    timeWaitReusable: 0,
    bindTaken: 0,
    optimisticRemaining: report.optimisticCapacity,
    churn: churnOf(report.capacity, 0, 0),
  };
}

/** @param tuplePerfdata how many of the worst TCP tuples get perfdata of their own (opt-in). */
export function decide(report: PoolReport, ranked: Ranked, thresholds: Thresholds, tuplePerfdata = 0): Verdict {
  const judged = ranked.worst;
  const fresh = judge(freshTuple(report), thresholds);
  const worst = judged[0] ?? fresh;
  // A new destination only matters for the state when nothing else was selected: with
  // tuples present, its headroom is never below theirs.
  const state = worst.state;
  return { state, judged, selected: ranked.selected, fresh, report: figuresOf(report), thresholds, perfdata: [
    ...perfdata(report, worst.pool, judged.find((j) => j.pool.protocol === 'tcp')?.pool ?? fresh.pool, ranked.selectedTuples, thresholds),
    ...judged.filter((j) => j.pool.protocol === 'tcp').slice(0, tuplePerfdata).map(({ pool }) => ({ label: poolLabel(pool), value: pool.used, min: 0, max: pool.capacity })),
  ] };
}

/**
 * A per-tuple label, `t_1a2b3c4d_10_0_0_5_5432`: a hash of the whole tuple first, so the
 * first 19 characters (all RRD keeps) differ between tuples, then the destination for
 * people. Stable across runs, so a graph follows one tuple. Many series: hence opt-in.
 */
export function poolLabel(pool: Pool): string {
  return poolLabelIn(pool, undefined);
}

/** The same, for a pool of one of several namespaces: its namespace is part of the hash. */
export function poolLabelIn(pool: Pool, namespace: string | undefined): string {
  const key = `${namespace === undefined ? '' : `${namespace} `}${pool.local} ${pool.remote} ${pool.remotePort}`;
  let hash = 0x811c9dc5; // FNV-1a, 32 bits
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193) >>> 0;
  const destination = `${pool.remote}_${pool.remotePort}`.toLowerCase().replace(/[^a-z0-9]/g, '_');
  return `t_${hash.toString(16).padStart(8, '0')}_${destination}`;
}

/** @param worstTcp the worst TCP tuple (a new destination when none is selected): its churn */
function perfdata(report: PoolFigures, worst: Pool, worstTcp: Pool, selectedCount: number, t: Thresholds): Perfdata[] {
  const cap = worst.capacity;
  const items: Perfdata[] = [
    { label: 'worst_usage', value: worst.usage, uom: '%', warn: t.warning.perfdataValue(), crit: t.critical.perfdataValue(), min: 0, max: 100 },
    { label: 'worst_used', value: worst.used, min: 0, max: cap },
    { label: 'worst_remaining', value: worst.remaining, warn: t.warningRemaining ?? undefined, crit: t.criticalRemaining ?? undefined, min: 0, max: cap },
    { label: 'capacity', value: report.capacity, min: 0, max: report.space.rangeSize },
    { label: 'tuples', value: selectedCount, min: 0 },
    { label: 'listening_ports', value: report.listeningPorts, min: 0 },
  ];
  if (report.tcp !== null) {
    items.push(
      { label: 'sockets_in_range', value: report.tcp.sockets, min: 0 },
      { label: 'time_wait', value: report.tcp.timeWait, min: 0 },
      { label: 'bind_remaining', value: report.tcp.bindStyle.remaining, min: 0, max: report.tcp.bindStyle.capacity },
      { label: 'bind_taken', value: report.bind.taken, min: 0, max: report.space.rangeSize },
    );
    const churn = worstTcp.churn;
    if (churn !== null) {
      items.push({ label: 'worst_close_rate', value: churn.closesPerSecond, min: 0 });
      // No counted TIME_WAIT, no factor: the label is left out (a gap in the graph), as
      // no consumer reads Infinity, NaN or U.
      if (churn.headroomFactor !== null) {
        items.push({ label: 'worst_churn_headroom', value: churn.headroomFactor, warn: t.warningChurn ?? undefined, crit: t.criticalChurn ?? undefined, min: 0 });
      }
    }
  }
  if (report.udp !== null) items.push({ label: 'udp_used', value: report.udp.used, min: 0, max: report.udp.capacity });
  return items;
}

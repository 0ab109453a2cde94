/**
 * Ranked pools + thresholds → a verdict: the overall state, and the perfdata. The one place
 * that decides the overall state; judgeHeadroom() is the one place that judges a pool.
 */
import { State } from '../nagios/state';
import type { Perfdata } from '../nagios/perfdata';
import type { Range } from '../nagios/range';
import { churnOf } from '../pools/churn';
import type { Across } from '../namespaces/check';
import { figuresOf, usagePercent, type Pool, type PoolFigures, type PoolReport } from '../pools/pool';
import { mergeRanked, type Ranked } from './ranking';

export interface Thresholds {
  /** Applied to usage in percent. */
  readonly warning: Range;
  readonly critical: Range;
  /** Alert also when fewer than this many ports are left. */
  readonly warningRemaining: number | null;
  readonly criticalRemaining: number | null;
  /** Alert also when a tuple's churn headroom is below this factor (it could not take that many times its churn). */
  readonly warningChurn: number | null;
  readonly criticalChurn: number | null;
}

export interface Judged {
  readonly pool: Pool;
  readonly state: State;
  /** What alerted and how, e.g. usage "> 90", remaining "< 20", churn (headroom) "< 2"; null when OK. */
  readonly reason: { readonly metric: 'usage' | 'remaining' | 'churn'; readonly violation: string } | null;
}

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
}

/**
 * The state of a pool with this usage (percent), this many ports left and this churn
 * headroom factor (null: no churn, which never alerts), and why.
 */
export function judgeHeadroom(usage: number, remaining: number, headroomFactor: number | null, t: Thresholds): Omit<Judged, 'pool'> {
  const byUsage = (range: Range) => ({ metric: 'usage' as const, violation: range.violation(usage) });
  const byRemaining = (least: number) => ({ metric: 'remaining' as const, violation: `< ${least}` });
  const byChurn = (factor: number) => ({ metric: 'churn' as const, violation: `< ${factor}` });
  const churn = churnState(headroomFactor, t);
  if (t.critical.alertsOn(usage)) return { state: State.CRITICAL, reason: byUsage(t.critical) };
  if (t.criticalRemaining !== null && remaining < t.criticalRemaining) return { state: State.CRITICAL, reason: byRemaining(t.criticalRemaining) };
  if (churn === State.CRITICAL) return { state: State.CRITICAL, reason: byChurn(t.criticalChurn as number) };
  if (t.warning.alertsOn(usage)) return { state: State.WARNING, reason: byUsage(t.warning) };
  if (t.warningRemaining !== null && remaining < t.warningRemaining) return { state: State.WARNING, reason: byRemaining(t.warningRemaining) };
  if (churn === State.WARNING) return { state: State.WARNING, reason: byChurn(t.warningChurn as number) };
  return { state: State.OK, reason: null };
}

/**
 * What the churn thresholds alone say: alert when the tuple could not take FACTOR times its
 * churn, i.e. its headroom factor is below FACTOR. Without churn there is nothing to multiply.
 */
export function churnState(headroomFactor: number | null, t: Thresholds): State {
  if (headroomFactor === null) return State.OK;
  if (t.criticalChurn !== null && headroomFactor < t.criticalChurn) return State.CRITICAL;
  if (t.warningChurn !== null && headroomFactor < t.warningChurn) return State.WARNING;
  return State.OK;
}

export function judge(pool: Pool, t: Thresholds): Judged {
  return { pool, ...judgeHeadroom(pool.usage, pool.remaining, pool.churn?.headroomFactor ?? null, t) };
}

export function worstFirst(a: Judged, b: Judged): number {
  return b.state - a.state || a.pool.remaining - b.pool.remaining || b.pool.usage - a.pool.usage || byCodeUnits(describeKey(a.pool), describeKey(b.pool));
}

/** A stable tie-break; not localeCompare, whose first call loads ICU collation (~5 ms). */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeKey(p: Pool): string {
  return `${p.protocol} ${p.local} ${p.remote} ${p.remotePort ?? ''}`;
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

/** A pool judged in one of several namespaces: `at` indexes Across.checked. */
export interface PlacedJudged extends Judged {
  readonly at: number;
}

export interface AcrossVerdict {
  readonly state: State;
  /** The worst of every namespace's selected pools, worst first (mergeRanked). */
  readonly judged: readonly PlacedJudged[];
  /** How many pools were selected in all namespaces, listed or not. */
  readonly selected: number;
  /** The namespace whose new TCP destination gets the fewest ports (index into across.checked), null if none was checked. */
  readonly leastFresh: number | null;
  readonly across: Across;
  readonly thresholds: Thresholds;
  readonly perfdata: readonly Perfdata[];
}

/**
 * How bad a state is for the overall verdict over several namespaces: CRITICAL outranks
 * UNKNOWN, which outranks WARNING (docs/namespaces.md, "The overall state"). A namespace
 * out of ports is paged even when another could not be read, and one that could not be
 * read never hides behind an OK or a WARNING.
 */
const SEVERITY: Record<State, number> = { [State.OK]: 0, [State.WARNING]: 1, [State.UNKNOWN]: 2, [State.CRITICAL]: 3 };

export function worstState(states: readonly State[]): State {
  return states.reduce((worst, s) => (SEVERITY[s] > SEVERITY[worst] ? s : worst), State.OK);
}

/**
 * The verdict over several namespaces, each already judged on its own (its own settings,
 * its own pools). The overall state is the worst of their states, and UNKNOWN for each
 * namespace not checked; a namespace that is gone counts for nothing.
 */
/**
 * @param limit how many of the worst pools of each protocol to keep (the --top of each namespace)
 */
export function decideAcross(across: Across, thresholds: Thresholds, limit: number, tuplePerfdata = 0): AcrossVerdict {
  const { checked } = across;
  const tuplesOf = (v: Verdict) => v.perfdata.find((p) => p.label === 'tuples')?.value ?? 0;
  const merged = mergeRanked(checked.map((ns, at) => ({ worst: ns.verdict.judged.map((j): PlacedJudged => ({ ...j, at })), selected: ns.verdict.selected, selectedTuples: tuplesOf(ns.verdict) })), limit);
  const judged = merged.worst as readonly PlacedJudged[];
  const states = [...checked.map((ns) => ns.verdict.state), ...across.unchecked.map(() => State.UNKNOWN)];
  const state = states.length === 0 ? State.UNKNOWN : worstState(states);
  let leastFresh: number | null = null;
  checked.forEach((ns, at) => {
    if (leastFresh === null || ns.verdict.report.capacity < checked[leastFresh].verdict.report.capacity) leastFresh = at;
  });
  const perf: Perfdata[] = [];
  const worst = judged[0] ?? (leastFresh === null ? undefined : { ...checked[leastFresh].verdict.fresh, at: leastFresh });
  if (worst !== undefined) {
    const reports = checked.map((ns) => ns.verdict.report);
    const least = <T>(items: readonly T[], value: (t: T) => number) => items.reduce((a, b) => (value(b) < value(a) ? b : a));
    const sum = (value: (r: PoolFigures) => number) => reports.reduce((total, r) => total + value(r), 0);
    const leastCapacity = least(reports, (r) => r.capacity);
    const pool = worst.pool;
    perf.push(
      { label: 'worst_usage', value: pool.usage, uom: '%', warn: thresholds.warning.perfdataValue(), crit: thresholds.critical.perfdataValue(), min: 0, max: 100 },
      { label: 'worst_used', value: pool.used, min: 0, max: pool.capacity },
      { label: 'worst_remaining', value: pool.remaining, warn: thresholds.warningRemaining ?? undefined, crit: thresholds.criticalRemaining ?? undefined, min: 0, max: pool.capacity },
      { label: 'capacity', value: leastCapacity.capacity, min: 0, max: leastCapacity.space.rangeSize },
      { label: 'tuples', value: merged.selectedTuples, min: 0 },
      { label: 'listening_ports', value: sum((r) => r.listeningPorts), min: 0 },
    );
    const tcp = reports.flatMap((r) => (r.tcp === null ? [] : [r.tcp]));
    if (tcp.length > 0) {
      const bind = least(tcp, (t) => t.bindStyle.remaining).bindStyle;
      perf.push(
        { label: 'sockets_in_range', value: tcp.reduce((n, t) => n + t.sockets, 0), min: 0 },
        { label: 'time_wait', value: tcp.reduce((n, t) => n + t.timeWait, 0), min: 0 },
        { label: 'bind_remaining', value: bind.remaining, min: 0, max: bind.capacity },
      );
      const mostTaken = reports.reduce((a, b) => (b.bind.taken > a.bind.taken ? b : a));
      perf.push({ label: 'bind_taken', value: mostTaken.bind.taken, min: 0, max: mostTaken.space.rangeSize });
      // The churn of the worst TCP tuple anywhere, as without --namespaces.
      const churn = judged.find((j) => j.pool.protocol === 'tcp')?.pool.churn ?? null;
      if (churn !== null) {
        perf.push({ label: 'worst_close_rate', value: churn.closesPerSecond, min: 0 });
        if (churn.headroomFactor !== null) perf.push({ label: 'worst_churn_headroom', value: churn.headroomFactor, warn: thresholds.warningChurn ?? undefined, crit: thresholds.criticalChurn ?? undefined, min: 0 });
      }
    }
    const udp = reports.flatMap((r) => (r.udp === null ? [] : [r.udp]));
    if (udp.length > 0) {
      const fullest = least(udp, (u) => u.remaining);
      perf.push({ label: 'udp_used', value: fullest.used, min: 0, max: fullest.capacity });
    }
  }
  perf.push({ label: 'namespaces', value: checked.length, min: 0 }, { label: 'namespaces_unchecked', value: across.unchecked.length, min: 0 });
  const scope = (at: number) => String(checked[at].inode ?? checked[at].name);
  perf.push(...judged.filter((j) => j.pool.protocol === 'tcp').slice(0, tuplePerfdata).map(({ pool, at }) => ({ label: poolLabelIn(pool, scope(at)), value: pool.used, min: 0, max: pool.capacity })));
  return { state, judged, selected: merged.selected, leastFresh, across, thresholds, perfdata: perf };
}

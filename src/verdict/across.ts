/**
 * The verdict over several namespaces (--namespaces), each judged on its own first (its own
 * settings, its own pools): the one place that decides their overall state.
 */
import { State } from '../nagios/state';
import type { Perfdata } from '../nagios/perfdata';
import type { KernelSettings } from '../model/settings';
import type { PoolFigures } from '../pools/report';
import type { NamespaceBound } from './bound';
import { worstState, type Judged, type Thresholds } from './judge';
import { mergeRanked } from './ranking';
import { natPerfdata, type NatVerdict } from './nat';
import { poolLabelIn, type Verdict } from './verdict';

/** How the output names a namespace. */
export interface NamespaceLabel {
  /** nsfs inode (`stat -L -c %i /proc/PID/ns/net`); null when no link of it could be read. */
  readonly inode: number | null;
  readonly name: string;
}

export interface CheckedNamespace extends NamespaceLabel {
  readonly verdict: Verdict;
  readonly settings: KernelSettings;
  /** Its own sysctls were read (else the defaults of a new namespace were assumed). */
  readonly settingsRead: boolean;
  readonly source: 'ss' | 'proc';
  /** Where its tables and processes are, for the owner lookup. */
  readonly procRoot: string | null;
  readonly pids: readonly number[];
  /** What its socket counts said before it was listed (bound.ts); null when they could not be read. */
  readonly bound: NamespaceBound | null;
}

/**
 * A namespace not listed: its socket counts show that no pool of it can alert (bound.ts),
 * and no pool of it can be the worst of all (check/across.ts): it is OK by its counts.
 */
export interface BoundedNamespace extends NamespaceLabel {
  readonly bound: NamespaceBound;
  readonly settings: KernelSettings;
  readonly settingsRead: boolean;
}

export interface UncheckedNamespace extends NamespaceLabel {
  readonly reason: string;
}

export interface Across {
  readonly checked: readonly CheckedNamespace[];
  /** Could not be read, or not in time: the verdict cannot speak for them. */
  readonly unchecked: readonly UncheckedNamespace[];
  /** Every process in it exited before it was read. */
  readonly gone: readonly UncheckedNamespace[];
  /** Checked by their socket counts alone, not listed (--walk at-risk): each is OK. */
  readonly bounded: readonly BoundedNamespace[];
  /** Root: every namespace's sysctls could be read. */
  readonly root: boolean;
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
  /** What the namespaces not listed say by their counts; null when every namespace was listed. */
  readonly bounds: BoundsAcross | null;
}

/** The bounds of the namespaces checked by their counts alone, over all of them. */
export interface BoundsAcross {
  readonly namespaces: number;
  /** No pool of theirs uses a greater share than this (percent)... */
  readonly mostUsage: number;
  /** ...nor more ports... */
  readonly mostUsed: number;
  /** ...nor has fewer left. */
  readonly leastRemaining: number;
  /**
   * The worst figures (status line, worst_* perfdata) are bounds, not a pool listed: no
   * namespace could alert, and one not listed may hold the worst pool. Else the worst pool
   * listed is the worst of all: OK ones not listed all have more ports left.
   */
  readonly decide: boolean;
}

function boundsOf(bounded: readonly BoundedNamespace[], worst: Judged | undefined): BoundsAcross | null {
  if (bounded.length === 0) return null;
  let mostUsage = 0;
  let mostUsed = 0;
  let leastRemaining = Infinity;
  for (const { bound } of bounded) {
    leastRemaining = Math.min(leastRemaining, bound.leastRemaining);
    for (const pool of [bound.tcp, bound.udp]) {
      if (pool === null) continue;
      mostUsage = Math.max(mostUsage, pool.mostUsage);
      mostUsed = Math.max(mostUsed, pool.mostUsed);
    }
  }
  const decide = worst === undefined || (worst.state === State.OK && worst.pool.remaining >= leastRemaining);
  return { namespaces: bounded.length, mostUsage, mostUsed, leastRemaining, decide };
}

/**
 * The verdict over several namespaces, each already judged on its own (its own settings,
 * its own pools). The overall state is the worst of their states, and UNKNOWN for each
 * namespace not checked; a namespace that is gone counts for nothing.
 * @param limit how many of the worst pools of each protocol to keep (the --top of each namespace)
 */
export function decideAcross(across: Across, thresholds: Thresholds, limit: number, tuplePerfdata = 0): AcrossVerdict {
  const { checked } = across;
  const tuplesOf = (v: Verdict) => v.perfdata.find((p) => p.label === 'tuples')?.value ?? 0;
  const merged = mergeRanked(checked.map((ns, at) => ({ worst: ns.verdict.judged.map((j): PlacedJudged => ({ ...j, at })), selected: ns.verdict.selected, selectedTuples: tuplesOf(ns.verdict) })), limit);
  const judged = merged.worst as readonly PlacedJudged[];
  // A namespace checked by its counts is OK: its bound could not alert.
  const states = [...checked.map((ns) => ns.verdict.state), ...across.unchecked.map(() => State.UNKNOWN), ...across.bounded.map(() => State.OK)];
  const state = states.length === 0 ? State.UNKNOWN : worstState(states);
  let leastFresh: number | null = null;
  checked.forEach((ns, at) => {
    if (leastFresh === null || ns.verdict.report.capacity < checked[leastFresh].verdict.report.capacity) leastFresh = at;
  });
  const perf: Perfdata[] = [];
  const worst = judged[0] ?? (leastFresh === null ? undefined : { ...checked[leastFresh].verdict.fresh, at: leastFresh });
  const bounds = boundsOf(across.bounded, worst);
  if (worst !== undefined && !bounds?.decide) {
    const pool = worst.pool;
    perf.push(
      { label: 'worst_usage', value: pool.usage, uom: '%', warn: thresholds.warning.perfdataValue(), crit: thresholds.critical.perfdataValue(), min: 0, max: 100 },
      { label: 'worst_used', value: pool.used, min: 0, max: pool.capacity },
      { label: 'worst_remaining', value: pool.remaining, warn: thresholds.warningRemaining ?? undefined, crit: thresholds.criticalRemaining ?? undefined, min: 0, max: pool.capacity },
    );
  } else if (bounds !== null) {
    // No namespace could alert: the worst pool may be in one not listed, and the figures
    // are bounds on a walk of all (docs/namespaces.md, "Perfdata"): usage and ports used
    // at most these, ports left at least this. Never below the truth, for a graph.
    const listed = worst?.pool;
    perf.push(
      { label: 'worst_usage', value: Math.max(bounds.mostUsage, listed?.usage ?? 0), uom: '%', warn: thresholds.warning.perfdataValue(), crit: thresholds.critical.perfdataValue(), min: 0, max: 100 },
      { label: 'worst_used', value: Math.max(bounds.mostUsed, listed?.used ?? 0), min: 0 },
      { label: 'worst_remaining', value: Math.min(bounds.leastRemaining, listed?.remaining ?? Infinity), warn: thresholds.warningRemaining ?? undefined, crit: thresholds.criticalRemaining ?? undefined, min: 0 },
    );
  }
  // The figures over namespaces: of those listed (the others' sockets were not read).
  if (worst !== undefined) {
    const reports = checked.map((ns) => ns.verdict.report);
    const least = <T>(items: readonly T[], value: (t: T) => number) => items.reduce((a, b) => (value(b) < value(a) ? b : a));
    const sum = (value: (r: PoolFigures) => number) => reports.reduce((total, r) => total + value(r), 0);
    const leastCapacity = least(reports, (r) => r.capacity);
    perf.push(
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
      // The churn of the worst TCP tuple anywhere, as without --namespaces (when it is known).
      const churn = bounds?.decide ? null : (judged.find((j) => j.pool.protocol === 'tcp')?.pool.churn ?? null);
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
  // --nat: the worst NAT pool of any namespace, and insert_failed summed over them.
  const nat = checked.map((ns) => ns.verdict.nat).filter((v): v is NatVerdict => v !== undefined);
  perf.push(...natPerfdata(nat, thresholds));
  perf.push(
    { label: 'namespaces', value: checked.length + across.bounded.length, min: 0 },
    { label: 'namespaces_unchecked', value: across.unchecked.length, min: 0 },
    { label: 'namespaces_bounded', value: across.bounded.length, min: 0 },
  );
  const scope = (at: number) => String(checked[at].inode ?? checked[at].name);
  perf.push(...judged.filter((j) => j.pool.protocol === 'tcp').slice(0, tuplePerfdata).map(({ pool, at }) => ({ label: poolLabelIn(pool, scope(at)), value: pool.used, min: 0, max: pool.capacity })));
  return { state, judged, selected: merged.selected, leastFresh, across, thresholds, perfdata: perf, bounds };
}

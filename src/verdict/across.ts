/**
 * The verdict over several namespaces (--namespaces), each judged on its own first (its own
 * settings, its own pools): the one place that decides their overall state.
 */
import { State } from '../nagios/state';
import type { Perfdata } from '../nagios/perfdata';
import type { KernelSettings } from '../model/settings';
import type { PoolFigures } from '../pools/report';
import type { Judged, Thresholds } from './judge';
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
  // --nat: the worst NAT pool of any namespace, and insert_failed summed over them.
  const nat = checked.map((ns) => ns.verdict.nat).filter((v): v is NatVerdict => v !== undefined);
  perf.push(...natPerfdata(nat, thresholds));
  perf.push({ label: 'namespaces', value: checked.length, min: 0 }, { label: 'namespaces_unchecked', value: across.unchecked.length, min: 0 });
  const scope = (at: number) => String(checked[at].inode ?? checked[at].name);
  perf.push(...judged.filter((j) => j.pool.protocol === 'tcp').slice(0, tuplePerfdata).map(({ pool, at }) => ({ label: poolLabelIn(pool, scope(at)), value: pool.used, min: 0, max: pool.capacity })));
  return { state, judged, selected: merged.selected, leastFresh, across, thresholds, perfdata: perf };
}

/**
 * Thresholds → the state of one pool: judgeHeadroom() is the one place that judges a pool,
 * worstFirst() the one order of judged pools.
 */
import { State } from '../nagios/state';
import type { Range } from '../nagios/range';
import type { Pool } from '../pools/pool';

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

/** Anything judged for its headroom: a socket tuple, a NAT pool. */
export interface Headroomed {
  readonly state: State;
  readonly pool: { readonly remaining: number; readonly usage: number };
}

/** The one order of judged pools, of any kind: worst state, fewest ports left, highest usage. */
export function byHeadroom(a: Headroomed, b: Headroomed): number {
  return b.state - a.state || a.pool.remaining - b.pool.remaining || b.pool.usage - a.pool.usage;
}

/** byHeadroom, then the tuples' texts: a stable order of socket tuples. */
export function worstFirst(a: Judged, b: Judged): number {
  return byHeadroom(a, b) || byCodeUnits(describeKey(a.pool), describeKey(b.pool));
}

/** A stable tie-break; not localeCompare, whose first call loads ICU collation (~5 ms). */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeKey(p: Pool): string {
  return `${p.protocol} ${p.local} ${p.remote} ${p.remotePort ?? ''}`;
}

/**
 * How bad a state is for an overall verdict (several namespaces; NAT pools and failures laid
 * over a namespace's): CRITICAL outranks UNKNOWN, which outranks WARNING
 * (docs/namespaces.md, "The overall state"). A namespace
 * out of ports is paged even when another could not be read, and one that could not be
 * read never hides behind an OK or a WARNING.
 */
const SEVERITY: Record<State, number> = { [State.OK]: 0, [State.WARNING]: 1, [State.UNKNOWN]: 2, [State.CRITICAL]: 3 };

export function worstState(states: readonly State[]): State {
  return states.reduce((worst, s) => (SEVERITY[s] > SEVERITY[worst] ? s : worst), State.OK);
}

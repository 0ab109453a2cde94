/**
 * The connect()s that failed for want of a port -> a state, laid over the usage verdict: a
 * port ran out, whatever the usage is now, so by default any failure is CRITICAL.
 */
import type { Failures } from '../failures/failures';
import type { Perfdata } from '../nagios/perfdata';
import { State } from '../nagios/state';
import type { NotCounted } from '../sources/trace/instance';
import { worstState } from './judge';

export interface FailureThresholds {
  /** Alert at this many failures or more since the last run; null: never. */
  readonly warning: number | null;
  readonly critical: number | null;
}

export interface FailuresJudged {
  readonly failures: Failures | NotCounted;
  readonly state: State;
  /** The threshold reached, e.g. ">= 1"; null when none was. */
  readonly violation: string | null;
}

/** Failures seen and lost: lost events passed the filter too, so they were failures. */
export function failuresAtLeast(f: Failures): number {
  return f.total + f.lost;
}

export function judgeFailures(failures: Failures | NotCounted, t: FailureThresholds): FailuresJudged {
  if (!failures.counted) return { failures, state: State.OK, violation: null };
  const n = failuresAtLeast(failures);
  if (t.critical !== null && n >= t.critical) return { failures, state: State.CRITICAL, violation: `>= ${t.critical}` };
  if (t.warning !== null && n >= t.warning) return { failures, state: State.WARNING, violation: `>= ${t.warning}` };
  return { failures, state: State.OK, violation: null };
}

/** `connect_failures`: failures in the span of this run (not a counter); absent when not counted. */
function failuresPerfdata(j: FailuresJudged, t: FailureThresholds): Perfdata[] {
  if (!j.failures.counted) return [];
  return [{ label: 'connect_failures', value: failuresAtLeast(j.failures), warn: t.warning ?? undefined, crit: t.critical ?? undefined, min: 0 }];
}

/**
 * A verdict with the failures laid over it: the worse of the two states, and the perfdata
 * `connect_failures` after the usage's.
 */
export function withFailures<V extends { readonly state: State; readonly perfdata: readonly Perfdata[] }>(v: V, j: FailuresJudged | null, t: FailureThresholds): V {
  if (j === null) return v;
  return { ...v, state: worstState([v.state, j.state]), perfdata: [...v.perfdata, ...failuresPerfdata(j, t)] };
}

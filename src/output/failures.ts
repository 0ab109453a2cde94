/**
 * The failed connect()s (--failures) in words and JSON, shared by every format so they
 * never disagree: named first in the summary when they alert, a line per destination, a
 * line in -v saying what was counted, or why not.
 */
import type { Failures, FailureTuple } from '../failures/failures';
import { endpointText } from '../model/address';
import { State, stateName } from '../nagios/state';
import { failuresAtLeast, type FailuresJudged } from '../verdict/failures';

/** How many destinations the summary and the detail lines name. */
const NAMED = 3;

/** "08:41:02 UTC" from an ISO time. */
function clock(iso: string): string {
  return `${iso.slice(11, 19)} UTC`;
}

function since(f: Failures): string {
  if (f.since !== null) return `since ${clock(f.since)}`;
  return f.made ? 'since counting started' : 'since an unknown time';
}

function connects(n: number): string {
  return `${n} connect()${n === 1 ? '' : 's'}`;
}

function destination(t: FailureTuple): string {
  return endpointText(t.remote, t.remotePort);
}

/**
 * "37 connect()s to 10.0.0.5:5432 failed for want of a local port since 08:41:02 UTC", or
 * with several destinations "40 connect()s failed ... (37 to 10.0.0.5:5432, 3 to ...)";
 * "at least" when the buffer overflowed. Null unless the failures alert.
 */
function failuresSummary(j: FailuresJudged | null): string | null {
  if (j === null || !j.failures.counted || j.state === State.OK) return null;
  const f = j.failures;
  const n = failuresAtLeast(f);
  const bound = f.lost > 0 ? 'at least ' : '';
  const dests = new Set(f.tuples.map(destination));
  // Lost events name no destination: then the count is not one destination's.
  if (dests.size === 1 && f.lost === 0) return `${bound}${connects(n)} to ${destination(f.tuples[0])} failed for want of a local port ${since(f)}`;
  const named = f.tuples.slice(0, NAMED).map((t) => `${t.count} to ${destination(t)}`);
  const more = f.tuples.length > NAMED ? `, ${f.tuples.length - NAMED} more tuples` : '';
  return `${bound}${connects(n)} failed for want of a local port ${since(f)}${named.length > 0 ? ` (${named.join(', ')}${more})` : ''}`;
}

/** The summary, the failures first when they alert: a port ran out, whatever the usage is now. */
export function leadWithFailures(summary: string, j: FailuresJudged | null): string {
  const failures = failuresSummary(j);
  return failures === null ? summary : `${failures}; ${summary}`;
}

/** One line per failing tuple, most first, then how many more. */
export function failuresLines(j: FailuresJudged | null): string[] {
  if (j === null || !j.failures.counted) return [];
  const f = j.failures;
  const state = stateName(j.state);
  const lines = f.tuples.slice(0, NAMED).map((t) => `[${state}] tcp ${t.local} -> ${destination(t)}: ${connects(t.count)} failed for want of a local port ${since(f)}`);
  if (f.tuples.length > NAMED) lines.push(`... and ${f.tuples.length - NAMED} more tuples where connect() failed`);
  if (f.lost > 0) lines.push(`[${state}] ${f.lost} more failed connect()s were lost to a full trace buffer: the counts are lower bounds (run the check more often)`);
  return lines;
}

/** The -v line: what was counted and over which span, or why nothing was. */
export function failuresVerbose(j: FailuresJudged | null): string[] {
  if (j === null) return [];
  const f = j.failures;
  if (!f.counted) return [`connect() failures: not counted: ${f.reason}`];
  const from = f.since ?? (f.made ? 'now (the trace instance was just armed)' : 'an unknown time (the last run\'s marker is gone: another reader took it, or the buffer was cleared)');
  const lines = [`connect() failures: counted from ${from} to ${f.until} by the trace instance check_ephemeral_ports: ${f.total} seen, ${f.lost} lost`];
  if (f.rearmed.length > 0) lines.push(`connect() failures: the trace instance had been changed (${f.rearmed.join(', ')}) and was set back: failures in between may be missing`);
  if (!f.exclusive) lines.push('connect() failures: this kernel (before 6.6) lets two readers split the events: let one check at a time count them');
  return lines;
}

/** JSON: the counts and their span, or "not counted: why". */
export function failuresJson(j: FailuresJudged | null) {
  if (j === null) return {};
  const f = j.failures;
  if (!f.counted) return { failures: `not counted: ${f.reason}` };
  return {
    failures: {
      status: stateName(j.state),
      state: j.state,
      since: f.since,
      until: f.until,
      total: f.total,
      lost: f.lost,
      tuples: f.tuples.map(({ local, remote, remotePort, count }) => ({ local, remote, remotePort, count })),
      rearmed: f.rearmed,
    },
  };
}

/** The failures' state over the usage verdict, and their words: named first when they alert. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Failures } from '../../src/failures/failures';
import { State } from '../../src/nagios/state';
import { failuresJson, failuresLines, failuresVerbose, leadWithFailures } from '../../src/output/failures';
import { judgeFailures, withFailures } from '../../src/verdict/failures';

const base: Failures = { counted: true, since: '2026-12-05T08:41:02.000Z', until: '2026-12-05T08:46:02.000Z', total: 37, lost: 0, made: false, rearmed: [], exclusive: true,
  tuples: [{ local: '10.0.0.1', remote: '10.0.0.5', remotePort: 5432, count: 37 }] };
const byDefault = { warning: null, critical: 1 };

test('any failure is CRITICAL by default; thresholds count failures seen and lost', () => {
  assert.equal(judgeFailures(base, byDefault).state, State.CRITICAL);
  assert.equal(judgeFailures({ ...base, total: 0, tuples: [] }, byDefault).state, State.OK);
  assert.equal(judgeFailures({ ...base, total: 0, tuples: [], lost: 3 }, byDefault).state, State.CRITICAL);
  assert.equal(judgeFailures(base, { warning: 10, critical: 50 }).state, State.WARNING);
  assert.equal(judgeFailures(base, { warning: null, critical: null }).state, State.OK);
  assert.equal(judgeFailures({ counted: false, reason: 'needs root' }, byDefault).state, State.OK);
});

test('laid over the usage: the worse state, and connect_failures after the usage perfdata', () => {
  const usage = { state: State.WARNING, perfdata: [{ label: 'worst_usage', value: 75 }] };
  const over = withFailures(usage, judgeFailures(base, byDefault), byDefault);
  assert.equal(over.state, State.CRITICAL);
  assert.deepEqual(over.perfdata.map((p) => p.label), ['worst_usage', 'connect_failures']);
  assert.deepEqual(over.perfdata[1], { label: 'connect_failures', value: 37, warn: undefined, crit: 1, min: 0 });
  const notCounted = withFailures(usage, judgeFailures({ counted: false, reason: 'needs root' }, byDefault), byDefault);
  assert.deepEqual(notCounted, usage);
  assert.equal(withFailures(usage, null, byDefault), usage);
});

test('named first in the summary when they alert; "at least" after an overflow', () => {
  const usage = 'worst tcp 10.0.0.1 -> 10.0.0.5:5432: 100/100 ports used (100.0% > 90), 0 left';
  assert.equal(leadWithFailures(usage, judgeFailures(base, byDefault)), `37 connect()s to 10.0.0.5:5432 failed for want of a local port since 08:41:02 UTC; ${usage}`);
  assert.equal(leadWithFailures(usage, judgeFailures(base, { warning: null, critical: 100 })), usage);
  const lost = judgeFailures({ ...base, lost: 5 }, byDefault);
  assert.match(leadWithFailures(usage, lost), /^at least 42 connect\(\)s failed for want of a local port since 08:41:02 UTC \(37 to 10\.0\.0\.5:5432\); /);
  assert.match(failuresLines(lost).at(-1) ?? '', /5 more failed connect\(\)s were lost to a full trace buffer: the counts are lower bounds/);
});

test('JSON: the contract, or "not counted: why"', () => {
  assert.deepEqual(failuresJson(judgeFailures(base, byDefault)), { failures: { status: 'CRITICAL', state: 2, since: base.since, until: base.until, total: 37, lost: 0, tuples: base.tuples, rearmed: [] } });
  assert.deepEqual(failuresJson(judgeFailures({ counted: false, reason: 'needs root (tracefs belongs to root)' }, byDefault)), { failures: 'not counted: needs root (tracefs belongs to root)' });
  assert.deepEqual(failuresJson(null), {});
});

test('-v: the span, or where it starts when no marker of the last run was found', () => {
  assert.match(failuresVerbose(judgeFailures(base, byDefault))[0], /^connect\(\) failures: counted from 2026-12-05T08:41:02.000Z to 2026-12-05T08:46:02.000Z .*: 37 seen, 0 lost$/);
  assert.match(failuresVerbose(judgeFailures({ ...base, since: null, made: true }, byDefault))[0], /counted from now \(the trace instance was just armed\)/);
  const gone = judgeFailures({ ...base, since: null }, byDefault);
  assert.match(failuresVerbose(gone)[0], /counted from an unknown time \(the last run's marker is gone/);
  assert.match(leadWithFailures('x', gone), /failed for want of a local port since an unknown time; x$/);
  assert.deepEqual(failuresVerbose(judgeFailures({ counted: false, reason: 'needs root (tracefs belongs to root)' }, byDefault)), ['connect() failures: not counted: needs root (tracefs belongs to root)']);
  assert.match(failuresVerbose(judgeFailures({ ...base, rearmed: ['the filter'], exclusive: false }, byDefault)).join('\n'), /had been changed \(the filter\) and was set back[\s\S]*before 6\.6/);
});

/**
 * Ground truth, the verdict: exit codes and status lines against states worked out from the
 * kernel's counts. A tuple at about half its pool under several thresholds, then another
 * tuple connected until the kernel refuses (remaining 0), which must be CRITICAL.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertKernelAgrees, assertNagiosOutput, checkRuns, DEFAULT_LIMITS, kernelPools, kernelState, limitArgs, portRange, runScenario, skip, verifications, type Limits, type Step } from './namespace';

const HALF = ['127.0.0.1', '127.0.0.2', 5432] as const;
const FULL = ['127.0.0.1', '127.0.0.3', 6379] as const;

const LIMITS: Limits[] = [
  DEFAULT_LIMITS,
  { warning: 20, critical: 95 },
  { warning: 60, critical: 95 },
  { warning: 20, critical: 40 },
  { warning: 95, critical: 99, warningRemaining: 150 },
  { warning: 95, critical: 99, criticalRemaining: 150 },
];

function checks(): Step[] {
  return [
    ...LIMITS.map((l): Step => ({ op: 'check', args: limitArgs(l) })),
    { op: 'check', args: ['--remote', HALF[1]] },
    { op: 'verify', fresh: [['127.0.0.1', '127.0.0.4', 7000]] },
  ];
}

test('exit codes at thresholds, and an exhausted tuple is CRITICAL', { skip }, async (t) => {
  const results = await runScenario([
    portRange(40000, 40199),
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['127.0.0.3', 6379] },
    { op: 'listen', at: ['127.0.0.4', 7000] },
    { op: 'connect', tuple: HALF, n: 100 },
    ...checks(),
    { op: 'fill', tuple: FULL },
    ...checks(),
  ]);
  const runs = checkRuns(results);
  const [half, full] = verifications(results);
  const perPhase = LIMITS.length + 1;

  const judged = (phase: number, v: typeof half) => {
    assertKernelAgrees(v);
    LIMITS.forEach((l, i) => {
      const run = runs[phase * perPhase + i];
      assertNagiosOutput(run);
      assert.equal(run.status, kernelState(v, l), `${limitArgs(l).join(' ')}: ${run.stdout.split('\n')[0]}`);
    });
    // --remote selects the half-full tuple alone (and so leaves out the UDP pool).
    const selected = runs[phase * perPhase + LIMITS.length];
    assertNagiosOutput(selected);
    assert.equal(selected.status, kernelState(v, DEFAULT_LIMITS, (p) => p.key === HALF.join(' ')));
  };

  await t.test('a tuple at about half its pool', () => {
    judged(0, half);
    const usage = kernelPools(half).find((p) => p.key === HALF.join(' '))?.usage;
    assert.ok(usage !== undefined && usage > 40 && usage < 60, `usage ${usage}`);
    // The thresholds the task names: -w 20 -c 95 is WARNING for it.
    assert.equal(runs[1].status, 1);
  });
  await t.test('an exhausted tuple', () => {
    judged(1, full);
    const exhausted = full.tuples.find((k) => `${k.local} ${k.remote} ${k.remotePort}` === FULL.join(' '));
    assert.equal(exhausted?.counts[0], 0, 'the kernel refuses every further connect');
    const run = runs[perPhase];
    assert.equal(run.status, 2);
    assert.match(run.stdout, /^EPHEMERAL PORTS CRITICAL - worst tcp 127\.0\.0\.1 -> 127\.0\.0\.3:6379: .*, 0 left/);
    assert.equal(full.check.report.status, 'CRITICAL');
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Range } from '../../src/nagios/range';

// The vectors are docs/plugin-contract.md's, from the monitoring-plugins C library tests.
test('plain end: alerts below 0 or above end', () => {
  const r = Range.parse('10');
  assert.deepEqual([-1, 0, 5, 10, 10.1].map((x) => r.alertsOn(x)), [true, false, false, false, true]);
});

test('start only: alerts below start', () => {
  const r = Range.parse('10:');
  assert.deepEqual([9.9, 10, 1e9].map((x) => r.alertsOn(x)), [true, false, false]);
});

test('~:0 alerts on 0.5 but not on 0 or -10', () => {
  const r = Range.parse('~:0');
  assert.equal(r.alertsOn(0.5), true);
  assert.equal(r.alertsOn(0), false);
  assert.equal(r.alertsOn(-10), false);
});

test('@0:657.8210567 alerts on both endpoints and inside only', () => {
  const r = Range.parse('@0:657.8210567');
  assert.equal(r.alertsOn(0), true);
  assert.equal(r.alertsOn(657.8210567), true);
  assert.equal(r.alertsOn(300), true);
  assert.equal(r.alertsOn(-0.1), false);
  assert.equal(r.alertsOn(657.83), false);
});

test('@1:1 alerts only at 1', () => {
  const r = Range.parse('@1:1');
  assert.deepEqual([0.99, 1, 1.01].map((x) => r.alertsOn(x)), [false, true, false]);
});

test('10:20 alerts outside, inclusive endpoints', () => {
  const r = Range.parse('10:20');
  assert.deepEqual([9, 10, 20, 21].map((x) => r.alertsOn(x)), [true, false, false, true]);
});

function stateOf(warning: string, critical: string, x: number): string {
  const w = Range.parse(warning);
  const c = Range.parse(critical);
  if (c.alertsOn(x)) return 'CRITICAL';
  if (w.alertsOn(x)) return 'WARNING';
  return 'OK';
}

test('-w 30 -c 60: 15.3 OK, 30.0001 WARNING, 69 CRITICAL', () => {
  assert.equal(stateOf('30', '60', 15.3), 'OK');
  assert.equal(stateOf('30', '60', 30.0001), 'WARNING');
  assert.equal(stateOf('30', '60', 69), 'CRITICAL');
});

test('-w -10:-2 -c -30:20: critical is evaluated before warning', () => {
  const cases: [number, string][] = [[-31, 'CRITICAL'], [-29, 'WARNING'], [-10, 'OK'], [-2, 'OK'], [-1, 'WARNING'], [21, 'CRITICAL']];
  for (const [x, want] of cases) assert.equal(stateOf('-10:-2', '-30:20', x), want, `x=${x}`);
});

test('rejects malformed ranges', () => {
  for (const bad of ['2:1', ':', 'foo', '1-10', '1,10', '', '@', '~', '10:foo', '1e3', '@@1']) {
    assert.throws(() => Range.parse(bad), Error, bad);
  }
});

test('canonical text and perfdata value', () => {
  assert.equal(Range.parse('90').toString(), '90');
  assert.equal(Range.parse('~:90').toString(), '~:90');
  assert.equal(Range.parse('@10:20').toString(), '@10:20');
  assert.equal(Range.parse('90').perfdataValue(), 90);
  assert.equal(Range.parse('~:90').perfdataValue(), 90);
  assert.equal(Range.parse('10:').perfdataValue(), 10);
  assert.equal(Range.parse('10:20').perfdataValue(), undefined);
  assert.equal(Range.parse('@10:20').perfdataValue(), undefined);
});

test('violation names the crossed bound', () => {
  assert.equal(Range.parse('90').violation(93.6), '> 90');
  assert.equal(Range.parse('10:').violation(5), '< 10');
  assert.equal(Range.parse('@10:20').violation(15), 'inside 10:20');
  assert.equal(Range.parse('@0:100').violation(0), 'inside 0:100');
  assert.equal(Range.parse('@~:5').violation(0), 'inside ~:5');
});

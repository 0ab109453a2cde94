import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatNumber } from '../../src/nagios/number';
import { formatPerfdata } from '../../src/nagios/perfdata';

test('numbers are plain decimals, never exponents', () => {
  assert.equal(formatNumber(1e21), '1000000000000000000000');
  assert.equal(formatNumber(123456789012345680000), '123456789012345683968'); // the double's exact value
  assert.equal(formatNumber(1e-7), '0');
  assert.equal(formatNumber(0.0005), '0.001');
  assert.equal(formatNumber(74.46808510638297), '74.468');
  assert.equal(formatNumber(100), '100');
  assert.equal(formatNumber(-0), '0');
  assert.equal(formatNumber(-2.5), '-2.5');
  for (const n of [1e21, 5e-324, 1.7976931348623157e308, 123.456e10]) assert.doesNotMatch(formatNumber(n), /e/i);
});

test('NaN and Infinity are refused', () => {
  assert.throws(() => formatNumber(NaN));
  assert.throws(() => formatNumber(Infinity));
});

test('perfdata layout: label=value[uom];warn;crit;min;max, trailing empties dropped', () => {
  assert.equal(formatPerfdata({ label: 'worst_usage', value: 74.468085, uom: '%', warn: 70, crit: 90, min: 0, max: 100 }), 'worst_usage=74.468%;70;90;0;100');
  assert.equal(formatPerfdata({ label: 'worst_used', value: 140, min: 0, max: 188 }), 'worst_used=140;;;0;188');
  assert.equal(formatPerfdata({ label: 'tuples', value: 3 }), 'tuples=3');
  assert.equal(formatPerfdata({ label: 'x', value: 1, warn: 5 }), 'x=1;5');
});

test('labels outside [a-z0-9_] are refused', () => {
  for (const label of ['Worst', 'a b', "a'b", 'a=b', 'a|b', '']) assert.throws(() => formatPerfdata({ label, value: 1 }), Error, label);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIntSysctl, parsePortRange, parseReservedPorts } from '../../src/sources/sysctls/sysctl';

test('port range: tab separated, as the kernel prints it', () => {
  assert.deepEqual(parsePortRange('32768\t60999\n', 'p'), { low: 32768, high: 60999 });
  assert.deepEqual(parsePortRange('40000 40000\n', 'p'), { low: 40000, high: 40000 });
});

test('port range: reversed, garbage, out of bounds are refused', () => {
  for (const bad of ['60999 32768', '1 2 3', '', 'a b', '0 100', '1 65536', '-1 5', '1.5 9']) {
    assert.throws(() => parsePortRange(bad, '/proc/sys/net/ipv4/ip_local_port_range'), /ip_local_port_range/, bad);
  }
});

test('reserved ports: empty, single ports and spans', () => {
  assert.deepEqual(parseReservedPorts('\n', 'r'), []);
  assert.deepEqual(parseReservedPorts('8080,40100-40109\n', 'r'), [
    { low: 8080, high: 8080 },
    { low: 40100, high: 40109 },
  ]);
  for (const bad of ['8080,', 'x', '5-3', '1-2-3', '70000']) assert.throws(() => parseReservedPorts(bad, 'r'), Error, bad);
});

test('one-number sysctls are bounded', () => {
  assert.equal(parseIntSysctl('2\n', 'x', 0, 2), 2);
  assert.throws(() => parseIntSysctl('3\n', 'x', 0, 2));
  assert.throws(() => parseIntSysctl('', 'x', 0, 2));
  assert.throws(() => parseIntSysctl('1 1', 'x', 0, 2));
});

test('messages name the item and what is wrong', () => {
  assert.throws(() => parsePortRange('60999 32768', 'p'), /^Error: p: range 60999-32768 is reversed$/);
  assert.throws(() => parsePortRange('1 2 3\n', 'p'), /^Error: p: expected two port numbers, "LOW HIGH" \(read "1 2 3"\)$/);
  assert.throws(() => parseReservedPorts('8080,5-3', 'r'), /^Error: r: item 2: span 5-3 is reversed$/);
  assert.throws(() => parseReservedPorts('8080,70000', 'r'), /^Error: r: item 2 is not a port number from 1 to 65535 \(read "70000"\)$/);
  assert.throws(() => parseIntSysctl('3\n', 'x', 0, 2), /^Error: x: expected a number from 0 to 2 \(read "3"\)$/);
});

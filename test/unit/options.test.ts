import assert from 'node:assert/strict';
import { test } from 'node:test';
import { helpText, OPTION_SPECS, parseCommandLine, UsageError } from '../../src/cli/options';

test('defaults', () => {
  const o = parseCommandLine([]);
  assert.equal(o.thresholds.warning.toString(), '70');
  assert.equal(o.thresholds.critical.toString(), '90');
  assert.deepEqual([o.top, o.format, o.procRoot, o.timeoutSeconds, o.verbose], [5, 'nagios', '/proc', 8, 0]);
  assert.deepEqual([o.selection.tcp, o.selection.udp, o.selection.families], [true, true, [4, 6]]);
});

test('minimist traps: attached short values, values starting with "-", numbers kept as text', () => {
  assert.equal(parseCommandLine(['-w10:']).thresholds.warning.toString(), '10:');
  assert.equal(parseCommandLine(['-w', '-5:']).thresholds.warning.toString(), '-5:');
  assert.equal(parseCommandLine(['--warning', '-5:']).thresholds.warning.toString(), '-5:');
  assert.equal(parseCommandLine(['--critical=~:95']).thresholds.critical.toString(), '~:95');
  assert.equal(parseCommandLine(['-c', '010']).thresholds.critical.end, 10);
  assert.equal(parseCommandLine(['-vvv']).verbose, 3);
  assert.equal(parseCommandLine(['-v', '-v', '--verbose', '-v']).verbose, 3);
  assert.equal(parseCommandLine(['-vt', '3']).timeoutSeconds, 3);
  assert.equal(parseCommandLine(['-t2.5']).timeoutSeconds, 2.5);
  assert.equal(parseCommandLine(['-46']).selection.families.length, 2);
  assert.deepEqual(parseCommandLine(['-6']).selection.families, [6]);
});

test('repeatable filters', () => {
  const o = parseCommandLine(['--remote', '10.0.0.0/8', '--remote=fd00::/8', '--remote-port', '5432', '--remote-port', '8000-8099', '--local', '10.0.0.1']);
  assert.deepEqual(o.selection.remotePorts, [{ low: 5432, high: 5432 }, { low: 8000, high: 8099 }]);
  assert.equal(o.selection.remote?.matches('10.2.3.4'), true);
  assert.equal(o.selection.remote?.matches('fd12::1'), true);
  assert.equal(o.selection.remote?.matches('192.0.2.1'), false);
  assert.equal(o.selection.local?.matches('10.0.0.1'), true);
});

test('--format: nagios, json or prometheus', () => {
  assert.deepEqual(['nagios', 'json', 'prometheus'].map((f) => parseCommandLine(['--format', f]).format), ['nagios', 'json', 'prometheus']);
});

test('bad arguments are usage errors', () => {
  const bad = [
    ['--bogus'], ['-x'], ['-w'], ['-w', ''], ['--warning='], ['-w', '2:1'], ['-w', 'foo'], ['-c', '1,10'], ['-c', '1-10'], ['-t', '0'], ['-t', '-1'], ['-t', 'abc'],
    ['--format', 'xml'], ['--top', '-1'], ['--top', '1.5'], ['--remote', 'db'], ['--remote-port', '0'], ['--remote-port', '70000'], ['--remote-port', '9-3'],
    ['stray'], ['--', 'x'], ['--tcp=yes'], ['-w', '80', '-w', '90'], ['--warning-remaining', 'x'], ['--proc'],
    ['--warning-churn', '1'], ['--warning-churn', '0.5'], ['--critical-churn', 'x'], ['--critical-churn', '-2'], ['--warning-churn', '1e3'], ['--critical-churn', '2', '--critical-churn', '3'],
  ];
  for (const argv of bad) assert.throws(() => parseCommandLine(argv), UsageError, JSON.stringify(argv));
});

test('churn thresholds: off by default, factors above 1', () => {
  assert.deepEqual([parseCommandLine([]).thresholds.warningChurn, parseCommandLine([]).thresholds.criticalChurn], [null, null]);
  const o = parseCommandLine(['--warning-churn', '3', '--critical-churn=1.5']);
  assert.deepEqual([o.thresholds.warningChurn, o.thresholds.criticalChurn], [3, 1.5]);
});

test('help lists every option', () => {
  const help = helpText('1.2.3');
  for (const spec of OPTION_SPECS) assert.match(help, new RegExp(`--${spec.long}\\b`));
});

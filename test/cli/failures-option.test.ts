import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { helpText, parseCommandLine, usageText, UsageError } from '../../src/cli/options';

const usage = (pattern: RegExp) => (err: unknown) => err instanceof UsageError && pattern.test(err.message);

describe('--failures', () => {
  it('is off unless asked; asked, any failure is CRITICAL and none WARNING', () => {
    assert.equal(parseCommandLine([]).failures.mode, null);
    assert.deepEqual(parseCommandLine(['--failures']).failures, { mode: 'count', thresholds: { warning: null, critical: 1 } });
  });

  it('--failures=off removes the instance; no other value', () => {
    assert.equal(parseCommandLine(['--failures=off']).failures.mode, 'off');
    assert.throws(() => parseCommandLine(['--failures=on']), usage(/--failures takes no value but =off/));
    // A value is attached or there is none: the next token is not taken.
    assert.throws(() => parseCommandLine(['--failures', 'off']), usage(/unexpected argument "off"/));
  });

  it('thresholds: whole numbers, 0 for never; only with --failures', () => {
    assert.deepEqual(parseCommandLine(['--failures', '--warning-failures', '1', '--critical-failures', '10']).failures.thresholds, { warning: 1, critical: 10 });
    assert.deepEqual(parseCommandLine(['--failures', '--critical-failures', '0']).failures.thresholds, { warning: null, critical: null });
    assert.throws(() => parseCommandLine(['--failures', '--critical-failures', '1.5']), usage(/--critical-failures wants a whole number/));
    assert.throws(() => parseCommandLine(['--critical-failures', '5']), usage(/need --failures/));
  });

  it('counts on the running kernel only: not with --proc', () => {
    assert.throws(() => parseCommandLine(['--failures', '--proc', '/tmp/copy']), usage(/choose one/));
  });

  it('is in the usage and the help, as a flag (monitoring configs map it with set_if)', () => {
    assert.match(usageText(), /\[--failures\[=off\]\] \[--warning-failures N\] \[--critical-failures N\]/);
    assert.match(helpText('0'), /^ {2}--failures {2,}count the connect\(\)s that failed .*--failures=off removes it$/m);
    assert.match(helpText('0'), /--critical-failures N +with --failures: CRITICAL at N .* \(default: 1\)/);
  });
});

/**
 * Every answer that is not a verdict comes in the format asked for, once --format itself
 * parsed: usage errors, --help, --version, every UNKNOWN. Exit codes stay 3.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCommandLine, requestedFormat, usageText, UsageError } from '../../src/cli/options';
import { nodeHost } from '../../src/host/node-host';
import { run, version } from '../../src/run';
import { FIXTURES } from '../helpers';

const FIXTURE = join(FIXTURES, 'db-client');

describe('requestedFormat: the format, whatever else is wrong', () => {
  const cases: [string[], string][] = [
    [[], 'nagios'],
    [['--format', 'json'], 'json'],
    [['-w', 'foo', '--format=json'], 'json'],
    [['--bogus', 'x', '--format', 'prometheus'], 'prometheus'],
    [['--', '--format', 'json'], 'json'],
    [['stray', '-x', '--format', 'json', '-w'], 'json'],
    // A value of its own token never starts with "--": the option after it still counts.
    [['-w', '--format', 'json'], 'json'],
    [['--remote', '--format=json'], 'json'],
    [['--format', 'json', '--format', 'json'], 'json'],
    [['--format', 'json', '--format', 'nagios'], 'nagios'],
    [['--format', 'xml'], 'nagios'],
    [['--format', ''], 'nagios'],
    [['--format'], 'nagios'],
    [['--format', '--format', 'json'], 'json'],
    [['-w--format', 'json'], 'nagios'],
  ];
  for (const [argv, format] of cases) it(`${JSON.stringify(argv)} → ${format}`, () => assert.equal(requestedFormat(argv), format));

  it('a value that starts with "--" is a missing value, one that starts with "-" is a value', () => {
    assert.throws(() => parseCommandLine(['-w', '--tcp']), (err: unknown) => err instanceof UsageError && err.message === 'option -w needs a value (RANGE)');
    assert.throws(() => parseCommandLine(['--remote', '--tcp']), (err: unknown) => err instanceof UsageError && err.message === 'option --remote needs a value (PREFIX)');
    assert.equal(parseCommandLine(['-w', '-5:']).thresholds.warning.toString(), '-5:');
    assert.equal(parseCommandLine(['--proc=--odd-dir']).procRoot, '--odd-dir');
  });

  it('the first bad token is the error, though parsing went on', () => {
    assert.throws(() => parseCommandLine(['-x', '--bogus', '-w', 'foo']), (err: unknown) => err instanceof UsageError && err.message === 'unknown option -x');
  });
});

describe('run(): failures in the format asked for', () => {
  it('a usage error as JSON: status, summary, usage; exit 3', async () => {
    const r = await run(['-w', 'foo', '--format', 'json'], nodeHost);
    assert.equal(r.exitCode, 3);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(j), ['status', 'state', 'summary', 'usage']);
    assert.equal(j.status, 'UNKNOWN');
    assert.match(j.summary, /^--warning: /);
    assert.equal(j.usage, usageText());
  });

  it('an error before --format on the line still comes as JSON', async () => {
    const r = await run(['--bogus', '--format=json'], nodeHost);
    assert.deepEqual(JSON.parse(r.stdout), { status: 'UNKNOWN', state: 3, summary: 'unknown option --bogus', usage: usageText() });
  });

  it('--help and --version as JSON, and as text without --format', async () => {
    const help = JSON.parse((await run(['--help', '--format', 'json'], nodeHost)).stdout);
    assert.equal(help.status, 'UNKNOWN');
    assert.equal(help.summary, `check_ephemeral_ports ${version}: help`);
    assert.match(help.help, /^check_ephemeral_ports .*\n[\s\S]*--format FORMAT/);
    assert.deepEqual(JSON.parse((await run(['-V', '--format=json'], nodeHost)).stdout), { status: 'UNKNOWN', state: 3, summary: `check_ephemeral_ports ${version}`, version });
    const text = await run(['--help'], nodeHost);
    assert.equal(text.exitCode, 3);
    assert.match(text.stdout, /^check_ephemeral_ports /);
    assert.deepEqual(await run(['-V'], nodeHost), { exitCode: 3, stdout: `check_ephemeral_ports ${version}\n` });
  });

  it('a kernel fault, a timeout and a stop as JSON', async () => {
    const missing = JSON.parse((await run(['--proc', '/nonexistent', '--format', 'json'], nodeHost)).stdout);
    assert.deepEqual(missing, { status: 'UNKNOWN', state: 3, summary: '/nonexistent/sys/net/ipv4/ip_local_port_range: missing' });
    const stop = new AbortController();
    stop.abort('SIGTERM');
    const stopped = await run(['--proc', FIXTURE, '--format', 'json'], nodeHost, stop.signal);
    assert.equal(stopped.exitCode, 3);
    assert.match(JSON.parse(stopped.stdout).summary, /^stopped by SIGTERM while /);
  });

  it('the same failures in the prometheus format: a comment and check_state 3', async () => {
    const usage = await run(['-w', 'foo', '--format', 'prometheus'], nodeHost);
    assert.equal(usage.exitCode, 3);
    assert.match(usage.stdout, /^# check_ephemeral_ports UNKNOWN: --warning: /);
    assert.match(usage.stdout, /^ephemeral_ports_check_state 3$/m);
    const help = await run(['-h', '--format=prometheus'], nodeHost);
    assert.match(help.stdout, /^# check_ephemeral_ports .*\n(#.*\n)*ephemeral_ports_check_state 3\n$/);
    assert.match(help.stdout, /^# +--format FORMAT/m);
  });

  it('a format that did not parse leaves the text', async () => {
    const r = await run(['--format', 'xml'], nodeHost);
    assert.equal(r.exitCode, 3);
    assert.match(r.stdout, /^EPHEMERAL PORTS UNKNOWN - --format wants nagios, json, prometheus, not "xml"\nUsage: /);
  });
});

/**
 * The committed bundle as a monitoring system runs it: argv only, exit code, the whole
 * stdout, an empty stderr. Fixtures are real captured /proc trees (test/fixtures/README.md).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleMissing, BUNDLE, FIXTURES, runBundle, skipUnless } from '../helpers';

const skip = skipUnless(bundleMissing());
const fixture = (name: string) => join(FIXTURES, name);

function nagiosShape(stdout: string, state: string): void {
  const lines = stdout.trimEnd().split('\n');
  assert.match(lines[0], new RegExp(`^EPHEMERAL PORTS ${state} - `));
  assert.equal(stdout.split('|').length - 1, 1);
  assert.match(lines[lines.length - 1], /^\| worst_usage=[0-9.]+%;/);
}

test('bundle: one executable file with a node shebang', { skip }, () => {
  const head = readFileSync(BUNDLE, 'utf8').slice(0, 40);
  assert.match(head, /^#!\/usr\/bin\/env node\n/);
});

test('db-client fixture, tw_reuse 2: aged loopback TIME_WAIT is not counted', { skip }, () => {
  const r = runBundle(['--proc', fixture('db-client')]);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  nagiosShape(r.stdout, 'OK');
  assert.match(r.stdout.split('\n')[0], /worst tcp 127\.0\.0\.1 -> 127\.0\.0\.2:5432: 120\/188 ports used \(63\.8%\), 68 left$/);
});

test('db-client fixture, tw_reuse 0: TIME_WAIT holds ports, WARNING at 70', { skip }, () => {
  const r = runBundle(['--proc', fixture('db-client-tw-reuse-0')]);
  assert.equal(r.status, 1);
  nagiosShape(r.stdout, 'WARNING');
  assert.match(r.stdout, /140\/188 ports used \(74\.5% > 70\), 48 left/);
  assert.equal(runBundle(['--proc', fixture('db-client-tw-reuse-0'), '-w', '80', '-c', '74']).status, 2);
  assert.equal(runBundle(['--proc', fixture('db-client-tw-reuse-0'), '-w', '80', '--critical-remaining', '49']).status, 2);
  assert.equal(runBundle(['--proc', fixture('db-client-tw-reuse-0'), '-w', '80', '--warning-remaining', '49']).status, 1);
});

test('db-client fixture as JSON: every tuple, mapped IPv6 folded into IPv4', { skip }, () => {
  const r = runBundle(['--proc', fixture('db-client'), '--format', 'json', '--top', '0']);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
  const j = JSON.parse(r.stdout);
  assert.equal(j.status, 'OK');
  assert.deepEqual([j.capacity, j.reserved, j.listeningPorts, j.range.low, j.range.high], [188, 10, 2, 40000, 40199]);
  const byDest = Object.fromEntries(j.tuples.map((t: { protocol: string; remote: string; remotePort: number | null; used: number }) => [`${t.protocol} ${t.remote} ${t.remotePort}`, t.used]));
  assert.deepEqual(byDest, { 'tcp 127.0.0.2 5432': 120, 'tcp 127.0.0.3 6379': 35, 'tcp ::1 8080': 10, 'tcp 127.0.0.9 40003': 1, 'udp * null': 5 });
  assert.equal(j.tuples[0].timeWaitReusable, 20);
  assert.deepEqual(j.bindStyle, { capacity: 190, used: 142, remaining: 48, usage: 74.737 });
});

test('filters select the database pool only', { skip }, () => {
  const r = runBundle(['--proc', fixture('db-client'), '--remote', '127.0.0.3', '--remote-port', '6379', '--format', 'json']);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.tuples.map((t: { remote: string }) => t.remote), ['127.0.0.3']);
  const none = runBundle(['--proc', fixture('db-client'), '--remote', '192.0.2.0/24']);
  assert.equal(none.status, 0);
  assert.match(none.stdout, /^EPHEMERAL PORTS OK - no tuple selected; a new tcp destination gets 188 of 200 ports\n/);
});

test('IPv6 off and a kernel without tcp_tw_reuse_delay are normal hosts', { skip }, () => {
  const r = runBundle(['--proc', fixture('ipv6-off-old-kernel'), '-v']);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /tcp_tw_reuse_delay absent: assuming 1000/);
});

test('host-idle fixture: default range', { skip }, () => {
  const r = runBundle(['--proc', fixture('host-idle'), '--format', 'json']);
  assert.equal(r.status, 0);
  assert.deepEqual(JSON.parse(r.stdout).range, { low: 32768, high: 60999, size: 28232, oddSized: false });
});

test('broken kernel inputs are UNKNOWN naming the file', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cep-'));
  try {
    cpSync(fixture('db-client'), dir, { recursive: true });
    writeFileSync(join(dir, 'sys/net/ipv4/ip_local_port_range'), '60999 32768\n');
    let r = runBundle(['--proc', dir]);
    assert.equal(r.status, 3);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^EPHEMERAL PORTS UNKNOWN - .*ip_local_port_range: range 60999-32768 is reversed\n$/);
    rmSync(join(dir, 'net/tcp'));
    writeFileSync(join(dir, 'sys/net/ipv4/ip_local_port_range'), '40000 40199\n');
    r = runBundle(['--proc', dir]);
    assert.equal(r.status, 3);
    assert.match(r.stdout, /^EPHEMERAL PORTS UNKNOWN - .*\/net\/tcp: missing\n$/);
    r = runBundle(['--proc', dir, '--format', 'json']);
    assert.equal(r.status, 3);
    assert.equal(JSON.parse(r.stdout).status, 'UNKNOWN');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help, --version and bad arguments exit 3 on stdout', { skip }, () => {
  for (const args of [['--help'], ['-V'], ['--bogus'], ['-w', '2:1']]) {
    const r = runBundle(args);
    assert.equal(r.status, 3, args.join(' '));
    assert.equal(r.stderr, '');
    assert.notEqual(r.stdout, '');
  }
  assert.match(runBundle(['--bogus']).stdout, /^EPHEMERAL PORTS UNKNOWN - unknown option --bogus\nUsage: /);
});

test('the live host answers (whatever its state) with the Nagios layout', { skip }, () => {
  const r = runBundle([]);
  assert.ok([0, 1, 2].includes(r.status as number), r.stdout);
  assert.equal(r.stderr, '');
  nagiosShape(r.stdout, '(OK|WARNING|CRITICAL)');
});

test('the README sample runs are what the bundle prints', { skip }, () => {
  const readme = readFileSync(join(FIXTURES, '..', '..', 'README.md'), 'utf8');
  const samples = [...readme.matchAll(/\n {4}\$ \.\/dist\/check_ephemeral_ports (.*)\n((?: {4}.*\n)+)/g)];
  assert.ok(samples.length >= 2, 'README has sample runs');
  for (const m of samples) {
    const shown = m[2].split('\n').map((l) => l.slice(4)).join('\n');
    const r = runBundle(m[1].split(' '));
    assert.equal(r.stdout, shown, m[1]);
  }
  assert.match(samples[0][2], /\n {4}bind\(\) before connect\(\): /, 'the first sample shows the bind() detail line');
});

test('proxy fixture: the ports a proxy bound first are taken from every tuple, as the kernel said', { skip }, () => {
  // The kernel's counts while the sockets were alive (test/fixtures/README.md): 130 connect()s
  // to a new destination, 35 more on the 5432 pool.
  const r = runBundle(['--proc', fixture('proxy'), '--format', 'json', '--top', '0']);
  assert.equal(r.stderr, '');
  const json = JSON.parse(r.stdout);
  assert.deepEqual([json.capacity, json.bindTaken, json.optimisticCapacity, json.bindUndecidable], [130, 70, 200, 0]);
  const byPort = new Map(json.tuples.filter((t: { protocol: string }) => t.protocol === 'tcp').map((t: { remote: string; remotePort: number }) => [`${t.remote}:${t.remotePort}`, t]));
  assert.deepEqual(byPort.get('127.0.0.2:5432'), { ...(byPort.get('127.0.0.2:5432') as object), remaining: 35, bindTaken: 0, optimisticRemaining: 105 });
  assert.deepEqual(byPort.get('127.0.0.3:8080'), { ...(byPort.get('127.0.0.3:8080') as object), remaining: 130, bindTaken: 40, used: 40, capacity: 170 });
});

test('stdin left open, as Sensu Go may leave it, is never read: the run ends by itself', { skip }, async () => {
  const child = spawn(BUNDLE, ['--proc', fixture('db-client')], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  // A plugin waiting on stdin would never end: the bound turns that hang into a failure.
  const code = await new Promise<number | null | 'hung'>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('hung');
    }, 20_000);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  child.stdin.destroy();
  assert.equal(code, 0, `exit ${code}: ${stdout}`);
  assert.equal(stderr, '');
  nagiosShape(stdout, 'OK');
});

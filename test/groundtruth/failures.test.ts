/**
 * --failures against the kernel: connect()s made to fail with EADDRNOTAVAIL in a private
 * namespace (failures.py) must come back as exactly that many on the next run, per tuple,
 * and none on the run after; connects that fail otherwise add none; an overflow says the
 * count is a lower bound; two checks at once take turns. The tracepoint is host-wide and
 * other processes connect meanwhile: only this file's tuples (127.27.x.y, fd27::, ports
 * 272xx) are counted. The instance is the check's own; it is removed at the end.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BUFFER_KB } from '../../src/sources/trace/instance';
import { BUNDLE, bundleMissing, runBundle, skipUnless, stageForOtherUser, type BundleRun } from '../helpers';
import { ensureTracefs, runFailures, traceUnavailable } from './trace';

const skip = skipUnless(traceUnavailable() || bundleMissing());

interface FailuresJson {
  status: string;
  since: string | null;
  until: string;
  total: number;
  lost: number;
  tuples: { local: string; remote: string; remotePort: number; count: number }[];
  rearmed: string[];
}

interface Checked {
  run: BundleRun;
  status: string;
  summary: string;
  failures: FailuresJson | string;
}

const ARGS = ['--failures', '--format', 'json', '--tcp'];

function parse(run: BundleRun): Checked {
  assert.equal(run.stderr, '');
  const body = JSON.parse(run.stdout) as { status: string; summary: string; failures: FailuresJson | string };
  return { run, status: body.status, summary: body.summary, failures: body.failures };
}

function counted(c: Checked): FailuresJson {
  assert.equal(typeof c.failures, 'object', `not counted: ${String(c.failures)}`);
  return c.failures as FailuresJson;
}

function check(args = ARGS): Checked {
  return parse(runBundle(args));
}

/** This scenario's tuples only: `local remote port` -> count. */
function ours(f: FailuresJson, ports: readonly number[]): Record<string, number> {
  const found: Record<string, number> = {};
  for (const t of f.tuples) if (ports.includes(t.remotePort) && (t.local.startsWith('127.27.') || t.local.startsWith('fd27:'))) found[`${t.local} ${t.remote} ${t.remotePort}`] = t.count;
  return found;
}

before(() => {
  if (skip) return;
  ensureTracefs();
  // A fresh instance: whatever an earlier run left is not this test's.
  check(['--failures=off', '--format', 'json', '--tcp']);
});

after(() => {
  if (skip) return;
  const off = check(['--failures=off', '--format', 'json', '--tcp']);
  assert.match(String(off.failures), /^not counted: (counting stopped: .* removed|counting is off \(no trace instance\))$/);
  assert.equal(existsSync('/sys/kernel/tracing/instances/check_ephemeral_ports'), false, 'the instance is removed');
});

test('arming, then IPv4, IPv6 and IPv4-mapped failures: exactly N and M on the next run, none on the run after', { skip }, async () => {
  const armed = counted(check());
  assert.equal(armed.since, null, 'the arming run starts the count');
  const outcomes = await runFailures([
    { op: 'fail', local: '127.27.2.1', remote: '127.27.2.2', port: 27201, n: 5 },
    { op: 'fail', local: '127.27.2.1', remote: '127.27.2.2', port: 27201, n: 2, mapped: true },
    { op: 'fail', local: 'fd27::1', remote: 'fd27::2', port: 27202, n: 4 },
    { op: 'fail', local: '127.27.2.1', remote: '127.27.2.3', port: 27203, n: 3 },
  ]);
  assert.deepEqual(outcomes.map((o) => [o.failed, o.other]), [[5, {}], [2, {}], [4, {}], [3, {}]]);
  const next = check();
  const f = counted(next);
  assert.deepEqual(ours(f, [27201, 27202, 27203]), { '127.27.2.1 127.27.2.2 27201': 7, 'fd27::1 fd27::2 27202': 4, '127.27.2.1 127.27.2.3 27203': 3 });
  assert.equal(f.since, armed.until, 'each span starts where the last ended');
  assert.ok(f.total >= 14);
  // Any failure is CRITICAL by default, and named before the usage.
  assert.equal(next.status, 'CRITICAL');
  assert.equal(next.run.status, 2);
  assert.match(next.summary, /^(at least )?\d+ connect\(\)s .*failed for want of a local port since \d\d:\d\d:\d\d UTC( \(.*\))?; /);
  assert.deepEqual(ours(counted(check()), [27201, 27202, 27203]), {});
});

test('refused, timed-out and closed-during-SYN connects add none', { skip }, async () => {
  check();
  const outcomes = await runFailures([
    { op: 'refused', local: '127.27.3.1', remote: '127.27.3.2', port: 27301, n: 2 },
    { op: 'timeout', local: '127.27.3.1', remote: '127.27.3.3', port: 27302, n: 1 },
    { op: 'closedInSyn', local: '127.27.3.1', remote: '127.27.3.4', port: 27303, n: 2 },
  ]);
  assert.deepEqual(outcomes.map((o) => o.other), [{ ECONNREFUSED: 2 }, { ETIMEDOUT: 1 }, { closed: 2 }]);
  assert.deepEqual(ours(counted(check()), [27301, 27302, 27303]), {});
});

test('a buffer forced to overflow: the count says it is a lower bound', { skip }, async () => {
  check();
  // More failures than the buffers of every CPU together can hold (an event takes at least 60 bytes).
  const n = Math.ceil((BUFFER_KB * 1024) / 60) * cpus().length + 100;
  const [outcome] = await runFailures([{ op: 'fail', local: '127.27.4.1', remote: '127.27.4.2', port: 27401, n }]);
  assert.equal(outcome.failed, n);
  const c = check();
  const f = counted(c);
  const seen = ours(f, [27401])['127.27.4.1 127.27.4.2 27401'] ?? 0;
  assert.ok(seen < n, `${seen} of ${n} kept`);
  assert.ok(f.lost >= n - seen, `lost ${f.lost}, missing ${n - seen}`);
  assert.match(c.summary, /^at least \d+ connect\(\)s/);
  assert.deepEqual(ours(counted(check()), [27401]), {});
});

function runAsync(args: readonly string[]): Promise<BundleRun> {
  return new Promise((resolve) => {
    const child = spawn(BUNDLE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const [major, minor] = release().split('.').map(Number);
const exclusiveKernel = major > 6 || (major === 6 && minor >= 6);

test('two checks at once neither split nor double the events', { skip: skip || (exclusiveKernel ? false : skipUnless('trace_pipe admits one reader only from Linux 6.6 on')) }, async () => {
  check();
  const [outcome] = await runFailures([{ op: 'fail', local: '127.27.5.1', remote: '127.27.5.2', port: 27501, n: 6 }]);
  assert.equal(outcome.failed, 6);
  const both = (await Promise.all([runAsync(ARGS), runAsync(ARGS)])).map(parse);
  const counts = both.map((c) => ours(counted(c), [27501])['127.27.5.1 127.27.5.2 27501'] ?? 0);
  assert.equal(counts[0] + counts[1], 6, `counts ${counts.join(' and ')}`);
  assert.ok(counts.includes(6), `split: ${counts.join(' and ')}`);
  // One span follows the other: the second starts where the first ended.
  const [first, second] = both.map(counted).sort((a, b) => (a.until < b.until ? -1 : 1));
  assert.equal(second.since, first.until);
});

test('with -v: the span in a line; the perfdata connect_failures', { skip }, () => {
  check();
  const r = runBundle(['--failures', '--tcp', '-v']);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^connect\(\) failures: counted from \S+ to \S+ by the trace instance check_ephemeral_ports/m);
  assert.match(r.stdout, / connect_failures=\d+;;1;0( |\n)/);
});

test('without root, or where tracefs is not mounted: not counted, one line with -v, the rest unchanged', { skip }, () => {
  const staged = stageForOtherUser('cep-failures');
  try {
    const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', staged.bundle, ...ARGS], { encoding: 'utf8' });
    const nobody = parse({ status: asNobody.status, stdout: asNobody.stdout, stderr: asNobody.stderr });
    assert.equal(nobody.failures, 'not counted: needs root (tracefs belongs to root)');
    assert.notEqual(nobody.status, 'UNKNOWN');
    // A private mount namespace without tracefs: the host's mount stays.
    const unmounted = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'grep " tracefs " /proc/self/mounts | cut -d" " -f2 | sort -r | xargs -r -n1 umount && exec "$0" "$@"', BUNDLE, '--failures', '--tcp', '-v'], { encoding: 'utf8' });
    assert.equal(unmounted.stderr, '');
    assert.match(unmounted.stdout, /^connect\(\) failures: not counted: tracefs is not mounted/m);
    assert.notEqual(unmounted.status, 3);
  } finally {
    staged.remove();
  }
});

test('with --namespaces: the failures are host-wide, read once per run, at the top of the JSON', { skip }, async () => {
  check();
  // A namespace of its own, ready once it says so (the shell runs after unshare(2)).
  const holder = spawn('unshare', ['-n', 'sh', '-c', 'echo ready && exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => holder.stdout.once('data', resolve));
  try {
    const [outcome] = await runFailures([{ op: 'fail', local: '127.27.6.1', remote: '127.27.6.2', port: 27601, n: 2 }]);
    assert.equal(outcome.failed, 2);
    // The holder's namespace is not the one the failures happened in: events carry none.
    const c = check(['--failures', '--format', 'json', '--tcp', '--namespaces', String(holder.pid)]);
    assert.deepEqual(ours(counted(c), [27601]), { '127.27.6.1 127.27.6.2 27601': 2 });
    assert.equal(c.status, 'CRITICAL');
  } finally {
    holder.kill();
  }
});

/**
 * The one exception to "writes nothing": traced with strace, --failures (arming, draining)
 * and --failures=off open for writing, make and remove nothing but inside its own instance.
 */
test('--failures writes nothing but its own trace instance', { skip: skip || skipUnless(spawnSync('strace', ['-V']).status === 0 ? false : 'strace is not installed') }, () => {
  const INSTANCE = '/sys/kernel/tracing/instances/check_ephemeral_ports';
  const dir = mkdtempSync(join(tmpdir(), 'cep-failures-strace-'));
  try {
    for (const args of [['--failures=off'], ['--failures'], ['--failures'], ['--failures=off']]) {
      const log = join(dir, 'trace');
      const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat,open,creat,unlink,unlinkat,rename,renameat,mkdir,mkdirat,rmdir,truncate', '-o', log, BUNDLE, ...args, '--tcp'], { encoding: 'utf8' });
      assert.match(r.stdout, /^EPHEMERAL PORTS/);
      const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      const writes = calls.filter((c) => (/ (creat|unlink|unlinkat|rename|renameat|mkdir|mkdirat|rmdir|truncate)\(/.test(c) || /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(c)) && !/= -1 /.test(c) && !/"\/dev\/(null|tty|pts\/\d+)"/.test(c));
      const outside = writes.filter((c) => !c.includes(`"${INSTANCE}"`) && !c.includes(`"${INSTANCE}/`));
      assert.deepEqual(outside, [], args.join(' '));
      if (args[0] === '--failures') assert.ok(writes.some((c) => c.includes(`${INSTANCE}/trace_marker`)), 'each drain writes its marker');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Ground truth, per-tuple TCP pools: tuples of different sizes, listeners inside the range
 * (IPv4 on 127.0.0.9 and IPv6 on [::1]: a bound port is lost to every tuple), reserved
 * ports, a listener on a reserved port. The kernel counts every reported tuple and two
 * fresh ones; the check must agree.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertKernelAgrees, assertNagiosOutput, builtPorts, checkRuns, counts, kernelState, portRange, runScenario, skip, verifications, type ReportJson } from './namespace';

test('tuples, in-range listeners and reserved ports: the check agrees with the kernel', { skip }, async () => {
  const results = await runScenario([
    portRange(40000, 40199),
    // 5 reserved inside the range (an odd count: the usable set is odd, the range is not).
    { op: 'sysctl', values: { 'net.ipv4.ip_local_reserved_ports': '30000,40010,40020-40023' } },
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['127.0.0.3', 6379] },
    { op: 'listen', at: ['127.0.0.4', 7000] },
    { op: 'listen', at: ['::1', 7000] },
    { op: 'listen', at: ['127.0.0.9', 40100] },
    { op: 'listen', at: ['::1', 40101] },
    { op: 'listen', at: ['127.0.0.9', 40020] }, // on a reserved port: already out of C
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.2', 5432], n: 120 },
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.3', 6379], n: 30 },
    { op: 'connect', tuple: ['127.0.0.5', '127.0.0.2', 5432], n: 10 },
    // To the in-range listener: its accepted side is inbound, not a tuple of ours.
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.9', 40100], n: 5 },
    { op: 'check', args: [] },
    { op: 'verify', fresh: [['127.0.0.1', '127.0.0.4', 7000], ['::1', '::1', 7000]] },
  ]);
  const [run] = checkRuns(results);
  const [v] = verifications(results);
  assertKernelAgrees(v);

  // The listeners do cost something: a fresh tuple gets fewer ports than are usable.
  assert.ok(v.fresh[0].counts[0] < v.usablePorts, `fresh ${v.fresh[0].counts[0]} of ${v.usablePorts}`);
  assert.equal(assertNagiosOutput(run), v.check.report.status);
  assert.equal(run.status, kernelState(v), 'state from the kernel counts with -w 70 -c 90');
});

/**
 * A port taken by bind() before connect(), or held by the accepted connections of an
 * in-range listener that has since closed, is lost to every tuple, yet looks like any
 * outbound connection. The parity of its offset from the low end tells the check which
 * ports bind() took (docs/kernel-model.md); the closed listener's port it can tell only at
 * bind()'s parity (40101 here), held by tuples that had connect()'s parity free. At
 * connect()'s parity (40100) it stays invisible: there, and only there, the kernel allows
 * one connect() fewer than the check says, and never fewer than the bind()-style figure.
 */
test('bind()-before-connect and closed listeners: exact where the parity tells, one port off where it cannot', { skip }, async () => {
  const db = ['127.0.0.1', '127.0.0.2', 5432] as const;
  const fresh = ['127.0.0.1', '127.0.0.4', 7000] as const;
  const results = await runScenario([
    portRange(40000, 40199),
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['127.0.0.4', 7000] },
    { op: 'listen', at: ['127.0.0.9', 40100] },
    { op: 'listen', at: ['127.0.0.9', 40101] },
    { op: 'connect', tuple: db, n: 20 },
    { op: 'bindConnect', tuple: db, n: 10 },
    { op: 'accepted', tuple: ['127.0.0.1', '127.0.0.9', 40100], n: 3 },
    { op: 'accepted', tuple: ['127.0.0.1', '127.0.0.9', 40101], n: 3 },
    { op: 'unlisten', at: ['127.0.0.9', 40100] },
    { op: 'unlisten', at: ['127.0.0.9', 40101] },
    { op: 'check', args: ['--format', 'json', '--top', '0'] },
    { op: 'check', args: ['-v', '--top', '0'] },
    { op: 'count', tuple: db },
    { op: 'count', tuple: fresh },
  ]);
  const [run, text] = checkRuns(results);
  const [dbCount, freshCount] = counts(results);
  const report = JSON.parse(run.stdout) as ReportJson;
  const tuple = report.tuples.find((t) => t.local === db[0] && t.remote === db[1] && t.remotePort === db[2]);
  assert.ok(tuple);
  // Ten clients that bound first, and the closed listener's port at bind()'s parity (which a
  // client bound to another address may share: bind() sees no conflict there).
  const [, bindFirst] = builtPorts(results);
  assert.equal(report.bindTaken, new Set([...bindFirst, 40101]).size);
  assert.equal(tuple.bindTaken, 10);
  const oneOff = (count: number, judged: number, what: string) => {
    assert.equal(count, judged - 1, `${what}: kernel ${count}, check ${judged} (40100 unseen)`);
    assert.ok(report.bindStyle.remaining <= count, `${what}: bind()-style ${report.bindStyle.remaining}, kernel ${count}`);
  };
  oneOff(dbCount, tuple.remaining, 'the database tuple');
  oneOff(freshCount, report.capacity, 'a fresh tuple');
  // 40101 is held by three tuples (the accepted side): the check names none of them as
  // clients that bind first.
  assertNagiosOutput(text);
  const line = text.stdout.split('\n').find((l) => l.startsWith('bind() before connect()'));
  assert.ok(line, text.stdout);
  assert.ok(line.includes(`tcp 127.0.0.1 -> 127.0.0.2:5432 (${bindFirst.filter((p) => p !== 40101).length})`), line);
  assert.doesNotMatch(line, /127\.0\.0\.9 ->/);
  assert.match(line, /1 port held by several tuples/);
});

/**
 * Each listing shows its listeners before its other sockets, but /proc/net/tcp is read
 * before tcp6 (and ss lists the two families side by side): a socket bound to the port of
 * an IPv6 listener can come before that listener. Its port is in X already, so its tuple
 * must not count it again (docs/kernel-model.md, "Reading the kernel").
 */
test('a socket on the port of an IPv6 listener, read before it: no port counted twice', { skip }, async () => {
  const results = await runScenario([
    portRange(40000, 40199),
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['::1', 40150] },
    { op: 'bindPort', tuple: ['127.0.0.5', '127.0.0.2', 5432], port: 40150 },
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.2', 5432], n: 20 },
    { op: 'verify', fresh: [['127.0.0.5', '127.0.0.2', 5432], ['127.0.0.6', '127.0.0.2', 5432]] },
  ]);
  const [v] = verifications(results);
  assertKernelAgrees(v);
  assert.equal(v.check.report.listeningPorts, 1);
  assert.equal(v.check.report.tcp.socketsInRange, 22);
});

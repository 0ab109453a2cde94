/**
 * Ground truth, per-tuple TCP pools: tuples of different sizes, listeners inside the range
 * (IPv4 on 127.0.0.9 and IPv6 on [::1]: a bound port is lost to every tuple), reserved
 * ports, a listener on a reserved port. The kernel counts every reported tuple and two
 * fresh ones; the check must agree.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertKernelAgrees, assertNagiosOutput, checkRuns, counts, kernelState, portRange, runScenario, skip, verifications, type ReportJson } from './namespace';

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
 * What /proc cannot tell: a port taken by bind() before connect(), or accepted by a listener
 * that has since closed, is lost to every tuple, yet looks like any outbound connection.
 * The per-tuple figure then over-counts and the bind()-style one under-counts; the kernel's
 * count must lie between them (docs/kernel-model.md, "What /proc and ss cannot show").
 */
test('bind()-before-connect and a closed listener: the kernel lies between the two figures', { skip }, async () => {
  const db = ['127.0.0.1', '127.0.0.2', 5432] as const;
  const fresh = ['127.0.0.1', '127.0.0.4', 7000] as const;
  const results = await runScenario([
    portRange(40000, 40199),
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['127.0.0.4', 7000] },
    { op: 'listen', at: ['127.0.0.9', 40100] },
    { op: 'connect', tuple: db, n: 20 },
    { op: 'bindConnect', tuple: db, n: 10 },
    { op: 'accepted', tuple: ['127.0.0.1', '127.0.0.9', 40100], n: 3 },
    { op: 'unlisten', at: ['127.0.0.9', 40100] },
    { op: 'check', args: ['--format', 'json', '--top', '0'] },
    { op: 'count', tuple: db },
    { op: 'count', tuple: fresh },
  ]);
  const [run] = checkRuns(results);
  const [dbCount, freshCount] = counts(results);
  const report = JSON.parse(run.stdout) as ReportJson;
  const tuple = report.tuples.find((t) => t.local === db[0] && t.remote === db[1] && t.remotePort === db[2]);
  assert.ok(tuple);
  const between = (count: number, optimistic: number, what: string) =>
    assert.ok(report.bindStyle.remaining <= count && count <= optimistic, `${what}: kernel ${count}, check ${optimistic} per tuple, ${report.bindStyle.remaining} bind()-style`);
  between(dbCount, tuple.remaining, 'the database tuple');
  between(freshCount, report.capacity, 'a fresh tuple');
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

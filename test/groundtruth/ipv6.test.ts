/**
 * Ground truth, IPv6: a ::1 -> [::1]:P tuple is its own pool, and AF_INET6 sockets talking
 * IPv4-mapped (::ffff:127.0.0.x) compete for the IPv4 tuple: the check folds them into it,
 * and the kernel must agree whether it is asked from AF_INET or from AF_INET6 sockets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertKernelAgrees, assertNagiosOutput, checkRuns, kernelState, portRange, runScenario, skip, verifications } from './namespace';

test('IPv6 and IPv4-mapped sockets: the check agrees with the kernel', { skip }, async () => {
  const results = await runScenario([
    portRange(40000, 40199),
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['::1', 5432] },
    { op: 'listen', at: ['::1', 6379] },
    { op: 'listen', at: ['::ffff:127.0.0.3', 6379] }, // an AF_INET6 listener on a mapped address
    { op: 'listen', at: ['127.0.0.4', 7000] },
    { op: 'listen', at: ['::1', 40150] }, // in range: lost to IPv4 tuples too
    { op: 'connect', tuple: ['::1', '::1', 5432], n: 60 },
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.2', 5432], n: 30 },
    { op: 'connect', tuple: ['::ffff:127.0.0.1', '::ffff:127.0.0.2', 5432], n: 40 },
    { op: 'connect', tuple: ['::ffff:127.0.0.1', '::ffff:127.0.0.3', 6379], n: 10 },
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.3', 6379], n: 5 },
    { op: 'check', args: [] },
    { op: 'verify', fresh: [['127.0.0.1', '127.0.0.4', 7000], ['::1', '::1', 6379]], mapped: true },
  ]);
  const [run] = checkRuns(results);
  const [v] = verifications(results);
  assertKernelAgrees(v);

  const tcp = v.check.report.tuples.filter((t) => t.protocol === 'tcp');
  // Mapped sockets are grouped as IPv4: no tuple shows a ::ffff: address.
  assert.ok(tcp.every((t) => !t.local.startsWith('::ffff:') && !t.remote.startsWith('::ffff:')));
  assert.deepEqual(tcp.map((t) => t.family).sort(), [4, 4, 6]);
  // Every IPv4 tuple was also counted from mapped sockets (assertKernelAgrees compared them).
  assert.ok(v.tuples.filter((k) => !k.local.includes(':')).every((k) => k.mappedCount !== undefined));
  assert.equal(assertNagiosOutput(run), v.check.report.status);
  assert.equal(run.status, kernelState(v));
});

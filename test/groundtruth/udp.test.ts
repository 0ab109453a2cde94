/**
 * Ground truth, UDP: one host-wide pool (UDP picks a port before it knows the destination).
 * Bound and connected sockets of both families in the range, two sockets sharing a number
 * on distinct addresses, one outside the range and one on a reserved port. The kernel
 * counts how many more sockets get a port, by bind() and by connect().
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertKernelAgrees, assertNagiosOutput, checkRuns, kernelState, portRange, runScenario, skip, verifications } from './namespace';

test('UDP sockets, bound and connected: the check agrees with the kernel', { skip }, async () => {
  const results = await runScenario([
    portRange(40000, 40199),
    { op: 'sysctl', values: { 'net.ipv4.ip_local_reserved_ports': '40050-40059' } },
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['127.0.0.4', 7000] },
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.2', 5432], n: 10 },
    { op: 'udp', at: ['127.0.0.1', 40005] },
    { op: 'udp', at: ['127.0.0.5', 40005] }, // the same number on another address
    { op: 'udp', at: ['0.0.0.0', 40006] },
    { op: 'udp', at: ['::1', 40007] },
    { op: 'udp', at: ['::', 40008] },
    { op: 'udp', at: ['::ffff:127.0.0.1', 40009] },
    { op: 'udp', at: ['127.0.0.1', 40050] }, // reserved
    { op: 'udp', at: ['127.0.0.1', 30000] }, // outside the range
    { op: 'udp', at: ['127.0.0.1', 0] },
    { op: 'udp', at: ['127.0.0.1', 0] },
    { op: 'udpConnect', to: ['127.0.0.2', 53], n: 30 },
    { op: 'udpConnect', to: ['::1', 53], n: 10 },
    { op: 'check', args: [] },
    { op: 'verify', fresh: [['127.0.0.1', '127.0.0.4', 7000]] },
  ]);
  const [run] = checkRuns(results);
  const [v] = verifications(results);
  assertKernelAgrees(v);

  const udp = v.check.report.tuples.find((t) => t.protocol === 'udp');
  assert.ok(udp);
  // UDP takes nothing from TCP: the fresh TCP tuple still gets every usable port.
  assert.equal(v.fresh[0].counts[0], v.usablePorts);
  // The scenario did fill part of the UDP pool, as the kernel sees it.
  assert.ok(v.udp.bindDual < v.usablePorts);
  assert.equal(assertNagiosOutput(run), v.check.report.status);
  assert.equal(run.status, kernelState(v));
});

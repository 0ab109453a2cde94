/**
 * Ground truth, an odd-sized range: connect() scans an even count of ports per call, so a
 * tuple may reach one port fewer than the check's `remaining` (docs/kernel-model.md, Rule 7) - never two, never
 * more. Each tuple is counted several times; UDP scans every port and must agree exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertKernelAgrees, assertNagiosOutput, checkRuns, portRange, runScenario, skip, verifications } from './namespace';

test('odd-sized range: the kernel reaches remaining or remaining - 1', { skip }, async () => {
  const results = await runScenario([
    portRange(40000, 40200),
    { op: 'sysctl', values: { 'net.ipv4.ip_local_reserved_ports': '40100' } },
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['127.0.0.4', 7000] },
    { op: 'listen', at: ['127.0.0.9', 40150] },
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.2', 5432], n: 50 },
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.9', 40150], n: 3 },
    { op: 'udp', at: ['127.0.0.1', 0] },
    { op: 'udpConnect', to: ['127.0.0.2', 53], n: 4 },
    { op: 'check', args: [] },
    { op: 'verify', fresh: [['127.0.0.1', '127.0.0.4', 7000]], repeat: 6 },
  ]);
  const [run] = checkRuns(results);
  const [v] = verifications(results);
  assertKernelAgrees(v, { oddRange: true });
  assert.equal(assertNagiosOutput(run), v.check.report.status);
  assert.equal(v.check.report.range.size % 2, 1);
});

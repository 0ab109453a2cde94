/**
 * Ground truth, TIME_WAIT: with tcp_tw_reuse 0 a TIME_WAIT holds its tuple's port; with 1,
 * or 2 on loopback, connect() reuses it once it is older than tcp_tw_reuse_delay. Each
 * setting gets its own namespace; the three run side by side (they mostly sleep).
 * TIME_WAITs come from closing the client first, then the server. FIN_WAIT2 (the server
 * never closes) and CLOSE_WAIT (the client never closes) hold their port in every setting.
 * Everything is built with tcp_tw_reuse 0: a build that outlasts the delay (a busy machine)
 * would otherwise have its own later connect()s reuse its first TIME_WAITs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertKernelAgrees, assertNagiosOutput, checkRuns, kernelState, portRange, runScenario, skip, verifications, type Step, type Verified } from './namespace';

/** Tuples with TIME_WAITs of IPv4, IPv4-mapped and IPv6 sockets, and live connections. */
function build(twReuse: number, delayMs = 1000): Step[] {
  return [
    portRange(40000, 40199),
    { op: 'sysctl', values: { 'net.ipv4.tcp_tw_reuse': 0, 'net.ipv4.tcp_timestamps': 1 } },
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['127.0.0.3', 6379] },
    { op: 'listen', at: ['127.0.0.4', 7000] },
    { op: 'listen', at: ['::1', 5432] },
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.2', 5432], n: 20 },
    { op: 'timeWait', tuple: ['127.0.0.1', '127.0.0.2', 5432], n: 60 },
    { op: 'timeWait', tuple: ['::ffff:127.0.0.1', '::ffff:127.0.0.2', 5432], n: 10 },
    { op: 'timeWait', tuple: ['127.0.0.1', '127.0.0.3', 6379], n: 30 },
    { op: 'finWait2', tuple: ['127.0.0.1', '127.0.0.3', 6379], n: 5 },
    { op: 'closeWait', tuple: ['127.0.0.1', '127.0.0.3', 6379], n: 5 },
    { op: 'connect', tuple: ['::1', '::1', 5432], n: 5 },
    { op: 'timeWait', tuple: ['::1', '::1', 5432], n: 15 },
    { op: 'sysctl', values: { 'net.ipv4.tcp_tw_reuse': twReuse, 'net.ipv4.tcp_tw_reuse_delay': delayMs } },
  ];
}

const FRESH = [['127.0.0.1', '127.0.0.4', 7000] as const];

function verify(): Step[] {
  return [{ op: 'check', args: [] }, { op: 'verify', fresh: [...FRESH] }];
}

function twTotal(v: Verified): number {
  return v.check.report.tcp.timeWait;
}

const TIME_WAITS_BUILT = build(0).reduce((sum, s) => sum + (s.op === 'timeWait' ? s.n : 0), 0);

test('TIME_WAIT with tcp_tw_reuse 0, 1 and 2: the check agrees with the kernel', { skip }, async (t) => {
  const [never, always, loopback] = await Promise.all([
    runScenario([...build(0), { op: 'sleep', seconds: 1.5 }, ...verify()]),
    runScenario([...build(1), { op: 'sleep', seconds: 1.5 }, ...verify()]),
    runScenario([
      // tcp_tw_reuse_delay at its maximum (60 s, the TIME_WAIT lifetime): nothing is old enough.
      ...build(2, 60000),
      ...verify(),
      // Back to the default 1000 ms, and past it.
      { op: 'sysctl', values: { 'net.ipv4.tcp_tw_reuse_delay': 1000 } },
      { op: 'sleep', seconds: 1.5 },
      ...verify(),
    ]),
  ]);

  const agrees = (results: unknown[]) => {
    const vs = verifications(results);
    const runs = checkRuns(results);
    vs.forEach((v, i) => {
      assertKernelAgrees(v);
      assert.equal(assertNagiosOutput(runs[i]), v.check.report.status);
      assert.equal(runs[i].status, kernelState(v));
      assert.equal(twTotal(v), TIME_WAITS_BUILT, 'every TIME_WAIT built is still there when the check runs');
    });
    return vs;
  };

  await t.test('tcp_tw_reuse=0: TIME_WAIT holds its port', () => {
    const [v] = agrees(never);
    assert.equal(v.check.report.tcp.timeWaitReusable, 0);
  });
  await t.test('tcp_tw_reuse=1: reused after the delay', () => {
    const [v] = agrees(always);
    assert.equal(v.check.report.tcp.timeWaitReusable, twTotal(v));
  });
  await t.test('tcp_tw_reuse=2 on loopback: held before the delay, reused after', () => {
    const [young, old] = agrees(loopback);
    assert.equal(young.check.report.tcp.timeWaitReusable, 0);
    assert.equal(old.check.report.tcp.timeWaitReusable, twTotal(old));
    // The kernel really reused them: each tuple with TIME_WAITs got more ports the second time.
    young.tuples.forEach((before, i) => {
      const after = old.tuples[i];
      assert.ok(after.counts[0] > before.counts[0], `${after.local} -> ${after.remote}:${after.remotePort}: ${before.counts[0]} then ${after.counts[0]}`);
    });
  });
});

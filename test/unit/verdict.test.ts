import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Range } from '../../src/nagios/range';
import { State } from '../../src/nagios/state';
import type { PoolReport } from '../../src/pools/report';
import { rankPools } from '../../src/verdict/ranking';
import { AddressMatcher, parsePrefix, type Selection } from '../../src/verdict/selection';
import { decide } from '../../src/verdict/verdict';
import { type Thresholds } from '../../src/verdict/judge';
import { poolsOf, type TupleSpec } from './pools-of';
import { churnOf } from '../../src/pools/churn';

function tcp(remote: string, remotePort: number, used: number, local = '10.0.0.1'): TupleSpec {
  return { local, remote, remotePort, used };
}

/** Capacity 1000 for every tuple (1010 ports, 10 listeners) unless listeners say otherwise; UDP gets 1010. */
function report(tuples: TupleSpec[], udpUsed = 0, capacity = 1000): PoolReport {
  return poolsOf({ tuples, udp: udpUsed, listeners: 1010 - capacity });
}

const all: Selection = { tcp: true, udp: true, families: [4, 6], remote: null, local: null, remotePorts: [] };
/** Every selected pool, ranked and judged. */
const rankAll = (r: PoolReport, selection: Selection, thresholds = th()) => rankPools(r, selection, thresholds, Infinity);
/** Every selected pool ranked and judged, as run() does with --top 0. */
const verdictOf = (r: PoolReport, thresholds: Thresholds, selection = all, tuplePerfdata = 0) => decide(r, rankAll(r, selection, thresholds), thresholds, tuplePerfdata);
const th = (w = '70', c = '90', wr: number | null = null, cr: number | null = null): Thresholds => ({ warning: Range.parse(w), critical: Range.parse(c), warningRemaining: wr, criticalRemaining: cr, warningChurn: null, criticalChurn: null });

test('the worst tuple is the one with the fewest ports left; its usage sets the state', () => {
  const r = report([tcp('10.0.0.5', 5432, 500), tcp('10.0.0.6', 6379, 950), tcp('10.0.0.7', 80, 720)]);
  const v = verdictOf(r, th());
  assert.equal(v.state, State.CRITICAL);
  assert.deepEqual(v.judged.map((j) => [j.pool.remotePort, State[j.state]]), [[6379, 'CRITICAL'], [80, 'WARNING'], [5432, 'OK'], [null, 'OK']]);
  assert.deepEqual(v.judged[0].reason, { metric: 'usage', violation: '> 90' });
});

test('a verdict keeps the report\'s figures, not its tuple table', () => {
  // With --namespaces every verdict lives until the output: holding the table would keep
  // every namespace's rows alive as long.
  const { tuples, ...figures } = report([tcp('10.0.0.5', 5432, 600)]);
  const v = verdictOf({ tuples, ...figures }, th());
  assert.equal(tuples.size, 1);
  assert.equal('tuples' in v.report, false);
  assert.deepEqual(v.report, figures);
});

test('thresholds: exactly at the bound is not an alert; remaining thresholds alert below N', () => {
  const r = report([tcp('10.0.0.5', 5432, 700)]);
  assert.equal(verdictOf(r, th()).state, State.OK);
  assert.equal(verdictOf(r, th('69.9')).state, State.WARNING);
  assert.equal(verdictOf(r, th('70', '90', 301)).state, State.WARNING);
  assert.equal(verdictOf(r, th('70', '90', 300)).state, State.OK);
  const crit = verdictOf(r, th('70', '90', 400, 301));
  assert.equal(crit.state, State.CRITICAL);
  assert.deepEqual(crit.judged[0].reason, { metric: 'remaining', violation: '< 301' });
});

test('a pool in a worse state comes first even with more ports left', () => {
  // UDP has a larger capacity than TCP tuples: 95% of it still leaves more ports.
  const r = report([tcp('10.0.0.5', 5432, 930)], 960);
  const v = verdictOf(r, th('70', '93.5'));
  assert.equal(v.judged[0].pool.protocol, 'udp');
  assert.equal(v.state, State.CRITICAL);
});

test('no tuple selected: a new destination is judged (listeners can shrink it)', () => {
  const r = report([], 0, 50);
  const sel = { ...all, udp: false };
  const v = verdictOf(r, th('70', '90', null, 100), sel);
  assert.equal(v.judged.length, 0);
  assert.equal(v.state, State.CRITICAL);
  assert.equal(v.perfdata.find((p) => p.label === 'worst_remaining')?.value, 50);
});

test('filters: remote prefix, remote port, local, family; UDP leaves when filtered', () => {
  const r = report([tcp('10.0.0.5', 5432, 1), tcp('10.1.0.5', 5432, 2), tcp('10.0.0.5', 6379, 3), tcp('fd00::5', 5432, 4, 'fd00::1'), tcp('10.0.0.5', 5432, 5, '10.0.0.2')]);
  const pick = (s: Partial<Selection>) => rankAll(r, { ...all, ...s }).worst.map((j) => j.pool.used).sort();
  assert.deepEqual(pick({ remote: new AddressMatcher(['10.0.0.0/16']) }), [1, 3, 5]);
  assert.deepEqual(pick({ remotePorts: [{ low: 5432, high: 5432 }] }), [1, 2, 4, 5]);
  assert.deepEqual(pick({ remotePorts: [{ low: 6000, high: 7000 }] }), [3]);
  assert.deepEqual(pick({ local: new AddressMatcher(['10.0.0.2']) }), [5]);
  assert.deepEqual(pick({ families: [6], udp: false }), [4]);
  assert.deepEqual(pick({ remote: new AddressMatcher(['fd00::/8', '10.1.0.5']) }), [2, 4]);
  assert.equal(rankAll(r, all).worst.some((j) => j.pool.protocol === 'udp'), true);
  assert.deepEqual(pick({ tcp: false }), [0]);
});

test('prefixes: mapped IPv6 folds to IPv4; bad ones are refused', () => {
  assert.deepEqual(parsePrefix('::ffff:10.0.0.0/104'), { address: '10.0.0.0', family: 4, bits: 8 });
  assert.deepEqual(parsePrefix('10.0.0.5'), { address: '10.0.0.5', family: 4, bits: 32 });
  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'db.example', '10.0.0.0/', '10.0.0.0/x', '']) assert.throws(() => parsePrefix(bad), Error, bad);
});

test('perfdata: fixed label set, thresholds as plain numbers, per-tuple only on request', () => {
  const r = report([tcp('10.0.0.5', 5432, 500)]);
  const v = verdictOf(r, th('~:70', '@95:100', 30));
  const labels = v.perfdata.map((p) => p.label);
  assert.deepEqual(labels, ['worst_usage', 'worst_used', 'worst_remaining', 'capacity', 'tuples', 'listening_ports', 'sockets_in_range', 'time_wait', 'bind_remaining', 'bind_taken', 'worst_close_rate', 'udp_used']);
  assert.equal(new Set(labels.map((l) => l.slice(0, 19))).size, labels.length);
  const usage = v.perfdata[0];
  assert.deepEqual([usage.warn, usage.crit, usage.uom], [70, undefined, '%']);
  assert.equal(v.perfdata[2].warn, 30);
  const withTuples = verdictOf(r, th(), all, 5);
  assert.deepEqual(withTuples.perfdata.filter((p) => p.label.startsWith('t_')).map((p) => [p.label.replace(/^t_[0-9a-f]{8}_/, 't_H_'), p.value, p.max]), [['t_H_10_0_0_5_5432', 500, 1000]]);
});

test('per-tuple labels differ in their first 19 characters (RRD)', () => {
  const many = Array.from({ length: 300 }, (_, i) => tcp(`192.0.2.${i % 256}`, 5000 + (i >> 8), 1, `127.0.0.${i % 7}`));
  const r = report(many);
  const labels = verdictOf(r, th(), all, Infinity).perfdata.filter((p) => p.label.startsWith('t_')).map((p) => p.label);
  assert.equal(labels.length, 300);
  assert.equal(new Set(labels.map((l) => l.slice(0, 19))).size, 300);
});

/** A tuple with churn: `timeWait` TIME_WAIT (30 s old) after `used` ESTABLISHED, `recent` more 2 s old. */
function churning(remote: string, used: number, timeWait: number, recent = 0): TupleSpec {
  return { ...tcp(remote, 5432, used), timeWait, recentTimeWait: recent };
}
const churnTh = (w: number | null, c: number | null, base = th('95', '99')): Thresholds => ({ ...base, warningChurn: w, criticalChurn: c });

test('churn figures: rates from counted TIME_WAIT, headroom and ceiling from what it could use', () => {
  // 1000 ports, 400 ESTABLISHED, 300 TIME_WAIT (60 of them under 10 s old): 300 left.
  assert.deepEqual(churnOf(300, 300, 60), { closesPerSecond: 5, closesPerSecondLast10s: 6, headroomFactor: 2, ceilingPerSecond: 10 });
  // No counted TIME_WAIT: no factor (never Infinity), and all that is left for a ceiling.
  assert.deepEqual(churnOf(600, 0, 0), { closesPerSecond: 0, closesPerSecondLast10s: 0, headroomFactor: null, ceilingPerSecond: 10 });
  // Exhausted by TIME_WAIT alone: today's churn is all it can take.
  assert.equal(churnOf(0, 120, 0).headroomFactor, 1);
  // The same from sockets fed to the pool builder.
  const r = report([churning('10.0.0.5', 400, 240, 60)]);
  const [pool] = verdictOf(r, th()).judged.map((j) => j.pool);
  assert.deepEqual(pool.churn, { closesPerSecond: 5, closesPerSecondLast10s: 6, headroomFactor: 2, ceilingPerSecond: 10 });
});

test('churn: reusable TIME_WAIT counts in no figure', () => {
  // Loopback TIME_WAIT older than the delay with tw_reuse 2: reusable, so no churn at all.
  const r = poolsOf({ tuples: [{ local: '127.0.0.1', remote: '127.0.0.2', remotePort: 5432, used: 10, timeWait: 50, recentTimeWait: 0 }] });
  const [pool] = verdictOf(r, th()).judged.map((j) => j.pool);
  assert.equal(pool.timeWaitReusable, 50);
  assert.deepEqual(pool.churn, { closesPerSecond: 0, closesPerSecondLast10s: 0, headroomFactor: null, ceilingPerSecond: 990 / 60 });
});

test('churn thresholds: alert below the factor, critical first; no churn never alerts', () => {
  const r = report([churning('10.0.0.5', 400, 300), churning('10.0.0.6', 900, 0)]);
  // headroom (300 left + 300) / 300 = 2
  assert.equal(verdictOf(r, churnTh(null, null)).state, State.OK);
  assert.equal(verdictOf(r, churnTh(2, null)).state, State.OK, 'exactly at the factor: it can take it');
  assert.equal(verdictOf(r, churnTh(2.01, null)).state, State.WARNING);
  const crit = verdictOf(r, churnTh(3, 2.5));
  assert.equal(crit.state, State.CRITICAL);
  assert.deepEqual(crit.judged[0].reason, { metric: 'churn', violation: '< 2.5' });
  assert.equal(crit.judged[0].pool.remote, '10.0.0.5', 'the churning tuple ranks first though it has more ports left');
  // The tuple with 100 left but no TIME_WAIT has no churn to multiply.
  assert.equal(crit.judged.find((j) => j.pool.remote === '10.0.0.6')?.state, State.OK);
  // Usage thresholds are judged first.
  assert.equal(verdictOf(r, churnTh(3, 2.5, th('95', '60'))).judged[0].reason?.metric, 'usage');
});

test('churn perfdata: the worst tuple\'s close rate and headroom, with the churn thresholds; no factor, no label', () => {
  const r = report([churning('10.0.0.5', 400, 300), churning('10.0.0.6', 10, 0)]);
  const v = verdictOf(r, churnTh(3, 1.5, th()));
  const item = (label: string) => v.perfdata.find((p) => p.label === label);
  assert.deepEqual(item('worst_close_rate'), { label: 'worst_close_rate', value: 5, min: 0 });
  assert.deepEqual(item('worst_churn_headroom'), { label: 'worst_churn_headroom', value: 2, warn: 3, crit: 1.5, min: 0 });
  // The worst tuple has no counted TIME_WAIT: a close rate of 0, and no headroom label.
  const calm = report([churning('10.0.0.5', 700, 0), churning('10.0.0.6', 10, 5)]);
  const w = verdictOf(calm, th());
  assert.equal(w.perfdata.find((p) => p.label === 'worst_close_rate')?.value, 0);
  assert.equal(w.perfdata.some((p) => p.label === 'worst_churn_headroom'), false);
  // The UDP pool is the worst pool: the churn figures are the worst TCP tuple's.
  const udp = report([churning('10.0.0.5', 40, 60)], 1000);
  const u = verdictOf(udp, th());
  assert.equal(u.judged[0].pool.protocol, 'udp');
  assert.equal(u.perfdata.find((p) => p.label === 'worst_close_rate')?.value, 1);
  // No TCP read: no churn labels at all.
  const none = poolsOf({ tcp: false });
  assert.equal(verdictOf(none, th(), { ...all, tcp: false }).perfdata.some((p) => p.label.includes('churn') || p.label.includes('close')), false);
});

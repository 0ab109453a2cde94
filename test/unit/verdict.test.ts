import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Range } from '../../src/nagios/range';
import { State } from '../../src/nagios/state';
import type { PoolReport } from '../../src/pools/pool';
import { rankPools } from '../../src/verdict/ranking';
import { AddressMatcher, parsePrefix, type Selection } from '../../src/verdict/selection';
import { decide, type Thresholds } from '../../src/verdict/verdict';
import { poolsOf, type TupleSpec } from './pools-of';

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
const th = (w = '70', c = '90', wr: number | null = null, cr: number | null = null): Thresholds => ({ warning: Range.parse(w), critical: Range.parse(c), warningRemaining: wr, criticalRemaining: cr });

test('the worst tuple is the one with the fewest ports left; its usage sets the state', () => {
  const r = report([tcp('10.0.0.5', 5432, 500), tcp('10.0.0.6', 6379, 950), tcp('10.0.0.7', 80, 720)]);
  const v = verdictOf(r, th());
  assert.equal(v.state, State.CRITICAL);
  assert.deepEqual(v.judged.map((j) => [j.pool.remotePort, State[j.state]]), [[6379, 'CRITICAL'], [80, 'WARNING'], [5432, 'OK'], [null, 'OK']]);
  assert.deepEqual(v.judged[0].reason, { metric: 'usage', violation: '> 90' });
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
  assert.deepEqual(labels, ['worst_usage', 'worst_used', 'worst_remaining', 'capacity', 'tuples', 'listening_ports', 'sockets_in_range', 'time_wait', 'bind_remaining', 'bind_taken', 'udp_used']);
  assert.equal(new Set(labels.map((l) => l.slice(0, 19))).size, labels.length);
  const usage = v.perfdata[0];
  assert.deepEqual([usage.warn, usage.crit, usage.uom], [70, undefined, '%']);
  assert.equal(v.perfdata[2].warn, 30);
  const withTuples = verdictOf(r, th(), all, 5);
  assert.deepEqual(withTuples.perfdata.slice(11).map((p) => [p.label.replace(/^t_[0-9a-f]{8}_/, 't_H_'), p.value, p.max]), [['t_H_10_0_0_5_5432', 500, 1000]]);
});

test('per-tuple labels differ in their first 19 characters (RRD)', () => {
  const many = Array.from({ length: 300 }, (_, i) => tcp(`192.0.2.${i % 256}`, 5000 + (i >> 8), 1, `127.0.0.${i % 7}`));
  const r = report(many);
  const labels = verdictOf(r, th(), all, Infinity).perfdata.slice(11).map((p) => p.label);
  assert.equal(labels.length, 300);
  assert.equal(new Set(labels.map((l) => l.slice(0, 19))).size, 300);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Range } from '../../src/nagios/range';
import { escapeLabelValue, GAUGES, renderPrometheus, renderPrometheusUnknown, TUPLE_GAUGES, TUPLE_LABELS } from '../../src/output/prometheus';
import type { PoolReport } from '../../src/pools/report';
import { rankPools } from '../../src/verdict/ranking';
import { decide, poolLabel } from '../../src/verdict/verdict';
import { poolsOf, type TupleSpec } from './pools-of';

const thresholds = { warning: Range.parse('70'), critical: Range.parse('90'), warningRemaining: null, criticalRemaining: null, warningChurn: null, criticalChurn: null };

function tcp(i: number, used: number): TupleSpec {
  return { local: '10.9.9.9', remote: `10.0.0.${i}`, remotePort: 5432, used };
}

/** 40000-41009, 10 listeners (capacity 1000), 3 UDP sockets. */
function report(tuples: TupleSpec[], o: { tcp?: boolean; udp?: boolean } = {}): PoolReport {
  return poolsOf({ tuples, tcp: o.tcp, udp: o.udp === false ? null : 3 });
}

/** As run() does it: the worst `top` (all for 0) of what was read, ranked, then decided. */
function verdict(r: PoolReport, top: number, tuplePerfdata = 0) {
  const selection = { tcp: r.tcp !== null, udp: r.udp !== null, families: [4, 6] as (4 | 6)[], remote: null, local: null, remotePorts: [] };
  return decide(r, rankPools(r, selection, thresholds, top === 0 ? Infinity : top), thresholds, tuplePerfdata);
}

/** name → [help, type, samples] in order of appearance; fails on a sample before its HELP and TYPE. */
function families(text: string): Map<string, { help: string; type: string; samples: string[] }> {
  const out = new Map<string, { help: string; type: string; samples: string[] }>();
  for (const line of text.trimEnd().split('\n')) {
    const help = /^# HELP (\S+) (.+)$/.exec(line);
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (help) out.set(help[1], { help: help[2], type: '', samples: [] });
    else if (type) (out.get(type[1]) as { type: string }).type = type[2];
    else if (!line.startsWith('#')) {
      const name = /^[a-z_]+/.exec(line)?.[0] as string;
      const f = out.get(name);
      assert.ok(f && f.type === 'gauge', `sample before its HELP and TYPE: ${line}`);
      f.samples.push(line);
    }
  }
  return out;
}

test('one HELP, one TYPE gauge and plain samples per metric, no timestamps, prefix and base units', () => {
  const r = report([tcp(1, 950), tcp(2, 10)]);
  const text = renderPrometheus(verdict(r, 5), { top: 5 });
  const f = families(text);
  for (const [name, { samples }] of f) {
    assert.match(name, /^ephemeral_ports_[a-z_]+$/);
    assert.doesNotMatch(name, /percent/);
    for (const s of samples) assert.match(s, /^[a-z_]+(\{[^}]*\})? -?\d+(\.\d+)?$/, 'one value, no timestamp');
  }
  const value = (name: string) => f.get(`ephemeral_ports_${name}`)?.samples[0].split(' ')[1];
  assert.equal(value('check_state'), '2');
  assert.equal(value('worst_usage_ratio'), '0.95');
  assert.deepEqual([value('worst_used'), value('worst_remaining'), value('capacity'), value('tuples')], ['950', '50', '1000', '2']);
  assert.deepEqual([value('listening_ports'), value('sockets_in_range'), value('time_wait'), value('bind_remaining'), value('bind_taken'), value('udp_used')], ['10', '970', '0', '50', '0', '3']);
  assert.deepEqual([value('range_low'), value('range_high')], ['40000', '41009']);
  assert.deepEqual(f.get('ephemeral_ports_tuple_used')?.samples, [
    'ephemeral_ports_tuple_used{protocol="tcp",local="10.9.9.9",remote="10.0.0.1",remote_port="5432"} 950',
    'ephemeral_ports_tuple_used{protocol="tcp",local="10.9.9.9",remote="10.0.0.2",remote_port="5432"} 10',
    'ephemeral_ports_tuple_used{protocol="udp",local="*",remote="*",remote_port=""} 3',
  ]);
  assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'));
});

test('ratios keep 6 decimals: one port of a 65,535-port range still shows', () => {
  const r = poolsOf({ low: 1, high: 65535, listeners: 0, tuples: [tcp(1, 1)], udp: null });
  const f = families(renderPrometheus(verdict(r, 1), { top: 1 }));
  assert.equal(f.get('ephemeral_ports_tuple_usage_ratio')?.samples[0].split(' ')[1], '0.000015');
  assert.equal(f.get('ephemeral_ports_worst_usage_ratio')?.samples[0].split(' ')[1], '0.000015');
});

test('--top bounds the per-tuple series; --top 0 lists all', () => {
  const r = report(Array.from({ length: 40 }, (_, i) => tcp(i + 1, i + 1)), { udp: false });
  const count = (top: number) => families(renderPrometheus(verdict(r, top), { top })).get('ephemeral_ports_tuple_remaining')?.samples.length;
  assert.equal(count(3), 3);
  assert.equal(count(0), 40);
});

test('figures not measured in this run are left out, HELP and TYPE too', () => {
  const r = report([], { tcp: false });
  const text = renderPrometheus(verdict(r, 5), { top: 5 });
  for (const name of ['sockets_in_range', 'time_wait', 'bind_remaining', 'bind_taken']) assert.doesNotMatch(text, new RegExp(`ephemeral_ports_${name}`));
  assert.match(text, /\nephemeral_ports_udp_used 3\n/);
  const none = renderPrometheus(verdict(report([], { udp: false }), 5), { top: 5 });
  assert.doesNotMatch(none, /udp_used|tuple_/, 'no pool listed: no per-tuple families');
});

test('label values escape backslash, double quote and newline', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

/** Perfdata labels whose gauge names its unit (Prometheus naming). */
const RENAMED: Record<string, string> = { worst_close_rate: 'worst_closes_per_second', worst_churn_headroom: 'worst_churn_headroom_factor' };

test('every perfdata item of the fixed set has its gauge (a ratio for a percentage)', () => {
  // TIME_WAIT in the worst tuple, so that the churn figures are in the perfdata too.
  const r = report([{ ...tcp(1, 650), timeWait: 300 }]);
  const v = verdict(r, 5, 5);
  const tuplePerfdata = new Set(v.judged.map((j) => poolLabel(j.pool)));
  const names = new Set(GAUGES.map((g) => g.name));
  for (const p of v.perfdata.filter((p) => !tuplePerfdata.has(p.label))) {
    assert.ok(names.has(p.uom === '%' ? p.label.replace(/_usage$/, '_usage_ratio') : (RENAMED[p.label] ?? p.label)), `perfdata ${p.label} has no gauge in GAUGES`);
  }
  assert.ok(v.perfdata.some((p) => p.label === 'worst_churn_headroom'));
  assert.deepEqual(TUPLE_LABELS.map((l) => l.name), ['protocol', 'local', 'remote', 'remote_port']);
  assert.deepEqual(TUPLE_GAUGES.map((g) => g.name), ['tuple_usage_ratio', 'tuple_used', 'tuple_remaining']);
});

test('a failure: a comment saying why, then the check state UNKNOWN alone', () => {
  assert.equal(
    renderPrometheusUnknown('/proc/net/tcp: permission denied\nsecond line'),
    '# check_ephemeral_ports UNKNOWN: /proc/net/tcp: permission denied second line\n' +
      '# HELP ephemeral_ports_check_state State of the check as its exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the plugin thresholds decide it).\n' +
      '# TYPE ephemeral_ports_check_state gauge\n' +
      'ephemeral_ports_check_state 3\n',
  );
});

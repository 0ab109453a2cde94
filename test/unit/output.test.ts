import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Range } from '../../src/nagios/range';
import { renderJson } from '../../src/output/json';
import { figure } from '../../src/output/describe';
import { renderText, renderUnknown } from '../../src/output/nagios';
import type { PoolReport } from '../../src/pools/report';
import { rankPools } from '../../src/verdict/ranking';
import { decide } from '../../src/verdict/verdict';
import { poolsOf, type TupleSpec } from './pools-of';

const settings = { range: { low: 40000, high: 41010 }, reserved: [], twReuse: 2, twReuseDelayMs: 1000, timestamps: 1, assumptions: [] };
const thresholds = { warning: Range.parse('70'), critical: Range.parse('90'), warningRemaining: null, criticalRemaining: null, warningChurn: null, criticalChurn: null };
const selection = { tcp: true, udp: false, families: [4, 6] as (4 | 6)[], remote: null, local: null, remotePorts: [] };

function tcp(i: number, used: number, remote = `10.0.${i >> 8}.${i & 255}`): TupleSpec {
  return { local: '10.9.9.9', remote, remotePort: 5432, used };
}

/** 1011 ports (an odd count), 11 listeners: every tuple's capacity is 1000. */
function report(tuples: TupleSpec[]): PoolReport {
  return poolsOf({ low: 40000, high: 41010, listeners: 11, tuples, udp: null });
}

/** As run() does it: the worst `top` (all for 0) ranked, then decided. */
function verdict(r: PoolReport, top: number) {
  return decide(r, rankPools(r, selection, thresholds, top === 0 ? Infinity : top), thresholds);
}

function layoutOk(text: string): void {
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0], /^EPHEMERAL PORTS (OK|WARNING|CRITICAL|UNKNOWN) - /);
  assert.equal(text.split('|').length - 1, 1, 'exactly one pipe');
  assert.match(lines[lines.length - 1], /^\| [a-z0-9_]+=/);
  assert.ok(Buffer.byteLength(text) < 4000, `output is ${Buffer.byteLength(text)} bytes`);
  assert.ok(text.endsWith('\n'));
}

test('status line, detail lines, one perfdata line', () => {
  const r = report([tcp(1, 950), tcp(2, 10)]);
  const text = renderText(verdict(r, 5), { top: 5, verbose: 0, settings, source: 'proc' as const });
  layoutOk(text);
  assert.equal(
    text,
    'EPHEMERAL PORTS CRITICAL - worst tcp 10.9.9.9 -> 10.0.0.1:5432: 950/1000 ports used (95.0% > 90), 50 left\n' +
      '[CRITICAL] tcp 10.9.9.9 -> 10.0.0.1:5432: 950/1000 ports used (95.0% > 90), 50 left; ESTABLISHED 950\n' +
      '[OK] tcp 10.9.9.9 -> 10.0.0.2:5432: 10/1000 ports used (1.0%), 990 left; ESTABLISHED 10\n' +
      '| worst_usage=95%;70;90;0;100 worst_used=950;;;0;1000 worst_remaining=50;;;0;1000 capacity=1000;;;0;1011 tuples=2;;;0 listening_ports=11;;;0 sockets_in_range=971;;;0 time_wait=0;;;0 bind_remaining=50;;;0;1011 bind_taken=0;;;0;1011 worst_close_rate=0;;;0\n',
  );
});

test('--top cuts the list and says how many were left out', () => {
  const r = report(Array.from({ length: 8 }, (_, i) => tcp(i, i + 1)));
  const text = renderText(verdict(r, 3), { top: 3, verbose: 0, settings, source: 'proc' as const });
  layoutOk(text);
  assert.match(text, /\n\.\.\. 5 more not shown \(--top 0 lists all\)\n/);
});

test('thousands of tuples with --top 0 stay under 4 KB', () => {
  const r = report(Array.from({ length: 5000 }, (_, i) => tcp(i, 1 + (i % 900))));
  const text = renderText(verdict(r, 0), { top: 0, verbose: 3, settings, source: 'proc' as const });
  layoutOk(text);
  assert.match(text, /more not shown \(output kept under 4 KB\)/);
});

test('verbose lines explain the range, bind()-style figure, TIME_WAIT and odd ranges', () => {
  const r = report([tcp(1, 1)]);
  const text = renderText(verdict(r, 5), { top: 5, verbose: 2, settings, source: 'ss' as const });
  layoutOk(text);
  assert.match(text, /range 40000-41010: 1011 ports, 0 reserved, 11 held by listeners; a new tcp destination gets 1000/);
  assert.match(text, /bind\(\)-style: 12\/1011/);
  assert.match(text, /odd number of ports/);
  assert.match(text, /not in \/proc\/net\/tcp/);
  assert.match(text, /sockets read with ss/);
});

test('a pipe in any text is replaced', () => {
  const text = renderUnknown('/proc|x: permission denied');
  assert.equal(text, 'EPHEMERAL PORTS UNKNOWN - /proc/x: permission denied\n');
});

test('JSON carries the status, range, capacity and tuples worst first', () => {
  const r = report([tcp(1, 10), tcp(2, 800)]);
  const json = JSON.parse(renderJson(verdict(r, 0), { top: 0, settings, source: 'ss' as const }));
  assert.equal(json.status, 'WARNING');
  assert.equal(json.state, 1);
  assert.deepEqual(json.range, { low: 40000, high: 41010, size: 1011, oddSized: true });
  assert.equal(json.capacity, 1000);
  assert.deepEqual(json.tuples.map((t: { remote: string; used: number }) => [t.remote, t.used]), [['10.0.0.2', 800], ['10.0.0.1', 10]]);
  assert.deepEqual(Object.keys(json.tuples[0]).sort(), ['capacity', 'family', 'local', 'protocol', 'remaining', 'remote', 'remotePort', 'sockets', 'states', 'status', 'state', 'timeWaitReusable', 'usage', 'used', 'bindTaken', 'optimisticRemaining', 'churn'].sort());
  assert.deepEqual(json.tuples[0].churn, { closesPerSecond: 0, closesPerSecondLast10s: 0, headroomFactor: null, ceilingPerSecond: 3.333 });
  assert.deepEqual([json.thresholds.warningChurn, json.thresholds.criticalChurn], [null, null]);
});

test('churn in words: figures for people, the detail line, the alert, the fix and -v', () => {
  assert.deepEqual([1840, 3900.4, 21.54, 2.1, 1.6667, 0, 12345678].map(figure), ['1,840', '3,900', '21.5', '2.1', '1.67', '0', '12,345,678']);
  // 1000 ports: 400 ESTABLISHED, 300 TIME_WAIT (60 of them under 10 s old), 300 left.
  const r = report([{ ...tcp(1, 400), timeWait: 240, recentTimeWait: 60 }, tcp(2, 10)]);
  const churn = { ...thresholds, warningChurn: 3, criticalChurn: 1.5 };
  const v = decide(r, rankPools(r, selection, churn, 5), churn);
  const text = renderText(v, { top: 5, verbose: 1, settings, source: 'proc' as const });
  layoutOk(text);
  const lines = text.split('\n');
  assert.equal(lines[0], 'EPHEMERAL PORTS WARNING - worst tcp 10.9.9.9 -> 10.0.0.1:5432: 700/1000 ports used (70.0%), 300 left, churn headroom 2x < 3');
  assert.equal(lines[1], '[WARNING] tcp 10.9.9.9 -> 10.0.0.1:5432: 700/1000 ports used (70.0%), 300 left; ESTABLISHED 400, TIME_WAIT 300; 5 closes/s (6/s in the last 10 s), 2x headroom < 3, ceiling 10/s');
  assert.equal(lines[2], '[OK] tcp 10.9.9.9 -> 10.0.0.2:5432: 10/1000 ports used (1.0%), 990 left; ESTABLISHED 10');
  assert.match(lines[3], /^fix for churn: reuse connections \(HTTP keep-alive, a connection pool\)/);
  assert.ok(lines.some((l) => /^churn: closes\/s = TIME_WAIT holding a port \/ 60 s .*headroom = .*ceiling = /.test(l)), 'the -v line says what the figures are');
  assert.match(lines[lines.length - 2], / worst_close_rate=5;;;0 worst_churn_headroom=2;3;1.5;0$/);
  const json = JSON.parse(renderJson(v, { top: 5, settings, source: 'ss' as const }));
  assert.deepEqual(json.tuples[0].churn, { closesPerSecond: 5, closesPerSecondLast10s: 6, headroomFactor: 2, ceilingPerSecond: 10 });
  assert.deepEqual(json.newTuple.churn, { closesPerSecond: 0, closesPerSecondLast10s: 0, headroomFactor: null, ceilingPerSecond: 16.667 });
  // No churn alert: no fix line.
  assert.doesNotMatch(renderText(verdict(r, 5), { top: 5, verbose: 0, settings, source: 'proc' as const }), /keep-alive/);
});

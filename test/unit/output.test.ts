import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Range } from '../../src/nagios/range';
import { renderJson } from '../../src/output/json';
import { renderText, renderUnknown } from '../../src/output/nagios';
import { usagePercent, type Pool, type PoolReport } from '../../src/pools/pool';
import { decide } from '../../src/verdict/verdict';

const settings = { range: { low: 40000, high: 41009 }, reserved: [], twReuse: 2, twReuseDelayMs: 1000, timestamps: 1, assumptions: [] };
const thresholds = { warning: Range.parse('70'), critical: Range.parse('90'), warningRemaining: null, criticalRemaining: null };

function tcp(i: number, used: number, remote = `10.0.${i >> 8}.${i & 255}`): Pool {
  return { protocol: 'tcp', family: 4, local: '10.9.9.9', remote, remotePort: 5432, capacity: 1000, used, remaining: 1000 - used, usage: usagePercent(used, 1000), sockets: used, states: { ESTABLISHED: used }, timeWaitReusable: 0 };
}

function report(tuples: Pool[]): PoolReport {
  return {
    space: { low: 40000, high: 41009, rangeSize: 1010, reservedInRange: 0, oddSized: true },
    capacity: 1000,
    listeningPorts: 10,
    tuples,
    udp: null,
    tcp: { sockets: 5, timeWait: 0, timeWaitReusable: 0, sharedPorts: 0, bindStyle: { capacity: 1010, used: 10, remaining: 1000, usage: 1 } },
  };
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
  const text = renderText(decide(r, r.tuples, thresholds), { top: 5, verbose: 0, settings, source: 'proc' as const });
  layoutOk(text);
  assert.equal(
    text,
    'EPHEMERAL PORTS CRITICAL - worst tcp 10.9.9.9 -> 10.0.0.1:5432: 950/1000 ports used (95.0% > 90), 50 left\n' +
      '[CRITICAL] tcp 10.9.9.9 -> 10.0.0.1:5432: 950/1000 ports used (95.0% > 90), 50 left; ESTABLISHED 950\n' +
      '[OK] tcp 10.9.9.9 -> 10.0.0.2:5432: 10/1000 ports used (1.0%), 990 left; ESTABLISHED 10\n' +
      '| worst_usage=95%;70;90;0;100 worst_used=950;;;0;1000 worst_remaining=50;;;0;1000 capacity=1000;;;0;1010 tuples=2;;;0 listening_ports=10;;;0 sockets_in_range=5;;;0 time_wait=0;;;0 bind_remaining=1000;;;0;1010\n',
  );
});

test('--top cuts the list and says how many were left out', () => {
  const r = report(Array.from({ length: 8 }, (_, i) => tcp(i, i)));
  const text = renderText(decide(r, r.tuples, thresholds), { top: 3, verbose: 0, settings, source: 'proc' as const });
  layoutOk(text);
  assert.match(text, /\n\.\.\. 5 more not shown \(--top 0 lists all\)\n/);
});

test('thousands of tuples with --top 0 stay under 4 KB', () => {
  const r = report(Array.from({ length: 5000 }, (_, i) => tcp(i, i % 900)));
  const text = renderText(decide(r, r.tuples, thresholds), { top: 0, verbose: 3, settings, source: 'proc' as const });
  layoutOk(text);
  assert.match(text, /more not shown \(output kept under 4 KB\)/);
});

test('verbose lines explain the range, bind()-style figure, TIME_WAIT and odd ranges', () => {
  const r = report([tcp(1, 1)]);
  const text = renderText(decide(r, r.tuples, thresholds), { top: 5, verbose: 2, settings, source: 'ss' as const });
  layoutOk(text);
  assert.match(text, /range 40000-41009: 1010 ports, 0 reserved, 10 held by listeners; a new tcp destination gets 1000/);
  assert.match(text, /bind\(\)-style: 10\/1010/);
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
  const json = JSON.parse(renderJson(decide(r, r.tuples, thresholds), { top: 0, settings, source: 'ss' as const }));
  assert.equal(json.status, 'WARNING');
  assert.deepEqual(json.range, { low: 40000, high: 41009, size: 1010, oddSized: true });
  assert.equal(json.capacity, 1000);
  assert.deepEqual(json.tuples.map((t: { remote: string; used: number }) => [t.remote, t.used]), [['10.0.0.2', 800], ['10.0.0.1', 10]]);
  assert.deepEqual(Object.keys(json.tuples[0]).sort(), ['capacity', 'family', 'local', 'protocol', 'remaining', 'remote', 'remotePort', 'sockets', 'states', 'status', 'timeWaitReusable', 'usage', 'used'].sort());
});

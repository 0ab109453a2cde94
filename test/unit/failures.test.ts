/** Trace lines -> failures per tuple, on lines captured from a real kernel (fixtures/README.md). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { countFailures, parseFailure } from '../../src/failures/failures';
import type { TraceDrain } from '../../src/sources/trace/instance';
import { formatMarker, parseMarker } from '../../src/sources/trace/marker';
import { tracefsMountPoint } from '../../src/sources/trace/instance';
import { FIXTURES } from '../helpers';

const captured = readFileSync(join(FIXTURES, 'trace', 'trace_pipe'), 'latin1');

function drain(text: string, over: Partial<TraceDrain> = {}): TraceDrain {
  return { counted: true, made: false, rearmed: [], text, lostSoFar: 0, until: '2026-12-05T09:40:00.000Z', exclusive: true, ...over };
}

test('captured lines: the failures per tuple, mapped IPv4 as IPv4, IPv6 in its short form; refused, timed-out and closed connects are none', () => {
  const f = countFailures(drain(captured));
  assert.deepEqual(f.tuples, [
    { local: '127.27.0.1', remote: '127.27.0.2', remotePort: 27027, count: 5 },
    { local: 'fd27::1', remote: 'fd27::2', remotePort: 27028, count: 2 },
  ]);
  assert.equal(f.total, 7);
  assert.equal(f.since, '2026-12-05T09:30:00.000Z');
  assert.equal(f.until, '2026-12-05T09:40:00.000Z');
});

test('an AF_INET6 line takes its v6 addresses (the IPv4 fields hold the kernel filler 127.0.0.6 and 0.0.0.0)', () => {
  const line = captured.split('\n').find((l) => l.includes('fd27::1'));
  assert.deepEqual(parseFailure(line ?? ''), { local: 'fd27::1', remote: 'fd27::2', remotePort: 27028 });
});

test('lines that are not a failure of ours are none: a port was given, another protocol, another transition, junk', () => {
  const base = captured.split('\n')[0];
  assert.notEqual(parseFailure(base), null);
  for (const other of [
    base.replace('sport=0', 'sport=40000'),
    base.replace('IPPROTO_TCP', 'IPPROTO_MPTCP'),
    base.replace('oldstate=TCP_SYN_SENT', 'oldstate=TCP_ESTABLISHED'),
    base.replace('newstate=TCP_CLOSE', 'newstate=TCP_ESTABLISHED'),
    base.replace('saddr=127.27.0.1', 'saddr=127.27.0.256'),
    base.replace('dport=27027', 'dport=x'),
    'CPU:0 [LOST 2915 EVENTS]',
    '',
  ]) {
    assert.equal(parseFailure(other), null, other);
  }
});

test('a mapped address in an AF_INET6 line is the IPv4 tuple', () => {
  const line = captured.split('\n').find((l) => l.includes('family=AF_INET6') && l.includes('::ffff:'));
  assert.deepEqual(parseFailure(line ?? ''), { local: '127.27.0.1', remote: '127.27.0.2', remotePort: 27027 });
});

test('lost events: the growth of the kernel total since the last marker; all of it without one or after a reset', () => {
  const marker = (lostSoFar: number) => `  <...>-1 [000] ...1. 1.0: tracing_mark_write: ${formatMarker({ at: '2026-12-05T09:30:00.000Z', lostSoFar }).trimEnd()}`;
  assert.equal(countFailures(drain(marker(100), { lostSoFar: 130 })).lost, 30);
  assert.equal(countFailures(drain(marker(100), { lostSoFar: 20 })).lost, 20);
  const fresh = countFailures(drain('', { lostSoFar: 7 }));
  assert.equal(fresh.lost, 7);
  assert.equal(fresh.since, null);
});

test('the first marker is the start of the span', () => {
  const m = (at: string) => `x: tracing_mark_write: ${formatMarker({ at, lostSoFar: 0 }).trimEnd()}`;
  assert.equal(countFailures(drain(`${m('2026-12-05T09:00:00.000Z')}\n${m('2026-12-05T09:10:00.000Z')}\n`)).since, '2026-12-05T09:00:00.000Z');
});

test('markers: written and read back alike; others are not ours', () => {
  const at = '2026-12-05T08:41:02.123Z';
  assert.deepEqual(parseMarker(`  bash-1 [001] ...1. 2.0: tracing_mark_write: ${formatMarker({ at, lostSoFar: 12 }).trimEnd()}`), { at, lostSoFar: 12 });
  assert.equal(parseMarker('  bash-1 [001] ...1. 2.0: tracing_mark_write: hello'), null);
});

test('tracefs mount point from /proc/self/mounts: the usual place first, never a guess', () => {
  assert.equal(tracefsMountPoint('proc /proc proc rw 0 0\n'), undefined);
  assert.equal(tracefsMountPoint('tracefs /sys/kernel/debug/tracing tracefs rw 0 0\nnodev /sys/kernel/tracing tracefs rw 0 0\n'), '/sys/kernel/tracing');
  assert.equal(tracefsMountPoint('tracefs /sys/kernel/debug/tracing tracefs rw 0 0\n'), '/sys/kernel/debug/tracing');
  assert.equal(tracefsMountPoint('nodev /mnt/my\\040trace tracefs rw 0 0\n'), '/mnt/my trace');
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Family } from '../../src/model/address';
import { AddressTable } from '../../src/model/address-table';
import { KernelError } from '../../src/host/errors';
import { ProcNetParser, type TableSpec } from '../../src/sources/sockets/procnet';
import { TCP_STATE_NAMES, type SocketSink } from '../../src/model/records';
import { LineCarry } from '../../src/host/lines';
import { SsParser, timerLeftMs, type Protocol } from '../../src/sources/sockets/ss';
import { FIXTURES } from '../helpers';

const SS = join(FIXTURES, 'ss');

interface TcpCall {
  family: Family;
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  state: string;
  timeWaitAgeMs: number;
}

/** Records what a source hands to the pools. */
class Recorder implements SocketSink {
  readonly addresses = new AddressTable();
  readonly tcpCalls: TcpCall[] = [];
  readonly udpCalls: string[] = [];
  tcp(local: number, localPort: number, remote: number, remotePort: number, state: number, timeWaitAgeMs: number): void {
    const { addresses: a } = this;
    this.tcpCalls.push({ family: a.family(local), local: a.text(local), localPort, remote: a.text(remote), remotePort, state: TCP_STATE_NAMES[state], timeWaitAgeMs });
  }
  udp(localPort: number, state: number): void {
    this.udpCalls.push(`${localPort} ${state}`);
  }
  /** Everything but the TIME_WAIT age, which the sources give at different resolutions. */
  keys(): string[] {
    return this.tcpCalls.map((c) => `${c.family} ${c.local}:${c.localPort} ${c.remote}:${c.remotePort} ${c.state}`).sort();
  }
}

function usable(low = 40000, high = 40199, reserved: [number, number] = [40190, 40199]): Uint8Array {
  const u = new Uint8Array(65536).fill(1, low, high + 1);
  u.fill(0, reserved[0], reserved[1] + 1);
  return u;
}

function parseSs(text: string, protocol: Protocol | null, chunk = Infinity): Recorder {
  const sink = new Recorder();
  const parser = new SsParser(protocol, usable(), sink);
  // Through a small window, as the source feeds it: lines cut at every chunk boundary.
  const bytes = Buffer.from(text, 'latin1');
  const lines = new LineCarry(parser, 'ss', Math.max(256, Math.min(bytes.length, chunk) * 2));
  for (let offset = 0; offset < bytes.length; offset += chunk) lines.push(bytes.subarray(offset, offset + chunk));
  lines.finish();
  return sink;
}

function fixture(name: string): string {
  return readFileSync(join(SS, name), 'latin1');
}

function timer(text: string): number {
  return timerLeftMs(Buffer.from(text, 'latin1'), 0, text.length);
}

describe('ss timer values (print_ms_timer)', () => {
  const cases: [string, number][] = [
    ['', 0],
    ['051ms', 51],
    ['652ms', 652],
    ['8.208ms', 8208], // seconds.milliseconds, old unit
    ['8.208sec', 8208], // the same, newer unit
    ['5sec', 5000], // under 10 s without milliseconds: exact
    ['12sec', 12_999], // milliseconds dropped: rounded up
    ['59sec', 59_999],
    ['1min', 60_999],
    ['1min5sec', 65_999],
    ['12min', 779_999], // seconds dropped too
  ];
  for (const [text, ms] of cases) it(`"${text}" leaves at most ${ms} ms`, () => assert.equal(timer(text), ms));
  for (const bad of ['abc', '5', '5.12ms', '5.1234ms', '12secs', 'ms', '1min5'])
    it(`"${bad}" is not a timer value`, () => assert.ok(Number.isNaN(timer(bad))));
});

describe('ss lines', () => {
  it('reads a header and the Netid column (ss -tuano)', () => {
    const sink = parseSs(fixture('tuano-header.txt'), null);
    assert.ok(sink.tcpCalls.length > 20);
    assert.deepEqual(sink.udpCalls.sort(), ['40050 7', '40062 1', '40064 1', '40074 1', '40154 7']);
  });

  it('reads output without header or Netid (ss -tanoH)', () => {
    const sink = parseSs(fixture('tanoH.txt'), 'tcp');
    const byPort = new Map(sink.tcpCalls.map((c) => [c.localPort, c]));
    // Reserved ports are skipped: ss cannot filter them.
    assert.equal(byPort.has(40195), false);
    // A dual-stack wildcard listener (`*`) and an IPv6-only one: only the port counts.
    assert.equal(byPort.get(40012)?.state, 'LISTEN');
    assert.equal(byPort.get(40011)?.state, 'LISTEN');
    // Bracketed IPv6.
    assert.deepEqual(byPort.get(40152), { family: 6, local: '::1', localPort: 40152, remote: '::1', remotePort: 8443, state: 'ESTABLISHED', timeWaitAgeMs: -1 });
    // IPv4-mapped: plain IPv4 text, the IPv4 family, as /proc/net/tcp6 gives after decoding.
    assert.deepEqual(byPort.get(40050), { family: 4, local: '127.0.0.1', localPort: 40050, remote: '127.0.0.1', remotePort: 9000, state: 'ESTABLISHED', timeWaitAgeMs: -1 });
    // Bound to a device: `%lo` is not part of the address.
    assert.equal(byPort.get(40156)?.local, '127.0.0.3');
    assert.equal(byPort.get(40158)?.local, '::1');
    assert.equal(byPort.get(40150)?.state, 'SYN_SENT');
    assert.equal(byPort.get(40130)?.state, 'CLOSE_WAIT');
    assert.equal(byPort.get(40138)?.state, 'FIN_WAIT2');
    // TIME_WAIT: 55sec left → at least 4 s old (60 − 55.999 s, rounded towards younger).
    const tw = sink.tcpCalls.filter((c) => c.state === 'TIME_WAIT');
    assert.deepEqual(tw.map((c) => c.timeWaitAgeMs).sort(), [1, 1, 1, 4001, 4001, 4001, 4001]);
  });

  it('reads TIME_WAIT timers under 10 s (seconds.milliseconds)', () => {
    const ages = parseSs(fixture('tanoH-51s.txt'), 'tcp')
      .tcpCalls.filter((c) => c.state === 'TIME_WAIT')
      .map((c) => c.timeWaitAgeMs)
      .sort();
    assert.deepEqual(ages, [51_296, 51_296, 51_300, 55_796, 55_796, 55_796, 55_800]);
  });

  it('reads UDP alone (ss -uano)', () => {
    assert.deepEqual(parseSs(fixture('uano-header.txt'), 'udp').udpCalls.sort(), ['40050 7', '40062 1', '40064 1', '40074 1', '40154 7']);
  });

  it('gives the same result whatever the chunk boundaries', () => {
    const whole = parseSs(fixture('tuano-header.txt'), null);
    for (const chunk of [1, 7, 64, 100]) {
      const cut = parseSs(fixture('tuano-header.txt'), null, chunk);
      assert.deepEqual(cut.tcpCalls, whole.tcpCalls);
      assert.deepEqual(cut.udpCalls, whole.udpCalls);
    }
  });

  it('reads the spellings of old iproute2 (bare IPv6, `*` for 0.0.0.0)', () => {
    // Not captured: written in the format of that ss's printf ("%*s:%-*s").
    const old = [
      'State      Recv-Q Send-Q        Local Address:Port          Peer Address:Port',
      'LISTEN     0      128                       *:40010                    *:*',
      'LISTEN     0      128                      :::40012                   :::*',
      'ESTAB      0      0          ::ffff:127.0.0.1:40022     ::ffff:127.0.0.1:9000',
      'ESTAB      0      0                       ::1:40030                  ::1:8443',
      'ESTAB      0      0             fe80::1%eth0:40031       fe80::2:8443',
      'ESTAB      0      0      2001:DB8:0:0:0:0:0:1:40032    2001:db8::2:443',
      'TIME-WAIT  0      0                127.0.0.5:40040            127.0.0.1:8081   timer:(timewait,51sec,0)',
      '',
    ].join('\n');
    const calls = parseSs(old, 'tcp').tcpCalls;
    assert.deepEqual(
      calls.map((c) => `${c.family} ${c.local}:${c.localPort} ${c.remote}:${c.remotePort} ${c.state} ${c.timeWaitAgeMs}`),
      [
        '6 :::40010 :::0 LISTEN -1',
        '6 :::40012 :::0 LISTEN -1',
        '4 127.0.0.1:40022 127.0.0.1:9000 ESTABLISHED -1',
        '6 ::1:40030 ::1:8443 ESTABLISHED -1',
        '6 fe80::1:40031 fe80::2:8443 ESTABLISHED -1',
        '6 2001:db8::1:40032 2001:db8::2:443 ESTABLISHED -1',
        '4 127.0.0.5:40040 127.0.0.1:8081 TIME_WAIT 8001',
      ],
    );
  });

  it('skips TCP sockets that are only bound (UNCONN: new ss with -a on kernels ≥ 6.8)', () => {
    const sink = parseSs('UNCONN 0 0 127.0.0.1:40001 0.0.0.0:*\n', 'tcp');
    assert.deepEqual(sink.tcpCalls, []);
  });

  it('counts an unreadable TIME_WAIT timer as young', () => {
    const sink = parseSs('TIME-WAIT 0 0 127.0.0.5:40040 127.0.0.1:8081 timer:(timewait,soon,0)\n', 'tcp');
    assert.equal(sink.tcpCalls[0].timeWaitAgeMs, 0);
  });

  const broken: [string, Protocol | null, RegExp][] = [
    ['FROBNICATED 0 0 127.0.0.1:40001 127.0.0.1:80\n', 'tcp', /line 1: unknown state \(read "F\.\.\."\)$/],
    ['ESTAB 0 0 127.0.0.1:40001 127.0.0.1:80\n', null, /no Netid column/],
    ['ESTAB 0 0 127.0.0.1.1:40001 127.0.0.1:80\n', 'tcp', /bad local address/],
    ['ESTAB 0 0 127.300.0.1:40001 127.0.0.1:80\n', 'tcp', /bad local address/],
    ['ESTAB 0 0 127.0.0.1:40001 127.0.0.256:80\n', 'tcp', /bad peer address/],
    ['ESTAB 0 0 127.0.0.1:40001 1270.0.0.1:80\n', 'tcp', /bad peer address \(read "1270\.\.\."\)$/],
    ['ESTAB 0 0 127.0.0.1:40001 127.0.0:80\n', 'tcp', /bad peer address/],
    ['ESTAB 0 0 127.0.0.1:40001 [::1:80\n', 'tcp', /unbalanced \[/],
    ['ESTAB 0 0 127.0.0.1:40001 1::2::3:80\n', 'tcp', /bad peer address \(read "1::2::3"\)$/],
    ['ESTAB 0 0 127.0.0.1:http 127.0.0.1:80\n', 'tcp', /local port is not a number/],
    ['ESTAB 0 0 127.0.0.1:40001\n', 'tcp', /missing peer address/],
    ['LISTEN 0 0 127.0.0.1:40001 0.0.0.0:*\n', 'udp', /unexpected state for a udp socket/],
  ];
  for (const [line, protocol, message] of broken) {
    it(`refuses ${JSON.stringify(line.trim())}`, () => {
      assert.throws(() => parseSs(line, protocol), (err: unknown) => err instanceof KernelError && message.test(err.message));
    });
  }
});

describe('ss and /proc hand the same sockets to the pools', () => {
  const dir = join(SS, 'same-host');
  const fromSs = parseSs(readFileSync(join(dir, 'ss-tuano.txt'), 'latin1'), null);
  const fromProc = new Recorder();
  for (const [name, protocol, v6] of [['tcp', 'tcp', false], ['tcp6', 'tcp', true], ['udp', 'udp', false], ['udp6', 'udp', true]] as const) {
    const table: TableSpec = { path: name, protocol, v6 };
    const parser = new ProcNetParser(table, usable(), fromProc, endianness() === 'LE');
    const bytes = readFileSync(join(dir, 'proc', 'net', name));
    const consumed = parser.feed(bytes, bytes.length);
    parser.finish(bytes.subarray(consumed), bytes.length - consumed);
  }

  it('the same TCP sockets, addresses and states', () => assert.deepEqual(fromSs.keys(), fromProc.keys()));
  it('the same UDP sockets', () => assert.deepEqual(fromSs.udpCalls.sort(), fromProc.udpCalls.sort()));
  it('TIME_WAIT ages within a second, ss never the older', () => {
    const age = (r: Recorder) => new Map(r.tcpCalls.filter((c) => c.state === 'TIME_WAIT').map((c) => [`${c.local}:${c.localPort} ${c.remotePort}`, c.timeWaitAgeMs]));
    const ss = age(fromSs);
    const proc = age(fromProc);
    assert.equal(ss.size, 7);
    for (const [key, procAge] of proc) {
      const ssAge = ss.get(key) as number;
      assert.ok(ssAge <= procAge && procAge - ssAge < 1010, `${key}: ss ${ssAge} ms, /proc ${procAge} ms`);
    }
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressTable } from '../../src/model/address-table';
import { KernelError } from '../../src/host/errors';
import { LineCarry } from '../../src/host/lines';
import { ProcNetParser, type TableSpec } from '../../src/sources/sockets/procnet';
import type { SocketSink } from '../../src/model/records';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const HEADER6 = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

type Row = [string, ...(string | number)[]];

class Recorder implements SocketSink {
  readonly addresses = new AddressTable();
  rows: Row[] = [];
  tcp(local: number, localPort: number, remote: number, remotePort: number, state: number, age: number): void {
    const { addresses: a } = this;
    this.rows.push(['tcp', a.family(local), a.text(local), localPort, a.text(remote), remotePort, state, age]);
  }
  udp(localPort: number, state: number): void {
    this.rows.push(['udp', localPort, state]);
  }
}

function usableRange(low: number, high: number): Uint8Array {
  const usable = new Uint8Array(65536);
  usable.fill(1, low, high + 1);
  return usable;
}

function parse(text: string, table: Partial<TableSpec> = {}, usable = usableRange(32768, 60999), littleEndian = true): Row[] {
  const sink = new Recorder();
  const parser = new ProcNetParser({ path: '/proc/net/tcp', protocol: 'tcp', v6: false, ...table }, usable, sink, littleEndian);
  const buf = Buffer.from(text, 'latin1');
  const rest = parser.feed(buf, buf.length);
  parser.finish(buf.subarray(rest), buf.length - rest);
  return sink.rows;
}

test('IPv4 lines: little-endian words, ports, state; out-of-range ports skipped', () => {
  const rows = parse(
    HEADER +
      '   0: 0100007F:9C40 0200007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 20 4 30 10 -1\n' +
      '   1: 0100C80A:01BB 0500000A:E000 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1\n' +
      '   2: 0900007F:9C43 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 7789 2 000000006908cb91 100 0 0 10 0\n',
  );
  assert.deepEqual(rows, [
    ['tcp', 4, '127.0.0.1', 40000, '127.0.0.2', 5432, 1, -1],
    ['tcp', 4, '127.0.0.9', 40003, '0.0.0.0', 0, 10, -1],
  ]);
});

test('TIME_WAIT age comes from the timer: 60 s minus time left in 1/100 s, rounded younger', () => {
  const rows = parse(HEADER + '   9: 0100007F:9C48 0200007F:1538 06 00000000:00000000 03:000016C5 00000000     0        0 0 3 00000000cbbf037a\n');
  assert.deepEqual(rows, [['tcp', 4, '127.0.0.1', 40008, '127.0.0.2', 5432, 6, 60000 - (0x16c5 + 1) * 10]]);
});

test('an orphaned FIN_WAIT2 (state 05, timer 3) is not a TIME_WAIT', () => {
  const rows = parse(HEADER + '   9: 0100007F:9C48 0200007F:1538 05 00000000:00000000 03:00000100 00000000     0        0 0 3 00000000cbbf037a\n');
  assert.equal(rows[0][6], 5);
  assert.equal(rows[0][7], -1);
});

test('IPv6: ::1, and IPv4-mapped folded into IPv4', () => {
  const rows = parse(
    HEADER6 +
      '   0: 00000000000000000000000001000000:9C40 00000000000000000000000001000000:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 20 4 30 10 -1\n' +
      '   1: 0000000000000000FFFF00000100007F:9C41 0000000000000000FFFF00000300007F:18EB 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 20 4 30 10 -1\n' +
      '   2: B80D0120000000000000000001000000:9C42 B80D0120000000000000000002000000:0050 02 00000000:00000000 01:00000064 00000000     0        0 1 1 0000000000000000 20 4 30 10 -1\n',
    { path: '/proc/net/tcp6', v6: true },
  );
  assert.deepEqual(rows.map((r) => [r[1], r[2], r[4], r[5]]), [
    [6, '::1', '::1', 8080],
    [4, '127.0.0.1', '127.0.0.3', 6379],
    [6, '2001:db8::1', '2001:db8::2', 80],
  ]);
});

test('big-endian hosts print words in network order', () => {
  const rows = parse(HEADER + '   0: 7F000001:9C40 7F000002:1538 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1\n', {}, usableRange(32768, 60999), false);
  assert.equal(rows[0][2], '127.0.0.1');
});

test('UDP: only the port and state are taken', () => {
  const rows = parse(
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n' +
      ' 1234: 0100007F:9C40 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n' +
      ' 1235: 0100007F:9C41 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n',
    { path: '/proc/net/udp', protocol: 'udp' },
  );
  assert.deepEqual(rows, [['udp', 40000, 7], ['udp', 40001, 1]]);
});

test('lines split across chunks parse the same', () => {
  const text = HEADER + '   0: 0100007F:9C40 0200007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 12345 1 0 20 4 30 10 -1\n'.repeat(50);
  const whole = parse(text);
  const sink = new Recorder();
  const lines = new LineCarry(new ProcNetParser({ path: 't', protocol: 'tcp', v6: false }, usableRange(32768, 60999), sink, true), 't', 256);
  const bytes = Buffer.from(text, 'latin1');
  for (let i = 0; i < bytes.length; i += 37) lines.push(bytes.subarray(i, i + 37));
  lines.finish();
  assert.equal(whole.length, 50);
  assert.deepEqual(sink.rows, whole);
});

test('malformed input names the file and line', () => {
  const cases = [
    ['', /empty table/],
    ['garbage\n', /no header/],
    [HEADER + '   0: 0100007G:9C40 0200007F:1538 01 00000000:00000000 00:00000000\n', /line 2: .*not hexadecimal/],
    [HEADER + '   0: 0100007F:9C40 0200007F:15\n', /line 2: /],
    [HEADER + '   0: 0100007F:9C40 0200007F:1538 0Z 00000000:00000000 00:00000000\n', /line 2: state is not hexadecimal/],
    [HEADER + '   0: 0100007F:9C40 0200007F:1538 0F 00000000:00000000 00:00000000\n', /unknown state f/],
    [HEADER + '\u0000\u0001\u00ff\n', /line 2/],
    [HEADER + '   0: 0100007F:9C40 0200007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1', null],
  ] as const;
  for (const [text, want] of cases) {
    if (want === null) {
      assert.equal(parse(text).length, 1, 'a last line without newline still counts');
      continue;
    }
    assert.throws(() => parse(text), (err: unknown) => err instanceof KernelError && want.test(err.message) && err.message.startsWith('/proc/net/tcp:'), JSON.stringify(text));
  }
});

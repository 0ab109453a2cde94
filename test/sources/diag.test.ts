import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AddressTable } from '../../src/model/address-table';
import { DENSE_ENOUGH, DiagParser, SAMPLE, SparseListing } from '../../src/sources/sockets/diag';
import { KernelError } from '../../src/host/errors';
import { LineCarry } from '../../src/host/lines';
import { TCP_STATE_NAMES, TcpState, type SocketSink } from '../../src/model/records';
import { SsParser } from '../../src/sources/sockets/ss';
import { FIXTURES } from '../helpers';
import { diagRecords, socketsOfText, type DiagSocket } from './diag-records';

/** What a source hands to the pools, as text. */
class Recorder implements SocketSink {
  readonly addresses = new AddressTable();
  readonly calls: string[] = [];
  tcp(local: number, localPort: number, remote: number, remotePort: number, state: number, timeWaitAgeMs: number): void {
    const a = this.addresses;
    this.calls.push(`${a.family(local)} ${a.text(local)}:${localPort} ${a.text(remote)}:${remotePort} ${TCP_STATE_NAMES[state]} ${timeWaitAgeMs}`);
  }
  udp(): void {
    throw new Error('ss -D lists no UDP socket');
  }
}

const USABLE = new Uint8Array(65536).fill(1, 40000, 40190);

function parse(bytes: Uint8Array, chunk = Infinity, littleEndian = true, usable = USABLE): Recorder {
  const sink = new Recorder();
  const lines = new LineCarry(new DiagParser(usable, sink, littleEndian), 'ss');
  for (let at = 0; at < bytes.length; at += chunk) lines.push(bytes.subarray(at, Math.min(bytes.length, at + chunk)));
  lines.finish();
  return sink;
}

const S = (family: 4 | 6, state: number, local: string, localPort: number, remote: string, remotePort: number, expiresMs?: number): DiagSocket => ({ family, state, local, localPort, remote, remotePort, expiresMs });

describe('ss -D: the kernel\'s binary records', () => {
  const sockets = [
    S(4, TcpState.LISTEN, '0.0.0.0', 40010, '0.0.0.0', 0),
    S(4, TcpState.ESTABLISHED, '10.0.0.1', 40001, '192.0.2.7', 443),
    S(4, TcpState.TIME_WAIT, '10.0.0.1', 40002, '192.0.2.7', 443, 59_000),
    S(4, TcpState.ESTABLISHED, '10.0.0.1', 22, '192.0.2.9', 50000), // out of the range
    S(4, TcpState.CLOSE, '10.0.0.1', 40003, '0.0.0.0', 0), // bound only: not in /proc either
    S(6, TcpState.SYN_SENT, '2001:db8::1', 40004, '2001:db8::2:3', 80),
    S(6, TcpState.ESTABLISHED, '::ffff:127.0.0.1', 40005, '::ffff:127.0.0.2', 8080), // IPv4-mapped: the IPv4 tuple
    S(6, TcpState.NEW_SYN_RECV, '::1', 40006, '::1', 99),
  ];
  const expected = [
    '4 0.0.0.0:40010 0.0.0.0:0 LISTEN -1',
    '4 10.0.0.1:40001 192.0.2.7:443 ESTABLISHED -1',
    '4 10.0.0.1:40002 192.0.2.7:443 TIME_WAIT 1000',
    '6 2001:db8::1:40004 2001:db8::2:3:80 SYN_SENT -1',
    '4 127.0.0.1:40005 127.0.0.2:8080 ESTABLISHED -1',
    '6 ::1:40006 ::1:99 SYN_RECV -1',
  ];

  it('decodes ports, addresses of both families, states and the TIME_WAIT timer; skips out-of-range and bound-only sockets', () => {
    assert.deepEqual(parse(diagRecords(sockets)).calls, expected);
  });

  it('the same, whatever the chunk boundaries, and on a big-endian host', () => {
    for (const chunk of [1, 3, 17, 100, 4096]) assert.deepEqual(parse(diagRecords(sockets), chunk).calls, expected);
    assert.deepEqual(parse(diagRecords(sockets, false), 7, false).calls, expected);
  });

  it('ss\'s text and its records hand the same sockets to the pools', () => {
    // A capture of ss -tuano on a host, turned into the records ss -D would have printed.
    const text = readFileSync(join(FIXTURES, 'ss', 'same-host', 'ss-tuano.txt'), 'latin1');
    const fromText = new Recorder();
    const lines = new LineCarry(new SsParser(null, USABLE, { addresses: fromText.addresses, tcp: fromText.tcp.bind(fromText), udp: () => {} }), 'ss');
    lines.push(Buffer.from(text, 'latin1'));
    lines.finish();
    assert.ok(fromText.calls.length > 20);
    assert.deepEqual(parse(diagRecords(socketsOfText(Buffer.from(text, 'latin1'), USABLE))).calls, fromText.calls);
  });

  it('a refusal from the kernel, or output cut inside a record, is an error naming ss', () => {
    const error = Buffer.alloc(20);
    error.writeUInt32LE(20, 0);
    error.writeUInt16LE(2, 4);
    error.writeInt32LE(-22, 16);
    assert.throws(() => parse(error), (err: unknown) => err instanceof KernelError && /^ss: record 1: the kernel refused the listing$/.test(err.message));
    const whole = diagRecords(sockets);
    assert.throws(() => parse(whole.subarray(0, whole.length - 30)), (err: unknown) => err instanceof KernelError && /ends inside a record/.test(err.message));
    const short = Buffer.alloc(16);
    short.writeUInt32LE(8, 0);
    assert.throws(() => parse(short), /shorter than its header/);
  });

  const many = (inRange: number): DiagSocket[] =>
    Array.from({ length: SAMPLE }, (_, i) => S(4, TcpState.ESTABLISHED, '10.0.0.1', i < inRange ? 40000 + (i % 190) : 1000 + (i % 900), `10.1.${i >> 8}.${i & 255}`, 443));

  it(`gives up when fewer than ${DENSE_ENOUGH * 100} % of the first ${SAMPLE} sockets are in range (listeners aside)`, () => {
    const listeners = Array.from({ length: 100 }, (_, i) => S(4, TcpState.LISTEN, '0.0.0.0', 1000 + i, '0.0.0.0', 0));
    const sparse = Math.ceil(DENSE_ENOUGH * SAMPLE) - 1;
    assert.throws(() => parse(diagRecords([...listeners, ...many(sparse)])), (err: unknown) => err instanceof SparseListing && err.inRange === sparse && err.sampled === SAMPLE);
    assert.equal(parse(diagRecords([...listeners, ...many(sparse + 1)])).calls.length, sparse + 1);
    // Fewer sockets than the sample: read, whatever the share.
    assert.equal(parse(diagRecords(many(0).slice(0, SAMPLE - 1))).calls.length, 0);
  });
});

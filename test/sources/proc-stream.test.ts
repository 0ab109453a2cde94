import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AddressTable } from '../../src/model/address-table';
import type { Host, OpenFile } from '../../src/host/host';
import { nodeHost } from '../../src/host/node-host';
import { readSocketTables } from '../../src/sources/sockets/proc-source';
import { listingOf } from '../../src/sources/sockets/request';
import { testReading } from './reading';
import type { SocketSink } from '../../src/model/records';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

/** A /proc/net/tcp line for 127.0.0.1:port → 127.0.0.1:8080, ESTABLISHED (little-endian host). */
function line(slot: number, port: number): string {
  const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');
  return `${String(slot).padStart(4)}: 0100007F:${hex(port, 4)} 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 ${1000 + slot} 1 0000000000000000 20 4 30 10 -1\n`;
}

class Counter implements SocketSink {
  readonly addresses = new AddressTable();
  tcpCount = 0;
  ports = new Set<number>();
  tcp(_l: number, localPort: number): void {
    this.tcpCount++;
    this.ports.add(localPort);
  }
  udp(): void {}
}

const usable = new Uint8Array(65536).fill(1, 40000, 40200);

describe('the /proc reader streams', { skip: !nodeHost.littleEndian && 'the lines below are written for a little-endian host' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'proc-stream-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a table page by page, lines cut anywhere, skipping out-of-range sockets', async () => {
    // 100,000 sockets, 200 of them in the range; served the way the kernel serves
    // /proc/net/tcp: one page (here a prime number of bytes) per read().
    const text = HEADER + Array.from({ length: 100_000 }, (_, i) => line(i, i % 500 === 0 ? 40000 + i / 500 : 20000 + (i % 10000))).join('');
    const reads: number[] = [];
    const host: Host = {
      littleEndian: true,
      elevated: null,
      readText: async () => undefined,
      async open(path) {
        if (!path.endsWith('/net/tcp')) return undefined;
        const bytes = Buffer.from(text, 'latin1');
        let at = 0;
        const file: OpenFile = {
          async read(into, offset, length) {
            const n = Math.min(4093, length, bytes.length - at);
            into.set(bytes.subarray(at, at + n), offset);
            at += n;
            reads.push(n);
            return n;
          },
          close: async () => {},
        };
        return file;
      },
    };
    const sink = new Counter();
    await readSocketTables(testReading(host, '/proc'), listingOf({ tcp: true, udp: false }, { range: { low: 1, high: 65535 }, usable }), sink);
    assert.equal(sink.tcpCount, 200);
    assert.equal(sink.ports.size, 200);
    assert.ok(reads.length > 1000, 'read in pages, not at once');
  });

  it('lets timers run during a long synchronous read (the timeout must still fire)', async () => {
    mkdirSync(join(dir, 'net'), { recursive: true });
    writeFileSync(join(dir, 'net', 'tcp'), HEADER + Array.from({ length: 300_000 }, (_, i) => line(i, 20000 + (i % 10000))).join(''));
    const events: string[] = [];
    const timer = setTimeout(() => events.push('timer'), 1);
    const started = Date.now();
    await readSocketTables(testReading(nodeHost, dir), listingOf({ tcp: true, udp: false }, { range: { low: 1, high: 65535 }, usable }), new Counter());
    events.push('read');
    clearTimeout(timer);
    // Only meaningful when reading took longer than the yield interval (20 ms).
    if (Date.now() - started > 60) assert.deepEqual(events, ['timer', 'read']);
  });
});

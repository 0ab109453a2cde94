import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressTable } from '../../src/model/address-table';
import type { Host } from '../../src/host/host';
import type { SocketSink } from '../../src/model/records';
import { PROC_BELOW } from '../../src/sources/sockets/sockets';
import { readCounted, testReading } from './reading';
import { parseSockstat } from '../../src/sources/counts/sockstat';
import { socketsCounted, tablesPresent } from '../../src/model/counts';

const V4 = (tcp: number, tw: number, udp: number) =>
  `sockets: used 10\nTCP: inuse ${tcp} orphan 0 tw ${tw} alloc 1 mem 220\nUDP: inuse ${udp} mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n`;
const V6 = (tcp: number, udp: number) => `TCP6: inuse ${tcp}\nUDP6: inuse ${udp}\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n`;

class Counter implements SocketSink {
  readonly addresses = new AddressTable();
  tcp(): void {}
  udp(): void {}
}

/** A host whose /proc has the given sockstat and empty socket tables; it records what was opened and run. */
function host(files: Record<string, string>): Host & { opened: string[]; spawned: string[][] } {
  const h = {
    littleEndian: true,
    elevated: null,
    opened: [] as string[],
    spawned: [] as string[][],
    async readText(path: string) {
      return files[path];
    },
    async open(path: string) {
      h.opened.push(path);
      // Only the header line: no socket.
      let header: Uint8Array | null = Buffer.from('  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n');
      return {
        async read(into: Uint8Array, offset: number) {
          if (header === null) return 0;
          into.set(header, offset);
          const n = header.length;
          header = null;
          return n;
        },
        close: async () => {},
      };
    },
    findProgram: () => '/usr/bin/ss',
    async spawn(file: string, args: readonly string[]) {
      h.spawned.push([file, ...args]);
      return { drain: async () => ({ code: 0, signal: null, stderr: '' }), kill: () => {} };
    },
  };
  return h;
}

const read = (h: Host) =>
  readCounted(testReading(h, '/proc'), { tcp: true, udp: true }, { range: { low: 32768, high: 60999 }, usable: new Uint8Array(65536) }, () => new Counter());

describe('sockstat: what a namespace holds, without a walk', () => {
  it('reads the counters of both families', () => {
    assert.deepEqual(parseSockstat(V4(3, 7, 2), V6(4, 1)), { tcp4: 3, tcp6: 4, timeWait: 7, udp4: 2, udp6: 1 });
    assert.deepEqual(parseSockstat(V4(3, 7, 2), undefined), { tcp4: 3, tcp6: 0, timeWait: 7, udp4: 2, udp6: 0 });
    assert.equal(parseSockstat('TCP: 1 2 3\n', undefined), null);
    assert.equal(socketsCounted({ tcp4: 3, tcp6: 4, timeWait: 7, udp4: 2, udp6: 1 }, { tcp: true, udp: false }), 14);
  });

  it('a table is empty only when nothing that could land in it is counted', () => {
    // IPv4 clients of a dual-stack IPv6 listener make IPv4 requests: tcp4 stays.
    assert.deepEqual(tablesPresent({ tcp4: 0, tcp6: 1, timeWait: 0, udp4: 0, udp6: 0 }), { tcp4: true, tcp6: true, udp4: false, udp6: false });
    // TIME_WAIT is counted for both families together.
    assert.deepEqual(tablesPresent({ tcp4: 0, tcp6: 0, timeWait: 1, udp4: 1, udp6: 0 }), { tcp4: true, tcp6: true, udp4: true, udp6: false });
    assert.deepEqual(tablesPresent({ tcp4: 5, tcp6: 0, timeWait: 0, udp4: 0, udp6: 2 }), { tcp4: true, tcp6: false, udp4: false, udp6: true });
  });

  it('auto reads an empty namespace without opening a table, a small one from /proc, a big one with ss', async () => {
    const empty = host({ '/proc/net/sockstat': V4(0, 0, 0), '/proc/net/sockstat6': V6(0, 0) });
    assert.equal((await read(empty)).source, 'proc');
    assert.deepEqual([empty.opened, empty.spawned], [[], []]);

    const small = host({ '/proc/net/sockstat': V4(40, 0, 1), '/proc/net/sockstat6': V6(0, 0) });
    assert.equal((await read(small)).source, 'proc');
    assert.deepEqual([small.opened, small.spawned], [['/proc/net/tcp', '/proc/net/udp'], []]);

    const big = host({ '/proc/net/sockstat': V4(PROC_BELOW, 0, 0), '/proc/net/sockstat6': V6(0, 0) });
    assert.equal((await read(big)).source, 'ss');
    // No IPv6 socket, no UDP one: only the IPv4 TCP listing; the others would walk the
    // whole hash for nothing.
    assert.deepEqual(big.spawned.map((argv) => argv.slice(1).join(' ')), ['-D - -4tan']);

    const unknown = host({});
    assert.equal((await read(unknown)).source, 'ss');
    assert.deepEqual(unknown.spawned.map((argv) => argv.slice(1, 3).join(' ')), ['-D -', '-D -', '-4unaoH ( sport >= :32768 and sport <= :60999 )', '-6unaoH ( sport >= :32768 and sport <= :60999 )']);
  });
});

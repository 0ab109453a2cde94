import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findOwners } from '../../src/owners/owners';
import { fakeProc, tcpLines } from '../namespaces/fake-proc';

const NS = 7;
/** 127.0.0.1 → 127.0.0.2:5432, sockets with inodes 5000.. ; TIME_WAITs have inode 0. */
const TABLE = tcpLines(4, 40000, 2, 5432, 1, 5000) + tcpLines(3, 40100, 2, 5432, 6) + tcpLines(2, 40200, 3, 6379, 1, 6000);
/** The same IPv4 tuple from an IPv4-mapped IPv6 socket (inode 7000). */
const MAPPED = '   0: 0000000000000000FFFF00000100007F:9E00 0000000000000000FFFF00000200007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 7000 1 0000000000000000 20 4 30 10 -1\n';
const passwd = 'root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n';

const processes = [
  { pid: 10, netns: NS, comm: 'java', uid: 1000, sockets: [5000, 5001, 7000, 99] },
  { pid: 11, netns: NS, comm: 'java', uid: 1000, sockets: [5001] }, // a descriptor inherited by a child
  { pid: 12, netns: NS, comm: 'pgbouncer', uid: 0, sockets: [5002, 6000] },
  { pid: 90, netns: 8, comm: 'other', uid: 0, sockets: [5003] }, // another namespace's process holding one
];
const host = (euid: number) => fakeProc(processes, { self: 10, euid, tcp: { [NS]: TABLE }, tcp6: { [NS]: MAPPED }, files: { '/etc/passwd': passwd } });
const DB = { local: '127.0.0.1', remote: '127.0.0.2', remotePort: 5432 };
const CACHE = { local: '127.0.0.1', remote: '127.0.0.3', remotePort: 6379 };

test('root: every holder of each tuple\'s sockets, IPv4-mapped included; TIME_WAIT has no owner', async () => {
  const found = await findOwners(host(0), '/proc/10', [10, 11, 12], [DB, CACHE], Infinity);
  assert.equal(found.visible, 'all');
  assert.equal(found.complete, true);
  assert.deepEqual(found.tuples[0], {
    holders: [
      { pid: 10, command: 'java', user: 'app', sockets: 3 },
      { pid: 11, command: 'java', user: 'app', sockets: 1 },
      { pid: 12, command: 'pgbouncer', user: 'root', sockets: 1 },
      // Not of the namespace, but holding one of its sockets: found by the wider search.
      { pid: 90, command: 'other', user: 'root', sockets: 1 },
    ],
    unseen: 0,
    ownerless: 3,
  });
  // 6001 is in no process's descriptors at all.
  assert.deepEqual(found.tuples[1], { holders: [{ pid: 12, command: 'pgbouncer', user: 'root', sockets: 1 }], unseen: 1, ownerless: 0 });
});

test('unprivileged: its own processes only; the rest is counted as not visible', async () => {
  const found = await findOwners(host(1000), '/proc/10', [10, 11, 12], [DB, CACHE], Infinity);
  assert.equal(found.visible, 'own');
  assert.deepEqual(found.tuples[0].holders.map((h) => h.pid), [10, 11]);
  assert.equal(found.tuples[0].unseen, 2);
  assert.deepEqual(found.tuples[1], { holders: [], unseen: 2, ownerless: 0 });
});

test('past the deadline nothing more is looked at, and the answer says so', async () => {
  const found = await findOwners(host(0), '/proc/10', [10, 11, 12], [DB], Date.now() - 1);
  assert.equal(found.complete, false);
  assert.deepEqual(found.tuples[0], { holders: [], unseen: 5, ownerless: 3 });
});

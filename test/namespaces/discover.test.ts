import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseNamespaces, discoverNamespaces } from '../../src/namespaces/discover';
import { fakeProc, tablesOf } from './fake-proc';

const HOST = 4026531840;
const A = 4026532200;
const B = 4026532300;
const C = 4026532400;

test('one namespace per distinct ns/net, the check\'s own first, pid 1\'s is the host', async () => {
  const host = fakeProc([
    { pid: 1, netns: HOST },
    { pid: 50, netns: A },
    { pid: 51, netns: A },
    { pid: 70, netns: B },
    { pid: 900, netns: HOST },
  ], { self: 900 });
  const refs = await discoverNamespaces(host);
  assert.deepEqual(refs.map((r) => [r.inode, r.pids, r.own, r.host]), [[HOST, [1, 900], true, true], [A, [50, 51], false, false], [B, [70], false, false]]);
  assert.deepEqual(refs.map((r) => [r.door, r.procRoot, r.tables]), [['/proc/self/ns/net', '/proc', tablesOf(HOST)], ['/proc/50/ns/net', '/proc/50', tablesOf(A)], ['/proc/70/ns/net', '/proc/70', tablesOf(B)]]);
});

test('a process whose link may not be read joins its namespace by the inode of its net/tcp: never counted twice', async () => {
  const host = fakeProc([
    // pid 1 refuses even root (as it can in a container); it is still the host's.
    { pid: 1, netns: HOST, hidden: true },
    { pid: 50, netns: A, hidden: true },
    { pid: 51, netns: A },
    { pid: 60, netns: B, hidden: true },
    { pid: 61, netns: B, hidden: true },
    { pid: 900, netns: HOST },
  ], { self: 900 });
  const refs = await discoverNamespaces(host);
  assert.deepEqual(refs.map((r) => [r.inode, r.pids, r.host]), [[HOST, [1, 900], true], [A, [50, 51], false], [null, [60, 61], false]]);
  // Entered by the process whose link was read; read through any.
  assert.deepEqual(refs.map((r) => [r.door, r.procRoot]), [['/proc/self/ns/net', '/proc'], ['/proc/51/ns/net', '/proc/50'], [null, '/proc/60']]);
});

test('/run/netns names join their namespace by inode; a name with no process is a namespace of its own', async () => {
  const host = fakeProc([{ pid: 1, netns: HOST }, { pid: 50, netns: A }], { self: 1, runNetns: { blue: A, empty: C } });
  const refs = await discoverNamespaces(host);
  assert.deepEqual(refs.map((r) => [r.inode, r.pids, r.runNames, r.door, r.procRoot]), [
    [HOST, [1], [], '/proc/self/ns/net', '/proc'],
    [A, [50], ['blue'], '/proc/50/ns/net', '/proc/50'],
    [C, [], ['empty'], '/run/netns/empty', null],
  ]);
});

test('--namespaces PID and NAME choose one; a missing one is an error naming it', async () => {
  const host = fakeProc([{ pid: 1, netns: HOST }, { pid: 50, netns: A }, { pid: 60, netns: B, hidden: true }], { self: 1, runNetns: { blue: A } });
  assert.deepEqual((await chooseNamespaces(host, { pid: 60 })).map((r) => [r.inode, r.pids]), [[null, [60]]]);
  assert.deepEqual((await chooseNamespaces(host, { name: 'blue' })).map((r) => r.pids), [[50]]);
  assert.equal((await chooseNamespaces(host, { all: true })).length, 3);
  await assert.rejects(chooseNamespaces(host, { pid: 61 }), /\/proc\/61: no such process/);
  await assert.rejects(chooseNamespaces(host, { name: 'red' }), /\/run\/netns\/red: no such named namespace/);
});

test('a /run/netns name is not a namespace of its own while some link could not be read: it may be that one', async () => {
  const host = fakeProc([{ pid: 1, netns: HOST }, { pid: 50, netns: A, hidden: true }], { self: 1, runNetns: { blue: A } });
  const refs = await discoverNamespaces(host);
  assert.deepEqual(refs.map((r) => [r.inode, r.pids, r.runNames]), [[HOST, [1], []], [null, [50], []]]);
});

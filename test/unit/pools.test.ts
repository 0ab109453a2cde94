import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressTable } from '../../src/model/address-table';
import { TcpState, UdpState } from '../../src/model/records';
import type { Pool } from '../../src/pools/pool';
import type { PoolReport } from '../../src/pools/report';
import { NO_TUPLE, PoolBuilder, SEVERAL_TUPLES, timeWaitReusable } from '../../src/pools/pool-builder';
import { PortSpace } from '../../src/pools/port-space';
import { addressId, connectParity } from './pools-of';

const policy = { twReuse: 2, twReuseDelayMs: 1000, timestamps: 1 };
const { ESTABLISHED, LISTEN, TIME_WAIT, SYN_SENT } = TcpState;

/** A builder whose tcp() takes address text, as the tests write it. */
function builder(low = 40000, high = 40199, reserved = [{ low: 40100, high: 40109 }], p = policy) {
  const b = new PoolBuilder(new PortSpace({ low, high }, reserved), p);
  const id = (text: string) => addressId(b.addresses, text);
  return {
    builder: b,
    tcp: (local: string, localPort: number, remote: string, remotePort: number, state: number, age: number) => b.tcp(id(local), localPort, id(remote), remotePort, state, age),
    udp: (localPort: number, state: number) => b.udp(localPort, state),
    finish: (read: { tcp: boolean; udp: boolean }) => b.finish(read),
  };
}

/** Every tuple of a report as a Pool, in the order first seen. */
function pools(r: PoolReport): Pool[] {
  const pools: Pool[] = [];
  for (let t = 0; t < r.tuples.size; t++) if (r.tuples.sockets(t) > 0) pools.push(r.tuples.pool(t, r.capacity));
  return pools;
}

test('port space: range minus reserved, odd sizes flagged', () => {
  const space = new PortSpace({ low: 40000, high: 40199 }, [{ low: 39990, high: 40004 }, { low: 40100, high: 40109 }, { low: 40102, high: 40102 }]);
  assert.equal(space.rangeSize, 200);
  assert.equal(space.reservedInRange, 15);
  assert.equal(space.size, 185);
  assert.equal(space.usable[40004], 0);
  assert.equal(space.usable[40005], 1);
  assert.equal(space.usable[40200], 0);
  assert.equal(space.oddSized, false);
  assert.equal(new PortSpace({ low: 40000, high: 40100 }, []).oddSized, true);
});

test('remaining = |C \\ X \\ O(T)|: listeners shrink every tuple, a tuple only loses its own ports', () => {
  const b = builder();
  b.tcp('127.0.0.9', 40003, '0.0.0.0', 0, LISTEN, -1);
  b.tcp('::1', 40010, '::', 0, LISTEN, -1);
  // Ports as connect() picks them: at even offsets from the low end (Rule 9), reserved skipped.
  const ports = connectParity(40020, 40198).filter((p) => p < 40100 || p > 40109);
  for (const p of ports.slice(0, 50)) b.tcp('127.0.0.1', p, '127.0.0.2', 5432, ESTABLISHED, -1);
  for (const p of ports.slice(0, 10)) b.tcp('127.0.0.1', p, '127.0.0.3', 6379, SYN_SENT, -1);
  const r = b.finish({ tcp: true, udp: true });
  assert.equal(r.capacity, 200 - 10 - 2);
  const pg = pools(r).find((t) => t.remotePort === 5432)!;
  const redis = pools(r).find((t) => t.remotePort === 6379)!;
  assert.deepEqual([pg.used, pg.remaining, pg.capacity], [50, 138, 188]);
  assert.deepEqual([redis.used, redis.remaining], [10, 178]);
  assert.equal(r.tcp!.sharedPorts, 10);
  assert.deepEqual(r.tcp!.bindStyle, { capacity: 190, used: 52, remaining: 138, usage: (52 / 190) * 100 });
  assert.deepEqual(pg.states, { ESTABLISHED: 50 });
});

test('the accepted side of connections to an in-range listener is not a tuple', () => {
  const b = builder();
  b.tcp('127.0.0.9', 40003, '0.0.0.0', 0, LISTEN, -1);
  b.tcp('127.0.0.9', 40003, '127.0.0.1', 40050, ESTABLISHED, -1); // accepted, seen before or after the listener
  b.tcp('127.0.0.1', 40050, '127.0.0.9', 40003, ESTABLISHED, -1); // our client
  const r = b.finish({ tcp: true, udp: false });
  assert.deepEqual(pools(r).map((t) => `${t.remote}:${t.remotePort}`), ['127.0.0.9:40003']);
  assert.equal(r.udp, null);
});

test('TIME_WAIT: reused on loopback with tw_reuse 2 once older than the delay', () => {
  const b = builder();
  b.tcp('127.0.0.1', 40020, '127.0.0.2', 5432, TIME_WAIT, 1500);
  b.tcp('127.0.0.1', 40021, '127.0.0.2', 5432, TIME_WAIT, 500);
  b.tcp('127.0.0.1', 40022, '127.0.0.2', 5432, TIME_WAIT, 1000);
  const t = pools(b.finish({ tcp: true, udp: false }))[0];
  assert.equal(t.used, 2);
  assert.equal(t.timeWaitReusable, 1);
  assert.deepEqual(t.states, { TIME_WAIT: 3 });
});

test('TIME_WAIT reuse rules', () => {
  assert.equal(timeWaitReusable({ ...policy, twReuse: 2 }, true, 5000), true);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 2 }, false, 5000), false);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 1 }, false, 5000), true);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 0 }, true, 5000), false);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 1, timestamps: 0 }, false, 5000), false);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 1, twReuseDelayMs: 10_000 }, false, 5000), false);
});

test('tw_reuse 2 reuses when either end is loopback, IPv4-mapped included', () => {
  const reused = (local: string, remote: string) => {
    const b = builder();
    b.tcp(local, 40020, remote, 5432, TIME_WAIT, 5000);
    return b.finish({ tcp: true, udp: false }).tcp!.timeWaitReusable;
  };
  assert.equal(reused('127.0.0.1', '127.0.0.2'), 1);
  assert.equal(reused('10.0.0.1', '127.0.0.1'), 1);
  assert.equal(reused('::1', '::1'), 1);
  assert.equal(reused('::ffff:127.0.0.5', '::ffff:10.0.0.2'), 1);
  assert.equal(reused('10.0.0.1', '10.0.0.2'), 0);
  assert.equal(reused('::2', 'fd00::1'), 0);
});

test('UDP is one host-wide pool of distinct ports', () => {
  const b = builder();
  b.udp(40020, UdpState.UNCONNECTED);
  b.udp(40020, UdpState.UNCONNECTED); // same number on another address
  b.udp(40021, UdpState.CONNECTED);
  const udp = b.finish({ tcp: true, udp: true }).udp!;
  assert.deepEqual([udp.used, udp.remaining, udp.capacity, udp.remotePort, udp.local], [2, 188, 190, null, '*']);
  assert.deepEqual(udp.states, { UNCONN: 2, ESTAB: 1 });
});

test('capacity 0 means 100% used', () => {
  const b = builder(40000, 40001, []);
  b.tcp('0.0.0.0', 40000, '0.0.0.0', 0, LISTEN, -1);
  b.tcp('0.0.0.0', 40001, '0.0.0.0', 0, LISTEN, -1);
  const r = b.finish({ tcp: true, udp: false });
  assert.equal(r.capacity, 0);
});

test('addresses: one id per address, IPv4-mapped IPv6 shares the IPv4 id, text made once', () => {
  const a = new AddressTable();
  const v4 = a.ipv4(0x7f000001);
  assert.equal(a.ipv6(0, 0, 0xffff, 0x7f000001), v4);
  assert.equal(a.family(v4), 4);
  const v6 = a.ipv6(0x20010db8, 0, 0, 1);
  assert.notEqual(v6, v4);
  assert.equal(a.ipv6(0x20010db8, 0, 0, 1), v6);
  assert.equal(a.ipv6(0, 0, 0, 0x7f000001) === v4, false); // ::127.0.0.1 is not mapped
  assert.deepEqual([a.text(v4), a.text(v6), a.family(v6)], ['127.0.0.1', '2001:db8::1', 6]);
  assert.deepEqual([a.isLoopback(v4), a.isLoopback(a.ipv6(0, 0, 0, 1)), a.isLoopback(v6), a.isLoopback(a.ipv4(0x0a000001))], [true, true, false, false]);
  // Through several rehashes: every id stays and says the same.
  const ids = Array.from({ length: 70_000 }, (_, i) => (i % 2 ? a.ipv4(0x0a000000 + i) : a.ipv6(0xfd000000, 0, i, 0x80000000 + i)));
  assert.equal(new Set(ids).size, 70_000);
  ids.forEach((id, i) => assert.equal(id, i % 2 ? a.ipv4(0x0a000000 + i) : a.ipv6(0xfd000000, 0, i, 0x80000000 + i)));
  assert.equal(a.text(ids[70_000 - 1]), `10.1.17.111`);
  assert.equal(a.size, 70_000 + 4);
});

test('a hundred thousand tuples of one socket each, and a few of thousands: counted exactly', () => {
  const b = new PoolBuilder(new PortSpace({ low: 10000, high: 65000 }, []), policy);
  const local = b.addresses.ipv4(0x7f000001);
  for (let i = 0; i < 100_000; i++) b.tcp(local, 10000 + (i % 55001), b.addresses.ipv4(0x7f010000 + i), 1000 + (i % 7), ESTABLISHED, -1);
  for (let i = 0; i < 30_000; i++) b.tcp(local, 10000 + i, b.addresses.ipv4(0x7f000002 + (i % 3)), 5432, i % 10 ? ESTABLISHED : TIME_WAIT, 500);
  const r = b.finish({ tcp: true, udp: false });
  assert.equal(r.tuples.size, 100_003);
  const all = pools(r);
  assert.equal(all.filter((p) => p.sockets === 1 && p.used === 1).length, 100_000);
  const big = all.filter((p) => p.remotePort === 5432);
  assert.deepEqual(big.map((p) => [p.remote, p.used, p.states.ESTABLISHED, p.states.TIME_WAIT]), [
    ['127.0.0.2', 10_000, 9000, 1000],
    ['127.0.0.3', 10_000, 9000, 1000],
    ['127.0.0.4', 10_000, 9000, 1000],
  ]);
  assert.equal(r.tcp!.sockets, 130_000);
});

test('per port, which tuple holds it; per tuple, parity of held ports and recent TIME_WAIT', () => {
  const b = builder();
  b.tcp('127.0.0.1', 40020, '127.0.0.2', 5432, ESTABLISHED, -1); // even offset
  b.tcp('127.0.0.1', 40021, '127.0.0.2', 5432, ESTABLISHED, -1); // odd
  b.tcp('127.0.0.1', 40023, '127.0.0.2', 5432, TIME_WAIT, 500); // odd, recent, not reusable yet
  b.tcp('127.0.0.1', 40025, '127.0.0.2', 5432, TIME_WAIT, 20_000); // reusable: holds nothing
  b.tcp('10.0.0.1', 40026, '10.0.0.2', 5432, TIME_WAIT, 20_000); // not loopback: held, not recent
  b.tcp('127.0.0.1', 40020, '127.0.0.3', 6379, ESTABLISHED, -1); // shares 40020
  const { builder: pb } = b;
  const r = pb.finish({ tcp: true, udp: false });
  const t = r.tuples;
  assert.deepEqual([40020, 40021, 40023, 40025, 40026, 40027].map((port) => pb.portTupleOf(port)), [SEVERAL_TUPLES, 0, 0, NO_TUPLE, 1, NO_TUPLE]);
  assert.deepEqual([t.held[0], t.heldOddOffset[0], t.timeWaitRecent[0], t.reusable[0]], [3, 2, 1, 1]);
  assert.deepEqual([t.held[1], t.heldOddOffset[1], t.timeWaitRecent[1]], [1, 0, 0]);
  assert.equal(r.tcp!.sharedPorts, 1);
});

test('a listener seen after sockets on its port (across families) takes the port back', () => {
  const b = builder();
  b.tcp('127.0.0.5', 40150, '127.0.0.1', 9000, ESTABLISHED, -1); // bound to 40150 explicitly
  b.tcp('127.0.0.5', 40151, '127.0.0.1', 9000, TIME_WAIT, 500);
  b.tcp('127.0.0.6', 40160, '127.0.0.1', 9000, ESTABLISHED, -1); // its only socket
  b.tcp('127.0.0.7', 40170, '127.0.0.1', 9000, ESTABLISHED, -1); // 40170 held by two tuples
  b.tcp('127.0.0.8', 40170, '127.0.0.1', 9000, ESTABLISHED, -1);
  b.tcp('::1', 40150, '::', 0, LISTEN, -1); // the IPv6 listing, read after the IPv4 one
  b.tcp('::1', 40151, '::', 0, LISTEN, -1);
  b.tcp('::1', 40160, '::', 0, LISTEN, -1);
  b.tcp('::1', 40170, '::', 0, LISTEN, -1);
  const r = b.finish({ tcp: true, udp: false });
  const byLocal = new Map(pools(r).map((p) => [p.local, p]));
  // The first tuple's sockets were both on listener ports: nothing is left of it.
  assert.equal(byLocal.has('127.0.0.5'), false);
  assert.equal(byLocal.has('127.0.0.6'), false);
  // Which of the two sharing 40170 was accepted cannot be told: each keeps it (one port too many).
  assert.deepEqual([byLocal.get('127.0.0.7')?.used, byLocal.get('127.0.0.8')?.used], [1, 1]);
  assert.equal(r.capacity, 200 - 10 - 4);
  assert.equal(r.tcp!.sharedPorts, 0);
  assert.equal(r.tuples.timeWaitRecent[0], 0);
});

// bind() before connect(), told by the parity of port - low (docs/kernel-model.md, Rule 9).
// Range 40000-40199, 40100-40109 reserved: 95 ports of connect()'s parity, 95 of bind()'s.

test('bind parity: ports a tuple with connect parity left holds at odd offsets are lost to every tuple', () => {
  const b = builder();
  const even = connectParity(40000, 40198).filter((p) => p < 40100 || p > 40109);
  const odd = connectParity(40001, 40199).filter((p) => p < 40100 || p > 40109);
  for (const p of odd.slice(0, 30)) b.tcp('127.0.0.1', p, '127.0.0.2', 5000, ESTABLISHED, -1); // bound first
  for (const p of even.slice(0, 40)) b.tcp('127.0.0.1', p, '127.0.0.2', 5000, ESTABLISHED, -1);
  for (const p of even.slice(0, 10)) b.tcp('127.0.0.5', p, '127.0.0.3', 6379, ESTABLISHED, -1);
  b.tcp('127.0.0.5', odd[30], '127.0.0.3', 6379, TIME_WAIT, 5000); // reusable-looking, bound first
  const r = b.finish({ tcp: true, udp: false });
  assert.deepEqual([r.optimisticCapacity, r.bind.taken, r.capacity], [190, 31, 159]);
  const [db, cache] = pools(r);
  // Its own bind()-taken ports count in its capacity and its use alike; remaining = |C \ X \ B \ O(T)|.
  assert.deepEqual([db.bindTaken, db.capacity, db.used, db.remaining, db.optimisticRemaining], [30, 189, 70, 119, 120]);
  assert.deepEqual([cache.bindTaken, cache.capacity, cache.used, cache.remaining, cache.timeWaitReusable], [1, 160, 11, 149, 0]);
  assert.equal(r.tcp!.timeWaitReusable, 0);
  assert.deepEqual(r.bind.binders.map(({ pool, ports }) => [pool.remotePort, ports]), [[5000, 30], [6379, 1]]);
  assert.deepEqual([r.bind.binderTuples, r.bind.spilledTuples, r.bind.undecidable], [2, 0, 0]);
});

test('bind parity: with a range assumed, not read, no port is bind()\'s and each tuple keeps its own figure', () => {
  // The same sockets as above, where 31 ports read as bind()'s against a range read.
  const b = builder();
  const even = connectParity(40000, 40198).filter((p) => p < 40100 || p > 40109);
  const odd = connectParity(40001, 40199).filter((p) => p < 40100 || p > 40109);
  for (const p of odd.slice(0, 30)) b.tcp('127.0.0.1', p, '127.0.0.2', 5000, ESTABLISHED, -1);
  for (const p of even.slice(0, 40)) b.tcp('127.0.0.1', p, '127.0.0.2', 5000, ESTABLISHED, -1);
  for (const p of even.slice(0, 10)) b.tcp('127.0.0.5', p, '127.0.0.3', 6379, ESTABLISHED, -1);
  b.tcp('127.0.0.5', odd[30], '127.0.0.3', 6379, TIME_WAIT, 5000);
  const r = b.builder.finish({ tcp: true, udp: false }, false);
  assert.deepEqual([r.bind.skipped, r.bind.taken, r.bind.undecidable, r.bind.sharedTaken, r.bind.bindParityFull], ['range assumed', 0, 0, 0, false]);
  assert.deepEqual([r.bind.binderTuples, r.bind.spilledTuples, r.optimisticCapacity, r.capacity], [0, 0, 190, 190]);
  const [db, cache] = pools(r);
  // What the check said before the parity rule: remaining = |C \ X \ O(T)|, the optimistic figure.
  assert.deepEqual([db.bindTaken, db.capacity, db.used, db.remaining, db.optimisticRemaining], [0, 190, 70, 120, 120]);
  // Its TIME_WAIT is reusable, as for any connect()-made port: nothing held.
  assert.deepEqual([cache.bindTaken, cache.capacity, cache.used, cache.remaining, cache.timeWaitReusable], [0, 190, 10, 180, 1]);
  assert.equal(r.tcp!.timeWaitReusable, 1);
});

test('bind parity: a tuple that filled connect parity and spilled over claims no bind()', () => {
  const b = builder();
  const even = connectParity(40000, 40198).filter((p) => p < 40100 || p > 40109);
  const odd = connectParity(40001, 40199).filter((p) => p < 40100 || p > 40109);
  for (const p of [...even, ...odd.slice(0, 20)]) b.tcp('127.0.0.1', p, '127.0.0.2', 5000, ESTABLISHED, -1);
  // On another address, bound first: ports it shares with the spilled tuple are bind()'s.
  for (const p of odd.slice(15, 25)) b.tcp('127.0.0.5', p, '127.0.0.3', 6379, ESTABLISHED, -1);
  const r = b.finish({ tcp: true, udp: false });
  assert.deepEqual([r.bind.taken, r.bind.undecidable, r.capacity], [10, 15, 180]);
  const [full, cache] = pools(r);
  // The full tuple: 115 ports held, 5 of them in B already; nothing claimed for it.
  assert.deepEqual([full.bindTaken, full.used, full.capacity, full.remaining], [0, 110, 180, 70]);
  assert.deepEqual([cache.bindTaken, cache.remaining], [10, 180]);
  assert.deepEqual(r.bind.spilled.map(({ pool, ports }) => [pool.remotePort, ports]), [[5000, 20]]);
  assert.deepEqual(r.bind.binders.map(({ pool, ports }) => [pool.remotePort, ports]), [[6379, 10]]);
});

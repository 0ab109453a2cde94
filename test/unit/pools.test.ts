import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TcpState, UdpState } from '../../src/kernel/records';
import { PoolBuilder, timeWaitReusable } from '../../src/pools/pool-builder';
import { PortSpace } from '../../src/pools/port-space';

const policy = { twReuse: 2, twReuseDelayMs: 1000, timestamps: 1 };
const { ESTABLISHED, LISTEN, TIME_WAIT, SYN_SENT } = TcpState;

function builder(low = 40000, high = 40199, reserved = [{ low: 40100, high: 40109 }], p = policy) {
  return new PoolBuilder(new PortSpace({ low, high }, reserved), p);
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
  b.tcp(4, '127.0.0.9', 40003, '0.0.0.0', 0, LISTEN, -1);
  b.tcp(6, '::1', 40010, '::', 0, LISTEN, -1);
  for (let p = 40020; p < 40070; p++) b.tcp(4, '127.0.0.1', p, '127.0.0.2', 5432, ESTABLISHED, -1);
  for (let p = 40020; p < 40030; p++) b.tcp(4, '127.0.0.1', p, '127.0.0.3', 6379, SYN_SENT, -1);
  const r = b.finish({ tcp: true, udp: true });
  assert.equal(r.capacity, 200 - 10 - 2);
  const pg = r.tuples.find((t) => t.remotePort === 5432)!;
  const redis = r.tuples.find((t) => t.remotePort === 6379)!;
  assert.deepEqual([pg.used, pg.remaining, pg.capacity], [50, 138, 188]);
  assert.deepEqual([redis.used, redis.remaining], [10, 178]);
  assert.equal(r.tcp!.sharedPorts, 10);
  assert.deepEqual(r.tcp!.bindStyle, { capacity: 190, used: 52, remaining: 138, usage: (52 / 190) * 100 });
  assert.deepEqual(pg.states, { ESTABLISHED: 50 });
});

test('the accepted side of connections to an in-range listener is not a tuple', () => {
  const b = builder();
  b.tcp(4, '127.0.0.9', 40003, '0.0.0.0', 0, LISTEN, -1);
  b.tcp(4, '127.0.0.9', 40003, '127.0.0.1', 40050, ESTABLISHED, -1); // accepted, seen before or after the listener
  b.tcp(4, '127.0.0.1', 40050, '127.0.0.9', 40003, ESTABLISHED, -1); // our client
  const r = b.finish({ tcp: true, udp: false });
  assert.deepEqual(r.tuples.map((t) => `${t.remote}:${t.remotePort}`), ['127.0.0.9:40003']);
  assert.equal(r.udp, null);
});

test('TIME_WAIT: reused on loopback with tw_reuse 2 once older than the delay', () => {
  const b = builder();
  b.tcp(4, '127.0.0.1', 40020, '127.0.0.2', 5432, TIME_WAIT, 1500);
  b.tcp(4, '127.0.0.1', 40021, '127.0.0.2', 5432, TIME_WAIT, 500);
  b.tcp(4, '127.0.0.1', 40022, '127.0.0.2', 5432, TIME_WAIT, 1000);
  const t = b.finish({ tcp: true, udp: false }).tuples[0];
  assert.equal(t.used, 2);
  assert.equal(t.timeWaitReusable, 1);
  assert.deepEqual(t.states, { TIME_WAIT: 3 });
});

test('TIME_WAIT reuse rules', () => {
  const loop = ['127.0.0.1', '127.0.0.2'] as const;
  const lan = ['10.0.0.1', '10.0.0.2'] as const;
  assert.equal(timeWaitReusable({ ...policy, twReuse: 2 }, ...loop, 5000), true);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 2 }, ...lan, 5000), false);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 2 }, '10.0.0.1', '127.0.0.1', 5000), true);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 2 }, '::1', '::1', 5000), true);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 1 }, ...lan, 5000), true);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 0 }, ...loop, 5000), false);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 1, timestamps: 0 }, ...lan, 5000), false);
  assert.equal(timeWaitReusable({ ...policy, twReuse: 1, twReuseDelayMs: 10_000 }, ...lan, 5000), false);
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
  b.tcp(4, '0.0.0.0', 40000, '0.0.0.0', 0, LISTEN, -1);
  b.tcp(4, '0.0.0.0', 40001, '0.0.0.0', 0, LISTEN, -1);
  const r = b.finish({ tcp: true, udp: false });
  assert.equal(r.capacity, 0);
});

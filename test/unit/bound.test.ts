/**
 * The bound from socket counts (src/verdict/bound.ts): never beaten by what the check itself
 * computes from the same sockets, reached exactly by the adversarial shapes the proof names
 * (docs/namespaces.md, "The bound"), and what it makes of every kind of threshold.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SocketCounts } from '../../src/model/counts';
import { TcpState, UdpState } from '../../src/model/records';
import type { PortRange } from '../../src/model/settings';
import { Range } from '../../src/nagios/range';
import { State } from '../../src/nagios/state';
import { PoolBuilder } from '../../src/pools/pool-builder';
import { PortSpace } from '../../src/pools/port-space';
import { alertsWithin, boundNamespace, couldRankFirst, mayAlert, usablePorts, worstListed } from '../../src/verdict/bound';
import { rankPools } from '../../src/verdict/ranking';
import type { Selection } from '../../src/verdict/selection';
import type { Thresholds } from '../../src/verdict/judge';
import { decide, type Verdict } from '../../src/verdict/verdict';
import { Random } from '../fuzz';

const all: Selection = { tcp: true, udp: true, families: [4, 6], remote: null, local: null, remotePorts: [] };
const th = (w = '70', c = '90', more: Partial<Thresholds> = {}): Thresholds => ({ warning: Range.parse(w), critical: Range.parse(c), warningRemaining: null, criticalRemaining: null, warningChurn: null, criticalChurn: null, ...more });
const SEVERITY = { [State.OK]: 0, [State.WARNING]: 1, [State.CRITICAL]: 2, [State.UNKNOWN]: 3 };

/**
 * A namespace as the kernel holds it: every socket, in range or not, counted as sockstat
 * counts it; the builder is fed what a reader lists (in-range, unreserved ports only).
 */
class Namespace {
  readonly counts = { tcp4: 0, tcp6: 0, timeWait: 0, udp4: 0, udp6: 0 };
  readonly builder: PoolBuilder;
  readonly space: PortSpace;

  constructor(
    readonly range: PortRange,
    readonly reserved: readonly PortRange[] = [],
  ) {
    this.space = new PortSpace(range, reserved);
    this.builder = new PoolBuilder(this.space, { twReuse: 2, twReuseDelayMs: 1000, timestamps: 1 });
  }

  private address(text: string): number {
    const [a, b, c, d] = text.split('.').map(Number);
    return this.builder.addresses.ipv4(((a << 24) | (b << 16) | (c << 8) | d) >>> 0);
  }

  /** A TCP socket; `counted: false` for a SYN_RECV request, which sockstat does not count. */
  tcp(local: string, port: number, remote: string, remotePort: number, state: number, o: { ageMs?: number; v6?: boolean; counted?: boolean } = {}): void {
    if (o.counted !== false) {
      if (state === TcpState.TIME_WAIT) this.counts.timeWait++;
      else if (o.v6) this.counts.tcp6++;
      else this.counts.tcp4++;
    }
    if (this.space.usable[port] === 1) this.builder.tcp(this.address(local), port, this.address(remote), remotePort, state, o.ageMs ?? -1);
  }

  udp(port: number): void {
    this.counts.udp4++;
    if (this.space.usable[port] === 1) this.builder.udp(port, UdpState.UNCONNECTED);
  }

  verdict(t: Thresholds, limit = Infinity, selection = all): Verdict {
    const report = this.builder.finish({ tcp: selection.tcp, udp: selection.udp });
    return decide(report, rankPools(report, selection, t, limit), t);
  }

  bound(t: Thresholds, selection = all) {
    return boundNamespace({ counts: this.counts as SocketCounts, range: this.range, reserved: this.reserved }, { selection, thresholds: t });
  }
}

/** Asserts that no pool the check judges goes beyond the bound, nor does its state. */
function assertWithin(ns: Namespace, t: Thresholds, limit = Infinity, selection = all): Verdict {
  const b = ns.bound(t, selection);
  const v = ns.verdict(t, limit, selection);
  for (const j of [...v.judged, v.fresh]) {
    const pb = j.pool.protocol === 'tcp' ? b.tcp : b.udp;
    if (pb === null) continue;
    const what = `${j.pool.protocol} ${j.pool.remote}:${j.pool.remotePort}`;
    assert.ok(j.pool.usage <= pb.mostUsage + 1e-9, `${what}: usage ${j.pool.usage} > bound ${pb.mostUsage}`);
    assert.ok(j.pool.used <= pb.mostUsed, `${what}: used ${j.pool.used} > bound ${pb.mostUsed}`);
    assert.ok(j.pool.remaining >= pb.leastRemaining, `${what}: remaining ${j.pool.remaining} < bound ${pb.leastRemaining}`);
    const factor = j.pool.churn?.headroomFactor ?? null;
    if (factor !== null) assert.ok(b.tcp!.leastChurnHeadroom !== null && factor >= b.tcp!.leastChurnHeadroom - 1e-9, `${what}: churn headroom ${factor} < bound ${b.tcp!.leastChurnHeadroom}`);
  }
  assert.ok(SEVERITY[v.state] <= SEVERITY[b.state], `state ${State[v.state]} beyond the bound's ${State[b.state]}`);
  return v;
}

test('C: the range less reserved ports, overlapping spans and spans outside counted once', () => {
  assert.equal(usablePorts({ low: 100, high: 199 }, []), 100);
  assert.equal(usablePorts({ low: 100, high: 199 }, [{ low: 90, high: 109 }, { low: 105, high: 120 }, { low: 150, high: 150 }, { low: 300, high: 400 }, { low: 199, high: 250 }]), 100 - 21 - 1 - 1);
});

test('Nagios ranges over an interval of usage: above, below (10:), inside (@)', () => {
  assert.equal(alertsWithin(Range.parse('70'), 0, 70), false);
  assert.equal(alertsWithin(Range.parse('70'), 0, 70.1), true);
  assert.equal(alertsWithin(Range.parse('10:'), 0, 5), true); // usage 0 alerts below 10
  assert.equal(alertsWithin(Range.parse('@20:30'), 0, 19.9), false);
  assert.equal(alertsWithin(Range.parse('@20:30'), 0, 20), true);
  assert.equal(alertsWithin(Range.parse('~:50'), 0, 60), true);
  assert.equal(alertsWithin(Range.parse('~:50'), 0, 50), false);
});

test('all sockets in one tuple: the tuple reaches the bound exactly', () => {
  const ns = new Namespace({ low: 40000, high: 40099 });
  // connect()'s parity first, then the other: 70 of 100.
  const ports = [...Array.from({ length: 50 }, (_, i) => 40000 + 2 * i), ...Array.from({ length: 50 }, (_, i) => 40001 + 2 * i)];
  for (let i = 0; i < 70; i++) ns.tcp('127.0.0.1', ports[i], '10.0.0.5', 5432, TcpState.ESTABLISHED);
  const b = ns.bound(th());
  const v = assertWithin(ns, th());
  assert.equal(b.tcp!.leastRemaining, 30);
  assert.equal(v.judged[0].pool.remaining, 30);
  assert.equal(v.judged[0].pool.usage, b.tcp!.mostUsage);
  assert.equal(b.state, State.OK);
  // One socket more and 70% could be passed: the namespace is one to walk.
  ns.tcp('127.0.0.1', ports[70], '10.0.0.5', 5432, TcpState.ESTABLISHED);
  assert.equal(ns.bound(th()).state, State.WARNING);
  assert.equal(assertWithin(ns, th()).state, State.WARNING);
});

test('all sockets listeners in range: a new destination gets exactly C minus them', () => {
  const ns = new Namespace({ low: 40000, high: 40099 });
  for (let i = 0; i < 40; i++) ns.tcp('0.0.0.0', 40050 + i, '0.0.0.0', 0, TcpState.LISTEN);
  // With no tuple and no UDP pool judged, a new destination is the pool judged.
  const tcpOnly = { ...all, udp: false };
  const t = th('70', '90', { warningRemaining: 61 });
  const v = assertWithin(ns, t, Infinity, tcpOnly);
  assert.equal(v.fresh.pool.remaining, 60);
  assert.equal(ns.bound(t, tcpOnly).tcp!.leastRemaining, 60);
  assert.equal(v.state, State.WARNING);
  assert.equal(ns.bound(t, tcpOnly).state, State.WARNING);
  assert.equal(ns.bound(th('70', '90', { warningRemaining: 60 }), tcpOnly).state, State.OK);
});

test('all clients bound before connect (bind parity): every tuple loses them, and none beats the bound', () => {
  const ns = new Namespace({ low: 40000, high: 40099 });
  // Ten tuples of plain clients at connect()'s parity, and 20 bind()-first clients at odd offsets.
  for (let i = 0; i < 10; i++) ns.tcp('127.0.0.1', 40000 + 2 * i, `10.0.0.${i + 1}`, 80, TcpState.ESTABLISHED);
  for (let i = 0; i < 20; i++) ns.tcp('127.0.0.1', 40001 + 2 * i, '10.0.1.1', 80, TcpState.ESTABLISHED);
  const v = assertWithin(ns, th());
  assert.equal(v.report.bind.taken, 20);
  assert.equal(v.judged.find((j) => j.pool.remote === '10.0.0.1')!.pool.remaining, 100 - 20 - 1);
  // Only bind()-first clients, all of one tuple: usage (20 + 0) / (80 + 20), the bound's 20%.
  const only = new Namespace({ low: 40000, high: 40099 });
  for (let i = 0; i < 20; i++) only.tcp('127.0.0.1', 40001 + 2 * i, '10.0.1.1', 80, TcpState.ESTABLISHED);
  const w = assertWithin(only, th());
  assert.equal(w.judged[0].pool.usage, 20);
  assert.equal(only.bound(th()).tcp!.mostUsage, 20);
});

test('tiny, odd and reserved ranges: the bound keeps out of reach the port an odd range may lose', () => {
  const tiny = new Namespace({ low: 40000, high: 40001 });
  tiny.tcp('127.0.0.1', 40000, '10.0.0.5', 80, TcpState.ESTABLISHED);
  assertWithin(tiny, th());
  assert.equal(tiny.bound(th()).state, State.OK); // 1 of 2: 50%
  tiny.tcp('127.0.0.1', 40001, '10.0.0.5', 80, TcpState.ESTABLISHED);
  assert.equal(assertWithin(tiny, th()).state, State.CRITICAL);
  const odd = new Namespace({ low: 40000, high: 40100 });
  odd.tcp('127.0.0.1', 40000, '10.0.0.5', 80, TcpState.ESTABLISHED);
  assert.equal(odd.bound(th()).tcp!.leastRemaining, 101 - 1 - 1);
  assertWithin(odd, th());
  const reserved = new Namespace({ low: 40000, high: 40099 }, [{ low: 40000, high: 40089 }]);
  for (let i = 0; i < 5; i++) reserved.tcp('127.0.0.1', 40090 + 2 * i, '10.0.0.5', 80, TcpState.ESTABLISHED);
  // Sockets on reserved ports cost C nothing but still count: the bound stays safe.
  for (let i = 0; i < 5; i++) reserved.tcp('127.0.0.1', 40000 + i, '10.0.0.6', 80, TcpState.ESTABLISHED);
  assert.equal(reserved.bound(th()).tcp!.capacity, 10);
  assertWithin(reserved, th());
  const fullyReserved = new Namespace({ low: 40000, high: 40099 }, [{ low: 1, high: 65535 }]);
  assert.equal(fullyReserved.verdict(th()).state, State.CRITICAL); // a new destination gets 0 of 0: 100%
  assert.equal(fullyReserved.bound(th()).state, State.CRITICAL);
});

test('churn: the least headroom factor bounds every tuple\'s, and absolute thresholds count', () => {
  const ns = new Namespace({ low: 40000, high: 40199 });
  // 20 established, then 60 TIME_WAIT 30 s old (not reusable: not loopback), one tuple.
  for (let i = 0; i < 20; i++) ns.tcp('10.0.0.1', 40000 + 2 * i, '10.0.0.5', 80, TcpState.ESTABLISHED);
  for (let i = 0; i < 60; i++) ns.tcp('10.0.0.1', 40040 + 2 * i, '10.0.0.5', 80, TcpState.TIME_WAIT, { ageMs: 30_000 });
  const t = th('70', '90', { warningChurn: 3 });
  const v = assertWithin(ns, t);
  const b = ns.bound(t);
  assert.equal(v.judged[0].pool.churn!.headroomFactor, (120 + 60) / 60); // 3: not below 3
  assert.equal(b.tcp!.leastChurnHeadroom, 1 + 120 / 60);
  assert.equal(b.state, State.OK);
  assert.equal(v.state, State.OK);
  assert.equal(ns.bound(th('70', '90', { warningChurn: 3.01 })).state, State.WARNING);
  // With no TIME_WAIT at all there is no churn, whatever the threshold.
  const calm = new Namespace({ low: 40000, high: 40199 });
  calm.tcp('10.0.0.1', 40000, '10.0.0.5', 80, TcpState.ESTABLISHED);
  assert.equal(calm.bound(th('70', '90', { warningChurn: 1000, criticalChurn: 500 })).state, State.OK);
});

test('usage thresholds that alert low (10:, @0:5) make every namespace one to walk', () => {
  const ns = new Namespace({ low: 40000, high: 40999 });
  ns.tcp('10.0.0.1', 40000, '10.0.0.5', 80, TcpState.ESTABLISHED);
  assert.equal(ns.bound(th('10:', '90')).state, State.WARNING);
  assert.equal(assertWithin(ns, th('10:', '90')).state, State.WARNING);
  assert.equal(ns.bound(th('70', '@0:5')).state, State.CRITICAL);
});

test('UDP: the pool is host-wide; its bound is its sockets; --tcp and tuple filters leave it out', () => {
  const ns = new Namespace({ low: 40000, high: 40099 });
  for (let i = 0; i < 75; i++) ns.udp(40000 + i);
  const v = assertWithin(ns, th());
  assert.equal(v.judged[0].pool.protocol, 'udp');
  assert.equal(ns.bound(th()).udp!.mostUsage, 75);
  assert.equal(ns.bound(th()).state, State.WARNING);
  assert.equal(ns.bound(th(), { ...all, udp: false }).state, State.OK);
  assert.equal(ns.bound(th(), { ...all, remotePorts: [{ low: 80, high: 80 }] }).udp, null);
  // --udp alone judges no tcp pool, not even a new destination.
  assert.equal(ns.bound(th(), { ...all, tcp: false }).tcp, null);
});

test('IPv4 requests of a dual-stack IPv6 listener listed before it: uncounted, and within the bound', () => {
  const ns = new Namespace({ low: 40000, high: 40099 });
  // Ten listeners on [::]; before them (the IPv4 listing comes first), two tuples' SYN_RECV
  // requests on each of their ports: sockstat counts none of the requests.
  for (let p = 0; p < 10; p++) {
    ns.tcp('10.0.0.1', 40050 + 2 * p, '10.0.0.9', 33000, TcpState.SYN_RECV, { counted: false });
    ns.tcp('10.0.0.1', 40050 + 2 * p, '10.0.0.8', 33000, TcpState.SYN_RECV, { counted: false });
  }
  for (let p = 0; p < 10; p++) ns.tcp('0.0.0.0', 40050 + 2 * p, '0.0.0.0', 0, TcpState.LISTEN, { v6: true });
  const v = assertWithin(ns, th());
  // Each request tuple keeps its ten ports (one too many, the check's safe side): 100 - 10 - 10.
  assert.equal(v.judged[0].pool.remaining, 80);
  assert.equal(ns.bound(th()).tcp!.leastRemaining, 80);
});

test('500 random namespaces: no pool the check computes beats the bound, nor its state (--top 0 and --top 1)', () => {
  // The same namespaces every run (mulberry32).
  const rnd = new Random(25);
  const next = () => rnd.next();
  const pick = <T>(items: readonly T[]): T => rnd.pick(items);
  const thresholds = [th(), th('50', '60'), th('10:', '95'), th('@30:40', '99'), th('70', '90', { warningRemaining: 40, criticalRemaining: 10 }), th('70', '90', { warningChurn: 4, criticalChurn: 1.5 }), th('1', '2')];
  for (let round = 0; round < 500; round++) {
    const low = 40000 + Math.floor(next() * 3);
    const size = 2 + Math.floor(next() * 120);
    const reserved = next() < 0.3 ? [{ low: low + Math.floor(next() * size), high: low + Math.floor(next() * size) + 5 }].filter((s) => s.low <= s.high) : [];
    const ns = new Namespace({ low, high: low + size - 1 }, reserved);
    const port = () => (next() < 0.9 ? low + Math.floor(next() * (size + 4)) - 2 : 1000 + Math.floor(next() * 100));
    const taken = new Set<string>();
    // Listeners first chosen, so that requests sit on their ports, as they always do: an
    // IPv6 one listed after its IPv4 requests (the IPv4 listing comes first), an IPv4 one
    // before them (a listing shows its listeners first).
    const listeners = Array.from({ length: Math.floor(next() * 6) }, () => ({ port: port(), v6: next() < 0.5 })).filter((l) => !taken.has(`L${l.port}`) && taken.add(`L${l.port}`));
    const requests = (l: { port: number }) => {
      for (let r = Math.floor(next() * 4); r > 0; r--) ns.tcp('10.0.0.1', l.port, `10.0.0.${1 + Math.floor(next() * 4)}`, 80, TcpState.SYN_RECV, { counted: false });
    };
    for (const l of listeners) {
      if (l.v6) requests(l);
      else {
        ns.tcp('0.0.0.0', l.port, '0.0.0.0', 0, TcpState.LISTEN);
        requests(l);
      }
    }
    const sockets = Math.floor(next() * size * 1.2);
    for (let i = 0; i < sockets; i++) {
      const p = port();
      if (next() < 0.85) {
        const remote = `10.0.0.${1 + Math.floor(next() * 4)}`;
        const state = pick([TcpState.ESTABLISHED, TcpState.ESTABLISHED, TcpState.SYN_SENT, TcpState.TIME_WAIT, TcpState.FIN_WAIT2, TcpState.CLOSE_WAIT]);
        const local = pick(['127.0.0.1', '10.0.0.1']);
        const key = `${local} ${p} ${remote}`;
        if (taken.has(key)) continue; // a 4-tuple is unique
        taken.add(key);
        ns.tcp(local, p, remote, 80, state, { ageMs: state === TcpState.TIME_WAIT ? pick([500, 5000, 30_000]) : -1, v6: next() < 0.2 });
      } else if (!taken.has(`U${p}`)) {
        taken.add(`U${p}`);
        ns.udp(p);
      }
    }
    for (const l of listeners) if (l.v6) ns.tcp('0.0.0.0', l.port, '0.0.0.0', 0, TcpState.LISTEN, { v6: true });
    const t = pick(thresholds);
    const selection = pick([all, { ...all, udp: false }, { ...all, tcp: false }]);
    assertWithin(ns, t, pick([Infinity, 1]), selection);
  }
});

test('a namespace left unlisted is listed still when a pool of it could rank first', () => {
  const quiet = new Namespace({ low: 32768, high: 60999 });
  for (let i = 0; i < 1000; i++) quiet.tcp('127.0.0.1', 33000 + i, '10.0.0.5', 80, TcpState.ESTABLISHED);
  const b = quiet.bound(th());
  assert.equal(mayAlert(b), false);
  assert.equal(mayAlert(null), true, 'no counts, no bound: it is listed');
  const least = b.leastRemaining; // 28,232 - 1,000
  // A WARNING tuple listed elsewhere: nothing OK ranks before it.
  const warning = { state: State.WARNING, remaining: 10 };
  assert.equal(couldRankFirst(b, { worst: warning, worstTcp: warning }), false);
  // No TCP tuple listed anywhere: this one's would be the first (its churn is in perfdata).
  assert.equal(couldRankFirst(b, { worst: warning, worstTcp: null }), true);
  // An OK pool listed elsewhere with fewer ports left: it stays first.
  assert.equal(couldRankFirst(b, { worst: { state: State.OK, remaining: least - 1 }, worstTcp: { state: State.OK, remaining: least - 1 } }), false);
  // As many left (a tie) or more: this one could come first.
  assert.equal(couldRankFirst(b, { worst: { state: State.OK, remaining: least }, worstTcp: { state: State.OK, remaining: 0 } }), true);
  // The first TCP tuple too: a UDP pool first elsewhere leaves it open.
  assert.equal(couldRankFirst(b, { worst: { state: State.OK, remaining: 5 }, worstTcp: { state: State.OK, remaining: least + 1 } }), true);
  assert.equal(couldRankFirst(b, { worst: null, worstTcp: null }), true);
  // No TCP socket and no UDP pool judged: no pool at all.
  const empty = new Namespace({ low: 32768, high: 60999 });
  assert.equal(couldRankFirst(empty.bound(th(), { ...all, udp: false }), { worst: null, worstTcp: null }), false);
});

test('the worst listed: the worst state first, then the fewest ports left', () => {
  const a = new Namespace({ low: 40000, high: 40099 });
  for (let i = 0; i < 30; i++) a.tcp('127.0.0.1', 40000 + 2 * i, '10.0.0.5', 80, TcpState.ESTABLISHED);
  const b = new Namespace({ low: 40000, high: 40099 });
  for (let i = 0; i < 75; i++) b.udp(40000 + i);
  const listed = worstListed([a.verdict(th()), b.verdict(th())]);
  assert.deepEqual(listed.worst, { state: State.WARNING, remaining: 25 });
  assert.deepEqual(listed.worstTcp, { state: State.OK, remaining: 70 });
});

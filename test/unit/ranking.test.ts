import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressTable } from '../../src/model/address-table';
import { TcpState } from '../../src/model/records';
import type { Pool } from '../../src/pools/pool';
import type { PoolReport } from '../../src/pools/report';
import { Range } from '../../src/nagios/range';
import { comparePortText, mergeRanked, rankPools } from '../../src/verdict/ranking';
import type { Selection } from '../../src/verdict/selection';
import { judge, worstFirst, type Thresholds } from '../../src/verdict/judge';
import { Random } from '../fuzz';
import { addressId, builderFor } from './pools-of';

/** The suite's seeded generator (mulberry32, test/fuzz.ts), so a failure can be replayed. */
function random(seed: number): () => number {
  const r = new Random(seed);
  return () => r.next();
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

test('ports compare as their decimal texts do', () => {
  const rnd = random(1);
  const edges = [0, 1, 5, 9, 10, 43, 50, 80, 99, 100, 443, 500, 1000, 5432, 8080, 9999, 10000, 54320, 65535];
  const ports = [...edges, ...Array.from({ length: 300 }, () => Math.floor(rnd() * 65536))];
  for (const a of ports) for (const b of ports) assert.equal(Math.sign(comparePortText(a, b)), byText(String(a), String(b)), `${a} vs ${b}`);
});

test('addresses compare as their texts do, IPv4 without making text', () => {
  const rnd = random(2);
  const table = new AddressTable();
  const octet = () => [0, 1, 2, 9, 10, 19, 25, 99, 100, 127, 200, 255][Math.floor(rnd() * 12)];
  const texts = [
    ...Array.from({ length: 150 }, () => `${octet()}.${octet()}.${octet()}.${octet()}`),
    ...Array.from({ length: 60 }, () => `fd00::${Math.floor(rnd() * 0xffff).toString(16)}`),
    '::1',
    '::',
    '2001:db8::1',
    '::ffff:10.0.0.1', // folds to 10.0.0.1
  ];
  const ids = texts.map((t) => addressId(table, t));
  for (const a of ids) for (const b of ids) assert.equal(Math.sign(table.compareText(a, b)), byText(table.text(a), table.text(b)), `${table.text(a)} vs ${table.text(b)}`);
});

const everything: Selection = { tcp: true, udp: true, families: [4, 6], remote: null, local: null, remotePorts: [] };

/**
 * A random host: tuples of random sizes, IPv4 and IPv6, ties in usage on purpose. Every
 * other seed has connect()'s parity alone (no port at an odd offset: the parity pass is
 * skipped, and a tuple's key is its held ports'); every third has loopback IPv4 tuples, whose
 * old TIME_WAITs connect() would reuse, and one tuple with no other socket.
 */
function randomHost(seed: number): PoolReport {
  const rnd = random(seed);
  const evenOnly = seed % 2 === 0;
  const reusing = seed % 3 === 0;
  const b = builderFor(40000, 40299);
  for (let p = 40290; p <= 40299; p++) b.tcp(b.addresses.ipv4(0), p, b.addresses.ipv4(0), 0, TcpState.LISTEN, -1);
  const tuples = 1 + Math.floor(rnd() * 400);
  for (let i = 0; i < tuples; i++) {
    const v6 = rnd() < 0.2;
    const local = addressId(b.addresses, v6 ? `fd00::${1 + Math.floor(rnd() * 3)}` : `${reusing ? 127 : 10}.0.0.${1 + Math.floor(rnd() * 12)}`);
    // Few remote addresses half the time: tuples that differ only in the remote port.
    const few = rnd() < 0.5;
    const remote = addressId(b.addresses, v6 ? `fd00::${Math.floor(rnd() * (few ? 3 : 4000)).toString(16)}` : few ? `10.0.0.${Math.floor(rnd() * 3)}` : `10.${Math.floor(rnd() * 3)}.${Math.floor(rnd() * 20)}.${Math.floor(rnd() * 256)}`);
    const port = [80, 443, 5432, 8080, 9, 10000][Math.floor(rnd() * 6)];
    const used = rnd() < 0.5 ? 1 + Math.floor(rnd() * 3) : Math.floor(rnd() * (evenOnly ? 145 : 300));
    // Churn of every share, so that churn thresholds rank tuples of one size apart.
    const churn = rnd() < 0.5 ? 0.1 : rnd();
    for (let k = 0; k < used; k++) b.tcp(local, 40000 + (evenOnly ? 2 * k : k), remote, port, rnd() < churn ? TcpState.TIME_WAIT : TcpState.ESTABLISHED, reusing ? 5000 : 500);
  }
  if (reusing) for (const p of [40000, 40002]) b.tcp(addressId(b.addresses, '127.0.0.1'), p, addressId(b.addresses, '127.0.0.2'), 7, TcpState.TIME_WAIT, 5000);
  for (let k = 0; k < rnd() * 290; k++) b.udp(40000 + k, 7);
  return b.finish({ tcp: true, udp: true });
}

/** What the check did before tuples were typed arrays: every pool made, judged and sorted. */
function sortEverything(r: PoolReport, t: Thresholds): string[] {
  const pools: Pool[] = [];
  for (let i = 0; i < r.tuples.size; i++) if (r.tuples.sockets(i) > 0) pools.push(r.tuples.pool(i, r.capacity));
  if (r.udp) pools.push(r.udp);
  return pools.map((p) => judge(p, t)).sort(worstFirst).map(key);
}

function key(j: { pool: Pool; state: number }): string {
  return `${j.state} ${j.pool.protocol} ${j.pool.local} ${j.pool.remote} ${j.pool.remotePort} ${j.pool.used}`;
}

test('the bounded ranking keeps exactly the worst, in the order of a full sort, whatever the thresholds', () => {
  const thresholdSets: [string, string, number | null, number | null, number | null, number | null][] = [
    ['70', '90', null, null, null, null],
    ['@0:1', '@50:60', null, null, null, null], // inside ranges: low usage alerts, not monotone
    ['10:', '~:95', 250, 100, null, null],
    ['@0.3:0.7', '99', null, 285, null, null],
    ['70', '90', null, null, 3, 1.5], // churn: a tuple alerts by its TIME_WAIT, not its size
    ['95', '99', null, null, 12, null],
    ['@0:1', '99', 250, null, null, 2],
  ];
  for (let seed = 1; seed <= 40; seed++) {
    const r = randomHost(seed);
    for (const [w, c, wr, cr, wc, cc] of thresholdSets) {
      const t: Thresholds = { warning: Range.parse(w), critical: Range.parse(c), warningRemaining: wr, criticalRemaining: cr, warningChurn: wc, criticalChurn: cc };
      const full = sortEverything(r, t);
      for (const limit of [1, 2, 5, 17, Infinity]) {
        const ranked = rankPools(r, everything, t, limit);
        const tcp = full.filter((k) => k.includes(' tcp ')).slice(0, limit);
        const udp = full.filter((k) => k.includes(' udp '));
        assert.deepEqual(ranked.worst.map(key), full.filter((k) => tcp.includes(k) || udp.includes(k)), `seed ${seed}, ${w} ${c}, limit ${limit}`);
        assert.equal(ranked.selected, full.length);
        assert.equal(ranked.selectedTuples, full.length - 1);
      }
    }
  }
});

test('merged rankings keep the worst of each protocol and count every selected pool', () => {
  const t: Thresholds = { warning: Range.parse('70'), critical: Range.parse('90'), warningRemaining: null, criticalRemaining: null, warningChurn: null, criticalChurn: null };
  const a = rankPools(randomHost(7), everything, t, 3);
  const b = rankPools(randomHost(8), everything, t, 3);
  const merged = mergeRanked([a, b], 3);
  const expected = [...a.worst, ...b.worst].sort(worstFirst);
  assert.deepEqual(merged.worst.map(key), [...expected.filter((j) => j.pool.protocol === 'tcp').slice(0, 3), ...expected.filter((j) => j.pool.protocol === 'udp')].sort((x, y) => worstFirst(x, y)).map(key));
  assert.equal(merged.selected, a.selected + b.selected);
  assert.equal(merged.selectedTuples, a.selectedTuples + b.selectedTuples);
});

/**
 * Ground truth, the bound (docs/namespaces.md, "Which namespaces are listed"): real
 * namespaces under the check's own, as root. One with few sockets in a narrowed range, whose
 * counts could reach 70% (17 sockets for 20 ports) though its one tuple holds 8: it is
 * listed, and its remaining is the kernel's count of connect()s that still succeed. One
 * with as few in 1,000 ports, and the check's own: their counts cannot reach 70%, they are
 * not listed, and their bound leaves no more than the kernel allows a new destination.
 * Then the same sockets listed all (--walk all): the same state and worst pool.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ROOT, runInFreshNamespace } from '../helpers';
import { skip, type PoolJson, type Step } from './namespace';

const HERE = join(ROOT, 'test', 'groundtruth');
const tuple = (local: string, remote: string, port: number) => [local, remote, port] as const;
const range = (low: number, high: number): Step => ({ op: 'sysctl', values: { 'net.ipv4.ip_local_port_range': `${low} ${high}` } });

const OWN: Step[] = [range(46000, 46099), { op: 'listen', at: ['127.0.0.2', 5432] }, { op: 'connect', tuple: tuple('127.0.0.1', '127.0.0.2', 5432), n: 5 }];
const NAMESPACES = [
  { id: 'narrow', comm: 'cep-narrow', steps: [range(43000, 43019), { op: 'listen', at: ['127.0.0.5', 8000] }, { op: 'connect', tuple: tuple('127.0.0.1', '127.0.0.5', 8000), n: 8 }] as Step[] },
  { id: 'quiet', comm: 'cep-quiet', steps: [range(44000, 44999), { op: 'listen', at: ['127.0.0.2', 5432] }, { op: 'connect', tuple: tuple('127.0.0.1', '127.0.0.2', 5432), n: 30 }] as Step[] },
];
const ARGS = ['--namespaces', 'all', '--format', 'json', '--top', '0', '-t', '60'];
// The first is the one the kernel's counts follow.
const CHECKS = [
  { as: 'root', args: ARGS },
  { as: 'root', args: [...ARGS, '--walk', 'all'] },
];

type Bound = { status: string; tcp: { sockets: number; capacity: number; mostUsage: number; leastRemaining: number } };
interface AcrossJson {
  status: string;
  summary: string;
  namespaces: { inode: number; name: string; reading: string; status: string; bound: Bound }[];
  tuples: (PoolJson & { netns: number })[];
}
interface Result {
  holders: Record<string, { pid: number; inode: number }>;
  checks: { status: number; stdout: string; stderr: string }[];
  counts: Record<string, { tuples: { key: string; count: number }[]; fresh: number }>;
}

describe('the bound against the kernel', { skip }, () => {
  let result: Result;
  before(async () => {
    result = await runInFreshNamespace<Result>(join(HERE, 'netns.py'), { bundle: join(ROOT, 'dist', 'check_ephemeral_ports'), user: 'nobody', cgroup: null, own: OWN, namespaces: NAMESPACES, checks: CHECKS, countAfter: 1 }, { pids: true, timeoutMs: 240_000 });
  });
  const report = (i: number) => {
    assert.equal(result.checks[i].stderr, '');
    return JSON.parse(result.checks[i].stdout) as AcrossJson;
  };
  const inodeOf = (id: string) => result.holders[id].inode;

  test('a narrowed range with few sockets is listed, and its remaining is the kernel\'s count; the others are not', () => {
    const r = report(0);
    const byId = (id: string) => r.namespaces.find((n) => n.inode === inodeOf(id))!;
    // 17 sockets (8 connections, both ends, and a listener) for 20 ports: 85% at most.
    assert.deepEqual([byId('narrow').reading, byId('narrow').bound.status, byId('narrow').bound.tcp.sockets], ['listed', 'WARNING', 17]);
    const narrow = r.tuples.find((t) => t.netns === inodeOf('narrow') && t.protocol === 'tcp')!;
    assert.equal(narrow.remaining, 12);
    assert.deepEqual(result.counts.narrow.tuples, [{ key: '127.0.0.1 127.0.0.5 8000', count: 12 }], 'the kernel allowed 12 more connect()s');
    assert.equal(r.status, 'OK');
    assert.match(r.summary, /^worst tcp 127\.0\.0\.1 -> 127\.0\.0\.5:8000 in cep-narrow \(pid \d+\): 8\/20 ports used \(40\.0%\), 12 left; 2 namespaces below 11\.1% by their socket counts$/);
    // 61 sockets in 1,000 ports, and the check's own 11 in 100: not listed, and no tuple
    // of theirs could have fewer ports left than their bound, nor a new one than the kernel allows.
    for (const [id, sockets] of [['quiet', 61], ['own', 11]] as const) {
      const inode = id === 'own' ? r.namespaces.find((n) => n.name === 'host')?.inode : inodeOf(id);
      const ns = r.namespaces.find((n) => n.inode === inode)!;
      assert.deepEqual([ns.reading, ns.status, ns.bound.tcp.sockets], ['bounded', 'OK', sockets], id);
      assert.ok(ns.bound.tcp.leastRemaining <= result.counts[id].fresh, `${id}: ${ns.bound.tcp.leastRemaining} <= ${result.counts[id].fresh}`);
    }
    assert.equal(r.tuples.some((t) => t.netns === inodeOf('quiet')), false, 'nothing of it listed');
  });

  test('listed all, the same sockets give the same state and worst pool', () => {
    const [bounded, all] = [report(0), report(1)];
    assert.equal(all.status, bounded.status);
    assert.deepEqual(all.tuples[0], bounded.tuples[0]);
    assert.ok(bounded.summary.startsWith(all.summary));
    assert.ok(all.namespaces.every((n) => n.reading === 'listed'));
  });
});

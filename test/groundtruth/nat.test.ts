/**
 * Ground truth, source NAT (--nat): a router namespace translating two client namespaces
 * towards a server namespace (nat.py builds them inside private pid and mount namespaces),
 * with iptables-nft, iptables-legacy and nft rules. The check runs inside the router as
 * root with both conntrack readers (--source proc: /proc/net/nf_conntrack; --source ss:
 * the conntrack program); the expectation is the kernel's own count of connections that
 * still go through to each destination before one times out. The scenarios run side by
 * side, each in namespaces of its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BUNDLE, commandMissing, ROOT, skipUnless } from '../helpers';
import { skip as noGroundTruth } from './namespace';

const SCRIPT = join(ROOT, 'test', 'groundtruth', 'nat.py');
const skip = noGroundTruth || skipUnless(commandMissing('iptables-nft', 'iptables-legacy', 'nft', 'conntrack'));

type Endpoint = [address: string, port: number];
interface Scenario {
  rules: 'iptables-nft' | 'iptables-legacy' | 'nft';
  ports: [number, number] | null;
  routerRange?: [number, number];
  connect: { from: 'c1' | 'c2' | 'router'; to: Endpoint; n: number }[];
  checks: (string[] | { outside: string[] })[];
  count: { from: 'c1' | 'c2'; to: Endpoint; max: number }[];
}
interface NatPoolJson {
  protocol: string;
  natAddress: string;
  remote: string;
  remotePort: number;
  used: number;
  capacity: number;
  remaining: number;
  usage: number;
  status: string;
  range: { low: number; high: number; size: number };
  rangeFrom: 'ruleset' | 'option' | 'assumed';
  netns: number | null;
}
interface Result {
  checks: { args: string[]; status: number; stdout: string; stderr: string }[];
  counts: number[];
  connected: number[];
  refused: { insert_failed: number; drop: number };
}

function drive(scenario: Scenario): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['--net', '--pid', '--mount', '--fork', '--mount-proc', 'python3', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`nat.py exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as Result);
    });
    child.stdin.end(JSON.stringify({ bundle: BUNDLE, timeout: 1, ...scenario }));
  });
}

const READERS = [
  ['--nat', '--format', 'json', '--source', 'proc'],
  ['--nat', '--format', 'json', '--source', 'ss'],
];
const TO_5432: Endpoint = ['10.2.0.2', 5432];
const OTHER: Endpoint = ['10.2.0.3', 5432];

/** The router's own connections first (their ports come from its range, inside the NAT range), then the clients'. */
function filled(rules: Scenario['rules']): Scenario {
  return {
    rules,
    ports: [40000, 40049],
    routerRange: [40000, 40049],
    connect: [
      { from: 'router', to: TO_5432, n: 5 },
      { from: 'c1', to: TO_5432, n: 20 },
      { from: 'c2', to: TO_5432, n: 10 },
      { from: 'c2', to: OTHER, n: 4 },
    ],
    checks: [...READERS, ['--nat', '-w', '60'], { outside: ['--namespaces', 'all', '--nat', '--format', 'json'] }],
    count: [
      { from: 'c1', to: TO_5432, max: 60 },
      { from: 'c2', to: OTHER, max: 60 },
    ],
  };
}

const natOf = (stdout: string): NatPoolJson[] => (JSON.parse(stdout) as { nat: NatPoolJson[] }).nat;
const pool = (pools: NatPoolJson[], [remote, port]: Endpoint) => pools.find((p) => p.remote === remote && p.remotePort === port);

describe('source NAT pools against the kernel', { skip }, () => {
  // Side by side: each scenario waits on its connects' timeouts, not on the CPU.
  const runs = skip ? null : {
    nft: drive(filled('nft')),
    legacy: drive(filled('iptables-legacy')),
    iptablesNft: drive(filled('iptables-nft')),
    defaults: drive({
      rules: 'iptables-nft',
      ports: null,
      connect: [{ from: 'c1', to: TO_5432, n: 3 }],
      checks: [...READERS, ['--nat', '--nat-range', '40000-40999', '--format', 'json']],
      count: [],
    }),
  };

  for (const name of ['nft', 'legacy', 'iptablesNft'] as const) {
    test(`${name}: each pool's remaining is what still goes through; the router's own connections count; two destinations, two pools`, async () => {
      const r = await runs![name];
      assert.deepEqual(r.connected, [5, 20, 10, 4]);
      const [viaProc, viaProgram, text] = r.checks;
      for (const check of [viaProc, viaProgram]) assert.equal(check.stderr, '');
      const pools = natOf(viaProc.stdout);
      const main = pool(pools, TO_5432)!;
      const other = pool(pools, OTHER)!;
      assert.deepEqual({ ...main, remaining: undefined }, { protocol: 'tcp', natAddress: '10.2.0.1', remote: '10.2.0.2', remotePort: 5432, used: 35, capacity: 50, remaining: undefined, usage: 70, status: 'OK', state: 0, range: { low: 40000, high: 40049, size: 50 }, rangeFrom: 'ruleset', netns: null });
      // The kernel's count: 50 - 30 translated - 5 of the router's own, untranslated.
      assert.deepEqual([main.remaining, other.remaining], r.counts);
      assert.deepEqual(r.counts, [15, 46]);
      // Both readers, the same pools.
      assert.deepEqual(natOf(viaProgram.stdout), pools);
      assert.equal(pools.length, 2);
      // The NAT pool, with fewer ports left than any tuple, names the state and the summary.
      assert.equal(text.status, 1);
      assert.match(text.stdout, /^EPHEMERAL PORTS WARNING - worst nat tcp 10\.2\.0\.1 -> 10\.2\.0\.2:5432: 35\/50 ports used \(70\.0% > 60\), 15 left\n/);
      assert.match(text.stdout, / nat_worst_usage=70%;60;90;0;100 nat_worst_remaining=15;;;0;50 nat_insert_failed=0;;;0\n$/);
      // From outside, --namespaces all finds the router and reads it the same way, through nsenter.
      const across = JSON.parse(r.checks[3].stdout) as { nat: NatPoolJson[]; namespaces: { inode: number; name: string }[] };
      const router = across.nat.map((p) => p.netns);
      assert.equal(new Set(router).size, 1);
      assert.ok(across.namespaces.some((ns) => ns.inode === router[0]));
      assert.deepEqual(across.nat.map((p) => ({ ...p, netns: null })), pools);
      // Nothing was refused before the check; the counts' last connects were, and counted.
      assert.ok(r.refused.insert_failed >= 2, `insert_failed ${r.refused.insert_failed}`);
    });
  }

  test('a rule without ports: the default class of 64,512, read from the rules; --nat-range states another', async () => {
    const r = await runs!.defaults;
    const [viaProc, viaProgram, option] = r.checks;
    const pools = natOf(viaProc.stdout);
    assert.deepEqual(pools.map((p) => [p.remote, p.remotePort, p.used, p.capacity, p.remaining, p.range.low, p.range.high, p.rangeFrom]), [['10.2.0.2', 5432, 3, 64512, 64509, 1024, 65535, 'ruleset']]);
    assert.deepEqual(natOf(viaProgram.stdout), pools);
    const stated = natOf(option.stdout)[0];
    assert.equal(stated.rangeFrom, 'option');
    assert.equal(stated.capacity, 1000);
  });
});

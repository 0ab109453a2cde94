/**
 * Ground truth, --namespaces: three private namespaces under the check's own, each held by
 * processes the test started, differing in range, reserved ports, listeners, tuples and
 * TIME_WAIT; one in a cgroup shaped like a Kubernetes pod's, one bound to a /run/netns name.
 * The check runs from the namespace above them (its own private one, with a private /proc:
 * nothing else of the machine is seen) as root, with both socket sources, and as an
 * unprivileged user. The expectations are the kernel's connect() counts inside each
 * namespace (netns.py); for the unprivileged run, what the check computes for each
 * namespace after its sysctls were set to the kernel defaults it assumes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, runInFreshNamespace, skipUnless, stageForOtherUser, type Staged } from '../helpers';
import { skip, type PoolJson, type Step } from './namespace';

const HERE = join(ROOT, 'test', 'groundtruth');
const USER = 'cep_netns';
const POD_UID = '5e0c9a4d-7b1f-4e2a-9c3d-8f6b2a1e0d47';
const NAMED = 'cep_netns_named';

interface NamespaceSpec {
  id: string;
  comm: string;
  steps: Step[];
  userConnects?: [tuple: readonly [string, string, number], n: number][];
  pod?: string;
  name?: string;
  defaults?: boolean;
}

interface NamespaceJson {
  inode: number | null;
  name: string;
  status: string;
  settings: 'read' | 'assumed';
  capacity: number;
  optimisticCapacity: number;
  bindTaken: number;
  bindSkipped: string | null;
  range: { low: number; high: number; size: number };
  reserved: number;
  kernel: { socketSource: string; assumptions: string[] };
}
interface OwnersJson { visible: 'all' | 'own'; complete: boolean; processes: { pid: number; command: string; user: string; sockets: number }[]; unseen: number; ownerless: number }
type TupleJson = PoolJson & { netns: number | null; namespace: string; owners?: OwnersJson };
interface AcrossJson {
  status: string;
  summary: string;
  root: boolean;
  namespaces: NamespaceJson[];
  unchecked: unknown[];
  gone: unknown[];
  tuples: TupleJson[];
}
interface Run { as: string; args: string[]; status: number; stdout: string; stderr: string }
interface Holder { pid: number; uid: number; inode: number; user?: { pid: number; uid: number; inode: number }; cgroup?: string }
interface Counts { tuples: { key: string; count: number }[]; fresh: number; udp: number; usable: number }
interface Result { holders: Record<string, Holder>; checks: Run[]; counts: Record<string, Counts>; defaults: Record<string, Run> }

const tuple = (local: string, remote: string, port: number) => [local, remote, port] as const;
const range = (low: number, high: number): Step => ({ op: 'sysctl', values: { 'net.ipv4.ip_local_port_range': `${low} ${high}` } });

const OWN: Step[] = [range(45000, 45099), { op: 'listen', at: ['127.0.0.2', 5432] }, { op: 'connect', tuple: tuple('127.0.0.1', '127.0.0.2', 5432), n: 10 }];

const NAMESPACES: NamespaceSpec[] = [
  {
    id: 'pod',
    comm: 'cep-pod',
    pod: POD_UID,
    defaults: true,
    steps: [
      range(40000, 40199),
      { op: 'sysctl', values: { 'net.ipv4.ip_local_reserved_ports': '40010,40020-40023' } },
      { op: 'listen', at: ['127.0.0.2', 5432] },
      { op: 'listen', at: ['127.0.0.3', 6379] },
      { op: 'listen', at: ['127.0.0.9', 40100] },
      { op: 'connect', tuple: tuple('127.0.0.1', '127.0.0.2', 5432), n: 150 },
    ],
    userConnects: [[tuple('127.0.0.1', '127.0.0.3', 6379), 30]],
  },
  {
    id: 'named',
    comm: 'cep-named',
    name: NAMED,
    defaults: true,
    steps: [
      range(41000, 41149),
      { op: 'sysctl', values: { 'net.ipv4.tcp_tw_reuse': 0 } },
      { op: 'listen', at: ['127.0.0.2', 5432] },
      { op: 'listen', at: ['::1', 5432] },
      { op: 'timeWait', tuple: tuple('127.0.0.1', '127.0.0.2', 5432), n: 20 },
      { op: 'connect', tuple: tuple('::1', '::1', 5432), n: 25 },
    ],
    userConnects: [[tuple('127.0.0.1', '127.0.0.2', 5432), 40]],
  },
  {
    // Root's processes only: an unprivileged check cannot read its ns/net link, nor so tell
    // that /run/netns/cep_netns_plain is this namespace (it must not count it twice).
    id: 'plain',
    comm: 'cep-plain',
    name: 'cep_netns_plain',
    defaults: true,
    steps: [range(42000, 42099), { op: 'listen', at: ['127.0.0.4', 7000] }, { op: 'fill', tuple: tuple('127.0.0.1', '127.0.0.4', 7000) }],
  },
];

// -t 60: these runs are about the figures; a loaded machine must not leave a namespace unread.
// --walk all: they are about every namespace's figures, which only a listing gives; the
// bound's runs (at the end) are compared with listings of all made just before them.
const JSON_ALL = ['--namespaces', 'all', '--walk', 'all', '--format', 'json', '--top', '0', '-t', '60'];
const TEXT_ALL = ['--namespaces', 'all', '--walk', 'all', '--top', '0', '-t', '60'];
const AT_RISK = (args: string[]) => args.filter((a, i) => a !== '--walk' && args[i - 1] !== '--walk');
const CHECKS = [
  { as: 'root', args: [...JSON_ALL, '--source', 'ss'] },
  { as: 'root', args: [...JSON_ALL, '--source', 'proc'] },
  { as: 'root', args: ['--namespaces', 'all', '--walk', 'all', '--format', 'prometheus', '--top', '0', '--source', 'ss', '-t', '60'] },
  { as: 'user', args: JSON_ALL },
  { as: 'user', args: [...JSON_ALL, '--source', 'proc'] },
  { as: 'root', args: ['--namespaces', 'all', '--walk', 'all', '-v', '--top', '0', '-t', '60'] },
  { as: 'root', args: ['--namespaces', NAMED, '--walk', 'all', '--format', 'json', '--top', '0', '-t', '60'] },
  { as: 'root', args: ['--namespaces', '{pid:plain}', '--walk', 'all', '--format', 'json', '--top', '0', '-t', '60'] },
  { as: 'user', args: [...JSON_ALL, '--owners'] },
  { as: 'root', args: [...JSON_ALL, '--owners'] },
  // Without --namespaces: the check's own namespace, as always, and its owners.
  { as: 'root', args: ['--format', 'json', '--top', '0', '--owners', '-t', '60'] },
  { as: 'user', args: ['--format', 'json', '--top', '0', '--owners', '-t', '60'] },
  // The bound (--walk at-risk, the default), each right after a listing of all: 12-17.
  { as: 'root', args: JSON_ALL },
  { as: 'root', args: AT_RISK(JSON_ALL) },
  { as: 'user', args: JSON_ALL },
  { as: 'user', args: AT_RISK(JSON_ALL) },
  { as: 'root', args: TEXT_ALL },
  { as: 'root', args: AT_RISK(TEXT_ALL) },
];
/** Pairs of CHECKS: a listing of every namespace, then the same run with the bound. */
const BOUND_PAIRS = [[12, 13], [14, 15], [16, 17]] as const;
const PROMTOOL = '/usr/bin/promtool';

/** The cgroup v2 mount, if this machine has one we may write to. */
function cgroup2(): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash > 0 && fields[dash + 1] === 'cgroup2' && fields[4] !== undefined) return fields[4];
  }
  return undefined;
}

const key = (t: { local: string; remote: string; remotePort: number | null }) => `${t.local} ${t.remote} ${t.remotePort}`;
const SEVERITY = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 } as const;

describe('--namespaces against the kernel', { skip }, () => {
  let result: Result;
  let createdUser = false;
  let slice: string | undefined;
  let staged: Staged | undefined;
  const cgroupRoot = cgroup2();

  before(async () => {
    // The bundle and the scripts where the unprivileged user can read them (the clone may
    // sit in a directory only root can enter).
    staged = stageForOtherUser('cep-netns');
    for (const name of ['netns.py', 'sockets.py']) copyFileSync(join(HERE, name), join(staged.dir, name));
    if (spawnSync('id', ['-u', USER]).status !== 0) {
      const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      createdUser = true;
    }
    if (cgroupRoot !== undefined) {
      slice = join(cgroupRoot, `cep_netns_${process.pid}.slice`);
      try {
        mkdirSync(slice);
      } catch {
        slice = undefined;
      }
    }
    // The kernel counts right after the three root checks that it must agree with.
    result = await runInFreshNamespace<Result>(join(staged.dir, 'netns.py'), { bundle: staged.bundle, user: USER, cgroup: slice ?? null, own: OWN, namespaces: NAMESPACES, checks: CHECKS, countAfter: 3 }, { pids: true, timeoutMs: 240_000 });
  });
  after(() => {
    staged?.remove();
    if (slice !== undefined) rmdirSync(slice);
    if (createdUser) spawnSync('userdel', [USER]);
  });

  const report = (i: number) => {
    const run = result.checks[i];
    assert.equal(run.stderr, '', `check ${i} stderr`);
    return JSON.parse(run.stdout) as AcrossJson;
  };
  const ids = () => ['own', ...NAMESPACES.map((n) => n.id)];
  const inodeOf = (id: string) => result.holders[id].inode;
  const nsOf = (r: AcrossJson, id: string) => r.namespaces.find((n) => n.inode === inodeOf(id));

  /** Every figure of a root report against the kernel's counts in each namespace. */
  function agreesWithKernel(r: AcrossJson, what: string) {
    assert.equal(r.root, true);
    assert.deepEqual(r.unchecked, [], what);
    assert.deepEqual(r.namespaces.map((n) => n.inode).sort(), ids().map(inodeOf).sort(), `${what}: exactly the namespaces the test made, and its own`);
    for (const id of ids()) {
      const ns = nsOf(r, id)!;
      const counts = result.counts[id];
      assert.equal(ns.settings, 'read', `${what} ${id}`);
      assert.equal(ns.capacity, counts.fresh, `${what} ${id}: capacity against a fresh tuple's connect() count`);
      const tuples = r.tuples.filter((t) => t.netns === ns.inode);
      const tcp = tuples.filter((t) => t.protocol === 'tcp');
      assert.deepEqual(tcp.map(key), counts.tuples.map((c) => c.key), `${what} ${id}: the tuples counted are those reported`);
      tcp.forEach((t, i) => assert.equal(t.remaining, counts.tuples[i].count, `${what} ${id} ${key(t)}: the kernel allowed ${counts.tuples[i].count} more`));
      const udp = tuples.find((t) => t.protocol === 'udp');
      assert.equal(udp?.remaining, counts.udp, `${what} ${id}: udp`);
      assert.equal(udp?.capacity, counts.usable, `${what} ${id}: usable ports`);
      assert.ok(tuples.every((t) => t.namespace === ns.name));
    }
  }

  test('as root, ss through nsenter: every tuple\'s remaining and every namespace\'s capacity are the kernel\'s counts', () => {
    const r = report(0);
    agreesWithKernel(r, 'ss');
    assert.ok(r.namespaces.every((n) => n.kernel.socketSource === 'ss'));
    // The netns of a tuple is the inode `stat -L /proc/PID/ns/net` gives.
    for (const id of NAMESPACES.map((n) => n.id)) assert.ok(r.tuples.some((t) => t.netns === inodeOf(id)), id);
    // The sysctls are each namespace's own.
    assert.deepEqual(['pod', 'named', 'plain'].map((id) => { const n = nsOf(r, id)!; return [n.range.low, n.range.high, n.reserved]; }), [[40000, 40199, 5], [41000, 41149, 0], [42000, 42099, 0]]);
  });

  test('as root, /proc/PID/net: the same answer', () => {
    const ss = report(0);
    const proc = report(1);
    agreesWithKernel(proc, 'proc');
    const sameBut = (r: AcrossJson) => ({ ...r, namespaces: r.namespaces.map((n) => ({ ...n, kernel: { ...n.kernel, socketSource: undefined } })) });
    assert.deepEqual(sameBut(proc), sameBut(ss));
  });

  test('the state is the worst namespace\'s, and the exhausted tuple is CRITICAL', () => {
    const r = report(0);
    const plain = r.tuples.find((t) => t.netns === inodeOf('plain') && t.protocol === 'tcp');
    assert.equal(plain?.remaining, 0);
    assert.equal(plain?.status, 'CRITICAL');
    const worst = r.namespaces.reduce((w, n) => Math.max(w, SEVERITY[n.status as keyof typeof SEVERITY]), 0);
    assert.equal(SEVERITY[r.status as keyof typeof SEVERITY], worst);
    assert.equal(result.checks[0].status, 2);
    assert.match(r.summary, /^worst tcp 127\.0\.0\.1 -> 127\.0\.0\.4:7000 in netns cep_netns_plain: 100\/100 ports used/);
  });

  test('names: host, the pod from its cgroup, the /run/netns name, else process and pid', { skip: skipUnless(cgroupRoot === undefined ? 'no cgroup v2 mount here' : false) }, () => {
    const r = report(0);
    const names = Object.fromEntries(ids().map((id) => [id, nsOf(r, id)!.name]));
    assert.deepEqual(names, {
      own: 'host',
      pod: result.holders.pod.cgroup ? `pod ${POD_UID}` : `cep-pod (pid ${result.holders.pod.pid})`,
      named: `netns ${NAMED}`,
      plain: 'netns cep_netns_plain',
    });
    // Without a name or a container, a process name and pid: the unprivileged run, which
    // cannot tie the plain namespace to its name.
    assert.ok(report(3).namespaces.some((n) => n.name === `cep-plain (pid ${result.holders.plain.pid})`));
    assert.ok(result.holders.pod.cgroup, 'the pod-shaped cgroup was made');
  });

  test('text: every detail line says which namespace', () => {
    const run = result.checks[5];
    assert.equal(run.stderr, '');
    assert.equal(run.status, 2);
    const lines = run.stdout.split('\n').filter((l) => l.startsWith('['));
    assert.ok(lines.length >= 8, run.stdout);
    for (const line of lines) assert.match(line, /^\[(OK|WARNING|CRITICAL)\] (host|pod [0-9a-f-]+|netns cep_netns_(named|plain)): (tcp|udp) /);
  });

  test('one namespace chosen by /run/netns name, or by pid', () => {
    const byName = report(6);
    assert.deepEqual(byName.namespaces.map((n) => [n.inode, n.name]), [[inodeOf('named'), `netns ${NAMED}`]]);
    const byPid = report(7);
    assert.deepEqual(byPid.namespaces.map((n) => n.inode), [inodeOf('plain')]);
    assert.deepEqual(byPid.tuples.map((t) => [key(t), t.remaining]), report(0).tuples.filter((t) => t.netns === inodeOf('plain')).map((t) => [key(t), t.remaining]));
  });

  for (const [i, source] of [[3, 'auto'], [4, 'proc']] as const) {
    test(`unprivileged (--source ${source}): other namespaces are assumed at the defaults, judged as at the defaults, no port bind()'s`, () => {
      const r = report(i);
      assert.equal(r.root, false);
      assert.deepEqual(r.unchecked, []);
      // Each namespace once: the one whose processes are all root's is placed by its tables.
      assert.equal(r.namespaces.length, 4);
      assert.deepEqual(r.namespaces.filter((n) => n.inode === null).map((n) => n.name), [`cep-plain (pid ${result.holders.plain.pid})`]);
      // Its own namespace: read, and the kernel's counts.
      const own = nsOf(r, 'own')!;
      assert.equal(own.settings, 'read');
      assert.equal(own.capacity, result.counts.own.fresh);
      assert.deepEqual(r.tuples.filter((t) => t.netns === own.inode && t.protocol === 'tcp').map((t) => t.remaining), result.counts.own.tuples.map((c) => c.count));
      for (const spec of NAMESPACES) {
        const ns = spec.id === 'plain' ? r.namespaces.find((n) => n.inode === null)! : nsOf(r, spec.id)!;
        assert.equal(ns.settings, 'assumed', spec.id);
        assert.deepEqual([ns.range.low, ns.range.high], [32768, 60999], spec.id);
        assert.match(ns.kernel.assumptions.join(' '), /settings assumed: the kernel defaults of a new namespace/);
        assert.equal(ns.kernel.socketSource, 'proc', 'other namespaces: /proc/PID/net without root');
        // What the check computes for the same sockets once the namespace has the defaults,
        // read as root: the parity rule then applies, against a low end that was not the
        // one these ports were taken from.
        const d = JSON.parse(result.defaults[spec.id].stdout) as AcrossJson;
        const dns = d.namespaces[0];
        assert.equal(dns.settings, 'read');
        assert.deepEqual([dns.range.low, dns.range.high], [32768, 60999]);
        // Assumed, no port is bind()'s: each tuple has the figure of its own sockets (the
        // optimistic one), never below it, whatever the parity claims at the defaults.
        assert.deepEqual([ns.bindTaken, ns.bindSkipped], [0, 'range assumed'], spec.id);
        assert.equal(ns.capacity, dns.optimisticCapacity, `${spec.id}: capacity (the parity read as root claims ${dns.bindTaken} bind()-taken ports)`);
        const mine = r.tuples.filter((t) => t.netns === ns.inode);
        for (const t of mine.filter((t) => t.protocol === 'tcp')) {
          assert.deepEqual([t.bindTaken, t.remaining], [0, t.optimisticRemaining], `${spec.id} ${key(t)}`);
        }
        const own = (t: TupleJson) => [t.protocol, key(t), t.protocol === 'tcp' ? t.optimisticRemaining : t.remaining, t.protocol === 'tcp' ? dns.optimisticCapacity : t.capacity];
        // (Sorted: the two rank their tuples by different figures.)
        assert.deepEqual(mine.map((t) => [t.protocol, key(t), t.remaining, t.capacity]).sort(), d.tuples.filter((t) => t.netns === dns.inode).map(own).sort(), `${spec.id}: tuples`);
      }
      // A non-default range changes the figure: the pod's real capacity is 194; assumed, it
      // is that of the default range (28,232 less a listener in it).
      assert.equal(report(0).namespaces.find((n) => n.inode === inodeOf('pod'))?.capacity, 194);
      assert.ok(nsOf(r, 'pod')!.capacity > 28000, String(nsOf(r, 'pod')?.capacity));
    });
  }

  /** The processes the test started, as the check should name them. */
  const started = () => {
    const h = result.holders;
    return {
      pod: { pid: h.pod.pid, command: 'cep-pod', user: 'root' },
      podUser: { pid: h.pod.user!.pid, command: 'cep-pod-u', user: USER },
      namedUser: { pid: h.named.user!.pid, command: 'cep-named-u', user: USER },
      named: { pid: h.named.pid, command: 'cep-named', user: 'root' },
      plain: { pid: h.plain.pid, command: 'cep-plain', user: 'root' },
    };
  };
  const ownersOf = (r: AcrossJson, id: string, k: string) => r.tuples.find((t) => t.netns === inodeOf(id) && key(t) === k)?.owners;

  test('owners: the WARNING and CRITICAL tuples name the processes the test started; the others only when asked', () => {
    const p = started();
    const r = report(0);
    assert.deepEqual(ownersOf(r, 'pod', '127.0.0.1 127.0.0.2 5432'), { visible: 'all', complete: true, processes: [{ ...p.pod, sockets: 150 }], unseen: 0, ownerless: 0 });
    assert.deepEqual(ownersOf(r, 'plain', '127.0.0.1 127.0.0.4 7000'), { visible: 'all', complete: true, processes: [{ ...p.plain, sockets: 100 }], unseen: 0, ownerless: 0 });
    for (const t of r.tuples) assert.equal(t.owners !== undefined, t.status === 'WARNING' || t.status === 'CRITICAL', `${key(t)} ${t.status}`);
    // --owners: every listed tuple; TIME_WAIT has no owner.
    const all = report(9);
    assert.deepEqual(ownersOf(all, 'pod', '127.0.0.1 127.0.0.3 6379')?.processes, [{ ...p.podUser, sockets: 30 }]);
    // (Its TIME_WAITs may have expired by now, 60 s after they were made: ownerless are as many as it still shows.)
    const tw = all.tuples.find((t) => t.netns === inodeOf('named') && key(t) === '127.0.0.1 127.0.0.2 5432')?.states.TIME_WAIT ?? 0;
    assert.deepEqual(ownersOf(all, 'named', '127.0.0.1 127.0.0.2 5432'), { visible: 'all', complete: true, processes: [{ ...p.namedUser, sockets: 40 }], unseen: 0, ownerless: tw });
    assert.deepEqual(ownersOf(all, 'named', '::1 ::1 5432')?.processes, [{ ...p.named, sockets: 25 }]);
    assert.deepEqual(ownersOf(all, 'own', '127.0.0.1 127.0.0.2 5432')?.processes, [{ pid: 1, command: 'python3', user: 'root', sockets: 10 }]);
    // -v names them in the text.
    assert.match(result.checks[5].stdout, new RegExp(`\\[WARNING\\] pod ${POD_UID}: tcp 127\\.0\\.0\\.1 -> 127\\.0\\.0\\.2:5432: .*; held by cep-pod \\(pid ${p.pod.pid}, user root\\) 150\\n`));
  });

  test('owners, unprivileged: its own processes are named, the others\' sockets counted as not visible', () => {
    const p = started();
    const r = report(8);
    assert.deepEqual(ownersOf(r, 'pod', '127.0.0.1 127.0.0.3 6379'), { visible: 'own', complete: true, processes: [{ ...p.podUser, sockets: 30 }], unseen: 0, ownerless: 0 });
    assert.deepEqual(ownersOf(r, 'pod', '127.0.0.1 127.0.0.2 5432'), { visible: 'own', complete: true, processes: [], unseen: 150, ownerless: 0 });
    assert.deepEqual(ownersOf(r, 'named', '127.0.0.1 127.0.0.2 5432')?.processes, [{ ...p.namedUser, sockets: 40 }]);
  });

  test('owners without --namespaces: the check\'s own namespace, root and unprivileged', () => {
    const single = (i: number) => (JSON.parse(result.checks[i].stdout) as { tuples: TupleJson[] }).tuples.find((t) => key(t) === '127.0.0.1 127.0.0.2 5432')?.owners;
    assert.deepEqual(single(10), { visible: 'all', complete: true, processes: [{ pid: 1, command: 'python3', user: 'root', sockets: 10 }], unseen: 0, ownerless: 0 });
    assert.deepEqual(single(11), { visible: 'own', complete: true, processes: [], unseen: 10, ownerless: 0 });
    assert.equal('netns' in JSON.parse(result.checks[10].stdout).tuples[0], false, 'no namespace fields without --namespaces');
  });

  test('--format prometheus: netns on every tuple and per namespace, the JSON\'s figures, and promtool accepts it', { skip: skipUnless(existsSync(PROMTOOL) ? false : `${PROMTOOL} missing`) }, () => {
    const run = result.checks[2];
    assert.equal(run.stderr, '');
    const lint = spawnSync(PROMTOOL, ['check', 'metrics'], { input: run.stdout, encoding: 'utf8' });
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    const samples = run.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
      const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(l)!;
      return { name: m[1], labels: Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]])), value: Number(m[3]) };
    });
    const r = report(0);
    const remaining = samples.filter((s) => s.name === 'ephemeral_ports_tuple_remaining');
    assert.deepEqual(
      remaining.map((s) => [Number(s.labels.netns), s.labels.protocol, s.labels.local, s.labels.remote, s.value]).sort(),
      r.tuples.map((t) => [t.netns, t.protocol, t.local, t.remote, t.remaining]).sort(),
    );
    const capacity = samples.filter((s) => s.name === 'ephemeral_ports_namespace_capacity');
    assert.deepEqual(capacity.map((s) => [Number(s.labels.netns), s.labels.namespace, s.value]).sort(), r.namespaces.map((n) => [n.inode, n.name, n.capacity]).sort());
    assert.equal(samples.find((s) => s.name === 'ephemeral_ports_check_state')?.value, 2);
  });
  test('the bound: the same state, worst pool and worst figures as a listing of every namespace whenever one could alert; else within the bounds', () => {
    for (const [all, bounded] of BOUND_PAIRS.slice(0, 2)) {
      const a = report(all);
      const b = report(bounded);
      assert.equal(b.status, a.status, `${bounded}`);
      assert.deepEqual(b.unchecked, []);
      const bounds = (b as unknown as { bounds: { worstIsBound: boolean; mostUsage: number; leastRemaining: number } }).bounds;
      if (bounds.worstIsBound) {
        // No namespace could alert (unprivileged: every other range assumed, 28,232 ports):
        // none need be listed, and no pool of the listing goes beyond the bounds.
        assert.equal(a.status, 'OK');
        assert.ok(a.tuples.every((t) => t.remaining >= bounds.leastRemaining && t.usage <= bounds.mostUsage), `${bounded}: within the bounds`);
        continue;
      }
      // The worst pool, and the status line's, are the listing's; the bound adds how many
      // namespaces it answered for by their counts.
      assert.deepEqual({ ...b.tuples[0], owners: undefined }, { ...a.tuples[0], owners: undefined }, `${bounded}`);
      assert.ok(b.summary.startsWith(a.summary), `${b.summary} / ${a.summary}`);
      type Reading = { inode: number | null; reading: string; bound: { tcp: { leastRemaining: number; mostUsage: number } } | null };
      const readings = b.namespaces as unknown as Reading[];
      // Each namespace a listing would show is shown; those not listed could not alert.
      assert.equal(readings.length, a.namespaces.length);
      for (const n of readings.filter((x) => x.reading === 'bounded')) {
        const listed = a.namespaces.find((x) => x.inode === n.inode && (x.inode !== null || x.name === (n as unknown as { name: string }).name))!;
        assert.equal(listed.status, 'OK', `${n.inode}: bounded, and OK when listed`);
        assert.ok(a.tuples.filter((t) => t.netns === n.inode).every((t) => t.remaining >= n.bound!.tcp.leastRemaining || t.protocol === 'udp'), `${n.inode}: no tuple below its bound`);
      }
    }
    // As root the check's own namespace (21 sockets in its 100 ports) is answered for by its
    // counts: its bound cannot reach 70%, and a CRITICAL tuple elsewhere is the worst.
    const root = report(13).namespaces as unknown as { inode: number; reading: string; bound: { tcp: { leastRemaining: number } } }[];
    const own = root.find((n) => n.inode === inodeOf('own'))!;
    assert.equal(own.reading, 'bounded');
    assert.ok(own.bound.tcp.leastRemaining <= result.counts.own.fresh, 'the bound leaves no more than the kernel still allows a new destination');
    assert.ok(root.filter((n) => n.reading === 'listed').some((n) => n.inode === inodeOf('plain')));
    // Text: the same status line but for the bound's words, the same worst_* perfdata.
    const [textAll, textBound] = [result.checks[16].stdout, result.checks[17].stdout];
    assert.ok(textBound.split('\n')[0].startsWith(textAll.split('\n')[0]), textBound);
    const worst = (text: string) => /worst_usage=\S+ worst_used=\S+ worst_remaining=\S+/.exec(text)?.[0];
    assert.equal(worst(textBound), worst(textAll));
  });
});

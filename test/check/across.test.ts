/**
 * --namespaces through run(), on a made-up /proc: each namespace judged with its own
 * settings (read as root, assumed otherwise), the worst across them, the JSON contract,
 * and namespaces that cannot be read, are read too slowly, or are gone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from '../../src/run';
import { fakeProc, tcpLines, type FakeOptions, type FakeProcess } from '../namespaces/fake-proc';

const HOST = 4026531840;
const A = 4026532200;
const B = 4026532300;

const OWN_SYSCTLS = {
  '/proc/sys/net/ipv4/ip_local_port_range': '40000\t40199\n',
  '/proc/sys/net/ipv4/ip_local_reserved_ports': '\n',
  '/proc/sys/net/ipv4/tcp_tw_reuse': '2\n',
  '/proc/sys/net/ipv4/tcp_timestamps': '1\n',
};
const sysctl = (low: number, high: number, reserved = '') =>
  `net.ipv4.ip_local_port_range = ${low}\t${high}\nnet.ipv4.ip_local_reserved_ports = ${reserved}\nnet.ipv4.tcp_tw_reuse = 0\nnet.ipv4.tcp_tw_reuse_delay = 1000\nnet.ipv4.tcp_timestamps = 1\n`;

const PROCESSES: FakeProcess[] = [
  { pid: 1, netns: HOST },
  { pid: 20, netns: A, comm: 'postgres-client', cgroup: '0::/kubepods/besteffort/pod0c8f5a1e-3b2d-4c6e-9f10-2a4b6c8d0e1f/x\n' },
  { pid: 30, netns: B, comm: 'redis-client' },
];
// Ports as connect() hands them out: its preferred parity first (docs/kernel-model.md), so
// that no port reads as taken by bind() before connect().
const TABLES: FakeOptions['tcp'] = {
  // host: 10 sockets to 127.0.0.2:5432 in 40000-40199
  [HOST]: tcpLines(10, 40000, 2, 5432, 1, 5000, 2),
  // A: 150 sockets to 127.0.0.2:5432 in 50000-50199: every even offset, then 50 odd ones
  [A]: tcpLines(100, 50000, 2, 5432, 1, 6000, 2) + tcpLines(50, 50001, 2, 5432, 1, 7000, 2),
  // B: 100 sockets to 127.0.0.3:6379 in the default range, above its reserved 33000-33049
  [B]: tcpLines(100, 33050, 3, 6379, 1, 8000, 2),
};

interface Json {
  status: string;
  summary: string;
  root: boolean;
  namespaces: { inode: number | null; name: string; settings: string; capacity: number; range: { low: number; high: number }; status: string }[];
  unchecked: { inode: number | null; name: string; reason: string }[];
  gone: { inode: number | null; name: string; reason: string }[];
  tuples: { netns: number | null; namespace: string; protocol: string; remote: string; remaining: number; capacity: number; status: string }[];
}

async function check(o: Partial<FakeOptions>, args: string[] = [], processes = PROCESSES) {
  const host = fakeProc(processes, { self: 1, files: OWN_SYSCTLS, tcp: TABLES, ...o });
  const r = await run(['--namespaces', 'all', '--source', 'proc', '--format', 'json', '--top', '0', '--tcp', ...args], host);
  return { ...r, json: JSON.parse(r.stdout) as Json, host };
}

test('as root: every namespace with its own sysctls; the worst tuple across them decides', async () => {
  const { exitCode, json, host } = await check({ euid: 0, sysctl: { [A]: sysctl(50000, 50199), [B]: sysctl(32768, 60999, '33000-33049') } });
  assert.equal(json.root, true);
  assert.deepEqual(json.namespaces.map((n) => [n.inode, n.name, n.settings, n.range.low, n.range.high, n.capacity]), [
    [HOST, 'host', 'read', 40000, 40199, 200],
    [A, 'pod 0c8f5a1e-3b2d-4c6e-9f10-2a4b6c8d0e1f', 'read', 50000, 50199, 200],
    [B, 'redis-client (pid 30)', 'read', 32768, 60999, 28232 - 50],
  ]);
  // A's 150 of 200 is the worst (75% > 70: WARNING); B has 50 reserved ports.
  assert.deepEqual(json.tuples.map((t) => [t.netns, t.remote, t.remaining, t.capacity, t.status]), [
    [A, '127.0.0.2', 50, 200, 'WARNING'],
    [HOST, '127.0.0.2', 190, 200, 'OK'],
    [B, '127.0.0.3', 28182 - 100, 28182, 'OK'],
  ]);
  assert.equal(exitCode, 1);
  assert.equal(json.status, 'WARNING');
  assert.match(json.summary, /^worst tcp 127\.0\.0\.1 -> 127\.0\.0\.2:5432 in pod 0c8f5a1e-3b2d-4c6e-9f10-2a4b6c8d0e1f: 150\/200 ports used/);
  // Sysctls through nsenter at a fixed path, one namespace each; sockets through /proc/PID/net.
  assert.deepEqual(host.spawned.map((argv) => argv.slice(0, 4)), [
    ['/usr/bin/nsenter', '--net=/proc/20/ns/net', '--', '/usr/sbin/sysctl'],
    ['/usr/bin/nsenter', '--net=/proc/30/ns/net', '--', '/usr/sbin/sysctl'],
  ]);
  assert.ok(host.reads.includes('/proc/20/net/tcp') && host.reads.includes('/proc/30/net/tcp'));
});

test('without root: other namespaces assume the defaults of a new namespace, and say so', async () => {
  const processes = PROCESSES.map((p) => (p.pid === 20 ? { ...p, hidden: true } : p));
  const { exitCode, json, host } = await check({ euid: 1000 }, [], processes);
  assert.equal(json.root, false);
  assert.deepEqual(json.namespaces.map((n) => [n.inode, n.settings, n.range.low, n.range.high, n.capacity]), [
    [HOST, 'read', 40000, 40199, 200],
    // its link may not be read: its inode is unknown, it is still checked; its 50 ports of
    // odd offset are not taken for bind()'s against a range that is not its own
    [null, 'assumed', 32768, 60999, 28232],
    [B, 'assumed', 32768, 60999, 28232],
  ]);
  // Judged against the assumed range: A's 150 sockets in 28,232 ports, not in its real 200.
  assert.deepEqual(json.tuples.map((t) => [t.netns, t.remaining]), [[HOST, 190], [null, 28082], [B, 28132]]);
  assert.equal(exitCode, 0);
  assert.deepEqual(host.spawned, [], 'no program is run without root');
});

test('without root: no port of a namespace whose range is assumed is counted as bind()\'s, whatever its parity', async () => {
  // A's real range is 50000-50199: its client to 5432 filled connect()'s parity there and
  // spilled 50 ports to odd offsets, which are odd offsets of the assumed 32768-60999 too.
  // A second tuple shows what a claimed bind() would cost every other tuple.
  const tcp = { ...TABLES, [A]: TABLES[A] + tcpLines(20, 50200, 3, 6379, 1, 9000, 2) };
  const { json } = await check({ euid: 1000, tcp });
  type Space = { settings: string; capacity: number; optimisticCapacity: number; bindTaken: number; bindSkipped: string | null };
  const spaces = json.namespaces as unknown as Space[];
  assert.deepEqual(spaces.map((n) => [n.settings, n.bindTaken, n.bindSkipped, n.capacity, n.optimisticCapacity]), [
    ['read', 0, null, 200, 200],
    ['assumed', 0, 'range assumed', 28232, 28232],
    ['assumed', 0, 'range assumed', 28232, 28232],
  ]);
  type Tuple = { netns: number | null; remotePort: number; remaining: number; optimisticRemaining: number; bindTaken: number };
  const tuples = (json.tuples as unknown as Tuple[]).filter((t) => t.netns === A);
  // Each tuple judged by its own sockets: 150 and 20 of the 28,232 ports, none taken by bind().
  assert.deepEqual(tuples.map((t) => [t.remotePort, t.bindTaken, t.remaining, t.optimisticRemaining]), [
    [5432, 0, 28232 - 150, 28232 - 150],
    [6379, 0, 28232 - 20, 28232 - 20],
  ]);
  const host = () => fakeProc(PROCESSES, { self: 1, files: OWN_SYSCTLS, tcp, euid: 1000 });
  const text = (await run(['--namespaces', 'all', '--source', 'proc', '--tcp', '-v'], host())).stdout;
  assert.doesNotMatch(text, /ports? taken from every tuple/);
  assert.match(text, /^pod 0c8f5a1e-3b2d-4c6e-9f10-2a4b6c8d0e1f: bind\(\) before connect\(\): undecidable \(range assumed\)/m);
  assert.doesNotMatch(text, /^host: bind\(\) before connect\(\): undecidable/m);
  assert.match(text, /(^| )bind_taken=0;/m);
  const prometheus = (await run(['--namespaces', 'all', '--source', 'proc', '--tcp', '--format', 'prometheus'], host())).stdout;
  assert.match(prometheus, /^ephemeral_ports_bind_taken 0$/m);
});

test('a namespace that cannot be read is UNKNOWN, but a CRITICAL one elsewhere still pages', async () => {
  const broken = { ...TABLES, [B]: new Error('permission denied') };
  const ok = await check({ euid: 0, tcp: broken, sysctl: { [A]: sysctl(32768, 60999), [B]: sysctl(32768, 60999) } });
  assert.equal(ok.exitCode, 3);
  assert.deepEqual(ok.json.unchecked, [{ inode: B, name: 'redis-client (pid 30)', reason: '/proc/30/net/tcp: permission denied' }]);
  assert.match(ok.json.summary, /^1 of 3 namespaces not checked \(redis-client \(pid 30\): \/proc\/30\/net\/tcp: permission denied\); of the others: worst /);
  const critical = await check({ euid: 0, tcp: broken, sysctl: { [A]: sysctl(50000, 50119), [B]: sysctl(32768, 60999) } });
  assert.equal(critical.exitCode, 2, critical.json.summary);
  assert.match(critical.json.summary, /^worst .* in pod .*: 110\/120 ports used .*; 1 of 3 namespaces not checked/);
});

test('a namespace still being read at 3/4 of -t is left unchecked; the answer comes in time', async () => {
  const started = Date.now();
  const { exitCode, json } = await check({ euid: 0, tcp: { ...TABLES, [B]: 'hang' }, sysctl: { [A]: sysctl(32768, 60999), [B]: sysctl(32768, 60999) } }, ['-t', '1']);
  assert.ok(Date.now() - started < 1000, `answered after ${Date.now() - started} ms`);
  assert.equal(exitCode, 3);
  assert.deepEqual(json.unchecked.map((u) => [u.inode, u.reason]), [[B, 'not read within 0.8 s (-t 1)']]);
  assert.deepEqual(json.namespaces.map((n) => n.inode), [HOST, A]);
});

test('a namespace whose processes exit while it is read is gone, not unchecked: it changes nothing', async () => {
  const { exitCode, json } = await check({ euid: 0, exitAfterRead: [30], sysctl: { [A]: sysctl(32768, 60999), [B]: sysctl(32768, 60999) } });
  assert.equal(exitCode, 0);
  assert.deepEqual(json.gone.map((g) => [g.inode, g.name]), [[B, 'redis-client (pid 30)']]);
  assert.deepEqual(json.unchecked, []);
});

test('sixty namespaces: every one checked, and no warning from Node (stderr stays empty)', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const processes = [{ pid: 1, netns: HOST }, ...Array.from({ length: 60 }, (_, i) => ({ pid: 100 + i, netns: 5000 + i }))];
    const tcp = Object.fromEntries(processes.map((p) => [p.netns, tcpLines(3, 40000, 2, 5432)]));
    const sysctls = Object.fromEntries(processes.map((p) => [p.netns, sysctl(40000, 40199)]));
    const { exitCode, json } = await check({ euid: 0, tcp, sysctl: sysctls }, [], processes);
    assert.equal(exitCode, 0);
    assert.equal(json.namespaces.length, 61);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.map((w) => w.message), []);
  } finally {
    process.off('warning', onWarning);
  }
});

test('the memory of each namespace is offered back once it is judged, read or not', async () => {
  // Each namespace's tables are garbage once its verdict is made (the verdict keeps figures
  // only); reclaim() is where the host frees them, so that 50 namespaces do not pile up.
  const broken = { ...TABLES, [B]: new Error('permission denied') };
  const host = fakeProc(PROCESSES, { self: 1, files: OWN_SYSCTLS, tcp: broken, euid: 0, sysctl: { [A]: sysctl(32768, 60999), [B]: sysctl(32768, 60999) } });
  let reclaimed = 0;
  host.reclaim = () => reclaimed++;
  const r = await run(['--namespaces', 'all', '--source', 'proc', '--format', 'json'], host);
  assert.equal(r.exitCode, 3, r.stdout);
  assert.equal(reclaimed, 3);
});

const sockstat = (tcp: number, tw = 0, udp = 0) => `sockets: used ${tcp + udp}\nTCP: inuse ${tcp} orphan 0 tw ${tw} alloc 9 mem 1\nUDP: inuse ${udp} mem 0\n`;
const ROOT_SYSCTLS = { [A]: sysctl(50000, 50199), [B]: sysctl(32768, 60999, '33000-33049') };

test('only the namespaces whose socket counts could alert are listed; the others are OK by their counts', async () => {
  // host: 10 sockets in its 200 ports (5%); A: 150 in 200 (75%: listed); B: 100 in 28,182.
  const files = { ...OWN_SYSCTLS, '/proc/net/sockstat': sockstat(10), '/proc/20/net/sockstat': sockstat(150), '/proc/30/net/sockstat': sockstat(100) };
  const { exitCode, json, host, stdout } = await check({ euid: 0, files, sysctl: ROOT_SYSCTLS });
  assert.equal(exitCode, 1);
  type Entry = { inode: number; reading: string; status: string; bound: { status: string; tcp: { sockets: number; mostUsage: number; leastRemaining: number } } };
  const entries = json.namespaces as unknown as Entry[];
  assert.deepEqual(entries.map((n) => [n.inode, n.reading, n.status, n.bound.status, n.bound.tcp.sockets, n.bound.tcp.leastRemaining]), [
    [A, 'listed', 'WARNING', 'WARNING', 150, 50],
    [HOST, 'bounded', 'OK', 'OK', 10, 190],
    [B, 'bounded', 'OK', 'OK', 100, 28182 - 100],
  ]);
  // Only A's tables were read (--source proc reads both), then its IPv4 table again for the
  // owners of its WARNING tuple: not its IPv6 one, empty by its counts. The host's and B's never.
  assert.deepEqual(host.reads.filter((p) => /\/net\/tcp6?$/.test(p)), ['/proc/20/net/tcp', '/proc/20/net/tcp6', '/proc/20/net/tcp']);
  assert.match(json.summary, /^worst tcp 127\.0\.0\.1 -> 127\.0\.0\.2:5432 in pod [0-9a-f-]+: 150\/200 ports used \(75\.0% > 70\), 50 left; 2 namespaces below 5\.1% by their socket counts$/);
  assert.deepEqual((json as unknown as { bounds: unknown }).bounds, { namespaces: 2, mostUsage: 5, mostUsed: 100, leastRemaining: 190, worstIsBound: false });
  const text = (await run(['--namespaces', 'all', '--source', 'proc', '--tcp'], fakeProc(PROCESSES, { self: 1, files, tcp: TABLES, euid: 0, sysctl: ROOT_SYSCTLS }))).stdout;
  assert.match(text, /\| worst_usage=75%;70;90;0;100 worst_used=150;;;0;200 worst_remaining=50;;;0;200 .* namespaces=3;;;0 namespaces_unchecked=0;;;0 namespaces_bounded=2;;;0\n$/);
  assert.equal(stdout.includes('"reading"'), true);
});

test('the answer is a walk of all\'s whenever a namespace could alert: a pool that could still be the worst is listed too', async () => {
  // A's counts could alert (150 in 200) but its sockets are spread over five tuples of 30:
  // OK, 170 left. The host's counts (40 in 200: at least 160 left) could hold a pool with
  // fewer left than 170, so it is listed as well; B's (28,082 left at least) could not.
  const spread = [2, 3, 4, 5, 6].map((last, k) => tcpLines(30, 50000 + 60 * k, last, 5432, 1, 6000 + 100 * k, 2)).join('');
  const tcp = { ...TABLES, [A]: spread };
  const files = { ...OWN_SYSCTLS, '/proc/net/sockstat': sockstat(40), '/proc/20/net/sockstat': sockstat(150), '/proc/30/net/sockstat': sockstat(100) };
  const bounded = await check({ euid: 0, files, tcp, sysctl: ROOT_SYSCTLS });
  const all = await check({ euid: 0, files, tcp, sysctl: ROOT_SYSCTLS }, ['--walk', 'all']);
  type Entry = { inode: number; reading: string };
  assert.deepEqual((bounded.json.namespaces as unknown as Entry[]).map((n) => [n.inode, n.reading]), [[HOST, 'listed'], [A, 'listed'], [B, 'bounded']]);
  assert.deepEqual((all.json.namespaces as unknown as Entry[]).map((n) => n.reading), ['listed', 'listed', 'listed']);
  assert.equal(bounded.exitCode, 0);
  assert.equal(bounded.json.status, all.json.status);
  assert.equal(bounded.json.tuples[0].remaining, 170);
  assert.deepEqual(bounded.json.tuples[0], all.json.tuples[0]);
  const perf = async (args: string[]) => {
    const host = fakeProc(PROCESSES, { self: 1, files, tcp, euid: 0, sysctl: ROOT_SYSCTLS });
    const out = (await run(['--namespaces', 'all', '--source', 'proc', '--tcp', ...args], host)).stdout;
    return { status: out.split('\n')[0], worst: /worst_usage=\S+ worst_used=\S+ worst_remaining=\S+/.exec(out)?.[0] };
  };
  const [p, q] = [await perf([]), await perf(['--walk', 'all'])];
  assert.equal(p.worst, q.worst);
  assert.equal(p.status, `${q.status}; 1 namespace below 0.4% by its socket counts`);
});

test('when no namespace could alert, none is listed: the status line says so, and the perfdata are bounds', async () => {
  const files = { ...OWN_SYSCTLS, '/proc/net/sockstat': sockstat(10), '/proc/20/net/sockstat': sockstat(150, 5, 3), '/proc/30/net/sockstat': sockstat(100) };
  const { exitCode, json, host } = await check({ euid: 0, files, sysctl: { [A]: sysctl(32768, 60999), [B]: sysctl(32768, 60999) } });
  assert.equal(exitCode, 0);
  assert.equal(json.summary, '3 namespaces below 5.1% by their socket counts');
  assert.deepEqual(json.tuples, []);
  assert.deepEqual(host.reads.filter((p) => /\/net\/tcp6?$/.test(p)), []);
  const text = (await run(['--namespaces', 'all', '--source', 'proc', '--tcp', '-v'], fakeProc(PROCESSES, { self: 1, files, tcp: TABLES, euid: 0, sysctl: { [A]: sysctl(32768, 60999), [B]: sysctl(32768, 60999) } }))).stdout;
  assert.match(text, /^EPHEMERAL PORTS OK - 3 namespaces below 5\.1% by their socket counts\n/);
  assert.match(text, /^host \(netns 4026531840\): not listed, OK by its socket counts: 10 tcp sockets \(0 TIME_WAIT\) in 200 ports: at most 5\.0% used, at least 190 left; settings read, range 40000-40199$/m);
  // Bounds, each the worst of any namespace: at most 5% used (the host's), at most 155 ports
  // used (A's), at least 190 left (the host's); nothing listed, so no count over namespaces.
  assert.match(text, /\| worst_usage=5%;70;90;0;100 worst_used=155;;;0 worst_remaining=190;;;0 namespaces=3;;;0 namespaces_unchecked=0;;;0 namespaces_bounded=3;;;0\n$/);
});

test('every namespace\'s counts first; then the check\'s own, then the busiest\'s sysctls, each listed as soon as its counts say so', async () => {
  const files = { ...OWN_SYSCTLS, '/proc/net/sockstat': sockstat(150), '/proc/20/net/sockstat': sockstat(190), '/proc/30/net/sockstat': sockstat(30_000) };
  const host = fakeProc(PROCESSES, { self: 1, files, tcp: TABLES, euid: 0, sysctl: ROOT_SYSCTLS });
  // One worker: the order is the schedule's alone.
  Object.assign(host, { parallelism: 1 });
  await run(['--namespaces', 'all', '--source', 'proc', '--format', 'json', '--tcp'], host);
  const order = host.reads.filter((p) => /\/net\/(tcp|sockstat)$/.test(p));
  assert.deepEqual(order.slice(0, 6), ['/proc/net/sockstat', '/proc/20/net/sockstat', '/proc/30/net/sockstat', '/proc/net/tcp', '/proc/30/net/tcp', '/proc/20/net/tcp']);
  assert.deepEqual(host.spawned.map((argv) => argv[1]), ['--net=/proc/30/ns/net', '--net=/proc/20/ns/net']);
});

test('--walk all lists every namespace; --walk needs --namespaces', async () => {
  const files = { ...OWN_SYSCTLS, '/proc/net/sockstat': sockstat(10), '/proc/20/net/sockstat': sockstat(150), '/proc/30/net/sockstat': sockstat(100) };
  const { json } = await check({ euid: 0, files, sysctl: ROOT_SYSCTLS }, ['--walk', 'all']);
  assert.equal(json.namespaces.length, 3);
  assert.equal((json as unknown as { bounds: unknown }).bounds, null);
  const r = await run(['--walk', 'all'], fakeProc(PROCESSES, { self: 1, files, tcp: TABLES }));
  assert.match(r.stdout, /^EPHEMERAL PORTS UNKNOWN - --walk chooses which of --namespaces to list: give --namespaces too/);
});

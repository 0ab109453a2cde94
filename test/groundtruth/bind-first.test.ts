/**
 * Ground truth, clients that bind() before connect(): a plain `bind((addr, 0))` without
 * IP_BIND_ADDRESS_NO_PORT takes its port from every tuple, of both families, in every
 * state. connect() prefers ports at an even offset from the low end of the range
 * (__inet_hash_connect), bind(addr, 0) those at an odd one (inet_csk_find_open_port), so
 * the check can tell the two apart; each scenario shows every reported tuple's remaining,
 * and what a new tuple gets, equal to the connect()s the kernel then allows, with both
 * socket sources. The scenarios run side by side, each in its own namespace.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertKernelAgrees, assertNagiosOutput, checkRuns, counts, kernelState, portRange, runScenario, skip, verifications, type ReportJson, type Step, type Tuple, type Verified } from './namespace';

const DB: Tuple = ['127.0.0.1', '127.0.0.2', 5000];
const CACHE: Tuple = ['127.0.0.5', '127.0.0.3', 6379];
const FRESH: Tuple[] = [['127.0.0.1', '127.0.0.4', 7000], ['::1', '::1', 7000]];

const LISTENERS: Step[] = [
  { op: 'listen', at: ['127.0.0.2', 5000] },
  { op: 'listen', at: ['127.0.0.3', 6379] },
  { op: 'listen', at: ['127.0.0.4', 7000] },
  { op: 'listen', at: ['::1', 7000] },
  { op: 'listen', at: ['::1', 5432] },
];

/** The issue's case: 30 clients bind first and 40 connect plainly, all to DB. */
function mixed(low: number): Step[] {
  return [
    portRange(low, low + 199),
    ...LISTENERS,
    { op: 'bindConnect', tuple: DB, n: 30 },
    { op: 'connect', tuple: DB, n: 40 },
    { op: 'connect', tuple: CACHE, n: 20 },
    { op: 'bindConnect', tuple: CACHE, n: 5 },
    { op: 'check', args: ['-v'] },
    { op: 'verify', fresh: FRESH },
  ];
}

const odd = (ports: number[], low: number) => ports.filter((p) => (p - low) % 2 === 1).length;

/** A step that built client sockets, with the ports they got. */
interface Built {
  readonly op: string;
  readonly tuple: Tuple;
  readonly ports: number[];
}

function built(steps: Step[], results: unknown[]): Built[] {
  return steps.flatMap((s, i) => ('tuple' in s && results[i] !== null && typeof results[i] === 'object' && 'ports' in (results[i] as object) ? [{ op: s.op, tuple: s.tuple, ports: (results[i] as { ports: number[] }).ports }] : []));
}

/** IPv4-mapped addresses folded, as the check groups tuples. */
const plain = (a: string) => a.replace(/^::ffff:(?=\d)/, '');
const tupleText = ([local, remote, port]: Tuple) => `${plain(local)} -> ${plain(remote).includes(':') ? `[${remote}]` : plain(remote)}:${port}`;

/**
 * What the scenario built says about bind(): the ports its bind-first clients hold (they
 * may share a number across local addresses), and per tuple those no other tuple's
 * bind-first clients hold too.
 */
function bindFirst(b: Built[]): { taken: Set<number>; alone: Map<string, number> } {
  const binds = b.filter((x) => x.op === 'bindConnect' || x.op === 'bindTimeWait');
  const taken = new Set(binds.flatMap((x) => x.ports));
  const alone = new Map<string, number>();
  for (const x of binds) {
    const others = new Set(binds.filter((y) => tupleText(y.tuple) !== tupleText(x.tuple)).flatMap((y) => y.ports));
    const key = tupleText(x.tuple);
    alone.set(key, (alone.get(key) ?? 0) + x.ports.filter((p) => !others.has(p)).length);
  }
  return { taken, alone };
}

/** The detail line naming who binds first and how many ports it takes, and the fix. */
function assertBindLine(text: string, b: Built[]): void {
  const { taken, alone } = bindFirst(b);
  const line = text.split('\n').find((l) => l.startsWith('bind() before connect()'));
  assert.ok(line, `a bind() detail line in:\n${text}`);
  assert.match(line, new RegExp(`^bind\\(\\) before connect\\(\\): ${taken.size} ports? taken from every tuple`));
  for (const [tuple, n] of alone) assert.ok(line.includes(`tcp ${tuple} (${n})`), `tcp ${tuple} (${n}) in: ${line}`);
  const several = taken.size - [...alone.values()].reduce((a, n) => a + n, 0);
  if (several > 0) assert.match(line, new RegExp(`${several} ports? held by several tuples`));
  else assert.doesNotMatch(line, /held by several tuples/);
  assert.match(line, /IP_BIND_ADDRESS_NO_PORT/);
  assert.match(text, new RegExp(`(^| )bind_taken=${taken.size};`, 'm'));
}

const SCENARIOS = {
  plain: mixed(40000),
  // An odd low end: connect() now prefers odd port numbers, bind() even ones.
  oddLow: mixed(42001),
  ipv6: [
    portRange(40000, 40199),
    ...LISTENERS,
    { op: 'listen', at: ['127.0.0.2', 5432] },
    // IPv6 clients that bind first take their ports from IPv4 tuples too; so do AF_INET6
    // sockets bound to an IPv4-mapped address (grouped as IPv4).
    { op: 'bindConnect', tuple: ['::1', '::1', 5432], n: 25 },
    { op: 'connect', tuple: ['::1', '::1', 5432], n: 10 },
    { op: 'connect', tuple: ['127.0.0.1', '127.0.0.2', 5432], n: 30 },
    { op: 'bindConnect', tuple: ['::ffff:127.0.0.1', '::ffff:127.0.0.2', 5432], n: 5 },
    { op: 'check', args: ['-v'] },
    { op: 'verify', fresh: FRESH, mapped: true },
  ],
  spill: [
    portRange(40000, 40199),
    ...LISTENERS,
    // 120 plain connect()s: the 100 ports of connect()'s parity, then 20 of the other.
    { op: 'connect', tuple: DB, n: 120 },
    { op: 'connect', tuple: CACHE, n: 10 },
    { op: 'check', args: ['-v'] },
    { op: 'verify', fresh: FRESH },
  ],
  spillShared: [
    portRange(40000, 40199),
    ...LISTENERS,
    // A tuple holding the whole range, then clients on another address binding first:
    // every port bind() gives them is one the full tuple holds too.
    { op: 'fill', tuple: ['127.0.0.6', '127.0.0.3', 6379] },
    { op: 'bindConnect', tuple: CACHE, n: 10 },
    { op: 'check', args: ['-v'] },
    { op: 'verify', fresh: FRESH },
  ],
  timeWait: [
    portRange(40000, 40199),
    { op: 'sysctl', values: { 'net.ipv4.tcp_tw_reuse': 0, 'net.ipv4.tcp_timestamps': 1 } },
    ...LISTENERS,
    { op: 'bindTimeWait', tuple: DB, n: 20 },
    { op: 'timeWait', tuple: DB, n: 20 },
    { op: 'connect', tuple: DB, n: 10 },
    { op: 'bindConnect', tuple: DB, n: 5 },
    { op: 'bindTimeWait', tuple: ['::1', '::1', 5432], n: 10 },
    { op: 'check', args: ['-v'] },
    { op: 'verify', fresh: FRESH },
    // On loopback with tcp_tw_reuse 2, connect() may reuse a plain client's TIME_WAIT
    // once it is a second old, never one whose port bind() took.
    { op: 'sysctl', values: { 'net.ipv4.tcp_tw_reuse': 2, 'net.ipv4.tcp_tw_reuse_delay': 1000 } },
    { op: 'sleep', seconds: 1.5 },
    { op: 'check', args: ['-v'] },
    { op: 'verify', fresh: FRESH },
  ],
  // Clients with their own IP_LOCAL_PORT_RANGE: connect() then has no preferred parity, so
  // some of their ports look like bind()'s. The check must err on the safe side only.
  localRange: [
    portRange(40000, 40199),
    ...LISTENERS,
    { op: 'rangeConnect', tuple: DB, n: 40 },
    { op: 'connect', tuple: CACHE, n: 20 },
    { op: 'check', args: ['--format', 'json', '--top', '0'] },
    { op: 'count', tuple: FRESH[0] },
    { op: 'count', tuple: CACHE },
  ],
} satisfies Record<string, Step[]>;

test('bind() before connect(): the check finds the ports it took and agrees with the kernel', { skip }, async (t) => {
  const names = Object.keys(SCENARIOS) as (keyof typeof SCENARIOS)[];
  const results = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await runScenario(SCENARIOS[name])] as const))) as Record<keyof typeof SCENARIOS, unknown[]>;
  const builtIn = (name: keyof typeof SCENARIOS) => built(SCENARIOS[name], results[name]);

  /** The kernel agrees with every figure, and the exit code with its counts. */
  const agrees = (name: keyof typeof SCENARIOS): { vs: Verified[]; texts: string[] } => {
    const vs = verifications(results[name]);
    const runs = checkRuns(results[name]);
    vs.forEach((v, i) => {
      assertKernelAgrees(v);
      assert.equal(assertNagiosOutput(runs[i]), v.check.report.status);
      assert.equal(runs[i].status, kernelState(v));
    });
    return { vs, texts: runs.map((r) => r.stdout) };
  };
  const freshCount = (v: Verified) => v.fresh[0].counts[0];
  /** A new tuple gets the range less every port a bind-first client holds (nothing else is in range). */
  const bindTaken = (name: keyof typeof SCENARIOS) => bindFirst(builtIn(name)).taken.size;

  await t.test('bind-first and plain clients on IPv4: 30 of 30 at bind parity, a new tuple loses their ports', () => {
    const [bindDb, plainDb, plainCache, bindCache] = builtIn('plain');
    assert.equal(odd(bindDb.ports, 40000), 30, `bind-first ports at odd offsets: ${bindDb.ports}`);
    assert.equal(odd(plainDb.ports, 40000), 0, `plain ports at odd offsets: ${plainDb.ports}`);
    assert.equal(odd(plainCache.ports, 40000), 0);
    assert.equal(odd(bindCache.ports, 40000), 5);
    const { vs: [v], texts: [text] } = agrees('plain');
    assert.equal(freshCount(v), 200 - bindTaken('plain'), 'the kernel: bind()-taken ports are lost to a new tuple');
    assert.equal(v.check.report.bindTaken, bindTaken('plain'));
    assert.equal(v.check.report.optimisticCapacity, 200);
    assertBindLine(text, builtIn('plain'));
  });

  await t.test('an odd low end: the parities swap, and the check follows', () => {
    const [bindDb, plainDb] = builtIn('oddLow');
    assert.equal(odd(bindDb.ports, 42001), 30, `bind-first ports at odd offsets from 42001: ${bindDb.ports}`);
    assert.ok(bindDb.ports.every((p) => p % 2 === 0), 'odd offsets from an odd low end are even ports');
    assert.equal(odd(plainDb.ports, 42001), 0);
    const { vs: [v], texts: [text] } = agrees('oddLow');
    assert.equal(freshCount(v), 200 - bindTaken('oddLow'));
    assertBindLine(text, builtIn('oddLow'));
  });

  await t.test('IPv6 and IPv4-mapped clients that bind first take ports from IPv4 tuples', () => {
    const b = builtIn('ipv6');
    assert.equal(b.filter((x) => x.op === 'bindConnect').reduce((n, x) => n + odd(x.ports, 40000), 0), 30);
    const { vs: [v], texts: [text] } = agrees('ipv6');
    assert.equal(freshCount(v), 200 - bindTaken('ipv6'), 'a new IPv4 tuple loses the IPv6 clients\' ports too');
    assertBindLine(text, b);
  });

  await t.test('a tuple that filled its connect parity and spilled over: no bind() claimed', () => {
    const [spilled] = builtIn('spill');
    assert.equal(odd(spilled.ports, 40000), 20, 'connect() took 20 ports of the other parity');
    const { vs: [v], texts: [text] } = agrees('spill');
    assert.equal(freshCount(v), 200, 'ports connect() took are lost to no other tuple');
    assert.equal(v.check.report.bindTaken, 0);
    assert.doesNotMatch(text, /^bind\(\) before connect\(\)/m);
    assert.match(text, /(^| )bind_taken=0;/m);
    // -v says why it cannot tell, naming the tuple.
    assert.match(text, /tcp 127\.0\.0\.1 -> 127\.0\.0\.2:5000 has no port of connect\(\)'s parity left/);
  });

  await t.test('bind-first clients sharing port numbers with a spilled tuple on another address', () => {
    const [bindCache] = builtIn('spillShared');
    assert.equal(odd(bindCache.ports, 40000), 10);
    const { vs: [v], texts: [text] } = agrees('spillShared');
    assert.equal(freshCount(v), 190, 'a port bind() shares with connect()\'s is lost to every tuple');
    assertBindLine(text, builtIn('spillShared'));
  });

  await t.test('bind-first clients in TIME_WAIT hold their port for every tuple, reusable or not', () => {
    const { vs: [never, reuse], texts } = agrees('timeWait');
    const taken = bindTaken('timeWait');
    for (const v of [never, reuse]) assert.equal(freshCount(v), 200 - taken);
    const db = (v: Verified) => v.tuples.find((k) => k.local === DB[0] && k.remote === DB[1] && k.remotePort === DB[2])?.counts[0];
    const ownBindFirst = 25;
    assert.equal(db(never), 200 - taken - 20 - 10, 'tcp_tw_reuse 0: every TIME_WAIT holds its port');
    assert.equal(db(reuse), 200 - taken - 10, 'tcp_tw_reuse 2: only the plain clients\' TIME_WAITs are reused');
    assert.ok(taken >= ownBindFirst);
    assert.equal(never.check.report.tcp.timeWaitReusable, 0);
    assert.equal(reuse.check.report.tcp.timeWaitReusable, 20, 'only the plain clients\' TIME_WAITs are reusable');
    for (const text of texts) assertBindLine(text, builtIn('timeWait'));
  });

  await t.test('clients with IP_LOCAL_PORT_RANGE: their odd ports are counted as bind()\'s, never the other way', () => {
    const [ranged] = builtIn('localRange');
    const oddPorts = odd(ranged.ports, 40000);
    assert.ok(oddPorts > 0, `connect() with its own range took ports of both parities: ${ranged.ports}`);
    const [run] = checkRuns(results.localRange);
    assert.equal(run.stderr, '');
    const report = JSON.parse(run.stdout) as ReportJson;
    const [fresh, cache] = counts(results.localRange);
    assert.equal(fresh, 200, 'the kernel: those ports are shared');
    assert.equal(report.bindTaken, oddPorts);
    const judged = report.tuples.find((p) => p.local === CACHE[0] && p.remote === CACHE[1] && p.remotePort === CACHE[2]);
    assert.ok(judged);
    // The judged figures are below the kernel's counts by exactly those ports: the safe side.
    assert.equal(report.capacity, fresh - oddPorts);
    assert.equal(judged.remaining, cache - oddPorts);
    assert.equal(report.optimisticCapacity, fresh);
  });
});

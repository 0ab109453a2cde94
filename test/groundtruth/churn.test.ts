/**
 * Ground truth, churn and forecast. TIME_WAITs are made at known times: a first batch, a
 * pause of PAUSE_S, a second batch, so the check's close rates over the last 60 s and 10 s
 * can be held against what the test made (within the timer's resolution: 10 ms in /proc,
 * the second in ss). Then the forecast itself: the headroom factor F says the tuple can
 * take F times today's counted TIME_WAIT, i.e. (F - 1) x that many more TIME_WAITs while
 * its other sockets stay. The test makes them, one connection at a time closed into
 * TIME_WAIT, until connect() fails: that must happen there, and not before, within one port.
 * The scenarios wait, so they run side by side, each in its own namespace.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertKernelAgrees,
  assertNagiosOutput,
  checkRuns,
  churns,
  kernelState,
  portRange,
  runScenario,
  skip,
  timeWaitsMade,
  verifications,
  type PoolJson,
  type ReportJson,
  type Step,
  type TimedRun,
  type Tuple,
  type Verified,
} from './namespace';

/** Between the two batches: the first is then well outside the last 10 s, well inside 60 s. */
const PAUSE_S = 22;

const V4 = ['127.0.0.1', '127.0.0.2', 5432] as const;
const V4_MAPPED = ['::ffff:127.0.0.1', '::ffff:127.0.0.2', 5432] as const;
const V6 = ['::1', '::1', 5432] as const;
const STEADY = ['127.0.0.1', '127.0.0.3', 6379] as const;
const FRESH: Tuple[] = [['127.0.0.1', '127.0.0.4', 7000]];

/** A batch of TIME_WAITs the scenario makes, and whether the check may count them. */
interface Batch {
  readonly tuple: Tuple;
  readonly n: number;
  /** False when the kernel may reuse them by the time the check runs (tcp_tw_reuse). */
  readonly counted: boolean;
}

const ROUNDING = 0.0005; // the JSON keeps three decimals

function key(t: { local: string; remote: string; remotePort: number | null } | Tuple): string {
  return Array.isArray(t) ? `${t[0].replace('::ffff:', '')} ${t[1].replace('::ffff:', '')} ${t[2]}` : `${(t as PoolJson).local} ${(t as PoolJson).remote} ${(t as PoolJson).remotePort}`;
}

function pool(report: ReportJson, tuple: Tuple): PoolJson {
  const found = report.tuples.find((t) => key(t) === key(tuple));
  assert.ok(found, `tuple ${key(tuple)} reported`);
  return found;
}

/**
 * The close rates a run must report for a tuple, from the batches and their times: a
 * TIME_WAIT made in [madeFrom, madeTo] is, to a run in [ranFrom, ranTo], that many seconds
 * old give or take; the source then rounds its age down by up to `resolution` seconds.
 * Returns the last-10 s rate as a span (a single value when no batch is near 10 s).
 */
function expectedRates(batches: readonly Batch[], made: readonly { madeFrom: number; madeTo: number }[], tuple: Tuple, run: TimedRun, resolution: number) {
  let all = 0;
  let surely10 = 0;
  let maybe10 = 0;
  batches.forEach((b, i) => {
    if (!b.counted || key(b.tuple) !== key(tuple)) return;
    const youngest = run.ranFrom - made[i].madeTo;
    const oldest = run.ranTo - made[i].madeFrom;
    assert.ok(oldest < 59, `batch ${i} is ${oldest.toFixed(1)} s old at most: it must not expire before the check`);
    all += b.n;
    if (oldest < 10) surely10 += b.n;
    if (youngest - resolution < 10) maybe10 += b.n;
  });
  return { perSecond: all / 60, last10: [surely10 / 10, maybe10 / 10] as const, counted: all };
}

function assertRates(report: ReportJson, run: TimedRun, resolution: number, batches: readonly Batch[], made: readonly { madeFrom: number; madeTo: number }[], tuple: Tuple, source: string): void {
  const churn = pool(report, tuple).churn;
  assert.ok(churn, `${source}: churn of ${key(tuple)}`);
  const want = expectedRates(batches, made, tuple, run, resolution);
  assert.ok(Math.abs(churn.closesPerSecond - want.perSecond) <= ROUNDING, `${source} ${key(tuple)}: ${churn.closesPerSecond} closes/s over 60 s, made ${want.counted} = ${want.perSecond}/s`);
  const [low, high] = want.last10;
  console.log(`# ${source} ${key(tuple)}: made ${want.counted} counted TIME_WAIT = ${want.perSecond.toFixed(3)}/s over 60 s and ${low}..${high}/s over 10 s; reported ${churn.closesPerSecond} and ${churn.closesPerSecondLast10s}`);
  assert.ok(churn.closesPerSecondLast10s >= low - ROUNDING && churn.closesPerSecondLast10s <= high + ROUNDING, `${source} ${key(tuple)}: ${churn.closesPerSecondLast10s} closes/s over 10 s, made ${low}..${high}/s`);
}

/**
 * The forecast against the kernel: F from the check, the TIME_WAITs the tuple took on until
 * connect() refused, and the ages of its TIME_WAITs then (`young`: those the kernel may
 * not reuse, i.e. younger than the reuse delay; all of them when nothing is reusable).
 */
function assertForecast(report: ReportJson, tuple: Tuple, result: { absorbed: number; timeWaitAges: number[] }, young: (ageMs: number) => boolean): { kernelFactor: number } {
  const t = pool(report, tuple);
  assert.ok(t.churn !== null && t.churn.headroomFactor !== null, `${key(tuple)} has a headroom factor`);
  const counted = (t.states.TIME_WAIT ?? 0) - t.timeWaitReusable;
  const predicted = (t.churn.headroomFactor - 1) * counted;
  // The premise: the counted TIME_WAITs were all still there when connect() failed (none
  // expired, none reused), and nothing else changed but the TIME_WAITs made.
  assert.ok(result.timeWaitAges.every((age) => age < 60_000));
  assert.equal(result.timeWaitAges.filter(young).length, counted + result.absorbed, `${key(tuple)}: counted TIME_WAITs ${counted} + made ${result.absorbed} still held when connect() failed`);
  console.log(`# ${key(tuple)}: headroom ${t.churn.headroomFactor}x of ${counted} TIME_WAIT predicts ${predicted.toFixed(2)} more; connect() failed after ${result.absorbed}; ceiling ${t.churn.ceilingPerSecond}/s x 60 = ${(t.churn.ceilingPerSecond * 60).toFixed(1)} vs ${result.absorbed + counted}`);
  assert.ok(Math.abs(result.absorbed - predicted) <= 1, `${key(tuple)}: headroom ${t.churn.headroomFactor}x of ${counted} TIME_WAIT predicts ${predicted.toFixed(2)} more; the kernel took ${result.absorbed}, then refused`);
  // The ceiling: the ports churn can use, each held 60 s.
  assert.ok(Math.abs(t.churn.ceilingPerSecond * 60 - (result.absorbed + counted)) <= 1, `${key(tuple)}: ceiling ${t.churn.ceilingPerSecond}/s x 60 s against ${result.absorbed + counted} ports the kernel let TIME_WAIT hold`);
  return { kernelFactor: (result.absorbed + counted) / counted };
}

function timeWaitSteps(batches: readonly Batch[]): Step[] {
  return batches.map((b) => ({ op: 'timeWait', tuple: b.tuple, n: b.n }));
}

/** Churn thresholds and the state the kernel's own headroom figures call for. */
const CHURN_LIMITS = [
  { warning: 2, critical: 1.5 },
  { warning: 3, critical: 2 },
  { warning: 1.5, critical: 1.2 },
] as const;

function churnArgs(l: { warning: number; critical: number }): string[] {
  return ['-w', '90', '-c', '95', '--warning-churn', String(l.warning), '--critical-churn', String(l.critical)];
}

test('churn: close rates, headroom and ceiling against TIME_WAITs made at known times', { skip }, async (t) => {
  // tcp_tw_reuse 0: every TIME_WAIT holds its port. IPv4 (with IPv4-mapped sockets in the
  // same tuple), IPv6, and a tuple with no churn at all.
  const first: Batch[] = [
    { tuple: V4, n: 60, counted: true },
    { tuple: V6, n: 50, counted: true },
  ];
  const second: Batch[] = [
    { tuple: V4, n: 30, counted: true },
    { tuple: V4_MAPPED, n: 10, counted: true },
    { tuple: V6, n: 25, counted: true },
  ];
  const held = [
    portRange(40000, 40199),
    { op: 'sysctl', values: { 'net.ipv4.tcp_tw_reuse': 0, 'net.ipv4.tcp_timestamps': 1 } },
    { op: 'listen', at: ['127.0.0.2', 5432] },
    { op: 'listen', at: ['::1', 5432] },
    { op: 'listen', at: ['127.0.0.3', 6379] },
    { op: 'listen', at: ['127.0.0.4', 7000] },
    { op: 'listen', at: ['127.0.0.9', 40100] }, // in the range: lost to every tuple
    { op: 'connect', tuple: V4, n: 20 },
    { op: 'connect', tuple: V6, n: 20 },
    { op: 'connect', tuple: STEADY, n: 10 },
  ] satisfies Step[];

  // tcp_tw_reuse 1 with a reuse delay between the two batches' ages: the first batch is
  // reusable when the check runs, the second is not, until connect() has failed (25 s
  // leave room for a loaded machine). Built with reuse off (see time-wait.test.ts).
  const DELAY_MS = 25_000;
  const REUSE_PAUSE_S = 30;
  const firstReused: Batch[] = [
    { tuple: V4, n: 60, counted: false },
    { tuple: V6, n: 30, counted: false },
  ];
  const secondCounted: Batch[] = [
    { tuple: V4, n: 40, counted: true },
    { tuple: V6, n: 20, counted: true },
  ];

  const [plain, reuse] = await Promise.all([
    runScenario([
      ...held,
      ...timeWaitSteps(first),
      { op: 'sleep', seconds: PAUSE_S },
      ...timeWaitSteps(second),
      { op: 'finWait2', tuple: V4, n: 5 },
      { op: 'closeWait', tuple: V4, n: 5 },
      ...CHURN_LIMITS.map((l): Step => ({ op: 'check', args: churnArgs(l) })),
      { op: 'check', args: ['-v'] },
      { op: 'verify', fresh: FRESH },
      { op: 'churn', tuple: V4 },
      { op: 'churn', tuple: V6 },
    ]),
    runScenario([
      portRange(40000, 40199),
      { op: 'sysctl', values: { 'net.ipv4.tcp_tw_reuse': 0, 'net.ipv4.tcp_timestamps': 1 } },
      { op: 'listen', at: ['127.0.0.2', 5432] },
      { op: 'listen', at: ['::1', 5432] },
      { op: 'listen', at: ['127.0.0.4', 7000] },
      { op: 'connect', tuple: V4, n: 20 },
      { op: 'connect', tuple: V6, n: 10 },
      ...timeWaitSteps(firstReused),
      { op: 'sleep', seconds: REUSE_PAUSE_S },
      ...timeWaitSteps(secondCounted),
      { op: 'sysctl', values: { 'net.ipv4.tcp_tw_reuse': 1, 'net.ipv4.tcp_tw_reuse_delay': DELAY_MS } },
      { op: 'verify', fresh: FRESH },
      { op: 'churn', tuple: V4 },
      { op: 'churn', tuple: V6 },
    ]),
  ]);

  const bothSources = (v: Verified, batches: Batch[], made: { madeFrom: number; madeTo: number }[], tuples: Tuple[]) => {
    for (const tuple of tuples) {
      assertRates(v.check.report, v.check, 1, batches, made, tuple, 'ss');
      assertRates(v.checkProc.report, v.checkProc, 0.01, batches, made, tuple, '/proc');
    }
  };

  await t.test('tcp_tw_reuse 0: rates as made, the forecast where connect() fails', () => {
    const batches = [...first, ...second];
    const made = timeWaitsMade(plain);
    const runs = checkRuns(plain);
    const [v] = verifications(plain);
    const [v4, v6] = churns(plain);
    assertKernelAgrees(v);
    bothSources(v, batches, made, [V4, V6]);
    // The ESTABLISHED-only tuple: no churn, no headroom factor, its whole remainder for a ceiling.
    const steady = pool(v.check.report, STEADY);
    assert.deepEqual(steady.churn, { closesPerSecond: 0, closesPerSecondLast10s: 0, headroomFactor: null, ceilingPerSecond: Math.round((steady.remaining / 60) * 1000) / 1000 });
    const kernel4 = assertForecast(v.check.report, V4, v4, () => true);
    const kernel6 = assertForecast(v.check.report, V6, v6, () => true);

    // Thresholds on churn: the state the kernel's headroom calls for (usage stays OK at -w 90).
    CHURN_LIMITS.forEach((l, i) => {
      const run = runs[i];
      assertNagiosOutput(run);
      const worstFactor = Math.min(kernel4.kernelFactor, kernel6.kernelFactor);
      const churnState = worstFactor < l.critical ? 2 : worstFactor < l.warning ? 1 : 0;
      const want = Math.max(churnState, kernelState(v, { warning: 90, critical: 95 }));
      assert.equal(run.status, want, `${churnArgs(l).join(' ')} with kernel headroom ${worstFactor.toFixed(3)}x: ${run.stdout.split('\n')[0]}`);
      // Perfdata of the worst tuple, with the churn thresholds.
      const worst = pool(v.check.report, V4);
      const perf = run.stdout.trimEnd().split('\n').pop() ?? '';
      assert.match(perf, new RegExp(` worst_close_rate=${worst.churn?.closesPerSecond}(;|$| )`));
      assert.match(perf, new RegExp(` worst_churn_headroom=${worst.churn?.headroomFactor};${l.warning};${l.critical}(;|$| )`));
    });
    assert.match(runs[0].stdout, /^EPHEMERAL PORTS WARNING - worst tcp 127\.0\.0\.1 -> 127\.0\.0\.2:5432: .*headroom.* < 2/);
    // The detail line and -v say what the figures are.
    const verbose = runs[CHURN_LIMITS.length];
    assertNagiosOutput(verbose);
    assert.match(verbose.stdout, /\] tcp 127\.0\.0\.1 -> 127\.0\.0\.2:5432: .*; 1\.67 closes\/s \([\d.]+\/s in the last 10 s\), 1\.69x headroom, ceiling 2\.82\/s(; held by .*)?\n/);
    assert.match(verbose.stdout, /\n[^\n[]*headroom[^\n]*\n/);
  });

  await t.test('tcp_tw_reuse 1: TIME_WAIT the kernel may reuse is left out of every figure', () => {
    const batches = [...firstReused, ...secondCounted];
    const made = timeWaitsMade(reuse);
    const [v] = verifications(reuse);
    const [v4, v6] = churns(reuse);
    assertKernelAgrees(v);
    for (const tuple of [V4, V6]) {
      const p = pool(v.check.report, tuple);
      const reused = firstReused.find((b) => key(b.tuple) === key(tuple))?.n;
      assert.equal(p.timeWaitReusable, reused, `${key(tuple)}: the first batch is reusable`);
    }
    bothSources(v, batches, made, [V4, V6]);
    // connect() reused the first batch's ports: only the second batch, and what was made
    // after it, was still younger than the delay when connect() failed.
    assertForecast(v.check.report, V4, v4, (age) => age < DELAY_MS);
    assertForecast(v.check.report, V6, v6, (age) => age < DELAY_MS);
  });
});

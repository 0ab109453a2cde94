/**
 * Ground-truth plumbing: runs sockets.py in a private network namespace (`unshare -n`),
 * where it builds loopback sockets, runs the bundle and asks the kernel what is left, then
 * compares the check's figures with the kernel's counts. The expectations are the counts:
 * nothing here knows what the check should say.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BUNDLE, groundTruthUnavailable, ROOT, runInFreshNamespace, skipUnless, type BundleRun } from '../helpers';

const SCRIPT = join(ROOT, 'test', 'groundtruth', 'sockets.py');

/** The node:test `skip` option of every ground-truth test. */
export const skip = skipUnless(groundTruthUnavailable());

export type Tuple = readonly [local: string, remote: string, remotePort: number];
export type Endpoint = readonly [address: string, port: number];

/** sockets.py's steps; see its docstring. */
export type Step =
  | { op: 'sysctl'; values: Record<string, string | number> }
  | { op: 'listen' | 'unlisten'; at: Endpoint }
  | { op: 'connect' | 'bindConnect' | 'rangeConnect' | 'accepted' | 'timeWait' | 'finWait2' | 'closeWait' | 'bindTimeWait'; tuple: Tuple; n: number }
  | { op: 'bindPort'; tuple: Tuple; port: number }
  | { op: 'udp'; at: Endpoint }
  | { op: 'udpConnect'; to: Endpoint; n: number }
  | { op: 'fill' | 'count' | 'churn'; tuple: Tuple }
  | { op: 'sleep'; seconds: number }
  | { op: 'check'; args: string[] }
  | { op: 'verify'; fresh: Tuple[]; repeat?: number; mapped?: boolean };

export function portRange(low: number, high: number): Step {
  return { op: 'sysctl', values: { 'net.ipv4.ip_local_port_range': `${low} ${high}` } };
}

/** A pool as the check's JSON lists it. */
export interface PoolJson {
  protocol: 'tcp' | 'udp';
  family: 4 | 6 | null;
  local: string;
  remote: string;
  remotePort: number | null;
  used: number;
  remaining: number;
  capacity: number;
  usage: number;
  status: string;
  sockets: number;
  states: Record<string, number>;
  timeWaitReusable: number;
  /** TCP: ports this tuple's clients took with bind() before connect(), lost to every tuple. */
  bindTaken?: number;
  /** TCP: what is left if every port came from connect() (the optimistic figure). */
  optimisticRemaining?: number;
  /** Null for the UDP pool. */
  churn: ChurnJson | null;
}

export interface ChurnJson {
  closesPerSecond: number;
  closesPerSecondLast10s: number;
  headroomFactor: number | null;
  ceilingPerSecond: number;
}

export interface ReportJson {
  status: string;
  capacity: number;
  /** In-range ports taken by bind() before connect(): lost to every tuple. */
  bindTaken: number;
  /** What a new tuple would get if every port came from connect(). */
  optimisticCapacity: number;
  range: { low: number; high: number; size: number; oddSized: boolean };
  reserved: number;
  listeningPorts: number;
  kernel: { socketSource?: string };
  tcp: { socketsInRange: number; timeWait: number; timeWaitReusable: number; sharedPorts: number };
  bindStyle: { capacity: number; used: number; remaining: number };
  newTuple: PoolJson;
  tuples: PoolJson[];
}

export interface Counted {
  local: string;
  remote: string;
  remotePort: number;
  /** connect()s that succeeded before EADDRNOTAVAIL, each time counted alone. */
  counts: number[];
  /** The same, with the sockets of every tuple counted before it still open. */
  countWhileOthersHeld: number;
  /** The same IPv4 tuple counted from AF_INET6 sockets with IPv4-mapped addresses. */
  mappedCount?: number;
  /** Reported tuples: how many of the client sockets the scenario built for it bound first. */
  bindFirst?: number;
}

interface HostWideCounts {
  /** IPv4 sockets bound to 0.0.0.0:0 before EADDRINUSE. */
  bind4: number;
  /** Dual-stack IPv6 sockets bound to [::]:0 before EADDRINUSE. */
  bindDual: number;
  /** Usable ports held only by sockets showing a specific IPv6 address. */
  ipv6OnlyPorts: number;
}

/** A run of the bundle, with the monotonic times (s) it started and ended. */
export type TimedRun = BundleRun & { ranFrom: number; ranTo: number };

export interface Verified {
  /** The check with --source ss, and with --source proc on the same sockets. */
  check: TimedRun & { report: ReportJson };
  checkProc: TimedRun & { report: ReportJson };
  /** |range \ reserved| as the kernel reads its sysctls back. */
  usablePorts: number;
  /** Tuple keys (`local remote port`) of the client sockets the scenario built. */
  built: string[];
  tuples: Counted[];
  fresh: Counted[];
  udp: HostWideCounts & { connect4: number };
  tcpBind: HostWideCounts;
}

/** Runs the steps in a fresh namespace; one result per step (null for building steps). */
export async function runScenario(steps: Step[]): Promise<unknown[]> {
  return (await runInFreshNamespace<{ results: unknown[] }>(SCRIPT, { bundle: BUNDLE, steps })).results;
}

const STATES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];

function key(p: { local: string; remote: string; remotePort: number | null }): string {
  return `${p.local} ${p.remote} ${p.remotePort}`;
}

/**
 * In an odd-sized range connect() scans an even count of ports per call, so one free
 * port may be out of reach (docs/kernel-model.md, Rule 7); bind(addr, 0) scans the same way. Nothing else.
 */
function assertReaches(count: number, remaining: number, oddRange: boolean, what: string): void {
  if (oddRange) assert.ok(count === remaining || count === remaining - 1, `${what}: kernel ${count}, check ${remaining} (odd range: ${remaining} or ${remaining - 1})`);
  else assert.equal(count, remaining, `${what}: the kernel allowed ${count} more, the check says ${remaining}`);
}

/**
 * An IPv4 wildcard bind may also take ports held only by sockets bound to IPv6 addresses
 * such as ::1; the dual-stack bind the host-wide figures stand for may not.
 */
function assertIpv4Wildcard(count: number, remaining: number, ipv6OnlyPorts: number, oddRange: boolean, what: string): void {
  const least = oddRange ? remaining - 1 : remaining;
  assert.ok(count >= least && count <= remaining + ipv6OnlyPorts, `${what}: kernel ${count}, check ${remaining}, ${ipv6OnlyPorts} ports held only on IPv6 addresses`);
}

/** Every figure of the check's report against the kernel's counts. */
export function assertKernelAgrees(v: Verified, { oddRange = false } = {}): void {
  const { report } = v.check;
  assert.equal(v.check.stderr, '');
  // The /proc source must tell the same story; the figures below hold for both.
  assert.equal(v.checkProc.stderr, '');
  assert.equal(v.checkProc.status, v.check.status, 'ss and /proc sources: exit code');
  assert.equal(report.kernel.socketSource, 'ss');
  assert.equal(v.checkProc.report.kernel.socketSource, 'proc');
  // One exception: /proc ran second, and reads ages to 10 ms where ss rounds them down to
  // the second, so a TIME_WAIT may leave the last-10 s window in between, never join it.
  const last10 = (r: ReportJson) => r.tuples.map((t) => t.churn?.closesPerSecondLast10s ?? null);
  last10(v.checkProc.report).forEach((proc, i) => {
    const ss = last10(report)[i];
    assert.ok(proc === ss || (proc !== null && ss !== null && proc < ss), `ss and /proc sources: closes/s in the last 10 s of tuple ${i}: ${ss}, then ${proc}`);
  });
  const sameBut = (r: ReportJson) => ({
    ...r,
    kernel: { ...r.kernel, socketSource: undefined },
    tuples: r.tuples.map((t) => ({ ...t, churn: t.churn && { ...t.churn, closesPerSecondLast10s: undefined } })),
  });
  assert.deepEqual(sameBut(v.checkProc.report), sameBut(report), 'ss and /proc sources: the whole JSON');
  assert.equal(STATES[v.check.status ?? -1], report.status, 'exit code and JSON status');
  assert.equal(report.range.oddSized, oddRange);

  const tcp = report.tuples.filter((t) => t.protocol === 'tcp');
  // The check reports every tuple the scenario built, and nothing else (no inbound side).
  assert.deepEqual(tcp.map(key).sort(), v.built);
  assert.deepEqual(v.tuples.map(key), tcp.map(key));
  tcp.forEach((t, i) => {
    const k = v.tuples[i];
    for (const count of k.counts) assertReaches(count, t.remaining, oddRange, `tuple ${key(t)}`);
    // Counting the tuples before it (their sockets still open) took nothing from it.
    assertReaches(k.countWhileOthersHeld, t.remaining, oddRange, `tuple ${key(t)} with the other tuples' counted sockets open`);
    if (k.mappedCount !== undefined) assertReaches(k.mappedCount, t.remaining, oddRange, `tuple ${key(t)} from IPv4-mapped sockets`);
    // Its own bind()-taken ports are the only ones it has that a new tuple has not.
    assert.equal(t.bindTaken, k.bindFirst, `tuple ${key(t)}: ports taken by bind() before connect(), the check against what was built`);
    assert.equal(t.capacity, report.capacity + (t.bindTaken ?? NaN));
    // The optimistic figure never says less than the kernel; the bind()-style one never more.
    assert.ok((t.optimisticRemaining ?? NaN) >= t.remaining, `tuple ${key(t)}: optimistic ${t.optimisticRemaining}, judged ${t.remaining}`);
    assert.ok(report.bindStyle.remaining <= t.remaining, `tuple ${key(t)}: bind()-style ${report.bindStyle.remaining}, judged ${t.remaining}`);
  });
  assert.ok(v.fresh.length > 0, 'a scenario counts at least one fresh tuple');
  for (const f of v.fresh) {
    for (const count of f.counts) assertReaches(count, report.capacity, oddRange, `fresh tuple ${key(f)}`);
    assertReaches(f.countWhileOthersHeld, report.capacity, oddRange, `fresh tuple ${key(f)} with every tuple's counted sockets open`);
  }
  assert.equal(report.newTuple.remaining, report.capacity);
  assert.equal(report.optimisticCapacity - report.bindTaken, report.capacity, 'a new tuple loses exactly the bind()-taken ports');

  const udp = report.tuples.find((t) => t.protocol === 'udp');
  assert.ok(udp !== undefined, 'the UDP pool is listed');
  // UDP scans every port of the range, odd-sized or not (udp_lib_get_port).
  assert.equal(v.udp.bindDual, udp.remaining, `udp: the kernel bound ${v.udp.bindDual} more to [::]:0, the check says ${udp.remaining}`);
  assertIpv4Wildcard(v.udp.bind4, udp.remaining, v.udp.ipv6OnlyPorts, false, 'udp bind to 0.0.0.0:0');
  assertIpv4Wildcard(v.udp.connect4, udp.remaining, v.udp.ipv6OnlyPorts, false, 'udp connect() from an unbound IPv4 socket');
  assert.equal(udp.capacity, v.usablePorts);

  assertReaches(v.tcpBind.bindDual, report.bindStyle.remaining, oddRange, 'bind()-style, TCP bind to [::]:0');
  assertIpv4Wildcard(v.tcpBind.bind4, report.bindStyle.remaining, v.tcpBind.ipv6OnlyPorts, oddRange, 'bind()-style, TCP bind to 0.0.0.0:0');
  assert.equal(report.bindStyle.capacity, v.usablePorts);
}

/** The Nagios plugin layout (docs/plugin-contract.md); returns the state word of the first line. */
export function assertNagiosOutput(run: BundleRun): string {
  assert.equal(run.stderr, '');
  assert.ok(run.status !== null && run.status >= 0 && run.status <= 3, `exit code ${run.status}`);
  const lines = run.stdout.split('\n');
  assert.equal(lines.pop(), '', 'output ends with a newline');
  const first = /^EPHEMERAL PORTS (OK|WARNING|CRITICAL|UNKNOWN) - \S/.exec(lines[0]);
  assert.ok(first, `first line: ${lines[0]}`);
  assert.equal(first[1], STATES[run.status], 'state word and exit code');
  assert.equal(run.stdout.split('|').length, 2, 'exactly one | in the output');
  const perf = lines[lines.length - 1];
  assert.match(perf, /^\| /, 'the | opens the last line');
  for (const item of perf.slice(2).split(' ')) assert.match(item, /^[a-z0-9_]+=\d+(\.\d+)?%?(;(\d+(\.\d+)?)?){0,4}$/, `perfdata item ${item}`);
  return first[1];
}

/** Plain thresholds: usage in percent alerts above warning/critical; remaining below N. */
export interface Limits {
  readonly warning: number;
  readonly critical: number;
  readonly warningRemaining?: number;
  readonly criticalRemaining?: number;
}

export const DEFAULT_LIMITS: Limits = { warning: 70, critical: 90 };

export function limitArgs(l: Limits): string[] {
  const args = ['-w', String(l.warning), '-c', String(l.critical)];
  if (l.warningRemaining !== undefined) args.push('--warning-remaining', String(l.warningRemaining));
  if (l.criticalRemaining !== undefined) args.push('--critical-remaining', String(l.criticalRemaining));
  return args;
}

function stateFor(usage: number, remaining: number, l: Limits): number {
  if (usage > l.critical || remaining < (l.criticalRemaining ?? 0)) return 2;
  if (usage > l.warning || remaining < (l.warningRemaining ?? 0)) return 1;
  return 0;
}

export interface KernelPool {
  /** `local remote port` for a TCP tuple, `udp` for the UDP pool. */
  readonly key: string;
  readonly remaining: number;
  readonly usage: number;
}

/**
 * Every pool from the kernel's counts alone: a tuple used what it could get with no sockets
 * of its own (a fresh tuple's count, plus the ports its own bind-first clients took from
 * everyone) minus what it can still get; the UDP pool likewise of the usable ports.
 */
export function kernelPools(v: Verified): KernelPool[] {
  const capacity = Math.min(...v.fresh.map((f) => f.counts[0]));
  const pool = (k: string, left: number, of: number) => ({ key: k, remaining: left, usage: of === 0 ? 100 : ((of - left) / of) * 100 });
  return [...v.tuples.map((t) => pool(key(t), t.counts[0], capacity + (t.bindFirst ?? 0))), pool('udp', v.udp.bindDual, v.usablePorts)];
}

/** The worst state over the kernel's pools (those `select` keeps) with these limits. */
export function kernelState(v: Verified, l: Limits = DEFAULT_LIMITS, select: (p: KernelPool) => boolean = () => true): number {
  return Math.max(...kernelPools(v).filter(select).map((p) => stateFor(p.usage, p.remaining, l)));
}

/** The results of the verify steps, in order. */
export function verifications(results: unknown[]): Verified[] {
  return results.filter((r): r is Verified => typeof r === 'object' && r !== null && 'tuples' in r);
}

/** The results of the check steps, in order. */
export function checkRuns(results: unknown[]): TimedRun[] {
  return results.filter((r): r is TimedRun => typeof r === 'object' && r !== null && 'stdout' in r);
}

/** The results of the timeWait steps, in order: monotonic times (s) around the closes. */
export function timeWaitsMade(results: unknown[]): { madeFrom: number; madeTo: number }[] {
  return results.filter((r): r is { madeFrom: number; madeTo: number } => typeof r === 'object' && r !== null && 'madeFrom' in r);
}

/** The results of the churn steps, in order. */
export function churns(results: unknown[]): { absorbed: number; timeWaitAges: number[] }[] {
  return results.filter((r): r is { absorbed: number; timeWaitAges: number[] } => typeof r === 'object' && r !== null && 'absorbed' in r);
}

/** The local ports each step that built client sockets got, in step order. */
export function builtPorts(results: unknown[]): number[][] {
  return results.filter((r): r is { ports: number[] } => typeof r === 'object' && r !== null && 'ports' in r).map((r) => r.ports);
}

/** The results of the count and fill steps, in order. */
export function counts(results: unknown[]): number[] {
  return results.filter((r): r is { count: number } => typeof r === 'object' && r !== null && 'count' in r).map((r) => r.count);
}

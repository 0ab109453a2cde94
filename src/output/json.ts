/** Verdict → JSON for scripts and dashboards; the same status and exit code as the text. */
import type { KernelSettings } from '../model/settings';
import { State, stateName } from '../nagios/state';
import type { PoolOwners } from '../owners/owners';
import type { Pool } from '../pools/pool';
import type { AcrossVerdict } from '../verdict/across';
import type { NamespaceBound, PoolBound } from '../verdict/bound';
import { byHeadroom, type Judged } from '../verdict/judge';
import type { Verdict } from '../verdict/verdict';
import type { NatVerdict, JudgedNat } from '../verdict/nat';
import { summary, summaryAcross } from './describe';
import { failuresJson, leadWithFailures } from './failures';
import type { FailuresJudged } from '../verdict/failures';
import { failureSummary, type Failure } from './failure';

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** The processes holding a pool's sockets, when they were looked up. */
function ownersJson(owners: ReadonlyMap<Pool, PoolOwners> | undefined, pool: Pool) {
  const o = owners?.get(pool);
  if (o === undefined) return {};
  const processes = o.holders.map(({ pid, command, user, sockets }) => ({ pid, command, user, sockets }));
  return { owners: { visible: o.visible, complete: o.complete, processes, unseen: o.unseen, ownerless: o.ownerless } };
}

function poolJson({ pool, state }: Judged, owners?: ReadonlyMap<Pool, PoolOwners>) {
  return {
    protocol: pool.protocol,
    family: pool.family,
    local: pool.local,
    remote: pool.remote,
    remotePort: pool.remotePort,
    used: pool.used,
    remaining: pool.remaining,
    capacity: pool.capacity,
    usage: round(pool.usage),
    status: stateName(state),
    state,
    sockets: pool.sockets,
    states: pool.states,
    timeWaitReusable: pool.timeWaitReusable,
    ...(pool.protocol === 'tcp' ? { bindTaken: pool.bindTaken, optimisticRemaining: pool.optimisticRemaining } : {}),
    churn: pool.churn === null ? null : {
      closesPerSecond: round(pool.churn.closesPerSecond),
      closesPerSecondLast10s: round(pool.churn.closesPerSecondLast10s),
      headroomFactor: pool.churn.headroomFactor === null ? null : round(pool.churn.headroomFactor),
      ceilingPerSecond: round(pool.churn.ceilingPerSecond),
    },
    ...ownersJson(owners, pool),
  };
}

/** One NAT pool: exactly the fields of the contract (README, "NAT hosts"). */
function natPoolJson({ pool, state }: JudgedNat, netns: number | null) {
  return {
    protocol: pool.protocol,
    natAddress: pool.natAddress,
    remote: pool.remote,
    remotePort: pool.remotePort,
    used: pool.used,
    capacity: pool.capacity,
    remaining: pool.remaining,
    usage: round(pool.usage),
    status: stateName(state),
    state,
    range: pool.range,
    rangeFrom: pool.rangeFrom,
    netns,
  };
}

/**
 * `nat` and `natReading`: the NAT pools of the namespaces read (worst first, --top of
 * them), or why there are none: "not asked: --nat", "not readable: root needed".
 */
function natJson(verdicts: readonly { nat: NatVerdict | undefined; netns: number | null }[], top: number) {
  const asked = verdicts.filter((v): v is { nat: NatVerdict; netns: number | null } => v.nat !== undefined);
  if (asked.length === 0) return { nat: 'not asked: --nat' };
  const read = asked.filter((v) => v.nat.findings.unread === null);
  const stats = asked.map((v) => v.nat.findings.stats).filter((s) => s !== null);
  const counters = stats.length === 0 ? null : { insertFailed: stats.reduce((n, s) => n + s.insertFailed, 0), drop: stats.reduce((n, s) => n + s.drop, 0) };
  if (read.length === 0) return { nat: `not readable: ${asked[0].nat.findings.unread}`, natReading: { conntrack: counters } };
  const all = read.flatMap((v) => v.nat.judged.map((j) => ({ j, netns: v.netns })));
  const listed = all.sort((a, b) => byHeadroom(a.j, b.j)).slice(0, top === 0 ? undefined : top);
  const selected = read.reduce((n, v) => n + v.nat.selected, 0);
  return {
    nat: listed.map(({ j, netns }) => natPoolJson(j, netns)),
    natReading: {
      poolsSelected: selected,
      poolsOmitted: selected - listed.length,
      conntrack: counters,
      namespaces: read.map(({ nat: { findings: f }, netns }) => ({
        netns,
        from: f.from,
        entries: f.entries,
        rulesRead: f.rules?.read ?? [],
        rulesUnread: f.rules?.unread ?? [],
        range: f.evidence.option === null ? null : { ...f.evidence.option, from: 'option' },
        holdTimes: { timeWaitSeconds: f.hold.timeWaitSeconds, closeSeconds: f.hold.closeSeconds, read: f.hold.read },
      })),
      unread: asked.filter((v) => v.nat.findings.unread !== null).map((v) => ({ netns: v.netns, why: v.nat.findings.unread })),
    },
  };
}

function thresholdsJson(v: { thresholds: Verdict['thresholds'] }) {
  return {
    warning: v.thresholds.warning.toString(),
    critical: v.thresholds.critical.toString(),
    warningRemaining: v.thresholds.warningRemaining,
    criticalRemaining: v.thresholds.criticalRemaining,
    warningChurn: v.thresholds.warningChurn,
    criticalChurn: v.thresholds.criticalChurn,
  };
}

/** What one namespace's verdict says about its port space, beyond its pools. */
function spaceJson(v: Verdict, settings: KernelSettings, source: 'ss' | 'proc') {
  const { report } = v;
  return {
    capacity: report.capacity,
    bindTaken: report.bind.taken,
    bindUndecidable: report.bind.undecidable,
    optimisticCapacity: report.optimisticCapacity,
    range: { low: report.space.low, high: report.space.high, size: report.space.rangeSize, oddSized: report.space.oddSized },
    reserved: report.space.reservedInRange,
    listeningPorts: report.listeningPorts,
    kernel: { socketSource: source, tcpTwReuse: settings.twReuse, tcpTwReuseDelayMs: settings.twReuseDelayMs, tcpTimestamps: settings.timestamps, assumptions: settings.assumptions },
    tcp: report.tcp === null ? null : { socketsInRange: report.tcp.sockets, timeWait: report.tcp.timeWait, timeWaitReusable: report.tcp.timeWaitReusable, sharedPorts: report.tcp.sharedPorts },
    bindStyle: report.tcp === null ? null : { ...report.tcp.bindStyle, usage: round(report.tcp.bindStyle.usage) },
    newTuple: poolJson(v.fresh),
  };
}

export function renderJson(v: Verdict, o: { top: number; settings: KernelSettings; source: 'ss' | 'proc'; owners?: ReadonlyMap<Pool, PoolOwners>; failures?: FailuresJudged | null }): string {
  const listed = o.top === 0 ? v.judged : v.judged.slice(0, o.top);
  const { capacity, bindTaken, bindUndecidable, optimisticCapacity, range, reserved, listeningPorts, kernel, tcp, bindStyle, newTuple } = spaceJson(v, o.settings, o.source);
  const body = {
    status: stateName(v.state),
    // The state as a number too: consumers that ignore the exit code (Zabbix) read it here.
    state: v.state,
    summary: leadWithFailures(summary(v), o.failures ?? null),
    capacity,
    bindTaken,
    bindUndecidable,
    optimisticCapacity,
    range,
    reserved,
    listeningPorts,
    thresholds: thresholdsJson(v),
    ...failuresJson(o.failures ?? null),
    kernel,
    tcp,
    bindStyle,
    newTuple,
    tuplesSelected: v.selected,
    tuplesOmitted: v.selected - listed.length,
    tuples: listed.map((j) => poolJson(j, o.owners)),
    ...natJson([{ nat: v.nat, netns: null }], o.top),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

/**
 * With --namespaces (a contract others test against): each tuple names its namespace by
 * `netns`, the nsfs inode; `namespaces` describes every namespace checked, `unchecked`
 * those that could not be, `gone` those whose processes exited first.
 */
export function renderJsonAcross(v: AcrossVerdict, o: { top: number; owners?: ReadonlyMap<Pool, PoolOwners>; failures?: FailuresJudged | null }): string {
  const listed = o.top === 0 ? v.judged : v.judged.slice(0, o.top);
  const { checked, unchecked, gone } = v.across;
  const body = {
    status: stateName(v.state),
    // The state as a number too: consumers that ignore the exit code (Zabbix) read it here.
    state: v.state,
    summary: leadWithFailures(summaryAcross(v), o.failures ?? null),
    thresholds: thresholdsJson(v),
    ...failuresJson(o.failures ?? null),
    root: v.across.root,
    namespaces: [
      ...checked.map((ns) => ({
        inode: ns.inode,
        name: ns.name,
        status: stateName(ns.verdict.state),
        state: ns.verdict.state,
        // Its sockets were listed; the bound its counts gave first (null: no counts).
        reading: 'listed',
        bound: boundJson(ns.bound),
        settings: ns.settingsRead ? 'read' : 'assumed',
        ...spaceJson(ns.verdict, ns.settings, ns.source),
        // Only with --namespaces: only another namespace's range is ever assumed.
        bindSkipped: ns.verdict.report.bind.skipped,
        tuplesSelected: ns.verdict.selected,
      })),
      // Checked by its socket counts alone: no pool of it can alert, nor be the worst.
      ...v.across.bounded.map((ns) => ({
        inode: ns.inode,
        name: ns.name,
        status: stateName(State.OK),
        state: State.OK,
        reading: 'bounded',
        bound: boundJson(ns.bound),
        settings: ns.settingsRead ? 'read' : 'assumed',
        range: { low: ns.settings.range.low, high: ns.settings.range.high, size: ns.settings.range.high - ns.settings.range.low + 1, oddSized: (ns.settings.range.high - ns.settings.range.low + 1) % 2 === 1 },
      })),
    ],
    // perfdata's worst_*: the worst pool's figures, or bounds on them when no namespace could
    // alert (then bound is true); null when there is neither (no namespace checked).
    worst: worstJson(v),
    // Null when every namespace was listed; else what those not listed bound, and whether
    // those bounds, not a pool listed, are the worst figures (no namespace could alert).
    bounds: v.bounds === null ? null : { namespaces: v.bounds.namespaces, mostUsage: round(v.bounds.mostUsage), mostUsed: v.bounds.mostUsed, leastRemaining: v.bounds.leastRemaining, worstIsBound: v.bounds.decide },
    unchecked: unchecked.map(({ inode, name, reason }) => ({ inode, name, reason })),
    gone: gone.map(({ inode, name, reason }) => ({ inode, name, reason })),
    tuplesSelected: v.selected,
    tuplesOmitted: v.selected - listed.length,
    tuples: listed.map((j) => ({ netns: checked[j.at].inode, namespace: checked[j.at].name, ...poolJson(j, o.owners) })),
    ...natJson(checked.map((ns) => ({ nat: ns.verdict.nat, netns: ns.inode })), o.top),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

function worstJson(v: AcrossVerdict) {
  const value = (label: string) => v.perfdata.find((p) => p.label === label)?.value;
  const usage = value('worst_usage');
  if (usage === undefined) return null;
  return { usage: round(usage), used: value('worst_used'), remaining: value('worst_remaining'), bound: v.bounds?.decide ?? false };
}

function poolBoundJson(b: PoolBound | null) {
  return b === null ? null : { sockets: b.sockets, capacity: b.capacity, mostUsed: b.mostUsed, mostUsage: round(b.mostUsage), leastRemaining: b.leastRemaining };
}

/** What a namespace's socket counts bound (verdict/bound.ts); null when they could not be read. */
function boundJson(b: NamespaceBound | null) {
  if (b === null) return null;
  return {
    status: stateName(b.state),
    state: b.state,
    tcp: b.tcp === null ? null : { ...poolBoundJson(b.tcp), timeWait: b.tcp.timeWait, leastChurnHeadroom: b.tcp.leastChurnHeadroom === null ? null : round(b.tcp.leastChurnHeadroom) },
    udp: poolBoundJson(b.udp),
  };
}

/** `{ status: "UNKNOWN", state: 3, summary }`, with the usage, the help or the version that goes with it. */
export function renderJsonFailure(failure: Failure): string {
  const body = {
    status: stateName(State.UNKNOWN),
    state: State.UNKNOWN,
    summary: failureSummary(failure),
    ...(failure.kind === 'usage' ? { usage: failure.usage } : {}),
    ...(failure.kind === 'help' ? { help: failure.help } : {}),
    ...(failure.kind === 'version' ? { version: failure.version } : {}),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

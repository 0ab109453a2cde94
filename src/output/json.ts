/** Verdict → JSON for scripts and dashboards; the same status and exit code as the text. */
import type { KernelSettings } from '../kernel/proc-source';
import { State, stateName } from '../nagios/state';
import type { Judged, Verdict } from '../verdict/verdict';
import { summary } from './describe';
import { failureSummary, type Failure } from './failure';

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function poolJson({ pool, state }: Judged) {
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
  };
}

export function renderJson(v: Verdict, o: { top: number; settings: KernelSettings; source: 'ss' | 'proc' }): string {
  const { report } = v;
  const listed = o.top === 0 ? v.judged : v.judged.slice(0, o.top);
  const body = {
    status: stateName(v.state),
    summary: summary(v),
    capacity: report.capacity,
    bindTaken: report.bind.taken,
    bindUndecidable: report.bind.undecidable,
    optimisticCapacity: report.optimisticCapacity,
    range: { low: report.space.low, high: report.space.high, size: report.space.rangeSize, oddSized: report.space.oddSized },
    reserved: report.space.reservedInRange,
    listeningPorts: report.listeningPorts,
    thresholds: {
      warning: v.thresholds.warning.toString(),
      critical: v.thresholds.critical.toString(),
      warningRemaining: v.thresholds.warningRemaining,
      criticalRemaining: v.thresholds.criticalRemaining,
      warningChurn: v.thresholds.warningChurn,
      criticalChurn: v.thresholds.criticalChurn,
    },
    kernel: { socketSource: o.source, tcpTwReuse: o.settings.twReuse, tcpTwReuseDelayMs: o.settings.twReuseDelayMs, tcpTimestamps: o.settings.timestamps, assumptions: o.settings.assumptions },
    tcp: report.tcp === null ? null : { socketsInRange: report.tcp.sockets, timeWait: report.tcp.timeWait, timeWaitReusable: report.tcp.timeWaitReusable, sharedPorts: report.tcp.sharedPorts },
    bindStyle: report.tcp === null ? null : { ...report.tcp.bindStyle, usage: round(report.tcp.bindStyle.usage) },
    newTuple: poolJson(v.fresh),
    tuplesSelected: v.selected,
    tuplesOmitted: v.selected - listed.length,
    tuples: listed.map(poolJson),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

/** `{ status: "UNKNOWN", summary }`, with the usage, the help or the version that goes with it. */
export function renderJsonFailure(failure: Failure): string {
  const body = {
    status: stateName(State.UNKNOWN),
    summary: failureSummary(failure),
    ...(failure.kind === 'usage' ? { usage: failure.usage } : {}),
    ...(failure.kind === 'help' ? { help: failure.help } : {}),
    ...(failure.kind === 'version' ? { version: failure.version } : {}),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

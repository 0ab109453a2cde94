/**
 * Verdict → the Prometheus text exposition format, for node_exporter's textfile collector
 * (docs/plugin-contract.md, "Prometheus"): `# HELP` and `# TYPE` before each metric, no
 * timestamps (the collector refuses them), names prefixed `ephemeral_ports_`, base units
 * (a ratio 0..1, never percent). The metrics are two tables: add a figure with one line.
 */
import { formatNumber } from '../nagios/number';
import { State, stateName } from '../nagios/state';
import type { Perfdata } from '../nagios/perfdata';
import type { CheckedNamespace } from '../verdict/across';
import type { Pool } from '../pools/pool';
import type { AcrossVerdict } from '../verdict/across';
import type { Judged } from '../verdict/judge';
import type { Verdict } from '../verdict/verdict';
import { failureSummary, type Failure } from './failure';

const PREFIX = 'ephemeral_ports_';

/** A ratio to 6 decimals still tells one port from the next in a 65,535-port range. */
const RATIO_DECIMALS = 6;

/** What the host-wide gauges read: the state, the perfdata, and the range (one namespace). */
interface Measured {
  readonly state: State;
  readonly perfdata: readonly Perfdata[];
  /** Absent with --namespaces: each namespace has its own (NAMESPACE_GAUGES). */
  readonly range?: { readonly low: number; readonly high: number };
}

/** One host-wide gauge; undefined when this run did not measure it (TCP or UDP not read). */
interface Gauge {
  readonly name: string;
  readonly help: string;
  readonly value: (v: Measured) => number | undefined;
}

/** A perfdata item's value, by its label: the fixed perfdata set is what the gauges mirror. */
const perf = (label: string, scale = 1) => (v: Measured) => {
  const item = v.perfdata.find((p) => p.label === label);
  return item === undefined ? undefined : item.value * scale;
};

const CHECK_STATE: Gauge = { name: 'check_state', help: 'State of the check as its exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the plugin thresholds decide it).', value: (v) => v.state };

export const GAUGES: readonly Gauge[] = [
  CHECK_STATE,
  { name: 'worst_usage_ratio', help: 'Share of its ports that the worst pool uses, 0 to 1: the tuple (or the UDP pool) with the least headroom.', value: perf('worst_usage', 1 / 100) },
  { name: 'worst_used', help: 'Ports the worst pool uses.', value: perf('worst_used') },
  { name: 'worst_remaining', help: 'Ports the worst pool has left.', value: perf('worst_remaining') },
  { name: 'capacity', help: 'Ports a new TCP destination gets: the range minus reserved ports, ports of in-range listeners and ports clients took with bind() before connect().', value: perf('capacity') },
  { name: 'tuples', help: 'TCP tuples (local address, remote address, remote port) selected.', value: perf('tuples') },
  { name: 'listening_ports', help: 'In-range ports held by listening sockets: lost to every tuple.', value: perf('listening_ports') },
  { name: 'sockets_in_range', help: 'TCP sockets whose local port is in the range.', value: perf('sockets_in_range') },
  { name: 'time_wait', help: 'TCP sockets in the range in TIME_WAIT.', value: perf('time_wait') },
  { name: 'bind_remaining', help: 'In-range ports no TCP socket holds: what is left for clients that bind() before connect().', value: perf('bind_remaining') },
  { name: 'bind_taken', help: 'In-range ports clients took with bind() before connect(), told by their parity: lost to every tuple.', value: perf('bind_taken') },
  { name: 'worst_closes_per_second', help: 'Connections the worst TCP tuple closed per second over the last 60 s (its TIME_WAIT that holds a port, over 60 s).', value: perf('worst_close_rate') },
  { name: 'worst_churn_headroom_factor', help: 'How many times its current churn the worst TCP tuple can take before connect() fails; absent when it has no TIME_WAIT holding a port.', value: perf('worst_churn_headroom') },
  { name: 'connect_failures', help: 'connect()s that failed for want of a local port (EADDRNOTAVAIL) since the previous run with --failures, lost events included: the span of this run, not a counter (a textfile cannot keep one across runs); absent when not counted.', value: perf('connect_failures') },
  { name: 'udp_used', help: 'In-range ports held by UDP sockets: one host-wide pool.', value: perf('udp_used') },
  { name: 'nat_worst_usage_ratio', help: 'Share of its ports that the worst source NAT pool (NAT address, destination) uses, 0 to 1 (--nat, root).', value: perf('nat_worst_usage', 1 / 100) },
  { name: 'nat_worst_remaining', help: 'Ports the worst source NAT pool has left (--nat, root).', value: perf('nat_worst_remaining') },
  { name: 'nat_insert_failed', help: 'Connections conntrack could not insert since the namespace was made (--nat): where a NAT pool is full, its new connections are dropped and counted here (races between CPUs count too).', value: perf('nat_insert_failed') },
  { name: 'range_low', help: 'First port of net.ipv4.ip_local_port_range.', value: (v) => v.range?.low },
  { name: 'range_high', help: 'Last port of net.ipv4.ip_local_port_range.', value: (v) => v.range?.high },
  { name: 'namespaces', help: 'Network namespaces checked (--namespaces).', value: perf('namespaces') },
  { name: 'namespaces_unchecked', help: 'Network namespaces that could not be checked, or not in time (--namespaces); each makes the state at least UNKNOWN.', value: perf('namespaces_unchecked') },
  { name: 'namespaces_bounded', help: 'Network namespaces checked by their socket counts alone, not listed (--namespaces): no pool of theirs could alert. When no namespace could, the worst_* gauges are bounds: usage and ports used at most, ports left at least.', value: perf('namespaces_bounded') },
];

/** Per-namespace gauges with --namespaces, labelled netns (its inode) and namespace (its name). */
export const NAMESPACE_GAUGES: readonly { readonly name: string; readonly help: string; readonly value: (ns: CheckedNamespace) => number }[] = [
  { name: 'namespace_state', help: 'State of the worst pool of this network namespace: 0 OK, 1 WARNING, 2 CRITICAL.', value: (ns) => ns.verdict.state },
  { name: 'namespace_capacity', help: 'Ports a new TCP destination gets in this network namespace.', value: (ns) => ns.verdict.report.capacity },
  { name: 'namespace_range_low', help: 'First port of this network namespace\'s ip_local_port_range.', value: (ns) => ns.verdict.report.space.low },
  { name: 'namespace_range_high', help: 'Last port of this network namespace\'s ip_local_port_range.', value: (ns) => ns.verdict.report.space.high },
  { name: 'namespace_settings_assumed', help: '1 when this network namespace\'s sysctls could not be read (not root) and the kernel defaults of a new namespace were assumed; bind() before connect() is then not told there, and none of its ports count in bind_taken.', value: (ns) => (ns.settingsRead ? 0 : 1) },
];

/** A label of the per-tuple series; `remote_port` is empty for the UDP pool (no destination). */
export const TUPLE_LABELS: readonly { readonly name: string; readonly value: (p: Pool) => string }[] = [
  { name: 'protocol', value: (p) => p.protocol },
  { name: 'local', value: (p) => p.local },
  { name: 'remote', value: (p) => p.remote },
  { name: 'remote_port', value: (p) => (p.remotePort === null ? '' : String(p.remotePort)) },
];

/** Per-tuple gauges, for the worst `--top` pools only: their labels are addresses. */
export const TUPLE_GAUGES: readonly { readonly name: string; readonly help: string; readonly value: (p: Pool) => number }[] = [
  { name: 'tuple_usage_ratio', help: 'Share of its ports that this pool uses, 0 to 1; only the worst --top pools are listed.', value: (p) => p.usage / 100 },
  { name: 'tuple_used', help: 'Ports this pool uses; only the worst --top pools are listed.', value: (p) => p.used },
  { name: 'tuple_remaining', help: 'Ports this pool has left; only the worst --top pools are listed.', value: (p) => p.remaining },
];

/** HELP text escapes backslash and newline; label values also the double quote. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function family(name: string, help: string, samples: readonly string[]): string[] {
  return [`# HELP ${PREFIX}${name} ${escapeHelp(help)}`, `# TYPE ${PREFIX}${name} gauge`, ...samples.map((s) => `${PREFIX}${name}${s}`)];
}

function value(name: string, n: number): string {
  return formatNumber(n, name.endsWith('_ratio') ? RATIO_DECIMALS : 3);
}

function gauges(v: Measured): string[] {
  const lines: string[] = [];
  for (const g of GAUGES) {
    const n = g.value(v);
    if (n !== undefined) lines.push(...family(g.name, g.help, [` ${value(g.name, n)}`]));
  }
  return lines;
}

/** @param extra labels before the tuple's own (the namespace's, with --namespaces) */
function tupleGauges(listed: readonly Judged[], extra: (j: Judged, i: number) => string): string[] {
  const lines: string[] = [];
  const labels = listed.map((j, i) => `{${extra(j, i)}${TUPLE_LABELS.map((l) => `${l.name}="${escapeLabelValue(l.value(j.pool))}"`).join(',')}}`);
  if (listed.length > 0) {
    for (const g of TUPLE_GAUGES) lines.push(...family(g.name, g.help, listed.map(({ pool }, i) => `${labels[i]} ${value(g.name, g.value(pool))}`)));
  }
  return lines;
}

export function renderPrometheus(v: Verdict, o: { top: number }): string {
  const listed = o.top === 0 ? v.judged : v.judged.slice(0, o.top);
  const lines = [...gauges({ state: v.state, perfdata: v.perfdata, range: v.report.space }), ...tupleGauges(listed, () => '')];
  return `${lines.join('\n')}\n`;
}

/** With --namespaces: the same gauges over all of them, then per namespace, and `netns` on each tuple. */
export function renderPrometheusAcross(v: AcrossVerdict, o: { top: number }): string {
  const listed = o.top === 0 ? v.judged : v.judged.slice(0, o.top);
  const { checked } = v.across;
  const nsLabels = (ns: CheckedNamespace) => `netns="${ns.inode ?? ''}",namespace="${escapeLabelValue(ns.name)}"`;
  const lines = gauges({ state: v.state, perfdata: v.perfdata });
  for (const g of NAMESPACE_GAUGES) lines.push(...family(g.name, g.help, checked.map((ns) => `{${nsLabels(ns)}} ${value(g.name, g.value(ns))}`)));
  lines.push(...tupleGauges(listed, (_, i) => `netns="${checked[listed[i].at].inode ?? ''}",`));
  return `${lines.join('\n')}\n`;
}

/**
 * A failure: the check state alone, UNKNOWN, and a comment saying why. The file the
 * collector reads is replaced by this, so a scrape never keeps serving an old verdict.
 */
/** A failure is an UNKNOWN file; the help, when asked for, as comment lines before it. */
export function renderPrometheusFailure(failure: Failure): string {
  const help = failure.kind === 'help' ? failure.help.trimEnd().split('\n').map((line) => `# ${line}`.trimEnd()).join('\n') + '\n' : '';
  return help + renderPrometheusUnknown(failureSummary(failure));
}

export function renderPrometheusUnknown(message: string): string {
  const why = `# check_ephemeral_ports ${stateName(State.UNKNOWN)}: ${message.replace(/[\r\n]+/g, ' ')}`;
  return `${[why, ...family(CHECK_STATE.name, CHECK_STATE.help, [` ${State.UNKNOWN}`])].join('\n')}\n`;
}

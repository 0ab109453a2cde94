/**
 * Verdict → the Nagios plugin text all consumers read (docs/plugin-contract.md): a status
 * line, detail lines, then one final line starting with `|` holding all perfdata. Every `|` in
 * text is replaced here, centrally, and the whole stays under 4 KB.
 */
import type { KernelSettings } from '../model/settings';
import { TIME_WAIT_LIFETIME_MS } from '../model/records';
import { RECENT_CLOSES_MS } from '../pools/churn';
import { formatPerfdata } from '../nagios/perfdata';
import { State, stateName } from '../nagios/state';
import type { PoolOwners } from '../owners/owners';
import type { Pool } from '../pools/pool';
import type { PoolFigures } from '../pools/report';
import type { AcrossVerdict } from '../verdict/across';
import type { NamespaceBound } from '../verdict/bound';
import type { Judged } from '../verdict/judge';
import type { Verdict } from '../verdict/verdict';
import { natIsWorse, type JudgedNat, type NatVerdict } from '../verdict/nat';
import type { NatFindings } from '../nat/findings';
import { churnText, figure, headroom, namespaceTag, natPoolName, natsAcross, ownersText, percent, poolName, summary, summaryAcross } from './describe';
import type { Failure } from './failure';
import { failuresLines, failuresVerbose, leadWithFailures } from './failures';
import type { FailuresJudged } from '../verdict/failures';

/** Old NRPE and Nagios 3 cut at 4 KB; keep clear of it. */
const MAX_BYTES = 3800;

export interface TextOptions {
  readonly top: number;
  readonly verbose: number;
  readonly settings: KernelSettings;
  /** Which socket source answered: ss (sock_diag) or /proc/net. */
  readonly source: 'ss' | 'proc';
  /** The processes holding the listed pools that were looked up. */
  readonly owners?: ReadonlyMap<Pool, PoolOwners>;
  /** The failed connect()s, with --failures. */
  readonly failures?: FailuresJudged | null;
}

function clean(text: string): string {
  return text.replace(/\|/g, '/').replace(/[\r\n]+/g, ' ');
}

function statusLine(state: State, text: string): string {
  return clean(`EPHEMERAL PORTS ${stateName(state)} - ${text}`);
}

export function renderUnknown(message: string, usage = ''): string {
  return `${statusLine(State.UNKNOWN, message)}\n${usage.replace(/\|/g, '/')}`;
}

/** Help and version as plain text (exit 3, the plugin convention); the rest an UNKNOWN line. */
export function renderTextFailure(failure: Failure): string {
  switch (failure.kind) {
    case 'help':
      return failure.help;
    case 'version':
      return `check_ephemeral_ports ${failure.version}\n`;
    case 'usage':
      return renderUnknown(failure.message, failure.usage);
    case 'unknown':
      return renderUnknown(failure.message);
  }
}

/** @param where the namespace, with --namespaces */
function detail(j: Judged, owners: ReadonlyMap<Pool, PoolOwners> | undefined, where = ''): string {
  const reusable = j.pool.timeWaitReusable > 0 ? ` (${j.pool.timeWaitReusable} reusable now)` : '';
  const states = Object.entries(j.pool.states).map(([name, count]) => `${name} ${count}${name === 'TIME_WAIT' ? reusable : ''}`);
  const churn = churnText(j);
  const held = owners?.get(j.pool);
  return `[${stateName(j.state)}] ${where}${poolName(j.pool)}: ${headroom(j)}${states.length ? `; ${states.join(', ')}` : ''}${churn === null ? '' : `; ${churn}`}${held ? `; ${ownersText(held)}` : ''}`;
}

/** "[CRITICAL] nat tcp 10.2.0.1 -> 10.2.0.2:5432: 100/100 ports used (100.0% > 90), 0 left; range 40000-40099 (ruleset); TIME_WAIT 3, CLOSE 1; ..." */
function natDetail(j: JudgedNat, where = ''): string {
  const p = j.pool;
  const closing = p.protocol === 'tcp' && p.timeWait + p.close > 0 ? `; TIME_WAIT ${p.timeWait}, CLOSE ${p.close}` : '';
  const churn = p.churn === null || p.churn.headroomFactor === null ? '' : `; ${figure(p.churn.closesPerSecond)} closes/s, ${figure(p.churn.headroomFactor)}x headroom${j.reason?.metric === 'churn' ? ` ${j.reason.violation}` : ''}, ceiling ${figure(p.churn.ceilingPerSecond)}/s`;
  return `[${stateName(j.state)}] ${where}${natPoolName(p)}: ${headroom(j)}; range ${p.range.low}-${p.range.high} (${p.rangeFrom})${closing}${churn}`;
}

/** What the NAT reading of one namespace read, and what its figures can and cannot prove (-v). */
function natLines(f: NatFindings, where = ''): string[] {
  const failed = f.stats === null ? '' : `insert_failed ${f.stats.insertFailed}, drop ${f.stats.drop} since the namespace was made (a connection whose NAT port is taken is dropped at confirmation and counts in both; races between CPUs count too, so a rise is a hint, not proof)`;
  if (f.unread !== null) return [`${where}NAT pools: not read: ${f.unread}${f.unread === 'root needed' ? ' (conntrack and the NAT rules are root\'s)' : ''}${failed ? `; ${failed}` : ''}`];
  const rules = f.evidence.option !== null
    ? `range ${f.evidence.option.low}-${f.evidence.option.high} from --nat-range`
    : f.rules === null || f.rules.rules === null
      ? `NAT rules not read${f.rules === null ? '' : ` (${f.rules.unread.join('; ')})`}: each pool's range is the kernel's default class, assumed`
      : `NAT rules read with ${f.rules.read.join(', ')}: ${f.rules.rules.length} masquerade/snat${f.rules.unread.length > 0 ? ` (not read: ${f.rules.unread.join('; ')})` : ''}`;
  return [
    `${where}NAT pools: ${f.table?.size ?? 0} from ${f.entries} conntrack entries read from ${f.from}; ${rules}; ${failed}`,
    `${where}NAT hold times: TIME_WAIT ${f.hold.timeWaitSeconds} s, CLOSE ${f.hold.closeSeconds} s (${f.hold.read ? 'read' : 'the kernel defaults, assumed'}); the NAT engine tries at most 248 ports from a random start in a range of more than 128, so a large pool can refuse before it is full`,
  ];
}

/** The NAT pools' detail lines, and where they go: before the tuples when the worst of them is worse. */
function natPage(nat: NatVerdict | undefined, tuples: readonly Judged[], top: number): { lines: string[]; first: boolean; count: number } {
  if (nat === undefined) return { lines: [], first: false, count: 0 };
  const listed = top === 0 ? nat.judged : nat.judged.slice(0, top);
  return { lines: listed.map((j) => natDetail(j)), first: natIsWorse(nat.judged[0], tuples[0]), count: nat.selected };
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** How many tuples a list names before it says "and N more". */
const NAMED = 3;

/** The fix, as the proxies' own documentation states it (README, "When a tuple runs low"). */
const BIND_FIX = 'fix: set IP_BIND_ADDRESS_NO_PORT before bind(), as HAProxy >= 1.7 and nginx >= 1.11.4 do for a source address given without a port';

/**
 * Who takes ports from every tuple by binding before connecting, and what to change
 * (docs/kernel-model.md, Rule 9); null when the parity shows no such port.
 */
function bindLine(report: PoolFigures): string | null {
  const { bind } = report;
  if (bind.taken === 0) return null;
  let what = `bind() before connect(): ${count(bind.taken, 'port')} taken from every tuple`;
  const named = bind.binders.slice(0, NAMED).map(({ pool, ports }) => `${poolName(pool)} (${ports})`);
  if (named.length > 0) {
    const more = bind.binderTuples - named.length;
    what += `, by clients of ${named.join(', ')}${more > 0 ? ` and ${count(more, 'more tuple')}` : ''}`;
  }
  const parts = [what];
  if (bind.sharedTaken > 0) parts.push(`${count(bind.sharedTaken, 'port')} held by several tuples (a closed listener's accepted connections, or bind()s on several addresses)`);
  parts.push(BIND_FIX);
  return parts.join('; ');
}

/** Why bind() before connect() was not told at all (a range assumed, not read); null when it was. */
function bindUntold(report: PoolFigures): string | null {
  if (report.bind.skipped === null) return null;
  return `bind() before connect(): undecidable (${report.bind.skipped}): the parity of a port tells only against the range's real low end, so no port is counted as bind()'s and each tuple is judged by its own sockets (the bind()-style figure is the worst case)`;
}

/** What the parity cannot tell, said rather than guessed (docs/kernel-model.md, Rule 9). */
function bindDoubts(report: PoolFigures): string[] {
  const untold = bindUntold(report);
  if (untold !== null) return [untold];
  const { bind } = report;
  const lines = bind.spilled.slice(0, NAMED).map(
    ({ pool, ports }) => `${poolName(pool)} has no port of connect()'s parity left: its ${count(ports, 'port')} of bind()'s parity may be connect()'s overflow or bind()'s, counted as its own (a bind() would take them from every tuple: the bind()-style figure is that worst case)`,
  );
  if (bind.spilledTuples > lines.length) lines.push(`... and ${count(bind.spilledTuples - lines.length, 'more tuple')} with no port of connect()'s parity left`);
  if (bind.bindParityFull) lines.push("every port of bind()'s parity is held: a bind() before connect() now gets a port of connect()'s parity, which the check cannot tell from connect()'s (the bind()-style figure is that worst case)");
  return lines;
}

/** What to change when a tuple alerts on its churn. */
const CHURN_FIX = `fix for churn: reuse connections (HTTP keep-alive, a connection pool) instead of one per request: each close holds its port ${TIME_WAIT_LIFETIME_MS / 1000} s in TIME_WAIT`;

function verboseLines(v: Verdict, o: TextOptions): string[] {
  const { report } = v;
  const { space, tcp, bind } = report;
  const s = o.settings;
  const lines = [
    `range ${space.low}-${space.high}: ${space.rangeSize} ports, ${space.reservedInRange} reserved, ${report.listeningPorts} held by listeners; a new tcp destination gets ${report.capacity}${bind.taken > 0 ? ` (${report.optimisticCapacity} less ${bind.taken} taken by bind() before connect())` : ''}`,
  ];
  if (tcp !== null) {
    const worst = v.judged.find((j) => j.pool.protocol === 'tcp')?.pool;
    if (bind.taken > 0 && worst !== undefined) lines.push(`optimistic (as if connect() chose every port): ${poolName(worst)} would have ${worst.optimisticRemaining} left, a new tcp destination ${report.optimisticCapacity}`);
    lines.push(
      `bind()-style: ${tcp.bindStyle.used}/${tcp.bindStyle.capacity} in-range ports held by some tcp socket, ${tcp.bindStyle.remaining} left for clients that bind() before connect()`,
      ...bindDoubts(report),
      `TIME_WAIT in range: ${tcp.timeWait}, ${tcp.timeWaitReusable} reusable now (tcp_tw_reuse=${s.twReuse}${s.twReuse === 2 ? ' loopback only' : ''}, tcp_timestamps=${s.timestamps}, delay ${s.twReuseDelayMs} ms)`,
    );
  }
  if (tcp !== null) {
    const life = TIME_WAIT_LIFETIME_MS / 1000;
    const recent = RECENT_CLOSES_MS / 1000;
    lines.push(`churn: closes/s = TIME_WAIT holding a port / ${life} s (last ${recent} s: those younger / ${recent} s); headroom = how many times that churn fits before connect() fails; ceiling = the close rate it can sustain (each close holds a port ${life} s)`);
  }
  if (space.oddSized) lines.push('the range holds an odd number of ports: connect() scans an even count per call, so a tuple may reach one port fewer (give the range endpoints of different parity)');
  lines.push(...s.assumptions);
  if (o.verbose >= 2) {
    lines.push(`sockets read ${o.source === 'ss' ? 'with ss (sock_diag, filtered in the kernel)' : 'from /proc/net'}`);
    if (tcp !== null) lines.push(`${tcp.sockets} tcp sockets in range; ${tcp.sharedPorts} ports held by sockets of several tuples (connect()'s, or at connect()'s parity possibly a closed in-range listener's accepted connections)`);
    lines.push('sockets bound but neither listening nor connected are not in /proc/net/tcp and are not counted (ss -B lists them on new iproute2)');
  }
  return lines;
}

export function renderText(v: Verdict, o: TextOptions): string {
  const listed = o.top === 0 ? v.judged : v.judged.slice(0, o.top);
  // The bind() and churn lines follow the tuples and are never cut: each names a cause and its fix.
  const bind = bindLine(v.report);
  const churnFix = v.judged.some((j) => j.reason?.metric === 'churn') ? CHURN_FIX : null;
  const fixes = [bind, churnFix].filter((line): line is string => line !== null);
  const failures = o.failures ?? null;
  const nat = natPage(v.nat, v.judged, o.top);
  const tuples = listed.map((j) => detail(j, o.owners));
  const extra = o.verbose > 0 ? [...failuresVerbose(failures), ...verboseLines(v, o), ...(v.nat === undefined ? [] : natLines(v.nat.findings))] : [];
  return layout({ summary: leadWithFailures(summary(v), failures), state: v.state, perfdata: v.perfdata, leading: failuresLines(failures), pools: nat.first ? [...nat.lines, ...tuples] : [...tuples, ...nat.lines], pinned: fixes, extra, poolCount: v.selected + nat.count, top: o.top });
}

/** With --namespaces: each detail line names its namespace; those not checked follow. */
export function renderTextAcross(v: AcrossVerdict, o: { readonly top: number; readonly verbose: number; readonly owners?: ReadonlyMap<Pool, PoolOwners>; readonly failures?: FailuresJudged | null }): string {
  const failures = o.failures ?? null;
  const listed = o.top === 0 ? v.judged : v.judged.slice(0, o.top);
  const { checked, unchecked, gone } = v.across;
  const netns = (inode: number | null) => (inode === null ? 'netns inode unreadable' : `netns ${inode}`);
  const binders = checked.flatMap((ns) => {
    const line = bindLine(ns.verdict.report);
    return line === null ? [] : [`${ns.name}: ${line}`];
  });
  // Never cut, so bounded: the first few, and how many more.
  const binds = binders.slice(0, NAMED);
  if (binders.length > NAMED) binds.push(`... and ${count(binders.length - NAMED, 'more namespace')} where bind() before connect() takes ports`);
  if (v.judged.some((j) => j.reason?.metric === 'churn')) binds.push(CHURN_FIX);
  const extra = unchecked.map((u) => `[UNKNOWN] ${u.name} (${netns(u.inode)}): not checked: ${u.reason}`);
  if (o.verbose > 0) {
    checked.forEach((ns) => {
      const r = ns.verdict.report;
      const s = ns.settings;
      extra.push(
        `${ns.name} (${netns(ns.inode)}): settings ${ns.settingsRead ? 'read' : 'assumed'}, range ${r.space.low}-${r.space.high}, ${r.space.reservedInRange} reserved, ${r.listeningPorts} held by listeners; a new tcp destination gets ${r.capacity}; tcp_tw_reuse=${s.twReuse}; ${ns.verdict.selected} pools`,
        ...s.assumptions.map((a) => `${ns.name}: ${a}`),
      );
      const untold = bindUntold(r);
      if (untold !== null) extra.push(`${ns.name}: ${untold}`);
      if (o.verbose >= 2) extra.push(`${ns.name}: sockets read ${ns.source === 'ss' ? 'with ss' : 'from /proc'}${ns.inode !== null || ns.name === 'host' ? '' : '; its namespace link may not be read, so its inode is unknown'}`);
    });
    extra.push(...v.across.bounded.map((ns) => `${ns.name} (${netns(ns.inode)}): not listed, OK by its socket counts: ${boundText(ns.bound)}; settings ${ns.settingsRead ? 'read' : 'assumed'}, range ${ns.settings.range.low}-${ns.settings.range.high}`));
    extra.push(...gone.map((g) => `${g.name} (${netns(g.inode)}): gone: ${g.reason}`));
    if (!v.across.root) extra.push('not root: the sysctls of other namespaces cannot be read, and are assumed to be the defaults of a new namespace');
  }
  if (o.verbose > 0) extra.unshift(...failuresVerbose(failures));
  // --nat: each namespace's NAT pools, worst first over all of them, and what each read (-v).
  const nats = natsAcross(v);
  const natListed = (o.top === 0 ? nats : nats.slice(0, o.top)).map(({ j, at }) => natDetail(j, `${namespaceTag(v, at)}: `));
  if (o.verbose > 0) checked.forEach((ns) => ns.verdict.nat !== undefined && extra.push(...natLines(ns.verdict.nat.findings, `${ns.name}: `)));
  const tuples = listed.map((j) => detail(j, o.owners, `${namespaceTag(v, j.at)}: `));
  const natFirst = natIsWorse(nats[0]?.j, v.judged[0]);
  return layout({ summary: leadWithFailures(summaryAcross(v), failures), state: v.state, perfdata: v.perfdata, leading: failuresLines(failures), pools: natFirst ? [...natListed, ...tuples] : [...tuples, ...natListed], pinned: binds, extra, poolCount: v.selected + checked.reduce((n, ns) => n + (ns.verdict.nat?.selected ?? 0), 0), top: o.top });
}

/** What one page of Nagios output holds, before it is cut to fit. */
interface Page {
  readonly summary: string;
  readonly state: State;
  readonly perfdata: Verdict['perfdata'];
  /** Lines before the pools, never cut: the failed connect()s, a few lines at most. */
  readonly leading: readonly string[];
  /** One line per listed pool, worst first. */
  readonly pools: readonly string[];
  /** Lines that follow the pools and are never cut (a cause and its fix). */
  readonly pinned: readonly string[];
  /** Further lines (-v), cut first when the page is full. */
  readonly extra: readonly string[];
  /** How many pools were selected, listed or not. */
  readonly poolCount: number;
  readonly top: number;
}

/** "2,001 tcp sockets (0 TIME_WAIT) in 28,232 ports: at most 7.09% used, at least 26,231 left; 0 udp" */
function boundText(b: NamespaceBound): string {
  const parts: string[] = [];
  if (b.tcp !== null) parts.push(`${b.tcp.sockets} tcp sockets (${b.tcp.timeWait} TIME_WAIT) in ${b.tcp.capacity} ports: at most ${percent(b.tcp.mostUsage)} used, at least ${b.tcp.leastRemaining} left`);
  if (b.udp !== null) parts.push(`${b.udp.sockets} udp sockets: at most ${percent(b.udp.mostUsage)} used`);
  return parts.join('; ');
}

/**
 * Status line, the pool lines, further lines, then perfdata: all under 4 KB. The pinned
 * lines (bind() before connect(): a cause and its fix) follow the pools and are never cut.
 */
function layout({ summary: text, state, perfdata, leading, pools, pinned, extra, poolCount, top }: Page): string {
  const status = statusLine(state, text);
  const perf = `| ${perfdata.map(formatPerfdata).join(' ')}`;
  const wanted = [...pools, ...extra].map(clean);
  const pinnedText = [...leading, ...pinned].map(clean);
  let budget = MAX_BYTES - Buffer.byteLength(status) - Buffer.byteLength(perf) - 80 - pinnedText.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  const body: string[] = [];
  for (const line of wanted) {
    budget -= Buffer.byteLength(line) + 1;
    if (budget < 0) break;
    body.push(line);
  }
  const shownPools = Math.min(pools.length, body.length);
  body.splice(shownPools, 0, ...pinnedText.slice(leading.length));
  body.unshift(...pinnedText.slice(0, leading.length));
  const left = poolCount - shownPools;
  if (left > 0) body.push(`... ${left} more not shown${top === 0 ? ' (output kept under 4 KB)' : ' (--top 0 lists all)'}`);
  return [status, ...body, perf].join('\n') + '\n';
}

/**
 * Verdict → the Nagios plugin text all consumers read (docs/plugin-contract.md): a status
 * line, detail lines, then one final line starting with `|` holding all perfdata. Every `|` in
 * text is replaced here, centrally, and the whole stays under 4 KB.
 */
import type { KernelSettings } from '../kernel/proc-source';
import { formatPerfdata } from '../nagios/perfdata';
import { State, stateName } from '../nagios/state';
import type { Judged, Verdict } from '../verdict/verdict';
import { headroom, poolName, summary } from './describe';
import type { Failure } from './failure';

/** Old NRPE and Nagios 3 cut at 4 KB; keep clear of it. */
const MAX_BYTES = 3800;

export interface TextOptions {
  readonly top: number;
  readonly verbose: number;
  readonly settings: KernelSettings;
  /** Which socket source answered: ss (sock_diag) or /proc/net. */
  readonly source: 'ss' | 'proc';
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

function detail(j: Judged): string {
  const reusable = j.pool.timeWaitReusable > 0 ? ` (${j.pool.timeWaitReusable} reusable now)` : '';
  const states = Object.entries(j.pool.states).map(([name, count]) => `${name} ${count}${name === 'TIME_WAIT' ? reusable : ''}`);
  return `[${stateName(j.state)}] ${poolName(j.pool)}: ${headroom(j)}${states.length ? `; ${states.join(', ')}` : ''}`;
}

function verboseLines(v: Verdict, o: TextOptions): string[] {
  const { report } = v;
  const { space, tcp } = report;
  const s = o.settings;
  const lines = [
    `range ${space.low}-${space.high}: ${space.rangeSize} ports, ${space.reservedInRange} reserved, ${report.listeningPorts} held by listeners; a new tcp destination gets ${report.capacity}`,
  ];
  if (tcp !== null) {
    lines.push(
      `bind()-style: ${tcp.bindStyle.used}/${tcp.bindStyle.capacity} in-range ports held by some tcp socket, ${tcp.bindStyle.remaining} left for clients that bind() before connect()`,
      `TIME_WAIT in range: ${tcp.timeWait}, ${tcp.timeWaitReusable} reusable now (tcp_tw_reuse=${s.twReuse}${s.twReuse === 2 ? ' loopback only' : ''}, tcp_timestamps=${s.timestamps}, delay ${s.twReuseDelayMs} ms)`,
    );
  }
  if (space.oddSized) lines.push('the range holds an odd number of ports: connect() scans an even count per call, so a tuple may reach one port fewer (give the range endpoints of different parity)');
  lines.push(...s.assumptions);
  if (o.verbose >= 2) {
    lines.push(`sockets read ${o.source === 'ss' ? 'with ss (sock_diag, filtered in the kernel)' : 'from /proc/net'}`);
    if (tcp !== null) lines.push(`${tcp.sockets} tcp sockets in range; ${tcp.sharedPorts} ports held by sockets to several tuples (certainly connect()-autobound)`);
    lines.push('sockets bound but neither listening nor connected are not in /proc/net/tcp and are not counted (ss -B lists them on new iproute2)');
  }
  return lines;
}

export function renderText(v: Verdict, o: TextOptions): string {
  const status = statusLine(v.state, summary(v));
  const perf = `| ${v.perfdata.map(formatPerfdata).join(' ')}`;
  const listed = o.top === 0 ? v.judged : v.judged.slice(0, o.top);
  const wanted = [...listed.map(detail), ...(o.verbose > 0 ? verboseLines(v, o) : [])].map(clean);
  let budget = MAX_BYTES - Buffer.byteLength(status) - Buffer.byteLength(perf) - 80;
  const body: string[] = [];
  for (const line of wanted) {
    budget -= Buffer.byteLength(line) + 1;
    if (budget < 0) break;
    body.push(line);
  }
  const left = v.selected - Math.min(listed.length, body.length);
  if (left > 0) body.push(`... ${left} more not shown${o.top === 0 ? ' (output kept under 4 KB)' : ' (--top 0 lists all)'}`);
  return [status, ...body, perf].join('\n') + '\n';
}

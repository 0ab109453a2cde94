/** Words both output formats share, so the text and JSON summaries never disagree. */
import { endpointText } from '../model/address';
import type { Pool } from '../pools/pool';
import { State } from '../nagios/state';
import type { PoolOwners } from '../owners/owners';
import type { AcrossVerdict } from '../verdict/across';
import { byHeadroom, type Judged } from '../verdict/judge';
import { natIsWorse, type JudgedNat } from '../verdict/nat';
import type { Verdict } from '../verdict/verdict';
import type { NatPool } from '../nat/nat-pool';

export function poolName(pool: Pool): string {
  if (pool.protocol === 'udp') return 'udp host-wide pool';
  if (pool.remotePort === null) return 'a new tcp destination';
  return `tcp ${pool.local} -> ${endpointText(pool.remote, pool.remotePort)}`;
}

export function percent(usage: number): string {
  return `${usage.toFixed(1)}%`;
}

/**
 * A rate or factor for people: "1,840", "21.5", "1.67" (about three significant digits,
 * thousands grouped by hand: toLocaleString would load ICU, ~5 ms).
 */
export function figure(n: number): string {
  const [whole, fraction = ''] = n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2).split('.');
  const digits = fraction.replace(/0+$/, '');
  return `${whole.replace(/\B(?=(\d{3})+$)/g, ',')}${digits ? `.${digits}` : ''}`;
}

/** "nat tcp 10.2.0.1 -> 10.2.0.2:5432": a source NAT pool (NAT address -> destination). */
export function natPoolName(pool: NatPool): string {
  return `nat ${pool.protocol} ${pool.natAddress} -> ${endpointText(pool.remote, pool.remotePort)}${pool.zone === 0 ? '' : ` (zone ${pool.zone})`}`;
}

/** "176/188 ports used (93.6% > 90), 12 left": a tuple's or a NAT pool's. */
export function headroom({ pool, reason }: { readonly pool: Pick<Pool, 'used' | 'capacity' | 'usage' | 'remaining'>; readonly reason: Judged['reason'] }): string {
  const usageAlert = reason?.metric === 'usage' ? ` ${reason.violation}` : '';
  const leftAlert = reason?.metric === 'remaining' ? ` ${reason.violation}` : '';
  return `${pool.used}/${pool.capacity} ports used (${percent(pool.usage)}${usageAlert}), ${pool.remaining} left${leftAlert}`;
}

/** "1,840 closes/s (2,100/s in the last 10 s), 2.1x headroom, ceiling 3,900/s"; null without churn. */
export function churnText({ pool, reason }: Judged): string | null {
  const churn = pool.churn;
  if (churn === null || churn.headroomFactor === null) return null;
  const alert = reason?.metric === 'churn' ? ` ${reason.violation}` : '';
  return `${figure(churn.closesPerSecond)} closes/s (${figure(churn.closesPerSecondLast10s)}/s in the last 10 s), ${figure(churn.headroomFactor)}x headroom${alert}, ceiling ${figure(churn.ceilingPerSecond)}/s`;
}

/** "worst nat tcp 10.2.0.1 -> 10.2.0.2:5432: 100/100 ports used (100.0% > 90), 0 left; insert_failed 8" */
export function natSummary(worst: JudgedNat, insertFailed: number | null, where = ''): string {
  return `worst ${natPoolName(worst.pool)}${where}: ${headroom(worst)}${insertFailed ? `; insert_failed ${insertFailed}` : ''}`;
}

/** The status line's text after "EPHEMERAL PORTS STATE - ". */
export function summary(v: Verdict): string {
  const worstNat = v.nat?.judged[0];
  // The worst item overall, a tuple or a NAT pool, is the one named.
  if (worstNat !== undefined && natIsWorse(worstNat, v.judged[0] ?? v.fresh)) return natSummary(worstNat, v.nat?.findings.stats?.insertFailed ?? null);
  const worst = v.judged[0];
  if (worst === undefined) {
    const { pool, reason } = v.fresh;
    const alert = reason === null ? '' : ` (${reason.metric === 'usage' ? percent(pool.usage) : `${pool.remaining} left`} ${reason.violation})`;
    return `no tuple selected; a new tcp destination gets ${pool.capacity} of ${v.report.space.rangeSize} ports${alert}`;
  }
  const factor = worst.pool.churn?.headroomFactor;
  const churnAlert = worst.reason?.metric === 'churn' && factor != null ? `, churn headroom ${figure(factor)}x ${worst.reason.violation}` : '';
  return `worst ${poolName(worst.pool)}: ${headroom(worst)}${churnAlert}`;
}

/** "pod 1b2c...", "host", "python3 (pid 42)"; "settings assumed" when they were. */
export function namespaceTag(v: AcrossVerdict, at: number): string {
  const ns = v.across.checked[at];
  return ns.settingsRead ? ns.name : `${ns.name} (settings assumed)`;
}

/**
 * A share that the bound's share is strictly below, to a tenth: "below 7.1%" for 7.09, and
 * for 7.1 itself "below 7.2%" (the status line says "below", and means it).
 */
export function percentAbove(usage: number): string {
  return `${((Math.floor(usage * 10 + 1e-9) + 1) / 10).toFixed(1)}%`;
}

/** "110 namespaces below 7.1% by their socket counts"; null when every namespace was listed. */
export function boundsText(v: AcrossVerdict): string | null {
  if (v.bounds === null) return null;
  const n = v.bounds.namespaces;
  return `${n} namespace${n === 1 ? '' : 's'} below ${percentAbove(v.bounds.mostUsage)} by ${n === 1 ? 'its' : 'their'} socket counts`;
}

/** The status line's text with --namespaces. */
/** Every namespace's NAT pools, worst first, each with its namespace (`at` indexes across.checked). */
export function natsAcross(v: AcrossVerdict): { readonly j: JudgedNat; readonly at: number }[] {
  return v.across.checked.flatMap((ns, at) => (ns.verdict.nat?.judged ?? []).map((j) => ({ j, at }))).sort((a, b) => byHeadroom(a.j, b.j));
}

export function summaryAcross(v: AcrossVerdict): string {
  const { checked, unchecked } = v.across;
  const total = checked.length + unchecked.length + v.across.bounded.length;
  const skipped = unchecked.length === 0 ? '' : `${unchecked.length} of ${total} namespaces not checked (${unchecked[0].name}: ${unchecked[0].reason})`;
  const bounded = boundsText(v);
  const worst = v.judged[0];
  let body: string;
  const worstNat = natsAcross(v)[0];
  if (worstNat !== undefined && natIsWorse(worstNat.j, worst)) {
    const failed = checked[worstNat.at].verdict.nat?.findings.stats?.insertFailed ?? null;
    body = natSummary(worstNat.j, failed, ` in ${namespaceTag(v, worstNat.at)}`);
  } else if (worst !== undefined) {
    body = `worst ${poolName(worst.pool)} in ${namespaceTag(v, worst.at)}: ${headroom(worst)}`;
  } else if (v.leastFresh !== null) {
    const { pool, reason } = checked[v.leastFresh].verdict.fresh;
    const alert = reason === null ? '' : ` (${reason.metric === 'usage' ? percent(pool.usage) : `${pool.remaining} left`} ${reason.violation})`;
    body = `no tuple selected in ${checked.length} namespaces; a new tcp destination gets at least ${pool.capacity} ports (${namespaceTag(v, v.leastFresh)})${alert}`;
  } else {
    body = '';
  }
  // When no namespace could alert, the bound is the news; the worst listed follows it.
  if (bounded !== null) body = v.bounds?.decide ? [bounded, body === '' ? '' : `of those listed: ${body}`].filter(Boolean).join('; ') : `${body}; ${bounded}`;
  if (skipped === '') return body;
  if (body === '') return skipped;
  // The reason for an UNKNOWN comes first; otherwise the worst pool does.
  return v.state === State.UNKNOWN ? `${skipped}; of the others: ${body}` : `${body}; ${skipped}`;
}

/** "held by java (pid 4242, user app) 120, 3 by processes not visible" */
export function ownersText(o: PoolOwners): string {
  const parts = o.holders.slice(0, 3).map((h) => `${h.command} (pid ${h.pid}, user ${h.user}) ${h.sockets}`);
  if (o.holders.length > 3) parts.push(`${o.holders.length - 3} more processes`);
  if (o.unseen > 0) parts.push(`${o.unseen} by processes not visible${o.visible === 'own' ? ' (not root: only our own are)' : ''}`);
  if (parts.length === 0) return o.ownerless > 0 ? 'held by no process (TIME_WAIT or closed)' : 'held by no process';
  return `held by ${parts.join(', ')}${o.complete ? '' : ' (lookup stopped at the time limit)'}`;
}

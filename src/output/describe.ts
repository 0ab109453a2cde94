/** Words both output formats share, so the text and JSON summaries never disagree. */
import { endpointText } from '../kernel/address';
import type { Pool } from '../pools/pool';
import type { Judged, Verdict } from '../verdict/verdict';

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

/** "176/188 ports used (93.6% > 90), 12 left" */
export function headroom({ pool, reason }: Judged): string {
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

/** The status line's text after "EPHEMERAL PORTS STATE - ". */
export function summary(v: Verdict): string {
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

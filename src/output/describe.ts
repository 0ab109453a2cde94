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

/** "176/188 ports used (93.6% > 90), 12 left" */
export function headroom({ pool, reason }: Judged): string {
  const usageAlert = reason?.metric === 'usage' ? ` ${reason.violation}` : '';
  const leftAlert = reason?.metric === 'remaining' ? ` ${reason.violation}` : '';
  return `${pool.used}/${pool.capacity} ports used (${percent(pool.usage)}${usageAlert}), ${pool.remaining} left${leftAlert}`;
}

/** The status line's text after "EPHEMERAL PORTS STATE - ". */
export function summary(v: Verdict): string {
  const worst = v.judged[0];
  if (worst === undefined) {
    const { pool, reason } = v.fresh;
    const alert = reason === null ? '' : ` (${reason.metric === 'usage' ? percent(pool.usage) : `${pool.remaining} left`} ${reason.violation})`;
    return `no tuple selected; a new tcp destination gets ${pool.capacity} of ${v.report.space.rangeSize} ports${alert}`;
  }
  return `worst ${poolName(worst.pool)}: ${headroom(worst)}`;
}

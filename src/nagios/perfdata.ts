import { formatNumber } from './number';

/** One perfdata item: `label=value[uom];warn;crit;min;max`. */
export interface Perfdata {
  readonly label: string;
  readonly value: number;
  readonly uom?: '%' | '';
  readonly warn?: number;
  readonly crit?: number;
  readonly min?: number;
  readonly max?: number;
}

/** Graphite/RRD-safe labels only: no quoting needed by any consumer. */
const LABEL = /^[a-z0-9_]+$/;

export function formatPerfdata(p: Perfdata): string {
  if (!LABEL.test(p.label)) throw new Error(`perfdata label "${p.label}" is not [a-z0-9_]`);
  const fields = [p.warn, p.crit, p.min, p.max].map((f) => (f === undefined ? '' : formatNumber(f)));
  // Trailing empty fields may be dropped; inner ones must stay to keep positions.
  while (fields.length > 0 && fields[fields.length - 1] === '') fields.pop();
  const head = `${p.label}=${formatNumber(p.value)}${p.uom ?? ''}`;
  return [head, ...fields].join(';');
}

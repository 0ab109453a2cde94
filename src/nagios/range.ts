/**
 * Nagios threshold ranges, `[@][start:][end]` (Monitoring Plugins Development Guidelines).
 * `10` alerts outside 0..10, `10:` below 10, `~:10` above 10, `@10:20` inside 10..20.
 * Endpoints are inclusive; `~` is minus infinity.
 */
import { formatNumber } from './number';

export class RangeError extends Error {}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

export class Range {
  private constructor(
    readonly start: number,
    readonly end: number,
    /** `@`: alert when the value lies inside start..end instead of outside. */
    readonly inside: boolean,
  ) {}

  static parse(text: string): Range {
    let rest = text.trim();
    if (rest === '') throw new RangeError('empty range');
    const inside = rest.startsWith('@');
    if (inside) rest = rest.slice(1);
    const colon = rest.indexOf(':');
    let start = 0;
    let end = Infinity;
    if (colon === -1) {
      end = parseEndpoint(rest, text);
    } else {
      const startText = rest.slice(0, colon);
      const endText = rest.slice(colon + 1);
      if (startText === '' && endText === '') throw new RangeError(`"${text}" has neither start nor end`);
      if (startText === '~') start = -Infinity;
      else if (startText !== '') start = parseEndpoint(startText, text);
      if (endText !== '') end = parseEndpoint(endText, text);
    }
    if (start > end) throw new RangeError(`"${text}" starts above its end`);
    return new Range(start, end, inside);
  }

  /** True when x should raise this range's alert. */
  alertsOn(x: number): boolean {
    const within = x >= this.start && x <= this.end;
    return this.inside ? within : !within;
  }

  /**
   * The plain number to put in perfdata's warn/crit field, when the range is a simple
   * bound; consumers (Icinga, Sensu) ignore or drop range syntax there.
   */
  perfdataValue(): number | undefined {
    if (this.inside) return undefined;
    if (this.start <= 0 && Number.isFinite(this.end)) return this.end;
    if (this.end === Infinity && Number.isFinite(this.start)) return this.start;
    return undefined;
  }

  /** Why x alerts, for the status line: "> 90", "< 10", "inside 10:20". */
  violation(x: number): string {
    if (this.inside) return `inside ${this.start === -Infinity ? '~' : formatNumber(this.start)}:${formatNumber(this.end)}`;
    return x > this.end ? `> ${formatNumber(this.end)}` : `< ${formatNumber(this.start)}`;
  }

  toString(): string {
    return (this.inside ? '@' : '') + this.bounds();
  }

  private bounds(): string {
    const start = this.start === -Infinity ? '~' : formatNumber(this.start);
    if (this.end === Infinity) return `${start}:`;
    return this.start === 0 ? formatNumber(this.end) : `${start}:${formatNumber(this.end)}`;
  }
}

function parseEndpoint(raw: string, whole: string): number {
  if (!NUMBER.test(raw)) throw new RangeError(`"${whole}" is not a range: "${raw}" is not a number`);
  return Number(raw);
}


import type { PortRange } from '../model/settings';

/**
 * C = the local port range minus reserved ports: the ports connect() may hand out
 * (docs/kernel-model.md, Rule 2). `usable[port]` is 1 for each of them.
 */
export class PortSpace {
  readonly usable = new Uint8Array(65536);
  /** |C| */
  readonly size: number;
  /** Reserved ports that fall inside the range. */
  readonly reservedInRange: number;

  constructor(
    readonly range: PortRange,
    reserved: readonly PortRange[],
  ) {
    this.usable.fill(1, range.low, range.high + 1);
    let reservedInRange = 0;
    for (const span of reserved) {
      for (let p = Math.max(span.low, range.low); p <= Math.min(span.high, range.high); p++) {
        if (this.usable[p]) reservedInRange++;
        this.usable[p] = 0;
      }
    }
    this.reservedInRange = reservedInRange;
    this.size = this.rangeSize - reservedInRange;
  }

  get rangeSize(): number {
    return this.range.high - this.range.low + 1;
  }

  /**
   * connect() scans an even count of ports per call, so with an odd-sized range one free
   * port can stay out of reach of a call (__inet_hash_connect; ip-sysctl.rst advises
   * endpoints of different parity).
   */
  get oddSized(): boolean {
    return this.rangeSize % 2 === 1;
  }
}

/**
 * Source NAT's port pools (docs/kernel-model.md, "Source NAT"): conntrack entries → one
 * pool per (zone, protocol, NAT address, destination address, destination port), where
 * the destination is the entry's reply source (after any DNAT) and the NAT address its
 * reply destination. The NAT engine (nf_nat_core.c get_unique_tuple → nf_nat_used_tuple)
 * takes a port only when no entry of the namespace and zone has that reply tuple: every
 * entry with the pool's reply tuple and a port in the range holds one, translated or not
 * (the NAT host's own connections from the NAT address count). Sockets and
 * ip_local_port_range play no part.
 *
 * Pure: a sink the conntrack readers fill, then figures. Memory grows with the reply
 * tuples, not the entries: counters in typed arrays, one row per reply tuple.
 */
import type { AddressTable } from '../model/address-table';
import type { PortRange } from '../model/settings';
import { PROTOCOL_TCP, STATE_CLOSE, STATE_TIME_WAIT, type ConntrackSink } from '../sources/conntrack/entries';
import type { HoldTimes } from '../sources/conntrack/read';
import type { NatRule } from '../sources/ruleset/rules';
import { mix } from '../model/hash';

/**
 * Without a port range in the rule, the kernel keeps to the class of the original source
 * port (nf_nat_proto.c nf_nat_l4proto_unique_tuple): 1-511, 600-1023 (ports 512-1023:
 * "credential passing" convention), or 1024-65535.
 */
export const DEFAULT_CLASSES: readonly PortRange[] = [
  { low: 1024, high: 65535 },
  { low: 600, high: 1023 },
  { low: 1, high: 511 },
];

/** Where a pool's range came from: the NAT rules, --nat-range, or the kernel's default class. */
export type RangeFrom = 'ruleset' | 'option' | 'assumed';

/** How a pool's range is decided: the option, else the rules read (null: none could be). */
export interface RangeEvidence {
  readonly option: PortRange | null;
  readonly rules: readonly NatRule[] | null;
}

export interface NatChurn {
  /** Closes per second: TIME_WAIT entries over their hold time, plus CLOSE entries over theirs. */
  readonly closesPerSecond: number;
  /** (ports left + ports held by closing entries) / ports held by closing entries; null without them. */
  readonly headroomFactor: number | null;
  /** The close rate the pool can sustain if every connection ends in TIME_WAIT. */
  readonly ceilingPerSecond: number;
}

export interface NatPool {
  readonly protocol: 'tcp' | 'udp';
  readonly zone: number;
  readonly natAddress: string;
  readonly remote: string;
  readonly remotePort: number;
  readonly range: PortRange & { readonly size: number };
  readonly rangeFrom: RangeFrom;
  readonly capacity: number;
  /** Entries with this reply tuple and a port in the range. */
  readonly used: number;
  readonly remaining: number;
  /** used / capacity, in percent. */
  readonly usage: number;
  /** Of the entries, those translated (reply destination ≠ original source). */
  readonly translated: number;
  /** TCP entries in the range in TIME_WAIT and CLOSE: ports held until their timeout. */
  readonly timeWait: number;
  readonly close: number;
  /** TCP only. */
  readonly churn: NatChurn | null;
}

const INITIAL_ROWS = 256;

/** A reply tuple's slot hash, before masking: one for finding a row and for rehashing the rows. */
function hashReplyTuple(nat: number, remote: number, remotePort: number, protocol: number, zone: number): number {
  return mix(nat ^ Math.imul(remote, 0x9e3779b1) ^ Math.imul(remotePort | (protocol << 16), 0x27d4eb2f) ^ Math.imul(zone, 0x165667b1));
}

/**
 * The candidate ranges counted per pool, decided before the entries stream: the default
 * classes, the option's range, every range the rules name.
 */
export function candidateRanges(evidence: RangeEvidence): PortRange[] {
  const ranges: PortRange[] = [...DEFAULT_CLASSES];
  const add = (r: PortRange) => {
    if (!ranges.some((x) => x.low === r.low && x.high === r.high)) ranges.push(r);
  };
  if (evidence.option !== null) add(evidence.option);
  for (const rule of evidence.rules ?? []) if (rule.range !== null) add(rule.range);
  return ranges;
}

export class NatPoolBuilder implements ConntrackSink {
  readonly addresses: AddressTable;
  private readonly ranges: readonly PortRange[];
  /** Per port: a bit per candidate range holding it (at most 32 ranges). */
  private readonly inRanges = new Uint32Array(65536);
  private rows = 0;
  private capacity = INITIAL_ROWS;
  private keys = new Int32Array(5 * INITIAL_ROWS);
  private translatedCount = new Int32Array(INITIAL_ROWS);
  /** Per row and candidate range: entries, TIME_WAIT entries, CLOSE entries. */
  private used: Int32Array;
  private timeWait: Int32Array;
  private close: Int32Array;
  private slots = new Int32Array(2 * INITIAL_ROWS);

  constructor(addresses: AddressTable, ranges: readonly PortRange[]) {
    this.addresses = addresses;
    this.ranges = ranges.slice(0, 32);
    // One fill per stretch between the ranges' edges: a loop over every port of every range
    // runs once per check, cold, and cost 3 ms.
    const edges = [...new Set(this.ranges.flatMap((r) => [r.low, r.high + 1]))].sort((a, b) => a - b);
    for (let e = 0; e + 1 < edges.length; e++) {
      let bits = 0;
      this.ranges.forEach((r, k) => {
        if (r.low <= edges[e] && edges[e] <= r.high) bits |= 1 << k;
      });
      this.inRanges.fill(bits, edges[e], edges[e + 1]);
    }
    const k = this.ranges.length;
    this.used = new Int32Array(k * INITIAL_ROWS);
    this.timeWait = new Int32Array(k * INITIAL_ROWS);
    this.close = new Int32Array(k * INITIAL_ROWS);
  }

  /** Reply tuples seen: the rows held. */
  get replyTuples(): number {
    return this.rows;
  }

  /** Counts one entry into its reply tuple's row (hot path: one call per socket, here per conntrack entry). */
  entry(protocol: number, zone: number, translated: boolean, replySource: number, replySourcePort: number, replyDestination: number, replyDestinationPort: number, state: number, _timeoutSeconds: number): void {
    const row = this.row(protocol, zone, replyDestination, replySource, replySourcePort);
    if (translated) this.translatedCount[row]++;
    let bits = this.inRanges[replyDestinationPort];
    const k = this.ranges.length;
    const at = row * k;
    for (let i = 0; bits !== 0; i++, bits >>>= 1) {
      if ((bits & 1) === 0) continue;
      this.used[at + i]++;
      if (state === STATE_TIME_WAIT) this.timeWait[at + i]++;
      else if (state === STATE_CLOSE) this.close[at + i]++;
    }
  }

  private row(protocol: number, zone: number, nat: number, remote: number, remotePort: number): number {
    const keys = this.keys;
    let mask = this.slots.length - 1;
    let slot = hashReplyTuple(nat, remote, remotePort, protocol, zone) & mask;
    for (;; slot = (slot + 1) & mask) {
      const row = this.slots[slot] - 1;
      if (row === -1) break;
      const at = 5 * row;
      if (keys[at] === nat && keys[at + 1] === remote && keys[at + 2] === remotePort && keys[at + 3] === protocol && keys[at + 4] === zone) return row;
    }
    if (this.rows === this.capacity) {
      this.grow();
      return this.row(protocol, zone, nat, remote, remotePort);
    }
    const row = this.rows++;
    const at = 5 * row;
    keys[at] = nat;
    keys[at + 1] = remote;
    keys[at + 2] = remotePort;
    keys[at + 3] = protocol;
    keys[at + 4] = zone;
    this.slots[slot] = row + 1;
    return row;
  }

  private grow(): void {
    const capacity = 2 * this.capacity;
    const k = this.ranges.length;
    const bigger = (old: Int32Array, width: number) => {
      const a = new Int32Array(width * capacity);
      a.set(old);
      return a;
    };
    this.keys = bigger(this.keys, 5);
    this.translatedCount = bigger(this.translatedCount, 1);
    this.used = bigger(this.used, k);
    this.timeWait = bigger(this.timeWait, k);
    this.close = bigger(this.close, k);
    this.capacity = capacity;
    const slots = new Int32Array(2 * capacity);
    const mask = slots.length - 1;
    for (let row = 0; row < this.rows; row++) {
      const at = 5 * row;
      let slot = hashReplyTuple(this.keys[at], this.keys[at + 1], this.keys[at + 2], this.keys[at + 3], this.keys[at + 4]) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = row + 1;
    }
    this.slots = slots;
  }

  /**
   * The pools: every reply tuple that at least one translated entry has. Each is judged
   * against the range its rule gives (evidence), else the default class most of its
   * entries are in. Figures only, in typed arrays: a gateway has thousands of pools, and
   * only the few listed become objects (NatTable.pool).
   */
  finish(evidence: RangeEvidence, hold: HoldTimes): NatTable {
    const k = this.ranges.length;
    const table = new NatTable(this.addresses, this.ranges, this.keys, hold, this.rows);
    // Which rules can have made a pool depends only on its NAT address and protocol.
    const rulesFor = new Map<number, readonly NatRule[]>();
    for (let row = 0; row < this.rows; row++) {
      if (this.translatedCount[row] === 0) continue;
      const at = 5 * row;
      const nat = this.keys[at];
      const protocol = this.keys[at + 3] === PROTOCOL_TCP ? 'tcp' : 'udp';
      const cacheKey = 2 * nat + (protocol === 'tcp' ? 1 : 0);
      let rules = rulesFor.get(cacheKey);
      if (rules === undefined) {
        const family = this.addresses.family(nat);
        const natAddress = this.addresses.text(nat);
        rules = (evidence.rules ?? []).filter((r) => (r.family === null || r.family === family) && (r.protocol === null || r.protocol === protocol) && (r.address === null || r.address === natAddress));
        rulesFor.set(cacheKey, rules);
      }
      const { index, from } = this.chooseRange(row, rules, evidence);
      const tcp = protocol === 'tcp';
      table.add(row, index, from, this.used[row * k + index], tcp ? this.timeWait[row * k + index] : 0, tcp ? this.close[row * k + index] : 0, this.translatedCount[row]);
    }
    return table;
  }

  private indexOf(r: PortRange): number {
    return this.ranges.findIndex((x) => x.low === r.low && x.high === r.high);
  }

  private chooseRange(row: number, rules: readonly NatRule[], evidence: RangeEvidence): { index: number; from: RangeFrom } {
    if (evidence.option !== null) return { index: this.indexOf(evidence.option), from: 'option' };
    const k = this.ranges.length;
    const used = (i: number) => this.used[row * k + i];
    // Of the rules that can have made this pool, the range that holds most of its entries
    // (the narrower one on a tie: its figures are the tighter).
    let best = -1;
    for (const rule of rules) {
      if (rule.range === null) continue;
      const i = this.indexOf(rule.range);
      if (best === -1 || used(i) > used(best) || (used(i) === used(best) && size(this.ranges[i]) < size(this.ranges[best]))) best = i;
    }
    if (best !== -1 && used(best) > 0) return { index: best, from: 'ruleset' };
    let cls = 0;
    for (let i = 1; i < DEFAULT_CLASSES.length; i++) if (used(i) > used(cls)) cls = i;
    const portless = rules.some((r) => r.range === null);
    if (portless) return { index: cls, from: 'ruleset' };
    if (best !== -1) return { index: best, from: 'ruleset' };
    return { index: cls, from: 'assumed' };
  }
}

const RANGE_FROM: readonly RangeFrom[] = ['ruleset', 'option', 'assumed'];

/**
 * The NAT pools of one reading as figures, pool i in row order: what judging and ranking
 * read without making an object per pool; pool(i) makes the one to list.
 */
export class NatTable {
  private count = 0;
  private readonly rows: Int32Array;
  private readonly rangeIndex: Uint8Array;
  private readonly from: Uint8Array;
  private readonly usedCount: Int32Array;
  private readonly timeWait: Int32Array;
  private readonly close: Int32Array;
  private readonly translated: Int32Array;

  /** @param most the builder's rows: no more pools than reply tuples, so the arrays never grow. */
  constructor(
    private readonly addresses: AddressTable,
    private readonly ranges: readonly PortRange[],
    /** The builder's keys: 5 per row (NAT address, remote, remote port, protocol, zone). */
    private readonly keys: Int32Array,
    private readonly hold: HoldTimes,
    most: number,
  ) {
    this.rows = new Int32Array(most);
    this.rangeIndex = new Uint8Array(most);
    this.from = new Uint8Array(most);
    this.usedCount = new Int32Array(most);
    this.timeWait = new Int32Array(most);
    this.close = new Int32Array(most);
    this.translated = new Int32Array(most);
  }

  get size(): number {
    return this.count;
  }

  /** One pool's figures (hot path: one call per socket, here per NAT pool). */
  add(row: number, rangeIndex: number, from: RangeFrom, used: number, timeWait: number, close: number, translated: number): void {
    const i = this.count++;
    this.rows[i] = row;
    this.rangeIndex[i] = rangeIndex;
    this.from[i] = RANGE_FROM.indexOf(from);
    this.usedCount[i] = used;
    this.timeWait[i] = timeWait;
    this.close[i] = close;
    this.translated[i] = translated;
  }

  capacity(i: number): number {
    return size(this.ranges[this.rangeIndex[i]]);
  }

  used(i: number): number {
    return this.usedCount[i];
  }

  remaining(i: number): number {
    return Math.max(0, this.capacity(i) - this.usedCount[i]);
  }

  usage(i: number): number {
    return (this.usedCount[i] / this.capacity(i)) * 100;
  }

  isTcp(i: number): boolean {
    return this.keys[5 * this.rows[i] + 3] === PROTOCOL_TCP;
  }

  /** The churn headroom factor (natChurn), null for UDP or without closing entries. */
  headroomFactor(i: number): number | null {
    const held = this.timeWait[i] + this.close[i];
    return !this.isTcp(i) || held === 0 ? null : (this.remaining(i) + held) / held;
  }

  remoteFamily(i: number): 4 | 6 {
    return this.addresses.family(this.keys[5 * this.rows[i] + 1]);
  }

  remoteText(i: number): string {
    return this.addresses.text(this.keys[5 * this.rows[i] + 1]);
  }

  remotePort(i: number): number {
    return this.keys[5 * this.rows[i] + 2];
  }

  /**
   * The pools' order as their texts sort (protocol, NAT address, remote, port, zone),
   * without making the texts: both readers then list tied pools alike.
   */
  compare(i: number, j: number): number {
    const a = 5 * this.rows[i];
    const b = 5 * this.rows[j];
    const k = this.keys;
    // tcp (6) before udp (17), as the words sort.
    return k[a + 3] - k[b + 3] || this.addresses.compareText(k[a], k[b]) || this.addresses.compareText(k[a + 1], k[b + 1]) || k[a + 2] - k[b + 2] || k[a + 4] - k[b + 4];
  }

  /** Pool i as an object, to list. */
  pool(i: number): NatPool {
    const at = 5 * this.rows[i];
    const protocol = this.keys[at + 3] === PROTOCOL_TCP ? 'tcp' : 'udp';
    const range = this.ranges[this.rangeIndex[i]];
    const capacity = this.capacity(i);
    const used = this.usedCount[i];
    const remaining = this.remaining(i);
    return {
      protocol,
      zone: this.keys[at + 4],
      natAddress: this.addresses.text(this.keys[at]),
      remote: this.addresses.text(this.keys[at + 1]),
      remotePort: this.keys[at + 2],
      range: { low: range.low, high: range.high, size: capacity },
      rangeFrom: RANGE_FROM[this.from[i]],
      capacity,
      used,
      remaining,
      usage: this.usage(i),
      translated: this.translated[i],
      timeWait: this.timeWait[i],
      close: this.close[i],
      churn: protocol === 'tcp' ? natChurn(remaining, this.timeWait[i], this.close[i], this.hold) : null,
    };
  }

  /** Every pool as an object, in the order of compare(): for tests and small tables. */
  pools(): NatPool[] {
    const order = Array.from({ length: this.count }, (_, i) => i).sort((i, j) => this.compare(i, j));
    return order.map((i) => this.pool(i));
  }
}

function size(r: PortRange): number {
  return r.high - r.low + 1;
}

/**
 * A closed connection's entry keeps its NAT port for conntrack's hold time (TIME_WAIT 120 s,
 * CLOSE 10 s by default), not the socket's 60 s: the close rate the pool sees now is what
 * those entries hold over how long they hold it.
 */
export function natChurn(remaining: number, timeWait: number, close: number, hold: HoldTimes): NatChurn {
  const held = timeWait + close;
  return {
    closesPerSecond: timeWait / hold.timeWaitSeconds + close / hold.closeSeconds,
    headroomFactor: held === 0 ? null : (remaining + held) / held,
    ceilingPerSecond: (remaining + held) / hold.timeWaitSeconds,
  };
}

/**
 * Selected pools → the worst few, judged. Every selected tuple is judged (thresholds are
 * Nagios ranges: a lower usage can alert where a higher one does not), but only the `limit`
 * worst are kept, in a bounded heap of tuple ids, and only they become Pool objects.
 */
import type { Pool } from '../pools/pool';
import type { PoolReport } from '../pools/report';
import type { TupleTable } from '../pools/tuple-table';
import { filtersTuples, TupleFilter, type Selection } from './selection';
import { churnState, judge, judgeHeadroom, worstFirst, type Judged, type Thresholds } from './judge';
import { headroomFactor } from '../pools/churn';
import { usagePercent } from '../pools/pool';
import { siftDown, siftUp } from './heap';

export interface Ranked {
  /**
   * Worst first (worstFirst): the `limit` worst TCP tuples and the `limit` worst UDP pools
   * that were selected, so that a list of `limit` pools and the perfdata of `limit` tuples
   * can both be cut from it.
   */
  readonly worst: readonly Judged[];
  /** How many pools the selection kept, listed or not. */
  readonly selected: number;
  /** How many of them are TCP tuples. */
  readonly selectedTuples: number;
}

/** Decimal texts of two ports in code-unit order ("443" < "80"), without the texts. */
export function comparePortText(a: number, b: number): number {
  if (a === b) return 0;
  const da = a < 10 ? 1 : a < 100 ? 2 : a < 1000 ? 3 : a < 10000 ? 4 : 5;
  const db = b < 10 ? 1 : b < 100 ? 2 : b < 1000 ? 3 : b < 10000 ? 4 : 5;
  let x = a;
  let y = b;
  for (let i = da; i < db; i++) x *= 10;
  for (let i = db; i < da; i++) y *= 10;
  // Equal once padded: the shorter text is a prefix of the longer, and sorts first.
  return x !== y ? x - y : da - db;
}

/** More than any count of ports (0 to 65,536): one digit of TupleOrder.key. */
const PORT_COUNTS = 1 << 17;

/**
 * The order of worstFirst, on tuple ids. A tuple has `capacity - unbound` ports left, so
 * "fewer ports left" is "more ports unbound"; at equal headroom the tuple whose clients
 * bound more ports shows the higher usage (its own bind()-taken ports count in used and
 * capacity alike, TupleTable.pool). Ties go to the text `local remote port` as worstFirst
 * compares it.
 */
class TupleOrder {
  private readonly stateByUsed: Int8Array;
  private readonly churn: boolean;
  /** No churn thresholds and no tuple's clients bound ports: a key is its held ports' alone. */
  private readonly byHeldAlone: boolean;

  constructor(
    private readonly tuples: TupleTable,
    private readonly capacity: number,
    private readonly thresholds: Thresholds,
  ) {
    this.stateByUsed = new Int8Array(capacity + 1).fill(-1);
    this.churn = thresholds.warningChurn !== null || thresholds.criticalChurn !== null;
    this.byHeldAlone = !this.churn && !tuples.settled;
  }

  unbound(t: number): number {
    return Math.min(this.tuples.unbound(t), this.capacity);
  }

  /**
   * Usage and remaining judged once per distinct count of ports used, not once per tuple,
   * for the tuples whose clients bound nothing (nearly all); the others each on their own.
   * The churn thresholds, when given, per tuple from two of its counters.
   * @param bound the ports its clients bound (TupleTable.bindTaken), read once by key()
   */
  state(t: number, unbound: number, bound: number): number {
    const { capacity } = this;
    const state = bound > 0 ? judgeHeadroom(usagePercent(unbound + bound, capacity + bound), capacity - unbound, null, this.thresholds).state : this.stateOfUsed(unbound);
    if (!this.churn) return state;
    return Math.max(state, churnState(headroomFactor(capacity - unbound, this.tuples.timeWaitHeld(t)), this.thresholds));
  }

  /** The state of a tuple whose clients bound nothing, judged once per count of ports. */
  private stateOfUsed(unbound: number): number {
    let state = this.stateByUsed[unbound];
    if (state === -1) state = this.stateByUsed[unbound] = judgeHeadroom(usagePercent(unbound, this.capacity), this.capacity - unbound, null, this.thresholds).state;
    return state;
  }

  /**
   * The order up to the text tie-break, as one number, larger for worse: the state, then
   * the ports unbound, then (for a tuple with ports left) those its clients bound. Each
   * fits in 17 bits (a count of ports is at most 65,536), so the sum is exact in a double.
   * Most tuples lose to the heap's root on this number alone, without a call to compare.
   */
  key(t: number): number {
    let unbound: number;
    let bound = 0;
    let state: number;
    if (this.byHeldAlone) {
      // The usual host: the key is a function of the tuple's held ports alone, read
      // straight from the table, without what bind() and churn need per tuple.
      const held = this.tuples.held[t];
      unbound = held < this.capacity ? held : this.capacity;
      state = this.stateOfUsed(unbound);
    } else {
      unbound = this.unbound(t);
      const taken = this.tuples.bindTaken(t);
      if (unbound < this.capacity) bound = taken;
      state = this.state(t, unbound, taken);
    }
    return (state * PORT_COUNTS + unbound) * PORT_COUNTS + bound;
  }

  /** Negative when tuple a ranks before (is worse than) tuple b. */
  compare(a: number, b: number): number {
    return this.key(b) - this.key(a) || this.compareText(a, b);
  }

  /** Between tuples of equal key: the text `local remote port`, as worstFirst compares it. */
  compareText(a: number, b: number): number {
    const { addresses, local, remote, remotePort } = this.tuples;
    return addresses.compareText(local[a], local[b]) || addresses.compareText(remote[a], remote[b]) || comparePortText(remotePort[a], remotePort[b]);
  }
}

/**
 * The `limit` worst selected TCP tuples (all of them when limit is Infinity) and the UDP
 * pool, judged, worst first.
 */
export function rankPools(report: PoolReport, selection: Selection, thresholds: Thresholds, limit: number): Ranked {
  const tcp = selection.tcp ? rankTuples(report, selection, thresholds, limit) : { worst: [], selected: 0, selectedTuples: 0 };
  const udp = selection.udp && !filtersTuples(selection) && report.udp !== null ? [judge(report.udp, thresholds)] : [];
  return mergeRanked([tcp, { worst: udp, selected: udp.length, selectedTuples: 0 }], limit);
}

function rankTuples(report: PoolReport, selection: Selection, thresholds: Thresholds, limit: number): Ranked {
  const { tuples, capacity } = report;
  const { local, remote, remotePort } = tuples;
  const filter = new TupleFilter(selection, tuples.addresses);
  const order = new TupleOrder(tuples, capacity, thresholds);
  const bounded = limit < tuples.size;
  // Bounded: a heap whose root is the best of the worst kept so far, the first to go.
  const kept = new Int32Array(bounded ? limit : tuples.size);
  let count = 0;
  let selected = 0;
  // The root's key, once the heap is full: a tuple with a smaller one is better, and skipped.
  let rootKey = -1;
  for (let t = 0; t < tuples.size; t++) {
    if (!tuples.hasSockets(t)) continue;
    if (!filter.everything && !filter.keeps(local[t], remote[t], remotePort[t])) continue;
    selected++;
    if (!bounded || count < limit) {
      kept[count] = t;
      if (bounded) siftUp(kept, count, order);
      count++;
      if (count === limit) rootKey = order.key(kept[0]);
      continue;
    }
    const key = order.key(t);
    if (key < rootKey || (key === rootKey && order.compareText(t, kept[0]) >= 0)) continue;
    kept[0] = t;
    siftDown(kept, count, order);
    rootKey = order.key(kept[0]);
  }
  const worst = Array.from(kept.subarray(0, count))
    .sort((a, b) => order.compare(a, b))
    .map((t) => judge(tuples.pool(t, capacity), thresholds));
  return { worst, selected, selectedTuples: selected };
}

/**
 * Several rankings as one (the TCP tuples and the UDP pool; or, one day, the rankings of
 * several network namespaces): worst first, the `limit` worst of each protocol.
 */
export function mergeRanked(parts: readonly Ranked[], limit: number): Ranked {
  const all = parts.flatMap((p) => p.worst).sort(worstFirst);
  const kept: Record<Pool['protocol'], number> = { tcp: 0, udp: 0 };
  const worst = all.filter((j) => kept[j.pool.protocol]++ < limit);
  return {
    worst,
    selected: parts.reduce((sum, p) => sum + p.selected, 0),
    selectedTuples: parts.reduce((sum, p) => sum + p.selectedTuples, 0),
  };
}

/**
 * TCP tuples (local address, remote address, remote port) as rows of typed arrays, found
 * through an open-addressing hash: a few dozen bytes per tuple and no object, Set or string
 * key, whatever the shape of the host (a few huge tuples or a hundred thousand of one
 * socket each). The sockets of one tuple hold distinct local ports (a 4-tuple is unique,
 * across families too: docs/kernel-model.md), so counting them needs no set of ports.
 */
import type { AddressTable } from '../model/address-table';
import { rowsFor } from '../model/table-rows';
import { TCP_STATE_NAMES, TcpState } from '../model/records';
import { churnOf } from './churn';
import { usagePercent, type Pool, type TuplePorts } from './pool';

const INITIAL = 256;

/** A row of otherStates: one column per TCP state number (1 to 12). */
const STATE_COLUMNS = TCP_STATE_NAMES.length;

function hashTuple(local: number, remote: number, remotePort: number): number {
  let h = Math.imul(local, 0x9e3779b1) ^ Math.imul(remote ^ 0x5bd1e995, 0x85ebca6b) ^ Math.imul(remotePort + 1, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

/** The per-tuple result of the parity classification, for TupleTable.settle. */
export interface Bound {
  /** Per tuple: ports its clients bound, lost to every tuple (0 for a tuple that spilled). */
  readonly bindTaken: Uint32Array;
  /** Per tuple: held ports not in B. */
  readonly unbound: Uint32Array;
  /** |C \ X|: what a new tuple would get if connect() chose every port. */
  readonly optimisticCapacity: number;
}

export class TupleTable {
  // Rows: one entry per tuple id (0 to size - 1). Arrays grow, so read them through the
  // table each time rather than keeping one.
  local = new Int32Array(INITIAL);
  remote = new Int32Array(INITIAL);
  remotePort = new Uint16Array(INITIAL);
  /** Sockets holding a port against a new connect() (all but the reusable TIME_WAIT). */
  held = new Uint32Array(INITIAL);
  /** TIME_WAIT sockets the kernel would reuse for this tuple right now. */
  reusable = new Uint32Array(INITIAL);
  /**
   * Sockets per state: TIME_WAIT, then a row for the states other than ESTABLISHED. Most
   * sockets are ESTABLISHED: those are what the other counts leave (established()), which
   * spares a write per socket and a row of memory per tuple.
   */
  timeWait = new Uint32Array(INITIAL);
  /** Where in otherStates the tuple's row starts, plus 1; 0: none (only tuples with such sockets have one). */
  private otherRow = new Int32Array(INITIAL);
  private otherStates = new Uint32Array(16 * STATE_COLUMNS);
  private otherRows = 0;
  /**
   * Held ports at an odd offset from the range's low end (the rest are even): connect()
   * prefers even offsets and bind(addr, 0) odd ones (docs/kernel-model.md, parity).
   */
  heldOddOffset = new Uint32Array(INITIAL);
  /** Reusable-looking TIME_WAITs at an odd offset: a bind()-made port is never reused. */
  reusableOddOffset = new Uint32Array(INITIAL);
  /** TIME_WAIT sockets that hold their port (not reusable) and are younger than RECENT_CLOSES_MS (churn.ts). */
  timeWaitRecent = new Uint32Array(INITIAL);
  /** Set once every socket is read (settle): what the parity says, per tuple (bind-parity.ts). */
  private bound: Bound | null = null;

  /** Open addressing, linear probing, at most half full: tuple id + 1 per slot, 0 when empty. */
  private slots = new Int32Array(2 * INITIAL);
  private count = 0;
  /** Reusable TIME_WAITs in all tuples: while 0, `reusable` is all zero and is not read. */
  private reusableSockets = 0;

  /**
   * @param expected how many sockets the listing may hold (sockstat.ts), 0 when unknown:
   *   the table is made that big at once.
   */
  constructor(
    readonly addresses: AddressTable,
    expected = 0,
  ) {
    const rows = rowsFor(expected, INITIAL);
    if (rows > INITIAL) {
      this.resize(rows);
      // At most half full, as add() keeps it.
      this.slots = new Int32Array(2 * rows);
    }
  }

  get size(): number {
    return this.count;
  }

  /** The tuple's id, made on first sight. */
  id(local: number, remote: number, remotePort: number): number {
    const slots = this.slots;
    const mask = slots.length - 1;
    for (let slot = hashTuple(local, remote, remotePort) & mask; ; slot = (slot + 1) & mask) {
      const t = slots[slot] - 1;
      if (t === -1) return this.add(slot, local, remote, remotePort);
      if (this.remote[t] === remote && this.remotePort[t] === remotePort && this.local[t] === local) return t;
    }
  }

  /** One more socket of tuple t in this state (or one less: delta -1). */
  countState(t: number, state: number, delta: number): void {
    if (state === TcpState.TIME_WAIT) this.timeWait[t] += delta;
    else if (state !== TcpState.ESTABLISHED) this.otherStates[this.rowOf(t) + state] += delta;
  }

  /** The tuple's sockets in no other state (countState counts ESTABLISHED nowhere). */
  established(t: number): number {
    let others = this.timeWait[t];
    const row = this.otherRow[t] - 1;
    if (row !== -1) for (let state = 1; state < STATE_COLUMNS; state++) others += this.otherStates[row + state];
    return this.sockets(t) - others;
  }

  /** One more TIME_WAIT of tuple t that connect() would reuse now; bindParity: at an odd offset. */
  addReusable(t: number, bindParity: boolean): void {
    this.reusable[t]++;
    if (bindParity) this.reusableOddOffset[t]++;
    this.reusableSockets++;
  }

  sockets(t: number): number {
    return this.held[t] + this.reusable[t];
  }

  /** Whether the tuple has a socket left (a listener can take back its only port). */
  hasSockets(t: number): boolean {
    return this.held[t] > 0 || (this.reusableSockets > 0 && this.reusable[t] > 0);
  }

  /** Once every socket is read: which ports each tuple's clients bound (docs/kernel-model.md, Rule 9). */
  settle(bound: Bound): void {
    this.bound = bound;
  }

  /** Whether settle() was called: the parity gave per-tuple figures. */
  get settled(): boolean {
    return this.bound !== null;
  }

  /** Ports its clients took with bind() before connect(): lost to every tuple, its own too. */
  bindTaken(t: number): number {
    return this.bound === null ? 0 : this.bound.bindTaken[t];
  }

  /**
   * TIME_WAIT sockets that hold their port: the tuple's churn (docs/kernel-model.md, "Churn").
   * A reusable-looking one whose port bind() took is never reused: it holds its port too.
   */
  timeWaitHeld(t: number): number {
    const bindTaken = this.bindTaken(t);
    return this.timeWait[t] - this.reusable[t] + (bindTaken === 0 ? 0 : bindTaken - this.heldOddOffset[t]);
  }

  /** |O(T) \ B|: what a tuple holds that is not in B already; remaining = capacity - this. */
  unbound(t: number): number {
    return this.bound === null ? this.held[t] : this.bound.unbound[t];
  }

  /**
   * One tuple as a Pool, for output: only the few that are listed are ever made.
   * @param capacity what a new tuple gets, |C \ X \ B|; the tuple's own bind()-taken ports
   *   come on top of it, in capacity and used alike
   */
  pool(t: number, capacity: number): Pool {
    const { addresses } = this;
    // A socket listed twice (the kernel's listings are not atomic) could count a port
    // twice: a tuple never holds more ports than it can have.
    const unbound = Math.min(this.unbound(t), capacity);
    const bindTaken = this.bindTaken(t);
    const used = unbound + bindTaken;
    const ownCapacity = capacity + bindTaken;
    const optimisticCapacity = this.bound === null ? capacity : this.bound.optimisticCapacity;
    const states: Record<string, number> = {};
    const row = this.otherRow[t] - 1;
    for (let state = 1; state < STATE_COLUMNS; state++) {
      const count = state === TcpState.ESTABLISHED ? this.established(t) : state === TcpState.TIME_WAIT ? this.timeWait[t] : row === -1 ? 0 : this.otherStates[row + state];
      if (count > 0) states[TCP_STATE_NAMES[state]] = count;
    }
    return {
      protocol: 'tcp',
      family: addresses.family(this.local[t]),
      local: addresses.text(this.local[t]),
      remote: addresses.text(this.remote[t]),
      remotePort: this.remotePort[t],
      capacity: ownCapacity,
      used,
      remaining: capacity - unbound,
      usage: usagePercent(used, ownCapacity),
      sockets: this.sockets(t),
      states,
      // Those whose port bind() took are never reused: they are counted in bindTaken.
      timeWaitReusable: this.timeWait[t] - this.timeWaitHeld(t),
      bindTaken,
      optimisticRemaining: Math.max(0, optimisticCapacity - this.held[t]),
      churn: churnOf(capacity - unbound, this.timeWaitHeld(t), this.timeWaitRecent[t]),
    };
  }

  private rowOf(t: number): number {
    let row = this.otherRow[t] - 1;
    if (row === -1) {
      row = this.otherRows++ * STATE_COLUMNS;
      this.otherRow[t] = row + 1;
      if (row === this.otherStates.length) {
        const grown = new Uint32Array(2 * this.otherStates.length);
        grown.set(this.otherStates);
        this.otherStates = grown;
      }
    }
    return row;
  }

  private add(slot: number, local: number, remote: number, remotePort: number): number {
    const t = this.count++;
    if (t === this.local.length) this.resize(2 * this.local.length);
    this.local[t] = local;
    this.remote[t] = remote;
    this.remotePort[t] = remotePort;
    this.slots[slot] = t + 1;
    if (2 * this.count > this.slots.length) this.rehash(2 * this.slots.length);
    return t;
  }

  private resize(rows: number): void {
    const resized = <A extends Int32Array | Uint32Array | Uint16Array>(a: A): A => {
      const b = new (a.constructor as new (n: number) => A)(rows);
      // Only the rows in use: the rest are zero, and are left unwritten (unmapped).
      b.set(a.subarray(0, this.count));
      return b;
    };
    this.local = resized(this.local);
    this.remote = resized(this.remote);
    this.remotePort = resized(this.remotePort);
    this.held = resized(this.held);
    this.reusable = resized(this.reusable);
    this.timeWait = resized(this.timeWait);
    this.otherRow = resized(this.otherRow);
    this.heldOddOffset = resized(this.heldOddOffset);
    this.reusableOddOffset = resized(this.reusableOddOffset);
    this.timeWaitRecent = resized(this.timeWaitRecent);
  }

  private rehash(size: number): void {
    const slots = new Int32Array(size);
    const mask = slots.length - 1;
    for (let t = 0; t < this.count; t++) {
      let slot = hashTuple(this.local[t], this.remote[t], this.remotePort[t]) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = t + 1;
    }
    this.slots = slots;
  }
}

/**
 * The few tuples with the most ports of some kind (those its clients bound, say), found in
 * one pass without an object per tuple: a small array kept in order.
 */
export class TuplePortsFound {
  private readonly ids: number[] = [];
  private readonly ports: number[] = [];
  /** Tuples offered with at least one port. */
  found = 0;

  constructor(private readonly keep: number) {}

  offer(t: number, ports: number): void {
    if (ports === 0) return;
    this.found++;
    let at = this.ids.length;
    while (at > 0 && this.ports[at - 1] < ports) at--;
    if (at >= this.keep) return;
    this.ids.splice(at, 0, t);
    this.ports.splice(at, 0, ports);
    if (this.ids.length > this.keep) {
      this.ids.pop();
      this.ports.pop();
    }
  }

  pools(tuples: TupleTable, capacity: number): TuplePorts[] {
    return this.ids.map((t, i) => ({ pool: tuples.pool(t, capacity), ports: this.ports[i] }));
  }
}

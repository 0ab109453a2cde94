/**
 * TCP tuples (local address, remote address, remote port) as rows of typed arrays, found
 * through an open-addressing hash: a few dozen bytes per tuple and no object, Set or string
 * key, whatever the shape of the host (a few huge tuples or a hundred thousand of one
 * socket each). The sockets of one tuple hold distinct local ports (a 4-tuple is unique,
 * across families too: docs/kernel-model.md), so counting them needs no set of ports.
 */
import type { AddressTable } from '../kernel/address-table';
import { TCP_STATE_NAMES, TcpState } from '../kernel/records';
import { usagePercent, type Pool } from './pool';

const INITIAL = 256;

/** A row of otherStates: one column per TCP state number (1 to 12). */
const STATE_COLUMNS = TCP_STATE_NAMES.length;

function hashTuple(local: number, remote: number, remotePort: number): number {
  let h = Math.imul(local, 0x9e3779b1) ^ Math.imul(remote ^ 0x5bd1e995, 0x85ebca6b) ^ Math.imul(remotePort + 1, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
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
  /** Sockets per state: the two states nearly every socket is in, then a row for the rest. */
  established = new Uint32Array(INITIAL);
  timeWait = new Uint32Array(INITIAL);
  /** Where in otherStates the tuple's row starts, or -1: only tuples with such sockets have one. */
  private otherRow = new Int32Array(INITIAL).fill(-1);
  private otherStates = new Uint32Array(16 * STATE_COLUMNS);
  private otherRows = 0;
  /**
   * Held ports at an odd offset from the range's low end (the rest are even): connect()
   * prefers even offsets and bind(addr, 0) odd ones (docs/kernel-model.md, parity).
   */
  heldOddOffset = new Uint32Array(INITIAL);
  /** TIME_WAIT sockets that hold their port (not reusable) and are younger than RECENT_MS. */
  timeWaitRecent = new Uint32Array(INITIAL);

  /** Open addressing, linear probing, at most half full: tuple id + 1 per slot, 0 when empty. */
  private slots = new Int32Array(2 * INITIAL);
  private count = 0;

  constructor(readonly addresses: AddressTable) {}

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
    if (state === TcpState.ESTABLISHED) this.established[t] += delta;
    else if (state === TcpState.TIME_WAIT) this.timeWait[t] += delta;
    else this.otherStates[this.rowOf(t) + state] += delta;
  }

  sockets(t: number): number {
    return this.held[t] + this.reusable[t];
  }

  /**
   * One tuple as a Pool, for output: only the few that are listed are ever made.
   * @param capacity what a tuple with no sockets of its own gets (the same for every tuple)
   */
  pool(t: number, capacity: number): Pool {
    const { addresses } = this;
    // A socket listed twice (the kernel's listings are not atomic) could count a port
    // twice: a tuple never holds more ports than it can have.
    const used = Math.min(this.held[t], capacity);
    const states: Record<string, number> = {};
    const row = this.otherRow[t];
    for (let state = 1; state < STATE_COLUMNS; state++) {
      const count = state === TcpState.ESTABLISHED ? this.established[t] : state === TcpState.TIME_WAIT ? this.timeWait[t] : row === -1 ? 0 : this.otherStates[row + state];
      if (count > 0) states[TCP_STATE_NAMES[state]] = count;
    }
    return {
      protocol: 'tcp',
      family: addresses.family(this.local[t]),
      local: addresses.text(this.local[t]),
      remote: addresses.text(this.remote[t]),
      remotePort: this.remotePort[t],
      capacity,
      used,
      remaining: capacity - used,
      usage: usagePercent(used, capacity),
      sockets: this.sockets(t),
      states,
      timeWaitReusable: this.reusable[t],
    };
  }

  private rowOf(t: number): number {
    let row = this.otherRow[t];
    if (row === -1) {
      row = this.otherRow[t] = this.otherRows++ * STATE_COLUMNS;
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
    if (t === this.local.length) this.grow();
    this.local[t] = local;
    this.remote[t] = remote;
    this.remotePort[t] = remotePort;
    this.slots[slot] = t + 1;
    if (2 * this.count > this.slots.length) this.rehash();
    return t;
  }

  private grow(): void {
    const grown = <A extends Int32Array | Uint32Array | Uint16Array>(a: A, fill = 0): A => {
      const b = new (a.constructor as new (n: number) => A)(2 * a.length);
      b.set(a);
      if (fill !== 0) b.fill(fill, a.length);
      return b;
    };
    this.local = grown(this.local);
    this.remote = grown(this.remote);
    this.remotePort = grown(this.remotePort);
    this.held = grown(this.held);
    this.reusable = grown(this.reusable);
    this.established = grown(this.established);
    this.timeWait = grown(this.timeWait);
    this.otherRow = grown(this.otherRow, -1);
    this.heldOddOffset = grown(this.heldOddOffset);
    this.timeWaitRecent = grown(this.timeWaitRecent);
  }

  private rehash(): void {
    const slots = new Int32Array(2 * this.slots.length);
    const mask = slots.length - 1;
    for (let t = 0; t < this.count; t++) {
      let slot = hashTuple(this.local[t], this.remote[t], this.remotePort[t]) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = t + 1;
    }
    this.slots = slots;
  }
}

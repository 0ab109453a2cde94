/**
 * Which in-range ports bind() took before connect(): the parity of `port - low` tells
 * (docs/kernel-model.md, Rule 9). connect() tries even offsets first and moves to odd ones
 * only when its tuple has no even one left; bind(addr, 0) does the opposite. So a port at
 * an odd offset held by a tuple that still has even ones free did not come from connect():
 * it is in B, lost to every tuple. One pass over the range, after every socket is read.
 */

/** holderSecond values besides a tuple id. */
export const NO_HOLDER = -1;

/**
 * Who holds each port at bind parity, filled socket by socket: the first two tuples (as
 * `tuple << 1 | 1 if the socket is a reusable TIME_WAIT`), and whether there were more. A
 * tuple holds a port once (a four-tuple is unique), so a second socket on a port is always
 * another tuple.
 */
export class BindParityHolders {
  // Stored plus one, so that a fresh (zeroed, not yet mapped) array means no holder: read
  // them through firstHolder/secondHolder, which give NO_HOLDER. Made at the first socket
  // at bind parity, which most hosts never have: until then, nothing is allocated.
  private first = new Int32Array(0);
  private second = new Int32Array(0);
  private several = new Uint8Array(0);

  /** No socket at bind parity was seen: nothing to classify, and no tuple holds such a port. */
  get empty(): boolean {
    return this.first.length === 0;
  }

  add(port: number, tuple: number, reusable: boolean): void {
    if (this.empty) {
      this.first = new Int32Array(65536);
      this.second = new Int32Array(65536);
      this.several = new Uint8Array(65536);
    }
    const stored = ((tuple << 1) | (reusable ? 1 : 0)) + 1;
    if (this.first[port] === 0) this.first[port] = stored;
    else if (this.second[port] === 0) this.second[port] = stored;
    else this.several[port] = 1;
  }

  /** 1 for a port held by more than two tuples at bind parity. */
  get more(): Uint8Array {
    return this.several;
  }

  firstHolder(port: number): number {
    return this.first[port] - 1;
  }

  secondHolder(port: number): number {
    return this.second[port] - 1;
  }
}

export interface BindParityInput {
  readonly low: number;
  readonly high: number;
  /** 1 for each port of C (the range less reserved ports). */
  readonly usable: Uint8Array;
  /** 1 for each port held by a listener (X). */
  readonly listening: Uint8Array;
  /** 1 for each in-range port any TCP socket holds. */
  readonly tcpHeld: Uint8Array;
  readonly holders: BindParityHolders;
  readonly tuples: number;
  /** Per tuple: ports it holds (not reusable TIME_WAIT, not in X), and those of them at bind parity. */
  readonly held: ArrayLike<number>;
  readonly heldBindParity: ArrayLike<number>;
  /** Per tuple: its TIME_WAITs that connect() may reuse now, and those at bind parity. */
  readonly reusable: ArrayLike<number>;
  readonly reusableBindParity: ArrayLike<number>;
}

export interface BindParity {
  /** |B| */
  readonly taken: number;
  /** Per tuple: 1 when it has no connect-parity port left (its bind-parity ports are undecidable). */
  readonly spilled: Uint8Array;
  /** Per spilled tuple: ports it holds (reusable TIME_WAIT aside) that are in B all the same (another holder bound them). */
  readonly takenFromSpilled: Int32Array;
  /** Per tuple: ports of B it is the only holder with connect parity left for: its clients bound them. */
  readonly boundAlone: Int32Array;
  /** Ports of B held by several tuples that each could have bound them (a closed listener's accepted side, or binds on several addresses). */
  readonly sharedTaken: number;
  /** Bind-parity ports held only by spilled tuples: counted as their own. */
  readonly undecidable: number;
  /** Ports of connect parity in C \ X. */
  readonly connectParityPorts: number;
  /** No port of bind parity in C is free of TCP sockets: a bind(addr, 0) now takes connect-parity ports, which look like connect()'s. */
  readonly bindParityFull: boolean;
}

export function classifyBindParity(input: BindParityInput): BindParity {
  const { low, high, usable, listening, tcpHeld, holders, tuples, held, heldBindParity, reusable, reusableBindParity } = input;
  let connectParityPorts = 0;
  let bindParityFree = 0;
  for (let port = low; port <= high; port++) {
    if (usable[port] === 0 || listening[port] !== 0) continue;
    if (((port - low) & 1) === 0) connectParityPorts++;
    else if (tcpHeld[port] === 0) bindParityFree++;
  }
  // A TIME_WAIT connect() may reuse now held its port until a moment ago, perhaps when the
  // tuple spilled: it counts as holding connect()'s parity, so no bind() is claimed then.
  const spilled = new Uint8Array(tuples);
  const takenFromSpilled = new Int32Array(tuples);
  const boundAlone = new Int32Array(tuples);
  const bindParityFull = bindParityFree === 0;
  // Nobody at bind parity: B is empty, whoever spilled (zeroed arrays are not even mapped).
  if (holders.empty) return { taken: 0, spilled, takenFromSpilled, boundAlone, sharedTaken: 0, undecidable: 0, connectParityPorts, bindParityFull };
  for (let t = 0; t < tuples; t++) if (held[t] - heldBindParity[t] + reusable[t] - reusableBindParity[t] >= connectParityPorts) spilled[t] = 1;

  let taken = 0;
  let sharedTaken = 0;
  let undecidable = 0;
  const { more } = holders;
  for (let port = low + 1; port <= high; port += 2) {
    const holderA = holders.firstHolder(port);
    if (holderA === NO_HOLDER || usable[port] === 0 || listening[port] !== 0) continue;
    const holderB = holders.secondHolder(port);
    const a = holderA >> 1;
    const b = holderB === NO_HOLDER ? NO_HOLDER : holderB >> 1;
    const aBound = spilled[a] === 0;
    const bBound = b !== NO_HOLDER && spilled[b] === 0;
    if (!aBound && !bBound) {
      undecidable++;
      continue;
    }
    taken++;
    if (b === NO_HOLDER) {
      boundAlone[a]++;
      continue;
    }
    if (!aBound && (holderA & 1) === 0) takenFromSpilled[a]++;
    if (!bBound && (holderB & 1) === 0) takenFromSpilled[b]++;
    if (aBound !== bBound && more[port] === 0) boundAlone[aBound ? a : b]++;
    else sharedTaken++;
  }
  return { taken, spilled, takenFromSpilled, boundAlone, sharedTaken, undecidable, connectParityPorts, bindParityFull };
}

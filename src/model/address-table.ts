/**
 * The addresses of one socket listing, each interned once into a small integer id: sockets
 * and tuples carry ids, and text is made only for the few addresses that are printed or
 * filtered. One table serves both families and both socket sources, so an address gets the
 * same id (and text) however it was read. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) gets the id of
 * the IPv4 address: such a socket competes for the IPv4 tuple (docs/kernel-model.md).
 */
import { ipv4Text, ipv6WordsText, type Family } from './address';
import { rowsFor } from './table-rows';
import { mix } from './hash';

const INITIAL = 64;

/**
 * Slots made at once, at most: a hash is written at random places, so every page of it is
 * touched once a few hundred addresses are in, and most hosts have few addresses whatever
 * their sockets (a proxy to 100,000 backends grows it, a rehash per doubling).
 */
const SLOTS_AT_ONCE = 8192;

function hash6(w0: number, w1: number, w2: number, w3: number): number {
  return mix(w3 ^ Math.imul(w2, 0x9e3779b1) ^ Math.imul(w1, 0x27d4eb2f) ^ Math.imul(w0, 0x165667b1) ^ 6);
}

/**
 * IPv4 text sorts octet by octet, each octet as its decimal text ("10" before "9", "1"
 * before "10"): OCTET_RANK[n] is the place of String(n) among the 256, so four ranks make a
 * number that sorts as the text does, without making the text.
 */
const OCTET_RANK = (() => {
  const rank = new Uint8Array(256);
  const byText = Array.from({ length: 256 }, (_, n) => n).sort((a, b) => (String(a) < String(b) ? -1 : 1));
  byText.forEach((n, place) => (rank[n] = place));
  return rank;
})();

function ipv4SortKey(address: number): number {
  return ((OCTET_RANK[address >>> 24] << 24) | (OCTET_RANK[(address >>> 16) & 255] << 16) | (OCTET_RANK[(address >>> 8) & 255] << 8) | OCTET_RANK[address & 255]) >>> 0;
}

export class AddressTable {
  /** Four network-order words per id; an IPv4 address is 0, 0, 0, address. */
  private words: Int32Array;
  private families: Uint8Array;
  /** Open addressing, linear probing, at most half full: id + 1 per slot, 0 when empty. */
  private slots: Int32Array;
  private readonly texts: string[] = [];
  private count = 0;

  /**
   * @param expectedSockets how many sockets the listing may hold, 0 when unknown: rows for
   *   as many addresses (rows are written in order, so the unused ones are never mapped),
   *   grown beyond
   */
  constructor(expectedSockets = 0) {
    const rows = rowsFor(expectedSockets, INITIAL);
    this.words = new Int32Array(4 * rows);
    this.families = new Uint8Array(rows);
    this.slots = new Int32Array(Math.min(2 * rows, SLOTS_AT_ONCE));
  }

  /** How many distinct addresses: ids are 0 to size - 1. */
  get size(): number {
    return this.count;
  }

  /** @param address the 32-bit value, most significant byte first (127.0.0.1 is 0x7f000001) */
  ipv4(address: number): number {
    address |= 0;
    const { slots, words, families } = this;
    const mask = slots.length - 1;
    for (let slot = mix(address ^ 4) & mask; ; slot = (slot + 1) & mask) {
      const id = slots[slot] - 1;
      if (id === -1) return this.add(slot, 4, 0, 0, 0, address);
      if (words[4 * id + 3] === address && families[id] === 4) return id;
    }
  }

  /** Four network-order 32-bit words; IPv4-mapped addresses get their IPv4 id. */
  ipv6(w0: number, w1: number, w2: number, w3: number): number {
    if (w0 === 0 && w1 === 0 && w2 === 0xffff) return this.ipv4(w3);
    w0 |= 0;
    w1 |= 0;
    w2 |= 0;
    w3 |= 0;
    const { slots, words, families } = this;
    const mask = slots.length - 1;
    for (let slot = hash6(w0, w1, w2, w3) & mask; ; slot = (slot + 1) & mask) {
      const id = slots[slot] - 1;
      if (id === -1) return this.add(slot, 6, w0, w1, w2, w3);
      const at = 4 * id;
      if (words[at + 3] === w3 && words[at + 2] === w2 && words[at + 1] === w1 && words[at] === w0 && families[id] === 6) return id;
    }
  }

  family(id: number): Family {
    return this.families[id] as Family;
  }

  /** 127.0.0.0/8 or ::1 (mapped 127.x is IPv4 already): what tcp_tw_reuse = 2 asks. */
  isLoopback(id: number): boolean {
    const at = 4 * id;
    if (this.families[id] === 4) return this.words[at + 3] >>> 24 === 127;
    return this.words[at] === 0 && this.words[at + 1] === 0 && this.words[at + 2] === 0 && this.words[at + 3] === 1;
  }

  /** Dotted quad or RFC 5952 text, made on first use. */
  text(id: number): string {
    let text = this.texts[id];
    if (text === undefined) {
      const at = 4 * id;
      const w = this.words;
      text = this.families[id] === 4 ? ipv4Text(w[at + 3]) : ipv6WordsText(w[at], w[at + 1], w[at + 2], w[at + 3]).text;
      this.texts[id] = text;
    }
    return text;
  }

  /** Orders two addresses as their texts would sort (code units), without text for IPv4. */
  compareText(a: number, b: number): number {
    if (a === b) return 0;
    if (this.families[a] === 4 && this.families[b] === 4) return ipv4SortKey(this.words[4 * a + 3]) - ipv4SortKey(this.words[4 * b + 3]);
    const ta = this.text(a);
    const tb = this.text(b);
    return ta < tb ? -1 : ta > tb ? 1 : 0;
  }

  /** The hot path: one call per socket at most (a new address), so its words come positional. */
  private add(slot: number, family: Family, w0: number, w1: number, w2: number, w3: number): number {
    const id = this.count++;
    if (id === this.families.length) {
      const words = new Int32Array(2 * this.words.length);
      words.set(this.words);
      this.words = words;
      const families = new Uint8Array(2 * this.families.length);
      families.set(this.families);
      this.families = families;
    }
    const at = 4 * id;
    this.words[at] = w0;
    this.words[at + 1] = w1;
    this.words[at + 2] = w2;
    this.words[at + 3] = w3;
    this.families[id] = family;
    this.slots[slot] = id + 1;
    if (2 * this.count > this.slots.length) this.rehash();
    return id;
  }

  private rehash(): void {
    const slots = new Int32Array(2 * this.slots.length);
    const mask = slots.length - 1;
    const w = this.words;
    for (let id = 0; id < this.count; id++) {
      const at = 4 * id;
      let slot = (this.families[id] === 4 ? mix(w[at + 3] ^ 4) : hash6(w[at], w[at + 1], w[at + 2], w[at + 3])) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = id + 1;
    }
    this.slots = slots;
  }
}

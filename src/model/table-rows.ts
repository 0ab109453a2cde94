/**
 * How many rows to make at once for a table (tuples, addresses) of a listing that may hold
 * `expected` sockets (sockstat.ts): a socket adds at most one tuple, and the sockets of a
 * host share their local addresses, so as many rows as sockets is enough (the address
 * table grows in the rare case it is not). Made once, a table never grows (copies,
 * rehashes, and code re-optimised for the new arrays), and rows it never fills cost no
 * memory, since fresh zeroed pages are only mapped when first written. Capped: a hash is
 * written at random places, so every page of it is touched once a few thousand rows are in
 * (1 MiB of slots at the cap); beyond it, tables grow.
 */
const MOST_AT_ONCE = 1 << 17;

export function rowsFor(expected: number, initial: number): number {
  let rows = initial;
  while (rows < expected && rows < MOST_AT_ONCE) rows *= 2;
  return rows;
}

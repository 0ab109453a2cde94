/**
 * How many rows to make at once for a table (addresses, tuples) of a listing that may hold
 * `expected` sockets (sockstat.ts): there is at most one new row per socket. Made once,
 * a table never grows (copies, rehashes, and code re-optimised for the new arrays), and
 * rows it never fills cost no memory, since fresh zeroed pages are only mapped when first
 * written. Capped: a hash is written at random places, so every page of it is touched
 * once a few thousand rows are in (1 MiB of slots at the cap); beyond it, tables grow.
 */
const MOST_AT_ONCE = 1 << 17;

export function rowsFor(expected: number, initial: number): number {
  let rows = initial;
  while (rows < expected && rows < MOST_AT_ONCE) rows *= 2;
  return rows;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressTable } from '../../src/model/address-table';
import { TupleTable } from '../../src/pools/tuple-table';

/** A small deterministic generator: the same tuples every run. */
function* tuples(n: number, seed: number): Generator<[number, number, number]> {
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    yield [x % 7, (x >>> 8) % 5000, (x >>> 3) % 65536];
  }
}

describe('the tuple table', () => {
  // Sizes around the growth points, made from nothing or from a size hint (sockstat).
  for (const [n, expected] of [[300, 0], [5000, 0], [70_000, 0], [5000, 4000], [70_000, 100_000], [3000, 1_000_000]] as const) {
    it(`${n} lookups${expected ? ` sized for ${expected} sockets` : ''}: one id per distinct tuple, kept as it grows`, () => {
      const table = new TupleTable(new AddressTable(), expected);
      const seen = new Map<string, number>();
      for (const [local, remote, port] of tuples(n, n + expected)) {
        const key = `${local} ${remote} ${port}`;
        const id = table.id(local, remote, port);
        const before = seen.get(key);
        if (before === undefined) {
          assert.equal(id, seen.size, key);
          seen.set(key, id);
        } else assert.equal(id, before, key);
      }
      assert.equal(table.size, seen.size);
      for (const [key, id] of seen) {
        const [local, remote, port] = key.split(' ').map(Number);
        assert.deepEqual([table.local[id], table.remote[id], table.remotePort[id]], [local, remote, port]);
        assert.equal(table.id(local, remote, port), id);
      }
    });
  }
});

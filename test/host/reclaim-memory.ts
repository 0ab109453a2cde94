/**
 * Run as a process of its own by node-host.test.ts: leaves MIB MiB of typed arrays dead in
 * the old generation (as a namespace's tables are once it is judged), asks nodeHost to
 * reclaim, and prints the typed-array memory before and once Node has freed it (the
 * backing stores go on a background sweep after the collection), or PATIENCE ms have passed.
 */
import { nodeHost } from '../../src/host/node-host';

/** What node-host.test.ts counts as freed: the sweep frees in steps, so wait for all of them. */
const FREED_BELOW = 8 << 20;

async function main(): Promise<void> {
  const mib = Number(process.argv[2]);
  // How long to wait for the sweep at most: it runs on a background thread, which a loaded
  // machine may leave waiting for seconds; the loop ends as soon as the memory is freed.
  const patienceMs = Number(process.argv[3] ?? 2000);
  const held: { tables: Int32Array[] | null } = { tables: Array.from({ length: mib }, () => new Int32Array(262144).fill(1)) };
  // Promoted, as the collections during a namespace's read promote its tables: a young
  // collection alone would not find them dead any more.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve, Array.from({ length: 100_000 }, (_, k) => ({ k }))));
  held.tables = null;
  const before = process.memoryUsage().arrayBuffers;
  nodeHost.reclaim?.();
  let after = process.memoryUsage().arrayBuffers;
  for (let waited = 0; after >= FREED_BELOW && waited < patienceMs; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = process.memoryUsage().arrayBuffers;
  }
  console.log(JSON.stringify({ before, after }));
}

void main();

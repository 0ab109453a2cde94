/** A reading of one namespace for tests that call a source directly (model/reading.ts). */
import type { Host } from '../../src/host/host';
import type { NamespaceReading } from '../../src/model/reading';
import type { TableChoice } from '../../src/model/settings';
import { readSocketCounts } from '../../src/sources/counts/sockstat';
import { readSockets } from '../../src/sources/sockets/sockets';
import { NEW_NAMESPACE_DEFAULTS } from '../../src/sources/sysctls/read';
import type { SocketSink } from '../../src/model/records';

export function testReading(host: Host, procRoot: string, more: Partial<NamespaceReading> = {}): NamespaceReading {
  const kernel = { ...NEW_NAMESPACE_DEFAULTS, assumptions: [] };
  return { host, procRoot, settings: { kernel, read: true }, source: 'auto', ssBudgetMs: Infinity, signal: new AbortController().signal, onStage: () => {}, own: true, root: false, ...more };
}

/**
 * readSockets as the check calls it (check/namespace.ts): the namespace's counts first,
 * from its sockstat, except for a chosen /proc.
 */
export async function readCounted<S extends SocketSink>(reading: NamespaceReading, want: TableChoice, space: { range: { low: number; high: number }; usable: Uint8Array }, newSink: () => S) {
  const counts = reading.source === 'proc' ? null : await readSocketCounts(reading.host, reading.procRoot);
  return readSockets(reading, { want, space, counts }, newSink);
}

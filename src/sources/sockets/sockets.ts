/**
 * Which socket source to read: ss (sock_diag, filtered in the kernel: cheap on busy hosts)
 * or /proc/net (always there, and the only choice for a captured copy given with --proc).
 * Both feed the sink the same calls for the same sockets.
 */
import { KernelError } from '../../host/errors';
import { ALL_TABLES, socketsCounted, tablesPresent, type SocketCounts } from '../../model/counts';
import type { NamespaceReading } from '../../model/reading';
import type { SocketSink } from '../../model/records';
import type { PortRange, TableChoice } from '../../model/settings';
import { readSocketTables } from './proc-source';
import { listingOf } from './request';
import { readSocketsWithSs } from './ss-source';

/**
 * Under auto, a namespace with fewer sockets than this is read from /proc: its tables are
 * short, and starting ss (a fork of this process, then ss's own start) costs more than
 * reading them. Measured: at 8,000 sockets both take the same time.
 */
export const PROC_BELOW = 5000;

export interface SocketsRead<S> {
  readonly sink: S;
  readonly source: 'ss' | 'proc';
  /** Why auto did not use ss, for the verbose output; null when it did or was not asked. */
  readonly fallback: string | null;
}

/** What to read of a namespace's sockets. */
export interface SocketsWanted {
  readonly want: TableChoice;
  /** The namespace's port space (PortSpace): its range, and which ports count. */
  readonly space: { readonly range: PortRange; readonly usable: Uint8Array };
  /**
   * What the namespace holds, counted by the kernel (sources/counts; null for a chosen /proc,
   * which may be a copy): which tables are empty, how big the listing is (the sink is made
   * that big at once), and under auto whether it is worth starting ss for.
   */
  readonly counts: SocketCounts | null;
}

/**
 * @param newSink a fresh sink per attempt: when ss fails half-way under auto, what it
 *   delivered is dropped and /proc is read into a new sink.
 * Under auto, ss may take reading.ssBudgetMs: then it is killed and /proc answers with the
 * rest of the run's time (busy hosts have met slow ss; /proc cannot stall so).
 */
export async function readSockets<S extends SocketSink>(reading: NamespaceReading, { want, space, counts }: SocketsWanted, newSink: (expectedSockets: number) => S): Promise<SocketsRead<S>> {
  const { procRoot, source: choice, signal, ssBudgetMs } = reading;
  const request = listingOf(want, space, counts === null ? ALL_TABLES : tablesPresent(counts));
  const fresh = () => newSink(counts === null ? 0 : socketsCounted(counts, { tcp: want.tcp, udp: false }));
  const fromProc = async (fallback: string | null): Promise<SocketsRead<S>> => {
    const sink = fresh();
    await readSocketTables(reading, request, sink);
    return { sink, source: 'proc', fallback };
  };
  if (choice === 'proc' || (choice === 'auto' && counts !== null && socketsCounted(counts, want) < PROC_BELOW)) return fromProc(null);
  // Under auto, ss runs on its own budget: when it is spent, ss is killed (and reaped:
  // readSocketsWithSs waits for its children) and /proc is read instead.
  const ssStop = new AbortController();
  const forward = () => ssStop.abort();
  signal.addEventListener('abort', forward, { once: true });
  let stalled = false;
  const budget = choice === 'auto' && Number.isFinite(ssBudgetMs) ? setTimeout(() => ((stalled = true), ssStop.abort()), ssBudgetMs) : undefined;
  try {
    const sink = await readSocketsWithSs({ ...reading, signal: ssStop.signal }, request, fresh);
    return { sink, source: 'ss', fallback: null };
  } catch (err) {
    if (choice === 'ss' || signal.aborted) throw err;
    if (stalled) return fromProc(`ss gave no answer within ${ssBudgetMs / 1000} s (its share of -t): killed it, read ${procRoot}/net instead`);
    if (!(err instanceof KernelError)) throw err;
    return fromProc(`ss unusable (${err.message}): read ${procRoot}/net instead`);
  } finally {
    clearTimeout(budget);
    signal.removeEventListener('abort', forward);
  }
}

/**
 * Which socket source to read: ss (sock_diag, filtered in the kernel: cheap on busy hosts)
 * or /proc/net (always there, and the only choice for a captured copy given with --proc).
 * Both feed the sink the same calls for the same sockets.
 */
import { KernelError } from './errors';
import type { Host } from './host';
import { readSocketTables, type TableChoice } from './proc-source';
import type { SocketSink } from './records';
import { readSocketCounts, socketsCounted, tablesPresent, ALL_TABLES } from './sockstat';
import { readSocketsWithSs } from './ss-source';
import type { PortRange } from './sysctl';

export type SourceChoice = 'auto' | 'ss' | 'proc';
export const SOURCE_CHOICES: readonly SourceChoice[] = ['auto', 'ss', 'proc'];

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

/**
 * @param newSink a fresh sink per attempt: when ss fails half-way under auto, what it
 *   delivered is dropped and /proc is read into a new sink.
 * @param ssBudgetMs under auto, how long ss may take: then it is killed and /proc answers
 *   with the rest of the run's time (busy hosts have met slow ss; /proc cannot stall so).
 */
export async function readSockets<S extends SocketSink>(
  host: Host,
  choice: SourceChoice,
  procRoot: string,
  want: TableChoice,
  range: PortRange,
  usable: Uint8Array,
  newSink: (expectedSockets: number) => S,
  onStage: (stage: string) => void,
  signal: AbortSignal,
  ssBudgetMs = Infinity,
): Promise<SocketsRead<S>> {
  // What the namespace holds, counted by the kernel (not for a chosen /proc, which may be a
  // copy): which tables are empty, how big the listing is (the sink is made that big at
  // once), and under auto whether it is worth starting ss for.
  const counts = choice === 'proc' ? null : await readSocketCounts(host, procRoot);
  const present = counts === null ? ALL_TABLES : tablesPresent(counts);
  const fresh = () => newSink(counts === null ? 0 : socketsCounted(counts, { tcp: want.tcp, udp: false }));
  const fromProc = async (fallback: string | null): Promise<SocketsRead<S>> => {
    const sink = fresh();
    await readSocketTables(host, procRoot, want, usable, sink, (path) => onStage(`reading ${path}`), present);
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
    const sink = await readSocketsWithSs(host, want, range, usable, fresh, onStage, ssStop.signal, present);
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

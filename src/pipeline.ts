/**
 * One namespace's settings and sockets → its verdict: assess() with the socket source the
 * options choose, then decide(). Run once for the check's own namespace, or once per
 * namespace with --namespaces (each then with its own host, proc root and source).
 */
import { assess, type Settings } from './assess';
import type { Options } from './cli/options';
import type { Host } from './kernel/host';
import type { KernelSettings } from './kernel/proc-source';
import { readSockets, type SourceChoice } from './kernel/sockets';
import { decide, type Verdict } from './verdict/verdict';

export interface Judgement {
  readonly verdict: Verdict;
  /** The settings judged with, plus why auto did not use ss, if it did not. */
  readonly settings: KernelSettings;
  readonly source: 'ss' | 'proc';
}

/**
 * @param procRoot where the /proc source reads `net/*` (`/proc`, or `/proc/PID` for another namespace)
 * @param given the sysctls to judge with, and whether they were read or assumed
 * @param signal aborted when the run ends early: kills any child.
 * @param ssBudgetMs under --source auto, how long ss may take before /proc answers instead
 */
export async function judgeSockets(options: Options, host: Host, procRoot: string, given: Settings, choice: SourceChoice, onStage: (stage: string) => void, signal: AbortSignal, ssBudgetMs = Infinity): Promise<Judgement> {
  // --top 0 lists every pool; otherwise no more than --top are ever listed or graphed.
  const limit = options.top === 0 ? Infinity : options.top;
  const { settings, source, report, ranked } = await assess(
    given,
    { selection: options.selection, thresholds: options.thresholds, limit },
    (want, space, newSink) => readSockets(host, choice, procRoot, want, space.range, space.usable, newSink, onStage, signal, ssBudgetMs),
    onStage,
  );
  const tuplePerfdata = options.tuplePerfdata ? limit : 0;
  return { verdict: decide(report, ranked, options.thresholds, tuplePerfdata), settings, source };
}

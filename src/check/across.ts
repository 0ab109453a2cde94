/**
 * --namespaces: the pipeline once per network namespace, side by side in a bounded pool,
 * inside -t. A namespace that cannot be read in time, or at all, is reported as not
 * checked with the reason; one whose processes all exited meanwhile is gone (nothing is
 * left in it to run out). How that sets the state: verdict/across.ts, decideAcross.
 */
import type { Options } from '../cli/options';
import { KernelError } from '../host/errors';
import { findHelper } from '../host/helpers';
import type { Host } from '../host/host';
import { socketsCounted } from '../model/counts';
import type { NamespaceReading } from '../model/reading';
import type { Settings, SourceChoice } from '../model/settings';
import { chooseNamespaces, type NamespaceRef } from '../namespaces/discover';
import { entering, NSENTER_PATHS, stoppable } from '../namespaces/enter';
import { namespaceName } from '../namespaces/names';
import { readSocketCounts } from '../sources/counts/sockstat';
import { assumedSettings, readSettings, readSettingsWithSysctl, SYSCTL_PATHS } from '../sources/sysctls/read';
import type { Across, CheckedNamespace, UncheckedNamespace } from '../verdict/across';
import { judgeNamespace, type Judgement } from './namespace';

/** Namespaces read at once: each read is one or two programs walking the socket hash. */
export const NAMESPACE_POOL = 4;
/** The share of -t the namespaces may take; the rest is for the verdict and the output. */
export const NAMESPACE_SHARE = 0.75;

/** A namespace that cannot be read; the message says why. */
class Unreadable extends Error {}

interface Helpers {
  readonly root: boolean;
  readonly nsenter: { path: string } | { why: string };
  readonly sysctl: { path: string } | { why: string };
}

/** The namespace's own sysctls when we may enter it; otherwise the defaults, and why. */
async function settingsOf(host: Host, ref: NamespaceRef, h: Helpers, signal: AbortSignal): Promise<Settings> {
  if (ref.own) return { kernel: await readSettings(host, '/proc'), read: true };
  let why: string;
  if (!h.root) why = 'reading them means entering the namespace, which needs root';
  else if (ref.door === null) why = 'its namespace link cannot be read, not even by root';
  else if ('why' in h.nsenter) why = h.nsenter.why;
  else if ('why' in h.sysctl) why = h.sysctl.why;
  else {
    try {
      return { kernel: await readSettingsWithSysctl(entering(host, h.nsenter.path, ref.door), h.sysctl.path, ref.door, signal), read: true };
    } catch (err) {
      if (!(err instanceof KernelError) || signal.aborted) throw err;
      why = `reading them failed: ${err.message}`;
    }
  }
  return { kernel: assumedSettings(why), read: false };
}

/** Where and how its sockets are read: through nsenter as root, else its processes' /proc/PID/net. */
function socketsOf(host: Host, ref: NamespaceRef, h: Helpers, choice: SourceChoice): { host: Host; procRoot: string; choice: SourceChoice; entered?: boolean } {
  if (ref.own) return { host, procRoot: '/proc', choice };
  const nsenter = 'path' in h.nsenter ? h.nsenter.path : null;
  const canEnter = h.root && ref.door !== null && nsenter !== null;
  if (ref.procRoot === null) {
    // A name under /run/netns with no process in it: no /proc/PID/net shows its tables.
    if (!canEnter || choice === 'proc') throw new Unreadable(`no process in it: only ss run inside it${h.root ? '' : ' by root'} can list its sockets`);
    return { host: entering(host, nsenter, ref.door!), procRoot: '/nonexistent', choice: 'ss', entered: true };
  }
  if (canEnter) return { host: entering(host, nsenter, ref.door!), procRoot: ref.procRoot, choice, entered: true };
  if (choice === 'ss') throw new Unreadable(`ss must run inside the namespace, which needs root${h.root && 'why' in h.nsenter ? ` and nsenter (${h.nsenter.why})` : ''}: use --source auto or proc`);
  return { host, procRoot: ref.procRoot, choice: 'proc' };
}

/**
 * The reading of one namespace: its settings, and where and how its sockets are read.
 * @param signal its own: aborted at the deadline, it stops its reads and kills its programs.
 */
async function readingOf(host: Host, ref: NamespaceRef, h: Helpers, choice: SourceChoice, signal: AbortSignal): Promise<NamespaceReading> {
  const settings = await settingsOf(host, ref, h, signal);
  const where = socketsOf(host, ref, h, choice);
  // A read that hangs in the kernel is abandoned at the deadline (stoppable ends it at its
  // next read; nsenter and ss are killed).
  return { host: stoppable(where.host, signal), procRoot: where.procRoot, settings, source: where.choice, ssBudgetMs: Infinity, signal, onStage: () => {}, own: ref.own, root: h.root, programsInside: where.entered === true };
}

/** Is it still the namespace we found (a process of it alive, its pid not reused)? */
async function stillThere(host: Host, ref: NamespaceRef): Promise<boolean> {
  if (ref.own) return true;
  const inode = async (path: string) => (await host.stat?.(path).catch(() => undefined))?.inode;
  // The door we entered by and the tables we read, if any.
  if (ref.door !== null && (await inode(ref.door)) !== ref.inode) return false;
  return ref.procRoot === null || (await inode(`${ref.procRoot}/net/tcp`)) === ref.tables;
}

/** How many sockets a namespace holds, from its sockstat (sockstat.ts); 0 when it cannot be read. */
export async function socketsIn(host: Host, ref: NamespaceRef): Promise<number> {
  if (ref.procRoot === null) return 0;
  const counts = await readSocketCounts(host, ref.procRoot);
  return counts === null ? 0 : socketsCounted(counts, { tcp: true, udp: true });
}

/** Runs `work` over the items, at most `size` at a time, in the order given by `order`. */
async function pool<T, R>(items: readonly T[], order: readonly number[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = order[next++];
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
  return results;
}

type Outcome = { checked: CheckedNamespace } | { unchecked: UncheckedNamespace } | { gone: UncheckedNamespace };

export async function checkNamespaces(options: Options, host: Host, onStage: (stage: string) => void, signal: AbortSignal): Promise<Across> {
  const choice = options.namespaces;
  if (choice === null) throw new Error('checkNamespaces without --namespaces');
  onStage('looking for network namespaces in /proc');
  const refs = await chooseNamespaces(host, choice);
  const root = host.euid === 0;
  const notRoot = { why: 'not root' };
  const h: Helpers = { root, nsenter: root ? findHelper(host, NSENTER_PATHS) : notRoot, sysctl: root ? findHelper(host, SYSCTL_PATHS) : notRoot };
  onStage('naming the network namespaces');
  const names: string[] = [];
  for (const ref of refs) names.push(await namespaceName(host, ref));

  // Past the deadline, what has not been read is left unread: the verdict on the others
  // is worth more than a timeout that says nothing.
  const budgetMs = options.timeoutSeconds * 1000 * NAMESPACE_SHARE;
  const late = new AbortController();
  const timer = setTimeout(() => late.abort(), budgetMs);
  const giveUp = () => late.abort();
  signal.addEventListener('abort', giveUp, { once: true });
  let done = 0;
  const progress = () => onStage(`reading ${refs.length} network namespaces, ${done} done`);
  progress();

  const one = async (ref: NamespaceRef, name: string): Promise<Outcome> => {
    const label = { inode: ref.inode, name };
    if (late.signal.aborted) return { unchecked: { ...label, reason: `not started within ${seconds(budgetMs)} (-t ${options.timeoutSeconds})` } };
    // Its own signal: listeners come and go with it, not pile up on the shared one.
    const stop = new AbortController();
    const forward = () => stop.abort();
    late.signal.addEventListener('abort', forward, { once: true });
    try {
      const reading = await readingOf(host, ref, h, options.source, stop.signal);
      const judged: Judgement = await Promise.race([judgeNamespace(reading, options), whenAborted(stop.signal)]);
      if (!(await stillThere(host, ref))) return { gone: { ...label, reason: 'its processes exited while it was read' } };
      return { checked: { ...label, verdict: judged.verdict, settings: judged.settings, settingsRead: reading.settings.read, source: judged.source, procRoot: ref.procRoot, pids: ref.pids } };
    } catch (err) {
      if (signal.aborted) throw err;
      if (late.signal.aborted) return { unchecked: { ...label, reason: `not read within ${seconds(budgetMs)} (-t ${options.timeoutSeconds})` } };
      if (!(err instanceof KernelError || err instanceof Unreadable)) throw err;
      if (!(await stillThere(host, ref))) return { gone: { ...label, reason: 'its processes exited before it was read' } };
      return { unchecked: { ...label, reason: err.message } };
    } finally {
      late.signal.removeEventListener('abort', forward);
      stop.abort(); // ends whenAborted's wait; anything still running is of no use now
      // Its tables are garbage now (its verdict keeps figures only, PoolFigures).
      host.reclaim?.();
      done++;
      progress();
    }
  };
  // The busiest first: where ports run out, and what is read when time runs short.
  const load = await Promise.all(refs.map((ref) => socketsIn(host, ref)));
  const order = refs.map((_, i) => i).sort((a, b) => load[b] - load[a] || a - b);
  try {
    const outcomes = await pool(refs.map((ref, i) => [ref, names[i]] as const), order, NAMESPACE_POOL, ([ref, name]) => one(ref, name));
    return {
      checked: outcomes.flatMap((o) => ('checked' in o ? [o.checked] : [])),
      unchecked: outcomes.flatMap((o) => ('unchecked' in o ? [o.unchecked] : [])),
      gone: outcomes.flatMap((o) => ('gone' in o ? [o.gone] : [])),
      root,
    };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', giveUp);
  }
}

/** Rejects once the signal is aborted (a rejection nobody waits for any more is handled by race). */
function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const stop = () => reject(new Error('aborted'));
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

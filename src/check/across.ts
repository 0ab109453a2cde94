/**
 * --namespaces: every namespace's sysctls and socket counts first (cheap), then the
 * pipeline for those whose counts could reach a threshold, and for any whose pool could
 * still be the worst of all (verdict/bound.ts): a listing walks the socket hash all
 * namespaces share, so listing only these keeps the cost with the namespaces at risk.
 * Side by side on as many workers as the machine has CPUs, the most urgent first, inside
 * -t. A namespace that cannot be read in time, or at all, is reported as not checked with
 * the reason; one whose processes all exited meanwhile is gone (nothing is left in it to
 * run out). How that sets the state: verdict/across.ts, decideAcross.
 */
import type { Options } from '../cli/options';
import { KernelError } from '../host/errors';
import { findHelper } from '../host/helpers';
import type { Host } from '../host/host';
import { socketsCounted, type SocketCounts } from '../model/counts';
import type { NamespaceReading } from '../model/reading';
import type { Settings, SourceChoice } from '../model/settings';
import { State } from '../nagios/state';
import { chooseNamespaces, type NamespaceRef } from '../namespaces/discover';
import { entering, NSENTER_PATHS, stoppable } from '../namespaces/enter';
import { namespaceName } from '../namespaces/names';
import { readConntrackStats } from '../sources/conntrack/read';
import { readSocketCounts } from '../sources/counts/sockstat';
import { assumedSettings, readSettings, readSettingsWithSysctl, SYSCTL_PATHS } from '../sources/sysctls/read';
import type { Across, BoundedNamespace, CheckedNamespace, UncheckedNamespace } from '../verdict/across';
import { boundNamespace, couldRankFirst, mayAlert, worstListed, type NamespaceBound } from '../verdict/bound';
import { judgeNamespace, type Judgement } from './namespace';
import { Schedule } from './schedule';

/** Namespaces read at once when the host does not say how many CPUs it has. */
export const NAMESPACE_POOL = 4;
/** The share of -t the namespaces may take; the rest is for the verdict and the output. */
export const NAMESPACE_SHARE = 0.75;
/**
 * The share of -t in which other namespaces' sysctls are read (a program each, as root):
 * past it, the rest are assumed as without root (and said), so that every namespace is
 * still checked, and the listings of those at risk still have time.
 */
export const SETTINGS_SHARE = 0.5;

/** A namespace that cannot be read; the message says why. */
class Unreadable extends Error {}

interface Helpers {
  readonly root: boolean;
  readonly nsenter: { path: string } | { why: string };
  readonly sysctl: { path: string } | { why: string };
}

/**
 * The namespace's own sysctls when we may enter it; otherwise the defaults, and why.
 * @param late why there is no time left to read them (SETTINGS_SHARE), or null
 */
async function settingsOf(host: Host, ref: NamespaceRef, h: Helpers, late: string | null, signal: AbortSignal): Promise<Settings> {
  if (ref.own) return { kernel: await readSettings(host, '/proc'), read: true };
  let why: string;
  if (!h.root) why = 'reading them means entering the namespace, which needs root';
  else if (late !== null) why = late;
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
function readingOf(host: Host, ref: NamespaceRef, h: Helpers, given: { readonly source: SourceChoice; readonly settings: Settings; readonly counts: SocketCounts | null }, signal: AbortSignal): NamespaceReading {
  const { settings, counts } = given;
  const where = socketsOf(host, ref, h, given.source);
  // A read that hangs in the kernel is abandoned at the deadline (stoppable ends it at its
  // next read; nsenter and ss are killed).
  return { host: stoppable(where.host, signal), procRoot: where.procRoot, settings, counts, source: where.choice, ssBudgetMs: Infinity, signal, onStage: () => {}, own: ref.own, root: h.root, programsInside: where.entered === true };
}

/** Is it still the namespace we found (a process of it alive, its pid not reused)? */
async function stillThere(host: Host, ref: NamespaceRef): Promise<boolean> {
  if (ref.own) return true;
  const inode = async (path: string) => (await host.stat?.(path).catch(() => undefined))?.inode;
  // The door we entered by and the tables we read, if any.
  if (ref.door !== null && (await inode(ref.door)) !== ref.inode) return false;
  return ref.procRoot === null || (await inode(`${ref.procRoot}/net/tcp`)) === ref.tables;
}

/**
 * How many conntrack entries a namespace holds (its stat file: no walk of the table); 0
 * when it has no conntrack at all, Infinity when that cannot be told.
 */
async function conntrackEntries(host: Host, procRoot: string): Promise<number> {
  try {
    return (await readConntrackStats(host, procRoot))?.entries ?? 0;
  } catch (err) {
    if (err instanceof KernelError) return Infinity;
    throw err;
  }
}

/** What its counts say, with the settings it is judged with; null without counts. */
function boundOf(counts: SocketCounts | null, settings: Settings, options: Options): NamespaceBound | null {
  if (counts === null) return null;
  return boundNamespace({ counts, range: settings.kernel.range, reserved: settings.kernel.reserved }, options);
}

type Outcome = { checked: CheckedNamespace } | { unchecked: UncheckedNamespace } | { gone: UncheckedNamespace } | { bounded: BoundedNamespace };

/** What is known of a namespace between its counts and its listing. */
interface Counted {
  readonly settings: Settings;
  readonly bound: NamespaceBound | null;
}

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
  const settingsBudgetMs = options.timeoutSeconds * 1000 * SETTINGS_SHARE;
  const started = Date.now();
  const settingsLate = () => (Date.now() - started < settingsBudgetMs ? null : `not read within ${seconds(settingsBudgetMs)} (-t ${options.timeoutSeconds}), with ${refs.length} namespaces to read`);
  const late = new AbortController();
  const timer = setTimeout(() => late.abort(), budgetMs);
  const giveUp = () => late.abort();
  signal.addEventListener('abort', giveUp, { once: true });
  const outcomes: (Outcome | undefined)[] = new Array(refs.length);
  const counted: (Counted | undefined)[] = new Array(refs.length);
  const listing = new Set<number>();
  let done = 0;
  const progress = () => onStage(`reading ${refs.length} network namespaces: ${done} counted, ${listing.size} to list`);
  progress();

  /**
   * One step of one namespace (its counts, or its listing), with a signal of its own:
   * listeners come and go with it, not pile up on the shared one. Its outcome, if it has one
   * (counts that call for a listing have none yet); when it fails, `known` if the namespace
   * is known by its counts already (OK by them), else not checked.
   */
  const step = async (i: number, known: Outcome | undefined, work: (stop: AbortSignal) => Promise<Outcome | undefined>): Promise<void> => {
    const label = { inode: refs[i].inode, name: names[i] };
    if (late.signal.aborted) {
      outcomes[i] = known ?? { unchecked: { ...label, reason: `not started within ${seconds(budgetMs)} (-t ${options.timeoutSeconds})` } };
      return;
    }
    const stop = new AbortController();
    const forward = () => stop.abort();
    late.signal.addEventListener('abort', forward, { once: true });
    try {
      const outcome = await Promise.race([work(stop.signal), whenAborted(stop.signal)]);
      if (outcome !== undefined) outcomes[i] = outcome;
    } catch (err) {
      if (signal.aborted) throw err;
      if (!late.signal.aborted && !(err instanceof KernelError || err instanceof Unreadable)) throw err;
      if (known !== undefined) outcomes[i] = known;
      else if (late.signal.aborted) outcomes[i] = { unchecked: { ...label, reason: `not read within ${seconds(budgetMs)} (-t ${options.timeoutSeconds})` } };
      else if (!(await stillThere(host, refs[i]))) outcomes[i] = { gone: { ...label, reason: 'its processes exited before it was read' } };
      else outcomes[i] = { unchecked: { ...label, reason: (err as Error).message } };
    } finally {
      late.signal.removeEventListener('abort', forward);
      stop.abort(); // ends whenAborted's wait; anything still running is of no use now
    }
  };

  const schedule = new Schedule(host.parallelism ?? NAMESPACE_POOL);
  // The check's own namespace first, whatever the others hold; then by what their counts
  // say: the worst state they could reach, then the fewest ports they could have left.
  const list = (i: number) => {
    listing.add(i);
    const bound = counted[i]?.bound ?? null;
    // Listed only to find the worst pool: if that fails, it is still OK by its counts.
    const known = outcomes[i] !== undefined && 'bounded' in outcomes[i]! ? outcomes[i] : undefined;
    schedule.add([0, refs[i].own ? 0 : 1, -(bound?.state ?? State.CRITICAL), bound?.leastRemaining ?? 0, i], () =>
      step(i, known, async (stop) => {
        const ref = refs[i];
        const reading = readingOf(host, ref, h, { source: options.source, settings: counted[i]!.settings, counts: counts[i] }, stop);
        try {
          const judged: Judgement = await judgeNamespace(reading, options);
          if (!(await stillThere(host, ref))) return { gone: { inode: ref.inode, name: names[i], reason: 'its processes exited while it was read' } };
          return { checked: { inode: ref.inode, name: names[i], verdict: judged.verdict, settings: judged.settings, settingsRead: reading.settings.read, source: judged.source, procRoot: ref.procRoot, pids: ref.pids, bound } };
        } finally {
          // Its tables are garbage now (its verdict keeps figures only, PoolFigures).
          host.reclaim?.();
        }
      }),
    );
  };
  // Every namespace's counts first: a file each, no program. A namespace with more sockets
  // can reach a threshold with a wider range, so its sysctls are read first.
  onStage('reading the socket counts of the network namespaces');
  const counts = await Promise.all(refs.map((ref) => (ref.procRoot === null ? null : readSocketCounts(host, ref.procRoot))));
  // With --nat, socket counts say nothing of a namespace's NAT pools: one whose conntrack
  // table holds an entry (its own count, read by anyone) is listed whatever its sockets.
  const nat = options.nat ? await Promise.all(refs.map((ref) => (ref.procRoot === null ? 0 : conntrackEntries(host, ref.procRoot)))) : null;
  const mayNat = (i: number) => nat !== null && nat[i] > 0;
  const size = (i: number) => (counts[i] === null ? Infinity : socketsCounted(counts[i]!, { tcp: true, udp: true }));
  let anyMayAlert = false;
  refs.forEach((ref, i) =>
    schedule.add([1, ref.own ? 0 : 1, -size(i), i], () =>
      step(i, undefined, async (stop) => {
        const settings = await settingsOf(host, ref, h, settingsLate(), stop);
        const bound = boundOf(counts[i], settings, options);
        counted[i] = { settings, bound };
        done++;
        progress();
        if (mayAlert(bound)) anyMayAlert = true;
        if (bound !== null && options.walk === 'at-risk' && !mayAlert(bound) && !mayNat(i)) return { bounded: { inode: ref.inode, name: names[i], bound, settings: settings.kernel, settingsRead: settings.read } };
        list(i);
        return undefined;
      }),
    ),
  );
  try {
    await schedule.idle();
    // When a namespace could alert, the answer must be a walk of all's: list each namespace
    // whose pool could still rank first, until the worst listed is beyond every bound left.
    for (;;) {
      if (!anyMayAlert || late.signal.aborted) break;
      const verdicts = outcomes.flatMap((o) => (o !== undefined && 'checked' in o ? [o.checked.verdict] : []));
      const worst = worstListed(verdicts);
      const more = refs.map((_, i) => i).filter((i) => !listing.has(i) && counted[i]?.bound != null && couldRankFirst(counted[i]!.bound!, worst));
      if (more.length === 0) break;
      more.forEach(list);
      await schedule.idle();
    }
    const all = outcomes.filter((o): o is Outcome => o !== undefined);
    return {
      checked: all.flatMap((o) => ('checked' in o ? [o.checked] : [])),
      unchecked: all.flatMap((o) => ('unchecked' in o ? [o.unchecked] : [])),
      gone: all.flatMap((o) => ('gone' in o ? [o.gone] : [])),
      bounded: all.flatMap((o) => ('bounded' in o ? [o.bounded] : [])),
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

/**
 * run(argv, host) → { exitCode, stdout }: the whole check as one testable function.
 * kernel (sysctls, socket tables) → pools → verdict → text, JSON or Prometheus. Every
 * failure comes back as an UNKNOWN result naming its cause, in the format asked for; the
 * caller only writes and exits.
 */
import { version } from '../package.json';
import { helpText, parseCommandLine, requestedFormat, usageText, UsageError, type Format, type Options } from './cli/options';
import { KernelError } from './host/errors';
import type { Host } from './host/host';
import { readSettings } from './sources/sysctls/read';
import { State } from './nagios/state';
import type { Failure } from './output/failure';
import { renderJson, renderJsonAcross, renderJsonFailure } from './output/json';
import { renderText, renderTextAcross, renderTextFailure } from './output/nagios';
import { renderPrometheus, renderPrometheusAcross, renderPrometheusFailure } from './output/prometheus';
import { checkNamespaces } from './check/across';
import { discoverNamespaces } from './namespaces/discover';
import { lookUpOwners, ownersWanted, type PoolOwners } from './owners/owners';
import type { Pool } from './pools/pool';
import { checkFailures } from './check/failures';
import { judgeNamespace } from './check/namespace';
import { withFailures, type FailuresJudged } from './verdict/failures';
import { decideAcross } from './verdict/across';

export interface RunResult {
  readonly exitCode: State;
  readonly stdout: string;
}

export { version };

/**
 * An exception nobody expected, as an operator can report it: its type and where it was
 * thrown. Never its message: that may hold bytes of what was being read.
 */
export function internalError(err: unknown): string {
  if (!(err instanceof Error)) return `internal error: a thrown ${typeof err}`;
  const frame = /^\s*at (?:.*\()?(?:.*\/)?([^/()\s]+:\d+:\d+)\)?$/m.exec(err.stack ?? '');
  return `internal error: ${err.name}${frame ? ` at ${frame[1]}` : ''}`;
}

/** Each format's rendering of a verdict, and of everything else (failure.ts): chosen here. */
const RENDERERS = {
  nagios: { verdict: renderText, across: renderTextAcross, failure: renderTextFailure },
  json: { verdict: renderJson, across: renderJsonAcross, failure: renderJsonFailure },
  prometheus: { verdict: renderPrometheus, across: renderPrometheusAcross, failure: renderPrometheusFailure },
} satisfies Record<Format, unknown>;

/** A failure in `format`: the entry point's catch-all uses it too. */
export function renderFailure(format: Format, failure: Failure): string {
  return RENDERERS[format].failure(failure);
}

/** Under --source auto, the share of -t that ss may take before /proc answers instead. */
const SS_SHARE = 0.5;

/** How long an abandoned run may take to reap the programs it killed. */
const REAP_GRACE_MS = 250;

/** The share of -t by which the owner lookup stops: the output still has to be written. */
const OWNERS_SHARE = 0.9;

/** @param signal aborted when the run ends early (timeout, stop): kills any child. */
async function check(options: Options, host: Host, onStage: (stage: string) => void, signal: AbortSignal): Promise<RunResult> {
  const deadline = Date.now() + options.timeoutSeconds * 1000 * OWNERS_SHARE;
  if (options.namespaces !== null) return checkAcross(options, host, onStage, signal, deadline);
  const { procRoot } = options;
  onStage(`reading ${procRoot}/sys/net/ipv4`);
  const kernel = await readSettings(host, procRoot);
  const ssBudgetMs = options.timeoutSeconds * 1000 * SS_SHARE;
  const reading = { host, procRoot, settings: { kernel, read: true }, source: options.source, ssBudgetMs, signal, onStage, own: true, root: host.euid === 0 };
  const judgement = await judgeNamespace(reading, options);
  const failures = await failuresOnce(options, host, onStage, signal);
  const { settings, source } = judgement;
  const verdict = withFailures(judgement.verdict, failures, options.failures.thresholds);
  // Owners only on the live kernel: a copy given with --proc has no processes.
  const wanted = procRoot === '/proc' && host.listDir !== undefined ? ownersWanted(listed(verdict.judged, options.top), options.owners || options.verbose > 0) : [];
  let owners = new Map<Pool, PoolOwners>();
  if (wanted.length > 0) {
    onStage('looking for the processes that hold the sockets');
    const own = (await discoverNamespaces(host).catch(() => [])).find((ref) => ref.own);
    owners = await lookUpOwners(host, [{ procRoot, pids: own?.pids ?? [], pools: wanted }], deadline);
  }
  const output = { top: options.top, verbose: options.verbose, settings, source, owners, failures };
  const stdout = RENDERERS[options.format].verdict(verdict, output);
  return { exitCode: verdict.state, stdout };
}

/**
 * The failed connect()s (--failures): host-wide, so read once per run, namespaces or not.
 * Read after the sockets: a drain consumes the events, so nothing that may still fail (a
 * socket source, -t) should come between it and the output.
 */
async function failuresOnce(options: Options, host: Host, onStage: (stage: string) => void, signal: AbortSignal): Promise<FailuresJudged | null> {
  if (options.failures.mode !== null) onStage('reading the trace instance of failed connect()s');
  return checkFailures(host, options.failures, signal);
}

/** --namespaces: each namespace judged on its own, then one verdict over all of them. */
async function checkAcross(options: Options, host: Host, onStage: (stage: string) => void, signal: AbortSignal, deadline: number): Promise<RunResult> {
  const across = await checkNamespaces(options, host, onStage, signal);
  const failures = await failuresOnce(options, host, onStage, signal);
  const limit = options.top === 0 ? Infinity : options.top;
  const verdict = withFailures(decideAcross(across, options.thresholds, limit, options.tuplePerfdata ? limit : 0), failures, options.failures.thresholds);
  const every = options.owners || options.verbose > 0;
  const shown = listed(verdict.judged, options.top);
  const searches = across.checked.map((ns, at) => ({ procRoot: ns.procRoot, pids: ns.pids, pools: ownersWanted(shown.filter((j) => j.at === at), every) }));
  if (searches.some((s) => s.pools.length > 0)) onStage('looking for the processes that hold the sockets');
  const owners = await lookUpOwners(host, searches, deadline);
  const output = { top: options.top, verbose: options.verbose, owners, failures };
  const stdout = RENDERERS[options.format].across(verdict, output);
  return { exitCode: verdict.state, stdout };
}

function listed<T>(judged: readonly T[], top: number): readonly T[] {
  return top === 0 ? judged : judged.slice(0, top);
}

/**
 * @param stop aborted by the entry point on SIGTERM (Icinga's deadline) and the like.
 */
export async function run(argv: readonly string[], host: Host, stop?: AbortSignal): Promise<RunResult> {
  const format = requestedFormat(argv);
  const fail = (failure: Failure): RunResult => ({ exitCode: State.UNKNOWN, stdout: renderFailure(format, failure) });
  let options: Options;
  try {
    options = parseCommandLine(argv);
  } catch (err) {
    if (err instanceof UsageError) return fail({ kind: 'usage', message: err.message, usage: usageText() });
    throw err;
  }
  if (options.help) return fail({ kind: 'help', version, help: helpText(version) });
  if (options.version) return fail({ kind: 'version', version });

  const unknown = (message: string): RunResult => fail({ kind: 'unknown', message });
  // A privileged run touches only the live kernel: a copy could be anyone's file.
  if (options.procGiven && host.elevated !== null) {
    return unknown(`--proc refused: this run has more privileges than its caller (${host.elevated}); a captured copy needs none, run it without sudo`);
  }
  let stage = 'starting';
  let timer: NodeJS.Timeout | undefined;
  let onStop: (() => void) | undefined;
  const abandon = new AbortController();
  const work = check(options, host, (s) => (stage = s), abandon.signal).catch((err: unknown) => {
    if (err instanceof KernelError) return unknown(err.message);
    return unknown(`${internalError(err)} while ${stage}`);
  });
  const timedOut = new Promise<RunResult>((resolve) => {
    timer = setTimeout(() => resolve(unknown(`timed out after ${options.timeoutSeconds} s while ${stage}`)), options.timeoutSeconds * 1000);
  });
  const stopped = new Promise<RunResult>((resolve) => {
    onStop = () => resolve(unknown(`stopped by ${String(stop?.reason ?? 'a signal')} while ${stage}`));
    if (stop?.aborted) onStop();
    else stop?.addEventListener('abort', onStop, { once: true });
  });
  const result = await Promise.race([work, timedOut, stopped]);
  clearTimeout(timer);
  if (onStop) stop?.removeEventListener('abort', onStop);
  // Whatever still runs (a timed-out ss) is of no use now: kill it, and give it a moment to
  // be reaped by us rather than left to init as a zombie.
  abandon.abort();
  await Promise.race([work, new Promise((resolve) => setTimeout(resolve, REAP_GRACE_MS).unref())]);
  return result;
}

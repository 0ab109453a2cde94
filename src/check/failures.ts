/**
 * --failures, once per run: the trace instance is host-wide (its events carry no
 * namespace), so it is drained once, with or without --namespaces, and judged.
 */
import type { Options } from '../cli/options';
import { countFailures, type Failures } from '../failures/failures';
import type { Host } from '../host/host';
import { drainFailureTrace, removeFailureTrace, type NotCounted } from '../sources/trace/instance';
import { judgeFailures, type FailuresJudged } from '../verdict/failures';

export async function checkFailures(host: Host, failures: Options['failures'], signal: AbortSignal): Promise<FailuresJudged | null> {
  if (failures.mode === null) return null;
  return judgeFailures(await readFailures(host, failures.mode, signal), failures.thresholds);
}

async function readFailures(host: Host, mode: 'count' | 'off', signal: AbortSignal): Promise<Failures | NotCounted> {
  const door = host.traceDoor?.();
  if (door === undefined) return { counted: false, reason: 'this host has no door to tracefs' };
  if (mode === 'off') return removeFailureTrace(door);
  const drained = await drainFailureTrace(door, signal);
  return drained.counted ? countFailures(drained) : drained;
}

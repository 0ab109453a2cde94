/**
 * --failures, once per run: the trace instance is host-wide (its events carry no
 * namespace), so it is drained once, with or without --namespaces, and judged.
 */
import type { Options } from '../cli/options';
import { countFailures } from '../failures/failures';
import type { Host } from '../host/host';
import { drainFailureTrace, removeFailureTrace } from '../sources/trace/instance';
import { judgeFailures, type FailuresJudged } from '../verdict/failures';

export async function checkFailures(host: Host, failures: Options['failures'], signal: AbortSignal): Promise<FailuresJudged | null> {
  if (failures.mode === null) return null;
  const door = host.traceDoor?.();
  if (door === undefined) return judgeFailures({ counted: false, reason: 'this host has no door to tracefs' }, failures.thresholds);
  if (failures.mode === 'off') return judgeFailures(removeFailureTrace(door), failures.thresholds);
  const drained = await drainFailureTrace(door, signal);
  return judgeFailures(drained.counted ? countFailures(drained) : drained, failures.thresholds);
}

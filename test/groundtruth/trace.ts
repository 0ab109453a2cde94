/**
 * Plumbing for the tests of --failures: tracefs mounted (tests may mount it; the check
 * never does), and failures.py run in a fresh private namespace. The tracepoint is
 * host-wide and other processes of the machine connect at the same time, so every scenario
 * uses addresses and ports of its own (127.27.x.y, fd27::/64, ports 27xxx) and the tests
 * count only those tuples.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tracefsMountPoint } from '../../src/sources/trace/instance';
import { commandMissing, namespacesUnavailable, ROOT, runInFreshNamespace } from '../helpers';

const SCRIPT = join(ROOT, 'test', 'groundtruth', 'failures.py');
export const TRACEFS = '/sys/kernel/tracing';

/** Why the trace tests cannot run here, or false. */
export function traceUnavailable(): string | false {
  const missing = namespacesUnavailable() || commandMissing('python3', 'ip');
  if (missing) return missing;
  if (!/\ttracefs$/m.test(readFileSync('/proc/filesystems', 'latin1'))) return 'this kernel has no tracefs';
  return false;
}

/** Mounts tracefs at its usual place when it is not mounted anywhere. */
export function ensureTracefs(): void {
  if (tracefsMountPoint(readFileSync('/proc/self/mounts', 'latin1')) !== undefined) return;
  const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tracefs: ${r.stderr}`);
  if (!existsSync(`${TRACEFS}/events/sock/inet_sock_set_state`)) throw new Error('no sock:inet_sock_set_state tracepoint');
}

export type Scenario = { op: 'fail' | 'refused' | 'timeout' | 'closedInSyn'; local: string; remote: string; port: number; n: number; mapped?: boolean };

export interface Outcome {
  op: string;
  /** connect()s that failed with EADDRNOTAVAIL. */
  failed: number;
  other: Record<string, number>;
}

/** Runs the steps in a fresh namespace (range 40000-40003): what each connect() got. */
export async function runFailures(steps: Scenario[], range: [number, number] = [40000, 40003]): Promise<Outcome[]> {
  return (await runInFreshNamespace<{ results: Outcome[] }>(SCRIPT, { range, steps })).results;
}

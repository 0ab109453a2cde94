/**
 * What both benchmarks (bench.ts, namespaces.ts) time with: one command measured by
 * measure.py (wall time, CPU time, page faults and peak RSS of it and the children it
 * waited for), and the median of the runs.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const MEASURE = join(__dirname, 'measure.py');

export interface Sample {
  wallMs: number;
  /** User + system time, the command's children included. */
  cpuMs: number;
  /** The same, apart: user space, and the kernel (where a walk of the socket hash goes). */
  userMs: number;
  kernelMs: number;
  maxRssKiB: number;
  /** Minor page faults, the command's children included. */
  minorFaults: number;
  exit: number;
  rssFrom: string;
}

export interface Command {
  readonly name: string;
  readonly argv: readonly string[];
}

export function measure(argv: readonly string[]): Sample {
  const r = spawnSync('python3', [MEASURE, '--', ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`measure ${argv.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Sample;
}

export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

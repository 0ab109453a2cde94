/**
 * Shared test plumbing. Tests that need root, unshare or a daemon skip on a developer's
 * laptop, but under CI=true a skip would hide a hole: there the test runs and fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..');
export const BUNDLE = join(ROOT, 'dist', 'check_ephemeral_ports');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

/** The reason a test cannot run here, or false; never a reason under CI=true. */
export function skipUnless(reason: string | false): string | false {
  if (reason === false) return false;
  return process.env.CI === 'true' ? false : reason;
}

export function namespacesUnavailable(): string | false {
  if (process.getuid?.() !== 0) return 'needs root for a private network namespace';
  const probe = spawnSync('unshare', ['-n', 'true']);
  return probe.status === 0 ? false : 'unshare -n does not work here';
}

export function bundleMissing(): string | false {
  return existsSync(BUNDLE) ? false : 'dist/check_ephemeral_ports is not built';
}

export interface BundleRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the committed bundle as a monitoring system would: argv only, no shell, no stdin. */
export function runBundle(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): BundleRun {
  const r = spawnSync(BUNDLE, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Shared test plumbing. Tests that need root, unshare or a daemon skip on a developer's
 * laptop, but under CI=true a skip would hide a hole: there the test runs and fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..');
export const BUNDLE = join(ROOT, 'dist', 'check_ephemeral_ports');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
/**
 * A command line that runs the bundle in a private network namespace holding enough
 * sockets that --source auto starts ss (sockets.ts, PROC_BELOW): for tests of what auto
 * does with ss. Run it under `unshare -n` (with -m too, to plant a fake ss).
 */
export const BUSY_BUNDLE = `python3 ${join(ROOT, 'test', 'busy-netns.py')} 5100 ${BUNDLE}`;

/** The reason a test cannot run here, or false; never a reason under CI=true. */
export function skipUnless(reason: string | false): string | false {
  if (reason === false) return false;
  return process.env.CI === 'true' ? false : reason;
}

/** The first of these programs that is not on PATH, as a skip reason; false when all are. */
export function commandMissing(...commands: string[]): string | false {
  for (const c of commands) {
    if (spawnSync('sh', ['-c', `command -v "$0"`, c]).status !== 0) return `${c} is not installed (not on PATH)`;
  }
  return false;
}

/**
 * Why real sockets cannot be built here: root and a private network namespace, Python 3
 * (sockets.py), ip (to bring lo up) and ss (the check's default source), or the bundle.
 */
export function groundTruthUnavailable(): string | false {
  return namespacesUnavailable() || commandMissing('python3', 'ip', 'ss', 'nsenter') || bundleMissing();
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

/**
 * A python3 script run in a fresh network namespace of its own (`unshare -n`): `input` as
 * JSON on its stdin, its JSON stdout parsed; a failure carries its stderr.
 * @param fresh.pids a PID and mount namespace of its own too, with its own /proc (its
 *   processes are the only ones there), for scripts that make namespaces of their own
 */
export function runInFreshNamespace<T>(script: string, input: unknown, fresh: { readonly pids?: boolean; readonly timeoutMs?: number } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const unshare = fresh.pids === true ? ['--net', '--pid', '--mount', '--fork', '--mount-proc'] : ['-n'];
    const child = spawn('unshare', [...unshare, 'python3', script], { stdio: ['pipe', 'pipe', 'pipe'], timeout: fresh.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`${script} failed (${code ?? signal}):\n${stderr}`));
      resolve(JSON.parse(stdout) as T);
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/** runBundle without blocking the test's event loop (for runs side by side). */
export function runBundleAsync(args: readonly string[]): Promise<BundleRun> {
  return new Promise((resolve) => {
    const child = spawn(BUNDLE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * A fresh directory every user may enter, under /tmp (TMPDIR may point somewhere private).
 * Daemons and `runuser` drop to nagios or nobody, who may not reach this clone at all (a
 * clone under /root, or in a 0700 directory).
 */
export function sharedTempDir(prefix: string): string {
  const dir = mkdtempSync(join('/tmp', `${prefix}-`));
  chmodSync(dir, 0o755);
  return dir;
}

export interface Staged {
  readonly dir: string;
  /** The committed bundle, copied. */
  readonly bundle: string;
  /** A copy of test/fixtures/NAME (one of those staged). */
  fixture(name: string): string;
  remove(): void;
}

/** What a test running the bundle as another user needs, where that user can read it. */
export function stageForOtherUser(prefix: string, fixtures: readonly string[] = []): Staged {
  const dir = sharedTempDir(prefix);
  const bundle = join(dir, 'check_ephemeral_ports');
  copyFileSync(BUNDLE, bundle);
  chmodSync(bundle, 0o755);
  for (const name of fixtures) cpSync(join(FIXTURES, name), join(dir, 'fixtures', name), { recursive: true });
  if (fixtures.length > 0) chmodSync(join(dir, 'fixtures'), 0o755);
  return {
    dir,
    bundle,
    fixture: (name) => {
      if (!fixtures.includes(name)) throw new Error(`fixture ${name} was not staged`);
      return join(dir, 'fixtures', name);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

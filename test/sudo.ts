/**
 * A throwaway unprivileged user, with sudo rules of its own, for the tests that run the
 * check through a real sudo (Debian's package) as a monitoring user would. The name is
 * unique to this test process; the user, its sudoers file and the staging directory are
 * removed again by remove(). Everything the user must read is staged under /tmp in
 * directories it may enter (the repository may sit in a directory only root can).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, bundleMissing } from './helpers';

export const SUDO = '/usr/bin/sudo';
const SUDOERS_DIR = '/etc/sudoers.d';

export function sudoUnavailable(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to create a user and sudo rules';
  if (!existsSync(SUDO)) return 'sudo is not installed';
  if (!existsSync(SUDOERS_DIR)) return `${SUDOERS_DIR} does not exist`;
  for (const tool of ['useradd', 'userdel', 'runuser', 'visudo']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return bundleMissing();
}

export interface UserRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class SudoUser {
  readonly name: string;
  /** Root's, mode 0755: staged files the user may read. */
  readonly stage: string;
  readonly uid: number;
  readonly gid: number;
  private readonly sudoers: string;

  constructor(tag: string) {
    // Names unique to this process: users and sudo rules are machine-wide.
    this.name = `cep_${tag}_${process.pid}`;
    this.sudoers = join(SUDOERS_DIR, this.name);
    this.stage = mkdtempSync(`/tmp/cep-${tag}-`);
    chmodSync(this.stage, 0o755);
    const r = spawnSync('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--user-group', this.name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`useradd ${this.name}: ${r.stderr}`);
    this.uid = Number(spawnSync('id', ['-u', this.name], { encoding: 'utf8' }).stdout.trim());
    this.gid = Number(spawnSync('id', ['-g', this.name], { encoding: 'utf8' }).stdout.trim());
  }

  /** A copy of the bundle at STAGE/relative, root's and 0755, directories included. */
  stagePlugin(relative: string): string {
    const path = join(this.stage, relative);
    spawnSync('install', ['-d', '-m', '0755', join(path, '..')]);
    copyFileSync(BUNDLE, path);
    chmodSync(path, 0o755);
    return path;
  }

  /** Installs these sudoers lines as the user's own rules file; visudo must accept them. */
  allow(lines: string): void {
    // @includedir skips names with a `.`: write it aside, check it, then rename it in.
    const candidate = `${this.sudoers}.new`;
    writeFileSync(candidate, lines, { mode: 0o440 });
    const check = spawnSync('visudo', ['-cf', candidate], { encoding: 'utf8' });
    if (check.status !== 0) {
      rmSync(candidate, { force: true });
      throw new Error(`visudo refused the rules: ${check.stdout}${check.stderr}\n${lines}`);
    }
    spawnSync('mv', ['-f', candidate, this.sudoers]);
  }

  /** Runs argv as the user, with only the environment given (and a plain PATH unless set). */
  run(argv: readonly string[], env: Record<string, string> = {}): UserRun {
    const vars = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/nonexistent', LC_ALL: 'C', ...env };
    const r = spawnSync('runuser', ['-u', this.name, '--', 'env', '-i', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), ...argv], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  remove(): void {
    rmSync(this.sudoers, { force: true });
    // A sudo that has just ended may still hold the user for a moment.
    for (let i = 0; i < 50 && spawnSync('userdel', [this.name]).status === 8; i++) spawnSync('sleep', ['0.1']);
    rmSync(this.stage, { recursive: true, force: true });
  }
}

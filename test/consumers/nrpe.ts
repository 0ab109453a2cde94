/**
 * Real NRPE daemons for the consumer tests (nrpe.test.ts, nagios.test.ts): a private config
 * on 127.0.0.1 and a free port (never the system one), icinga/nrpe.cfg as the included
 * snippet, asked by Debian's check_nrpe; and Debian's NRPE built with command arguments.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT, bundleMissing } from '../helpers';
import { Daemon, waitFor } from './support';

export const NRPE = '/usr/sbin/nrpe';
export const CHECK_NRPE = '/usr/lib/nagios/plugins/check_nrpe';
export const SHIPPED_PATH = '/usr/lib/nagios/plugins/check_ephemeral_ports';
export const SNIPPET = join(ROOT, 'icinga', 'nrpe.cfg');

export function nrpePrerequisites(): string | false {
  if (process.getuid?.() !== 0) return 'needs root: NRPE drops to its nrpe_user';
  if (!existsSync(NRPE)) return 'nagios-nrpe-server is not installed';
  if (!existsSync(CHECK_NRPE)) return 'nagios-nrpe-plugin is not installed';
  return bundleMissing();
}

/** The unprivileged user NRPE runs plugins as: nagios where the packages made it. */
export function nrpeUser(): { user: string; group: string } {
  for (const user of ['nagios', 'nobody']) {
    const group = spawnSync('id', ['-gn', user], { encoding: 'utf8' });
    if (group.status === 0) return { user, group: group.stdout.trim() };
  }
  throw new Error('neither nagios nor nobody exists');
}

/**
 * A free port just below the ephemeral range, so that the daemons' listeners do not change
 * what the check reports between a run through NRPE and a direct run.
 */
export async function freePort(): Promise<number> {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  for (let port = low - 1; port >= Math.max(1024, low - 2000); port--) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port below ${low}`);
}

export interface Run { status: number | null; stdout: string }

export class Nrpe {
  daemon?: Daemon;
  readonly log: string;
  readonly config: string;

  /** settings.runAs: the nrpe_user, when not nrpeUser(). */
  constructor(readonly dir: string, readonly name: string, readonly binary: string, readonly port: number, readonly ssl: boolean, settings: { dontBlame: boolean; snippet: string; runAs?: { user: string; group: string } }) {
    const { user, group } = settings.runAs ?? nrpeUser();
    this.log = join(dir, `${name}.log`);
    this.config = join(dir, `${name}.cfg`);
    if (settings.snippet === this.config) throw new Error(`${this.config} would include itself`);
    writeFileSync(this.config, [
      `pid_file=${join(dir, `${name}.pid`)}`, `log_file=${this.log}`, 'debug=1', 'disable_syslog=1',
      `server_address=127.0.0.1`, `server_port=${port}`, 'allowed_hosts=127.0.0.1',
      `nrpe_user=${user}`, `nrpe_group=${group}`, `dont_blame_nrpe=${settings.dontBlame ? 1 : 0}`,
      'allow_bash_command_substitution=0', 'command_timeout=30', 'connection_timeout=30',
      `include=${settings.snippet}`, '',
    ].join('\n'));
  }

  /** The check_nrpe options that reach this daemon (-n: no SSL, for the build without it). */
  get address(): string[] {
    return ['-H', '127.0.0.1', '-p', String(this.port), ...(this.ssl ? [] : ['-n'])];
  }

  check(command: string | undefined, args: string[] = []): Run {
    const argv = [...this.address, ...(command ? ['-c', command] : []), ...(args.length ? ['-a', ...args] : [])];
    const r = spawnSync(CHECK_NRPE, argv, { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, stdout: r.stdout };
  }

  async start(): Promise<void> {
    this.daemon = new Daemon(this.binary, ['-c', this.config, '-f']);
    await waitFor(`${this.name} on port ${this.port}`, 15_000, () => {
      if (!this.daemon!.running) throw new Error(`${this.name} exited: ${this.daemon!.output}`);
      return this.check(undefined).status === 0 ? true : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.daemon!.output}${this.logText()}`);
    });
  }

  logText(): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8') : '';
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
  }
}

/** The shipped snippet with the plugin where this test put it, the $ARG1$ line optionally enabled. */
export function snippetFor(plugin: string, extra: string[], enableArgs: boolean): string {
  let text = readFileSync(SNIPPET, 'utf8').split(SHIPPED_PATH).join(plugin);
  if (enableArgs) text = text.replace(/^#(command\[check_ephemeral_ports_args\]=)/m, '$1');
  return `${text}\n${extra.join('\n')}\n`;
}

/** A shipped command line, as NRPE will run it (plugin path replaced). */
export function shippedCommand(name: string): string[] {
  const m = new RegExp(`^command\\[${name}\\]=(.*)$`, 'm').exec(readFileSync(SNIPPET, 'utf8'));
  assert.ok(m, `icinga/nrpe.cfg has no command[${name}]`);
  const [path, ...args] = m[1].split(' ');
  assert.equal(path, SHIPPED_PATH);
  return args;
}

/** Debian's NRPE source built with --enable-command-args (and without SSL) into dir; returns the binary. */
export function buildNrpeWithArgs(dir: string): string {
  const build = spawnSync('bash', [join(ROOT, 'scripts', 'nrpe-with-command-args.sh'), dir], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(build.status, 0, `${build.stdout}${build.stderr}`);
  return join(dir, 'nrpe');
}

export const stateWord = (line: string) => /^EPHEMERAL PORTS (OK|WARNING|CRITICAL|UNKNOWN) - /.exec(line)?.[1];

/**
 * Plumbing shared by the consumer tests (Icinga 2, Nagios, NRPE, Sensu Go, Debian's Node): a
 * frozen /proc tree whose verdict is known in advance, a Nagios output splitter, bounded
 * polling, external command pipes, and temp dirs and child processes that are cleaned up
 * whatever happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { sharedTempDir } from '../helpers';

export { commandMissing } from '../helpers';

/** A temp dir that other users may enter (daemons drop to nagios), removed by removeDir(). */
export function scratchDir(prefix: string): string {
  return sharedTempDir(prefix);
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');

/** An IPv4 address as /proc/net/tcp prints it on a little-endian host: the u32 in memory order. */
function procAddress(ip: string): string {
  return ip.split('.').map((o) => hex(Number(o), 2)).reverse().join('');
}

export interface ProcTreeSpec {
  readonly range: readonly [number, number];
  /** ESTABLISHED TCP clients from 127.0.0.1 to this address and port, one local port each from range[0] up. */
  readonly remote: string;
  readonly remotePort: number;
  readonly clients: number;
  /**
   * More destinations (default 1): tuple i > 0 goes to remotePort + i with 1 + (7i mod
   * clients) clients: none uses more than the first.
   */
  readonly tuples?: number;
  /** TIME_WAIT sockets of the first tuple after its clients, 30 s old: churn. */
  readonly timeWaits?: number;
  /** net.ipv4.tcp_tw_reuse (default 2: these loopback TIME_WAITs would be reusable). */
  readonly twReuse?: number;
}

/**
 * Writes a /proc copy for --proc DIR: the same layout as the kernel's (net/tcp lines are
 * printed with get_tcp4_sock's format), so its verdict is fixed: with range 40000-40099
 * and 80 clients to one destination, the worst tuple is 80 % used.
 */
export function writeProcTree(dir: string, spec: ProcTreeSpec): string {
  mkdirSync(join(dir, 'net'), { recursive: true });
  mkdirSync(join(dir, 'sys/net/ipv4'), { recursive: true });
  const sys = (name: string, text: string) => writeFileSync(join(dir, 'sys/net/ipv4', name), `${text}\n`);
  sys('ip_local_port_range', `${spec.range[0]}\t${spec.range[1]}`);
  sys('ip_local_reserved_ports', '');
  sys('tcp_tw_reuse', String(spec.twReuse ?? 2));
  sys('tcp_tw_reuse_delay', '1000');
  sys('tcp_timestamps', '1');
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const lines = [header];
  for (let t = 0; t < (spec.tuples ?? 1); t++) {
    const clients = t === 0 ? spec.clients : 1 + ((7 * t) % spec.clients);
    const remote = `${procAddress(spec.remote)}:${hex(spec.remotePort + t, 4)}`;
    for (let i = 0; i < clients; i++) {
      const local = `${procAddress('127.0.0.1')}:${hex(spec.range[0] + i, 4)}`;
      const sl = lines.length - 1;
      lines.push(`${String(sl).padStart(4)}: ${local} ${remote} 01 00000000:00000000 00:00000000 00000000  1000        0 ${70000 + sl} 1 0000000000000000 20 4 30 10 -1`);
    }
  }
  // get_timewait4_sock's format: timer 3, 30 s (3000/100 s) left of 60 s.
  for (let i = spec.clients; i < spec.clients + (spec.timeWaits ?? 0); i++) {
    const local = `${procAddress('127.0.0.1')}:${hex(spec.range[0] + i, 4)}`;
    const remote = `${procAddress(spec.remote)}:${hex(spec.remotePort, 4)}`;
    lines.push(`${String(lines.length - 1).padStart(4)}: ${local} ${remote} 06 00000000:00000000 03:00000BB8 00000000     0        0 0 3 0000000000000000`);
  }
  writeFileSync(join(dir, 'net/tcp'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'net/udp'), '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n');
  return dir;
}

/** The worst tuple 80 % used: WARNING with the defaults (70/90), the same on every host. */
export const POOL_80: ProcTreeSpec = { range: [40000, 40099], remote: '192.0.2.10', remotePort: 5432, clients: 80 };

/** 30 open and 40 TIME_WAIT of 100 ports: 70 % used (OK with the defaults), churn headroom (30 + 40) / 40 = 1.75. */
export const CHURN_175: ProcTreeSpec = { range: [40000, 40099], remote: '192.0.2.10', remotePort: 5432, clients: 30, timeWaits: 40, twReuse: 0 };

/**
 * Perfdata labels that stay the same from run to run on a live host. `worst_churn_headroom`
 * is left out whenever the worst tuple has no TIME_WAIT holding a port (it has no factor),
 * so on a live host it comes and goes with the traffic.
 */
export function stableLabels(perfdata: readonly string[]): string[] {
  return perfdata.map((p) => p.split('=')[0]).filter((label) => label !== 'worst_churn_headroom');
}

export interface NagiosOutput {
  readonly firstLine: string;
  /** The text before the `|`, as Icinga keeps it. */
  readonly text: string;
  /** The perfdata tokens after the `|`. */
  readonly perfdata: string[];
}

export function splitNagiosOutput(stdout: string): NagiosOutput {
  const pipe = stdout.indexOf('|');
  const text = pipe === -1 ? stdout : stdout.slice(0, pipe);
  const perfdata = pipe === -1 ? [] : stdout.slice(pipe + 1).trim().split(' ').filter((t) => t !== '');
  return { firstLine: stdout.split('\n')[0], text, perfdata };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until check() returns a value other than undefined, or throws after timeoutMs. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Writes `[now] COMMAND;args` lines to the external command pipe of Nagios or Icinga 2
 * (e.g. SCHEDULE_FORCED_SVC_CHECK;host;service;now, to check now instead of somewhere in
 * the check interval).
 */
export async function sendExternalCommands(pipe: string, daemon: Daemon, commands: (now: number) => readonly string[], timeoutMs = 30_000): Promise<void> {
  await waitFor(`the command pipe ${pipe}`, timeoutMs, () => {
    if (!daemon.running) throw new Error(`the daemon exited early:\n${daemon.output}`);
    return existsSync(pipe) ? true : undefined;
  });
  const now = Math.floor(Date.now() / 1000);
  // O_NONBLOCK: fail at once instead of hanging if nobody reads the pipe.
  const fd = await waitFor('a reader on the command pipe', timeoutMs, () => {
    try {
      return openSync(pipe, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch {
      return undefined;
    }
  });
  try {
    writeSync(fd, commands(now).map((c) => `[${now}] ${c}\n`).join(''));
  } finally {
    closeSync(fd);
  }
}

/** A daemon in the foreground, its output kept for failure messages, stopped by stop(). */
export class Daemon {
  readonly child: ChildProcess;
  output = '';
  private exited: Promise<number | null>;

  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child.stdout?.on('data', (d: Buffer) => { this.output += d.toString(); });
    this.child.stderr?.on('data', (d: Buffer) => { this.output += d.toString(); });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code) => resolve(code));
      this.child.on('error', () => resolve(null));
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

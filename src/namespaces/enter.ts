/**
 * Reading another network namespace. Its socket tables are open to anyone through
 * /proc/PID/net; its sysctls are not: /proc/sys answers for the reader's own namespace,
 * so they are read by a program run inside it (util-linux nsenter, which needs root for
 * setns). Without root, the kernel defaults of a new namespace are assumed, and said.
 */
import { KernelError } from '../kernel/errors';
import type { ChildProcess, Host, OpenFile } from '../kernel/host';
import { readSettings, type KernelSettings } from '../kernel/proc-source';

/** Fixed paths, never PATH: where distributions install util-linux nsenter and procps sysctl. */
export const NSENTER_PATHS: readonly string[] = ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter', '/sbin/nsenter'];
export const SYSCTL_PATHS: readonly string[] = ['/usr/sbin/sysctl', '/sbin/sysctl', '/usr/bin/sysctl', '/bin/sysctl'];

/** The sysctls readSettings reads, under net.ipv4. */
const SYSCTLS = ['ip_local_port_range', 'ip_local_reserved_ports', 'tcp_tw_reuse', 'tcp_tw_reuse_delay', 'tcp_timestamps'];

/** What a new namespace starts with, whatever its creator's values (docs/namespaces.md). */
export const NEW_NAMESPACE_DEFAULTS: Omit<KernelSettings, 'assumptions'> = {
  range: { low: 32768, high: 60999 },
  reserved: [],
  twReuse: 2,
  twReuseDelayMs: 1000,
  timestamps: 1,
};

export function assumedSettings(why: string): KernelSettings {
  return { ...NEW_NAMESPACE_DEFAULTS, assumptions: [`settings assumed: the kernel defaults of a new namespace (${why})`] };
}

/**
 * The program from its fixed paths through the host's one gate for helper programs (root's
 * alone, or not run at all), or why not: a missing or untrusted program is a reason to
 * assume, not a failure of the check.
 */
export function findHelper(host: Host, paths: readonly string[]): { path: string } | { why: string } {
  if (host.findProgram === undefined || host.spawn === undefined) return { why: 'this host cannot run programs' };
  try {
    return { path: host.findProgram(paths) };
  } catch (err) {
    if (err instanceof KernelError) return { why: err.message };
    throw err;
  }
}

/**
 * The same host, but every program it runs runs inside the namespace at `door`, through
 * nsenter (found by findHelper). The program itself was found by the caller through the
 * same gate (the ss source does), so nsenter only ever runs a trusted path.
 */
export function entering(host: Host, nsenter: string, door: string): Host {
  const spawn = host.spawn;
  if (spawn === undefined) return host;
  return {
    ...host,
    spawn: (file, args, signal) => spawn.call(host, nsenter, [`--net=${door}`, '--', file, ...args], signal),
  };
}

/** The same host, but a file read stops with an error once `signal` is aborted. */
export function stoppable(host: Host, signal: AbortSignal): Host {
  return {
    ...host,
    async open(path) {
      const file = await host.open(path);
      if (file === undefined) return undefined;
      const stopping: OpenFile = {
        read(into, offset, length) {
          if (signal.aborted) throw new KernelError(path, 'stopped');
          return file.read(into, offset, length);
        },
        close: () => file.close(),
      };
      return stopping;
    },
  };
}

/** A program's whole (small) stdout, or a KernelError naming it. */
async function output(child: ChildProcess, what: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let end;
  try {
    end = await child.drain((chunk) => {
      size += chunk.length;
      if (size > 65536) throw new KernelError(what, 'more output than a few sysctls');
      chunks.push(chunk);
    });
  } finally {
    child.kill();
  }
  if (end.code !== 0) throw new KernelError(what, end.code === null ? `killed by ${end.signal}` : `exit status ${end.code}`);
  return Buffer.concat(chunks).toString('latin1');
}

/**
 * The namespace's own sysctls, read by `sysctl` run inside it: `name = value` lines, one
 * per sysctl that exists (-e: an absent one, such as tcp_tw_reuse_delay before 6.14, is
 * left out, and readSettings assumes it as it does for /proc/sys).
 */
export async function readSettingsInside(host: Host, nsenter: string, sysctl: string, door: string, signal: AbortSignal): Promise<KernelSettings> {
  const what = `${sysctl} in ${door}`;
  if (host.spawn === undefined) throw new KernelError(what, 'this host cannot run programs');
  const child = await host.spawn(nsenter, [`--net=${door}`, '--', sysctl, '-e', ...SYSCTLS.map((n) => `net.ipv4.${n}`)], signal);
  if (child === undefined) throw new KernelError(nsenter, 'cannot be run');
  const values = new Map<string, string>();
  for (const line of (await output(child, what)).split('\n')) {
    const m = /^net\.ipv4\.([a-z_]+) = (.*)$/.exec(line);
    if (m && SYSCTLS.includes(m[1])) values.set(`${door}:/proc/sys/net/ipv4/${m[1]}`, m[2].replace(/\t/g, ' '));
  }
  // The same parsing and the same assumptions as for the check's own namespace.
  return readSettings({ littleEndian: host.littleEndian, elevated: host.elevated, readText: async (path) => values.get(path), open: async () => undefined }, `${door}:/proc`);
}

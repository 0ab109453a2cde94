/**
 * A namespace's sysctls that shape its port space: read from its /proc/sys (the check's
 * own namespace, or a --proc copy), or by `sysctl` run inside it (another namespace: its
 * /proc/sys cannot be read from outside, docs/namespaces.md).
 */
import { KernelError } from '../../host/errors';
import type { Host } from '../../host/host';
import { programOutput } from '../../host/helpers';
import type { KernelSettings } from '../../model/settings';
import { parseIntSysctl, parsePortRange, parseReservedPorts } from './sysctl';

/** Fixed paths, never PATH: where distributions install procps sysctl. */
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

export async function readSettings(host: Host, procRoot: string): Promise<KernelSettings> {
  const sys = `${procRoot}/sys/net/ipv4`;
  const assumptions: string[] = [];
  const required = async (name: string): Promise<[string, string]> => {
    const path = `${sys}/${name}`;
    const text = await host.readText(path);
    if (text === undefined) throw new KernelError(path, 'missing');
    return [text, path];
  };
  const optional = async (name: string, min: number, max: number, fallback: number, why: string): Promise<number> => {
    const path = `${sys}/${name}`;
    const text = await host.readText(path);
    if (text !== undefined) return parseIntSysctl(text, path, min, max);
    assumptions.push(`${name} absent: assuming ${fallback} (${why})`);
    return fallback;
  };
  const range = parsePortRange(...(await required('ip_local_port_range')));
  const reservedFile = `${sys}/ip_local_reserved_ports`;
  const reservedText = await host.readText(reservedFile);
  if (reservedText === undefined) assumptions.push('ip_local_reserved_ports absent: assuming none reserved');
  const reserved = parseReservedPorts(reservedText ?? '', reservedFile);
  const twReuse = await optional('tcp_tw_reuse', 0, 2, 2, 'the kernel default');
  const twReuseDelayMs = await optional('tcp_tw_reuse_delay', 1, 2 ** 31 - 1, 1000, 'older kernels reuse after about 1 s');
  const timestamps = await optional('tcp_timestamps', 0, 2, 1, 'the kernel default');
  return { range, reserved, twReuse, twReuseDelayMs, timestamps, assumptions };
}

export interface TableChoice {
  readonly tcp: boolean;
  readonly udp: boolean;
}


/**
 * The sysctls of the namespace `host` runs its programs in (namespaces/enter.ts gives such a
 * host), read by `sysctl` there: `name = value` lines, one per sysctl that exists (-e: an
 * absent one, such as tcp_tw_reuse_delay before 6.14, is left out, and readSettings assumes
 * it as it does for /proc/sys).
 * @param sysctl the program, found through the host's gate (findHelper)
 * @param where names the namespace in messages and in the paths readSettings reports
 */
export async function readSettingsWithSysctl(host: Host, sysctl: string, where: string, signal: AbortSignal): Promise<KernelSettings> {
  const what = `${sysctl} in ${where}`;
  if (host.spawn === undefined) throw new KernelError(what, 'this host cannot run programs');
  const child = await host.spawn(sysctl, ['-e', ...SYSCTLS.map((n) => `net.ipv4.${n}`)], signal);
  if (child === undefined) throw new KernelError(sysctl, 'cannot be run');
  const values = new Map<string, string>();
  for (const line of (await programOutput(child, what)).split('\n')) {
    const m = /^net\.ipv4\.([a-z_]+) = (.*)$/.exec(line);
    if (m && SYSCTLS.includes(m[1])) values.set(`${where}:/proc/sys/net/ipv4/${m[1]}`, m[2].replace(/\t/g, ' '));
  }
  // The same parsing and the same assumptions as for the check's own namespace.
  return readSettings({ littleEndian: host.littleEndian, elevated: host.elevated, readText: async (path) => values.get(path), open: async () => undefined }, `${where}:/proc`);
}

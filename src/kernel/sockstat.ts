/**
 * What a namespace's /proc/net/sockstat and sockstat6 count, without a walk of the socket
 * hash: the kernel keeps these per namespace (sock_prot_inuse_get), and anyone may read
 * them. They tell which socket tables can hold a socket at all, and how big a listing is
 * coming (docs/kernel-model.md, "Reading the kernel").
 */
import type { Host } from './host';
import { KernelError } from './errors';

export interface SocketCounts {
  /** Hashed IPv4 TCP sockets (listeners and connections; not TIME_WAIT, not requests). */
  readonly tcp4: number;
  readonly tcp6: number;
  /** TIME_WAIT sockets of both families (the namespace's death row). */
  readonly timeWait: number;
  readonly udp4: number;
  readonly udp6: number;
}

/** Which socket tables may list a socket: a table whose count is 0 would list nothing. */
export interface TablesPresent {
  readonly tcp4: boolean;
  readonly tcp6: boolean;
  readonly udp4: boolean;
  readonly udp6: boolean;
}

export const ALL_TABLES: TablesPresent = { tcp4: true, tcp6: true, udp4: true, udp6: true };

function field(text: string, line: string, name: string): number | null {
  const found = new RegExp(`^${line}: (?:.* )?${name} (\\d+)`, 'm').exec(text);
  return found === null ? null : Number(found[1]);
}

/** null when the IPv4 file lacks the TCP or UDP line (not a sockstat we know). */
export function parseSockstat(v4: string, v6: string | undefined): SocketCounts | null {
  const tcp4 = field(v4, 'TCP', 'inuse');
  const timeWait = field(v4, 'TCP', 'tw');
  const udp4 = field(v4, 'UDP', 'inuse');
  if (tcp4 === null || timeWait === null || udp4 === null) return null;
  // No sockstat6: IPv6 is off, and there is no IPv6 socket.
  return { tcp4, tcp6: v6 === undefined ? 0 : (field(v6, 'TCP6', 'inuse') ?? 0), timeWait, udp4, udp6: v6 === undefined ? 0 : (field(v6, 'UDP6', 'inuse') ?? 0) };
}

/** The counts of the namespace whose /proc is procRoot; null when they cannot be read. */
export async function readSocketCounts(host: Host, procRoot: string): Promise<SocketCounts | null> {
  try {
    const v4 = await host.readText(`${procRoot}/net/sockstat`);
    if (v4 === undefined) return null;
    return parseSockstat(v4, await host.readText(`${procRoot}/net/sockstat6`));
  } catch (err) {
    if (err instanceof KernelError) return null;
    throw err;
  }
}

/**
 * Which tables can hold a socket. The IPv4 TCP table also lists the requests (SYN_RECV) of
 * IPv4 clients of a dual-stack IPv6 listener, and TIME_WAIT is counted for both families:
 * a table is empty only when nothing that could land in it is counted.
 */
export function tablesPresent(counts: SocketCounts): TablesPresent {
  return {
    tcp4: counts.tcp4 + counts.tcp6 + counts.timeWait > 0,
    tcp6: counts.tcp6 + counts.timeWait > 0,
    udp4: counts.udp4 > 0,
    udp6: counts.udp6 > 0,
  };
}

/** Sockets a full listing of the wanted protocols would walk past: the size of the job. */
export function socketsCounted(counts: SocketCounts, want: { tcp: boolean; udp: boolean }): number {
  return (want.tcp ? counts.tcp4 + counts.tcp6 + counts.timeWait : 0) + (want.udp ? counts.udp4 + counts.udp6 : 0);
}

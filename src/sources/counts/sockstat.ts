/**
 * What a namespace's /proc/net/sockstat and sockstat6 count, without a walk of the socket
 * hash: the kernel keeps these per namespace (sock_prot_inuse_get), and anyone may read
 * them. They tell which socket tables can hold a socket at all, and how big a listing is
 * coming (docs/kernel-model.md, "Reading the kernel").
 */
import type { Host } from '../../host/host';
import { KernelError } from '../../host/errors';
import type { SocketCounts } from '../../model/counts';

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

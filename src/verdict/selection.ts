import type { BlockList } from 'node:net';
import type { Family } from '../kernel/address';
import type { Pool, PoolReport } from '../pools/pool';

/** Which pools a service looks at: "only my database pool" is a selection. */
export interface Selection {
  readonly tcp: boolean;
  readonly udp: boolean;
  readonly families: readonly Family[];
  readonly remote: AddressMatcher | null;
  readonly local: AddressMatcher | null;
  readonly remotePorts: readonly { low: number; high: number }[];
}

/** node:net loads the whole stream stack: only when an address filter is given. */
function net(): typeof import('node:net') {
  return require('node:net') as typeof import('node:net');
}

export class AddressMatcher {
  private readonly list: BlockList = new (net().BlockList)();

  /** @param prefixes addresses or CIDR prefixes, already validated by parsePrefix */
  constructor(prefixes: readonly string[]) {
    for (const text of prefixes) {
      const { address, family, bits } = parsePrefix(text);
      this.list.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  matches(address: string): boolean {
    return this.list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
  }
}

/** `10.0.0.5`, `10.0.0.0/8`, `fd00::/8`; IPv4-mapped IPv6 is folded to IPv4 like sockets are. */
export function parsePrefix(text: string): { address: string; family: Family; bits: number } {
  const slash = text.indexOf('/');
  let address = slash === -1 ? text : text.slice(0, slash);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  let family = net().isIP(address);
  if (family === 0) throw new Error(`"${text}" is not an IP address or prefix`);
  let maxBits = family === 4 ? 32 : 128;
  let bitsText = slash === -1 ? String(maxBits) : text.slice(slash + 1);
  if (mapped) {
    address = mapped[1];
    family = 4;
    maxBits = 32;
    if (slash !== -1) bitsText = String(Number(bitsText) - 96);
  }
  const bits = /^\d+$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!(bits >= 0 && bits <= maxBits)) throw new Error(`"${text}" has a bad prefix length`);
  return { address, family: family as Family, bits };
}

/**
 * The pools the selection keeps. The UDP pool has no destination, so any address or port
 * filter leaves it out; -4/-6 choose TCP tuples (UDP ports are shared by both families).
 */
export function selectPools(report: PoolReport, selection: Selection): Pool[] {
  const { remote, local, remotePorts, families } = selection;
  const filtered = remote !== null || local !== null || remotePorts.length > 0;
  const pools: Pool[] = [];
  if (selection.tcp) {
    for (const pool of report.tuples) {
      if (!families.includes(pool.family as Family)) continue;
      if (remote !== null && !remote.matches(pool.remote)) continue;
      if (local !== null && !local.matches(pool.local)) continue;
      const port = pool.remotePort as number;
      if (remotePorts.length > 0 && !remotePorts.some((span) => port >= span.low && port <= span.high)) continue;
      pools.push(pool);
    }
  }
  if (selection.udp && !filtered && report.udp !== null) pools.push(report.udp);
  return pools;
}

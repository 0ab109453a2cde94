import type { BlockList } from 'node:net';
import type { Family } from '../model/address';
import type { AddressTable } from '../model/address-table';

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

/** Does the selection name any destination or source? Then the UDP pool (which has none) is left out. */
export function filtersTuples(selection: Selection): boolean {
  return selection.remote !== null || selection.local !== null || selection.remotePorts.length > 0;
}

const UNKNOWN = -1;

/**
 * Which TCP tuples the selection keeps, decided once per distinct address (and remote
 * port), not once per tuple: a host with 100,000 tuples may have only a few addresses.
 * -4/-6 go by the local address's family (IPv4-mapped IPv6 is IPv4).
 */
export class TupleFilter {
  /** Every tuple is kept: keeps() need not be asked. */
  readonly everything: boolean;
  /** Per address id: UNKNOWN, 0 or 1. */
  private readonly localKept: Int8Array;
  private readonly remoteKept: Int8Array;
  private readonly portKept: Uint8Array | null = null;

  constructor(
    private readonly selection: Selection,
    private readonly addresses: AddressTable,
  ) {
    const { families, remote, local, remotePorts } = selection;
    this.everything = families.length === 2 && !filtersTuples(selection);
    this.localKept = new Int8Array(this.everything ? 0 : addresses.size).fill(UNKNOWN);
    this.remoteKept = new Int8Array(this.everything || remote === null ? 0 : addresses.size).fill(UNKNOWN);
    if (local === null && families.length === 2) this.localKept.fill(1);
    if (remotePorts.length > 0) {
      this.portKept = new Uint8Array(65536);
      for (const span of remotePorts) this.portKept.fill(1, span.low, span.high + 1);
    }
  }

  keeps(local: number, remote: number, remotePort: number): boolean {
    if (this.everything) return true;
    if (this.portKept !== null && this.portKept[remotePort] === 0) return false;
    let kept = this.localKept[local];
    if (kept === UNKNOWN) {
      const { families, local: matcher } = this.selection;
      kept = this.localKept[local] = families.includes(this.addresses.family(local)) && (matcher === null || matcher.matches(this.addresses.text(local))) ? 1 : 0;
    }
    if (kept === 0 || this.selection.remote === null) return kept === 1;
    kept = this.remoteKept[remote];
    if (kept === UNKNOWN) kept = this.remoteKept[remote] = this.selection.remote.matches(this.addresses.text(remote)) ? 1 : 0;
    return kept === 1;
  }
}

/**
 * Reports for the unit tests, made the way the check makes them: sockets fed one by one
 * into a PoolBuilder (no hand-made report can drift from what the builder computes).
 */
import { parseIpv6 } from '../../src/model/address';
import type { AddressTable } from '../../src/model/address-table';
import { TcpState, UdpState } from '../../src/model/records';
import type { PoolReport } from '../../src/pools/report';
import { PoolBuilder, type TimeWaitPolicy } from '../../src/pools/pool-builder';
import { PortSpace } from '../../src/pools/port-space';

/** An address's id, from its text as an operator writes it. */
export function addressId(table: AddressTable, text: string): number {
  const quad = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) return table.ipv4(quad.slice(1).reduce((value, octet) => value * 256 + Number(octet), 0));
  const words = new Int32Array(4);
  if (!parseIpv6(Buffer.from(text, 'latin1'), 0, text.length, words)) throw new Error(`not an address: ${text}`);
  return table.ipv6(words[0], words[1], words[2], words[3]);
}

export interface TupleSpec {
  readonly local?: string;
  readonly remote: string;
  readonly remotePort: number;
  /**
   * ESTABLISHED sockets, each on its own port as connect() would pick them: the ports at an
   * even offset from the low end first, then the odd ones (docs/kernel-model.md, Rule 9).
   */
  readonly used: number;
  /** TIME_WAIT sockets on the ports after those: 30 s old, and then 2 s old (churn). */
  readonly timeWait?: number;
  readonly recentTimeWait?: number;
}

export interface HostSpec {
  readonly low?: number;
  readonly high?: number;
  /** LISTEN sockets on the highest ports of the range. */
  readonly listeners?: number;
  readonly tuples?: readonly TupleSpec[];
  /** UDP sockets, each on its own port; null: UDP not read. */
  readonly udp?: number | null;
  /** false: TCP not read (its figures are null). */
  readonly tcp?: boolean;
  readonly policy?: TimeWaitPolicy;
}

export function builderFor(low = 40000, high = 41009, policy: TimeWaitPolicy = { twReuse: 2, twReuseDelayMs: 1000, timestamps: 1 }): PoolBuilder {
  return new PoolBuilder(new PortSpace({ low, high }, []), policy);
}

/** 40000-41009 with 10 listeners by default: every tuple's capacity is 1000. */
export function poolsOf(host: HostSpec): PoolReport {
  const { low = 40000, high = 41009, listeners = 10, tuples = [], udp = 0 } = host;
  const b = builderFor(low, high, host.policy);
  const any = b.addresses.ipv4(0);
  for (let i = 0; i < listeners; i++) b.tcp(any, high - i, any, 0, TcpState.LISTEN, -1);
  const connectOrder = [...connectParity(low, high - listeners), ...connectParity(low + 1, high - listeners)];
  for (const t of tuples) {
    const local = addressId(b.addresses, t.local ?? '10.0.0.1');
    const remote = addressId(b.addresses, t.remote);
    for (let i = 0; i < t.used; i++) b.tcp(local, connectOrder[i], remote, t.remotePort, TcpState.ESTABLISHED, -1);
    const old = t.timeWait ?? 0;
    for (let i = 0; i < old + (t.recentTimeWait ?? 0); i++) b.tcp(local, connectOrder[t.used + i], remote, t.remotePort, TcpState.TIME_WAIT, i < old ? 30_000 : 2_000);
  }
  for (let i = 0; i < (udp ?? 0); i++) b.udp(low + i, UdpState.UNCONNECTED);
  return b.finish({ tcp: host.tcp ?? true, udp: udp !== null });
}

/** Every other port from `from` up to `to`: one parity of the range. */
export function connectParity(from: number, to: number): number[] {
  const ports: number[] = [];
  for (let p = from; p <= to; p += 2) ports.push(p);
  return ports;
}

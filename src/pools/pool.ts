import type { Family } from '../model/address';
import type { Churn } from './churn';

/**
 * One pool of ephemeral ports and its headroom: a TCP tuple (local address, remote
 * address, remote port), or the host-wide UDP pool.
 */
export interface Pool {
  readonly protocol: 'tcp' | 'udp';
  /** 4 or 6 for a TCP tuple; null for the UDP pool, which both families share. */
  readonly family: Family | null;
  /** `*` for the UDP pool: UDP picks a port before it knows the destination. */
  readonly local: string;
  readonly remote: string;
  readonly remotePort: number | null;
  /** What a pool with no sockets of its own would get. */
  readonly capacity: number;
  readonly used: number;
  readonly remaining: number;
  /** used / capacity, in percent; 100 when capacity is 0. */
  readonly usage: number;
  readonly sockets: number;
  /** Sockets per state name (TCP: ESTABLISHED, TIME_WAIT, ...; UDP: UNCONN, ESTAB). */
  readonly states: Readonly<Record<string, number>>;
  /** TIME_WAIT sockets the kernel would reuse for this tuple right now (not counted used). */
  readonly timeWaitReusable: number;
  /**
   * TCP: ports its clients took with bind() before connect() (docs/kernel-model.md, Rule 9),
   * lost to every tuple: in capacity and used alike. 0 for the UDP pool.
   */
  readonly bindTaken: number;
  /** What is left if connect() chose every port: |C \ X \ O(T)|. */
  readonly optimisticRemaining: number;
  /** How fast a TCP tuple turns over and how much more it can take; null for the UDP pool. */
  readonly churn: Churn | null;
}

/** A tuple and how many ports the finding is about. */
export interface TuplePorts {
  readonly pool: Pool;
  readonly ports: number;
}

export function usagePercent(used: number, capacity: number): number {
  return capacity === 0 ? 100 : (used / capacity) * 100;
}

import type { Family } from '../kernel/address';
import type { TupleTable } from './tuple-table';

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
}

export function usagePercent(used: number, capacity: number): number {
  return capacity === 0 ? 100 : (used / capacity) * 100;
}

/** Everything the sockets say about the port space, before any filter or threshold. */
export interface PoolReport {
  readonly space: {
    readonly low: number;
    readonly high: number;
    readonly rangeSize: number;
    readonly reservedInRange: number;
    readonly oddSized: boolean;
  };
  /** What a new TCP tuple gets: |C \ X|, X = in-range ports of listening sockets. */
  readonly capacity: number;
  readonly listeningPorts: number;
  /**
   * TCP tuples, in no particular order, as typed arrays (TupleTable.pool makes one a Pool).
   * The accepted side of connections to in-range listeners is not among them; a tuple with
   * no sockets left (see PoolBuilder.listen) is not one either.
   */
  readonly tuples: TupleTable;
  /** Null when UDP was not read. */
  readonly udp: Pool | null;
  /** Null when TCP was not read. */
  readonly tcp: {
    readonly sockets: number;
    readonly timeWait: number;
    readonly timeWaitReusable: number;
    /** Ports held by sockets to two or more tuples: certainly connect()-autobound. */
    readonly sharedPorts: number;
    /** The pessimistic figure: in-range ports no TCP socket holds (bind-before-connect). */
    readonly bindStyle: { readonly capacity: number; readonly used: number; readonly remaining: number; readonly usage: number };
  } | null;
}

/**
 * A namespace's socket counts as its sockstat gives them (sources/counts reads them), and
 * what they say without any walk of the socket hash: which tables can hold a socket, and
 * how big a listing is coming (docs/kernel-model.md, "Reading the kernel").
 */
import type { TableChoice } from './settings';

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
export function socketsCounted(counts: SocketCounts, want: TableChoice): number {
  return (want.tcp ? counts.tcp4 + counts.tcp6 + counts.timeWait : 0) + (want.udp ? counts.udp4 + counts.udp6 : 0);
}

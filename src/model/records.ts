import type { AddressTable } from './address-table';

/** TCP states as /proc/net/tcp prints them (include/net/tcp_states.h). */
export const TcpState = {
  ESTABLISHED: 0x01,
  SYN_SENT: 0x02,
  SYN_RECV: 0x03,
  FIN_WAIT1: 0x04,
  FIN_WAIT2: 0x05,
  TIME_WAIT: 0x06,
  CLOSE: 0x07,
  CLOSE_WAIT: 0x08,
  LAST_ACK: 0x09,
  LISTEN: 0x0a,
  CLOSING: 0x0b,
  NEW_SYN_RECV: 0x0c,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

export const TCP_STATE_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, value] of Object.entries(TcpState)) names[value] = name;
  return names;
})();

/** A TIME_WAIT socket lives TCP_TIMEWAIT_LEN = 60 s; both sources read its timer counting down. */
export const TIME_WAIT_LIFETIME_MS = 60_000;

/** UDP sockets: 07 (TCP_CLOSE) is unconnected, 01 connected. */
export const UdpState = { CONNECTED: 0x01, UNCONNECTED: 0x07 } as const;

/**
 * Where a socket source delivers the sockets that matter: those whose local port is in the
 * range and not reserved (the source skips the rest before decoding addresses).
 * Positional arguments, not an object per socket: this is the hot path on busy hosts.
 */
export interface SocketSink {
  /** Where the sources intern addresses: one table for both families and all listings. */
  readonly addresses: AddressTable;
  /**
   * The hot path: one call per socket (positional, no object per socket).
   * @param local, remote address ids in `addresses` (the family is the address's)
   * @param timeWaitAgeMs how long a TIME_WAIT socket has been in that state, from its
   *   timer; -1 for every other state.
   */
  tcp(local: number, localPort: number, remote: number, remotePort: number, state: number, timeWaitAgeMs: number): void;
  udp(localPort: number, state: number): void;
}

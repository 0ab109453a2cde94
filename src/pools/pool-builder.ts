/**
 * Socket records → pools, as the sockets stream in. The model is docs/kernel-model.md's:
 *   remaining(T) = |C \ X \ O(T)|
 * C = range minus reserved, X = in-range ports of LISTEN sockets (any address, either
 * family: a bound port is lost to every tuple), O(T) = ports held by tuple T's own sockets,
 * TIME_WAIT included unless the kernel would reuse it right now.
 */
import { isLoopback, type Family } from '../kernel/address';
import { TCP_STATE_NAMES, TcpState, UdpState, type SocketSink } from '../kernel/records';
import { usagePercent, type Pool, type PoolReport } from './pool';
import type { PortSpace } from './port-space';

export interface TimeWaitPolicy {
  readonly twReuse: number;
  readonly twReuseDelayMs: number;
  readonly timestamps: number;
}

/**
 * Would connect() reuse this TIME_WAIT socket for its own tuple now? (tcp_twsk_unique)
 * Needs timestamps (we can only see the sysctl, not the connection's own option),
 * tw_reuse 1, or 2 with a loopback end, and an age past tcp_tw_reuse_delay.
 */
export function timeWaitReusable(policy: TimeWaitPolicy, local: string, remote: string, ageMs: number): boolean {
  if (policy.timestamps === 0) return false;
  const reuse = policy.twReuse === 1 || (policy.twReuse === 2 && (isLoopback(local) || isLoopback(remote)));
  return reuse && ageMs > policy.twReuseDelayMs;
}

interface TupleSockets {
  readonly family: Family;
  readonly local: string;
  readonly remote: string;
  readonly remotePort: number;
  /** Ports this tuple's sockets hold against a new connect(). */
  readonly held: Set<number>;
  /** Ports of TIME_WAIT sockets the kernel would reuse. */
  readonly reusable: Set<number>;
  readonly states: Uint32Array;
  sockets: number;
}

export class PoolBuilder implements SocketSink {
  /** local → remote → remote port → its sockets: no key string to build and hash per socket. */
  private readonly tuples = new Map<string, Map<string, Map<number, TupleSockets>>>();
  /** The same tuples, in the order first seen. */
  private readonly tupleList: TupleSockets[] = [];
  private readonly listening = new Set<number>();
  /** In-range ports any TCP socket holds (a byte per port: set once per socket, cheaply). */
  private readonly tcpHeld = new Uint8Array(65536);
  private tcpHeldCount = 0;
  private readonly udpHeld = new Set<number>();
  private readonly udpStates = { UNCONN: 0, ESTAB: 0 };
  private tcpSockets = 0;
  private timeWait = 0;
  private timeWaitReused = 0;

  constructor(
    private readonly space: PortSpace,
    private readonly policy: TimeWaitPolicy,
  ) {}

  tcp(family: Family, local: string, localPort: number, remote: string, remotePort: number, state: number, timeWaitAgeMs: number): void {
    this.tcpSockets++;
    if (this.tcpHeld[localPort] === 0) {
      this.tcpHeld[localPort] = 1;
      this.tcpHeldCount++;
    }
    if (state === TcpState.LISTEN) {
      this.listening.add(localPort);
      return;
    }
    let byRemote = this.tuples.get(local);
    if (byRemote === undefined) this.tuples.set(local, (byRemote = new Map()));
    let byPort = byRemote.get(remote);
    if (byPort === undefined) byRemote.set(remote, (byPort = new Map()));
    let tuple = byPort.get(remotePort);
    if (tuple === undefined) {
      tuple = { family, local, remote, remotePort, held: new Set(), reusable: new Set(), states: new Uint32Array(TCP_STATE_NAMES.length), sockets: 0 };
      byPort.set(remotePort, tuple);
      this.tupleList.push(tuple);
    }
    tuple.sockets++;
    tuple.states[state]++;
    if (state === TcpState.TIME_WAIT) {
      this.timeWait++;
      if (timeWaitReusable(this.policy, local, remote, timeWaitAgeMs)) {
        this.timeWaitReused++;
        tuple.reusable.add(localPort);
        return;
      }
    }
    tuple.held.add(localPort);
  }

  udp(localPort: number, state: number): void {
    this.udpHeld.add(localPort);
    if (state === UdpState.CONNECTED) this.udpStates.ESTAB++;
    else this.udpStates.UNCONN++;
  }

  /** @param read which protocols' tables were read (the others are reported as null). */
  finish(read: { tcp: boolean; udp: boolean }): PoolReport {
    const { space, listening } = this;
    const capacity = space.size - listening.size;
    const tuples: Pool[] = [];
    // How many tuples hold each port: two or more means connect() gave it (shared).
    const owners = new Uint32Array(65536);
    let sharedPorts = 0;
    for (const t of this.tupleList) {
      let used = 0;
      let outbound = false;
      for (const port of t.held) {
        if (listening.has(port)) continue;
        used++;
        outbound = true;
        if (++owners[port] === 2) sharedPorts++;
      }
      for (const port of t.reusable) if (!listening.has(port)) outbound = true;
      // Every port in X: the accepted side of connections to an in-range listener, not
      // a destination of ours.
      if (!outbound) continue;
      const states: Record<string, number> = {};
      t.states.forEach((count, state) => {
        if (count > 0) states[TCP_STATE_NAMES[state]] = count;
      });
      tuples.push({
        protocol: 'tcp',
        family: t.family,
        local: t.local,
        remote: t.remote,
        remotePort: t.remotePort,
        capacity,
        used,
        remaining: capacity - used,
        usage: usagePercent(used, capacity),
        sockets: t.sockets,
        states,
        timeWaitReusable: t.reusable.size,
      });
    }

    const udpUsed = this.udpHeld.size;
    const bindUsed = this.tcpHeldCount;
    return {
      space: { low: space.range.low, high: space.range.high, rangeSize: space.rangeSize, reservedInRange: space.reservedInRange, oddSized: space.oddSized },
      capacity,
      listeningPorts: listening.size,
      tuples,
      udp: read.udp
        ? {
            protocol: 'udp',
            family: null,
            local: '*',
            remote: '*',
            remotePort: null,
            capacity: space.size,
            used: udpUsed,
            remaining: space.size - udpUsed,
            usage: usagePercent(udpUsed, space.size),
            sockets: this.udpStates.UNCONN + this.udpStates.ESTAB,
            states: Object.fromEntries(Object.entries(this.udpStates).filter(([, count]) => count > 0)),
            timeWaitReusable: 0,
          }
        : null,
      tcp: read.tcp
        ? {
            sockets: this.tcpSockets,
            timeWait: this.timeWait,
            timeWaitReusable: this.timeWaitReused,
            sharedPorts,
            bindStyle: { capacity: space.size, used: bindUsed, remaining: space.size - bindUsed, usage: usagePercent(bindUsed, space.size) },
          }
        : null,
    };
  }
}

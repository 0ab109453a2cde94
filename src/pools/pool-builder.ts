/**
 * Socket records → pools, as the sockets stream in. The model is docs/kernel-model.md's:
 *   remaining(T) = |C \ X \ B \ O(T)|
 * C = range minus reserved, X = in-range ports of LISTEN sockets (any address, either
 * family: a bound port is lost to every tuple), B = the other ports bind() took, told by
 * their parity once every socket is read (bind-parity.ts, Rule 9), O(T) = ports held by
 * tuple T's own sockets, TIME_WAIT included unless the kernel would reuse it right now.
 *
 * Constant work per socket: a few typed-array updates for the tuple (tuple-table.ts) and a
 * few for its port. A socket on the port of an in-range listener is the accepted side of a
 * connection, not one of our tuples: it costs no tuple at all. Each listing (ss's per
 * family, and each /proc table) shows its listeners before any other socket (tcp_diag_dump
 * and tcp_seq_start walk the listening hash first); only across families can a listener
 * come after sockets on its port (a socket bound to that very port): see listen().
 */
import { AddressTable } from '../model/address-table';
import { TcpState, UdpState, type SocketSink } from '../model/records';
import { RECENT_CLOSES_MS } from './churn';
import { usagePercent } from './pool';
import { type PoolReport } from './report';
import type { PortSpace } from './port-space';
import { TuplePortsFound, TupleTable } from './tuple-table';
import { BindParityHolders, classifyBindParity } from './bind-parity';

export interface TimeWaitPolicy {
  readonly twReuse: number;
  readonly twReuseDelayMs: number;
  readonly timestamps: number;
}

/** portTuple values besides a tuple id. */
export const NO_TUPLE = -1;
export const SEVERAL_TUPLES = -2;

/** portSocket: the state of the one socket on a port, and whether it is a recent TIME_WAIT. */
const RECENT = 0x80;

/**
 * Would connect() reuse this TIME_WAIT socket for its own tuple now? (tcp_twsk_unique)
 * Needs timestamps (we can only see the sysctl, not the connection's own option),
 * tw_reuse 1, or 2 with a loopback end, and an age past tcp_tw_reuse_delay.
 */
export function timeWaitReusable(policy: TimeWaitPolicy, loopback: boolean, ageMs: number): boolean {
  if (policy.timestamps === 0) return false;
  const reuse = policy.twReuse === 1 || (policy.twReuse === 2 && loopback);
  return reuse && ageMs > policy.twReuseDelayMs;
}

/** How many tuples the report names for each bind() finding (binders, spilled). */
const NAMED_TUPLES = 3;

export class PoolBuilder implements SocketSink {
  readonly addresses: AddressTable;
  private readonly tuples: TupleTable;
  private readonly listening = new Uint8Array(65536);
  private listeningPorts = 0;
  /**
   * Per port, which tuple's sockets hold it (reusable TIME_WAIT aside), as portTupleOf reads
   * it: stored plus one, so that the fresh zeroed array (pages not even mapped until
   * written) means NO_TUPLE everywhere; SEVERAL_TUPLES is stored as is.
   */
  private readonly portTuple = new Int32Array(65536);
  /** For a port held by one tuple: its socket's state (| RECENT), to take it back. */
  private readonly portSocket = new Uint8Array(65536);
  /** Who holds each port at bind parity (odd offset), for the classification in finish. */
  private readonly bindParity = new BindParityHolders();
  /** In-range ports any TCP socket holds (a byte per port: set once per socket, cheaply). */
  private readonly tcpHeld = new Uint8Array(65536);
  private tcpHeldCount = 0;
  private readonly udpHeld = new Uint8Array(65536);
  private udpHeldCount = 0;
  private udpConnected = 0;
  private udpUnconnected = 0;
  /** Ports held by sockets of several tuples (portTuple SEVERAL_TUPLES), listener ports aside. */
  private sharedPorts = 0;
  private tcpSockets = 0;
  private timeWait = 0;
  private timeWaitReused = 0;

  /** @param expectedSockets how many TCP sockets the listing may hold (sockstat.ts); 0 when unknown */
  constructor(
    private readonly space: PortSpace,
    private readonly policy: TimeWaitPolicy,
    expectedSockets = 0,
  ) {
    this.addresses = new AddressTable(expectedSockets);
    this.tuples = new TupleTable(this.addresses, expectedSockets);
  }

  /** The hot path: one call per socket (SocketSink.tcp). */
  tcp(local: number, localPort: number, remote: number, remotePort: number, state: number, timeWaitAgeMs: number): void {
    this.tcpSockets++;
    if (this.tcpHeld[localPort] === 0) {
      this.tcpHeld[localPort] = 1;
      this.tcpHeldCount++;
    }
    if (state === TcpState.LISTEN) {
      this.listen(localPort);
      return;
    }
    let reusable = false;
    let recent = 0;
    if (state === TcpState.TIME_WAIT) {
      this.timeWait++;
      const { addresses } = this;
      reusable = timeWaitReusable(this.policy, addresses.isLoopback(local) || addresses.isLoopback(remote), timeWaitAgeMs);
      if (reusable) this.timeWaitReused++;
      else if (timeWaitAgeMs < RECENT_CLOSES_MS) recent = RECENT;
    }
    // The accepted side of a connection to an in-range listener: the port is in X already.
    if (this.listening[localPort] !== 0) return;

    const tuples = this.tuples;
    const t = tuples.id(local, remote, remotePort);
    tuples.countState(t, state, 1);
    const bindParity = ((localPort - this.space.range.low) & 1) === 1;
    if (bindParity) this.bindParity.add(localPort, t, reusable);
    if (reusable) {
      tuples.addReusable(t, bindParity);
      return;
    }
    tuples.held[t]++;
    if (bindParity) tuples.heldOddOffset[t]++;
    if (recent !== 0) tuples.timeWaitRecent[t]++;
    const owner = this.portTupleOf(localPort);
    if (owner === NO_TUPLE) {
      this.portTuple[localPort] = t + 1;
      this.portSocket[localPort] = state | recent;
    } else if (owner !== t && owner !== SEVERAL_TUPLES) {
      this.portTuple[localPort] = SEVERAL_TUPLES;
      this.sharedPorts++;
    }
  }

  udp(localPort: number, state: number): void {
    if (this.udpHeld[localPort] === 0) {
      this.udpHeld[localPort] = 1;
      this.udpHeldCount++;
    }
    if (state === UdpState.CONNECTED) this.udpConnected++;
    else this.udpUnconnected++;
  }

  /**
   * A listener seen after sockets on its port (only a socket bound to that very port in the
   * other family's listing can come first): a port held by one tuple is taken back out of
   * it, exactly, since a tuple holds a port once. Held by several tuples (bound to the port
   * on several addresses) it stays counted in each: one port too many, the safe direction;
   * a reusable TIME_WAIT there stays listed in its tuple, which changes no figure.
   */
  private listen(port: number): void {
    if (this.listening[port] !== 0) return;
    this.listening[port] = 1;
    this.listeningPorts++;
    const t = this.portTupleOf(port);
    if (t === SEVERAL_TUPLES) this.sharedPorts--; // not connect()'s: a listener holds it
    if (t < 0) return;
    const tuples = this.tuples;
    const socket = this.portSocket[port];
    tuples.countState(t, socket & ~RECENT, -1);
    tuples.held[t]--;
    if (((port - this.space.range.low) & 1) === 1) tuples.heldOddOffset[t]--;
    if ((socket & RECENT) !== 0) tuples.timeWaitRecent[t]--;
    this.portTuple[port] = 0;
  }

  /**
   * Which tuple's sockets hold the port (reusable TIME_WAIT aside): NO_TUPLE, one tuple id,
   * or SEVERAL_TUPLES, i.e. certainly autobound by connect() (docs/kernel-model.md).
   */
  portTupleOf(port: number): number {
    const stored = this.portTuple[port];
    return stored > 0 ? stored - 1 : stored === 0 ? NO_TUPLE : SEVERAL_TUPLES;
  }

  /**
   * @param read which protocols' tables were read (the others are reported as null).
   * @param rangeRead false when the range is not the namespace's own but assumed (docs/namespaces.md)
   */
  finish(read: { tcp: boolean; udp: boolean }, rangeRead = true): PoolReport {
    const { space, tuples } = this;
    const optimisticCapacity = space.size - this.listeningPorts;
    const n = tuples.size;
    const binders = new TuplePortsFound(NAMED_TUPLES);
    const spilled = new TuplePortsFound(NAMED_TUPLES);
    let timeWaitTaken = 0;
    // The parity rule reads `port - low`. An assumed range's low end need not be the
    // kernel's, and then ports connect() chose read as bind()'s, taken from every tuple. So
    // it is not applied at all: B stays empty and each tuple is judged by its own sockets
    // (the table is never settled), rather than by a guess that can be wrong either way.
    const parity = rangeRead ? classifyBindParity({ low: space.range.low, high: space.range.high, usable: space.usable, listening: this.listening, tcpHeld: this.tcpHeld, holders: this.bindParity, tuples: n, held: tuples.held, heldBindParity: tuples.heldOddOffset, reusable: tuples.reusable, reusableBindParity: tuples.reusableOddOffset }) : null;
    // With no socket at bind parity, every tuple's figure is its own held ports, which is
    // what an unsettled table answers: the pass over the tuples is skipped.
    if (parity !== null && !this.bindParity.empty) {
      // Per tuple: a tuple with connect()'s parity left holds bind()-taken ports at the other
      // one, all of them; one that spilled holds none but those another holder bound.
      const bindTaken = new Uint32Array(n);
      const unbound = new Uint32Array(n);
      for (let t = 0; t < n; t++) {
        if (parity.spilled[t] === 1) {
          unbound[t] = tuples.held[t] - parity.takenFromSpilled[t];
          spilled.offer(t, tuples.heldOddOffset[t] + tuples.reusableOddOffset[t]);
        } else {
          bindTaken[t] = tuples.heldOddOffset[t] + tuples.reusableOddOffset[t];
          unbound[t] = tuples.held[t] - tuples.heldOddOffset[t];
          timeWaitTaken += tuples.reusableOddOffset[t];
        }
        binders.offer(t, parity.boundAlone[t]);
      }
      tuples.settle({ bindTaken, unbound, optimisticCapacity });
    }
    const taken = parity?.taken ?? 0;
    const capacity = optimisticCapacity - taken;
    const udpUsed = this.udpHeldCount;
    const bindUsed = this.tcpHeldCount;
    const udpStates: Record<string, number> = {};
    if (this.udpUnconnected > 0) udpStates.UNCONN = this.udpUnconnected;
    if (this.udpConnected > 0) udpStates.ESTAB = this.udpConnected;
    return {
      space: { low: space.range.low, high: space.range.high, rangeSize: space.rangeSize, reservedInRange: space.reservedInRange, oddSized: space.oddSized },
      capacity,
      optimisticCapacity,
      bind: {
        skipped: parity === null ? 'range assumed' : null,
        taken,
        sharedTaken: parity?.sharedTaken ?? 0,
        undecidable: parity?.undecidable ?? 0,
        bindParityFull: parity?.bindParityFull ?? false,
        binders: binders.pools(tuples, capacity),
        binderTuples: binders.found,
        spilled: spilled.pools(tuples, capacity),
        spilledTuples: spilled.found,
      },
      listeningPorts: this.listeningPorts,
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
            sockets: this.udpUnconnected + this.udpConnected,
            states: udpStates,
            timeWaitReusable: 0,
            bindTaken: 0,
            optimisticRemaining: space.size - udpUsed,
            churn: null,
          }
        : null,
      tcp: read.tcp
        ? {
            sockets: this.tcpSockets,
            timeWait: this.timeWait,
            timeWaitReusable: this.timeWaitReused - timeWaitTaken,
            sharedPorts: this.sharedPorts,
            bindStyle: { capacity: space.size, used: bindUsed, remaining: space.size - bindUsed, usage: usagePercent(bindUsed, space.size) },
          }
        : null,
    };
  }
}

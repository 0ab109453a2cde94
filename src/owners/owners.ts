/**
 * Who holds a tuple's sockets (docs/namespaces.md, "Who holds it"): the socket inodes of
 * the tuple, from its namespace's /proc/PID/net/tcp{,6} (the inode column; readable by
 * anyone), matched against the `socket:[INODE]` links under /proc/PID/fd of the
 * namespace's processes. Root sees every process's descriptors, other users only their
 * own. A TIME_WAIT or orphaned socket has inode 0: nobody holds it. The lookup runs only
 * for the tuples asked for, and stops at its deadline (what it found by then is shown).
 */
import { ipv4Text, ipv6WordsText } from '../model/address';
import { KernelError } from '../host/errors';
import type { Host } from '../host/host';
import { ALL_TABLES, tablesPresent } from '../model/counts';
import { readSocketCounts } from '../sources/counts/sockstat';
import { eachCompleteLine, LineCarry, type LineParser } from '../host/lines';
import { State } from '../nagios/state';
import { commandName } from '../namespaces/names';
import type { Pool } from '../pools/pool';
import type { Judged } from '../verdict/judge';

export interface TupleKey {
  readonly local: string;
  readonly remote: string;
  readonly remotePort: number;
}

export interface Holder {
  readonly pid: number;
  readonly command: string;
  readonly user: string;
  /** How many of the tuple's sockets it holds. */
  readonly sockets: number;
}

export interface TupleOwners {
  /** Most sockets first. */
  readonly holders: readonly Holder[];
  /** Sockets with an owner we did not see: another user's process (without root), or the lookup ran out of time. */
  readonly unseen: number;
  /** Sockets nobody holds: TIME_WAIT, and connections closed by their process but not yet by TCP. */
  readonly ownerless: number;
}

/** The owners of a listed pool, as the output shows them. */
export interface PoolOwners extends TupleOwners {
  readonly visible: 'all' | 'own';
  readonly complete: boolean;
}

export interface OwnersFound {
  /** Parallel to the tuples asked for. */
  readonly tuples: readonly TupleOwners[];
  /** 'all' as root; otherwise only this user's processes could be looked into. */
  readonly visible: 'all' | 'own';
  /** False when the deadline came before every process was looked at. */
  readonly complete: boolean;
}

/** /proc/net/tcp: `sl: LOCAL:PORT REMOTE:PORT st tx:rx tr:when retrnsmt uid timeout inode ...` */
const INODE_FIELD = 9;
const COLON = 58;
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[65 + i] = HEX[97 + i] = 10 + i;

function byteSwap(word: number): number {
  return (((word & 0xff) << 24) | ((word & 0xff00) << 8) | ((word >>> 8) & 0xff00) | (word >>> 24)) >>> 0;
}

/**
 * The lines of the tuples asked for, and their inodes. Cheap on the many other lines: the
 * remote port is compared first, and only a line whose port is wanted is decoded.
 */
class TupleLines implements LineParser {
  private lineNumber = 0;

  constructor(
    private readonly v6: boolean,
    private readonly littleEndian: boolean,
    private readonly wanted: ReadonlyMap<string, number>,
    private readonly ports: ReadonlySet<number>,
    private readonly onSocket: (tuple: number, inode: number) => void,
  ) {}

  feed(buf: Uint8Array, end: number): number {
    return eachCompleteLine(buf, end, (start, lineEnd) => this.line(buf, start, lineEnd));
  }

  finish(buf: Uint8Array, end: number): void {
    if (end > 0) this.line(buf, 0, end);
  }

  private hex(buf: Uint8Array, pos: number, length: number): number {
    let value = 0;
    for (let i = pos; i < pos + length; i++) {
      const digit = HEX[buf[i]];
      if (digit < 0) return -1;
      value = value * 16 + digit;
    }
    return value;
  }

  private address(buf: Uint8Array, pos: number): string {
    const word = (at: number) => {
      const printed = this.hex(buf, at, 8);
      return this.littleEndian ? byteSwap(printed) : printed;
    };
    if (!this.v6) return ipv4Text(word(pos));
    return ipv6WordsText(word(pos), word(pos + 8), word(pos + 16), word(pos + 24)).text;
  }

  private line(buf: Uint8Array, start: number, end: number): void {
    if (++this.lineNumber === 1) return; // the header
    let colon = start;
    while (colon < end && buf[colon] !== COLON) colon++;
    const a = this.v6 ? 32 : 8;
    const local = colon + 2;
    const remote = local + a + 6;
    if (remote + a + 5 > end) return;
    if (!this.ports.has(this.hex(buf, remote + a + 1, 4))) return;
    const key = `${this.address(buf, local)} ${this.address(buf, remote)} ${this.hex(buf, remote + a + 1, 4)}`;
    const tuple = this.wanted.get(key);
    if (tuple === undefined) return;
    const fields = Buffer.from(buf.buffer, buf.byteOffset + colon + 1, end - colon - 1).toString('latin1').trim().split(/\s+/);
    const inode = Number(fields[INODE_FIELD - 1]);
    this.onSocket(tuple, Number.isSafeInteger(inode) ? inode : 0);
  }
}

/** The user name of a uid, from /etc/passwd; the number when it has none there. */
async function userNames(host: Host): Promise<(uid: number) => string> {
  let passwd: string | undefined;
  try {
    passwd = await host.readText('/etc/passwd');
  } catch (err) {
    if (!(err instanceof KernelError)) throw err;
  }
  const names = new Map<number, string>();
  for (const line of (passwd ?? '').split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && /^\d+$/.test(uid ?? '') && /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}\$?$/.test(name) && !names.has(Number(uid))) names.set(Number(uid), name);
  }
  return (uid) => names.get(uid) ?? String(uid);
}

/** The effective uid of a process (/proc/PID/status `Uid:` real, effective, ...). */
async function processUid(host: Host, pid: number): Promise<number | undefined> {
  try {
    const status = await host.readText(`/proc/${pid}/status`);
    const m = status === undefined ? null : /^Uid:\s+\d+\s+(\d+)/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch (err) {
    if (err instanceof KernelError) return undefined;
    throw err;
  }
}

/**
 * @param procRoot the namespace's /proc directory (`/proc`, or `/proc/PID` for another)
 * @param pids its processes, looked at first; the others only while some socket is unaccounted for
 */
export async function findOwners(host: Host, procRoot: string, pids: readonly number[], tuples: readonly TupleKey[], deadline: number): Promise<OwnersFound> {
  const visible = host.euid === 0 ? 'all' : 'own';
  const wanted = new Map(tuples.map((t, i) => [`${t.local} ${t.remote} ${t.remotePort}`, i]));
  const ports = new Set(tuples.map((t) => t.remotePort));
  const tupleOf = new Map<number, number>();
  const ownerless = new Array<number>(tuples.length).fill(0);
  const onSocket = (tuple: number, inode: number) => {
    if (inode === 0) ownerless[tuple]++;
    else tupleOf.set(inode, tuple);
  };
  // Each table read walks the socket hash all namespaces share: not one whose counts show
  // it empty (model/counts.ts, tablesPresent).
  const counts = await readSocketCounts(host, procRoot);
  const present = counts === null ? ALL_TABLES : tablesPresent(counts);
  for (const [name, v6] of [['tcp', false], ['tcp6', true]] as const) {
    if (!present[v6 ? 'tcp6' : 'tcp4']) continue;
    const file = await host.open(`${procRoot}/net/${name}`);
    if (file === undefined) continue;
    try {
      const lines = new LineCarry(new TupleLines(v6, host.littleEndian, wanted, ports, onSocket), `${procRoot}/net/${name}`);
      while (await lines.readFrom((into, offset, length) => file.read(into, offset, length)));
      lines.finish();
    } finally {
      await file.close();
    }
  }

  // Descriptors: the namespace's processes first, then the rest while sockets are missing.
  const found = new Set<number>();
  const held = new Map<number, Map<number, number>>(); // pid → tuple → sockets
  let complete = true;
  const others = async () => ((await host.listDir?.('/proc')) ?? []).filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => !pids.includes(pid));
  for (const group of [pids, null]) {
    if (found.size === tupleOf.size) break;
    for (const pid of group ?? (await others())) {
      if (Date.now() > deadline) {
        complete = false;
        break;
      }
      let links;
      try {
        links = await host.readLinks?.(`/proc/${pid}/fd`);
      } catch (err) {
        if (err instanceof KernelError) continue; // another user's process: not visible
        throw err;
      }
      for (const target of links?.targets ?? []) {
        if (!target.startsWith('socket:[')) continue;
        const inode = Number(target.slice(8, -1));
        const tuple = tupleOf.get(inode);
        if (tuple === undefined) continue;
        found.add(inode);
        let byTuple = held.get(pid);
        if (byTuple === undefined) held.set(pid, (byTuple = new Map()));
        byTuple.set(tuple, (byTuple.get(tuple) ?? 0) + 1);
      }
    }
    if (!complete) break;
  }

  const user = await userNames(host);
  const holders: Holder[][] = tuples.map(() => []);
  for (const [pid, byTuple] of held) {
    const command = await commandName(host, pid);
    const uid = await processUid(host, pid);
    for (const [tuple, sockets] of byTuple) holders[tuple].push({ pid, command, user: uid === undefined ? '?' : user(uid), sockets });
  }
  const unseen = new Array<number>(tuples.length).fill(0);
  for (const [inode, tuple] of tupleOf) if (!found.has(inode)) unseen[tuple]++;
  return {
    tuples: tuples.map((_, i) => ({ holders: holders[i].sort((a, b) => b.sockets - a.sockets || a.pid - b.pid), unseen: unseen[i], ownerless: ownerless[i] })),
    visible,
    complete,
  };
}

/** Where a namespace's pools are, for the lookup. */
export interface OwnerSearch {
  /** `/proc` for the check's own namespace, `/proc/PID` for another; null: none to read. */
  readonly procRoot: string | null;
  readonly pids: readonly number[];
  readonly pools: readonly Pool[];
}

/**
 * The listed pools whose owners are looked up: TCP tuples that alert, or every listed TCP
 * tuple when asked (-v, --owners). The UDP pool has no destination to ask about.
 */
export function ownersWanted(listed: readonly Judged[], every: boolean): Pool[] {
  return listed.filter((j) => j.pool.protocol === 'tcp' && j.pool.remotePort !== null && (every || j.state === State.WARNING || j.state === State.CRITICAL)).map((j) => j.pool);
}

/** The owners of each pool asked for, namespace by namespace, until the deadline. */
export async function lookUpOwners(host: Host, searches: readonly OwnerSearch[], deadline: number): Promise<Map<Pool, PoolOwners>> {
  const result = new Map<Pool, PoolOwners>();
  for (const { procRoot, pids, pools } of searches) {
    if (pools.length === 0 || procRoot === null) continue;
    const keys = pools.map((p) => ({ local: p.local, remote: p.remote, remotePort: p.remotePort as number }));
    let found: OwnersFound;
    try {
      found = await findOwners(host, procRoot, pids, keys, deadline);
    } catch (err) {
      // The processes' names are extra detail: a namespace gone meanwhile has none to give.
      if (err instanceof KernelError) continue;
      throw err;
    }
    pools.forEach((pool, i) => result.set(pool, { ...found.tuples[i], visible: found.visible, complete: found.complete }));
  }
  return result;
}

/**
 * Which network namespaces exist: the distinct `/proc/PID/ns/net` of every process, plus
 * the names mounted under /run/netns (docs/namespaces.md, "Finding them").
 *
 * Reading a process's ns/net link needs ptrace access: other users' processes without
 * root, and even some with root, refuse it. Such a process is placed by another identity
 * that is also one per namespace and that anyone may read: the inode of its
 * /proc/PID/net/tcp. So a namespace is never counted twice, whether or not its link can
 * be read; only its nsfs inode (the one `stat -L` shows) may then stay unknown.
 */
import { KernelError } from '../host/errors';
import type { Host } from '../host/host';

export interface NamespaceRef {
  /** The nsfs inode, as `stat -L -c %i /proc/PID/ns/net` prints it; null when no link of it could be read. */
  readonly inode: number | null;
  /** Its processes, ascending (some may have exited since). */
  readonly pids: readonly number[];
  /**
   * Where to enter it (nsenter --net=...): the ns link of a process whose link could be
   * read, or its /run/netns file; null when neither exists.
   */
  readonly door: string | null;
  /** A process's /proc directory whose net/ shows this namespace's tables; null when it has no process. */
  readonly procRoot: string | null;
  /** The inode of procRoot's net/tcp, one per namespace: tells later whether that pid still lives in it. */
  readonly tables: number | null;
  /** The check's own namespace: its sysctls are read straight from /proc/sys. */
  readonly own: boolean;
  /** The namespace of pid 1: the host's, as seen from here. */
  readonly host: boolean;
  /** Names under /run/netns bound to it. */
  readonly runNames: readonly string[];
}

/** `--namespaces`: every namespace, the one of a process, or a name under /run/netns. */
export type NamespaceChoice = { readonly all: true } | { readonly pid: number } | { readonly name: string };

export const RUN_NETNS = '/run/netns';

const NS_LINK = /^net:\[(\d+)\]$/;

interface Group {
  inode: number | null;
  tables: number | undefined;
  pids: number[];
  /** A pid whose link was read. */
  linked: number | null;
  runNames: string[];
}

type Walker = Required<Pick<Host, 'listDir' | 'readLink' | 'stat'>>;

function walker(host: Host): Walker {
  const { listDir, readLink, stat } = host;
  if (listDir === undefined || readLink === undefined || stat === undefined) throw new KernelError('/proc', 'this host cannot list processes');
  return { listDir: listDir.bind(host), readLink: readLink.bind(host), stat: stat.bind(host) };
}

/** The namespace inode a link names, undefined when the process is gone, null when it may not be read. */
async function linkInode(w: Walker, path: string): Promise<number | null | undefined> {
  let target: string | undefined;
  try {
    target = await w.readLink(path);
  } catch (err) {
    if (err instanceof KernelError) return null;
    throw err;
  }
  if (target === undefined) return undefined;
  const m = NS_LINK.exec(target);
  return m ? Number(m[1]) : null;
}

/** The per-namespace inode of a process's tcp table; undefined when it is gone or hidden. */
async function tablesInode(w: Walker, pid: number | string): Promise<number | undefined> {
  try {
    return (await w.stat(`/proc/${pid}/net/tcp`))?.inode;
  } catch (err) {
    if (err instanceof KernelError) return undefined;
    throw err;
  }
}

/**
 * Every namespace with a process or a /run/netns name, the check's own first, then in
 * the order of their lowest pid. Processes that exit meanwhile are skipped.
 */
export async function discoverNamespaces(host: Host): Promise<NamespaceRef[]> {
  const w = walker(host);
  const ownInode = await linkInode(w, '/proc/self/ns/net');
  if (typeof ownInode !== 'number') throw new KernelError('/proc/self/ns/net', 'unreadable');
  const ownTables = await tablesInode(w, 'self');
  const entries = (await w.listDir('/proc')) ?? [];
  const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number).sort((a, b) => a - b);

  const byInode = new Map<number, Group>();
  const unlinked: number[] = [];
  for (const pid of pids) {
    const inode = await linkInode(w, `/proc/${pid}/ns/net`);
    if (inode === undefined) continue;
    if (inode === null) {
      unlinked.push(pid);
      continue;
    }
    let g = byInode.get(inode);
    if (g === undefined) byInode.set(inode, (g = { inode, tables: undefined, pids: [], linked: pid, runNames: [] }));
    g.pids.push(pid);
  }
  if (!byInode.has(ownInode)) byInode.set(ownInode, { inode: ownInode, tables: ownTables, pids: [], linked: null, runNames: [] });
  byInode.get(ownInode)!.tables = ownTables;

  // Processes whose link is refused: placed by their tables' inode.
  const byTables = new Map<number, Group>();
  for (const g of byInode.values()) {
    if (g.tables === undefined) for (const pid of g.pids) if ((g.tables = await tablesInode(w, pid)) !== undefined) break;
    if (g.tables !== undefined) byTables.set(g.tables, g);
  }
  for (const pid of unlinked) {
    const tables = await tablesInode(w, pid);
    if (tables === undefined) continue;
    let g = byTables.get(tables);
    if (g === undefined) byTables.set(tables, (g = { inode: null, tables, pids: [], linked: null, runNames: [] }));
    g.pids.push(pid);
  }

  // Names under /run/netns (ip netns add): bound to a namespace, whatever runs in it. One
  // that matches no link read is a namespace without processes, but only if every link was
  // read: otherwise it may be one of those placed by their tables, and must not count twice.
  const groups = [...new Set([...byInode.values(), ...byTables.values()])];
  const everyLinkRead = groups.every((g) => g.inode !== null);
  for (const name of ((await w.listDir(RUN_NETNS)) ?? []).sort()) {
    let inode: number | undefined;
    try {
      inode = (await w.stat(`${RUN_NETNS}/${name}`))?.inode;
    } catch (err) {
      if (!(err instanceof KernelError)) throw err;
    }
    if (inode === undefined) continue;
    let g = byInode.get(inode);
    if (g === undefined) {
      if (!everyLinkRead) continue;
      byInode.set(inode, (g = { inode, tables: undefined, pids: [], linked: null, runNames: [] }));
      groups.push(g);
    }
    g.runNames.push(name);
  }

  const hostGroup = groups.find((g) => g.pids.includes(1));
  const refs = groups.map((g): NamespaceRef => {
    g.pids.sort((a, b) => a - b);
    const own = g.inode === ownInode;
    const procRoot = own ? '/proc' : g.pids.length > 0 ? `/proc/${g.pids[0]}` : null;
    const door = own ? '/proc/self/ns/net' : g.linked !== null ? `/proc/${g.linked}/ns/net` : g.runNames.length > 0 ? `${RUN_NETNS}/${g.runNames[0]}` : null;
    return { inode: g.inode, pids: g.pids, door, procRoot, tables: procRoot === null ? null : g.tables ?? null, own, host: g === hostGroup, runNames: g.runNames };
  });
  const first = (r: NamespaceRef) => (r.own ? -1 : r.pids[0] ?? Number.MAX_SAFE_INTEGER);
  return refs.sort((a, b) => first(a) - first(b) || (a.inode ?? 0) - (b.inode ?? 0));
}

/** The namespaces --namespaces names, or a KernelError saying why there is none. */
export async function chooseNamespaces(host: Host, choice: NamespaceChoice): Promise<NamespaceRef[]> {
  const all = await discoverNamespaces(host);
  if ('all' in choice) return all;
  if ('name' in choice) {
    const found = all.find((r) => r.runNames.includes(choice.name));
    if (found === undefined) throw new KernelError(`${RUN_NETNS}/${choice.name}`, 'no such named namespace');
    return [found];
  }
  const found = all.find((r) => r.pids.includes(choice.pid));
  if (found === undefined) throw new KernelError(`/proc/${choice.pid}`, 'no such process (or its namespace cannot be seen)');
  return [found];
}

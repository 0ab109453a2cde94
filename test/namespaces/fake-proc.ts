/**
 * A made-up /proc for the namespace layer: processes with an ns/net link (or one that
 * may not be read), a net/tcp table inode per namespace, cgroup and comm files, names
 * under /run/netns. Programs are not run (spawn is absent) unless a test adds them.
 */
import { KernelError } from '../../src/host/errors';
import type { ChildProcess, Host, OpenFile } from '../../src/host/host';

export interface FakeProcess {
  readonly pid: number;
  /** The nsfs inode; its net/tcp inode is this + 1,000,000. */
  readonly netns: number;
  /** The link may not be read (another user's process without root). */
  readonly hidden?: boolean;
  readonly comm?: string;
  readonly cgroup?: string;
  /** Its fds: socket inodes it holds. */
  readonly sockets?: readonly number[];
  readonly uid?: number;
}

export const tablesOf = (netns: number) => netns + 1_000_000;

export const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

/**
 * /proc/net/tcp lines (little-endian host): n sockets 127.0.0.1:port → 127.0.0.a:remotePort,
 * ports from `first` by `step` (2: the parity connect() prefers, when `first - low` is even).
 */
export function tcpLines(n: number, first: number, remoteLast: number, remotePort: number, state = 1, inode = 5000, step = 1): string {
  const hex = (v: number, width: number) => v.toString(16).toUpperCase().padStart(width, '0');
  let text = '';
  for (let i = 0; i < n; i++) {
    const tw = state === 6;
    text += `${String(i).padStart(4)}: 0100007F:${hex(first + i * step, 4)} ${hex(remoteLast, 2)}00007F:${hex(remotePort, 4)} ${hex(state, 2)} 00000000:00000000 ${tw ? '03:00001000' : '00:00000000'} 00000000     0        0 ${tw ? 0 : inode + i} 1 0000000000000000 20 4 30 10 -1\n`;
  }
  return text;
}

export interface FakeOptions {
  readonly self: number;
  readonly runNetns?: Record<string, number>;
  readonly euid?: number;
  /** Whole files by path (the own namespace's /proc/sys/..., say). */
  readonly files?: Record<string, string>;
  /** /proc/net/tcp body (without header) per namespace inode; reading throws when it is an Error. */
  readonly tcp?: Record<number, string | Error | 'hang'>;
  /** /proc/net/tcp6 body per namespace inode. */
  readonly tcp6?: Record<number, string>;
  /** `sysctl` output inside a namespace, per inode (root only: run through nsenter). */
  readonly sysctl?: Record<number, string>;
  /** Pids that exit once their namespace's table has been read. */
  readonly exitAfterRead?: readonly number[];
}

function served(text: string): OpenFile {
  const bytes = Buffer.from(text, 'latin1');
  let at = 0;
  return {
    async read(into, offset, length) {
      const n = Math.min(length, bytes.length - at);
      into.set(bytes.subarray(at, at + n), offset);
      at += n;
      return n;
    },
    close: async () => {},
  };
}

function hanging(): OpenFile {
  return { read: () => new Promise((resolve) => setTimeout(() => resolve(0), 60_000).unref()), close: async () => {} };
}

export function fakeProc(processes: readonly FakeProcess[], o: FakeOptions): Host & { reads: string[]; spawned: string[][] } {
  const byPid = new Map(processes.map((p) => [String(p.pid), p]));
  const exited = new Set<string>();
  const denied = (path: string): never => {
    throw new KernelError(path, 'permission denied');
  };
  const proc = (path: string): [FakeProcess | undefined, string] => {
    const m = /^\/proc\/(\w+)\/(.*)$/.exec(path);
    if (!m) return [undefined, ''];
    const pid = m[1] === 'self' ? String(o.self) : m[1];
    return [exited.has(pid) ? undefined : byPid.get(pid), m[2]];
  };
  const reads: string[] = [];
  const spawned: string[][] = [];
  return {
    reads,
    spawned,
    async open(path) {
      reads.push(path);
      const own = /^\/proc\/net\/(tcp6?|udp6?)$/.exec(path);
      const [p, rest] = own ? [byPid.get(String(o.self)), `net/${own[1]}`] : proc(path);
      if (p === undefined || !rest.startsWith('net/')) return undefined;
      if (rest === 'net/tcp6') return o.tcp6?.[p.netns] === undefined ? undefined : served(TCP_HEADER + o.tcp6[p.netns]);
      if (rest !== 'net/tcp') return rest === 'net/udp' ? served('  sl  local_address rem_address   st\n') : undefined;
      const body = o.tcp?.[p.netns] ?? '';
      if (body instanceof Error) throw new KernelError(path, body.message);
      if (body === 'hang') return hanging();
      for (const q of processes) if (q.netns === p.netns && o.exitAfterRead?.includes(q.pid)) exited.add(String(q.pid));
      return served(TCP_HEADER + body);
    },
    async spawn(file, args): Promise<ChildProcess | undefined> {
      spawned.push([file, ...args]);
      const door = /^--net=\/proc\/(\d+)\/ns\/net$/.exec(args[0] ?? '');
      const p = door ? byPid.get(door[1]) : undefined;
      const out = p === undefined ? undefined : o.sysctl?.[p.netns];
      if (!file.endsWith('nsenter') || !/sysctl$/.test(args[2] ?? '') || out === undefined) return undefined;
      return {
        async drain(onChunk) {
          onChunk(Buffer.from(out));
          return { code: 0, signal: null, stderr: '' };
        },
        kill() {},
      };
    },
    littleEndian: true,
    elevated: null,
    euid: o.euid ?? 0,
    findProgram(paths) {
      const found = paths.find((p) => /^\/usr\/s?bin\/(nsenter|sysctl)$/.test(p));
      if (found === undefined) throw new KernelError(paths[0], 'not found');
      return found;
    },
    async readText(path) {
      reads.push(path);
      if (o.files?.[path] !== undefined) return o.files[path];
      const [p, rest] = proc(path);
      if (p === undefined) return undefined;
      if (rest === 'comm') return `${p.comm ?? 'sleep'}\n`;
      if (rest === 'cgroup') return p.cgroup ?? '0::/user.slice/session-1.scope\n';
      if (rest === 'status') return `Name:\t${p.comm ?? 'sleep'}\nUid:\t${p.uid ?? 0}\t${p.uid ?? 0}\t${p.uid ?? 0}\t${p.uid ?? 0}\n`;
      return undefined;
    },
    async listDir(path) {
      if (path === '/proc') return [...byPid.keys(), 'self', 'net', 'sys'];
      if (path === '/run/netns') return o.runNetns ? Object.keys(o.runNetns) : undefined;
      return undefined;
    },
    async readLink(path) {
      const [p, rest] = proc(path);
      if (p === undefined || rest !== 'ns/net') return undefined;
      if (p.hidden) denied(path);
      return `net:[${p.netns}]`;
    },
    async stat(path) {
      if (path.startsWith('/run/netns/')) {
        const inode = o.runNetns?.[path.slice('/run/netns/'.length)];
        return inode === undefined ? undefined : { inode, uid: 0 };
      }
      const [p, rest] = proc(path);
      if (p === undefined) return undefined;
      if (rest === 'net/tcp') return { inode: tablesOf(p.netns), uid: 0 };
      if (rest === 'ns/net') return p.hidden ? denied(path) : { inode: p.netns, uid: 0 };
      return undefined;
    },
    async readLinks(dir) {
      const [p, rest] = proc(dir);
      if (p === undefined || rest !== 'fd') return undefined;
      if ((o.euid ?? 0) !== 0 && (p.uid ?? 0) !== o.euid) denied(dir);
      const sockets = p.sockets ?? [];
      return { names: sockets.map((_, i) => String(i + 3)), targets: sockets.map((s) => `socket:[${s}]`) };
    },
  };
}

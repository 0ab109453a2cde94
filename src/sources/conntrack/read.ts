/**
 * A namespace's conntrack table, streamed into a sink (entries.ts), from either of the
 * kernel's two doors: /proc/PID/net/nf_conntrack (root only, mode 0440, and only with
 * CONFIG_NF_CONNTRACK_PROCFS) or ctnetlink through `conntrack -L` (CAP_NET_ADMIN). Both
 * give the same entries (test/groundtruth/nat.test.ts runs both on one router); memory
 * stays at one line buffer whatever the table's size.
 *
 * Also the namespace's conntrack statistics and the hold times of closing entries.
 */
import { KernelError } from '../../host/errors';
import type { Host } from '../../host/host';
import type { NamespaceReading } from '../../model/reading';
import { LineCarry } from '../../host/lines';
import { ConntrackParser, type ConntrackSink } from './entries';

/** Where distributions install conntrack-tools' program. No PATH search. */
export const CONNTRACK_PATHS: readonly string[] = ['/usr/sbin/conntrack', '/sbin/conntrack', '/usr/bin/conntrack', '/bin/conntrack'];

/** auto: the /proc file when the kernel has it, else the conntrack program. */
export type ConntrackChoice = 'auto' | 'proc' | 'conntrack';

export interface ConntrackRead {
  /** What the entries were read from: the file, or the program's path. */
  readonly from: string;
  /** TCP and UDP entries handed to the sink. */
  readonly entries: number;
}

/**
 * -L lists one family (IPv4 unless -f says otherwise), so one listing per family;
 * -o extended puts the family first as /proc does.
 */
export function conntrackArguments(family: 'ipv4' | 'ipv6'): string[] {
  return ['-L', '-f', family, '-o', 'extended'];
}

/** What the conntrack and ruleset readers need of a namespace's reading. */
export type ConntrackReading = Pick<NamespaceReading, 'host' | 'procRoot' | 'signal' | 'onStage'>;

/**
 * Streams the entries of the namespace whose /proc is reading.procRoot (for another
 * namespace through `conntrack`, reading.host must run its programs inside it).
 */
export async function readConntrack({ host, procRoot, signal, onStage }: ConntrackReading, choice: ConntrackChoice, sink: ConntrackSink): Promise<ConntrackRead> {
  if (choice !== 'conntrack') {
    const path = `${procRoot}/net/nf_conntrack`;
    onStage(`reading ${path}`);
    const file = await host.open(path);
    if (file !== undefined) {
      const parser = new ConntrackParser(sink, path);
      try {
        const lines = new LineCarry(parser, path);
        while (await lines.readFrom((into, offset, length) => file.read(into, offset, length)));
        lines.finish();
      } finally {
        await file.close();
      }
      return { from: path, entries: parser.entries };
    }
    if (choice === 'proc') throw new KernelError(path, 'missing (a kernel without CONFIG_NF_CONNTRACK_PROCFS): use the conntrack program');
  }
  if (host.spawn === undefined || host.findProgram === undefined) throw new KernelError('conntrack', 'this host cannot run programs');
  const program = host.findProgram(CONNTRACK_PATHS);
  onStage(`reading the output of ${program} -L`);
  // Side by side: each walks the whole table, but the IPv6 one formats only IPv6 entries
  // (measured: 80 ms beside 800 for 100,000 IPv4 entries). If one fails, both are stopped.
  const stop = new AbortController();
  const forward = () => stop.abort();
  signal.addEventListener('abort', forward, { once: true });
  try {
    const parsers = (['ipv4', 'ipv6'] as const).map((family) => ({ family, parser: new ConntrackParser(sink, program) }));
    const listings = parsers.map(({ family, parser }) => listConntrack(host, program, family, parser, stop.signal).catch((err: unknown) => {
      stop.abort();
      throw err;
    }));
    const results = await Promise.allSettled(listings);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return { from: program, entries: parsers.reduce((n, p) => n + p.parser.entries, 0) };
  } finally {
    signal.removeEventListener('abort', forward);
  }
}

/** One family's listing, streamed through its parser into the shared sink. */
async function listConntrack(host: Host, program: string, family: 'ipv4' | 'ipv6', parser: ConntrackParser, signal: AbortSignal): Promise<void> {
  const child = await host.spawn!(program, conntrackArguments(family), signal);
  if (child === undefined) throw new KernelError(program, 'cannot be run');
  const lines = new LineCarry(parser, program);
  let end;
  try {
    end = await child.drain((chunk) => lines.push(chunk));
  } finally {
    child.kill();
  }
  if (end.code !== 0) {
    // The program's own words (root-owned, fixed arguments), kept short and printable.
    const why = end.stderr.trim().split('\n')[0].replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
    throw new KernelError(program, `${end.code === null ? `killed by ${end.signal}` : `exit status ${end.code}`}${why ? `: ${why}` : ''}`);
  }
  lines.finish();
}

/** What a namespace's conntrack counted since it was made, summed over the CPUs. */
export interface ConntrackStats {
  /** Entries in the table now (the namespace's own count, the same on every CPU's row). */
  readonly entries: number;
  /**
   * Entries that could not be inserted at confirmation: among them, connections whose NAT
   * tuple was already taken (no free port) — and races between two CPUs, which also count.
   */
  readonly insertFailed: number;
  /** Packets dropped by conntrack: among them, those insertFailed refused. */
  readonly drop: number;
}

/**
 * /proc/PID/net/stat/nf_conntrack: a header naming the columns, then one row per CPU of
 * 8-digit hex numbers (nf_conntrack_standalone.c ct_cpu_seq_show). Columns are found by
 * name: older kernels have others.
 */
export function parseConntrackStats(text: string, path: string): ConntrackStats {
  const rows = text.split('\n').filter((line) => line.trim() !== '');
  const header = (rows.shift() ?? '').trim().split(/\s+/);
  const at = (name: string): number => {
    const i = header.indexOf(name);
    if (i === -1) throw new KernelError(path, `no ${name} column`);
    return i;
  };
  const entriesAt = at('entries');
  const insertFailedAt = at('insert_failed');
  const dropAt = at('drop');
  let entries = 0;
  let insertFailed = 0;
  let drop = 0;
  for (const row of rows) {
    const fields = row.trim().split(/\s+/);
    const value = (i: number): number => {
      if (!/^[0-9a-fA-F]{1,16}$/.test(fields[i] ?? '')) throw new KernelError(path, 'a column that is not hexadecimal', row);
      return parseInt(fields[i], 16);
    };
    entries = value(entriesAt);
    insertFailed += value(insertFailedAt);
    drop += value(dropAt);
  }
  if (rows.length === 0) throw new KernelError(path, 'no row of counters');
  return { entries, insertFailed, drop };
}

/** The namespace's counters (anyone may read them); null without conntrack in the kernel. */
export async function readConntrackStats(host: Host, procRoot: string): Promise<ConntrackStats | null> {
  const path = `${procRoot}/net/stat/nf_conntrack`;
  const text = await host.readText(path);
  return text === undefined ? null : parseConntrackStats(text, path);
}

/** How long conntrack keeps a closed TCP connection's entry, and so its NAT port. */
export interface HoldTimes {
  /** net.netfilter.nf_conntrack_tcp_timeout_time_wait, seconds (default 120). */
  readonly timeWaitSeconds: number;
  /** nf_conntrack_tcp_timeout_close (default 10): after a reset. */
  readonly closeSeconds: number;
  /** Read from the namespace (else the kernel defaults). */
  readonly read: boolean;
}

export const DEFAULT_HOLD_TIMES: HoldTimes = { timeWaitSeconds: 120, closeSeconds: 10, read: false };

/** A hold time in seconds, as the sysctl prints it. */
function seconds(text: string, path: string): number {
  const body = text.trim();
  const n = /^\d{1,10}$/.test(body) ? Number(body) : NaN;
  if (!(n >= 1 && n <= 2 ** 31 - 1)) throw new KernelError(path, 'expected a number of seconds', text);
  return n;
}

/**
 * The hold times of the namespace whose sysctls `procRoot/sys` shows: only the reader's
 * own (a /proc/sys path always answers for the reader's namespace).
 */
export async function readHoldTimes(host: Host, procRoot: string): Promise<HoldTimes> {
  const dir = `${procRoot}/sys/net/netfilter`;
  const one = async (name: string): Promise<number | undefined> => {
    const text = await host.readText(`${dir}/${name}`);
    return text === undefined ? undefined : seconds(text, `${dir}/${name}`);
  };
  const timeWait = await one('nf_conntrack_tcp_timeout_time_wait');
  const close = await one('nf_conntrack_tcp_timeout_close');
  if (timeWait === undefined || close === undefined) return DEFAULT_HOLD_TIMES;
  return { timeWaitSeconds: timeWait, closeSeconds: close, read: true };
}

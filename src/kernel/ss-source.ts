/**
 * Reads the sockets through `ss` (iproute2), which asks the kernel over sock_diag and has
 * it filter on the local port range: on a busy server only the in-range sockets cross
 * into user space, instead of every socket being formatted as text (docs/kernel-model.md,
 * "Reading the kernel"). The output is streamed into the sink as it arrives.
 */
import { KernelError } from './errors';
import type { ChildProcess, Host, ProgramEnd } from './host';
import { LineCarry } from './lines';
import type { TableChoice } from './proc-source';
import type { SocketSink } from './records';
import { SsParser } from './ss';
import type { PortRange } from './sysctl';

/**
 * Where distributions install ss (Debian /usr/bin or /bin, RHEL /usr/sbin or /sbin).
 * No PATH search: monitoring agents often run plugins with a bare PATH.
 */
export const SS_PATHS: readonly string[] = ['/usr/bin/ss', '/usr/sbin/ss', '/bin/ss', '/sbin/ss'];

/**
 * -n numeric, -a every state (listeners included), -o timers (TIME_WAIT age), -H no
 * header: the header widens every column and so every line, ~5 % more to print and parse.
 * Old iproute2 has no -H: then we ask again with `header`, and skip that line.
 * One family per listing: see readSocketsWithSs.
 */
export function ssArguments(want: TableChoice, range: PortRange, family: 4 | 6, header = false): string[] {
  const protocols = `${want.tcp ? 't' : ''}${want.udp ? 'u' : ''}`;
  return [`-${family}${protocols}nao${header ? '' : 'H'}`, `( sport >= :${range.low} and sport <= :${range.high} )`];
}


type Spawn = NonNullable<Host['spawn']>;

/**
 * Two ss at once, one per family: each listing walks the kernel's whole socket hash (shared
 * by all namespaces) whatever it keeps, so the IPv6 walk over a busy IPv4 host costs as
 * much as a tenth of the run; side by side it runs on another CPU. An IPv4-mapped socket
 * is an IPv6 socket: it is in the IPv6 listing only. If either fails, both are killed.
 */
export async function readSocketsWithSs(
  host: Host,
  want: TableChoice,
  range: PortRange,
  usable: Uint8Array,
  sink: SocketSink,
  onStage: (stage: string) => void,
  signal: AbortSignal,
): Promise<void> {
  if (host.spawn === undefined || host.findProgram === undefined) throw new KernelError('ss', 'this host cannot run programs');
  const spawn: Spawn = host.spawn.bind(host);
  const path = host.findProgram(SS_PATHS);
  const stop = new AbortController();
  const forward = () => stop.abort();
  signal.addEventListener('abort', forward, { once: true });
  try {
    onStage(`starting ${path}`);
    const first = await spawn(path, ssArguments(want, range, 4), stop.signal);
    if (first === undefined) throw new KernelError(path, 'cannot be run');
    onStage(`reading the output of ${path}`);
    const listing = new Listing(spawn, path, want, range, usable, sink, stop.signal);
    // One failing listing kills the other; both are waited for, so neither ss is left
    // behind unreaped, and the first failure (not the kill it caused) is what we report.
    let failure: { error: unknown } | undefined;
    const listings = [listing.read(4, first), listing.read(6)].map((p) =>
      p.catch((error: unknown) => {
        failure ??= { error };
        stop.abort();
      }),
    );
    await Promise.all(listings);
    if (failure !== undefined) throw failure.error;
  } finally {
    signal.removeEventListener('abort', forward);
  }
}

class Listing {
  constructor(
    private readonly spawn: Spawn,
    private readonly path: string,
    private readonly want: TableChoice,
    private readonly range: PortRange,
    private readonly usable: Uint8Array,
    private readonly sink: SocketSink,
    private readonly signal: AbortSignal,
  ) {}

  /** One family's listing into the sink; `started` when that ss already runs. */
  async read(family: 4 | 6, started?: ChildProcess): Promise<void> {
    const protocol = this.want.tcp && this.want.udp ? null : this.want.tcp ? 'tcp' : 'udp';
    let parser = new SsParser(protocol, this.usable, this.sink, this.path);
    let end = await this.drain(started ?? (await this.start(family, false)), parser);
    if (end.code !== 0 && parser.lines === 0 && /invalid option|unrecognized option/i.test(end.stderr)) {
      parser = new SsParser(protocol, this.usable, this.sink, this.path);
      end = await this.drain(await this.start(family, true), parser);
    }
    if (end.code !== 0) {
      // ss's own words (a root-owned program, fixed arguments), kept short and printable.
      const why = end.stderr.trim().split('\n')[0].replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
      throw new KernelError(this.path, `${end.code === null ? `killed by ${end.signal}` : `exit status ${end.code}`}${why ? `: ${why}` : ''}`);
    }
  }

  private async start(family: 4 | 6, header: boolean): Promise<ChildProcess> {
    const child = await this.spawn(this.path, ssArguments(this.want, this.range, family, header), this.signal);
    if (child === undefined) throw new KernelError(this.path, 'cannot be run any more');
    return child;
  }

  /** Streams the output through the parser; completes the last line once ss has succeeded. */
  private async drain(child: ChildProcess, parser: SsParser): Promise<ProgramEnd> {
    const lines = new LineCarry(parser, this.path);
    let end: ProgramEnd;
    try {
      end = await child.drain((chunk) => lines.push(chunk));
    } finally {
      // However drain ended, no child is left behind.
      child.kill();
    }
    if (end.code === 0) lines.finish();
    return end;
  }
}

/**
 * Reads the sockets through `ss` (iproute2), which asks the kernel over sock_diag and has
 * it filter on the local port range: on a busy server only the in-range sockets cross
 * into user space, instead of every socket being formatted as text (docs/kernel-model.md,
 * "Reading the kernel"). The output is streamed into the sink as it arrives.
 */
import { KernelError } from '../../host/errors';
import type { ChildProcess, Host, ProgramEnd } from '../../host/host';
import { DiagParser, SparseListing } from './diag';
import { LineCarry, type LineParser } from '../../host/lines';
import type { NamespaceReading } from '../../model/reading';
import type { SocketSink } from '../../model/records';
import type { PortRange, TableChoice } from '../../model/settings';
import type { ListingRequest } from './request';
import { SsParser } from './ss';

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

/** `ss -D -`: one family's TCP sockets as the kernel's binary records (diag.ts). */
export function diagArguments(family: 4 | 6): string[] {
  return ['-D', '-', `-${family}tan`];
}

/** One ss to run: its arguments, and the parser of what it prints. */
interface ListingPlan {
  readonly args: (header: boolean) => string[];
  readonly parser: () => LineParser & { readonly lines?: number };
  /** Text that old iproute2 may refuse for its -H: asked again with a header. */
  readonly text: boolean;
}

/**
 * The listings, side by side: each walks the kernel's whole socket hash (shared by all
 * namespaces) whatever it keeps, so one per family runs on another CPU. An IPv4-mapped
 * socket is an IPv6 socket: it is in the IPv6 listing only. If one fails, all are killed.
 *
 * TCP comes first as binary records (`ss -D -`, diag.ts): unfiltered, but without ss's
 * formatting, which is half of a filtered listing's cost. When the first few thousand
 * sockets show that most are out of the range (a server's inbound connections), the
 * filtered text is cheaper: everything is read again that way, into a fresh sink. UDP
 * always comes as filtered text (ss -D lists only TCP).
 *
 * @returns the sink that holds the sockets (a second one when the text was read instead)
 */
export async function readSocketsWithSs<S extends SocketSink>(
  { host, onStage, signal }: Pick<NamespaceReading, 'host' | 'onStage' | 'signal'>,
  { want, range, usable, present }: ListingRequest,
  newSink: () => S,
): Promise<S> {
  if (host.spawn === undefined || host.findProgram === undefined) throw new KernelError('ss', 'this host cannot run programs');
  const spawn: Spawn = host.spawn.bind(host);
  const path = host.findProgram(SS_PATHS);
  // A listing walks the whole hash even when its family has no socket: skip those.
  const tcp = ([4, 6] as const).filter((f) => want.tcp && present[`tcp${f}`]);
  const udp = ([4, 6] as const).filter((f) => want.udp && present[`udp${f}`]);
  const textOf = (family: 4 | 6, sink: () => S, choice: TableChoice): ListingPlan => ({
    args: (header) => ssArguments(choice, range, family, header),
    parser: () => new SsParser(choice.tcp && choice.udp ? null : choice.tcp ? 'tcp' : 'udp', usable, sink(), path),
    text: true,
  });
  if (tcp.length > 0) {
    const sink = madeOnFirstUse(newSink);
    const plans: ListingPlan[] = [
      ...tcp.map((family) => ({ args: () => diagArguments(family), parser: () => new DiagParser(usable, sink(), host.littleEndian, path), text: false })),
      ...udp.map((family) => textOf(family, sink, { tcp: false, udp: true })),
    ];
    try {
      await runListings(spawn, path, plans, onStage, signal);
      return sink();
    } catch (err) {
      if (!(err instanceof SparseListing)) throw err;
      onStage(`${err.message}: reading with ss again, filtered`);
    }
  }
  const sink = madeOnFirstUse(newSink);
  const families = ([4, 6] as const).filter((f) => tcp.includes(f) || udp.includes(f));
  await runListings(spawn, path, families.map((family) => textOf(family, sink, want)), onStage, signal);
  return sink();
}

/**
 * The sink, made when a parser first asks for it: parsers are made once the first ss has
 * started, so ss's own start-up (a fork, then its libraries) overlaps the making of the
 * sink's tables instead of following it.
 */
function madeOnFirstUse<S>(make: () => S): () => S {
  let made: S | undefined;
  return () => (made ??= make());
}

/** Runs the listings side by side; the first failure kills the rest, and is what is reported. */
async function runListings(spawn: Spawn, path: string, plans: readonly ListingPlan[], onStage: (stage: string) => void, signal: AbortSignal): Promise<void> {
  if (plans.length === 0) return;
  const stop = new AbortController();
  const forward = () => stop.abort();
  signal.addEventListener('abort', forward, { once: true });
  try {
    onStage(`starting ${path}`);
    const first = await spawn(path, plans[0].args(false), stop.signal);
    if (first === undefined) throw new KernelError(path, 'cannot be run');
    onStage(`reading the output of ${path}`);
    const listing = new Listing(spawn, path, stop.signal);
    // Every listing is waited for, so no ss is left behind unreaped, and the first failure
    // (not the kills it caused) is what we report.
    let failure: { error: unknown } | undefined;
    const listings = plans.map((plan, i) => listing.read(plan, i === 0 ? first : undefined)).map((p) =>
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
    private readonly signal: AbortSignal,
  ) {}

  /** One listing into its parser's sink; `started` when that ss already runs. */
  async read(plan: ListingPlan, started?: ChildProcess): Promise<void> {
    let parser = plan.parser();
    let end = await this.drain(started ?? (await this.start(plan.args(false))), parser);
    if (plan.text && end.code !== 0 && (parser.lines ?? 0) === 0 && /invalid option|unrecognized option/i.test(end.stderr)) {
      parser = plan.parser();
      end = await this.drain(await this.start(plan.args(true)), parser);
    }
    if (end.code !== 0) {
      // ss's own words (a root-owned program, fixed arguments), kept short and printable.
      const why = end.stderr.trim().split('\n')[0].replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
      throw new KernelError(this.path, `${end.code === null ? `killed by ${end.signal}` : `exit status ${end.code}`}${why ? `: ${why}` : ''}`);
    }
  }

  private async start(args: string[]): Promise<ChildProcess> {
    const child = await this.spawn(this.path, args, this.signal);
    if (child === undefined) throw new KernelError(this.path, 'cannot be run any more');
    return child;
  }

  /** Streams the output through the parser; completes the last line once ss has succeeded. */
  private async drain(child: ChildProcess, parser: LineParser): Promise<ProgramEnd> {
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

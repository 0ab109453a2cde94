/**
 * Reads the sockets through `ss` (iproute2), which asks the kernel over sock_diag and has
 * it filter on the local port range: on a busy server only the in-range sockets cross
 * into user space, instead of every socket being formatted as text (KERNEL.md, "Reading
 * the kernel"). The output is streamed into the sink as it arrives.
 */
import { KernelError } from './errors';
import type { ChildProcess, Host, ProgramEnd } from './host';
import type { TableChoice } from './proc-source';
import type { SocketSink } from './records';
import { SsParser } from './ss';
import type { PortRange } from './sysctl';

/**
 * Where distributions install ss (Debian /usr/bin or /bin, RHEL /usr/sbin or /sbin).
 * No PATH search: monitoring agents often run plugins with a bare PATH.
 */
export const SS_PATHS: readonly string[] = ['/usr/bin/ss', '/usr/sbin/ss', '/bin/ss', '/sbin/ss'];

const CHUNK = 256 * 1024;

/**
 * -n numeric, -a every state (listeners included), -o timers (TIME_WAIT age); no -H,
 * which iproute2 before 4.12 rejects: the header line is skipped instead.
 */
export function ssArguments(want: TableChoice, range: PortRange): string[] {
  const protocols = `${want.tcp ? 't' : ''}${want.udp ? 'u' : ''}`;
  return [`-${protocols}nao`, `( sport >= :${range.low} and sport <= :${range.high} )`];
}

export async function readSocketsWithSs(
  host: Host,
  want: TableChoice,
  range: PortRange,
  usable: Uint8Array,
  sink: SocketSink,
  onStage: (stage: string) => void,
  signal: AbortSignal,
): Promise<void> {
  if (host.spawn === undefined) throw new KernelError('ss', 'this host cannot run programs');
  const args = ssArguments(want, range);
  let child: ChildProcess | undefined;
  let path = SS_PATHS[0];
  for (path of SS_PATHS) {
    onStage(`starting ${path}`);
    child = await host.spawn(path, args, signal);
    if (child !== undefined) break;
  }
  if (child === undefined) throw new KernelError('ss', `not found in ${SS_PATHS.join(', ')}`);
  onStage(`reading the output of ${path}`);
  const parser = new SsParser(want.tcp && want.udp ? null : want.tcp ? 'tcp' : 'udp', usable, sink, path);
  const buf = new Uint8Array(CHUNK);
  let filled = 0;
  let end: ProgramEnd;
  try {
    end = await child.drain((chunk) => {
      for (let offset = 0; offset < chunk.length; ) {
        if (filled === buf.length) throw new KernelError(path, `a line longer than ${CHUNK} bytes`);
        const n = Math.min(chunk.length - offset, buf.length - filled);
        buf.set(chunk.subarray(offset, offset + n), filled);
        offset += n;
        filled += n;
        const consumed = parser.feed(buf, filled);
        buf.copyWithin(0, consumed, filled);
        filled -= consumed;
      }
    });
  } finally {
    // However drain ended, no child is left behind.
    child.kill();
  }
  if (end.code !== 0) {
    const why = end.stderr.trim().split('\n')[0];
    throw new KernelError(path, `${end.code === null ? `killed by ${end.signal}` : `exit status ${end.code}`}${why ? `: ${why}` : ''}`);
  }
  parser.finish(buf, filled);
}

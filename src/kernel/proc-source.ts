/**
 * Reads the kernel through /proc (or a copy of it given with --proc): the sysctls that
 * shape the port space, then the socket tables, streamed into a sink.
 */
import { KernelError } from './errors';
import type { Host } from './host';
import { LineCarry } from './lines';
import { ProcNetParser, type TableSpec } from './procnet';
import type { SocketSink } from './records';
import { ALL_TABLES, type TablesPresent } from './sockstat';
import { parseIntSysctl, parsePortRange, parseReservedPorts, type PortRange } from './sysctl';

export interface KernelSettings {
  readonly range: PortRange;
  readonly reserved: readonly PortRange[];
  /** net.ipv4.tcp_tw_reuse: 0 never, 1 always, 2 loopback only. */
  readonly twReuse: number;
  /** net.ipv4.tcp_tw_reuse_delay in ms; absent before kernel 6.14, where it is about 1 s. */
  readonly twReuseDelayMs: number;
  readonly timestamps: number;
  /** What was assumed because a file was absent, for the verbose output. */
  readonly assumptions: readonly string[];
}

export async function readSettings(host: Host, procRoot: string): Promise<KernelSettings> {
  const sys = `${procRoot}/sys/net/ipv4`;
  const assumptions: string[] = [];
  const required = async (name: string): Promise<[string, string]> => {
    const path = `${sys}/${name}`;
    const text = await host.readText(path);
    if (text === undefined) throw new KernelError(path, 'missing');
    return [text, path];
  };
  const optional = async (name: string, min: number, max: number, fallback: number, why: string): Promise<number> => {
    const path = `${sys}/${name}`;
    const text = await host.readText(path);
    if (text !== undefined) return parseIntSysctl(text, path, min, max);
    assumptions.push(`${name} absent: assuming ${fallback} (${why})`);
    return fallback;
  };
  const range = parsePortRange(...(await required('ip_local_port_range')));
  const reservedFile = `${sys}/ip_local_reserved_ports`;
  const reservedText = await host.readText(reservedFile);
  if (reservedText === undefined) assumptions.push('ip_local_reserved_ports absent: assuming none reserved');
  const reserved = parseReservedPorts(reservedText ?? '', reservedFile);
  const twReuse = await optional('tcp_tw_reuse', 0, 2, 2, 'the kernel default');
  const twReuseDelayMs = await optional('tcp_tw_reuse_delay', 1, 2 ** 31 - 1, 1000, 'older kernels reuse after about 1 s');
  const timestamps = await optional('tcp_timestamps', 0, 2, 1, 'the kernel default');
  return { range, reserved, twReuse, twReuseDelayMs, timestamps, assumptions };
}

export interface TableChoice {
  readonly tcp: boolean;
  readonly udp: boolean;
}

/**
 * Streams the socket tables into the sink. IPv6 tables are optional (IPv6 disabled is a
 * normal host); the IPv4 ones are not. `onTable` names the stage for timeout messages.
 * @param present the tables that can hold a socket (sockstat.ts): reading an empty one
 *   still walks the kernel's whole hash, tens of milliseconds on a big machine.
 */
export async function readSocketTables(host: Host, procRoot: string, want: TableChoice, usable: Uint8Array, sink: SocketSink, onTable: (path: string) => void, present: TablesPresent = ALL_TABLES): Promise<void> {
  const tables: TableSpec[] = [];
  if (want.tcp && present.tcp4) tables.push({ path: `${procRoot}/net/tcp`, protocol: 'tcp', v6: false });
  if (want.tcp && present.tcp6) tables.push({ path: `${procRoot}/net/tcp6`, protocol: 'tcp', v6: true });
  if (want.udp && present.udp4) tables.push({ path: `${procRoot}/net/udp`, protocol: 'udp', v6: false });
  if (want.udp && present.udp6) tables.push({ path: `${procRoot}/net/udp6`, protocol: 'udp', v6: true });
  for (const table of tables) {
    onTable(table.path);
    const file = await host.open(table.path);
    if (file === undefined) {
      if (table.v6) continue;
      throw new KernelError(table.path, 'missing');
    }
    try {
      const lines = new LineCarry(new ProcNetParser(table, usable, sink, host.littleEndian), table.path);
      while (await lines.readFrom((into, offset, length) => file.read(into, offset, length)));
      lines.finish();
    } finally {
      await file.close();
    }
  }
}

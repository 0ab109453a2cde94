/**
 * Reads the socket tables through /proc (or a copy of it given with --proc), streamed into
 * a sink.
 */
import { KernelError } from '../../host/errors';
import { LineCarry } from '../../host/lines';
import type { NamespaceReading } from '../../model/reading';
import type { SocketSink } from '../../model/records';
import { ProcNetParser, type TableSpec } from './procnet';
import type { ListingRequest } from './request';

/**
 * Streams the socket tables into the sink. IPv6 tables are optional (IPv6 disabled is a
 * normal host); the IPv4 ones are not. Only the tables the request says can hold a socket
 * are read: reading an empty one still walks the kernel's whole hash, tens of
 * milliseconds on a big machine.
 */
export async function readSocketTables({ host, procRoot, onStage }: Pick<NamespaceReading, 'host' | 'procRoot' | 'onStage'>, { want, usable, present }: ListingRequest, sink: SocketSink): Promise<void> {
  const tables: TableSpec[] = [];
  if (want.tcp && present.tcp4) tables.push({ path: `${procRoot}/net/tcp`, protocol: 'tcp', v6: false });
  if (want.tcp && present.tcp6) tables.push({ path: `${procRoot}/net/tcp6`, protocol: 'tcp', v6: true });
  if (want.udp && present.udp4) tables.push({ path: `${procRoot}/net/udp`, protocol: 'udp', v6: false });
  if (want.udp && present.udp6) tables.push({ path: `${procRoot}/net/udp6`, protocol: 'udp', v6: true });
  for (const table of tables) {
    onStage(`reading ${table.path}`);
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

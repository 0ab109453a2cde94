/**
 * One network namespace, from its settings and a socket source to its worst pools: the
 * pipeline run once per namespace. Its parts are plain data (the report, the ranking), so
 * several namespaces' rankings can be merged (mergeRanked) before one verdict is decided.
 */
import type { KernelSettings, TableChoice } from './kernel/proc-source';
import type { SocketsRead } from './kernel/sockets';
import type { PoolReport } from './pools/pool';
import { PoolBuilder } from './pools/pool-builder';
import { PortSpace } from './pools/port-space';
import { rankPools, type Ranked } from './verdict/ranking';
import type { Selection } from './verdict/selection';
import type { Thresholds } from './verdict/verdict';

/** Streams one namespace's sockets into a sink from newSink (a fresh one per attempt). */
export type SocketReader = (want: TableChoice, space: PortSpace, newSink: (expectedSockets: number) => PoolBuilder) => Promise<SocketsRead<PoolBuilder>>;

/**
 * The sysctls to judge a namespace with: its own, read, or the defaults of a new namespace,
 * assumed where they cannot be read (another namespace, without root: docs/namespaces.md).
 */
export interface Settings {
  readonly kernel: KernelSettings;
  readonly read: boolean;
}

export interface Assessment {
  /** The settings read, plus why the socket source fell back, if it did. */
  readonly settings: KernelSettings;
  readonly source: 'ss' | 'proc';
  readonly report: PoolReport;
  readonly ranked: Ranked;
}

export interface Wanted {
  readonly selection: Selection;
  readonly thresholds: Thresholds;
  /** How many of the worst pools to keep (Infinity: all). */
  readonly limit: number;
}

export async function assess({ kernel, read: settingsRead }: Settings, wanted: Wanted, read: SocketReader, onStage: (stage: string) => void): Promise<Assessment> {
  const { selection, thresholds, limit } = wanted;
  const want = { tcp: selection.tcp, udp: selection.udp };
  const space = new PortSpace(kernel.range, kernel.reserved);
  const sockets = await read(want, space, (expectedSockets) => new PoolBuilder(space, kernel, expectedSockets));
  const settings = sockets.fallback === null ? kernel : { ...kernel, assumptions: [...kernel.assumptions, sockets.fallback] };
  onStage('computing the pools');
  // The parity of a port tells bind() from connect() only against the range's real low end.
  const report = sockets.sink.finish(want, settingsRead);
  return { settings, source: sockets.source, report, ranked: rankPools(report, selection, thresholds, limit) };
}

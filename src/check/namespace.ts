/**
 * One network namespace, start to end: its socket counts, its sockets in the source the
 * options choose, the per-tuple pools, the ranking and the verdict. Run once for the
 * check's own namespace, or once per namespace with --namespaces (each with a reading of
 * its own: model/reading.ts). Its parts are plain data, so several namespaces' verdicts can
 * be merged (verdict/across.ts) once every one is judged.
 */
import type { Options } from '../cli/options';
import type { NamespaceReading } from '../model/reading';
import type { KernelSettings } from '../model/settings';
import { PoolBuilder } from '../pools/pool-builder';
import { PortSpace } from '../pools/port-space';
import { readSocketCounts } from '../sources/counts/sockstat';
import { readSockets } from '../sources/sockets/sockets';
import { rankPools } from '../verdict/ranking';
import { judgeNat } from '../verdict/nat';
import { decide, withNat, type Verdict } from '../verdict/verdict';
import { readNat } from './nat';

export interface Judgement {
  readonly verdict: Verdict;
  /** The settings judged with, plus why auto did not use ss, if it did not. */
  readonly settings: KernelSettings;
  readonly source: 'ss' | 'proc';
}

export async function judgeNamespace(reading: NamespaceReading, options: Options): Promise<Judgement> {
  const { kernel, read: settingsRead } = reading.settings;
  const { selection, thresholds } = options;
  // --top 0 lists every pool; otherwise no more than --top are ever listed or graphed.
  const limit = options.top === 0 ? Infinity : options.top;
  const want = { tcp: selection.tcp, udp: selection.udp };
  const space = new PortSpace(kernel.range, kernel.reserved);
  // What the kernel counts in it (not for a chosen /proc, which may be a copy).
  const counts = reading.source === 'proc' ? null : reading.counts !== undefined ? reading.counts : await readSocketCounts(reading.host, reading.procRoot);
  const sockets = await readSockets(reading, { want, space, counts }, (expectedSockets) => new PoolBuilder(space, kernel, expectedSockets));
  const settings = sockets.fallback === null ? kernel : { ...kernel, assumptions: [...kernel.assumptions, sockets.fallback] };
  reading.onStage('computing the pools');
  // The parity of a port tells bind() from connect() only against the range's real low end.
  const report = sockets.sink.finish(want, settingsRead);
  const ranked = rankPools(report, selection, thresholds, limit);
  const tuplePerfdata = options.tuplePerfdata ? limit : 0;
  const verdict = decide(report, ranked, thresholds, tuplePerfdata);
  if (!options.nat) return { verdict, settings, source: sockets.source };
  const nat = judgeNat(await readNat(reading, options), thresholds, selection, limit);
  return { verdict: withNat(verdict, nat), settings, source: sockets.source };
}

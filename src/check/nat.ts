/**
 * One namespace's source NAT (--nat): its conntrack counters, its NAT rules, its conntrack
 * table streamed into NAT pools (docs/kernel-model.md, "Source NAT"). The table and the
 * rules are root's; the counters anyone's. Without root this says so and reads the
 * counters only: never an error.
 */
import type { Options } from '../cli/options';
import { AddressTable } from '../model/address-table';
import type { NamespaceReading } from '../model/reading';
import type { NatFindings } from '../nat/findings';
import { candidateRanges, NatPoolBuilder, type RangeEvidence } from '../nat/nat-pool';
import { DEFAULT_HOLD_TIMES, readConntrack, readConntrackStats, readHoldTimes, type ConntrackChoice } from '../sources/conntrack/read';
import { readNatRules, type RulesRead } from '../sources/ruleset/read';

export const ROOT_NEEDED = 'root needed';

/** --source picks the conntrack door too: proc the file, ss the program (netlink), auto the file when there is one. */
const CONNTRACK_CHOICE: Record<Options['source'], ConntrackChoice> = { auto: 'auto', proc: 'proc', ss: 'conntrack' };

export async function readNat(reading: NamespaceReading, options: Pick<Options, 'natRange' | 'source'>): Promise<NatFindings> {
  const { host, procRoot } = reading;
  reading.onStage(`reading ${procRoot}/net/stat/nf_conntrack`);
  const stats = await readConntrackStats(host, procRoot);
  // A --proc copy is read as it is, by anyone, and never through a program (it would read the live kernel).
  const copy = reading.own && procRoot !== '/proc';
  const programs = !copy && (reading.own || reading.programsInside === true);
  const evidence0: RangeEvidence = { option: options.natRange, rules: null };
  const nothing = { table: null, stats, from: null, entries: 0, replyTuples: 0, rules: null, evidence: evidence0, hold: DEFAULT_HOLD_TIMES };
  if (!copy && !reading.root) return { ...nothing, unread: ROOT_NEEDED };
  if (stats === null) return { ...nothing, unread: copy ? `no ${procRoot}/net/stat/nf_conntrack in the copy` : 'no conntrack in this namespace (nf_conntrack is not loaded): nothing is translated here' };
  let rules: RulesRead | null = null;
  if (options.natRange === null && programs) rules = await readNatRules(reading);
  const evidence: RangeEvidence = { option: options.natRange, rules: rules?.rules ?? null };
  const builder = new NatPoolBuilder(new AddressTable(), candidateRanges(evidence));
  const choice = programs ? CONNTRACK_CHOICE[options.source] : 'proc';
  const read = await readConntrack(reading, choice, builder);
  // Another namespace's sysctls cannot be read through /proc/sys: its hold times are assumed.
  const hold = reading.own ? await readHoldTimes(host, procRoot) : DEFAULT_HOLD_TIMES;
  reading.onStage('computing the NAT pools');
  return { unread: null, table: builder.finish(evidence, hold), stats, from: read.from, entries: read.entries, replyTuples: builder.replyTuples, rules, evidence, hold };
}

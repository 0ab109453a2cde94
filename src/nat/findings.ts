/**
 * What one namespace's NAT reading found (check/nat.ts reads it, verdict/nat.ts judges it):
 * its NAT pools, its conntrack counters, and where each figure came from. Plain data.
 */
import type { PortRange } from '../model/settings';
import type { ConntrackStats, HoldTimes } from '../sources/conntrack/read';
import type { RulesRead } from '../sources/ruleset/read';
import { DEFAULT_CLASSES, type NatTable, type RangeEvidence } from './nat-pool';

export interface NatFindings {
  /** Why the conntrack table was not read ("root needed"); null when it was. */
  readonly unread: string | null;
  /** The pools' figures; null when the table was not read. */
  readonly table: NatTable | null;
  /** insert_failed and drop (anyone may read them); null without conntrack in the kernel. */
  readonly stats: ConntrackStats | null;
  /** What the entries were read from (a file or a program); null when not read. */
  readonly from: string | null;
  /** TCP and UDP entries read. */
  readonly entries: number;
  /** Reply tuples seen: the rows the reading held (memory grows with these, not entries). */
  readonly replyTuples: number;
  /** The rules read, or null when --nat-range stated the range (or nothing was read). */
  readonly rules: RulesRead | null;
  readonly evidence: RangeEvidence;
  readonly hold: HoldTimes;
}

/**
 * The range a new TCP destination would get: --nat-range, else the first TCP rule's range
 * (a rule without ports: the usual class 1024-65535), else that class, assumed. For the
 * figures of a namespace with no NAT pool yet.
 */
export function freshNatRange(evidence: RangeEvidence): { range: PortRange; from: 'option' | 'ruleset' | 'assumed' } {
  if (evidence.option !== null) return { range: evidence.option, from: 'option' };
  const rule = (evidence.rules ?? []).find((r) => r.protocol !== 'udp');
  if (rule !== undefined) return { range: rule.range ?? DEFAULT_CLASSES[0], from: 'ruleset' };
  return { range: DEFAULT_CLASSES[0], from: 'assumed' };
}

/**
 * One network namespace being read: made once where the namespace is chosen (the check's
 * own, or each of --namespaces) and handed to every source that reads it, instead of a
 * list of positional parameters.
 */
import type { Host } from '../host/host';
import type { SocketCounts } from './counts';
import type { Settings, SourceChoice } from './settings';

export interface NamespaceReading {
  /** The door to it: for another namespace as root, a host whose programs run inside it. */
  readonly host: Host;
  /** Where its `net/*` files are: `/proc`, `/proc/PID`, or a copy given with --proc. */
  readonly procRoot: string;
  /** The sysctls to judge it with, read or assumed. */
  readonly settings: Settings;
  /**
   * Its socket counts, when already read (--namespaces reads every namespace's first, for
   * the bound): not read a second time. Undefined: read them when needed.
   */
  readonly counts?: SocketCounts | null;
  /** Which socket source to read (--source). */
  readonly source: SourceChoice;
  /** Under --source auto, how long ss may take before /proc answers instead. */
  readonly ssBudgetMs: number;
  /** Aborted when its reading must stop (the run's end, its share of -t): kills any child. */
  readonly signal: AbortSignal;
  /** Names what is being done, for a timeout's message. */
  readonly onStage: (stage: string) => void;
  /** The check's own namespace (its /proc/sys is readable; --proc copies are "own" too). */
  readonly own: boolean;
  /** Root: may read what only root may (another namespace's sysctls, conntrack). */
  readonly root: boolean;
  /**
   * Another namespace entered through nsenter: the programs `host` runs run inside it (its
   * conntrack, its NAT rules). The own namespace's programs always do.
   */
  readonly programsInside?: boolean;
}

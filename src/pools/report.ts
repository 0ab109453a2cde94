/**
 * Everything one namespace's sockets say about its port space (PoolBuilder.finish makes
 * it): the figures, and the tuples as a table.
 */
import type { Pool, TuplePorts } from './pool';
import type { TupleTable } from './tuple-table';

/** Why bind() before connect() was not told by parity (PoolReport.bind.skipped). */
export type BindSkipped = 'range assumed';

/** Everything the sockets say about the port space, before any filter or threshold. */
export interface PoolReport {
  readonly space: {
    readonly low: number;
    readonly high: number;
    readonly rangeSize: number;
    readonly reservedInRange: number;
    readonly oddSized: boolean;
  };
  /** What a new TCP tuple gets: |C \ X \ B|, X = in-range ports of listening sockets, B = ports bind() took. */
  readonly capacity: number;
  /** |C \ X|: what a new tuple would get if connect() chose every port. */
  readonly optimisticCapacity: number;
  /** What the parity of the held ports says about bind() before connect() (Rule 9). */
  readonly bind: {
    /**
     * Why the parity was not read at all, or null when it was: `range assumed` when the range
     * is not the namespace's own but the defaults of a new namespace, whose low end the
     * parity cannot be read against. B is then empty (the counts below 0, the lists empty):
     * each held port counts as its tuple's own.
     */
    readonly skipped: BindSkipped | null;
    /** |B| */
    readonly taken: number;
    /** Ports of B that several tuples could each have bound (not named). */
    readonly sharedTaken: number;
    /** Bind-parity ports held only by tuples that spilled: counted as their own. */
    readonly undecidable: number;
    /** Every bind-parity port is held: a bind() now takes connect-parity ports, unseen. */
    readonly bindParityFull: boolean;
    /** The tuples whose clients bound the most ports of B (alone), most first: a few. */
    readonly binders: readonly TuplePorts[];
    /** How many tuples' clients bound ports of B, named or not. */
    readonly binderTuples: number;
    /** Tuples with no connect-parity port left, with their bind-parity ports, most first: a few. */
    readonly spilled: readonly TuplePorts[];
    readonly spilledTuples: number;
  };
  readonly listeningPorts: number;
  /**
   * TCP tuples, in no particular order, as typed arrays (TupleTable.pool makes one a Pool).
   * The accepted side of connections to in-range listeners is not among them; a tuple with
   * no sockets left (see PoolBuilder.listen) is not one either.
   */
  readonly tuples: TupleTable;
  /** Null when UDP was not read. */
  readonly udp: Pool | null;
  /** Null when TCP was not read. */
  readonly tcp: {
    readonly sockets: number;
    readonly timeWait: number;
    readonly timeWaitReusable: number;
    /** Ports held by sockets of two or more tuples. */
    readonly sharedPorts: number;
    /** The pessimistic figure: in-range ports no TCP socket holds (bind-before-connect). */
    readonly bindStyle: { readonly capacity: number; readonly used: number; readonly remaining: number; readonly usage: number };
  } | null;
}

/**
 * A report's figures without its tuple table, which only the ranking reads: what a verdict
 * keeps. With --namespaces every namespace's verdict lives until the output is written,
 * and so would every namespace's table (rows for all its sockets) if the verdict held it.
 */
export type PoolFigures = Omit<PoolReport, 'tuples'>;

export function figuresOf({ tuples, ...figures }: PoolReport): PoolFigures {
  return figures;
}

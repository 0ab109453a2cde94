import { ALL_TABLES, type TablesPresent } from '../../model/counts';
import type { PortRange, TableChoice } from '../../model/settings';

/** What one listing of a namespace's sockets is to deliver, whichever source reads it. */
export interface ListingRequest {
  readonly want: TableChoice;
  /** The namespace's port range: ss filters on it in the kernel. */
  readonly range: PortRange;
  /** Per port, whether it counts (in the range and not reserved: PortSpace.usable). */
  readonly usable: Uint8Array;
  /** The tables that can hold a socket (by the namespace's counts); ALL_TABLES when unknown. */
  readonly present: TablesPresent;
}

export function listingOf(want: TableChoice, space: { readonly range: PortRange; readonly usable: Uint8Array }, present: TablesPresent = ALL_TABLES): ListingRequest {
  return { want, range: space.range, usable: space.usable, present };
}

/**
 * The marker each drain leaves in the instance's ring buffer (trace_marker): the time of
 * the drain and the lost-event total then. The next drain finds it at the head of what it
 * reads: the start of its span, and the base its lost events are counted from.
 */
export interface Marker {
  /** ISO 8601 wall time of the drain. */
  readonly at: string;
  /** Events lost to a full buffer since the instance was made, at that drain. */
  readonly lostSoFar: number;
}

const TEXT = 'check_ephemeral_ports drained at';

export function formatMarker(m: Marker): string {
  return `${TEXT} ${m.at} lost ${m.lostSoFar}\n`;
}

const LINE = /tracing_mark_write: check_ephemeral_ports drained at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) lost (\d+)$/;

/** A line of trace_pipe as a marker of ours, or null. */
export function parseMarker(line: string): Marker | null {
  const m = LINE.exec(line);
  return m === null ? null : { at: m[1], lostSoFar: Number(m[2]) };
}
